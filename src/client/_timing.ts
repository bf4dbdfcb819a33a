/**
 * Small timing helpers shared by the client: an abortable pause and a uniform random number
 * for jitter.
 *
 * @module
 */

/**
 * A uniformly random number in [0, 1), for jitter. `Math.random`: jitter only spreads
 * renewals and retries over time, it guards no secret, and the cryptographic source costs a
 * measurable share of every `withLock`.
 */
export function randomUnit(): number {
  return Math.random();
}

/**
 * Resolves after `ms` milliseconds, or rejects with `signal.reason` as soon as `signal` aborts
 * (at once when it already has). The timer and the listener are removed either way.
 *
 * @param ms How long to wait.
 * @param signal Aborts the wait.
 */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
