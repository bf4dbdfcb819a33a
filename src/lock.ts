/**
 * The high-level distributed lock on a client's pooled connections: blocking or two-phase
 * acquisition, background lease renewal, loss detection and `await using`.
 *
 * @module
 */

import * as low from "./client/low_level.ts";
import { acquireTimedOut, LeaseHolder, runWithLease } from "./client/_lease_holder.ts";
import { coreForLock } from "./client/core.ts";
import type { Connection } from "./client/connection.ts";
import type { LeaseOps, SignalOption } from "./client/_lease_holder.ts";
import { resolveLeaseSettings, wholeSeconds } from "./client/options.ts";
import type { LockOptions, ResolvedLeaseSettings } from "./client/options.ts";

export type { SignalOption } from "./client/_lease_holder.ts";

/** The wire operations of a lock on one key: methods, not closures, as one exists per lock. */
class LockOps implements LeaseOps {
  readonly noun = "lock";
  readonly #key: string;
  readonly #leaseTtlS: number | undefined;

  constructor(o: ResolvedLeaseSettings) {
    this.#key = o.key;
    this.#leaseTtlS = o.leaseTtlS;
  }

  acquire(conn: Connection, t: number, signal?: AbortSignal): Promise<low.Grant> {
    return low.acquire(conn, this.#key, t, { leaseTtlS: this.#leaseTtlS, signal });
  }

  enqueue(conn: Connection, signal?: AbortSignal): Promise<low.EnqueueResult> {
    return low.enqueue(conn, this.#key, { leaseTtlS: this.#leaseTtlS, signal });
  }

  wait(conn: Connection, t: number, signal?: AbortSignal): Promise<low.Grant> {
    return low.wait(conn, this.#key, t, { signal });
  }

  renew(conn: Connection, token: string): Promise<number> {
    return low.renew(conn, this.#key, token, this.#leaseTtlS);
  }

  release(conn: Connection, token: string, signal?: AbortSignal): Promise<void> {
    return low.release(conn, this.#key, token, { signal });
  }
}

/** The wire operations of a lock on `o.key`. */
export function lockOps(o: ResolvedLeaseSettings): LeaseOps {
  return new LockOps(o);
}

/**
 * A distributed lock on one key of a dflockd server (chosen among `servers` by sharding).
 *
 * The lock runs on a {@linkcode DflockClient}'s connections: the `client` option, or
 * `client.lock(key)`, or else a default client shared by every lock with the same connection
 * options. {@linkcode DistributedLock.acquire} first asks without waiting on the client's
 * shared pipelined connection; when the key is taken it waits on a pooled connection of its
 * own, which then holds the lock until release. The lease is renewed in the background every
 * `lease * renewRatio` seconds (less up to 10 % jitter). Losing the lease (renewal refused,
 * connection dropped, lease ran out locally) aborts {@linkcode DistributedLock.signal} with
 * `LeaseLostError`, calls `onLockLost` once, and makes the next `release()`, `withLock` or
 * `await using` disposal throw that error.
 *
 * @example Run a critical section
 * ```ts
 * import { DistributedLock } from "@dflock/dflock";
 *
 * const lock = new DistributedLock({ key: "my-resource" });
 * await lock.withLock(async (_lock, signal) => {
 *   // critical section; `signal` aborts if the lease is lost
 * });
 * ```
 *
 * @example Manual acquire and release
 * ```ts
 * import { DistributedLock } from "@dflock/dflock";
 *
 * const lock = new DistributedLock({ key: "my-resource", acquireTimeoutS: 10, leaseTtlS: 20 });
 * if (await lock.acquire()) {
 *   try {
 *     // critical section
 *   } finally {
 *     await lock.release();
 *   }
 * }
 * ```
 */
export class DistributedLock implements AsyncDisposable {
  readonly #holder: LeaseHolder;

  /**
   * Creates the lock object; nothing is sent until `acquire()` or `enqueue()`.
   *
   * @param options Key, timeouts, servers, TLS, auth and callbacks.
   * @throws {TypeError} On a missing or malformed key or server entry.
   * @throws {RangeError} On out-of-range timeouts, leases, ratios or ports.
   *
   * @example Three shards, custom lease
   * ```ts
   * const lock = new DistributedLock({
   *   key: "jobs/nightly",
   *   leaseTtlS: 60,
   *   servers: ["10.0.0.1:6388", "10.0.0.2:6388", "10.0.0.3:6388"],
   * });
   * ```
   */
  constructor(options: LockOptions) {
    const core = coreForLock(options);
    const settings = resolveLeaseSettings(options.key, options);
    this.#holder = new LeaseHolder(core, settings, lockOps(settings), { renew: true });
  }

  /**
   * The key.
   *
   * @returns The key given to the constructor.
   *
   * @example Read the key
   * ```ts
   * const lock = new DistributedLock({ key: "my-resource" });
   * console.log(lock.key);
   * ```
   */
  get key(): string {
    return this.#holder.key;
  }

  /**
   * The token while the lock is held, else `undefined`.
   *
   * @returns The server-issued token, or `undefined` when not held.
   *
   * @example Log the token once held
   * ```ts
   * const lock = new DistributedLock({ key: "my-resource" });
   * if (await lock.acquire()) console.log(lock.token);
   * await lock.release();
   * ```
   */
  get token(): string | undefined {
    return this.#holder.token;
  }

  /**
   * The lease in seconds the server last reported while held, else `undefined`.
   *
   * @returns The lease in whole seconds, or `undefined` when not held.
   *
   * @example Read the granted lease
   * ```ts
   * const lock = new DistributedLock({ key: "my-resource" });
   * if (await lock.acquire()) console.log(`lease: ${lock.lease} s`);
   * await lock.release();
   * ```
   */
  get lease(): number | undefined {
    return this.#holder.lease;
  }

  /**
   * The fencing number of the held token (its first 16 hex digits; meaningful on dflockd
   * v2.1+ only, compare per key), else `undefined`.
   *
   * @returns The fence as a `bigint`, or `undefined` when not held or the token has none.
   *
   * @example Pass the fence to storage
   * ```ts
   * const lock = new DistributedLock({ key: "my-resource" });
   * if (await lock.acquire()) {
   *   const fence = lock.fence; // send with every write; storage rejects older fences
   *   console.log(fence);
   *   await lock.release();
   * }
   * ```
   */
  get fence(): bigint | undefined {
    return this.#holder.fence;
  }

  /**
   * Aborted with `LeaseLostError` when the current lease is lost. A fresh signal is used for
   * every acquisition; release and close do not abort it.
   *
   * @returns The signal of the current (or last) lease.
   *
   * @example Stop work when the lease is lost
   * ```ts
   * const lock = new DistributedLock({ key: "my-resource" });
   * if (await lock.acquire()) {
   *   const res = await fetch("https://example.com/work", { signal: lock.signal });
   *   console.log(res.status);
   *   await lock.release();
   * }
   * ```
   */
  get signal(): AbortSignal {
    return this.#holder.signal;
  }

  /**
   * Acquires the lock, waiting up to `acquireTimeoutS` seconds.
   *
   * @param options `signal`: aborting closes this object's connection (the server drops the
   * queue entry) and rejects with `signal.reason`.
   * @returns `true` once held, `false` on timeout.
   * @throws {LockError} When closed, already held or enqueued, or on a server error
   * (`MaxLocksError`, `MaxWaitersError`, `AuthError`, `NotLeaderError` after 3 hops, ...).
   * @throws {ConnectionError} When the server cannot be reached.
   *
   * @example Acquire with a deadline of our own
   * ```ts
   * const lock = new DistributedLock({ key: "my-resource" });
   * const ok = await lock.acquire({ signal: AbortSignal.timeout(5_000) });
   * ```
   */
  acquire(options: SignalOption = {}): Promise<boolean> {
    return this.#holder.acquire(options.signal);
  }

  /**
   * Releases the lock (`r`) and closes the connection. Only queued: just closes the
   * connection. Not held: does nothing.
   *
   * @param options `signal` to stop waiting for the answer.
   * @returns Resolves once released.
   * @throws {LeaseLostError} Once, when the lease had been lost before this call.
   * @throws {LockError} When the server refuses the release (the lease expired).
   * @throws {ConnectionError} When the connection fails.
   *
   * @example Release the lock
   * ```ts
   * const lock = new DistributedLock({ key: "my-resource" });
   * if (await lock.acquire()) await lock.release();
   * ```
   */
  release(options: SignalOption = {}): Promise<void> {
    return this.#holder.release(options.signal);
  }

  /**
   * Two-phase step 1: joins the key's FIFO queue (`e`) without blocking. With `"acquired"`
   * the lock is held at once and renewal runs.
   *
   * @param options `signal`.
   * @returns `"acquired"` or `"queued"`.
   * @throws {LockError} When closed, already held or enqueued, or on a server error.
   * @throws {ConnectionError} When the server cannot be reached.
   *
   * @example Notify between queueing and blocking
   * ```ts
   * const lock = new DistributedLock({ key: "my-resource" });
   * const status = await lock.enqueue();
   * console.log(`lock ${status}`);
   * if (await lock.wait(10)) await lock.release();
   * ```
   */
  enqueue(options: SignalOption = {}): Promise<"acquired" | "queued"> {
    return this.#holder.enqueue(options.signal);
  }

  /**
   * Two-phase step 2: blocks until the queued lock is granted (`w`). After `"acquired"` it
   * returns `true` at once without a round trip. After a timeout the queue place is gone and
   * the connection is closed; enqueue again to retry.
   *
   * @param timeoutS Seconds to wait (fractions round up). @default {acquireTimeoutS}
   * @param options `signal`: aborting closes the connection and rejects with `signal.reason`.
   * @returns `true` once held, `false` on timeout.
   * @throws {NotEnqueuedError} Without a preceding `enqueue()`.
   * @throws {LockError} When closed, or on a server error (`LeaseExpiredError`, ...).
   * @throws {ConnectionError} When the connection was lost while queued.
   *
   * @example Two-phase with an explicit wait timeout
   * ```ts
   * const lock = new DistributedLock({ key: "my-resource" });
   * if ((await lock.enqueue()) === "queued") console.log("waiting");
   * const granted = await lock.wait(30);
   * ```
   */
  wait(timeoutS?: number, options: SignalOption = {}): Promise<boolean> {
    const t = wholeSeconds(timeoutS ?? this.#holder.acquireTimeoutS, "timeoutS", 0);
    return this.#holder.wait(t, options.signal);
  }

  /**
   * Acquires, runs `fn`, and releases even when `fn` throws.
   *
   * @param fn The critical section; gets this lock and its {@linkcode DistributedLock.signal}.
   * @param options `signal` to abort the acquire.
   * @returns What `fn` returned.
   * @throws {AcquireTimeoutError} When the lock was not acquired within `acquireTimeoutS`.
   * @throws {LeaseLostError} When `fn` returned but the lease was lost meanwhile.
   * @throws {unknown} What `fn` threw (after releasing).
   *
   * @example Guard a fetch with the lease signal
   * ```ts
   * const lock = new DistributedLock({ key: "my-resource" });
   * const n = await lock.withLock(async (_lock, signal) => {
   *   const res = await fetch("https://example.com/work", { signal });
   *   return res.status;
   * });
   * ```
   */
  withLock<T>(
    fn: (lock: DistributedLock, signal: AbortSignal) => T | Promise<T>,
    options: SignalOption = {},
  ): Promise<T> {
    return runWithLease(
      this.#holder,
      `lock "${this.key}"`,
      () => fn(this, this.signal),
      options.signal,
    );
  }

  /**
   * Stops renewing and gives the lock up without waiting: a lock held on a connection of
   * its own is freed by closing that connection (the server auto-releases it when configured
   * to); one held on the client's shared connection is released in the background. Later
   * `acquire()`/`enqueue()` calls throw. Idempotent.
   *
   * @returns Resolves once done.
   *
   * @example Close without releasing
   * ```ts
   * const lock = new DistributedLock({ key: "my-resource" });
   * await lock.close();
   * ```
   */
  close(): Promise<void> {
    return this.#holder.close();
  }

  /**
   * Releases and closes: `await using` support. A lease that was lost inside the block is
   * reported here: the disposer throws {@linkcode LeaseLostError} (as a `SuppressedError`
   * around the block's own error, if it threw), unless `release()` already reported it.
   *
   * @returns Resolves once done.
   * @throws {LeaseLostError} When the lease was lost while held.
   * @throws {LockError} When the server refused the release for another reason.
   *
   * @example Scope-bound release
   * ```ts
   * {
   *   await using held = new DistributedLock({ key: "k" });
   *   await held.acquire();
   * } // released and closed here
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#holder.dispose();
  }
}

/**
 * Creates a {@linkcode DistributedLock} and acquires it, throwing on timeout: the one-call
 * form for `await using`.
 *
 * @param key The key.
 * @param options Lock options (without `key`) plus `signal`.
 * @returns The held lock.
 * @throws {AcquireTimeoutError} When not acquired within `acquireTimeoutS`.
 * @throws {LockError} On server or connection errors.
 * @throws {TypeError} On a malformed key or option.
 * @throws {RangeError} On an out-of-range option.
 *
 * @example Hold a lock for a scope
 * ```ts
 * import { acquireLock } from "@dflock/dflock";
 *
 * {
 *   await using lock = await acquireLock("jobs/nightly", { servers: ["127.0.0.1:6388"] });
 *   console.log(lock.token);
 * } // released here
 * ```
 */
export async function acquireLock(
  key: string,
  options: Omit<LockOptions, "key"> & SignalOption = {},
): Promise<DistributedLock> {
  const { signal, ...rest } = options;
  const lock = new DistributedLock({ ...rest, key });
  try {
    if (!await lock.acquire({ signal })) {
      throw acquireTimedOut(`lock "${key}"`, options.acquireTimeoutS);
    }
  } catch (err) {
    await lock.close();
    throw err;
  }
  return lock;
}
