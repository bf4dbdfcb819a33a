/**
 * The high-level distributed semaphore: up to `limit` concurrent holders per key, with the
 * same lifecycle as the distributed lock (a client's pooled connections, blocking or two-phase
 * acquisition, renewal, loss detection, `await using`).
 *
 * @module
 */

import * as low from "./client/low_level.ts";
import { acquireTimedOut, LeaseHolder, runWithLease } from "./client/_lease_holder.ts";
import { coreForLock } from "./client/core.ts";
import type { LeaseOps, SignalOption } from "./client/_lease_holder.ts";
import { resolveLeaseSettings, validateLimit, wholeSeconds } from "./client/options.ts";
import type { ResolvedLeaseSettings, SemaphoreOptions } from "./client/options.ts";

function semaphoreOps(o: ResolvedLeaseSettings, limit: number): LeaseOps {
  const lease = o.leaseTtlS === undefined ? {} : { leaseTtlS: o.leaseTtlS };
  return {
    noun: "semaphore",
    acquire: (conn, t, signal) => low.semAcquire(conn, o.key, t, limit, { ...lease, signal }),
    enqueue: (conn, signal) => low.semEnqueue(conn, o.key, limit, { ...lease, signal }),
    wait: (conn, t, signal) => low.semWait(conn, o.key, t, { signal }),
    renew: (conn, token) => low.semRenew(conn, o.key, token, o.leaseTtlS),
    release: (conn, token, signal) => low.semRelease(conn, o.key, token, { signal }),
  };
}

/**
 * One slot of a distributed semaphore: at most `limit` holders of the key at a time, granted
 * in FIFO order. Every holder must use the same `limit` (else `LimitMismatchError`).
 *
 * The object connects lazily on {@linkcode DistributedSemaphore.acquire} or
 * {@linkcode DistributedSemaphore.enqueue} (authenticating first when `authToken` is set),
 * renews the lease in the background every `lease * renewRatio` seconds, pings when the
 * connection would otherwise stay silent longer than `keepaliveIntervalMs`, and closes the
 * connection on release. Losing the lease aborts {@linkcode DistributedSemaphore.signal} with
 * `LeaseLostError` and calls `onLockLost` once.
 *
 * @example Run a critical section
 * ```ts
 * import { DistributedSemaphore } from "@dflock/dflock";
 *
 * const sem = new DistributedSemaphore({ key: "worker-pool", limit: 3 });
 * await sem.withLock(async (_sem, signal) => {
 *   // at most 3 of these run at once; `signal` aborts if the lease is lost
 * });
 * ```
 *
 * @example Manual acquire and release
 * ```ts
 * import { DistributedSemaphore } from "@dflock/dflock";
 *
 * const sem = new DistributedSemaphore({ key: "worker-pool", limit: 3, leaseTtlS: 20 });
 * if (await sem.acquire()) {
 *   try {
 *     // work
 *   } finally {
 *     await sem.release();
 *   }
 * }
 * ```
 */
export class DistributedSemaphore implements AsyncDisposable {
  readonly #holder: LeaseHolder;
  readonly #limit: number;

  /**
   * Creates the semaphore object; nothing is sent until `acquire()` or `enqueue()`.
   *
   * @param options Key, limit, timeouts, servers, TLS, auth and callbacks.
   * @throws {TypeError} On a missing or malformed key, limit or server entry.
   * @throws {RangeError} On an out-of-range limit, timeout, lease, ratio or port.
   *
   * @example Five workers at most
   * ```ts
   * const sem = new DistributedSemaphore({ key: "worker-pool", limit: 5, leaseTtlS: 60 });
   * ```
   */
  constructor(options: SemaphoreOptions) {
    const core = coreForLock(options);
    const settings = resolveLeaseSettings(options.key, options);
    this.#limit = validateLimit(options.limit);
    this.#holder = new LeaseHolder(core, settings, semaphoreOps(settings, this.#limit), {
      renew: true,
    });
  }

  /**
   * The semaphore's limit (largest number of concurrent holders).
   *
   * @returns The limit given to the constructor.
   *
   * @example Read the limit
   * ```ts
   * const sem = new DistributedSemaphore({ key: "worker-pool", limit: 3 });
   * console.log(sem.limit); // 3
   * ```
   */
  get limit(): number {
    return this.#limit;
  }

  /**
   * The key.
   *
   * @returns The key given to the constructor.
   *
   * @example Read the key
   * ```ts
   * const sem = new DistributedSemaphore({ key: "worker-pool", limit: 3 });
   * console.log(sem.key);
   * ```
   */
  get key(): string {
    return this.#holder.key;
  }

  /**
   * The token while a slot is held, else `undefined`.
   *
   * @returns The server-issued token, or `undefined` when not held.
   *
   * @example Log the token once held
   * ```ts
   * const sem = new DistributedSemaphore({ key: "worker-pool", limit: 3 });
   * if (await sem.acquire()) console.log(sem.token);
   * await sem.release();
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
   * const sem = new DistributedSemaphore({ key: "worker-pool", limit: 3 });
   * if (await sem.acquire()) console.log(`lease: ${sem.lease} s`);
   * await sem.release();
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
   * const sem = new DistributedSemaphore({ key: "worker-pool", limit: 3 });
   * if (await sem.acquire()) {
   *   const fence = sem.fence; // send with every write; storage rejects older fences
   *   console.log(fence);
   *   await sem.release();
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
   * const sem = new DistributedSemaphore({ key: "worker-pool", limit: 3 });
   * if (await sem.acquire()) {
   *   const res = await fetch("https://example.com/work", { signal: sem.signal });
   *   console.log(res.status);
   *   await sem.release();
   * }
   * ```
   */
  get signal(): AbortSignal {
    return this.#holder.signal;
  }

  /**
   * Acquires a slot, waiting up to `acquireTimeoutS` seconds.
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
   * const sem = new DistributedSemaphore({ key: "worker-pool", limit: 3 });
   * const ok = await sem.acquire({ signal: AbortSignal.timeout(5_000) });
   * ```
   */
  acquire(options: SignalOption = {}): Promise<boolean> {
    return this.#holder.acquire(options.signal);
  }

  /**
   * Releases the slot (`sr`) and closes the connection. Only queued: just closes the
   * connection. Not held: does nothing.
   *
   * @param options `signal` to stop waiting for the answer.
   * @returns Resolves once released.
   * @throws {LeaseLostError} Once, when the lease had been lost before this call.
   * @throws {LockError} When the server refuses the release (the lease expired).
   * @throws {ConnectionError} When the connection fails.
   *
   * @example Release the slot
   * ```ts
   * const sem = new DistributedSemaphore({ key: "worker-pool", limit: 3 });
   * if (await sem.acquire()) await sem.release();
   * ```
   */
  release(options: SignalOption = {}): Promise<void> {
    return this.#holder.release(options.signal);
  }

  /**
   * Two-phase step 1: joins the key's FIFO queue (`se`) without blocking. With `"acquired"`
   * a slot is held at once and renewal runs.
   *
   * @param options `signal`.
   * @returns `"acquired"` or `"queued"`.
   * @throws {LockError} When closed, already held or enqueued, or on a server error.
   * @throws {ConnectionError} When the server cannot be reached.
   *
   * @example Notify between queueing and blocking
   * ```ts
   * const sem = new DistributedSemaphore({ key: "worker-pool", limit: 3 });
   * const status = await sem.enqueue();
   * console.log(`semaphore ${status}`);
   * if (await sem.wait(10)) await sem.release();
   * ```
   */
  enqueue(options: SignalOption = {}): Promise<"acquired" | "queued"> {
    return this.#holder.enqueue(options.signal);
  }

  /**
   * Two-phase step 2: blocks until the queued slot is granted (`sw`). After `"acquired"` it
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
   * const sem = new DistributedSemaphore({ key: "worker-pool", limit: 3 });
   * if ((await sem.enqueue()) === "queued") console.log("waiting");
   * const granted = await sem.wait(30);
   * ```
   */
  wait(timeoutS?: number, options: SignalOption = {}): Promise<boolean> {
    const t = wholeSeconds(timeoutS ?? this.#holder.acquireTimeoutS, "timeoutS", 0);
    return this.#holder.wait(t, options.signal);
  }

  /**
   * Acquires, runs `fn`, and releases even when `fn` throws.
   *
   * @param fn The guarded work; gets this semaphore and its
   * {@linkcode DistributedSemaphore.signal}.
   * @param options `signal` to abort the acquire.
   * @returns What `fn` returned.
   * @throws {AcquireTimeoutError} When no slot was granted within `acquireTimeoutS`.
   * @throws {LeaseLostError} When `fn` returned but the lease was lost meanwhile.
   * @throws {unknown} What `fn` threw (after releasing).
   *
   * @example Guard a fetch with the lease signal
   * ```ts
   * const sem = new DistributedSemaphore({ key: "worker-pool", limit: 3 });
   * const n = await sem.withLock(async (_sem, signal) => {
   *   const res = await fetch("https://example.com/work", { signal });
   *   return res.status;
   * });
   * ```
   */
  withLock<T>(
    fn: (semaphore: DistributedSemaphore, signal: AbortSignal) => T | Promise<T>,
    options: SignalOption = {},
  ): Promise<T> {
    return runWithLease(
      this.#holder,
      `semaphore "${this.key}"`,
      () => fn(this, this.signal),
      options.signal,
    );
  }

  /**
   * Stops renewing and gives the slot up without waiting: a slot held on a connection of
   * its own is freed by closing that connection (the server auto-releases it when configured
   * to); one held on the client's shared connection is released in the background. Later
   * `acquire()`/`enqueue()` calls throw. Idempotent.
   *
   * @returns Resolves once done.
   *
   * @example Close without releasing
   * ```ts
   * const sem = new DistributedSemaphore({ key: "worker-pool", limit: 3 });
   * await sem.close();
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
   *   await using held = new DistributedSemaphore({ key: "k", limit: 2 });
   *   await held.acquire();
   * } // released and closed here
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#holder.dispose();
  }
}

/**
 * Creates a {@linkcode DistributedSemaphore} and acquires a slot, throwing on timeout: the
 * one-call form for `await using`.
 *
 * @param key The key.
 * @param limit Largest number of concurrent holders (integer from 1 to 1048576).
 * @param options Semaphore options (without `key` and `limit`) plus `signal`.
 * @returns The held semaphore slot.
 * @throws {AcquireTimeoutError} When no slot was granted within `acquireTimeoutS`.
 * @throws {LockError} On server or connection errors (`LimitMismatchError`, ...).
 * @throws {TypeError} On a malformed key or option.
 * @throws {RangeError} On an out-of-range limit or option.
 *
 * @example Hold a slot for a scope
 * ```ts
 * import { acquireSemaphore } from "@dflock/dflock";
 *
 * {
 *   await using slot = await acquireSemaphore("worker-pool", 3, { leaseTtlS: 30 });
 *   console.log(slot.token);
 * } // released here
 * ```
 */
export async function acquireSemaphore(
  key: string,
  limit: number,
  options: Omit<SemaphoreOptions, "key" | "limit"> & SignalOption = {},
): Promise<DistributedSemaphore> {
  const { signal, ...rest } = options;
  const sem = new DistributedSemaphore({ ...rest, key, limit });
  try {
    if (!await sem.acquire({ signal })) {
      throw acquireTimedOut(`semaphore "${key}"`, options.acquireTimeoutS);
    }
  } catch (err) {
    await sem.close();
    throw err;
  }
  return sem;
}
