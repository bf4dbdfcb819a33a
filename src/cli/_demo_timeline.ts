/**
 * The demo's clock and printer: every line is stamped with the seconds since the demo
 * started (`+0.12s worker-3 acquired jobs/report`), plus small waiting helpers.
 *
 * @module
 */

/** Seconds since the start, printed lines, and bounded waits. */
export class Timeline {
  readonly #start: number;
  readonly #write: (text: string) => void;

  /**
   * Starts the clock.
   *
   * @param write Where lines go (stdout).
   */
  constructor(write: (text: string) => void) {
    this.#start = performance.now();
    this.#write = write;
  }

  /** Milliseconds since the start. */
  get elapsedMs(): number {
    return performance.now() - this.#start;
  }

  /**
   * Prints one stamped line.
   *
   * @param who The actor (`worker-3`, `server`, ...).
   */
  log(who: string, what: string): void {
    const stamp = `+${(this.elapsedMs / 1000).toFixed(2)}s`.padStart(7);
    this.#write(`${stamp} ${who.padEnd(8)} ${what}\n`);
  }

  /** Prints a scene heading. */
  heading(title: string): void {
    this.#write(`\n${title}\n`);
  }

  /**
   * Prints a plain line.
   *
   * @param text The text (without newline).
   */
  say(text: string): void {
    this.#write(`${text}\n`);
  }
}

/**
 * Resolves after `ms` milliseconds (a worker "doing work").
 *
 * @param ms Milliseconds.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits until `condition()` holds, checking every 5 ms.
 *
 * @param condition The condition, e.g. "the server reports one waiter".
 * @param timeoutMs Give up after this long.
 * @throws {Error} When it does not hold within `timeoutMs`.
 */
export async function until(
  condition: () => boolean,
  what: string,
  timeoutMs = 3_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`demo: timed out waiting for ${what}`);
    await sleep(5);
  }
}

/**
 * A random whole number of milliseconds from `min` to `max`.
 *
 * @param min Smallest value.
 * @param max Largest value.
 */
export function between(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}
