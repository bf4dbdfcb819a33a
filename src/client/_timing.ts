/**
 * Small timing helpers shared by the client: an abortable pause and a uniform random number
 * from the platform's cryptographic source (used for jitter).
 *
 * @module
 */

/**
 * A uniformly random number in [0, 1) from `crypto.getRandomValues`.
 *
 * @returns The number.
 */
export function randomUnit(): number {
  const buf = new Uint32Array(1);
  crypto.getRandomValues(buf);
  return buf[0]! / 0x1_0000_0000;
}

/**
 * Resolves after `ms` milliseconds, or rejects with `signal.reason` as soon as `signal` aborts
 * (at once when it already has). The timer and the listener are removed either way.
 *
 * @param ms How long to wait.
 * @param signal Aborts the wait.
 * @returns A promise for the end of the pause.
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
