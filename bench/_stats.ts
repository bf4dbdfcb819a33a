/**
 * Small statistics helpers shared by the benchmarks: median, min/max summary and an
 * interleaved run order.
 *
 * @module
 */

/** Median, minimum and maximum of a set of measurements. */
export interface Summary {
  /** The median (mean of the two middle values for an even count); NaN when empty. */
  median: number;
  /** The smallest value; NaN when empty. */
  min: number;
  /** The largest value; NaN when empty. */
  max: number;
}

/**
 * The median of `values` (mean of the two middle values for an even count).
 *
 * @param values Measurements; not modified.
 * @returns The median, or NaN for an empty array.
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Median, minimum and maximum of `values`.
 *
 * @param values Measurements; not modified.
 * @returns The summary; every field NaN for an empty array.
 */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN };
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { median: median(values), min, max };
}

/**
 * An interleaved run order: `runs` rounds over `targets`, alternating the direction every
 * round (A B C, C B A, A B C, ...) so no target always runs first or last.
 *
 * @param targets The things to measure, in their base order.
 * @param runs Rounds (measured runs per target).
 * @returns `runs * targets.length` entries, each `{ run, target }` with `run` counted from 0.
 * @throws {RangeError} When `runs` is not a non-negative integer.
 */
export function interleave<T>(
  targets: readonly T[],
  runs: number,
): { run: number; target: T }[] {
  if (!Number.isInteger(runs) || runs < 0) {
    throw new RangeError(`runs must be a non-negative integer, got ${runs}`);
  }
  const order: { run: number; target: T }[] = [];
  for (let run = 0; run < runs; run++) {
    const round = run % 2 === 0 ? targets : [...targets].reverse();
    for (const target of round) order.push({ run, target });
  }
  return order;
}

/**
 * Nearest-rank percentile of an ascending sorted array.
 *
 * @param sorted Values sorted ascending.
 * @param q Quantile in [0, 1], e.g. 0.99.
 * @returns The value at that rank, or 0 for an empty array.
 */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

/** What {@linkcode mergeLatencies} reads from each worker. */
export interface LatencyRecorder {
  /** One latency per completed op, ms (the first `count` entries are valid). */
  readonly latencies: Float64Array;
  /** Completed ops. */
  readonly count: number;
}

/**
 * Merges the workers' latencies of one run into its throughput and percentiles.
 *
 * @param workers The run's workers.
 * @param seconds Wall time of the run.
 * @returns Completed ops, ops per second, and p50 and p99 in ms.
 */
export function mergeLatencies(
  workers: readonly LatencyRecorder[],
  seconds: number,
): { ops: number; opsPerSec: number; p50Ms: number; p99Ms: number } {
  let ops = 0;
  for (const w of workers) ops += w.count;
  const all = new Float64Array(ops);
  let at = 0;
  for (const w of workers) {
    all.set(w.latencies.subarray(0, w.count), at);
    at += w.count;
  }
  all.sort();
  return {
    ops,
    opsPerSec: seconds > 0 ? ops / seconds : 0,
    p50Ms: percentile(all, 0.5),
    p99Ms: percentile(all, 0.99),
  };
}
