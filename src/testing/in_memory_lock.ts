/**
 * {@linkcode InMemoryLock}: the {@linkcode LockApi} in one process, for tests and
 * single-instance applications.
 *
 * @module
 */

import type { Lock, LockApi } from "../lock_api/types.ts";

interface Entry {
  readonly id: number;
  readonly expiresAt: number;
}

/** Above this many entries, expired ones are swept on the next acquire. */
const SWEEP_THRESHOLD = 1024;

/**
 * A map-based {@linkcode LockApi} in one process. A lock expires `timeoutSeconds` after it was
 * taken, measured with the injectable time provider (milliseconds), so tests can move time
 * forward without real timers. Releasing a lock that expired (and may have been taken by
 * someone else since) does nothing.
 *
 * @example Expire a lock with a fake clock
 * ```ts
 * import { InMemoryLock } from "@dflock/dflock/testing";
 *
 * let now = 0;
 * const lockApi = new InMemoryLock(() => now);
 * const first = await lockApi.tryAcquire("k", 30);
 * console.log(await lockApi.tryAcquire("k", 30)); // undefined: held
 * now += 30_000;
 * const second = await lockApi.tryAcquire("k", 30); // expired, granted again
 * await first?.release(); // no effect on `second`
 * ```
 */
export class InMemoryLock implements LockApi {
  readonly #now: () => number;
  readonly #locks = new Map<string, Entry>();
  #nextId = 1;

  /**
   * Creates an empty lock table.
   *
   * @param timeProvider Returns the current time in milliseconds. @default {Date.now}
   * @throws {TypeError} When `timeProvider` is not a function.
   *
   * @example A fake clock
   * ```ts
   * let now = 1_000;
   * const lockApi = new InMemoryLock(() => now);
   * ```
   */
  constructor(timeProvider: () => number = () => Date.now()) {
    if (typeof timeProvider !== "function") {
      throw new TypeError("timeProvider must be a function");
    }
    this.#now = timeProvider;
  }

  /**
   * Takes the lock on `key` unless a lock on it is held and not expired.
   *
   * @param key The key (any non-empty string).
   * @param timeoutSeconds Seconds until the lock expires (> 0; fractions allowed).
   * @returns The lock, or `undefined` when the key is held.
   * @throws {TypeError} When `key` is not a non-empty string or `timeoutSeconds` not a number.
   * @throws {RangeError} When `timeoutSeconds` is not a positive finite number.
   */
  tryAcquire(key: string, timeoutSeconds: number): Promise<Lock | undefined> {
    if (typeof key !== "string" || key === "") {
      return Promise.reject(new TypeError("key must be a non-empty string"));
    }
    if (typeof timeoutSeconds !== "number") {
      return Promise.reject(
        new TypeError(`timeoutSeconds must be a number (got ${typeof timeoutSeconds})`),
      );
    }
    if (!(timeoutSeconds > 0) || !Number.isFinite(timeoutSeconds)) {
      return Promise.reject(
        new RangeError(`timeoutSeconds must be a positive number (got ${timeoutSeconds})`),
      );
    }
    const now = this.#now();
    if (this.#locks.size >= SWEEP_THRESHOLD) this.#sweep(now);
    const held = this.#locks.get(key);
    if (held !== undefined && held.expiresAt > now) return Promise.resolve(undefined);
    const entry: Entry = { id: this.#nextId++, expiresAt: now + timeoutSeconds * 1000 };
    this.#locks.set(key, entry);
    const release = (): Promise<void> => {
      if (this.#locks.get(key) === entry) this.#locks.delete(key);
      return Promise.resolve();
    };
    const lock: Lock = {
      type: "lock",
      release,
      [Symbol.asyncDispose]: release,
    };
    return Promise.resolve(lock);
  }

  /**
   * Tells whether `key` is held now (taken and not expired).
   *
   * @example Inspect in a test
   * ```ts
   * const lockApi = new InMemoryLock();
   * await lockApi.tryAcquire("k", 10);
   * console.log(lockApi.isLocked("k")); // true
   * ```
   */
  isLocked(key: string): boolean {
    const held = this.#locks.get(key);
    return held !== undefined && held.expiresAt > this.#now();
  }

  #sweep(now: number): void {
    for (const [key, entry] of this.#locks) {
      if (entry.expiresAt <= now) this.#locks.delete(key);
    }
  }
}
