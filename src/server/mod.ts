/**
 * The embeddable dflockd-compatible server.
 *
 * @example Serve on a free port
 * ```ts
 * import { serve } from "@dflock/dflock/server";
 * await using server = await serve({ port: 0 });
 * console.log(`listening on ${server.addr.hostname}:${server.addr.port}`);
 * ```
 *
 * @module
 */

export { resolveServerOptions, serve, startServer } from "./server.ts";
export type { ResolvedServerOptions, Server } from "./server.ts";
export { SERVER_DEFAULTS } from "./options.ts";
export type { HttpOptions, ServerOptions } from "./options.ts";
export type { IdleKeyInfo, LockInfo, SemaphoreInfo, ServerStats } from "../protocol/stats.ts";
