/**
 * What every high-level lock runs on: a client's resolved options and its connection pool,
 * and the default clients that standalone locks share (one per distinct connection
 * configuration). Internal.
 *
 * @module
 */

import { Failover } from "./failover.ts";
import { ConnectionPool } from "./pool.ts";
import { CONNECTION_OPTION_NAMES, resolveClientOptions } from "./options.ts";
import type { ClientOptions, LockOptions, ResolvedClientOptions } from "./options.ts";
import type { TransportAdapter } from "../transport/types.ts";

/** A client's settings, pool and request routing. */
export class ClientCore {
  readonly options: ResolvedClientOptions;
  readonly pool: ConnectionPool;
  readonly failover: Failover;

  constructor(options: ResolvedClientOptions) {
    this.options = options;
    this.pool = new ConnectionPool({
      servers: options.servers,
      tls: options.tls,
      authToken: options.authToken,
      connectTimeoutMs: options.connectTimeoutMs,
      transport: options.transport,
      requestTimeoutMs: options.requestTimeoutMs,
      keepaliveIntervalMs: options.keepaliveIntervalMs,
      idleTimeoutMs: options.idleTimeoutMs,
      maxIdlePerServer: options.maxIdlePerServer,
    });
    this.failover = new Failover(options.cluster, this.pool);
  }
}

const cores = new WeakMap<object, ClientCore>();

/** Ties a public client object to its core. */
export function registerCore(client: object, core: ClientCore): void {
  cores.set(client, core);
}

/** The core of a public client object. */
export function coreOf(client: object): ClientCore {
  const core = cores.get(client);
  if (core === undefined) throw new TypeError("client must be a DflockClient");
  return core;
}

/** Default cores, by transport adapter, then by the connection configuration's text. */
const defaults = new Map<TransportAdapter | undefined, Map<string, ClientCore>>();

/**
 * The default core for a connection configuration: created on first use and kept for the
 * life of the process. Its idle connections never keep the process alive.
 */
export function defaultCore(options: ClientOptions): ClientCore {
  // Sharding is per lock here: the first lock's strategy must not become everyone's.
  const resolved = resolveClientOptions({ ...options, shardingStrategy: undefined });
  const id = JSON.stringify([
    resolved.servers.map((s) => s.address),
    resolved.cluster,
    resolved.tls ?? null,
    resolved.authToken ?? null,
    resolved.connectTimeoutMs ?? null,
    resolved.requestTimeoutMs,
    resolved.keepaliveIntervalMs,
    resolved.idleTimeoutMs,
    resolved.maxIdlePerServer,
  ]);
  let byId = defaults.get(resolved.transport);
  if (byId === undefined) defaults.set(resolved.transport, byId = new Map());
  let core = byId.get(id);
  if (core === undefined) byId.set(id, core = new ClientCore(resolved));
  return core;
}

/**
 * The core a standalone lock runs on: its `client`'s, or the default one for its connection
 * options.
 *
 * @throws {TypeError} When both `client` and connection options are given.
 */
export function coreForLock(options: LockOptions): ClientCore {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("options must be an object");
  }
  if (options.client === undefined) return defaultCore(options);
  for (const name of CONNECTION_OPTION_NAMES) {
    if (options[name] !== undefined) {
      throw new TypeError(
        `Give either client or ${name}, not both: the client's connection options apply`,
      );
    }
  }
  return coreOf(options.client);
}

/**
 * Closes every default client and forgets them (the next standalone lock creates a fresh
 * one). For tests and for embedders that stop their own server in-process.
 *
 * @returns Resolves once their connections are closed.
 */
export async function closeDefaultClients(): Promise<void> {
  const all: ClientCore[] = [];
  for (const byId of defaults.values()) all.push(...byId.values());
  defaults.clear();
  await Promise.all(all.map((core) => core.pool.close()));
}
