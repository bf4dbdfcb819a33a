/**
 * The one way tests start a server: 127.0.0.1, port 0, silent log, a short drain.
 *
 * @module
 */

import { serve } from "../../src/server/mod.ts";
import { closeDefaultClients } from "../../src/client/core.ts";
import type { Server, ServerOptions } from "../../src/server/mod.ts";

/**
 * Runs `fn` with a fresh server on 127.0.0.1, port 0; closes it afterwards.
 *
 * @param options Server options (they win over the defaults here: `shutdownTimeout` 1 s).
 * @param fn The test body, given the server and its `host:port`.
 * @returns What `fn` returned.
 */
export async function withServer<T>(
  options: ServerOptions,
  fn: (server: Server, address: string) => Promise<T>,
): Promise<T> {
  const server = await serve({
    host: "127.0.0.1",
    port: 0,
    log: () => {},
    shutdownTimeout: 1,
    ...options,
  });
  try {
    return await fn(server, `127.0.0.1:${server.addr.port}`);
  } finally {
    // Locks made without a client share default clients, whose pooled connections would keep
    // the server's graceful shutdown waiting.
    await closeDefaultClients();
    await server.close();
  }
}
