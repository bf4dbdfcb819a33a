/**
 * A server-side transport adapter that hands every accepted connection through `wrap` first:
 * how tests observe or fault what a server reads and writes.
 *
 * @module
 */

import { openChannel } from "../../src/transport/channel.ts";
import type {
  ByteChannel,
  Listener,
  Transport,
  TransportAdapter,
} from "../../src/transport/types.ts";

/**
 * Wraps `base` so that its listeners yield `wrap(t)` for every accepted transport `t`.
 *
 * @param base The runtime's adapter.
 * @param wrap Called once per accepted connection.
 * @returns The adapter to pass as the server's `transport`.
 */
export function wrapAccepted(
  base: TransportAdapter,
  wrap: (accepted: Transport) => Transport,
): TransportAdapter {
  return {
    runtime: base.runtime,
    connect: (o) => base.connect(o),
    listen: async (o): Promise<Listener> => {
      const listener = await base.listen(o);
      return {
        addr: listener.addr,
        close: () => listener.close(),
        async *[Symbol.asyncIterator](): AsyncIterator<Transport> {
          for await (const t of listener) yield wrap(t);
        },
      };
    },
  };
}

/**
 * Wraps `base` so that the server reads and writes every accepted connection through
 * `wrap(channel, n)`, where `channel` is the connection's own channel and `n` counts the
 * accepted connections from 0. The web streams pass through unchanged.
 *
 * @param base The runtime's adapter.
 * @param wrap Called once per accepted connection, when the server opens its channel.
 * @returns The adapter to pass as the server's `transport`.
 */
export function wrapAcceptedChannels(
  base: TransportAdapter,
  wrap: (channel: ByteChannel, n: number) => ByteChannel,
): TransportAdapter {
  let accepted = 0;
  return wrapAccepted(base, (inner: Transport): Transport => {
    const n = accepted++;
    return {
      get readable() {
        return inner.readable;
      },
      get writable() {
        return inner.writable;
      },
      closed: inner.closed,
      remoteAddr: inner.remoteAddr,
      close: () => inner.close(),
      channel: () => wrap(openChannel(inner), n),
    };
  });
}
