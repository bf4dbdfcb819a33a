/**
 * Options of the high-level {@linkcode DistributedLock} and {@linkcode DistributedSemaphore}
 * (the same names as the seed clients, in camelCase), and their validation.
 *
 * @module
 */

import type { TlsConnectOptions, TransportAdapter } from "../transport/types.ts";
import { validateAuthToken, validateKey } from "../protocol/encode.ts";
import { MAX_SECONDS } from "../protocol/go_text.ts";
import { stableHashShard } from "../protocol/crc32.ts";
import { resolveServers } from "./servers.ts";
import type { ServerEndpoint, ServerListOptions, ShardingStrategy } from "./servers.ts";
import type { DflockClient } from "../client.ts";

/** Default seconds a blocking acquire waits. */
export const DEFAULT_ACQUIRE_TIMEOUT_S = 10;
/** Default fraction of the lease after which it is renewed. */
export const DEFAULT_RENEW_RATIO = 0.5;

/** Default longest silence of an open pooled connection before it is pinged, in ms. */
export const DEFAULT_KEEPALIVE_INTERVAL_MS = 10_000;
/**
 * Default time after which an idle pooled connection that holds nothing is closed, in ms: below
 * a default dflockd's 23 s read timeout, so idle connections need no pings.
 */
export const DEFAULT_IDLE_TIMEOUT_MS = 15_000;
/** Default number of idle exclusive connections kept per server. */
export const DEFAULT_MAX_IDLE_PER_SERVER = 8;
/**
 * Default longest wait for a server's reply beyond the time a blocking request may take, in
 * ms: a server that stays silent longer is treated as failed and its connection closed.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/**
 * How a {@linkcode DflockClient} reaches its servers: addresses, TLS, auth and the pool.
 */
export interface ClientOptions extends ServerListOptions {
  /** `true`: TLS with the system trust store; an object: TLS with these settings. */
  tls?: boolean | TlsConnectOptions;
  /** Shared secret, sent with `auth` first on every connection. */
  authToken?: string;
  /** Bound on connecting plus authenticating, in ms. @default {10000} */
  connectTimeoutMs?: number;
  /**
   * Longest wait, in ms, for the reply to a request beyond the time the request may block on
   * the server (a blocking acquire's `acquireTimeoutS`). A server silent for longer is treated
   * as failed: the connection is closed (with what it held) and the call rejects with
   * `RequestTimeoutError`; in a cluster the next member is tried. Checked a few times per
   * interval, so it fires up to a quarter of it late. @default {10000}
   */
  requestTimeoutMs?: number;
  /**
   * Longest time, in ms, a connection that holds a lease or a queue place stays silent: it is
   * pinged then. Keep it below the server's read timeout (`--read-timeout`, 23 s on a default
   * dflockd), which closes silent connections and releases what they hold. When a server does
   * close such a connection sooner (it writes `error` and hangs up), that lease is lost, and
   * the client pings at half the silence it saw from then on. @default {10000}
   */
  keepaliveIntervalMs?: number;
  /**
   * An idle connection that holds nothing is closed after this many ms unused (idle
   * connections are not pinged; a server that closed one first is handled). @default {15000}
   */
  idleTimeoutMs?: number;
  /** Idle connections for blocking requests kept open per server. @default {8} */
  maxIdlePerServer?: number;
  /** Maps a key to one of `servers`. @default {stableHashShard (CRC-32)} */
  shardingStrategy?: ShardingStrategy;
  /** Transport adapter. @default {the running runtime's} */
  transport?: TransportAdapter;
}

/** Settings of one lock or semaphore, as `client.lock(key, settings)` takes them. */
export interface LeaseSettings {
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
  /** Maps the key to one of the servers. @default {the client's, else stableHashShard} */
  shardingStrategy?: ShardingStrategy;
  /** Renew after `lease * renewRatio` seconds (less up to 10 % jitter); 0 < r < 1. @default {0.5} */
  renewRatio?: number;
  /**
   * Called once when a held lease is lost (renewal refused, connection dropped, or the lease
   * ran out locally). Exceptions it throws are ignored.
   *
   * @param token The token that was lost.
   */
  onLockLost?: (key: string, token: string) => void;
}

/**
 * Options of a standalone {@linkcode DistributedLock}: the key, its settings, and either a
 * `client` or the connection options of one (locks with the same connection options share one
 * default client and its pooled connections).
 */
export interface LockOptions extends ClientOptions, LeaseSettings {
  /** The key: 1 to 256 UTF-8 bytes without space, tab, CR or LF. */
  key: string;
  /** The client whose connections the lock uses (no connection options may be given then). */
  client?: DflockClient;
}

/**
 * Options of a standalone {@linkcode DistributedSemaphore}.
 */
export interface SemaphoreOptions extends LockOptions {
  /** Largest number of concurrent holders: an integer from 1 to 1048576. */
  limit: number;
}

/** Validated, defaulted settings of one lease. */
export interface ResolvedLeaseSettings {
  readonly key: string;
  readonly acquireTimeoutS: number;
  readonly leaseTtlS: number | undefined;
  readonly shardingStrategy: ShardingStrategy | undefined;
  readonly renewRatio: number;
  readonly onLockLost: ((key: string, token: string) => void) | undefined;
}

/** Validated, defaulted client options. */
export interface ResolvedClientOptions {
  readonly servers: readonly ServerEndpoint[];
  readonly cluster: boolean;
  readonly shardingStrategy: ShardingStrategy;
  readonly tls: boolean | TlsConnectOptions | undefined;
  readonly authToken: string | undefined;
  readonly connectTimeoutMs: number | undefined;
  readonly requestTimeoutMs: number;
  readonly keepaliveIntervalMs: number;
  readonly idleTimeoutMs: number;
  readonly maxIdlePerServer: number;
  readonly transport: TransportAdapter | undefined;
}

/** The option names that describe a connection (all of {@linkcode ClientOptions} but sharding). */
export const CONNECTION_OPTION_NAMES = [
  "servers",
  "host",
  "port",
  "cluster",
  "tls",
  "authToken",
  "connectTimeoutMs",
  "requestTimeoutMs",
  "keepaliveIntervalMs",
  "idleTimeoutMs",
  "maxIdlePerServer",
  "transport",
] as const;

/**
 * Rounds a number of seconds up to a whole number (the protocol carries whole seconds, and
 * rounding up never waits or holds for less than asked) and checks its range: a timeout
 * (`min` 0) may be 0, a lease (`min` 1) must be above 0; rounded, at most 9223372036.
 *
 * @param n Seconds.
 * @param name Name for messages.
 * @param min 0 for a timeout, 1 for a lease.
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
  if (typeof n !== "number") {
    throw new TypeError(`${name} must be a number of seconds (got ${typeof n})`);
  }
  const up = Math.ceil(n) + 0; // + 0: no -0
  if (!Number.isFinite(n) || n < 0 || up < min || up > MAX_SECONDS) {
    const range = min > 0 ? `above 0 and at most ${MAX_SECONDS}` : `from 0 to ${MAX_SECONDS}`;
    throw new RangeError(
      `${name} must be a number of seconds ${range}; fractions round up to whole seconds ` +
        `(got ${n})`,
    );
  }
  return up;
}

/**
 * Checks a `renewRatio` option, or gives the default for `undefined`.
 *
 * @returns The ratio: strictly between 0 and 1.
 * @throws {RangeError} If it is not a number strictly between 0 and 1.
 *
 * @example The default
 * ```ts
 * resolveRenewRatio(undefined); // 0.5
 * ```
 */
export function resolveRenewRatio(ratio: unknown): number {
  const r = ratio ?? DEFAULT_RENEW_RATIO;
  if (typeof r !== "number" || !(r > 0 && r < 1)) {
    throw new RangeError(`renewRatio must be between 0 and 1, exclusive (got ${r})`);
  }
  return r;
}

function positive(value: unknown, name: string, fallback: number): number {
  const n = value ?? fallback;
  if (typeof n !== "number") throw new TypeError(`${name} must be a number (got ${typeof n})`);
  if (!(n > 0) || !Number.isFinite(n)) {
    throw new RangeError(`${name} must be a positive number (got ${n})`);
  }
  return n;
}

function checkSharding(strategy: unknown): ShardingStrategy | undefined {
  if (strategy !== undefined && typeof strategy !== "function") {
    throw new TypeError("shardingStrategy must be a function");
  }
  return strategy as ShardingStrategy | undefined;
}

/**
 * Validates client options and fills in defaults.
 *
 * @throws {TypeError} On a malformed server entry or a non-function sharding strategy.
 * @throws {RangeError} On out-of-range ports, intervals or limits.
 *
 * @example Defaults
 * ```ts
 * resolveClientOptions({}).keepaliveIntervalMs; // 10000
 * ```
 */
export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("options must be an object");
  }
  const maxIdle = options.maxIdlePerServer ?? DEFAULT_MAX_IDLE_PER_SERVER;
  if (typeof maxIdle !== "number" || !Number.isInteger(maxIdle) || maxIdle < 0) {
    throw new RangeError(`maxIdlePerServer must be an integer >= 0 (got ${maxIdle})`);
  }
  if (options.connectTimeoutMs !== undefined) {
    positive(options.connectTimeoutMs, "connectTimeoutMs", 0);
  }
  if (options.authToken !== undefined) validateAuthToken(options.authToken);
  return {
    servers: resolveServers(options),
    cluster: options.cluster === true,
    shardingStrategy: checkSharding(options.shardingStrategy) ?? stableHashShard,
    tls: options.tls,
    authToken: options.authToken,
    connectTimeoutMs: options.connectTimeoutMs,
    requestTimeoutMs: positive(
      options.requestTimeoutMs,
      "requestTimeoutMs",
      DEFAULT_REQUEST_TIMEOUT_MS,
    ),
    keepaliveIntervalMs: positive(
      options.keepaliveIntervalMs,
      "keepaliveIntervalMs",
      DEFAULT_KEEPALIVE_INTERVAL_MS,
    ),
    idleTimeoutMs: positive(options.idleTimeoutMs, "idleTimeoutMs", DEFAULT_IDLE_TIMEOUT_MS),
    maxIdlePerServer: maxIdle,
    transport: options.transport,
  };
}

/**
 * Validates the settings of one lease and fills in defaults.
 *
 * @throws {TypeError} On a malformed key or callback.
 * @throws {RangeError} On out-of-range numbers.
 *
 * @example Defaults
 * ```ts
 * resolveLeaseSettings("k", {}).acquireTimeoutS; // 10
 * ```
 */
export function resolveLeaseSettings(key: string, settings: LeaseSettings): ResolvedLeaseSettings {
  if (typeof settings !== "object" || settings === null) {
    throw new TypeError("options must be an object");
  }
  const acquireTimeoutS = wholeSeconds(
    settings.acquireTimeoutS ?? DEFAULT_ACQUIRE_TIMEOUT_S,
    "acquireTimeoutS",
    0,
  );
  const leaseTtlS = settings.leaseTtlS === undefined
    ? undefined
    : wholeSeconds(settings.leaseTtlS, "leaseTtlS", 1);
  const renewRatio = resolveRenewRatio(settings.renewRatio);
  if (settings.onLockLost !== undefined && typeof settings.onLockLost !== "function") {
    throw new TypeError("onLockLost must be a function");
  }
  return {
    key: validateKey(key),
    acquireTimeoutS,
    leaseTtlS,
    shardingStrategy: checkSharding(settings.shardingStrategy),
    renewRatio,
    onLockLost: settings.onLockLost,
  };
}
