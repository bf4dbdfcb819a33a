import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  Holder,
  LockTable,
  type LockTableOptions,
  type TableConn,
  Waiter,
} from "../../src/server/lock_table.ts";
import { createTokenGenerator, fenceOf } from "../../src/server/token.ts";

const S = 1000;

function makeTable(options: Partial<LockTableOptions> = {}): LockTable {
  let n = 0;
  return new LockTable({
    maxLocks: 1024,
    maxWaiters: 0,
    defaultLeaseMs: 33 * S,
    gcMaxIdleMs: 60 * S,
    newToken: () => `t${++n}`,
    ...options,
  });
}

function holder(r: unknown): Holder {
  assert.ok(r instanceof Holder, `expected a holder, got ${String(r)}`);
  return r;
}

function waiter(r: unknown): Waiter {
  assert.ok(r instanceof Waiter, `expected a waiter, got ${String(r)}`);
  return r;
}

/** Records grants of blocked waiters in order. */
function grants(): { log: string[]; cb: (name: string) => (w: Waiter) => void } {
  const log: string[] = [];
  return { log, cb: (name) => (w) => log.push(`${name}:${w.holder!.token}`) };
}

describe("LockTable acquire and release", () => {
  test("fast path grants with the default lease and release frees the key", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    const h = holder(t.acquire(a, "k", 1, undefined, 0, "queue"));
    assert.equal(h.token, "t1");
    assert.equal(h.leaseMs, 33 * S);
    assert.equal(h.expiry, 33 * S);
    assert.equal(t.release("k", "t1", 10), true);
    assert.equal(t.release("k", "t1", 10), false);
    assert.equal(t.release("nokey", "t1", 10), false);
    assert.equal(t.size, 1, "the key stays as idle state");
  });

  test("busy key: timeout or error modes do not queue, queue mode blocks", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    const b = t.openConnection(2);
    holder(t.acquire(a, "k", 1, undefined, 0, "queue"));
    assert.equal(t.acquire(b, "k", 1, undefined, 0, "timeout"), "timeout");
    assert.equal(t.acquire(b, "k", 1, undefined, 0, "error"), "error");
    assert.equal(t.resource("k")!.waiting, 0);
    waiter(t.acquire(b, "k", 1, undefined, 0, "queue"));
    assert.equal(t.resource("k")!.waiting, 1);
  });

  test("waiters are granted strictly FIFO, synchronously inside release", () => {
    const t = makeTable();
    const g = grants();
    const a = t.openConnection(1);
    const h = holder(t.acquire(a, "k", 1, undefined, 0, "queue"));
    const ws = ["b", "c", "d"].map((name, i) =>
      waiter(t.acquire(t.openConnection(i + 2), "k", 1, 5 * S, 1, "queue", g.cb(name)))
    );
    assert.deepEqual(g.log, []);
    t.release("k", h.token, 2);
    assert.deepEqual(g.log, ["b:t2"]);
    assert.equal(ws[0]!.holder!.expiry, 2 + 5 * S);
    t.release("k", "t2", 3);
    t.release("k", "t3", 4);
    assert.deepEqual(g.log, ["b:t2", "c:t3", "d:t4"]);
    assert.equal(ws[2]!.holder!.owner.id, 4);
  });

  test("a new acquirer never overtakes waiters", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    const s1 = holder(t.acquire(a, "s", 2, undefined, 0, "queue"));
    holder(t.acquire(a, "s", 2, undefined, 0, "queue"));
    const w = waiter(t.acquire(t.openConnection(2), "s", 2, undefined, 0, "queue"));
    t.release("s", s1.token, 1);
    assert.ok(w.holder !== null);
    assert.equal(t.acquire(t.openConnection(3), "s", 2, undefined, 1, "timeout"), "timeout");
  });

  test("semaphore admits up to its limit, one connection may hold several slots", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    for (let i = 0; i < 3; i++) holder(t.acquire(a, "s", 3, undefined, 0, "queue"));
    assert.equal(t.acquire(a, "s", 3, undefined, 0, "timeout"), "timeout");
    assert.equal(a.holderCount, 3);
  });

  test("limit mismatch between locks and semaphores, before max_locks", () => {
    const t = makeTable({ maxLocks: 1 });
    const a = t.openConnection(1);
    holder(t.acquire(a, "s", 2, undefined, 0, "queue"));
    assert.equal(t.acquire(a, "s", 3, undefined, 0, "queue"), "error_limit_mismatch");
    assert.equal(t.acquire(a, "s", 1, undefined, 0, "queue"), "error_limit_mismatch");
    assert.equal(t.enqueue(a, "s", 1, undefined, 0), "error_limit_mismatch");
    assert.equal(t.acquire(a, "k", 1, undefined, 0, "queue"), "error_max_locks");
  });

  test("max_locks counts idle keys until GC removes them", () => {
    const t = makeTable({ maxLocks: 2, gcMaxIdleMs: 1 * S });
    const a = t.openConnection(1);
    const h1 = holder(t.acquire(a, "k1", 1, undefined, 0, "queue"));
    holder(t.acquire(a, "k2", 2, undefined, 0, "queue"));
    t.release("k1", h1.token, 0);
    assert.equal(t.acquire(a, "k3", 1, undefined, 0, "queue"), "error_max_locks");
    assert.equal(t.enqueue(a, "k3", 1, undefined, 0), "error_max_locks");
    holder(t.acquire(a, "k1", 1, undefined, 0, "queue")); // existing keys still work
    t.release("k1", "t3", 100);
    assert.equal(t.gc(1100), 0, "idle for exactly gc_max_idle is kept");
    assert.equal(t.gc(1101), 1);
    assert.equal(t.resource("k1"), undefined);
    assert.ok(t.resource("k2") !== undefined, "keys with holders are never collected");
    holder(t.acquire(a, "k3", 1, undefined, 1101, "queue"));
  });

  test("max_waiters: full queue refuses at once, free slot is never refused", () => {
    const t = makeTable({ maxWaiters: 1 });
    const a = t.openConnection(1);
    const b = t.openConnection(2);
    const h = holder(t.acquire(a, "k", 1, undefined, 0, "queue"));
    waiter(t.acquire(b, "k", 1, undefined, 0, "queue"));
    assert.equal(t.acquire(a, "k", 1, undefined, 0, "queue"), "error_max_waiters");
    assert.equal(t.acquire(a, "k", 1, undefined, 0, "timeout"), "error_max_waiters");
    assert.equal(t.enqueue(a, "k", 1, undefined, 0), "error_max_waiters");
    assert.equal(a.records?.size ?? 0, 0, "a refused enqueue leaves no record");
    holder(t.acquire(a, "other", 1, undefined, 0, "timeout"));
    t.release("k", h.token, 1);
    assert.equal(t.resource("k")!.waiting, 0);
  });

  test("a timed-out waiter leaves the queue; a grant that came first wins", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    const h = holder(t.acquire(a, "k", 1, undefined, 0, "queue"));
    const w1 = waiter(t.acquire(t.openConnection(2), "k", 1, undefined, 0, "queue"));
    const w2 = waiter(t.acquire(t.openConnection(3), "k", 1, undefined, 0, "queue"));
    assert.equal(t.cancelWaiter(w1, 5), null);
    assert.equal(t.resource("k")!.waiting, 1);
    assert.equal(t.resource("k")!.lastActivity, 5, "a wait ending is activity");
    t.release("k", h.token, 6);
    const got = t.cancelWaiter(w2, 7);
    assert.ok(got !== null && got.token === "t2");
    assert.equal(t.resource("k")!.holderCount, 1);
  });

  test("locks are not re-entrant: the holder's own acquire queues behind itself", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    holder(t.acquire(a, "k", 1, undefined, 0, "queue"));
    waiter(t.acquire(a, "k", 1, undefined, 0, "queue"));
  });
});

describe("LockTable leases", () => {
  test("renew: explicit lease, default lease (quirk 1), unknown token or key", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    const h = holder(t.acquire(a, "k", 1, 5 * S, 0, "queue"));
    assert.equal(t.renew("k", h.token, undefined, 1000), 33 * S);
    assert.equal(h.expiry, 34 * S);
    assert.equal(t.renew("k", h.token, 100 * S, 2000), 100 * S);
    assert.equal(h.leaseMs, 5 * S, "the reported acquire lease does not change");
    assert.equal(t.renew("k", "nope", undefined, 2000), null);
    assert.equal(t.renew("x", h.token, undefined, 2000), null);
  });

  test("renew of an expired, unswept holder evicts it and grants the next waiter", () => {
    const t = makeTable();
    const g = grants();
    const a = t.openConnection(1);
    const h = holder(t.acquire(a, "k", 1, 1 * S, 0, "queue"));
    waiter(t.acquire(t.openConnection(2), "k", 1, undefined, 0, "queue", g.cb("b")));
    assert.equal(t.renew("k", h.token, undefined, 1000), null);
    assert.deepEqual(g.log, ["b:t2"]);
    assert.equal(t.release("k", h.token, 1001), false);
  });

  test("release ignores expiry until the holder is evicted (quirk 2)", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    const h = holder(t.acquire(a, "k", 1, 1 * S, 0, "queue"));
    assert.equal(t.release("k", h.token, 5000), true);
  });

  test("sweep evicts expired holders and hands the slot over", () => {
    const t = makeTable();
    const g = grants();
    const a = t.openConnection(1);
    const h = holder(t.acquire(a, "k", 1, 1 * S, 0, "queue"));
    waiter(t.acquire(t.openConnection(2), "k", 1, undefined, 10, "queue", g.cb("b")));
    t.sweep(999);
    assert.deepEqual(g.log, []);
    t.sweep(1000);
    assert.deepEqual(g.log, ["b:t2"]);
    assert.equal(h.alive, false);
    assert.equal(a.holderCount, 0);
    assert.equal(t.renew("k", h.token, undefined, 1001), null);
  });

  test("semaphore slots expire individually", () => {
    const t = makeTable();
    const g = grants();
    const a = t.openConnection(1);
    holder(t.acquire(a, "s", 2, 1 * S, 0, "queue"));
    const long = holder(t.acquire(a, "s", 2, undefined, 0, "queue"));
    waiter(t.acquire(t.openConnection(2), "s", 2, undefined, 0, "queue", g.cb("c")));
    t.sweep(1500);
    assert.deepEqual(g.log, ["c:t3"]);
    assert.equal(long.alive, true);
  });

  test("contention evicts expired holders, serving the queue before the newcomer", () => {
    const t = makeTable();
    const g = grants();
    const a = t.openConnection(1);
    holder(t.acquire(a, "k", 1, 1 * S, 0, "queue"));
    waiter(t.acquire(t.openConnection(2), "k", 1, undefined, 0, "queue", g.cb("b")));
    // No sweep ran; c's acquire evicts a and b gets the lock, c times out.
    assert.equal(t.acquire(t.openConnection(3), "k", 1, undefined, 1400, "timeout"), "timeout");
    assert.deepEqual(g.log, ["b:t2"]);
    holder(t.acquire(a, "k2", 1, 1 * S, 2000, "queue"));
    holder(t.enqueue(t.openConnection(3), "k2", 1, undefined, 3200));
  });

  test("sweep skips cheaply when nothing can have expired and stays correct after renew", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    const h = holder(t.acquire(a, "k", 1, 1 * S, 0, "queue"));
    t.renew("k", h.token, 10 * S, 500);
    t.sweep(1500);
    assert.equal(h.alive, true);
    t.sweep(10_500);
    assert.equal(h.alive, false);
  });
});

describe("LockTable two-phase", () => {
  test("e on a free key acquires; w returns the same token and resets the lease", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    const h = holder(t.enqueue(a, "k", 1, 6 * S, 0));
    assert.equal(t.enqueue(a, "k", 1, undefined, 0), "error_already_enqueued");
    assert.equal(
      t.enqueue(a, "k", 3, undefined, 0),
      "error_already_enqueued",
      "wins over mismatch",
    );
    const got = holder(t.wait(a, "k", 2000));
    assert.equal(got, h);
    assert.equal(h.expiry, 8000);
    assert.equal(t.wait(a, "k", 2000), "error_not_enqueued");
  });

  test("already-enqueued is checked before max_locks", () => {
    const t = makeTable({ maxLocks: 1 });
    const a = t.openConnection(1);
    holder(t.enqueue(a, "k", 1, undefined, 0));
    assert.equal(t.enqueue(a, "k", 1, undefined, 0), "error_already_enqueued");
    assert.equal(t.enqueue(a, "k2", 1, undefined, 0), "error_max_locks");
  });

  test("another connection's enqueue does not count for w", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    const b = t.openConnection(2);
    holder(t.enqueue(b, "k", 1, undefined, 0));
    assert.equal(t.wait(a, "k", 0), "error_not_enqueued");
  });

  test("queued enqueuer is granted before w; w answers ok with the enqueue's lease", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    const b = t.openConnection(2);
    const h = holder(t.acquire(a, "k", 1, undefined, 0, "queue"));
    const w = waiter(t.enqueue(b, "k", 1, 12 * S, 0));
    t.release("k", h.token, 1000);
    assert.ok(w.holder !== null, "granted without w");
    assert.equal(w.holder.owner, b);
    assert.equal(t.acquire(t.openConnection(3), "k", 1, undefined, 1000, "timeout"), "timeout");
    const got = holder(t.wait(b, "k", 3000));
    assert.equal(got.token, "t2");
    assert.equal(got.expiry, 15_000);
    assert.equal(got.leaseMs, 12 * S);
  });

  test("w on a still-queued enqueue blocks; timeout removes record and waiter (quirk 5)", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    const b = t.openConnection(2);
    const h = holder(t.acquire(a, "k", 1, undefined, 0, "queue"));
    holder(t.enqueue(b, "other", 1, undefined, 0));
    const w = waiter(t.enqueue(b, "k", 1, undefined, 0));
    assert.equal(t.wait(b, "k", 1), w);
    assert.equal(t.cancelWaiter(w, 2), null);
    assert.equal(t.wait(b, "k", 3), "error_not_enqueued");
    assert.ok(b.records?.has("other"), "other keys' records are independent");
    t.release("k", h.token, 4);
    assert.equal(t.resource("k")!.holderCount, 0, "the timed-out enqueuer is not granted");
  });

  test("blocked w is granted through onGrant and collect drops the record", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    const b = t.openConnection(2);
    const h = holder(t.acquire(a, "k", 1, undefined, 0, "queue"));
    const w = waiter(t.enqueue(b, "k", 1, 4 * S, 0));
    let granted = false;
    w.onGrant = () => granted = true;
    t.release("k", h.token, 100);
    assert.ok(granted);
    const got = t.collect(w, 150);
    assert.equal(got.expiry, 4150);
    assert.equal(b.records?.size ?? 0, 0);
  });

  test("acquired lease expired but unswept: w evicts and answers error_lease_expired", () => {
    const t = makeTable();
    const g = grants();
    const a = t.openConnection(1);
    holder(t.enqueue(a, "k", 1, 1 * S, 0));
    waiter(t.acquire(t.openConnection(2), "k", 1, undefined, 0, "queue", g.cb("b")));
    assert.equal(t.wait(a, "k", 1300), "error_lease_expired");
    assert.deepEqual(g.log, ["b:t2"]);
    assert.equal(t.wait(a, "k", 1300), "error_not_enqueued");
  });

  test("acquired lease swept before w: the record is gone (quirk 4)", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    const h = holder(t.enqueue(a, "k", 1, 1 * S, 0));
    t.sweep(2000);
    assert.equal(t.wait(a, "k", 2700), "error_not_enqueued");
    assert.equal(t.release("k", h.token, 2700), false);
  });

  test("releasing an acquired token drops its enqueue record", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    const h = holder(t.enqueue(a, "k", 1, undefined, 0));
    t.release("k", h.token, 1);
    assert.equal(t.wait(a, "k", 2), "error_not_enqueued");
    holder(t.enqueue(a, "k", 1, undefined, 3));
  });

  test("a grant swept before w still yields its dead token (quirk 3)", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    const b = t.openConnection(2);
    const h = holder(t.acquire(a, "k", 1, undefined, 0, "queue"));
    waiter(t.enqueue(b, "k", 1, 1 * S, 0));
    t.release("k", h.token, 0);
    t.sweep(1500);
    const got = holder(t.wait(b, "k", 2000));
    assert.equal(got.token, "t2");
    assert.equal(got.alive, false);
    assert.equal(t.release("k", got.token, 2000), false);
  });

  test("negative enqueue lease (3.4 wrap) is accepted and already expired", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    const h = holder(t.enqueue(a, "k", 1, -9223372036854.775, 10));
    assert.ok(h.expiry < 10);
    assert.equal(t.wait(a, "k", 10), "error_lease_expired");
  });

  test("waiters of l and e share one FIFO queue", () => {
    const t = makeTable();
    const g = grants();
    const a = t.openConnection(1);
    const h = holder(t.acquire(a, "k", 1, undefined, 0, "queue"));
    const eb = waiter(t.enqueue(t.openConnection(2), "k", 1, undefined, 0));
    waiter(t.acquire(t.openConnection(3), "k", 1, undefined, 0, "queue", g.cb("c")));
    t.release("k", h.token, 1);
    assert.ok(eb.holder !== null);
    assert.deepEqual(g.log, []);
    t.release("k", eb.holder.token, 2);
    assert.deepEqual(g.log, ["c:t3"]);
  });
});

describe("LockTable disconnect", () => {
  function setup(): { t: LockTable; a: TableConn; log: string[]; d: Waiter } {
    const t = makeTable();
    const g = grants();
    const a = t.openConnection(1);
    holder(t.acquire(a, "k1", 1, undefined, 0, "queue"));
    holder(t.acquire(a, "s1", 1, undefined, 0, "queue"));
    holder(t.enqueue(a, "k2", 1, undefined, 0));
    waiter(t.acquire(t.openConnection(2), "k1", 1, undefined, 0, "queue", g.cb("b")));
    waiter(t.acquire(t.openConnection(3), "s1", 1, undefined, 0, "queue", g.cb("c")));
    const d = waiter(t.enqueue(t.openConnection(4), "k2", 1, undefined, 0));
    return { t, a, log: g.log, d };
  }

  test("auto-release frees every slot (including acquired enqueues) to waiters", () => {
    const { t, a, log, d } = setup();
    t.disconnect(a, 10, true);
    assert.deepEqual(log, ["b:t4", "c:t5"]);
    assert.equal(d.holder!.token, "t6");
    assert.equal(a.holderCount, 0);
    assert.equal(a.records?.size ?? 0, 0);
  });

  test("without auto-release held slots stay until their leases expire", () => {
    const { t, a, log } = setup();
    t.disconnect(a, 10, false);
    assert.deepEqual(log, []);
    assert.equal(t.resource("k1")!.holderCount, 1);
    const stats = t.stats(20, 3);
    assert.equal(stats.locks.find((l) => l.key === "k1")!.ownerConnId, 1);
    t.sweep(33 * S);
    assert.deepEqual(log, ["b:t4", "c:t5"]);
  });

  test("waiters and enqueue records of the closing connection are always dropped", () => {
    for (const autoRelease of [true, false]) {
      const t = makeTable();
      const a = t.openConnection(1);
      const b = t.openConnection(2);
      const c = t.openConnection(3);
      const g = grants();
      const h = holder(t.acquire(a, "k", 1, undefined, 0, "queue"));
      waiter(t.enqueue(b, "k", 1, undefined, 0));
      waiter(t.acquire(b, "k", 1, undefined, 0, "queue", g.cb("b")));
      waiter(t.acquire(c, "k", 1, undefined, 0, "queue", g.cb("c")));
      t.disconnect(b, 1, autoRelease);
      assert.equal(t.resource("k")!.waiting, 1);
      assert.equal(b.records?.size ?? 0, 0);
      t.release("k", h.token, 2);
      assert.deepEqual(g.log, ["c:t2"]);
    }
  });
});

describe("LockTable activity, GC and stats", () => {
  test("activity rules: failed release counts, limit mismatch and stats do not", () => {
    const t = makeTable({ gcMaxIdleMs: 1 * S });
    const a = t.openConnection(1);
    const h = holder(t.acquire(a, "k", 1, undefined, 0, "queue"));
    t.release("k", h.token, 100);
    t.release("k", "bogus", 500);
    assert.equal(t.resource("k")!.lastActivity, 500);
    t.renew("k", "bogus", undefined, 600);
    assert.equal(t.resource("k")!.lastActivity, 600);
    assert.equal(t.acquire(a, "k", 2, undefined, 900, "queue"), "error_limit_mismatch");
    t.stats(950, 1);
    assert.equal(t.resource("k")!.lastActivity, 600);
    assert.equal(t.gc(1600), 0);
    assert.equal(t.gc(1601), 1);
  });

  test("keys with waiters are never collected", () => {
    const t = makeTable({ gcMaxIdleMs: 1 });
    const a = t.openConnection(1);
    holder(t.acquire(a, "k", 1, 10_000 * S, 0, "queue"));
    waiter(t.acquire(t.openConnection(2), "k", 1, undefined, 0, "queue"));
    assert.equal(t.gc(1_000_000), 0);
  });

  test("the limit persists on an idle key until GC (quirk 6)", () => {
    const t = makeTable({ gcMaxIdleMs: 1 * S });
    const a = t.openConnection(1);
    const h = holder(t.acquire(a, "s", 2, undefined, 0, "queue"));
    t.release("s", h.token, 0);
    assert.equal(t.acquire(a, "s", 5, undefined, 10, "queue"), "error_limit_mismatch");
    t.gc(2000);
    holder(t.acquire(a, "s", 5, undefined, 2000, "queue"));
  });

  test("stats classifies by limit and reports owners, leases, waiters and idle time", () => {
    const t = makeTable();
    const a = t.openConnection(7);
    const c = t.openConnection(9);
    holder(t.acquire(a, "lk", 1, 20 * S, 0, "queue"));
    waiter(t.acquire(c, "lk", 1, undefined, 0, "queue"));
    holder(t.acquire(c, "sem", 3, undefined, 0, "queue"));
    holder(t.acquire(a, "sem", 3, undefined, 0, "queue"));
    const e = holder(t.acquire(a, "sem2", 2, undefined, 0, "queue"));
    t.release("sem2", e.token, 1000);
    const f = holder(t.acquire(a, "old", 1, undefined, 0, "queue"));
    t.release("old", f.token, 1500);
    holder(t.acquire(a, "one", 1, 1 * S, 0, "queue")); // expired, unswept
    const s = t.stats(5000, 4);
    assert.equal(s.connections, 4);
    assert.deepEqual(
      s.locks.sort((x, y) => x.key < y.key ? -1 : 1),
      [
        { key: "lk", ownerConnId: 7, leaseExpiresInS: 15, waiters: 1 },
        { key: "one", ownerConnId: 7, leaseExpiresInS: 0, waiters: 0 },
      ],
    );
    assert.deepEqual(s.semaphores, [{ key: "sem", limit: 3, holders: 2, waiters: 0 }]);
    assert.deepEqual(s.idleLocks, [{ key: "old", idleS: 3.5 }]);
    assert.deepEqual(s.idleSemaphores, [{ key: "sem2", idleS: 4 }]);
  });

  test("a limit-1 semaphore is a lock; a waiting-only lock reports owner 0", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    holder(t.acquire(a, "k", 1, undefined, 0, "queue"));
    assert.equal(t.stats(0, 1).locks.length, 1);
    assert.deepEqual(t.stats(0, 1), {
      connections: 1,
      locks: [{ key: "k", ownerConnId: 1, leaseExpiresInS: 33, waiters: 0 }],
      semaphores: [],
      idleLocks: [],
      idleSemaphores: [],
    });
  });

  test("textStats decodes the byte-string keys; stats keeps them for the wire", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    const utf8 = (text: string): string => String.fromCharCode(...new TextEncoder().encode(text));
    holder(t.acquire(a, utf8("ключ"), 1, undefined, 0, "queue"));
    holder(t.acquire(a, utf8("信号🚦"), 2, undefined, 0, "queue"));
    const idle = holder(t.acquire(a, "\xffx", 1, undefined, 0, "queue")); // invalid UTF-8
    t.release("\xffx", idle.token, 0);
    const text = t.textStats(0, 1);
    assert.deepEqual(text.locks.map((l) => l.key), ["ключ"]);
    assert.deepEqual(text.semaphores.map((s) => s.key), ["信号🚦"]);
    assert.deepEqual(text.idleLocks.map((i) => i.key), ["\ufffdx"]);
    const wire = t.stats(0, 1);
    assert.deepEqual(wire.locks.map((l) => l.key), [utf8("ключ")]);
    assert.deepEqual(wire.idleLocks.map((i) => i.key), ["\xffx"]);
    // Everything but the keys is the same.
    assert.deepEqual({ ...text.locks[0], key: "" }, { ...wire.locks[0], key: "" });
  });

  test("limits beyond 2^53 compare exactly and are reported exactly", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    // 2^53 + 1 and 2^53 are the same double but different int64s.
    holder(t.acquire(a, "s", 9007199254740993n, undefined, 0, "queue"));
    assert.equal(
      t.acquire(a, "s", 9007199254740992n, undefined, 0, "queue"),
      "error_limit_mismatch",
    );
    assert.equal(t.enqueue(a, "s", 9007199254740992, undefined, 0), "error_limit_mismatch");
    holder(t.acquire(a, "s", 9007199254740993n, undefined, 0, "queue"));
    holder(t.acquire(a, "max", 9223372036854775807n, undefined, 0, "queue"));
    const sems = t.stats(0, 1).semaphores.sort((x, y) => x.key < y.key ? -1 : 1);
    assert.deepEqual(sems, [
      { key: "max", limit: 9223372036854775807n, holders: 1, waiters: 0 },
      { key: "s", limit: 9007199254740993n, holders: 2, waiters: 0 },
    ]);
  });

  test("a late w collecting a swept grant is activity: idle time and GC start again", () => {
    const t = makeTable({ gcMaxIdleMs: 5 * S });
    const a = t.openConnection(1);
    const b = t.openConnection(2);
    const h = holder(t.acquire(a, "k", 1, undefined, 0, "queue"));
    waiter(t.enqueue(b, "k", 1, 1 * S, 0));
    t.release("k", h.token, 100); // granted to b, lease until 1100
    t.sweep(2000); // evicted: activity at 2000
    assert.equal(t.resource("k")!.lastActivity, 2000);
    const dead = holder(t.wait(b, "k", 6500));
    assert.equal(dead.alive, false);
    assert.equal(t.resource("k")!.lastActivity, 6500);
    assert.deepEqual(t.stats(6510, 2).idleLocks, [{ key: "k", idleS: 0.01 }]);
    assert.equal(t.gc(7001), 0, "idle since the w, not since the eviction");
    assert.equal(t.gc(11_501), 1);
  });

  test("w that collects a live grant, blocked or not, is activity too", () => {
    const t = makeTable();
    const a = t.openConnection(1);
    const b = t.openConnection(2);
    const mine = holder(t.enqueue(a, "e", 1, undefined, 0));
    assert.equal(holder(t.wait(a, "e", 700)), mine);
    assert.equal(t.resource("e")!.lastActivity, 700);
    const h = holder(t.acquire(a, "k", 1, undefined, 0, "queue"));
    const w = waiter(t.enqueue(b, "k", 1, undefined, 0));
    assert.equal(t.wait(b, "k", 10), w, "still queued: the caller blocks");
    t.release("k", h.token, 300);
    assert.equal(t.collect(w, 900).token, w.holder!.token);
    assert.equal(t.resource("k")!.lastActivity, 900);
  });

  test("a late w whose key was collected and created anew touches the new key", () => {
    const t = makeTable({ gcMaxIdleMs: 1 * S });
    const a = t.openConnection(1);
    const b = t.openConnection(2);
    const h = holder(t.acquire(a, "k", 1, undefined, 0, "queue"));
    waiter(t.enqueue(b, "k", 1, 1 * S, 0));
    t.release("k", h.token, 0);
    t.sweep(1000);
    assert.equal(t.gc(2001), 1);
    const fresh = holder(t.acquire(a, "k", 1, undefined, 3000, "queue"));
    t.release("k", fresh.token, 3000);
    const dead = holder(t.wait(b, "k", 4000));
    assert.equal(dead.alive, false);
    assert.equal(t.resource("k")!.lastActivity, 4000);
  });

  test("empty table gives empty arrays", () => {
    assert.deepEqual(makeTable().stats(0, 0), {
      connections: 0,
      locks: [],
      semaphores: [],
      idleLocks: [],
      idleSemaphores: [],
    });
  });
});

describe("fencing tokens", () => {
  test("strictly increasing across grants of every kind, first = seed + 1", () => {
    const t = makeTable({ newToken: createTokenGenerator({ seed: 1000n }) });
    const a = t.openConnection(1);
    const tokens: string[] = [];
    const h = holder(t.acquire(a, "k", 1, undefined, 0, "queue"));
    tokens.push(h.token);
    const w = waiter(t.acquire(t.openConnection(2), "k", 1, undefined, 0, "queue"));
    tokens.push(holder(t.enqueue(a, "e", 1, undefined, 0)).token);
    t.release("k", h.token, 1);
    tokens.push(w.holder!.token);
    tokens.push(holder(t.acquire(a, "s", 2, undefined, 0, "queue")).token);
    assert.equal(fenceOf(tokens[0]!), 1001n);
    for (let i = 1; i < tokens.length; i++) {
      assert.ok(tokens[i]! > tokens[i - 1]!);
      assert.equal(fenceOf(tokens[i]!), fenceOf(tokens[i - 1]!) + 1n);
    }
  });

  test("layout: 32 lowercase hex, 16-hex big-endian counter, carries across 32 bits", () => {
    const next = createTokenGenerator({ seed: 0xffff_fffen, random: (b) => b.fill(0xab) });
    assert.equal(next(), "00000000ffffffff" + "ab".repeat(8));
    assert.equal(next(), "0000000100000000" + "ab".repeat(8));
    const real = createTokenGenerator();
    const tok = real();
    assert.match(tok, /^[0-9a-f]{32}$/);
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const diff = fenceOf(tok) - nowNs;
    assert.ok(diff < 5_000_000_000n && diff > -5_000_000_000n, "seeded from wall-clock ns");
    assert.notEqual(real().slice(16), real().slice(16), "random salt");
  });

  test("a seed outside uint64 is a RangeError; past the last token the generator throws a RangeError instead of wrapping", () => {
    assert.throws(() => createTokenGenerator({ seed: -1n }), RangeError);
    assert.throws(() => createTokenGenerator({ seed: 1n << 64n }), RangeError);
    const next = createTokenGenerator({ seed: 0xffff_ffff_ffff_fffen });
    assert.equal(next().slice(0, 16), "ffffffffffffffff");
    assert.throws(() => next(), RangeError);
  });
});
