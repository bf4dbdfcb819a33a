/**
 * The lock guard pattern: take a lock, run a function, release.
 *
 * @module
 */

import type { LockApi } from "./types.ts";

/**
 * Takes the lock on `key` without waiting, runs `fn` while holding it, and releases it
 * afterwards, also when `fn` throws.
 *
 * @param lockApi Where to take the lock.
 * @param ttlS Seconds until the lock expires by itself.
 * @returns What `fn` returned, or `undefined` when the lock was not acquired (`fn` did not run).
 * @throws {unknown} What `fn` threw (after releasing), what `tryAcquire` threw, or what
 * `release` threw when `fn` succeeded.
 *
 * @example Guard a resource
 * ```ts
 * import { DflockdLockApi, tryWithLock } from "@dflock/dflock";
 *
 * await using lockApi = new DflockdLockApi({ servers: ["127.0.0.1:6388"] });
 * const result = await tryWithLock(lockApi, "resource:123", 30, async () => {
 *   const res = await fetch("https://example.com/resource/123");
 *   return res.status;
 * });
 * if (result === undefined) console.log("busy, try later");
 * ```
 */
export async function tryWithLock<T>(
  lockApi: LockApi,
  key: string,
  ttlS: number,
  fn: () => T | Promise<T>,
): Promise<T | undefined> {
  if (typeof fn !== "function") throw new TypeError("fn must be a function");
  const lock = await lockApi.tryAcquire(key, ttlS);
  if (lock === undefined) return undefined;
  let result: T;
  try {
    result = await fn();
  } catch (err) {
    try {
      await lock.release();
    } catch {
      // The error of `fn` matters more than a failed release.
    }
    throw err;
  }
  await lock.release();
  return result;
}
