/**
 * One timer for the deadlines of every connection of a server: a binary min-heap of the
 * connections that have a deadline, each in it at most once, and one runtime timer set for the
 * earliest. A runtime timer per connection costs memory per connection on every runtime (on
 * Deno about 3 KB each: 30 MiB at 10 000 connections) and time whenever one is set or cleared.
 *
 * @module
 */

/** setTimeout's largest delay. */
const MAX_TIMER_MS = 0x7fffffff;

/** What {@linkcode Deadlines} keeps track of: one deadline per member. */
export interface DeadlineMember {
  /** When its deadline is (ms, the clock given to {@linkcode Deadlines}); maintained by it. */
  deadlineAt: number;
  /** Its position in the heap, -1 when it has none; maintained by {@linkcode Deadlines}. */
  deadlineSlot: number;
  /** Called once its deadline has come; it is then out of the heap (schedule again if needed). */
  deadlinePassed(now: number): void;
}

/** The deadlines of a set of members, served by one runtime timer. */
export class Deadlines {
  readonly #now: () => number;
  readonly #heap: DeadlineMember[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the runtime timer fires (ms); `Infinity` when none is set. */
  #timerAt = Infinity;

  /** @param now The monotonic clock the deadlines are on (ms). */
  constructor(now: () => number) {
    this.#now = now;
  }

  /** How many members have a deadline. */
  get size(): number {
    return this.#heap.length;
  }

  /**
   * Sets `member`'s deadline to `at`, earlier or later than the one it had, or gives it one.
   *
   * @param at The deadline (ms).
   * @param now A recent clock reading (ms), to set the runtime timer from.
   */
  schedule(member: DeadlineMember, at: number, now: number): void {
    const heap = this.#heap;
    let slot = member.deadlineSlot;
    const before = member.deadlineAt;
    member.deadlineAt = at;
    if (slot < 0) {
      slot = heap.length;
      heap.push(member);
      member.deadlineSlot = slot;
      this.#up(slot);
    } else if (at < before) {
      this.#up(slot);
    } else {
      this.#down(slot);
    }
    if (at < this.#timerAt) this.#arm(at, now);
  }

  /** Takes `member`'s deadline away (it is gone, or has nothing left to time). */
  cancel(member: DeadlineMember): void {
    const slot = member.deadlineSlot;
    if (slot < 0) return;
    member.deadlineSlot = -1;
    member.deadlineAt = Infinity;
    const heap = this.#heap;
    const last = heap.pop()!;
    if (last !== member) {
      heap[slot] = last;
      last.deadlineSlot = slot;
      this.#down(slot);
      this.#up(last.deadlineSlot);
    }
    // A runtime timer left for an earlier deadline fires early and is set again then; with no
    // deadline left it is cleared, so that nothing keeps the process alive.
    if (heap.length === 0) this.#disarm();
  }

  /** Clears the runtime timer and forgets every deadline. */
  clear(): void {
    for (const member of this.#heap) {
      member.deadlineSlot = -1;
      member.deadlineAt = Infinity;
    }
    this.#heap.length = 0;
    this.#disarm();
  }

  #arm(at: number, now: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    const delay = Math.min(Math.max(0, at - now), MAX_TIMER_MS);
    this.#timer = setTimeout(Deadlines.#fired, delay, this);
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  /** The runtime timer's callback, shared by every instance (no closure per server). */
  static #fired(deadlines: Deadlines): void {
    deadlines.#run();
  }

  /** Tells every member whose deadline has come, then sets the timer for the next one. */
  #run(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const heap = this.#heap;
    const now = this.#now();
    // Taken out first, then told: a member that schedules itself again for a deadline that has
    // already passed is told in the next turn, not in this loop.
    const due: DeadlineMember[] = [];
    while (heap.length > 0 && heap[0]!.deadlineAt <= now) {
      const member = heap[0]!;
      this.cancel(member);
      due.push(member);
    }
    for (const member of due) member.deadlinePassed(now);
    // What the members scheduled may have set the timer for a later deadline than the earliest.
    this.#disarm();
    if (heap.length > 0) this.#arm(heap[0]!.deadlineAt, now);
  }

  #up(slot: number): void {
    const heap = this.#heap;
    const member = heap[slot]!;
    const at = member.deadlineAt;
    while (slot > 0) {
      const parentSlot = (slot - 1) >> 1;
      const parent = heap[parentSlot]!;
      if (parent.deadlineAt <= at) break;
      heap[slot] = parent;
      parent.deadlineSlot = slot;
      slot = parentSlot;
    }
    heap[slot] = member;
    member.deadlineSlot = slot;
  }

  #down(slot: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const member = heap[slot]!;
    const at = member.deadlineAt;
    for (;;) {
      let child = 2 * slot + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && heap[right]!.deadlineAt < heap[child]!.deadlineAt) child = right;
      const next = heap[child]!;
      if (next.deadlineAt >= at) break;
      heap[slot] = next;
      next.deadlineSlot = slot;
      slot = child;
    }
    heap[slot] = member;
    member.deadlineSlot = slot;
  }
}
