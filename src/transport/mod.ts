/**
 * dflock's runtime-neutral transport layer: the {@linkcode Transport} / {@linkcode Listener}
 * contract and `connect` / `listen` on the detected runtime's adapter. Runtime-specific adapters
 * are separate modules (`./deno.ts`, `./bun.ts`, `./node.ts`) so pinning one never loads the
 * others: the Deno and Bun adapters load no `node:` module, except `node:net` / `node:tls` on
 * the first TLS listen.
 *
 * @example Echo one message over loopback
 * ```ts
 * import { connect, listen } from "./mod.ts";
 * const listener = await listen({ hostname: "127.0.0.1", port: 0 });
 * const client = await connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * await client.close();
 * await listener.close();
 * ```
 *
 * @module
 */

export type {
  ByteChannel,
  Connect,
  ConnectOptions,
  Listen,
  Listener,
  ListenOptions,
  NetAddr,
  TlsConnectOptions,
  TlsListenOptions,
  Transport,
  TransportAdapter,
} from "./types.ts";
export { connect, detectRuntime, getAdapter, listen } from "./auto.ts";
export { openChannel } from "./channel.ts";
export type { Runtime } from "./auto.ts";
