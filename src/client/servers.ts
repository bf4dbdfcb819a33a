/**
 * Server lists for the high-level client: parsing `"host:port"` entries, choosing a key's
 * server with a sharding strategy (CRC-32 by default, PROTOCOL.md 13.2), and following the
 * leader redirects and draining answers of newer dflockd servers (PROTOCOL-NEWER.md 5.4, 9).
 *
 * @module
 */

import { DrainingError, NotLeaderError } from "../errors.ts";
import { stableHashShard } from "../protocol/crc32.ts";
import { pause, randomUnit } from "./_timing.ts";

/** Default server host. */
export const DEFAULT_SERVER_HOST = "127.0.0.1";
/** Default server port. */
export const DEFAULT_SERVER_PORT = 6388;
/** Redirects or failovers followed per operation before giving up. */
export const MAX_REDIRECT_HOPS = 3;

/**
 * One server: a `"host:port"` string (`"[::1]:6388"` for IPv6) or a host and port.
 *
 * @example Both spellings
 * ```ts
 * import type { ServerAddress } from "@dflock/dflock";
 *
 * const servers: ServerAddress[] = ["10.0.0.1:6388", "[::1]:6388", { host: "locks.internal", port: 7000 }];
 * console.log(servers.length);
 * ```
 */
export type ServerAddress = string | { host: string; port: number };

/**
 * Maps a key to the index of its server among `n` servers.
 *
 * @param key The lock or semaphore key.
 * @param n The number of configured servers (at least 1).
 * @returns An integer from 0 to n - 1.
 *
 * @example Pin some keys to the first server
 * ```ts
 * import { DistributedLock, stableHashShard } from "@dflock/dflock";
 * import type { ShardingStrategy } from "@dflock/dflock";
 *
 * const sharding: ShardingStrategy = (key, n) =>
 *   key.startsWith("global/") ? 0 : stableHashShard(key, n);
 * const lock = new DistributedLock({
 *   key: "global/config",
 *   servers: ["10.0.0.1:6388", "10.0.0.2:6388"],
 *   shardingStrategy: sharding,
 * });
 * await lock.close();
 * ```
 */
export type ShardingStrategy = (key: string, n: number) => number;

/** A parsed server entry. */
export interface ServerEndpoint {
  /** Host name or IP address (IPv6 without brackets). */
  readonly host: string;
  /** TCP port. */
  readonly port: number;
  /** The canonical `host:port` form, compared against leader addresses. */
  readonly address: string;
}

/**
 * The server-list part of the client options.
 *
 * @example Two independent shards
 * ```ts
 * import type { ServerListOptions } from "@dflock/dflock";
 *
 * const options: ServerListOptions = { servers: ["10.0.0.1:6388", "10.0.0.2:6388"] };
 * console.log(options.servers?.length); // 2
 * ```
 */
export interface ServerListOptions {
  /** Servers, in the order that sharding indexes them. @default {["127.0.0.1:6388"]} */
  servers?: readonly ServerAddress[];
  /** Shorthand for a single server's host (ignored when `servers` is given). */
  host?: string;
  /** Shorthand for a single server's port (ignored when `servers` is given). */
  port?: number;
  /**
   * The servers are the members of one dflockd Raft cluster rather than independent shards.
   * A cluster member that answers `error_draining` is left for the next member. Independent
   * shards never hand a key to another shard: a draining shard is retried itself after a pause,
   * because a holder may still hold the key there. Leader redirects (`error_not_leader`) are
   * followed either way, since only cluster members send them.
   * @default {false}
   */
  cluster?: boolean;
}

/**
 * Formats a host and port as `host:port`, bracketing IPv6 literals.
 *
 * @param host Host name or IP address.
 * @param port TCP port.
 * @returns The address text.
 *
 * @example Bracket IPv6
 * ```ts
 * formatServerAddress("::1", 6388); // "[::1]:6388"
 * ```
 */
export function formatServerAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function checkPort(port: unknown, entry: string): number {
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`Invalid server "${entry}": port must be an integer from 1 to 65535`);
  }
  return port;
}

/**
 * Parses one server entry.
 *
 * @param entry `"host:port"`, `"[v6]:port"`, or `{ host, port }`.
 * @returns The endpoint.
 * @throws {TypeError} If the entry is not a string or object, or has no host.
 * @throws {RangeError} If the port is missing or out of range.
 *
 * @example Both spellings
 * ```ts
 * parseServerAddress("10.0.0.1:6388").address; // "10.0.0.1:6388"
 * parseServerAddress({ host: "::1", port: 7000 }).address; // "[::1]:7000"
 * ```
 */
export function parseServerAddress(entry: ServerAddress): ServerEndpoint {
  let host: string;
  let port: number;
  if (typeof entry === "string") {
    const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d+)$/.exec(entry.trim());
    if (m === null) {
      throw new TypeError(`Invalid server "${entry}": expected "host:port"`);
    }
    host = (m[1] ?? m[2])!;
    port = checkPort(Number(m[3]), entry);
  } else if (typeof entry === "object" && entry !== null) {
    if (typeof entry.host !== "string" || entry.host === "") {
      throw new TypeError("Invalid server: host must be a non-empty string");
    }
    host = entry.host.startsWith("[") && entry.host.endsWith("]")
      ? entry.host.slice(1, -1)
      : entry.host;
    port = checkPort(entry.port, `${entry.host}:${entry.port}`);
  } else {
    throw new TypeError(`Invalid server: expected "host:port" or { host, port }`);
  }
  return { host, port, address: formatServerAddress(host, port) };
}

/**
 * Resolves the configured server list: `servers`, else `host`/`port`, else `127.0.0.1:6388`.
 *
 * @param options `servers`, `host`, `port`.
 * @returns At least one endpoint, in the given order.
 * @throws {TypeError} If `servers` is empty or an entry is malformed.
 * @throws {RangeError} If a port is out of range.
 *
 * @example Defaults
 * ```ts
 * resolveServers({}); // [{ host: "127.0.0.1", port: 6388, address: "127.0.0.1:6388" }]
 * ```
 */
export function resolveServers(options: ServerListOptions): ServerEndpoint[] {
  if (options.servers !== undefined) {
    if (!Array.isArray(options.servers) || options.servers.length === 0) {
      throw new TypeError("servers must be a non-empty array");
    }
    return options.servers.map(parseServerAddress);
  }
  return [
    parseServerAddress({
      host: options.host ?? DEFAULT_SERVER_HOST,
      port: options.port ?? DEFAULT_SERVER_PORT,
    }),
  ];
}

/**
 * Picks the index of a key's server.
 *
 * @param key The key.
 * @param n The number of servers.
 * @param strategy The sharding strategy. @default {stableHashShard}
 * @returns An index from 0 to n - 1.
 * @throws {RangeError} If the strategy returns anything but an integer in range.
 *
 * @example CRC-32 by default
 * ```ts
 * shardIndex("my-key", 3); // 2
 * ```
 */
export function shardIndex(
  key: string,
  n: number,
  strategy: ShardingStrategy = stableHashShard,
): number {
  if (n === 1 && strategy === stableHashShard) return 0; // no CRC-32 needed for one server
  const i = strategy(key, n);
  if (!Number.isInteger(i) || i < 0 || i >= n) {
    throw new RangeError(
      `Sharding strategy returned ${i} for key "${key}": expected an integer from 0 to ${n - 1}`,
    );
  }
  return i;
}

/**
 * Where to go after a redirect-type failure, or `undefined` when `err` is not one.
 *
 * `error_not_leader <addr>` with a configured address goes there; a bare `error_not_leader` or an
 * unknown leader address goes to the next server in list order (wrapping). `error_draining` goes
 * to the next member of a cluster, and back to the same server for independent shards.
 *
 * @param err The failure.
 * @param servers The configured servers.
 * @param current The index that failed.
 * @param cluster Whether the servers form one cluster.
 * @returns The next index to try, or `undefined`.
 *
 * @example A bare redirect moves on
 * ```ts ignore
 * redirectTarget(new NotLeaderError("no leader"), servers, 2); // (2 + 1) % servers.length
 * ```
 */
export function redirectTarget(
  err: unknown,
  servers: readonly ServerEndpoint[],
  current: number,
  cluster = false,
): number | undefined {
  if (err instanceof NotLeaderError) {
    if (err.leader !== undefined) {
      const i = servers.findIndex((s) => s.address === err.leader);
      if (i >= 0) return i;
    }
    return (current + 1) % servers.length;
  }
  if (err instanceof DrainingError) return cluster ? (current + 1) % servers.length : current;
  return undefined;
}

/** Options of {@linkcode followRedirects}. */
export interface FollowRedirectsOptions {
  /** Aborts the backoff pauses (rejects with `signal.reason`). */
  signal?: AbortSignal;
  /** Redirects followed before the last error is thrown. @default {3} */
  maxHops?: number;
  /** Pause before a hop, in ms; called per hop. @default {50-200 ms, uniformly random} */
  backoffMs?: () => number;
  /** The servers form one cluster (see {@linkcode ServerListOptions.cluster}). @default {false} */
  cluster?: boolean;
}

/**
 * The pause before a redirect hop: 50-200 ms, uniformly random.
 *
 * @returns Milliseconds.
 */
export function defaultBackoffMs(): number {
  return 50 + randomUnit() * 150;
}

/**
 * Runs `attempt` on server `start`, following `error_not_leader` redirects and moving on from
 * `error_draining`, at most `maxHops` times with a short jittered pause before each hop.
 *
 * @param servers The configured servers.
 * @param start The index to try first.
 * @param attempt Runs the operation against one server index. It must leave no state behind
 * when it throws a redirect-type error (the caller drops that connection).
 * @param options Abort signal, hop limit, backoff.
 * @returns What `attempt` returned.
 * @throws {NotLeaderError} When the last allowed attempt is still redirected.
 * @throws {DrainingError} When the last allowed attempt hit a draining server.
 * @throws {unknown} Any other error of `attempt`, unchanged; `signal.reason` when aborted.
 *
 * @example Retry a request on the leader
 * ```ts ignore
 * const line = await followRedirects(servers, 0, (i) => requestOn(servers[i]!));
 * ```
 */
export async function followRedirects<T>(
  servers: readonly ServerEndpoint[],
  start: number,
  attempt: (index: number) => Promise<T>,
  options: FollowRedirectsOptions = {},
): Promise<T> {
  const maxHops = options.maxHops ?? MAX_REDIRECT_HOPS;
  const backoffMs = options.backoffMs ?? defaultBackoffMs;
  let index = start;
  for (let hop = 0;; hop++) {
    try {
      return await attempt(index);
    } catch (err) {
      const next = redirectTarget(err, servers, index, options.cluster);
      if (next === undefined || hop >= maxHops) throw err;
      await pause(backoffMs(), options.signal);
      index = next;
    }
  }
}
