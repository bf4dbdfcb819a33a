/**
 * The only runtime detection in dflock: picks the transport adapter for the running runtime
 * and loads just that one with a dynamic `import()`.
 *
 * @module
 */

import type {
  ConnectOptions,
  Listener,
  ListenOptions,
  Transport,
  TransportAdapter,
} from "./types.ts";

/** A JavaScript runtime dflock supports. */
export type Runtime = "deno" | "bun" | "node";

/**
 * Detects the running runtime. Deno and Bun both define `process`, so they are checked first.
 *
 * @returns `"deno"`, `"bun"` or `"node"`.
 *
 * @example Pick a code path
 * ```ts
 * import { detectRuntime } from "@dflock/dflock/transport";
 *
 * console.log(detectRuntime());
 * ```
 */
export function detectRuntime(): Runtime {
  if ("Deno" in globalThis) return "deno";
  if ("Bun" in globalThis) return "bun";
  return "node";
}

let cached: Promise<TransportAdapter> | undefined;

/**
 * Loads (once) the transport adapter for the running runtime.
 *
 * @example Open a connection with the detected adapter
 * ```ts
 * import { getAdapter } from "@dflock/dflock/transport";
 *
 * const adapter = await getAdapter();
 * const transport = await adapter.connect({ hostname: "127.0.0.1", port: 7000 });
 * await transport.close();
 * ```
 */
export function getAdapter(): Promise<TransportAdapter> {
  cached ??= loadAdapter(detectRuntime());
  return cached;
}

async function loadAdapter(runtime: Runtime): Promise<TransportAdapter> {
  switch (runtime) {
    case "deno":
      return (await import("./deno.ts")).denoAdapter;
    case "bun":
      return (await import("./bun.ts")).bunAdapter;
    case "node":
      return (await import("./node.ts")).nodeAdapter;
  }
}

/**
 * Opens a connection with the running runtime's adapter.
 *
 * @throws {ConnectionError} When the connection fails or times out.
 * @throws {unknown} `options.signal.reason` when aborted.
 *
 * @example Connect to a local server
 * ```ts
 * import { connect } from "@dflock/dflock/transport";
 *
 * const transport = await connect({ hostname: "127.0.0.1", port: 7000 });
 * await transport.close();
 * ```
 */
export async function connect(options: ConnectOptions): Promise<Transport> {
  options.signal?.throwIfAborted();
  return await (await getAdapter()).connect(options);
}

/**
 * Binds a listener with the running runtime's adapter.
 *
 * @throws {ConnectionError} When binding fails (address in use, bad certificate).
 *
 * @example Listen on a free port
 * ```ts
 * import { listen } from "@dflock/dflock/transport";
 *
 * const listener = await listen({ hostname: "127.0.0.1", port: 0 });
 * console.log(listener.addr.port);
 * await listener.close();
 * ```
 */
export async function listen(options: ListenOptions): Promise<Listener> {
  return await (await getAdapter()).listen(options);
}
