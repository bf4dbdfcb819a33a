/**
 * Retrying `tryAcquire` with exponential backoff and full jitter.
 *
 * @module
 */

import type { Lock, LockApi } from "./types.ts";
import { pause, randomUnit } from "../client/_timing.ts";

/** Default number of `tryAcquire` calls. */
const DEFAULT_MAX_ATTEMPTS = 3;
/** Default first backoff ceiling, in ms. */
const DEFAULT_BASE_DELAY_MS = 100;
/** Default largest backoff ceiling, in ms. */
const DEFAULT_MAX_DELAY_MS = 10_000;

/**
 * Options of {@linkcode acquireWithRetry}.
 */
export interface AcquireWithRetryOptions {
  /** `tryAcquire` calls in all (at least 1). @default {3} */
  maxAttempts?: number;
  /** Backoff ceiling after the first attempt, in ms; doubled after each attempt. @default {100} */
  baseDelayMs?: number;
  /** Largest backoff ceiling, in ms. @default {10000} */
  maxDelayMs?: number;
  /**
   * `true`: full jitter, each pause is uniformly random between 0 and the ceiling; `false`:
   * pause exactly the ceiling. @default {true}
   */
  jitter?: boolean;
  /** Aborting stops retrying; the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
}

function nonNegative(value: unknown, name: string, fallback: number): number {
  const n = value ?? fallback;
  if (typeof n !== "number") throw new TypeError(`${name} must be a number (got ${typeof n})`);
  if (!(n >= 0) || !Number.isFinite(n)) {
    throw new RangeError(`${name} must be a finite number >= 0 (got ${n})`);
  }
  return n;
}

/**
 * The pause after failed attempt number `attempt` (0-based): the ceiling
 * `min(maxDelayMs, baseDelayMs * 2^attempt)`, or with jitter a uniformly random value from 0
 * up to that ceiling.
 *
 * @param attempt The 0-based number of the attempt that just failed.
 * @param baseDelayMs The first ceiling, in ms.
 * @param maxDelayMs The largest ceiling, in ms.
 * @param random A uniform random number in [0, 1). @default {crypto-based}
 * @returns The pause in ms.
 *
 * @example Ceilings without jitter
 * ```ts
 * backoffDelayMs(0, 100, 1000, false); // 100
 * backoffDelayMs(3, 100, 1000, false); // 800
 * backoffDelayMs(4, 100, 1000, false); // 1000
 * ```
 */
export function backoffDelayMs(
  attempt: number,
  baseDelayMs: number,
  maxDelayMs: number,
  jitter: boolean,
  random: () => number = randomUnit,
): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt);
  return jitter ? random() * ceiling : ceiling;
}

/**
 * Calls `lockApi.tryAcquire(key, ttlS)` up to `maxAttempts` times, pausing between attempts
 * with exponential backoff (ceiling `min(maxDelayMs, baseDelayMs * 2^attempt)`) and, by
 * default, full jitter. There is no pause after the last attempt.
 *
 * @param lockApi Where to take the lock.
 * @param ttlS Seconds until the lock expires by itself.
 * @returns The lock, or `undefined` when every attempt found the key held.
 * @throws {unknown} `signal.reason` when aborted (before an attempt or during a pause; a lock
 * acquired by an attempt that was running when the signal fired is released first), or what
 * `tryAcquire` threw.
 * @throws {TypeError} When an option is not a number.
 * @throws {RangeError} When `maxAttempts` is not an integer >= 1 or a delay is negative.
 *
 * @example Retry with backoff, bounded by a deadline
 * ```ts
 * import { acquireWithRetry, DflockdLockApi } from "@dflock/dflock";
 *
 * await using lockApi = new DflockdLockApi();
 * const lock = await acquireWithRetry(lockApi, "order:42", 30, {
 *   maxAttempts: 5,
 *   baseDelayMs: 100,
 *   signal: AbortSignal.timeout(5_000),
 * });
 * if (lock) {
 *   try {
 *     console.log("processing order 42");
 *   } finally {
 *     await lock.release();
 *   }
 * }
 * ```
 */
export async function acquireWithRetry(
  lockApi: LockApi,
  key: string,
  ttlS: number,
  options: AcquireWithRetryOptions = {},
): Promise<Lock | undefined> {
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (typeof maxAttempts !== "number") {
    throw new TypeError(`maxAttempts must be a number (got ${typeof maxAttempts})`);
  }
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new RangeError(`maxAttempts must be an integer >= 1 (got ${maxAttempts})`);
  }
  const baseDelayMs = nonNegative(options.baseDelayMs, "baseDelayMs", DEFAULT_BASE_DELAY_MS);
  const maxDelayMs = nonNegative(options.maxDelayMs, "maxDelayMs", DEFAULT_MAX_DELAY_MS);
  const jitter = options.jitter ?? true;
  const signal = options.signal;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    signal?.throwIfAborted();
    const lock = await lockApi.tryAcquire(key, ttlS);
    if (lock !== undefined) {
      if (signal?.aborted) {
        await lock.release();
        throw signal.reason;
      }
      return lock;
    }
    if (attempt + 1 < maxAttempts) {
      await pause(backoffDelayMs(attempt, baseDelayMs, maxDelayMs, jitter), signal);
    }
  }
  return undefined;
}
