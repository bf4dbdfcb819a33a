/**
 * The mutual-exclusion checker itself: synthetic histories with and without violations, the
 * child clock conversion, and mutation tests (a lock that does not lock, a lock that never
 * reports a lost lease) run through the real workload must be caught.
 *
 * @module
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { checkHistory, validEnd } from "./_checker.ts";
import { fromChild, narrowClock } from "./_history.ts";
import type { FifoRound, Section } from "./_history.ts";
import { realHoldable, runBatch } from "./mutex_workload.ts";
import type { Holdable, MakeHoldable } from "./mutex_workload.ts";

let nextFence = 100n;
function sec(worker: string, enter: number, exit: number, extra: Partial<Section> = {}): Section {
  return {
    key: "k",
    limit: 1,
    worker,
    token: `t${worker}${enter}`,
    fence: nextFence++,
    lease: 1,
    call: enter - 1,
    enter,
    exit,
    released: "ok",
    ...extra,
  };
}

function check(sections: Section[], fifo: FifoRound[] = []): string[] {
  return checkHistory({ sections, fifo }).violations;
}

describe("checker on synthetic histories", () => {
  test("back-to-back holders are fine, an overlap is a violation", () => {
    assert.deepEqual(check([sec("a", 0, 10), sec("b", 10, 20), sec("c", 25, 30)]), []);
    const v = check([sec("a", 0, 10), sec("b", 9.5, 20)]);
    assert.equal(v.length, 1);
    assert.match(v[0]!, /2 valid holders at 9\.50 ms \(limit 1\)/);
  });

  test("a holder stops being valid at revoke, abort or horizon, not only at exit", () => {
    // a's lease was taken away at 10 (revoke) and its signal fired late at 30: b entering at
    // 20 is no overlap, but the drop-to-abort delay is measured.
    const a = sec("a", 0, 40, { fault: "client-close", revoke: 10, abort: 30 });
    a.abortReason = "LeaseLostError";
    a.released = "LeaseLostError";
    const r = checkHistory({ sections: [a, sec("b", 20, 25)], fifo: [] });
    assert.deepEqual(r.violations, []);
    assert.equal(r.summary.maxNoticeMs, 20);
    assert.equal(validEnd(a), 10);
    // The server-side horizon bounds a frozen holder.
    const p = sec("p", 0, 1300, { fault: "pause", horizon: 1000, abort: 1010 });
    p.abortReason = "LeaseLostError";
    p.released = "LeaseLostError";
    const r2 = checkHistory({ sections: [p, sec("q", 1005, 1006)], fifo: [] }, {
      pauseToleranceMs: 5,
    });
    assert.deepEqual(r2.violations, []);
    assert.equal(r2.summary.minPauseMarginMs, -5);
    // Without tolerance, a signal that fires after the next holder entered is a violation:
    // the client's deadline counts from the acquire's send time, before the server's grant.
    const late = checkHistory({ sections: [p, sec("q", 1005, 1006)], fifo: [] });
    assert.equal(late.violations.length, 1);
    assert.match(late.violations[0]!, /aborted 5\.00 ms after the next holder/);
    const early = checkHistory({ sections: [p, sec("q", 1010, 1011)], fifo: [] });
    assert.deepEqual(early.violations, []);
    // Without horizon or abort the frozen holder overlaps.
    const deaf = sec("p", 0, 1300, { fault: "pause" });
    const v = check([deaf, sec("q", 1005, 1006)]);
    assert.ok(v.some((x) => /valid holders/.test(x)));
    assert.ok(v.some((x) => /signal never aborted/.test(x)));
  });

  test("semaphore limit", () => {
    const mk = (w: string, a: number, b: number) => sec(w, a, b, { key: "s", limit: 3 });
    assert.deepEqual(check([mk("a", 0, 10), mk("b", 1, 10), mk("c", 2, 10), mk("d", 10, 12)]), []);
    const v = check([mk("a", 0, 10), mk("b", 1, 10), mk("c", 2, 10), mk("d", 9, 12)]);
    assert.equal(v.length, 1);
    assert.match(v[0]!, /4 valid holders .* \(limit 3\)/);
  });

  test("fences: duplicates and order against the certain grant order", () => {
    const a = sec("a", 0, 1, { fence: 7n });
    const b = sec("b", 5, 6, { fence: 7n });
    assert.ok(check([a, b]).some((x) => /granted twice/.test(x)));
    // b called acquire (at 4) after a entered (at 0): b's fence must be larger.
    const c = sec("c", 0, 1, { fence: 9n });
    const d = sec("d", 5, 6, { fence: 8n, call: 4 });
    assert.ok(check([c, d]).some((x) => /is not above fence 9/.test(x)));
    // Concurrent calls: no order is implied.
    const e = sec("e", 2, 3, { fence: 9n, call: 0 });
    const f = sec("f", 5, 6, { fence: 8n, call: 1 });
    assert.deepEqual(check([e, f]), []);
    assert.ok(check([sec("g", 0, 1, { fence: undefined })]).some((x) => /without a fence/.test(x)));
  });

  test("loss reporting", () => {
    const dropped = sec("a", 0, 5, { fault: "server-drop", revoke: 1 });
    assert.ok(check([dropped]).some((x) => /never aborted/.test(x)));
    const wrong = sec("b", 0, 5, { abort: 2, abortReason: "Error", released: "LeaseLostError" });
    assert.ok(check([wrong]).some((x) => /not LeaseLostError/.test(x)));
    const released = sec("c", 0, 5, { abort: 2, abortReason: "LeaseLostError", released: "ok" });
    assert.ok(check([released]).some((x) => /release\(\) resolved/.test(x)));
    const late = sec("d", 0, 6000, { fault: "client-close", revoke: 1, abort: 5000 });
    late.abortReason = "LeaseLostError";
    late.released = "LeaseLostError";
    assert.ok(check([late]).some((x) => /aborted 4999 ms after the drop/.test(x)));
  });

  test("FIFO rounds", () => {
    const round = (fences: Record<string, bigint | undefined>, left: string[] = []) => ({
      key: "f",
      enqueued: ["w0", "w1", "w2"],
      left,
      fences,
    });
    assert.deepEqual(check([], [round({ w0: 1n, w1: 2n, w2: 3n })]), []);
    assert.deepEqual(check([], [round({ w0: 1n, w2: 3n }, ["w1"])]), []);
    assert.equal(check([], [round({ w0: 1n, w1: 3n, w2: 2n })]).length, 1);
    assert.equal(check([], [round({ w0: 1n, w2: 3n })]).length, 1);
  });

  test("child times map conservatively onto the parent clock", () => {
    // Child clock = parent clock - 1000, samples taken with 2 ms round trips.
    let b = { lo: -Infinity, hi: Infinity };
    b = narrowClock(b, 1000, 1, 1002);
    b = narrowClock(b, 2000, 1000.5, 2001);
    assert.ok(b.lo <= 1000 && b.hi >= 1000, JSON.stringify(b));
    assert.ok(b.hi - b.lo <= 2 + 2);
    const s = fromChild({
      key: "k",
      limit: 1,
      worker: "c0",
      token: "t",
      fence: "5",
      lease: 1,
      call: 10,
      enter: 20,
      exit: 30,
    }, b);
    // Start no earlier, ends no later than the truth (1000 + child time).
    assert.ok(s.enter >= 1020 && s.exit! <= 1030 && s.call <= 1010);
    assert.equal(s.fence, 5n);
  });
});

/** A "lock" that grants at once and never fails: nothing is exclusive. */
function noLock(): MakeHoldable {
  let n = 0;
  return () => {
    let token: string | undefined;
    const controller = new AbortController();
    return {
      acquire(): Promise<boolean> {
        token = (++n).toString(16).padStart(16, "0") + "0".repeat(16);
        return Promise.resolve(true);
      },
      release: () => Promise.resolve(),
      close: () => Promise.resolve(),
      get token() {
        return token;
      },
      get fence() {
        return token === undefined ? undefined : BigInt("0x" + token.slice(0, 16));
      },
      lease: 1,
      signal: controller.signal,
    } satisfies Holdable;
  };
}

/** The real lock, but its signal never reports a lost lease. */
function deafLock(port: number): MakeHoldable {
  const real = realHoldable(port);
  return (key, limit, tap) => {
    const inner = real(key, limit, tap);
    const never = new AbortController().signal;
    return {
      acquire: () => inner.acquire(),
      release: () => inner.release(),
      close: () => inner.close(),
      get token() {
        return inner.token;
      },
      get fence() {
        return inner.fence;
      },
      get lease() {
        return inner.lease;
      },
      signal: never,
    };
  };
}

describe("mutations are caught", () => {
  test("a lock that does not lock", async () => {
    const r = await runBatch({
      seed: 1,
      perWorker: 30,
      perChild: 0,
      dropsPerKey: 0,
      pausesPerKey: 0,
      fifoRounds: 0,
      children: 0,
      inProcessOnly: true,
      make: noLock(),
    });
    const { violations, summary } = checkHistory(r.history);
    assert.ok(summary.sections >= 400);
    assert.ok(violations.some((v) => /key L0: 2 valid holders/.test(v)), violations.join("\n"));
    assert.ok(violations.some((v) => /key S0: 4 valid holders/.test(v)), violations.join("\n"));
  });

  test("a lock whose signal never reports a lost lease", async () => {
    let port = 0;
    const r = await runBatch({
      seed: 2,
      perWorker: 6,
      perChild: 0,
      dropsPerKey: 0,
      pausesPerKey: 1,
      fifoRounds: 0,
      children: 0,
      inProcessOnly: true,
      make: (key, limit, tap) => deafLock(port)(key, limit, tap),
      onServer: (p: number) => port = p,
    });
    const { violations } = checkHistory(r.history);
    const never = violations.filter((v) => /paused past its lease but the signal never/.test(v));
    assert.equal(never.length, 3, violations.join("\n"));
  });
});
