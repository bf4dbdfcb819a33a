/**
 * The high-level distributed semaphore: up to `limit` concurrent holders per key, with the
 * same lifecycle as the distributed lock (a client's pooled connections, blocking or two-phase
 * acquisition, renewal, loss detection, `await using`).
 *
 * @module
 */

import { acquireOrThrow, DistributedLease } from "./client/distributed_lease.ts";
import type { CallOptions } from "./client/distributed_lease.ts";
import { validateLimit } from "./client/low_level.ts";
import type { SemaphoreOptions } from "./client/options.ts";

/**
 * One slot of a distributed semaphore: at most `limit` holders of the key at a time, granted
 * in FIFO order. Every holder must use the same `limit` (else `LimitMismatchError`).
 *
 * The object connects lazily on {@linkcode DistributedLease.acquire} or
 * {@linkcode DistributedLease.enqueue} (authenticating first when `authToken` is set),
 * renews the lease in the background every `lease * renewRatio` seconds, pings when the
 * connection would otherwise stay silent longer than `keepaliveIntervalMs`, and closes the
 * connection on release. Losing the lease aborts {@linkcode DistributedLease.signal} with
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
export class DistributedSemaphore extends DistributedLease {
  readonly #limit: number;

  /**
   * Creates the semaphore object; nothing is sent until `acquire()` or `enqueue()`.
   *
   * @throws {TypeError} On a missing or malformed key, limit or server entry.
   * @throws {RangeError} On an out-of-range limit, timeout, lease, ratio or port.
   *
   * @example Five workers at most
   * ```ts
   * const sem = new DistributedSemaphore({ key: "worker-pool", limit: 5, leaseTtlS: 60 });
   * ```
   */
  constructor(options: SemaphoreOptions) {
    const limit = validateLimit(options.limit);
    super(options, limit);
    this.#limit = limit;
  }

  /** The semaphore's limit (largest number of concurrent holders). */
  get limit(): number {
    return this.#limit;
  }
}

/**
 * Creates a {@linkcode DistributedSemaphore} and acquires a slot, throwing on timeout: the
 * one-call form for `await using`.
 *
 * @param limit Largest number of concurrent holders (integer from 1 to 1048576).
 * @param options Semaphore options (without `key` and `limit`) plus `signal`.
 * @throws {AcquireTimeoutError} When no slot was granted within `acquireTimeoutS`.
 * @throws {DflockError} On server or connection errors (`LimitMismatchError`, ...).
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
  options: Omit<SemaphoreOptions, "key" | "limit"> & CallOptions = {},
): Promise<DistributedSemaphore> {
  const { signal, ...rest } = options;
  const sem = new DistributedSemaphore({ ...rest, key, limit });
  return await acquireOrThrow(sem, `semaphore "${key}"`, options.acquireTimeoutS, signal);
}
