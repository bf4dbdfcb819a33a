/**
 * The I/O floor for the server benchmark: a trivial server on the same transport layer and
 * the same {@linkcode LineDecoder} as the real server, with no lock logic at all.
 *
 * It reads requests as groups of three lines and answers every request with the fixed line
 * `ok 0123456789abcdef0123456789abcdef 33` (parseable both as an acquire grant and, by its
 * status word, as a release answer). Answers to requests that arrived together (pipelined)
 * go out in one write. An over-long line is answered `error` and closes the connection.
 *
 * @module
 */

import { listen as defaultListen } from "../src/transport/auto.ts";
import { LINE_TOO_LONG, LineDecoder, SERVER_MAX_LINE_BYTES } from "../src/protocol/line_decoder.ts";
import { openChannel } from "../src/transport/channel.ts";
import type { Listen, NetAddr, Transport } from "../src/transport/types.ts";

/** The fixed answer to every request. */
export const ECHO_RESPONSE = "ok 0123456789abcdef0123456789abcdef 33\n";

const RESPONSE_BYTES = new TextEncoder().encode(ECHO_RESPONSE);
const ERROR_BYTES = new TextEncoder().encode("error\n");

/** Options for {@linkcode startEchoFloor}. */
export interface EchoFloorOptions {
  /** Bind address. @default {"127.0.0.1"} */
  hostname?: string;
  /** Port; 0 picks a free one. @default {0} */
  port?: number;
  /** Listener to use. @default {the current runtime's, from `src/transport/auto.ts`} */
  listen?: Listen;
}

/** A running echo floor server. */
export interface EchoFloor {
  /** The bound address. */
  readonly addr: NetAddr;
  /** Stops listening and closes every open connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts the echo floor server.
 *
 * @param options Bind address and listener.
 * @returns The running server; call `close()` when done.
 * @throws {Error} When the listener cannot bind (a `ConnectionError` from the transport).
 */
export async function startEchoFloor(options: EchoFloorOptions = {}): Promise<EchoFloor> {
  const listenFn = options.listen ?? defaultListen;
  const listener = await listenFn({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
  });
  const open = new Set<Transport>();
  const accepting = (async () => {
    try {
      for await (const transport of listener) {
        open.add(transport);
        void serveConnection(transport).finally(() => {
          open.delete(transport);
          void transport.close();
        });
      }
    } catch {
      // The listener failed or was closed; nothing more to accept.
    }
  })();
  let closing: Promise<void> | undefined;
  return {
    addr: listener.addr,
    close(): Promise<void> {
      closing ??= (async () => {
        await listener.close();
        await Promise.all([...open].map((t) => t.close()));
        await accepting;
      })();
      return closing;
    },
  };
}

/** Answers one connection until it ends. Never rejects. */
async function serveConnection(transport: Transport): Promise<void> {
  const io = openChannel(transport);
  const decoder = new LineDecoder(SERVER_MAX_LINE_BYTES);
  let lines = 0;
  try {
    for (;;) {
      const chunk = await io.read();
      if (chunk === null) return;
      decoder.push(chunk);
      let answers = 0;
      for (;;) {
        const line = decoder.nextLine();
        if (line === null) break;
        if (line === LINE_TOO_LONG) {
          if (answers > 0) await io.write(repeat(answers));
          await io.write(ERROR_BYTES);
          return;
        }
        if (++lines === 3) {
          lines = 0;
          answers++;
        }
      }
      if (answers > 0) await io.write(repeat(answers));
    }
  } catch {
    // Reset or closed underneath us: just stop.
  }
}

/** `count` copies of the fixed response in one buffer. */
function repeat(count: number): Uint8Array {
  if (count === 1) return RESPONSE_BYTES;
  const out = new Uint8Array(RESPONSE_BYTES.length * count);
  for (let i = 0; i < count; i++) out.set(RESPONSE_BYTES, i * RESPONSE_BYTES.length);
  return out;
}
