/**
 * Timers that do not keep the process alive, on every runtime: Node and Bun timers have
 * `unref()`, Deno's are numbers passed to `Deno.unrefTimer`. The client's pool housekeeping
 * uses them, so an idle client never holds a finished script open.
 *
 * @module
 */

/** The handle `setTimeout` / `setInterval` return on the running runtime. */
export type TimerHandle = ReturnType<typeof setTimeout>;

interface DenoTimers {
  unrefTimer(id: number): void;
}

/**
 * Marks a timer as not keeping the process alive.
 *
 * @param timer A handle from `setTimeout` or `setInterval`.
 * @returns `timer`.
 *
 * @example A housekeeping tick that never blocks exit
 * ```ts
 * const tick = unrefTimer(setInterval(() => {}, 1000));
 * clearInterval(tick);
 * ```
 */
export function unrefTimer<T extends TimerHandle>(timer: T): T {
  if (typeof timer === "number") {
    (globalThis as { Deno?: DenoTimers }).Deno?.unrefTimer(timer);
  } else {
    (timer as { unref?: () => void }).unref?.();
  }
  return timer;
}
