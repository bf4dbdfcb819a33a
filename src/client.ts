/**
 * {@linkcode DflockClient}: the object that owns the connections to dflockd servers and hands
 * out locks and semaphores on them. Every high-level lock runs on a client; locks created
 * without one share a default client per connection configuration.
 *
 * @module
 */

import { ClientCore, registerCore } from "./client/core.ts";
import { DEFAULT_RENEW_RATIO, resolveClientOptions } from "./client/options.ts";
import type { ClientOptions, LeaseSettings } from "./client/options.ts";
import { acquireOrThrow } from "./client/distributed_lease.ts";
import type { CallOptions } from "./client/distributed_lease.ts";
import type { ServerPoolStats } from "./client/pool.ts";
import { stats as serverStats } from "./client/low_level.ts";
import type { ServerStats } from "./client/low_level.ts";
import { DistributedLock } from "./lock.ts";
import { DistributedSemaphore } from "./semaphore.ts";
import { tryAcquireOn } from "./lock_api/dflockd_lock.ts";
import type { Lock, LockApi } from "./lock_api/types.ts";

export type { ServerPoolStats } from "./client/pool.ts";

/**
 * What {@linkcode DflockClient.stats} reports about the client's own connections.
 */
export interface ClientStats {
  /**
   * Per server: the configured ones in the order of `servers`, then the cluster members
   * learnt from leader redirects.
   */
  servers: ServerPoolStats[];
  /** Whether {@linkcode DflockClient.close} was called. */
  closed: boolean;
  /**
   * The keepalive interval in force, in ms: `keepaliveIntervalMs`, or less once a server was
   * seen closing silent connections sooner.
   */
  keepaliveIntervalMs: number;
  /** In cluster mode, the member that last served a request (the leader, as far as known). */
  leader: string | undefined;
}

/**
 * A client of one or more dflockd servers: it owns pooled connections and hands out
 * {@linkcode DistributedLock}s and {@linkcode DistributedSemaphore}s bound to them.
 *
 * Per server the client keeps one shared, pipelined connection for the requests that never
 * wait (an acquire that asks without waiting, renew, release, ping), and a pool of
 * connections for requests that may wait (an acquire of a taken key, two-phase enqueue and
 * wait). A lock lives on the connection that acquired it until it is released; a connection
 * returns to the pool only when it is known to be clean. Idle connections stay warm (TLS
 * done, authenticated), are pinged below the server's read timeout, are closed after
 * `idleTimeoutMs`, and never keep the process alive.
 *
 * @example One client for the whole application
 * ```ts
 * import { DflockClient } from "@dflock/dflock";
 *
 * await using client = new DflockClient({ servers: ["127.0.0.1:6388"] });
 * const report = await client.withLock("reports/daily", async (signal) => {
 *   // critical section; `signal` aborts if the lease is lost
 *   return "done";
 * });
 * ```
 */
export class DflockClient implements LockApi, AsyncDisposable {
  readonly #core: ClientCore;
  readonly #tryLocks = new Set<{ abandon(): Promise<void> }>();

  /**
   * Creates the client; nothing connects until the first lock is taken.
   *
   * @throws {TypeError} On a malformed server entry, token or sharding strategy.
   * @throws {RangeError} On out-of-range ports, intervals or limits.
   *
   * @example Three shards with TLS and auth
   * ```ts
   * const client = new DflockClient({
   *   servers: ["10.0.0.1:6388", "10.0.0.2:6388", "10.0.0.3:6388"],
   *   tls: true,
   *   authToken: "s3cret",
   * });
   * await client.close();
   * ```
   */
  constructor(options: ClientOptions = {}) {
    this.#core = new ClientCore(resolveClientOptions(options));
    registerCore(this, this.#core);
  }

  /**
   * A lock object on `key`, bound to this client; nothing is sent until it is acquired.
   *
   * @param key The key: 1 to 256 UTF-8 bytes without space, tab, CR or LF.
   * @throws {TypeError} On a malformed key.
   * @throws {RangeError} On out-of-range settings.
   *
   * @example Acquire and release by hand
   * ```ts
   * await using client = new DflockClient();
   * const lock = client.lock("jobs/nightly", { leaseTtlS: 60 });
   * if (await lock.acquire()) await lock.release();
   * ```
   */
  lock(key: string, settings: LeaseSettings = {}): DistributedLock {
    return new DistributedLock({ ...settings, key, client: this });
  }

  /**
   * A semaphore object on `key` with room for `limit` holders, bound to this client.
   *
   * @param limit Largest number of concurrent holders (1 to 1048576).
   * @throws {TypeError} On a malformed key.
   * @throws {RangeError} On an out-of-range limit or setting.
   *
   * @example Three workers at a time
   * ```ts
   * await using client = new DflockClient();
   * const sem = client.semaphore("workers", 3);
   * if (await sem.acquire()) await sem.release();
   * ```
   */
  semaphore(key: string, limit: number, settings: LeaseSettings = {}): DistributedSemaphore {
    return new DistributedSemaphore({ ...settings, key, limit, client: this });
  }

  /**
   * Acquires the lock on `key` and returns it held: the one-call form for `await using`.
   *
   * @param options Lock settings plus `signal`.
   * @throws {AcquireTimeoutError} When not acquired within `acquireTimeoutS`.
   * @throws {DflockError} On server or connection errors.
   *
   * @example Hold a lock for a scope
   * ```ts
   * await using client = new DflockClient();
   * {
   *   await using lock = await client.acquireLock("jobs/nightly");
   *   console.log(lock.token);
   * } // released here
   * ```
   */
  async acquireLock(
    key: string,
    options: LeaseSettings & CallOptions = {},
  ): Promise<DistributedLock> {
    const { signal, ...settings } = options;
    const lock = this.lock(key, settings);
    await acquireOrThrow(lock, `lock "${key}"`, options.acquireTimeoutS, signal);
    return lock;
  }

  /**
   * Acquires a slot of the semaphore on `key` and returns it held.
   *
   * @param limit Largest number of concurrent holders.
   * @param options Semaphore settings plus `signal`.
   * @throws {AcquireTimeoutError} When not acquired within `acquireTimeoutS`.
   * @throws {DflockError} On server or connection errors.
   *
   * @example Hold a slot for a scope
   * ```ts
   * await using client = new DflockClient();
   * {
   *   await using slot = await client.acquireSemaphore("workers", 3);
   *   console.log(slot.token);
   * } // released here
   * ```
   */
  async acquireSemaphore(
    key: string,
    limit: number,
    options: LeaseSettings & CallOptions = {},
  ): Promise<DistributedSemaphore> {
    const { signal, ...settings } = options;
    const sem = this.semaphore(key, limit, settings);
    await acquireOrThrow(sem, `semaphore "${key}"`, options.acquireTimeoutS, signal);
    return sem;
  }

  /**
   * Acquires the lock on `key`, runs `fn`, and releases it, also when `fn` throws.
   *
   * @param fn The critical section; gets the lease's signal, aborted if the lease is lost.
   * @param options Lock settings plus `signal` to abort the acquire.
   * @returns What `fn` returned.
   * @throws {AcquireTimeoutError} When the lock was not acquired within `acquireTimeoutS`.
   * @throws {LeaseLostError} When `fn` returned but the lease was lost meanwhile.
   * @throws {unknown} What `fn` threw (after releasing).
   *
   * @example Run a job once across instances
   * ```ts
   * await using client = new DflockClient();
   * await client.withLock("jobs/nightly", async (signal) => {
   *   const res = await fetch("https://example.com/run", { method: "POST", signal });
   *   console.log(res.status);
   * });
   * ```
   */
  withLock<T>(
    key: string,
    fn: (signal: AbortSignal) => T | Promise<T>,
    options: LeaseSettings & CallOptions = {},
  ): Promise<T> {
    const { signal, ...settings } = options;
    return this.lock(key, settings).withLock((_lock, leaseSignal) => fn(leaseSignal), { signal });
  }

  /**
   * Takes a slot of the semaphore on `key`, runs `fn`, and releases the slot.
   *
   * @param limit Largest number of concurrent holders.
   * @param fn The work; gets the lease's signal.
   * @param options Semaphore settings plus `signal`.
   * @returns What `fn` returned.
   * @throws {AcquireTimeoutError} When no slot was free within `acquireTimeoutS`.
   * @throws {LeaseLostError} When `fn` returned but the lease was lost meanwhile.
   * @throws {unknown} What `fn` threw (after releasing).
   *
   * @example At most four uploads at a time
   * ```ts
   * await using client = new DflockClient();
   * await client.withSemaphore("uploads", 4, async () => {
   *   console.log("uploading");
   * });
   * ```
   */
  withSemaphore<T>(
    key: string,
    limit: number,
    fn: (signal: AbortSignal) => T | Promise<T>,
    options: LeaseSettings & CallOptions = {},
  ): Promise<T> {
    const { signal, ...settings } = options;
    return this.semaphore(key, limit, settings).withLock(
      (_sem, leaseSignal) => fn(leaseSignal),
      { signal },
    );
  }

  /**
   * The {@linkcode LockApi}: takes the lock on `key` without waiting, with a lease of `ttlS`
   * seconds after which it expires by itself unless released first.
   *
   * @param ttlS Seconds until the lock expires (fractions round up, at least 1).
   * @returns The lock, or `undefined` when the key is held.
   * @throws {ConnectionError} When the key's server cannot be reached.
   * @throws {DflockError} On other server errors, or with code `closed` after `close()`.
   * @throws {TypeError} On a malformed key or a non-number TTL.
   * @throws {RangeError} On a TTL below 1 s.
   *
   * @example The client is a LockApi
   * ```ts
   * import { tryWithLock } from "@dflock/dflock";
   *
   * await using client = new DflockClient();
   * await tryWithLock(client, "order:42", 30, () => console.log("processing order 42"));
   * ```
   */
  async tryAcquire(key: string, ttlS: number): Promise<Lock | undefined> {
    const lock = await tryAcquireOn(
      this.#core,
      key,
      ttlS,
      { renew: false, renewRatio: DEFAULT_RENEW_RATIO },
      (done) => this.#tryLocks.delete(done),
    );
    if (lock !== undefined) this.#tryLocks.add(lock);
    return lock;
  }

  /**
   * The client's own connection counters, per server.
   *
   * @returns Open, idle and active connections, and how many were opened.
   *
   * @example Watch the pool
   * ```ts
   * await using client = new DflockClient();
   * await client.withLock("k", () => {});
   * console.log(client.stats().servers[0]); // { open: 1, opened: 1, shared: true, ... }
   * ```
   */
  stats(): ClientStats {
    const { pool, failover } = this.#core;
    return {
      servers: pool.stats(),
      closed: pool.closed,
      keepaliveIntervalMs: pool.keepaliveIntervalMs,
      leader: failover.leader === undefined ? undefined : pool.servers[failover.leader]!.address,
    };
  }

  /**
   * Asks one server for its `stats` (docs/protocol.md 7), on the client's shared connection.
   *
   * @param server The server's index in `servers`. @default {0}
   * @throws {ConnectionError} When the server cannot be reached.
   * @throws {RangeError} On an index out of range.
   */
  async serverStats(server = 0): Promise<ServerStats> {
    const n = this.#core.options.servers.length;
    if (!Number.isInteger(server) || server < 0 || server >= n) {
      throw new RangeError(`server must be an index from 0 to ${n - 1} (got ${server})`);
    }
    const pc = await this.#core.pool.shared(server);
    return await serverStats(pc.conn);
  }

  /**
   * Closes every connection; the servers release what was still held through them. Locks of
   * this client lose their lease and later calls on them throw. Idempotent.
   *
   * @returns Resolves once every connection is closed.
   */
  async close(): Promise<void> {
    const abandoning = [...this.#tryLocks].map((lock) => lock.abandon());
    this.#tryLocks.clear();
    await Promise.all(abandoning);
    await this.#core.pool.close();
  }

  /**
   * Closes the client (for `await using`), like {@linkcode DflockClient.close}.
   *
   * @returns Resolves once every connection is closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
