/**
 * The record the mutual-exclusion checker reads: one {@linkcode Section} per critical section
 * (and one {@linkcode FifoRound} per FIFO round), all times in milliseconds on ONE clock, the
 * test process's `performance.now()`.
 *
 * Clock argument. In-process workers read `performance.now()` directly. A child process has
 * its own `performance.now()` (same monotonic source, different origin), so its times are
 * moved onto the parent clock with an offset known only within bounds: the parent sends
 * `sync k` at parent time `t0`, the child answers with its time `c`, the parent reads the
 * answer at `t1`; the child's instant `c` happened at a parent time in `[t0, t1]`, so the
 * offset lies in `[t0 - c, t1 - c]`. Intersecting several samples gives `[lo, hi]`
 * ({@linkcode ClockBounds}). Every child time is then mapped to the side of its interval that
 * can only make the checker MORE lenient: starts (`enter`) to the latest possible parent time
 * (`+ hi`), ends (`exit`, `abort`, `call` used as a lower bound of the grant) to the earliest
 * (`+ lo`). A child that is killed ends at the parent time of `kill()` (it runs no code after
 * its death, which precedes the server's auto-release that lets the next holder in).
 *
 * @module
 */

/** How the fault injector ended (or tried to end) a holder's lease. */
export type FaultKind = "client-close" | "server-drop" | "pause" | "kill";

/** One critical section as recorded by its worker. */
export interface Section {
  /** The key. */
  key: string;
  /** The key's limit: 1 for a lock, the semaphore limit otherwise. */
  limit: number;
  /** Worker name (`p3` in-process, `c1` child process, ...). */
  worker: string;
  /** The token the server granted. */
  token: string;
  /** The fencing number (`lock.fence`), or `undefined` when the token carries none. */
  fence: bigint | undefined;
  /** Lease in seconds as granted. */
  lease: number;
  /** When `acquire()` was called: a lower bound of the server's grant time. */
  call: number;
  /** When the critical section started (after `acquire()` resolved): >= grant receipt. */
  enter: number;
  /** When the critical section's body ended (before `release()`), if it did. */
  exit?: number;
  /** When the lease signal aborted, if it did. */
  abort?: number;
  /** `name` of the abort reason (`LeaseLostError` expected). */
  abortReason?: string;
  /**
   * The lease horizon: when the lease runs out on the server unless renewed (a lock's expiry
   * as the server's `stats` reported it right after the grant; after a renewal, renewal sent
   * + lease, a lower bound of the renewed expiry). Absent: unknown.
   */
  horizon?: number;
  /** Grant receipt by the client minus the server's grant time, ms (in-process only). */
  receiptLagMs?: number;
  /** The fault injected into this section, if any. */
  fault?: FaultKind;
  /** When the fault took the lease away from the holder (close, drop, kill), if it did. */
  revoke?: number;
  /** How `release()` ended: `"ok"` or the error's name. Absent when it never ran. */
  released?: string;
}

/** One FIFO round: waiters queued strictly one after another on one key. */
export interface FifoRound {
  /** The key. */
  key: string;
  /** Waiter names in the order the server queued them (checked through `stats`). */
  enqueued: string[];
  /** Waiters that left the queue on purpose (closed while queued). */
  left: string[];
  /** The fence each remaining waiter was granted with. */
  fences: Record<string, bigint | undefined>;
}

/** A history: everything the checker needs. */
export interface History {
  /** All critical sections. */
  sections: Section[];
  /** All FIFO rounds. */
  fifo: FifoRound[];
}

/** Bounds of (parent clock - child clock), in ms. */
export interface ClockBounds {
  /** Smallest possible offset. */
  lo: number;
  /** Largest possible offset. */
  hi: number;
}

/** Slack for timer resolution (a runtime may coarsen `performance.now()`), ms. */
export const CLOCK_SLACK_MS = 1;

/**
 * Narrows clock bounds with one sync sample.
 *
 * @param bounds Current bounds (start with `{ lo: -Infinity, hi: Infinity }`).
 * @param t0 Parent time the sync request was sent.
 * @param c Child time in the answer.
 * @param t1 Parent time the answer was read.
 * @returns The narrowed bounds.
 */
export function narrowClock(bounds: ClockBounds, t0: number, c: number, t1: number): ClockBounds {
  return {
    lo: Math.max(bounds.lo, t0 - c - CLOCK_SLACK_MS),
    hi: Math.min(bounds.hi, t1 - c + CLOCK_SLACK_MS),
  };
}

/** A section as a child reports it: times on the child's clock, fence as a string. */
export interface ChildSection {
  key: string;
  limit: number;
  worker: string;
  token: string;
  fence: string | null;
  lease: number;
  call: number;
  enter: number;
  exit?: number;
  abort?: number;
  abortReason?: string;
  released?: string;
}

/**
 * Moves a child's section onto the parent clock, conservatively (see the module comment).
 *
 * @param s The child's record.
 * @param b The clock bounds of that child.
 * @returns The section on the parent clock.
 */
export function fromChild(s: ChildSection, b: ClockBounds): Section {
  const out: Section = {
    key: s.key,
    limit: s.limit,
    worker: s.worker,
    token: s.token,
    fence: s.fence === null ? undefined : BigInt(s.fence),
    lease: s.lease,
    call: s.call + b.lo,
    enter: s.enter + b.hi,
  };
  if (s.exit !== undefined) out.exit = s.exit + b.lo;
  if (s.abort !== undefined) out.abort = s.abort + b.lo;
  if (s.abortReason !== undefined) out.abortReason = s.abortReason;
  if (s.released !== undefined) out.released = s.released;
  return out;
}

/**
 * Serialises a child section as one JSON line (bigints as strings).
 *
 * @param s The section (child clock).
 * @returns The JSON text.
 */
export function childSectionJson(s: ChildSection): string {
  return JSON.stringify({ t: "sec", s });
}
