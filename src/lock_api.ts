/**
 * The `LockApi`: a minimal, backend-neutral locking interface (`tryAcquire(key, ttlS)` without
 * waiting, locks that expire by themselves), its dflockd implementation
 * {@linkcode DflockdLockApi}, and the helpers {@linkcode tryWithLock} and
 * {@linkcode acquireWithRetry}. Test doubles live in `./testing.ts`.
 *
 * @example Guard work with a lock on dflockd
 * ```ts
 * import { DflockdLockApi, tryWithLock } from "@dflock/dflock";
 *
 * const counters = new Map<string, number>(); // stands for a shared store
 * await using lockApi = new DflockdLockApi({ servers: ["127.0.0.1:6388"] });
 * const done = await tryWithLock(lockApi, "counter:visits", 10, () => {
 *   counters.set("visits", (counters.get("visits") ?? 0) + 1);
 *   return true;
 * });
 * ```
 *
 * @module
 */

export type { Lock, LockApi } from "./lock_api/types.ts";
export { DflockdLockApi } from "./lock_api/dflockd_lock_api.ts";
export type { DflockdLockApiOptions } from "./lock_api/dflockd_lock_api.ts";
export { tryWithLock } from "./lock_api/try_with_lock.ts";
export { acquireWithRetry } from "./lock_api/acquire_with_retry.ts";
export type { AcquireWithRetryOptions } from "./lock_api/acquire_with_retry.ts";
