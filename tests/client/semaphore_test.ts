import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  acquireSemaphore,
  AcquireTimeoutError,
  DflockError,
  DistributedSemaphore,
  LeaseLostError,
  LimitMismatchError,
} from "../../mod.ts";
import { eventually, waitersOf, withServer } from "./_lease_helpers.ts";
import { startScriptedPeer } from "./_scripted_peer.ts";

function holders(server: { stats(): { semaphores: { key: string; holders: number }[] } }) {
  return (key: string): number =>
    server.stats().semaphores.find((s) => s.key === key)?.holders ?? 0;
}

describe("DistributedSemaphore", () => {
  test("limit 3, six contenders: never more than 3 holders, all six finish", async () => {
    await withServer({}, async (server, addr) => {
      const heldBy = holders(server);
      const sems = Array.from(
        { length: 6 },
        () => new DistributedSemaphore({ key: "pool", limit: 3, servers: [addr] }),
      );
      let inside = 0;
      let maxInside = 0;
      let finished = 0;
      let observedQueue = false;
      try {
        await Promise.all(sems.map((sem) =>
          sem.withLock(async () => {
            inside++;
            maxInside = Math.max(maxInside, inside);
            assert.ok(inside <= 3 && heldBy("pool") <= 3);
            // The first three hold until all of them are inside and the other three queue.
            await eventually(() => {
              if (inside === 3 && waitersOf(server, "pool") === 3) observedQueue = true;
              return observedQueue;
            }, "contention");
            inside--;
            finished++;
          })
        ));
        assert.equal(finished, 6);
        assert.equal(maxInside, 3);
        assert.ok(observedQueue, "some contenders queued");
        assert.equal(heldBy("pool"), 0);
      } finally {
        for (const s of sems) await s.close();
      }
    });
  });

  test("acquire, getters, timeout, release", async () => {
    await withServer({}, async (server, addr) => {
      const a = new DistributedSemaphore({ key: "s", limit: 2, servers: [addr], leaseTtlS: 9 });
      const b = new DistributedSemaphore({ key: "s", limit: 2, servers: [addr] });
      const c = new DistributedSemaphore({
        key: "s",
        limit: 2,
        servers: [addr],
        acquireTimeoutS: 0,
      });
      try {
        assert.equal(a.limit, 2);
        assert.equal(await a.acquire(), true);
        assert.equal(a.lease, 9);
        assert.match(a.token!, /^[0-9a-f]{32}$/);
        assert.equal(await b.acquire(), true);
        assert.equal(await c.acquire(), false);
        assert.equal(holders(server)("s"), 2);
        await a.release();
        assert.equal(await c.acquire(), true);
        await b.release();
        await c.release();
      } finally {
        await a.close();
        await b.close();
        await c.close();
      }
    });
  });

  test("two-phase: fast path and queued", async () => {
    await withServer({}, async (server, addr) => {
      const a = new DistributedSemaphore({ key: "tp", limit: 1, servers: [addr] });
      const b = new DistributedSemaphore({ key: "tp", limit: 1, servers: [addr] });
      try {
        assert.equal(await a.enqueue(), "acquired");
        assert.equal(await a.wait(), true);
        assert.equal(await b.enqueue(), "queued");
        await eventually(() => waitersOf(server, "tp") === 1, "b queued");
        const granted = b.wait(5);
        await a.release();
        assert.equal(await granted, true);
        assert.match(b.token!, /^[0-9a-f]{32}$/);
        await b.release();
      } finally {
        await a.close();
        await b.close();
      }
    });
  });

  test("limit mismatch, validation, acquireSemaphore and await using", async () => {
    await withServer({}, async (server, addr) => {
      assert.throws(() => new DistributedSemaphore({ key: "x", limit: 0 }), RangeError);
      assert.throws(() => new DistributedSemaphore({ key: "x", limit: 1.5 }), RangeError);
      assert.throws(
        () => new DistributedSemaphore({ key: "x", limit: "3" as unknown as number }),
        TypeError,
      );
      {
        await using slot = await acquireSemaphore("au", 2, { servers: [addr] });
        assert.match(slot.token!, /^[0-9a-f]{32}$/);
        assert.equal(holders(server)("au"), 1);
        await assert.rejects(acquireSemaphore("au", 3, { servers: [addr] }), LimitMismatchError);
        await using _second = await acquireSemaphore("au", 2, { servers: [addr] });
        await assert.rejects(
          acquireSemaphore("au", 2, { servers: [addr], acquireTimeoutS: 0 }),
          AcquireTimeoutError,
        );
      }
      assert.equal(holders(server)("au"), 0);
    });
  });

  test("renewal uses sn with the configured lease; loss aborts the signal", async () => {
    const token = "fedcba9876543210fedcba9876543210";
    await using peer = await startScriptedPeer([`ok ${token} 1\n`, "error\n"]);
    const lost: string[] = [];
    const sem = new DistributedSemaphore({
      key: "sr",
      limit: 4,
      leaseTtlS: 1,
      servers: [`127.0.0.1:${peer.port}`],
      onLockLost: (_k, t) => lost.push(t),
    });
    try {
      assert.equal(await sem.acquire(), true);
      assert.equal(sem.fence, 0xfedcba9876543210n);
      await eventually(() => sem.signal.aborted, "lease lost");
      assert.ok(sem.signal.reason instanceof LeaseLostError);
      assert.deepEqual(lost, [token]);
      assert.deepEqual(peer.requests.map((r) => [r.command, r.arg]), [
        ["sl", "0 4 1"], // asked without waiting first, on the shared connection
        ["sn", `${token} 1`],
      ]);
    } finally {
      await sem.close();
      await assert.rejects(sem.acquire(), DflockError);
    }
  });
});
