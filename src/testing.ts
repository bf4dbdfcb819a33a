/**
 * Test doubles of the {@linkcode LockApi}: {@linkcode InMemoryLock} (real locking semantics
 * in one process, with an injectable clock) and {@linkcode NoOpLock} (always grants or always
 * refuses).
 *
 * @example Unit-test code that takes locks
 * ```ts
 * import type { LockApi } from "@dflock/dflock";
 * import { InMemoryLock, NoOpLock } from "@dflock/dflock/testing";
 *
 * // The code under test: takes "order:<id>" for 30 s while it works.
 * async function processOrder(lockApi: LockApi, id: string): Promise<boolean> {
 *   await using lock = await lockApi.tryAcquire(`order:${id}`, 30);
 *   return lock !== undefined;
 * }
 *
 * let now = 0;
 * const lockApi = new InMemoryLock(() => now);
 * await processOrder(lockApi, "42"); // takes and releases "order:42"
 * await processOrder(new NoOpLock(true), "42"); // sees the order as busy
 * ```
 *
 * @module
 */

export { InMemoryLock } from "./testing/in_memory_lock.ts";
export { NoOpLock } from "./testing/no_op_lock.ts";
export type { Lock, LockApi } from "./lock_api/types.ts";
