/**
 * The `LockApi` and `Lock` interfaces: a minimal, backend-neutral contract for taking a lock
 * without waiting, with a time-to-live after which it expires by itself.
 *
 * @module
 */

/**
 * A held lock. Release it with {@linkcode Lock.release} (in a `finally` block) or let
 * `await using` release it at the end of the scope. Releasing twice, or after the lock
 * expired, is harmless.
 *
 * @example Release in a finally block
 * ```ts
 * import { DflockdLockApi } from "@dflock/dflock";
 *
 * await using lockApi = new DflockdLockApi();
 * const lock = await lockApi.tryAcquire("order:42", 30);
 * if (lock) {
 *   try {
 *     console.log("processing order 42");
 *   } finally {
 *     await lock.release();
 *   }
 * }
 * ```
 *
 * @example Release at the end of a scope
 * ```ts
 * import { DflockdLockApi } from "@dflock/dflock";
 *
 * await using lockApi = new DflockdLockApi();
 * {
 *   await using lock = await lockApi.tryAcquire("order:42", 30);
 *   if (lock) console.log("processing order 42");
 * } // released here (`await using` skips `undefined`)
 * ```
 */
export interface Lock extends AsyncDisposable {
  /** Always `"lock"`. */
  readonly type: "lock";
  /**
   * Releases the lock, making the key available to others. Resolves quietly when the lock
   * was already released or has expired.
   */
  release(): Promise<void>;
}

/**
 * Something that hands out locks on string keys without waiting.
 *
 * @example Guard a job with any backend
 * ```ts
 * import type { LockApi } from "@dflock/dflock";
 *
 * async function runOnce(lockApi: LockApi, job: string): Promise<boolean> {
 *   const lock = await lockApi.tryAcquire(`job:${job}`, 60);
 *   if (!lock) return false; // someone else runs it
 *   try {
 *     console.log(`running ${job}`);
 *     return true;
 *   } finally {
 *     await lock.release();
 *   }
 * }
 * ```
 */
export interface LockApi {
  /**
   * Takes the lock on `key` if it is free, without waiting.
   *
   * @param key The resource's identifier, e.g. `order:12345`.
   * @param timeoutSeconds How long the lock is held before it expires by itself.
   * @returns The lock, or `undefined` when the key is held by someone else.
   */
  tryAcquire(key: string, timeoutSeconds: number): Promise<Lock | undefined>;
}
