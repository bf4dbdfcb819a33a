import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type DeadlineMember, Deadlines } from "../../src/server/deadlines.ts";

/** A member that records when it was told, and may schedule itself again when told. */
class Member implements DeadlineMember {
  deadlineAt = Infinity;
  deadlineSlot = -1;
  readonly told: number[] = [];
  then: ((now: number) => void) | undefined;

  readonly name: string;
  readonly log: string[];

  constructor(name: string, log: string[]) {
    this.name = name;
    this.log = log;
  }

  deadlinePassed(now: number): void {
    this.told.push(now);
    this.log.push(this.name);
    this.then?.(now);
  }
}

/** Resolves once `member` has been told `count` times (bounded by the test's own timeout). */
async function toldTimes(member: Member, count: number): Promise<void> {
  for (let i = 0; i < 400 && member.told.length < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A `Deadlines` on the real clock, three members sharing one log, and the start time. */
function threeMembers() {
  const clock = () => performance.now();
  const log: string[] = [];
  const [a, b, c] = ["a", "b", "c"].map((name) => new Member(name, log)) as [
    Member,
    Member,
    Member,
  ];
  return { d: new Deadlines(clock), log, a, b, c, t0: clock() };
}

describe("Deadlines: one timer for many deadlines", () => {
  test("members are told in deadline order, each once, not before their deadline", async () => {
    const { d, log, a, b, c, t0 } = threeMembers();
    d.schedule(a, t0 + 60, t0);
    d.schedule(b, t0 + 20, t0);
    d.schedule(c, t0 + 40, t0);
    assert.equal(d.size, 3);
    await toldTimes(a, 1);
    assert.deepEqual(log, ["b", "c", "a"]);
    assert.ok(b.told[0]! >= t0 + 20 && c.told[0]! >= t0 + 40 && a.told[0]! >= t0 + 60);
    assert.equal(d.size, 0);
    assert.equal(a.deadlineSlot, -1);
  });

  test("moving a deadline earlier or later, and cancelling, are honoured", async () => {
    const { d, log, a, b, c, t0 } = threeMembers();
    d.schedule(a, t0 + 10_000, t0);
    d.schedule(b, t0 + 30, t0);
    d.schedule(c, t0 + 20, t0);
    d.schedule(a, t0 + 10, t0); // earlier
    d.schedule(b, t0 + 50, t0); // later
    d.cancel(c);
    d.cancel(c); // twice: no effect
    await toldTimes(b, 1);
    assert.deepEqual(log, ["a", "b"]);
    assert.equal(c.told.length, 0);
  });

  test("a member told early sets a later deadline: the earlier one of another still fires", async () => {
    // The case a server hits: connection 1's write deadline passes and it sets its (later) read
    // deadline again while connection 2's write deadline, earlier than that, is pending.
    const clock = () => performance.now();
    const d = new Deadlines(clock);
    const log: string[] = [];
    const one = new Member("one", log);
    const two = new Member("two", log);
    const t0 = clock();
    one.then = (now) => {
      if (one.told.length === 1) d.schedule(one, now + 10_000, now);
    };
    d.schedule(one, t0 + 10, t0);
    d.schedule(two, t0 + 40, t0);
    await toldTimes(two, 1);
    assert.deepEqual(log, ["one", "two"]);
    assert.ok(two.told[0]! < t0 + 5_000, "told at its own deadline, not at one's later one");
    d.clear();
    assert.equal(d.size, 0);
    assert.equal(one.deadlineSlot, -1);
  });

  test("many members: the heap keeps its order through random schedules and cancels", () => {
    const d = new Deadlines(() => 0);
    const log: string[] = [];
    const members = Array.from({ length: 200 }, (_, i) => new Member(`m${i}`, log));
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const expected = new Map<Member, number>();
    for (let step = 0; step < 2_000; step++) {
      const m = members[Math.floor(random() * members.length)]!;
      if (random() < 0.2) {
        d.cancel(m);
        expected.delete(m);
      } else {
        const at = 1_000 + Math.floor(random() * 1_000_000);
        d.schedule(m, at, 0);
        expected.set(m, at);
      }
    }
    assert.equal(d.size, expected.size);
    for (const [m, at] of expected) assert.equal(m.deadlineAt, at);
    // Every member's slot points at itself, and no parent is later than its children.
    const slots = [...expected.keys()].map((m) => m.deadlineSlot).sort((x, y) => x - y);
    assert.deepEqual(slots, Array.from({ length: expected.size }, (_, i) => i));
    const bySlot = new Map([...expected.keys()].map((m) => [m.deadlineSlot, m]));
    for (let i = 1; i < expected.size; i++) {
      assert.ok(bySlot.get((i - 1) >> 1)!.deadlineAt <= bySlot.get(i)!.deadlineAt);
    }
    d.clear();
  });
});
