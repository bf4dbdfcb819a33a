import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startTestServer } from "../_helpers/server.ts";
import { connect } from "../../src/client/connection.ts";
import {
  acquire,
  auth,
  enqueue,
  MAX_SEMAPHORE_LIMIT,
  ping,
  release,
  renew,
  semAcquire,
  semEnqueue,
  semRelease,
  semRenew,
  semWait,
  stats,
  wait,
  waitForLock,
} from "../../src/client/low_level.ts";
import type { Requester } from "../../src/client/low_level.ts";
import {
  AcquireTimeoutError,
  AlreadyEnqueuedError,
  AuthError,
  DflockError,
  DrainingError,
  LeaseExpiredError,
  LimitMismatchError,
  MaxLocksError,
  MaxWaitersError,
  NotEnqueuedError,
  NotLeaderError,
  ProtocolError,
} from "../../src/errors.ts";
import { startScriptedPeer } from "./_scripted_peer.ts";
import type { Step } from "./_scripted_peer.ts";

const TOKEN_RE = /^[0-9a-f]{32}$/;

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A requester that records calls and never answers: proves nothing was sent. */
function recorder(): Requester & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    request(command, key, arg) {
      calls.push([command, key, arg]);
      return Promise.resolve("error");
    },
  };
}

/** Runs `fn` against a scripted peer answering `steps`. */
async function withPeer(
  steps: Step[],
  fn: (conn: Awaited<ReturnType<typeof connect>>) => Promise<void>,
): Promise<void> {
  await using peer = await startScriptedPeer(steps);
  await using conn = await connect({ port: peer.port });
  await fn(conn);
}

describe("lock functions against the real server", () => {
  test("acquire / renew / release", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using conn = await connect({ port: server.addr.port });
    const g = await acquire(conn, "k", 5);
    assert.match(g.token, TOKEN_RE);
    assert.equal(g.lease, 33);
    const leased = await acquire(conn, "k2", 0, { leaseTtlS: 60 });
    assert.equal(leased.lease, 60);
    assert.equal(await renew(conn, "k", g.token, 90), 90);
    assert.equal(await renew(conn, "k", g.token), 33);
    const lock = (await stats(conn)).locks.find((l) => l.key === "k");
    assert.ok(lock !== undefined && lock.leaseExpiresInS > 30 && lock.leaseExpiresInS <= 33);
    await release(conn, "k", g.token);
    await release(conn, "k2", leased.token);
    assert.equal(server.stats().locks.length, 0);
  });

  test("acquire timeout -> AcquireTimeoutError", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using a = await connect({ port: server.addr.port });
    await using b = await connect({ port: server.addr.port });
    await acquire(a, "busy", 0);
    await assert.rejects(
      acquire(b, "busy", 0),
      (e) => e instanceof AcquireTimeoutError && e.code === "timeout" && /"busy"/.test(e.message),
    );
  });

  test("release / renew with an unknown token -> DflockError code error", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using conn = await connect({ port: server.addr.port });
    const bogus = "0".repeat(32);
    await assert.rejects(
      release(conn, "k", bogus),
      (e) => e instanceof DflockError && e.constructor === DflockError && e.code === "error",
    );
    await assert.rejects(
      renew(conn, "k", bogus),
      (e) => e instanceof DflockError && e.code === "error",
    );
    await assert.rejects(semRelease(conn, "k", bogus), DflockError);
    await assert.rejects(semRenew(conn, "k", bogus, 5), DflockError);
  });

  test("enqueue acquired, then wait returns the same token", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using conn = await connect({ port: server.addr.port });
    const r = await enqueue(conn, "two", { leaseTtlS: 40 });
    assert.equal(r.status, "acquired");
    assert.match(r.token!, TOKEN_RE);
    assert.equal(r.lease, 40);
    const w = await wait(conn, "two", 0);
    assert.deepEqual(w, { token: r.token, lease: 40 });
    await release(conn, "two", w.token);
  });

  test("enqueue queued, granted on release, collected by waitForLock", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using a = await connect({ port: server.addr.port });
    await using b = await connect({ port: server.addr.port });
    const held = await acquire(a, "q", 0);
    const r = await enqueue(b, "q");
    assert.deepEqual(r, { status: "queued" });
    const waiting = waitForLock(b, "q", 5);
    await until(() => server.stats().locks.some((l) => l.key === "q" && l.waiters === 1));
    await release(a, "q", held.token);
    const g = await waiting;
    assert.match(g.token, TOKEN_RE);
    assert.notEqual(g.token, held.token);
  });

  test("wait timeout -> AcquireTimeoutError; wait without enqueue -> NotEnqueuedError", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using a = await connect({ port: server.addr.port });
    await using b = await connect({ port: server.addr.port });
    await acquire(a, "w", 0);
    assert.equal((await enqueue(b, "w")).status, "queued");
    await assert.rejects(wait(b, "w", 0), AcquireTimeoutError);
    await assert.rejects(
      wait(b, "w", 0),
      (e) => e instanceof NotEnqueuedError && e.code === "error_not_enqueued",
    );
    await assert.rejects(semWait(b, "other", 0), NotEnqueuedError);
  });

  test("second enqueue -> AlreadyEnqueuedError", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using conn = await connect({ port: server.addr.port });
    await enqueue(conn, "dup");
    await assert.rejects(
      enqueue(conn, "dup"),
      (e) => e instanceof AlreadyEnqueuedError && e.code === "error_already_enqueued",
    );
    await semEnqueue(conn, "sdup", 2);
    await assert.rejects(semEnqueue(conn, "sdup", 2), AlreadyEnqueuedError);
  });

  test("max locks -> MaxLocksError", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2, maxLocks: 1 });
    await using conn = await connect({ port: server.addr.port });
    await acquire(conn, "one", 0);
    await assert.rejects(
      acquire(conn, "two", 0),
      (e) => e instanceof MaxLocksError && e.code === "error_max_locks",
    );
    await assert.rejects(enqueue(conn, "two"), MaxLocksError);
    await assert.rejects(semAcquire(conn, "two", 0, 2), MaxLocksError);
    await assert.rejects(semEnqueue(conn, "two", 2), MaxLocksError);
  });

  test("max waiters -> MaxWaitersError", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2, maxWaiters: 1 });
    await using a = await connect({ port: server.addr.port });
    await using b = await connect({ port: server.addr.port });
    await using c = await connect({ port: server.addr.port });
    await acquire(a, "mw", 0);
    assert.equal((await enqueue(b, "mw")).status, "queued");
    await assert.rejects(
      acquire(c, "mw", 5),
      (e) => e instanceof MaxWaitersError && e.code === "error_max_waiters",
    );
    await assert.rejects(enqueue(c, "mw"), MaxWaitersError);
  });

  test("lease expired before wait -> LeaseExpiredError", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2, leaseSweepInterval: 3600 });
    await using conn = await connect({ port: server.addr.port });
    const r = await enqueue(conn, "exp", { leaseTtlS: 1 });
    assert.equal(r.status, "acquired");
    // The lease clock runs on the server: wait until it has certainly run out.
    await new Promise((res) => setTimeout(res, 1100));
    await assert.rejects(
      wait(conn, "exp", 0),
      (e) => e instanceof LeaseExpiredError && e.code === "error_lease_expired",
    );
  });
});

describe("semaphore functions against the real server", () => {
  test("semAcquire up to the limit, semRenew, semRelease", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using conn = await connect({ port: server.addr.port });
    const a = await semAcquire(conn, "pool", 0, 2);
    const b = await semAcquire(conn, "pool", 0, 2, { leaseTtlS: 50 });
    assert.equal(b.lease, 50);
    assert.notEqual(a.token, b.token);
    await assert.rejects(semAcquire(conn, "pool", 0, 2), AcquireTimeoutError);
    const s = await stats(conn);
    assert.deepEqual(s.semaphores, [{ key: "pool", limit: 2, holders: 2, waiters: 0 }]);
    assert.equal(await semRenew(conn, "pool", a.token, 70), 70);
    assert.equal(await semRenew(conn, "pool", b.token), 33);
    await semRelease(conn, "pool", a.token);
    await semRelease(conn, "pool", b.token);
  });

  test("limit mismatch -> LimitMismatchError", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using conn = await connect({ port: server.addr.port });
    await semAcquire(conn, "lim", 0, 2);
    await assert.rejects(
      semAcquire(conn, "lim", 0, 3),
      (e) => e instanceof LimitMismatchError && e.code === "error_limit_mismatch",
    );
    await assert.rejects(semEnqueue(conn, "lim", 5), LimitMismatchError);
  });

  test("semEnqueue queued, semWait collects after release", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using a = await connect({ port: server.addr.port });
    await using b = await connect({ port: server.addr.port });
    const held = await semAcquire(a, "sq", 0, 1);
    assert.deepEqual(await semEnqueue(b, "sq", 1, { leaseTtlS: 9 }), { status: "queued" });
    await semRelease(a, "sq", held.token);
    const g = await semWait(b, "sq", 5);
    assert.equal(g.lease, 9);
    assert.match(g.token, TOKEN_RE);
  });

  test("semEnqueue acquired and semWait timeout", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using a = await connect({ port: server.addr.port });
    await using b = await connect({ port: server.addr.port });
    const r = await semEnqueue(a, "st", 1);
    assert.equal(r.status, "acquired");
    assert.equal((await semEnqueue(b, "st", 1)).status, "queued");
    await assert.rejects(semWait(b, "st", 0), AcquireTimeoutError);
  });
});

describe("stats, auth, ping", () => {
  test("stats is typed with camelCase fields", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2, leaseSweepInterval: 3600 });
    await using a = await connect({ port: server.addr.port });
    await using b = await connect({ port: server.addr.port });
    await acquire(a, "held", 0, { leaseTtlS: 20 });
    await enqueue(b, "held");
    await semAcquire(a, "idle-sem", 0, 3).then((g) => semRelease(a, "idle-sem", g.token));
    await acquire(a, "idle-lock", 0).then((g) => release(a, "idle-lock", g.token));
    const s = await stats(a);
    assert.equal(s.connections, 2);
    assert.equal(s.locks.length, 1);
    const l = s.locks[0]!;
    assert.equal(l.key, "held");
    assert.equal(l.waiters, 1);
    assert.ok(l.ownerConnId > 0);
    assert.ok(l.leaseExpiresInS > 18 && l.leaseExpiresInS <= 20);
    assert.deepEqual(s.semaphores, []);
    assert.deepEqual(s.idleLocks.map((i) => i.key), ["idle-lock"]);
    assert.deepEqual(s.idleSemaphores.map((i) => i.key), ["idle-sem"]);
    assert.equal(typeof s.idleLocks[0]!.idleS, "number");
  });

  test("auth ok; auth wrong -> AuthError", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2, authToken: "tok" });
    await using good = await connect({ port: server.addr.port });
    await auth(good, "tok");
    assert.equal(await ping(good), true);
    await using bad = await connect({ port: server.addr.port });
    await assert.rejects(
      auth(bad, "nope"),
      (e) => e instanceof AuthError && e.code === "error_auth",
    );
    await assert.rejects(auth(bad, "a\nb"), TypeError);
  });

  test("ping against the real server -> true", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using conn = await connect({ port: server.addr.port });
    assert.equal(await ping(conn), true);
  });
});

describe("local validation (nothing is sent)", () => {
  const t = "0123456789abcdef0123456789abcdef";
  const cases: [string, (r: Requester) => Promise<unknown>, ErrorConstructor][] = [
    ["empty key", (r) => acquire(r, "", 1), TypeError],
    ["key with space", (r) => acquire(r, "a b", 1), TypeError],
    ["key with tab", (r) => enqueue(r, "a\tb"), TypeError],
    ["key with CR", (r) => wait(r, "a\rb", 1), TypeError],
    ["key with LF", (r) => release(r, "a\nb", t), TypeError],
    ["key too long", (r) => acquire(r, "k".repeat(257), 1), RangeError],
    ["non-string key", (r) => acquire(r, 5 as unknown as string, 1), TypeError],
    ["negative timeout", (r) => acquire(r, "k", -1), RangeError],
    ["fractional timeout", (r) => acquire(r, "k", 1.5), RangeError],
    ["NaN timeout", (r) => wait(r, "k", NaN), RangeError],
    ["string timeout", (r) => acquire(r, "k", "1" as unknown as number), TypeError],
    ["huge timeout", (r) => semWait(r, "k", 9223372037), RangeError],
    ["lease 0", (r) => acquire(r, "k", 1, { leaseTtlS: 0 }), RangeError],
    ["fractional lease", (r) => enqueue(r, "k", { leaseTtlS: 2.5 }), RangeError],
    ["renew lease 0", (r) => renew(r, "k", t, 0), RangeError],
    ["semRenew negative lease", (r) => semRenew(r, "k", t, -3), RangeError],
    ["limit 0", (r) => semAcquire(r, "k", 1, 0), RangeError],
    ["limit too big", (r) => semAcquire(r, "k", 1, MAX_SEMAPHORE_LIMIT + 1), RangeError],
    ["fractional limit", (r) => semEnqueue(r, "k", 1.5), RangeError],
    ["string limit", (r) => semEnqueue(r, "k", "2" as unknown as number), TypeError],
    ["empty token", (r) => release(r, "k", ""), TypeError],
    ["token with space", (r) => semRelease(r, "k", "a b"), TypeError],
    ["auth token with CR", (r) => auth(r, "a\rb"), TypeError],
  ];
  for (const [name, fn, type] of cases) {
    test(`${name} -> ${type.name}`, async () => {
      const r = recorder();
      await assert.rejects(fn(r), type);
      assert.deepEqual(r.calls, []);
    });
  }

  test("the encoded arguments are what the server expects", async () => {
    const r = recorder();
    const attempts = [
      acquire(r, "k", 10),
      acquire(r, "k", 0, { leaseTtlS: 5 }),
      enqueue(r, "k"),
      enqueue(r, "k", { leaseTtlS: 7 }),
      wait(r, "k", 3),
      renew(r, "k", t),
      renew(r, "k", t, 8),
      semAcquire(r, "k", 10, 3),
      semAcquire(r, "k", 10, MAX_SEMAPHORE_LIMIT, { leaseTtlS: 4 }),
      semEnqueue(r, "k", 2),
      semEnqueue(r, "k", 2, { leaseTtlS: 6 }),
      semWait(r, "k", 0),
      semRelease(r, "k", t),
      semRenew(r, "k", t, 9),
      release(r, "k", t),
      stats(r),
      ping(r),
      auth(r, "secret"),
    ];
    await Promise.allSettled(attempts);
    assert.deepEqual(r.calls, [
      ["l", "k", "10"],
      ["l", "k", "0 5"],
      ["e", "k", ""],
      ["e", "k", "7"],
      ["w", "k", "3"],
      ["n", "k", t],
      ["n", "k", `${t} 8`],
      ["sl", "k", "10 3"],
      ["sl", "k", `10 ${MAX_SEMAPHORE_LIMIT} 4`],
      ["se", "k", "2"],
      ["se", "k", "2 6"],
      ["sw", "k", "0"],
      ["sr", "k", t],
      ["sn", "k", `${t} 9`],
      ["r", "k", t],
      ["stats", "_", ""],
      ["ping", "_", "_"],
      ["auth", "_", "secret"],
    ]);
  });
});

describe("reply mapping with a scripted peer", () => {
  test("`error` for ping -> false (v1.10 server)", async () => {
    await withPeer(["error\n"], async (conn) => {
      assert.equal(await ping(conn), false);
      assert.equal(conn.isClosed, false);
    });
  });

  test("error_not_leader with address -> NotLeaderError with leader", async () => {
    await withPeer(["error_not_leader 127.0.0.1:7000\n", "error_not_leader\n"], async (conn) => {
      await assert.rejects(
        acquire(conn, "k", 1),
        (e) =>
          e instanceof NotLeaderError && e.leader === "127.0.0.1:7000" &&
          e.code === "error_not_leader",
      );
      await assert.rejects(
        release(conn, "k", "0".repeat(32)),
        (e) => e instanceof NotLeaderError && e.leader === undefined,
      );
    });
  });

  test("unknown error_xyz -> DflockError with code error_xyz", async () => {
    await withPeer(["error_xyz\n", "error_xyz\n"], async (conn) => {
      await assert.rejects(
        acquire(conn, "k", 1),
        (e) => e instanceof DflockError && e.constructor === DflockError && e.code === "error_xyz",
      );
      await assert.rejects(ping(conn), (e) => e instanceof DflockError && e.code === "error_xyz");
    });
  });

  test("error_draining -> DrainingError", async () => {
    await withPeer(["error_draining\n"], async (conn) => {
      await assert.rejects(enqueue(conn, "k"), DrainingError);
    });
  });

  test("malformed success lines -> ProtocolError carrying the line", async () => {
    const steps: Step[] = [
      "ok nonsense\n",
      "ok 0123456789abcdef0123456789abcdef x\n",
      "acquired\n",
      "ok\n",
      "ok {not json\n",
      "hello\n",
      "queued extra\n",
    ];
    await withPeer(steps, async (conn) => {
      const t = "0123456789abcdef0123456789abcdef";
      await assert.rejects(
        acquire(conn, "k", 1),
        (e) => e instanceof ProtocolError && e.line === "ok nonsense",
      );
      await assert.rejects(wait(conn, "k", 1), ProtocolError);
      await assert.rejects(enqueue(conn, "k"), ProtocolError);
      await assert.rejects(renew(conn, "k", t), ProtocolError);
      await assert.rejects(stats(conn), ProtocolError);
      await assert.rejects(release(conn, "k", t), ProtocolError);
      await assert.rejects(semEnqueue(conn, "k", 2), ProtocolError);
    });
  });

  test("stats with wrongly typed fields -> ProtocolError", async () => {
    await withPeer(['ok {"connections":"x"}\n', 'ok {"connections":1,"locks":{}}\n'], async (c) => {
      await assert.rejects(stats(c), ProtocolError);
      await assert.rejects(stats(c), ProtocolError);
    });
  });

  test("a lenient stats reply (missing arrays) still types", async () => {
    await withPeer(['ok {"connections":3,"locks":null}\n'], async (conn) => {
      assert.deepEqual(await stats(conn), {
        connections: 3,
        locks: [],
        semaphores: [],
        idleLocks: [],
        idleSemaphores: [],
      });
    });
  });
});
