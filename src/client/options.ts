/**
 * Options of the high-level {@linkcode DistributedLock} and {@linkcode DistributedSemaphore}
 * (the same names as the seed clients, in camelCase), and their validation.
 *
 * @module
 */

import type { TlsConnectOptions, TransportAdapter } from "../transport/types.ts";
import { validateKey, validateSeconds } from "../protocol/encode.ts";
import { stableHashShard } from "../protocol/crc32.ts";
import { MAX_SEMAPHORE_LIMIT } from "./low_level.ts";
import { resolveServers } from "./servers.ts";
import type { ServerEndpoint, ServerListOptions, ShardingStrategy } from "./servers.ts";

/** Default seconds a blocking acquire waits. */
export const DEFAULT_ACQUIRE_TIMEOUT_S = 10;
/** Default fraction of the lease after which it is renewed. */
export const DEFAULT_RENEW_RATIO = 0.5;
/** Default longest idle time of a connection that holds a lease or a queue place, in ms. */
export const DEFAULT_KEEPALIVE_INTERVAL_MS = 10_000;

/**
 * Options shared by {@linkcode DistributedLock} and {@linkcode DistributedSemaphore}.
 *
 * @example Settings both kinds of lock accept
 * ```ts
 * import { DistributedLock, DistributedSemaphore } from "@dflock/dflock";
 * import type { CommonLockOptions } from "@dflock/dflock";
 *
 * const common: CommonLockOptions = {
 *   key: "reports",
 *   acquireTimeoutS: 30,
 *   leaseTtlS: 60,
 *   servers: ["10.0.0.1:6388", "10.0.0.2:6388"],
 * };
 * const lock = new DistributedLock(common);
 * const sem = new DistributedSemaphore({ ...common, limit: 4 });
 * await Promise.all([lock.close(), sem.close()]);
 * ```
 */
export interface CommonLockOptions extends ServerListOptions {
  /** The key: 1 to 256 UTF-8 bytes without space, tab, CR or LF. */
  key: string;
  /**
   * Seconds a blocking `acquire()` (and by default `wait()`) waits; fractions round up.
   * @default {10}
   */
  acquireTimeoutS?: number;
  /**
   * Lease in seconds (fractions round up, at least 1). When absent no lease is sent and the
   * server default applies (33 s on a default dflockd).
   */
  leaseTtlS?: number;
  /** Maps the key to one of `servers`. @default {stableHashShard (CRC-32)} */
  shardingStrategy?: ShardingStrategy;
  /** Renew after `lease * renewRatio` seconds (less up to 10 % jitter); 0 < r < 1. @default {0.5} */
  renewRatio?: number;
  /** `true`: TLS with the system trust store; an object: TLS with these settings. */
  tls?: boolean | TlsConnectOptions;
  /** Shared secret, sent with `auth` first on every connection. */
  authToken?: string;
  /** Bound on connecting plus authenticating, in ms. @default {10000} */
  connectTimeoutMs?: number;
  /**
   * Longest time, in ms, a connection holding a lease or a queue place stays silent: when the
   * next renewal is further away, a `ping` is sent. Keep it below the server's read timeout
   * (23 s on dflockd v1.10). @default {10000}
   */
  keepaliveIntervalMs?: number;
  /**
   * Called once when a held lease is lost (renewal refused, connection dropped, or the lease
   * ran out locally). Exceptions it throws are ignored.
   *
   * @param key The key.
   * @param token The token that was lost.
   */
  onLockLost?: (key: string, token: string) => void;
  /** Transport adapter. @default {the running runtime's} */
  transport?: TransportAdapter;
}

/**
 * Options of {@linkcode DistributedLock}.
 *
 * @example A lock that renews early and reports loss
 * ```ts
 * import { DistributedLock } from "@dflock/dflock";
 * import type { LockOptions } from "@dflock/dflock";
 *
 * const options: LockOptions = {
 *   key: "jobs/nightly",
 *   leaseTtlS: 20,
 *   renewRatio: 0.3,
 *   onLockLost: (key) => console.error(`lost ${key}`),
 * };
 * const lock = new DistributedLock(options);
 * await lock.close();
 * ```
 */
export type LockOptions = CommonLockOptions;

/**
 * Options of {@linkcode DistributedSemaphore}.
 *
 * @example At most three concurrent holders
 * ```ts
 * import { DistributedSemaphore } from "@dflock/dflock";
 * import type { SemaphoreOptions } from "@dflock/dflock";
 *
 * const options: SemaphoreOptions = { key: "worker-pool", limit: 3, acquireTimeoutS: 5 };
 * const sem = new DistributedSemaphore(options);
 * await sem.close();
 * ```
 */
export interface SemaphoreOptions extends CommonLockOptions {
  /** Largest number of concurrent holders: an integer from 1 to 1048576. */
  limit: number;
}

/** Validated, defaulted options. */
export interface ResolvedLeaseOptions {
  readonly key: string;
  readonly acquireTimeoutS: number;
  readonly leaseTtlS: number | undefined;
  readonly servers: readonly ServerEndpoint[];
  /** The servers form one cluster. */
  readonly cluster: boolean;
  readonly shardingStrategy: ShardingStrategy;
  readonly renewRatio: number;
  readonly tls: boolean | TlsConnectOptions | undefined;
  readonly authToken: string | undefined;
  readonly connectTimeoutMs: number | undefined;
  readonly keepaliveIntervalMs: number;
  readonly onLockLost: ((key: string, token: string) => void) | undefined;
  readonly transport: TransportAdapter | undefined;
}

/**
 * Rounds a number of seconds up to a whole number and checks its range.
 *
 * @param n Seconds.
 * @param name Name for messages.
 * @param min Smallest allowed value.
 * @returns The whole seconds.
 * @throws {TypeError} If `n` is not a number.
 * @throws {RangeError} If `n` is out of range.
 *
 * @example Round up
 * ```ts
 * wholeSeconds(1.2, "leaseTtlS", 1); // 2
 * ```
 */
export function wholeSeconds(n: unknown, name: string, min: number): number {
  if (typeof n !== "number") throw new TypeError(`${name} must be a number (got ${typeof n})`);
  return validateSeconds(Number.isFinite(n) ? Math.ceil(n) : n, { min, name });
}

/**
 * Checks a semaphore limit.
 *
 * @param limit The limit.
 * @returns `limit`.
 * @throws {TypeError} If it is not a number.
 * @throws {RangeError} If it is not an integer from 1 to 1048576.
 *
 * @example A valid limit
 * ```ts
 * validateLimit(3); // 3
 * ```
 */
export function validateLimit(limit: unknown): number {
  if (typeof limit !== "number") {
    throw new TypeError(`limit must be a number (got ${typeof limit})`);
  }
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SEMAPHORE_LIMIT) {
    throw new RangeError(
      `limit must be an integer from 1 to ${MAX_SEMAPHORE_LIMIT} (got ${limit})`,
    );
  }
  return limit;
}

/**
 * Validates and fills in defaults.
 *
 * @param options The user's options.
 * @returns The resolved options.
 * @throws {TypeError} On a missing or malformed key, server or callback.
 * @throws {RangeError} On out-of-range numbers.
 *
 * @example Defaults
 * ```ts
 * resolveLeaseOptions({ key: "k" }).acquireTimeoutS; // 10
 * ```
 */
export function resolveLeaseOptions(options: CommonLockOptions): ResolvedLeaseOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("options must be an object");
  }
  const key = validateKey(options.key);
  const acquireTimeoutS = wholeSeconds(
    options.acquireTimeoutS ?? DEFAULT_ACQUIRE_TIMEOUT_S,
    "acquireTimeoutS",
    0,
  );
  const leaseTtlS = options.leaseTtlS === undefined
    ? undefined
    : wholeSeconds(options.leaseTtlS, "leaseTtlS", 1);
  const renewRatio = options.renewRatio ?? DEFAULT_RENEW_RATIO;
  if (typeof renewRatio !== "number" || !(renewRatio > 0 && renewRatio < 1)) {
    throw new RangeError(`renewRatio must be between 0 and 1, exclusive (got ${renewRatio})`);
  }
  const keepaliveIntervalMs = options.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS;
  if (typeof keepaliveIntervalMs !== "number" || !(keepaliveIntervalMs > 0)) {
    throw new RangeError(
      `keepaliveIntervalMs must be a positive number (got ${keepaliveIntervalMs})`,
    );
  }
  const shardingStrategy = options.shardingStrategy ?? stableHashShard;
  if (typeof shardingStrategy !== "function") {
    throw new TypeError("shardingStrategy must be a function");
  }
  if (options.onLockLost !== undefined && typeof options.onLockLost !== "function") {
    throw new TypeError("onLockLost must be a function");
  }
  return {
    key,
    acquireTimeoutS,
    leaseTtlS,
    servers: resolveServers(options),
    cluster: options.cluster === true,
    shardingStrategy,
    renewRatio,
    tls: options.tls,
    authToken: options.authToken,
    connectTimeoutMs: options.connectTimeoutMs,
    keepaliveIntervalMs,
    onLockLost: options.onLockLost,
    transport: options.transport,
  };
}
