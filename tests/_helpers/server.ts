/**
 * The one way tests start the project's server: 127.0.0.1, port 0, silent log, a short drain.
 *
 * {@linkcode withServer} is for a server that lives as long as one callback; {@linkcode startTestServer}
 * is for the tests that need the server in their own hands (closing it mid-test, with force or by
 * `await using`, restarting it on the same port, keeping it across a suite). Tests whose subject is
 * `serve()` itself (its option checks, its errors, its startup order) call `serve()` directly.
 *
 * @module
 */

import { serve } from "../../src/server/mod.ts";
import { closeDefaultClients } from "../../src/client/core.ts";
import type { Server, ServerOptions } from "../../src/server/mod.ts";

/**
 * Starts a server on 127.0.0.1, port 0, with a silent log and a 1 s `shutdownTimeout`.
 * The caller closes it (`await server.close()`, `server.close({ force: true })` or `await using`).
 *
 * @param options Server options; they win over the defaults here (pass `port` to restart a
 *   server on the port of a closed one).
 * @returns The listening server.
 */
export function startTestServer(options: ServerOptions = {}): Promise<Server> {
  return serve({
    host: "127.0.0.1",
    port: 0,
    log: () => {},
    shutdownTimeout: 1,
    ...options,
  });
}

/**
 * Runs `fn` with a fresh server from {@linkcode startTestServer}; closes it afterwards (after the
 * default clients, whose pooled connections would keep a graceful close waiting).
 *
 * @param options Server options (they win over the defaults: `shutdownTimeout` 1 s).
 * @param fn The test body, given the server and its `host:port`.
 * @returns What `fn` returned.
 */
export async function withServer<T>(
  options: ServerOptions,
  fn: (server: Server, address: string) => Promise<T>,
): Promise<T> {
  const server = await startTestServer(options);
  try {
    return await fn(server, `127.0.0.1:${server.addr.port}`);
  } finally {
    // Locks made without a client share default clients, whose pooled connections would keep
    // the server's graceful shutdown waiting.
    await closeDefaultClients();
    await server.close();
  }
}
