/**
 * {@linkcode DflockdLockApi}: the {@linkcode LockApi} on a dflockd server. Each lock is a
 * non-blocking acquire (`l key 0 ttl`), so it expires by itself after its TTL unless
 * `renew: true` keeps it alive until release.
 *
 * @module
 */

import * as low from "../client/low_level.ts";
import { wholeSeconds } from "../client/options.ts";
import { followRedirects, resolveServers, shardIndex } from "../client/servers.ts";
import type { ServerAddress, ServerEndpoint, ShardingStrategy } from "../client/servers.ts";
import { AcquireTimeoutError, LockError } from "../errors.ts";
import { STATUS } from "../protocol/commands.ts";
import { stableHashShard } from "../protocol/crc32.ts";
import { validateKey } from "../protocol/encode.ts";
import type { TlsConnectOptions, TransportAdapter } from "../transport/types.ts";
import { ConnectionPool } from "./_pool.ts";
import type { LeaseHolderRef, PoolEntry } from "./_pool.ts";
import type { Lock, LockApi } from "./types.ts";

/** Default fraction of the lease after which `renew: true` renews it. */
const DEFAULT_RENEW_RATIO = 0.5;
/** Default longest silence of a connection that holds leases, in ms (server reads time out at 23 s). */
const DEFAULT_KEEPALIVE_INTERVAL_MS = 10_000;
/** Default longest idle time of a pooled connection without leases, in ms. */
const DEFAULT_IDLE_TIMEOUT_MS = 10_000;
/** Default number of idle connections without leases kept per server. */
const DEFAULT_MAX_IDLE_CONNECTIONS = 4;
/** A lease whose local expiry passed this long ago no longer keeps its connection open. */
const EXPIRY_MARGIN_MS = 1_000;

/**
 * Options of {@linkcode DflockdLockApi}: the connection options of `DistributedLock` plus
 * renewal and pool settings.
 *
 * @example Three shards over TLS with auth
 * ```ts
 * import { readFileSync } from "node:fs";
 * import { DflockdLockApi } from "@dflock/dflock";
 * import type { DflockdLockApiOptions } from "@dflock/dflock";
 *
 * const caPem = readFileSync("ca.pem", "utf8");
 * const options: DflockdLockApiOptions = {
 *   servers: ["10.0.0.1:6388", "10.0.0.2:6388", "10.0.0.3:6388"],
 *   tls: { caCerts: [caPem] },
 *   authToken: "s3cret",
 *   connectTimeoutMs: 2000,
 * };
 * const lockApi = new DflockdLockApi(options);
 * ```
 */
export interface DflockdLockApiOptions {
  /** Servers, in the order that sharding indexes them. @default {["127.0.0.1:6388"]} */
  servers?: readonly ServerAddress[];
  /** Shorthand for a single server's host (ignored when `servers` is given). */
  host?: string;
  /** Shorthand for a single server's port (ignored when `servers` is given). */
  port?: number;
  /** Maps a key to one of `servers`. @default {stableHashShard (CRC-32)} */
  shardingStrategy?: ShardingStrategy;
  /** `true`: TLS with the system trust store; an object: TLS with these settings. */
  tls?: boolean | TlsConnectOptions;
  /** Shared secret, sent with `auth` first on every connection. */
  authToken?: string;
  /** Bound on connecting plus authenticating, in ms. @default {10000} */
  connectTimeoutMs?: number;
  /** Transport adapter. @default {the running runtime's} */
  transport?: TransportAdapter;
  /**
   * `true`: keep every lock's lease alive (renewing it after `ttl * renewRatio` seconds) until
   * it is released, instead of letting it expire after its TTL. @default {false}
   */
  renew?: boolean;
  /** With `renew: true`, the fraction of the lease after which it is renewed; 0 < r < 1. @default {0.5} */
  renewRatio?: number;
  /**
   * Longest time, in ms, a connection holding leases stays silent before a `ping` is sent
   * (the server drops silent connections after 23 s, releasing their locks). @default {10000}
   */
  keepaliveIntervalMs?: number;
  /** Idle connections without leases are closed after this many ms. @default {10000} */
  idleTimeoutMs?: number;
  /** Idle connections without leases kept open per server. @default {4} */
  maxIdleConnections?: number;
}

interface LockContext {
  readonly pool: ConnectionPool;
  readonly renew: boolean;
  readonly renewRatio: number;
  forget(lock: DflockdLock): void;
}

function positive(value: unknown, name: string, fallback: number): number {
  const n = value ?? fallback;
  if (typeof n !== "number") throw new TypeError(`${name} must be a number (got ${typeof n})`);
  if (!(n > 0) || !Number.isFinite(n)) {
    throw new RangeError(`${name} must be a positive number (got ${n})`);
  }
  return n;
}

/** A lock held on dflockd. */
class DflockdLock implements Lock, LeaseHolderRef {
  readonly type = "lock" as const;
  readonly key: string;
  readonly token: string;
  readonly #ctx: LockContext;
  readonly #owner: PoolEntry;
  readonly #ttlS: number;
  #expiresAt: number;
  #renewing: boolean;
  #released = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #renewal: Promise<void> | undefined;
  #releasing: Promise<void> | undefined;

  constructor(ctx: LockContext, owner: PoolEntry, key: string, ttlS: number, grant: low.Grant) {
    this.#ctx = ctx;
    this.#owner = owner;
    this.key = key;
    this.token = grant.token;
    this.#ttlS = ttlS;
    this.#expiresAt = performance.now() + grant.lease * 1000;
    this.#renewing = ctx.renew;
    owner.leases.add(this);
    this.#schedule(grant.lease);
  }

  get live(): boolean {
    return !this.#released &&
      (this.#renewing || performance.now() < this.#expiresAt + EXPIRY_MARGIN_MS);
  }

  release(): Promise<void> {
    if (this.#released) return Promise.resolve();
    this.#releasing ??= this.#release().finally(() => {
      this.#releasing = undefined;
    });
    return this.#releasing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  /** Stops renewing and forgets the lock without sending anything (the API is closing). */
  abandon(): void {
    this.#stopRenewing();
    this.#finish();
  }

  #stopRenewing(): void {
    this.#renewing = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #finish(): void {
    this.#released = true;
    this.#owner.leases.delete(this);
    this.#ctx.forget(this);
  }

  async #release(): Promise<void> {
    this.#stopRenewing();
    await this.#renewal;
    if (this.#released) return;
    if (this.#ctx.pool.closed) {
      this.#finish();
      return;
    }
    try {
      await this.#ctx.pool.run(this.#owner.index, async (entry) => {
        try {
          await low.release(entry.conn, this.key, this.token);
        } catch (err) {
          // `error`: the token no longer holds the key (expired, or released on disconnect).
          if (!(err instanceof LockError && err.code === STATUS.error)) throw err;
        }
        this.#finish();
      }, { prefer: this.#owner });
    } catch (err) {
      if (err instanceof LockError && err.code === "closed") {
        this.#finish();
        return;
      }
      throw err;
    }
  }

  #schedule(leaseS: number): void {
    if (!this.#renewing) return;
    const ms = Math.min(leaseS * 1000 * this.#ctx.renewRatio, 0x7fffffff);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#renewal = this.#renewOnce().finally(() => {
        this.#renewal = undefined;
      });
    }, ms);
  }

  async #renewOnce(): Promise<void> {
    try {
      const lease = await this.#ctx.pool.run(
        this.#owner.index,
        (entry) => low.renew(entry.conn, this.key, this.token, this.#ttlS),
        { prefer: this.#owner },
      );
      if (!this.#renewing) return;
      this.#expiresAt = performance.now() + lease * 1000;
      this.#schedule(lease);
    } catch {
      // Refused (the lease is gone) or unreachable: stop; the lease runs out by itself.
      this.#renewing = false;
    }
  }
}

/**
 * The {@linkcode LockApi} on dflockd servers. `tryAcquire(key, ttlS)` takes the lock without
 * waiting (acquire timeout 0) with a lease of `ttlS` seconds, so a lock that is never released
 * expires by itself; it resolves `undefined` when the key is held. With `renew: true` the
 * lease is renewed in the background until release instead.
 *
 * Connections are pooled per server and reused when no request is in flight on them. A
 * connection through which a lock was taken stays open while the lock is held (the server
 * releases a connection's locks when it closes) and is pinged so that the server's read
 * timeout does not drop it. {@linkcode DflockdLockApi.close} (or `await using`) closes every
 * connection, which makes the server release the locks still held.
 *
 * @example Process an order once across instances
 * ```ts
 * import { DflockdLockApi } from "@dflock/dflock";
 *
 * await using lockApi = new DflockdLockApi({ servers: ["127.0.0.1:6388"] });
 * const lock = await lockApi.tryAcquire("order:42", 30);
 * if (lock) {
 *   try {
 *     console.log("processing order 42");
 *   } finally {
 *     await lock.release();
 *   }
 * }
 * ```
 */
export class DflockdLockApi implements LockApi, AsyncDisposable {
  readonly #servers: readonly ServerEndpoint[];
  readonly #sharding: ShardingStrategy;
  readonly #pool: ConnectionPool;
  readonly #locks = new Set<DflockdLock>();
  readonly #ctx: LockContext;

  /**
   * Creates the API; nothing connects until the first {@linkcode DflockdLockApi.tryAcquire}.
   *
   * @param options Servers, sharding, TLS, auth, timeouts, transport, renewal, pool limits.
   * @throws {TypeError} On a malformed server entry or a non-function sharding strategy.
   * @throws {RangeError} On out-of-range ports, ratios, intervals or limits.
   *
   * @example Renew leases until release
   * ```ts
   * const lockApi = new DflockdLockApi({ servers: ["127.0.0.1:6388"], renew: true });
   * ```
   */
  constructor(options: DflockdLockApiOptions = {}) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("options must be an object");
    }
    this.#servers = resolveServers(options);
    const sharding = options.shardingStrategy ?? stableHashShard;
    if (typeof sharding !== "function") throw new TypeError("shardingStrategy must be a function");
    this.#sharding = sharding;
    const renewRatio = options.renewRatio ?? DEFAULT_RENEW_RATIO;
    if (typeof renewRatio !== "number" || !(renewRatio > 0 && renewRatio < 1)) {
      throw new RangeError(`renewRatio must be between 0 and 1, exclusive (got ${renewRatio})`);
    }
    const maxIdle = options.maxIdleConnections ?? DEFAULT_MAX_IDLE_CONNECTIONS;
    if (typeof maxIdle !== "number" || !Number.isInteger(maxIdle) || maxIdle < 0) {
      throw new RangeError(`maxIdleConnections must be a whole number >= 0 (got ${maxIdle})`);
    }
    this.#pool = new ConnectionPool({
      servers: this.#servers,
      tls: options.tls,
      authToken: options.authToken,
      connectTimeoutMs: options.connectTimeoutMs,
      transport: options.transport,
      keepaliveIntervalMs: positive(
        options.keepaliveIntervalMs,
        "keepaliveIntervalMs",
        DEFAULT_KEEPALIVE_INTERVAL_MS,
      ),
      idleTimeoutMs: positive(options.idleTimeoutMs, "idleTimeoutMs", DEFAULT_IDLE_TIMEOUT_MS),
      maxIdleConnections: maxIdle,
    });
    this.#ctx = {
      pool: this.#pool,
      renew: options.renew === true,
      renewRatio,
      forget: (lock) => this.#locks.delete(lock),
    };
  }

  /**
   * Open connections in the pool, over all servers.
   *
   * @returns The number of open pooled connections.
   *
   * @example Watch the pool size
   * ```ts
   * await using lockApi = new DflockdLockApi({ maxIdleConnections: 4 });
   * const lock = await lockApi.tryAcquire("jobs/nightly", 60);
   * console.log(lockApi.connectionCount); // 1 while the lock is held
   * await lock?.release();
   * ```
   */
  get connectionCount(): number {
    return this.#pool.size;
  }

  /**
   * Takes the lock on `key` without waiting, with a lease of `ttlS` seconds (fractions round
   * up). Follows `error_not_leader` redirects and moves on from draining servers.
   *
   * @param key The key: 1 to 256 UTF-8 bytes without space, tab, CR or LF.
   * @param ttlS Seconds until the lock expires by itself (at least 1).
   * @returns The lock, or `undefined` when the key is held.
   * @throws {ConnectionError} When the key's server cannot be reached.
   * @throws {LockError} On other server errors (`MaxLocksError`, `AuthError`, ...), or with
   * code `closed` after {@linkcode DflockdLockApi.close}.
   * @throws {TypeError} On a malformed key or a non-number TTL.
   * @throws {RangeError} On a TTL below 1 s or a key longer than 256 bytes.
   *
   * @example Take a lock for 30 seconds
   * ```ts
   * await using lockApi = new DflockdLockApi();
   * const lock = await lockApi.tryAcquire("report:daily", 30);
   * if (lock === undefined) console.log("another instance is on it");
   * ```
   */
  async tryAcquire(key: string, ttlS: number): Promise<Lock | undefined> {
    validateKey(key);
    const ttl = wholeSeconds(ttlS, "ttlS", 1);
    if (this.#pool.closed) throw new LockError("The lock API is closed", "closed");
    const start = shardIndex(key, this.#servers.length, this.#sharding);
    try {
      return await followRedirects(
        this.#servers,
        start,
        (index) =>
          this.#pool.run(index, async (entry) => {
            const grant = await low.acquire(entry.conn, key, 0, { leaseTtlS: ttl });
            const lock = new DflockdLock(this.#ctx, entry, key, ttl, grant);
            this.#locks.add(lock);
            return lock;
          }),
      );
    } catch (err) {
      if (err instanceof AcquireTimeoutError) return undefined;
      throw err;
    }
  }

  /**
   * Stops renewals and closes every connection; the server releases the locks still held
   * through them (when `autoReleaseOnDisconnect` is on, the default; otherwise they expire).
   * Later `release()` calls on those locks resolve without sending anything; later
   * `tryAcquire` calls throw. Idempotent.
   *
   * @returns Resolves once every connection is closed.
   *
   * @example Close at shutdown
   * ```ts
   * const lockApi = new DflockdLockApi();
   * try {
   *   const lock = await lockApi.tryAcquire("jobs/nightly", 60);
   *   await lock?.release();
   * } finally {
   *   await lockApi.close();
   * }
   * ```
   */
  close(): Promise<void> {
    const closing = this.#pool.close();
    for (const lock of [...this.#locks]) lock.abandon();
    return closing;
  }

  /**
   * Closes the API (for `await using`), like {@linkcode DflockdLockApi.close}.
   *
   * @returns Resolves once every connection is closed.
   *
   * @example Close when the scope ends
   * ```ts
   * {
   *   await using lockApi = new DflockdLockApi();
   *   const lock = await lockApi.tryAcquire("jobs/nightly", 60);
   *   await lock?.release();
   * } // every pooled connection is closed here
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
