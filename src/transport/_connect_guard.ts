/**
 * Internal: the cancellation and timeout logic every adapter's `connect` shares.
 *
 * @module
 */

import { ConnectionError } from "../errors.ts";
import { DROP_TLS, toConnectionError } from "./_errors.ts";
import type { ConnectPhase } from "./_errors.ts";

/** One platform connection attempt, as started by {@linkcode guardConnect}. */
export interface ConnectAttempt<T> {
  /** Settles with the connection or the platform error. */
  promise: Promise<T>;
  /** Best-effort cancellation of the attempt (closes the half-open socket). */
  cancel(): void;
  /**
   * How far the attempt got: `"tls"` once TCP is connected and a TLS handshake runs. Failures
   * and timeouts in the handshake then say that the server may not speak TLS.
   */
  phase?(): ConnectPhase;
}

/** Options for {@linkcode guardConnect}. */
export interface GuardOptions {
  /** Aborting rejects with `signal.reason` and cancels the attempt. */
  signal?: AbortSignal | undefined;
  /** Rejects with a `ConnectionError` after this many milliseconds. */
  timeoutMs?: number | undefined;
  /** Error message prefix, e.g. `Cannot connect to 127.0.0.1:1234`. */
  action: string;
}

/**
 * Runs a connection attempt under an abort signal and a timeout. Whichever comes first wins:
 * the connection, the platform error (wrapped as `ConnectionError`), the abort (rejects with
 * `signal.reason` unchanged) or the timeout (`ConnectionError`). A connection that arrives
 * after the attempt was given up is handed to `dispose`.
 *
 * @param options Signal, timeout and error message prefix.
 * @param start Starts the platform attempt; called only when the signal is not already aborted.
 * @param dispose Closes a connection that arrived too late.
 * @throws {RangeError} When `timeoutMs` is negative or NaN.
 */
export function guardConnect<T>(
  options: GuardOptions,
  start: () => ConnectAttempt<T>,
  dispose: (value: T) => void,
): Promise<T> {
  const { signal, timeoutMs, action } = options;
  if (timeoutMs !== undefined && !(timeoutMs >= 0)) {
    return Promise.reject(
      new RangeError(`Cannot use timeout ${timeoutMs}: expected a non-negative number`),
    );
  }
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let attempt: ConnectAttempt<T> | undefined;
    const finish = (): void => {
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const giveUp = (reason: unknown): void => {
      if (settled) return;
      finish();
      try {
        attempt?.cancel();
      } catch {
        // Cancellation is best effort.
      }
      reject(reason);
    };
    const onAbort = (): void => giveUp(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (timeoutMs !== undefined && timeoutMs !== Infinity) {
      timer = setTimeout(() => {
        const handshake = attempt?.phase?.() === "tls";
        giveUp(
          new ConnectionError(
            handshake
              ? `${action}: timed out after ${timeoutMs} ms in the TLS handshake; if the server ` +
                `does not speak TLS, ${DROP_TLS}`
              : `${action}: timed out after ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
    }
    try {
      attempt = start();
    } catch (err) {
      if (!settled) {
        finish();
        reject(toConnectionError(action, err, "tcp"));
      }
      return;
    }
    attempt.promise.then(
      (value) => {
        if (settled) {
          dispose(value);
          return;
        }
        finish();
        resolve(value);
      },
      (err) => {
        if (settled) return;
        finish();
        reject(toConnectionError(action, err, attempt?.phase?.() ?? "tcp"));
      },
    );
  });
}
