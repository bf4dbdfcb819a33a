/**
 * {@linkcode NoOpLock}: a {@linkcode LockApi} that always grants or always refuses.
 *
 * @module
 */

import type { Lock, LockApi } from "../lock_api/types.ts";

/**
 * A {@linkcode LockApi} that does no locking: with `locked = false` every `tryAcquire` grants
 * a lock (even for a key already "held"), with `locked = true` every `tryAcquire` resolves
 * `undefined`. Releasing does nothing.
 *
 * @example Simulate both outcomes
 * ```ts
 * import { NoOpLock } from "@dflock/dflock/testing";
 *
 * const alwaysUnlocked = new NoOpLock(false);
 * await alwaysUnlocked.tryAcquire("key", 30); // a lock
 * await alwaysUnlocked.tryAcquire("key", 30); // another lock
 *
 * const alwaysLocked = new NoOpLock(true);
 * await alwaysLocked.tryAcquire("key", 30); // undefined
 * ```
 */
export class NoOpLock implements LockApi {
  /** `true`: every key looks held; `false`: every acquire succeeds. */
  readonly locked: boolean;

  /**
   * Creates the stub.
   *
   * @param locked `true` to refuse every acquire, `false` to grant every acquire.
   * @throws {TypeError} When `locked` is not a boolean.
   *
   * @example Grant everything
   * ```ts
   * const lockApi = new NoOpLock(false);
   * ```
   */
  constructor(locked: boolean) {
    if (typeof locked !== "boolean") throw new TypeError("locked must be a boolean");
    this.locked = locked;
  }

  /**
   * Grants (when not `locked`) or refuses (when `locked`) without looking at the arguments.
   *
   * @param _key The key (ignored).
   * @param _timeoutSeconds The TTL (ignored).
   * @returns A lock whose release does nothing, or `undefined` when `locked`.
   */
  tryAcquire(_key: string, _timeoutSeconds: number): Promise<Lock | undefined> {
    if (this.locked) return Promise.resolve(undefined);
    const release = (): Promise<void> => Promise.resolve();
    return Promise.resolve({ type: "lock", release, [Symbol.asyncDispose]: release });
  }
}
