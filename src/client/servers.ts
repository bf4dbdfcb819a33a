/**
 * Server lists for the high-level client: parsing `"host:port"` entries and choosing a key's
 * server with a sharding strategy (CRC-32 by default, docs/protocol.md 13.2). Where a request goes
 * after a failure is `failover.ts`.
 *
 * @module
 */

import { stableHashShard } from "../protocol/crc32.ts";
import { formatAddr } from "../transport/_errors.ts";

/** Default server host. */
export const DEFAULT_SERVER_HOST = "127.0.0.1";
/** Default server port. */
export const DEFAULT_SERVER_PORT = 6388;

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

/** The server-list part of the client options. */
export interface ServerListOptions {
  /** Servers, in the order that sharding indexes them. @default {["127.0.0.1:6388"]} */
  servers?: readonly ServerAddress[];
  /** Shorthand for a single server's host (ignored when `servers` is given). */
  host?: string;
  /** Shorthand for a single server's port (ignored when `servers` is given). */
  port?: number;
  /**
   * The servers are the members of one dflockd Raft cluster rather than independent shards:
   * every member serves every key, and only the leader grants. Requests go to the member that
   * last served one; a member that redirects (`error_not_leader`), drains (`error_draining`),
   * refuses the connection or stops answering is left for the leader it names or the next
   * member, with a growing pause between tries, and a leader named by a redirect is followed
   * even when it is not in `servers`. Independent shards never hand a key to another shard: a
   * draining shard is retried itself after a pause, because a holder may still hold the key
   * there, and a dead shard fails its keys' requests.
   * @default {false}
   */
  cluster?: boolean;
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
  return { host, port, address: formatAddr({ hostname: host, port }) };
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
