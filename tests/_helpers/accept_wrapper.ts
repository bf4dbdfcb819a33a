/**
 * A server-side transport adapter that hands every accepted connection through `wrap` first:
 * how tests observe or fault what a server reads and writes.
 *
 * @module
 */

import type { Listener, Transport, TransportAdapter } from "../../src/transport/types.ts";

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
