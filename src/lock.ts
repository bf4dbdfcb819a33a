/**
 * The high-level distributed lock on a client's pooled connections: blocking or two-phase
 * acquisition, background lease renewal, loss detection and `await using`. Its methods are
 * those of {@linkcode DistributedLease}, shared with the semaphore.
 *
 * @module
 */

import { acquireOrThrow, DistributedLease } from "./client/distributed_lease.ts";
import type { CallOptions } from "./client/distributed_lease.ts";
import type { LockOptions } from "./client/options.ts";

/**
 * A distributed lock on one key of a dflockd server (chosen among `servers` by sharding).
 *
 * The lock runs on a {@linkcode DflockClient}'s connections: the `client` option, or
 * `client.lock(key)`, or else a default client shared by every lock with the same connection
 * options. {@linkcode DistributedLease.acquire} first asks without waiting on the client's
 * shared pipelined connection; when the key is taken it waits on a pooled connection of its
 * own, which then holds the lock until release. The lease is renewed in the background every
 * `lease * renewRatio` seconds (less up to 10 % jitter). Losing the lease (renewal refused,
 * connection dropped, lease ran out locally) aborts {@linkcode DistributedLease.signal} with
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
export class DistributedLock extends DistributedLease {
  /**
   * Creates the lock object; nothing is sent until `acquire()` or `enqueue()`.
   *
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
    super(options, undefined);
  }
}

/**
 * Creates a {@linkcode DistributedLock} and acquires it, throwing on timeout: the one-call
 * form for `await using`.
 *
 * @param options Lock options (without `key`) plus `signal`.
 * @throws {AcquireTimeoutError} When not acquired within `acquireTimeoutS`.
 * @throws {DflockError} On server or connection errors.
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
  options: Omit<LockOptions, "key"> & CallOptions = {},
): Promise<DistributedLock> {
  const { signal, ...rest } = options;
  const lock = new DistributedLock({ ...rest, key });
  return await acquireOrThrow(lock, `lock "${key}"`, options.acquireTimeoutS, signal);
}
