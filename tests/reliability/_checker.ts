/**
 * The mutual-exclusion checker: proves safety properties from a recorded
 * {@linkcode History} alone.
 *
 * Validity. A holder may rely on its lease on `[enter, end)`, where
 * `end = min(exit, abort, revoke, horizon)`: it stops when its body ends, when its signal
 * aborts, when a fault took the lease away (the injector knows that instant), or when its
 * lease has run out on the server (`horizon`: the expiry the server's own `stats` reported).
 * The horizon is the server's expiry. The client counts its own deadline from when it *sent*
 * the acquire, which precedes the server's grant, so a paused holder's signal must abort before
 * the next holder of a lock enters: checked (with `pauseToleranceMs` of slack for timer
 * lateness) and the smallest gap reported as `minPauseMarginMs`. Every term is
 * recorded *before*
 * the event that lets the server grant the slot again (exit before `release()`, revoke before
 * the close), and `enter` is recorded *after* the grant was received, so scheduling delays
 * only shrink intervals: a delay can hide an overlap but never invent one. Intervals are
 * half-open: one holder leaving at t and the next entering at t is fine.
 *
 * Checked:
 * 1. mutual exclusion / limit: at no instant more than `limit` valid holders of a key;
 * 2. fences: unique per key, and whenever A entered before B called `acquire()`
 *    (so A's grant surely preceded B's) A's fence is smaller;
 * 3. loss reporting: every section whose lease a fault took away (client close, server-side
 *    drop) or that outlived its lease (pause) saw its signal abort with `LeaseLostError`
 *    (a pause: before its body ended and before the next holder of the lock entered; a revoke:
 *    within `maxNoticeMs`), every abort reason is a
 *    `LeaseLostError`, and `release()` after a loss rejected with `LeaseLostError`;
 * 4. FIFO: in every FIFO round the fences of the granted waiters increase in queue order.
 *
 * @module
 */

import type { History, Section } from "./_history.ts";

/** Checker settings. */
export interface CheckOptions {
  /** Longest time from a revoke to the holder's signal aborting, ms. @default {3000} */
  maxNoticeMs?: number;
  /**
   * How long after the next holder's entry a paused lock holder's signal may still abort, ms
   * (timer lateness under load). @default {0}
   */
  pauseToleranceMs?: number;
}

/** Figures about a checked history. */
export interface CheckSummary {
  /** Number of sections. */
  sections: number;
  /** Sections per key. */
  perKey: Record<string, number>;
  /** Most valid holders seen at once, per key. */
  maxConcurrent: Record<string, number>;
  /** Sections per fault kind. */
  faults: Record<string, number>;
  /** Lease losses reported through the signal. */
  lossesReported: number;
  /** Aborts in sections without a fault (spurious lease losses). */
  unexpectedLosses: number;
  /**
   * Smallest gap between a paused lock holder's abort and the next holder's entry, ms;
   * negative when the next holder entered before the paused holder's signal aborted (a
   * violation beyond `pauseToleranceMs`).
   */
  minPauseMarginMs: number | undefined;
  /** Largest delay from the server's grant to the client reading it, ms. */
  maxReceiptLagMs: number | undefined;
  /** Largest revoke-to-abort delay, ms. */
  maxNoticeMs: number | undefined;
  /** FIFO rounds checked. */
  fifoRounds: number;
}

/** The checker's verdict. */
export interface CheckResult {
  /** Human-readable violations; empty when the history is correct. */
  violations: string[];
  /** Figures. */
  summary: CheckSummary;
}

/**
 * The end of a section's validity interval.
 *
 * @param s The section.
 * @returns `min(exit, abort, revoke, horizon)`; `Infinity` when none is known.
 */
export function validEnd(s: Section): number {
  let end = Infinity;
  if (s.exit !== undefined) end = Math.min(end, s.exit);
  if (s.abort !== undefined) end = Math.min(end, s.abort);
  if (s.revoke !== undefined) end = Math.min(end, s.revoke);
  if (s.horizon !== undefined) end = Math.min(end, s.horizon);
  return end;
}

function describe(s: Section): string {
  const end = validEnd(s);
  return `${s.worker}[fence ${s.fence ?? "?"}, ${s.enter.toFixed(2)}..${
    Number.isFinite(end) ? end.toFixed(2) : "open"
  }${s.fault !== undefined ? `, ${s.fault}` : ""}]`;
}

function groupByKey(sections: readonly Section[]): Map<string, Section[]> {
  const byKey = new Map<string, Section[]>();
  for (const s of sections) {
    let list = byKey.get(s.key);
    if (list === undefined) byKey.set(s.key, list = []);
    list.push(s);
  }
  return byKey;
}

/** Sweep line: the most valid holders at once; a violation each time the limit is passed. */
function checkConcurrency(key: string, list: readonly Section[], out: string[]): number {
  const limit = list[0]!.limit;
  for (const s of list) {
    if (s.limit !== limit) out.push(`key ${key}: limit ${s.limit} of ${s.worker} != ${limit}`);
  }
  const valid = list.filter((s) => validEnd(s) > s.enter).sort((a, b) => a.enter - b.enter);
  // Active holders ordered by end; small enough (<= limit + 1) to keep in a plain array.
  let active: Section[] = [];
  let max = 0;
  let reported = 0;
  for (const s of valid) {
    active = active.filter((a) => validEnd(a) > s.enter);
    active.push(s);
    if (active.length > max) max = active.length;
    if (active.length > limit && reported < 20) {
      reported++;
      out.push(
        `key ${key}: ${active.length} valid holders at ${s.enter.toFixed(2)} ms (limit ${limit}): ${
          active.map(describe).join(", ")
        }`,
      );
    }
  }
  return max;
}

/** Fences unique, and ordered whenever the grant order is certain. */
function checkFences(key: string, list: readonly Section[], out: string[]): void {
  const seen = new Map<bigint, Section>();
  for (const s of list) {
    if (s.fence === undefined) {
      out.push(`key ${key}: ${s.worker} got token ${s.token} without a fence`);
      continue;
    }
    const other = seen.get(s.fence);
    if (other !== undefined) {
      out.push(`key ${key}: fence ${s.fence} granted twice (${s.worker}, ${other.worker})`);
    }
    seen.set(s.fence, s);
  }
  const byEnter = list.filter((s) => s.fence !== undefined).sort((a, b) => a.enter - b.enter);
  const byCall = [...byEnter].sort((a, b) => a.call - b.call);
  let i = 0;
  let maxBefore: Section | undefined;
  let reported = 0;
  for (const b of byCall) {
    while (i < byEnter.length && byEnter[i]!.enter < b.call) {
      const a = byEnter[i++]!;
      if (maxBefore === undefined || a.fence! > maxBefore.fence!) maxBefore = a;
    }
    if (maxBefore !== undefined && maxBefore.fence! >= b.fence! && reported < 20) {
      reported++;
      out.push(
        `key ${key}: fence ${b.fence} of ${b.worker} (acquire called at ${
          b.call.toFixed(2)
        }) is not above fence ${maxBefore.fence} of ${maxBefore.worker} (entered at ${
          maxBefore.enter.toFixed(2)
        })`,
      );
    }
  }
}

/**
 * Checks a history.
 *
 * @param history The record.
 * @param options Settings.
 * @returns The violations (empty when correct) and a summary.
 */
export function checkHistory(history: History, options: CheckOptions = {}): CheckResult {
  const maxNotice = options.maxNoticeMs ?? 3000;
  const pauseTolerance = options.pauseToleranceMs ?? 0;
  const violations: string[] = [];
  const summary: CheckSummary = {
    sections: history.sections.length,
    perKey: {},
    maxConcurrent: {},
    faults: {},
    lossesReported: 0,
    unexpectedLosses: 0,
    minPauseMarginMs: undefined,
    maxReceiptLagMs: undefined,
    maxNoticeMs: undefined,
    fifoRounds: history.fifo.length,
  };
  const byKey = groupByKey(history.sections);
  for (const [key, list] of byKey) {
    summary.perKey[key] = list.length;
    summary.maxConcurrent[key] = checkConcurrency(key, list, violations);
    checkFences(key, list, violations);
    // Pause margins: the next holder in grant (fence) order after a paused lock holder.
    const byFence = list.filter((s) => s.fence !== undefined).sort((a, b) =>
      a.fence! < b.fence! ? -1 : a.fence! > b.fence! ? 1 : 0
    );
    byFence.forEach((p, idx) => {
      if (p.fault !== "pause" || p.abort === undefined || p.limit !== 1) return;
      const next = byFence[idx + 1];
      if (next === undefined) return;
      const margin = next.enter - p.abort;
      if (summary.minPauseMarginMs === undefined || margin < summary.minPauseMarginMs) {
        summary.minPauseMarginMs = margin;
      }
      if (margin < -pauseTolerance) {
        violations.push(
          `${describe(p)}: the signal aborted ${(-margin).toFixed(2)} ms after the next holder ${
            describe(next)
          } entered`,
        );
      }
    });
  }
  for (const s of history.sections) {
    if (s.receiptLagMs !== undefined) {
      summary.maxReceiptLagMs = Math.max(summary.maxReceiptLagMs ?? 0, s.receiptLagMs);
    }
    if (s.fault !== undefined) summary.faults[s.fault] = (summary.faults[s.fault] ?? 0) + 1;
    if (s.abort !== undefined) {
      if (s.abortReason !== "LeaseLostError") {
        violations.push(`${describe(s)}: signal aborted with ${s.abortReason}, not LeaseLostError`);
      }
      summary.lossesReported++;
      if (s.fault === undefined) summary.unexpectedLosses++;
      if (s.released !== undefined && s.released !== "LeaseLostError" && s.released !== "ok") {
        // ok is possible only if the release raced ahead of the loss; anything else is wrong.
        violations.push(`${describe(s)}: release() after a lost lease threw ${s.released}`);
      }
      if (s.exit !== undefined && s.abort < s.exit && s.released === "ok") {
        violations.push(`${describe(s)}: release() resolved although the lease was lost first`);
      }
    }
    if (s.fault === "pause") {
      if (s.abort === undefined) {
        violations.push(`${describe(s)}: paused past its lease but the signal never aborted`);
      } else if (s.exit !== undefined && s.exit < s.abort) {
        violations.push(`${describe(s)}: paused past its lease but the signal aborted only after`);
      }
    }
    if ((s.fault === "client-close" || s.fault === "server-drop") && s.revoke !== undefined) {
      if (s.abort === undefined) {
        violations.push(`${describe(s)}: connection dropped but the signal never aborted`);
      } else {
        const notice = s.abort - s.revoke;
        if (notice > maxNotice) {
          violations.push(`${describe(s)}: signal aborted ${notice.toFixed(0)} ms after the drop`);
        }
        if (summary.maxNoticeMs === undefined || notice > summary.maxNoticeMs) {
          summary.maxNoticeMs = notice;
        }
      }
    }
  }
  for (const round of history.fifo) {
    const granted = round.enqueued.filter((w) => !round.left.includes(w));
    const fences = granted.map((w) => round.fences[w]);
    for (let i = 0; i < granted.length; i++) {
      const f = fences[i];
      if (f === undefined) {
        violations.push(`FIFO ${round.key}: ${granted[i]} was not granted`);
      } else if (i > 0 && fences[i - 1] !== undefined && !(fences[i - 1]! < f)) {
        violations.push(
          `FIFO ${round.key}: queued ${granted.join(" < ")} but granted fences ${
            fences.join(", ")
          }`,
        );
        break;
      }
    }
  }
  return { violations, summary };
}
