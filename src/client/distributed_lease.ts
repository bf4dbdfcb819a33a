/**
 * {@linkcode DistributedLease}: what a {@linkcode DistributedLock} and a
 * {@linkcode DistributedSemaphore} have in common (the lease state, blocking and two-phase
 * acquisition, release, `withLock`, close and `await using`), over the one lease engine.
 *
 * @module
 */

import { acquireTimedOut, LeaseHolder, leaseOps, runWithLease } from "./_lease_holder.ts";
import type { CallOptions } from "./connection.ts";
import { coreForLock } from "./core.ts";
import { resolveLeaseSettings, wholeSeconds } from "./options.ts";
import type { LockOptions } from "./options.ts";

export type { CallOptions } from "./connection.ts";

/**
 * The common base of {@linkcode DistributedLock} and {@linkcode DistributedSemaphore}: one
 * lease on one key, taken on a client's pooled connections and renewed in the background
 * until release. It is not constructed directly; the two subclasses differ only in the wire
 * commands they send (`l`/`r`/... or `sl`/`sr`/... with a `limit`).
 *
 * @example Code that takes either kind
 * ```ts
 * import { DistributedLock, type DistributedLease, DistributedSemaphore } from "@dflock/dflock";
 *
 * async function guarded(lease: DistributedLease): Promise<void> {
 *   await lease.withLock(async (_lease, signal) => {
 *     // work; `signal` aborts if the lease is lost
 *   });
 * }
 * await guarded(new DistributedLock({ key: "report" }));
 * await guarded(new DistributedSemaphore({ key: "workers", limit: 3 }));
 * ```
 */
export abstract class DistributedLease implements AsyncDisposable {
  readonly #holder: LeaseHolder;

  /**
   * Binds the lease to its client (the `client` option, or the default client for the
   * connection options) and checks the options; nothing is sent yet.
   *
   * @param limit The semaphore limit, already validated; `undefined` for a lock.
   */
  protected constructor(options: LockOptions, limit: number | undefined) {
    const core = coreForLock(options);
    const settings = resolveLeaseSettings(options.key, options);
    this.#holder = new LeaseHolder(core, settings, leaseOps(settings, limit), { renew: true });
  }

  /** The key. */
  get key(): string {
    return this.#holder.key;
  }

  /** The token while the lease is held, else `undefined`. */
  get token(): string | undefined {
    return this.#holder.token;
  }

  /** The lease in seconds the server last reported while held, else `undefined`. */
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
   * import { DistributedLock } from "@dflock/dflock";
   *
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
   * import { DistributedLock } from "@dflock/dflock";
   *
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
   * Acquires the lock (or a semaphore slot), waiting up to `acquireTimeoutS` seconds.
   *
   * @param options `signal`: aborting closes this object's connection (the server drops the
   * queue entry) and rejects with `signal.reason`.
   * @returns `true` once held, `false` on timeout.
   * @throws {DflockError} When closed, already held or enqueued, or on a server error
   * (`MaxLocksError`, `MaxWaitersError`, `LimitMismatchError`, `AuthError`, `NotLeaderError`
   * after 3 hops, ...).
   * @throws {ConnectionError} When the server cannot be reached.
   *
   * @example Acquire with a deadline of our own
   * ```ts
   * import { DistributedLock } from "@dflock/dflock";
   *
   * const lock = new DistributedLock({ key: "my-resource" });
   * const ok = await lock.acquire({ signal: AbortSignal.timeout(5_000) });
   * ```
   */
  acquire(options: CallOptions = {}): Promise<boolean> {
    return this.#holder.acquire(options.signal);
  }

  /**
   * Releases the lease (`r`, or `sr` for a semaphore) and closes the connection. Only queued:
   * just closes the connection. Not held: does nothing.
   *
   * @param options `signal` to stop waiting for the answer.
   * @throws {LeaseLostError} Once, when the lease had been lost before this call.
   * @throws {DflockError} When the server refuses the release (the lease expired).
   * @throws {ConnectionError} When the connection fails.
   */
  release(options: CallOptions = {}): Promise<void> {
    return this.#holder.release(options.signal);
  }

  /**
   * Two-phase step 1: joins the key's FIFO queue (`e`, or `se` for a semaphore) without
   * blocking. With `"acquired"` the lease is held at once and renewal runs.
   *
   * @returns `"acquired"` or `"queued"`.
   * @throws {DflockError} When closed, already held or enqueued, or on a server error.
   * @throws {ConnectionError} When the server cannot be reached.
   *
   * @example Notify between queueing and blocking
   * ```ts
   * import { DistributedLock } from "@dflock/dflock";
   *
   * const lock = new DistributedLock({ key: "my-resource" });
   * const status = await lock.enqueue();
   * console.log(`lock ${status}`);
   * if (await lock.wait(10)) await lock.release();
   * ```
   */
  enqueue(options: CallOptions = {}): Promise<"acquired" | "queued"> {
    return this.#holder.enqueue(options.signal);
  }

  /**
   * Two-phase step 2: blocks until the queued lease is granted (`w`, or `sw` for a
   * semaphore). After `"acquired"` it returns `true` at once without a round trip. After a
   * timeout the queue place is gone and the connection is closed; enqueue again to retry.
   *
   * @param timeoutS Seconds to wait (fractions round up). @default {acquireTimeoutS}
   * @param options `signal`: aborting closes the connection and rejects with `signal.reason`.
   * @returns `true` once held, `false` on timeout.
   * @throws {NotEnqueuedError} Without a preceding `enqueue()`.
   * @throws {DflockError} When closed, or on a server error (`LeaseExpiredError`, ...).
   * @throws {ConnectionError} When the connection was lost while queued.
   *
   * @example Two-phase with an explicit wait timeout
   * ```ts
   * import { DistributedSemaphore } from "@dflock/dflock";
   *
   * const sem = new DistributedSemaphore({ key: "worker-pool", limit: 3 });
   * if ((await sem.enqueue()) === "queued") console.log("waiting");
   * const granted = await sem.wait(30);
   * ```
   */
  wait(timeoutS?: number, options: CallOptions = {}): Promise<boolean> {
    const t = wholeSeconds(timeoutS ?? this.#holder.acquireTimeoutS, "timeoutS", 0);
    return this.#holder.wait(t, options.signal);
  }

  /**
   * Acquires, runs `fn`, and releases even when `fn` throws.
   *
   * @param fn The guarded work; gets this object and its {@linkcode DistributedLease.signal}.
   * @param options `signal` to abort the acquire.
   * @returns What `fn` returned.
   * @throws {AcquireTimeoutError} When the lease was not granted within `acquireTimeoutS`.
   * @throws {LeaseLostError} When `fn` returned but the lease was lost meanwhile.
   * @throws {unknown} What `fn` threw (after releasing).
   *
   * @example Guard a fetch with the lease signal
   * ```ts
   * import { DistributedLock } from "@dflock/dflock";
   *
   * const lock = new DistributedLock({ key: "my-resource" });
   * const n = await lock.withLock(async (_lock, signal) => {
   *   const res = await fetch("https://example.com/work", { signal });
   *   return res.status;
   * });
   * ```
   */
  withLock<T>(
    fn: (lease: this, signal: AbortSignal) => T | Promise<T>,
    options: CallOptions = {},
  ): Promise<T> {
    return runWithLease(this.#holder, () => fn(this, this.signal), options.signal);
  }

  /**
   * Stops renewing and gives the lease up without waiting: a lease held on a connection of
   * its own is freed by closing that connection (the server auto-releases it when configured
   * to); one held on the client's shared connection is released in the background. Later
   * `acquire()`/`enqueue()` calls throw. Idempotent.
   */
  close(): Promise<void> {
    return this.#holder.close();
  }

  /**
   * Releases and closes: `await using` support. A lease that was lost inside the block is
   * reported here: the disposer throws `LeaseLostError` (as a `SuppressedError` around the
   * block's own error, if it threw), unless `release()` already reported it.
   *
   * @throws {LeaseLostError} When the lease was lost while held.
   * @throws {DflockError} When the server refused the release for another reason.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#holder.dispose();
  }
}

/**
 * Acquires `lease` for a one-call helper (`acquireLock`, `client.acquireSemaphore`, ...):
 * throws on timeout and closes the lease on any failure. Internal.
 *
 * @param lease The new, unacquired lock or semaphore.
 * @param what `lock "k"` or `semaphore "k"`, for the timeout message.
 * @param acquireTimeoutS The acquire timeout as given (`undefined`: the default).
 * @param signal Aborts a blocked acquire.
 * @returns `lease`, held.
 * @throws {AcquireTimeoutError} When not acquired within the timeout.
 */
export async function acquireOrThrow<L extends DistributedLease>(
  lease: L,
  what: string,
  acquireTimeoutS: number | undefined,
  signal: AbortSignal | undefined,
): Promise<L> {
  try {
    if (!await lease.acquire({ signal })) throw acquireTimedOut(what, acquireTimeoutS);
  } catch (err) {
    await lease.close();
    throw err;
  }
  return lease;
}
