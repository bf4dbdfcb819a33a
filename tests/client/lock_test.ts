import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  acquireLock,
  AcquireTimeoutError,
  AuthError,
  DflockClient,
  DflockError,
  DistributedLock,
  fenceFromToken,
  LeaseLostError,
  NotEnqueuedError,
} from "../../mod.ts";
import { startTestServer } from "../_helpers/server.ts";
import { eventually, isHeld, readFixture, waitersOf, withServer } from "./_lease_helpers.ts";
import { startScriptedPeer } from "./_scripted_peer.ts";
import { closeDefaultClients } from "../../src/client/core.ts";

const TOKEN = "0123456789abcdef0123456789abcdef";

describe("DistributedLock", () => {
  test("acquire, getters, release; no lease field means the server default", async () => {
    await withServer({}, async (server, addr) => {
      const lock = new DistributedLock({ key: "k", servers: [addr] });
      try {
        assert.equal(lock.key, "k");
        assert.equal(lock.token, undefined);
        assert.equal(lock.fence, undefined);
        assert.equal(await lock.acquire(), true);
        assert.match(lock.token!, /^[0-9a-f]{32}$/);
        assert.equal(lock.lease, 33);
        assert.equal(lock.fence, fenceFromToken(lock.token!));
        assert.equal(typeof lock.fence, "bigint");
        assert.equal(isHeld(server, "k"), true);
        await lock.release();
        assert.equal(lock.token, undefined);
        assert.equal(isHeld(server, "k"), false);
        // Reusable after release: a new connection, a new acquisition.
        assert.equal(await lock.acquire(), true);
        assert.equal(isHeld(server, "k"), true);
        await lock.release();
      } finally {
        await lock.close();
      }
    });
  });

  test("acquire resolves false on timeout; a held lock throws on a second acquire", async () => {
    await withServer({}, async (_server, addr) => {
      const a = new DistributedLock({ key: "t", servers: [addr], leaseTtlS: 5 });
      const b = new DistributedLock({ key: "t", servers: [addr], acquireTimeoutS: 0 });
      try {
        assert.equal(await a.acquire(), true);
        await assert.rejects(a.acquire(), DflockError);
        assert.equal(await b.acquire(), false);
        assert.equal(b.token, undefined);
        await a.release();
        assert.equal(await b.acquire(), true);
        await b.release();
      } finally {
        await a.close();
        await b.close();
      }
    });
  });

  test("five waiters are granted in FIFO order", async () => {
    await withServer({}, async (server, addr) => {
      const holder = new DistributedLock({ key: "fifo", servers: [addr] });
      const locks = Array.from(
        { length: 5 },
        () => new DistributedLock({ key: "fifo", servers: [addr] }),
      );
      const order: number[] = [];
      try {
        assert.equal(await holder.acquire(), true);
        const done: Promise<void>[] = [];
        for (let i = 0; i < locks.length; i++) {
          const lock = locks[i]!;
          done.push(
            lock.acquire().then(async (ok) => {
              assert.equal(ok, true);
              order.push(i);
              await lock.release();
            }),
          );
          await eventually(() => waitersOf(server, "fifo") === i + 1, `waiter ${i} queued`);
        }
        await holder.release();
        await Promise.all(done);
        assert.deepEqual(order, [0, 1, 2, 3, 4]);
      } finally {
        await holder.close();
        for (const l of locks) await l.close();
      }
    });
  });

  test("two-phase: queued enqueue, then wait is granted after the holder releases", async () => {
    await withServer({}, async (server, addr) => {
      const a = new DistributedLock({ key: "tp", servers: [addr] });
      const b = new DistributedLock({ key: "tp", servers: [addr] });
      try {
        assert.equal(await a.enqueue(), "acquired");
        assert.equal(await a.wait(), true);
        assert.equal(await b.enqueue(), "queued");
        assert.equal(b.token, undefined);
        assert.equal(waitersOf(server, "tp"), 1);
        const waiting = b.wait(5);
        await a.release();
        assert.equal(await waiting, true);
        assert.match(b.token!, /^[0-9a-f]{32}$/);
        await b.release();
        await assert.rejects(b.wait(1), NotEnqueuedError);
      } finally {
        await a.close();
        await b.close();
      }
    });
  });

  test("wait timing out leaves the queue; the clean connection goes back to the pool", async () => {
    await withServer({}, async (server, addr) => {
      await using client = new DflockClient({ servers: [addr] });
      const a = client.lock("wt");
      const b = client.lock("wt");
      try {
        assert.equal(await a.acquire(), true);
        assert.equal(await b.enqueue(), "queued");
        assert.equal(client.stats().servers[0]!.active, 1);
        assert.equal(await b.wait(0), false);
        assert.equal(server.stats().locks.find((l) => l.key === "wt")?.waiters, 0);
        assert.deepEqual(
          [client.stats().servers[0]!.idle, client.stats().servers[0]!.active],
          [1, 0],
          "b's connection is idle in the pool",
        );
        assert.equal(server.stats().connections, 2);
        await assert.rejects(b.wait(1), NotEnqueuedError);
        await a.release();
      } finally {
        await a.close();
        await b.close();
      }
    });
  });

  test("fast path: wait after enqueue 'acquired' needs no round trip", async () => {
    await using peer = await startScriptedPeer([`acquired ${TOKEN} 30\n`]);
    const lock = new DistributedLock({ key: "fp", servers: [`127.0.0.1:${peer.port}`] });
    try {
      assert.equal(await lock.enqueue(), "acquired");
      assert.equal(await lock.wait(5), true);
      assert.equal(lock.token, TOKEN);
      assert.equal(lock.lease, 30);
      assert.equal(lock.fence, 0x0123456789abcdefn);
      assert.deepEqual(peer.requests, [{ command: "e", key: "fp", arg: "" }]);
    } finally {
      await lock.close();
    }
  });

  test("withLock returns the result, releases on throw, throws AcquireTimeoutError", async () => {
    await withServer({}, async (server, addr) => {
      const lock = new DistributedLock({ key: "wl", servers: [addr], acquireTimeoutS: 0 });
      const other = new DistributedLock({ key: "wl", servers: [addr] });
      try {
        const r = await lock.withLock((l, signal) => {
          assert.equal(l, lock);
          assert.equal(signal.aborted, false);
          assert.equal(isHeld(server, "wl"), true);
          return 42;
        });
        assert.equal(r, 42);
        assert.equal(isHeld(server, "wl"), false);
        await assert.rejects(
          lock.withLock(() => {
            throw new Error("boom");
          }),
          /boom/,
        );
        assert.equal(isHeld(server, "wl"), false);
        assert.equal(await other.acquire(), true);
        await assert.rejects(lock.withLock(() => 1), AcquireTimeoutError);
        await other.release();
      } finally {
        await lock.close();
        await other.close();
      }
    });
  });

  test("renewal sends the configured lease; renew refused loses the lease once", async () => {
    let renews = 0;
    await using peer = await startScriptedPeer([
      `ok ${TOKEN} 1\n`,
      (req) => {
        renews++;
        assert.equal(req.command, "n");
        assert.equal(req.arg, `${TOKEN} 1`);
        return "error\n";
      },
    ]);
    const lost: Array<[string, string]> = [];
    const lock = new DistributedLock({
      key: "rn",
      leaseTtlS: 1,
      servers: [`127.0.0.1:${peer.port}`],
      onLockLost: (key, token) => lost.push([key, token]),
    });
    try {
      assert.equal(await lock.acquire(), true);
      const signal = lock.signal;
      await eventually(() => signal.aborted, "signal aborted", 3000);
      assert.ok(signal.reason instanceof LeaseLostError);
      assert.equal(signal.reason.key, "rn");
      assert.deepEqual(lost, [["rn", TOKEN]]);
      assert.equal(renews, 1);
      assert.equal(lock.token, undefined);
      await assert.rejects(lock.release(), LeaseLostError);
      await lock.release(); // quiet afterwards
    } finally {
      await lock.close();
    }
  });

  test("an unanswered renew loses the lease at the local deadline", async () => {
    await using peer = await startScriptedPeer([`ok ${TOKEN} 1\n`, null]);
    let calls = 0;
    const lock = new DistributedLock({
      key: "dl",
      servers: [`127.0.0.1:${peer.port}`],
      onLockLost: () => calls++,
    });
    try {
      const t0 = performance.now();
      assert.equal(await lock.acquire(), true);
      await eventually(() => lock.signal.aborted, "signal aborted", 3000);
      const elapsed = performance.now() - t0;
      assert.ok(elapsed >= 900 && elapsed < 2000, `lost after ${elapsed} ms`);
      assert.ok(lock.signal.reason instanceof LeaseLostError);
      assert.equal(calls, 1);
    } finally {
      await lock.close();
    }
  });

  test("stopping the server loses the lease within one renewal interval plus 1 s", async () => {
    const server = await startTestServer();
    const lost: string[] = [];
    const lock = new DistributedLock({
      key: "ll",
      leaseTtlS: 2,
      servers: [`127.0.0.1:${server.addr.port}`],
      onLockLost: (_key, token) => lost.push(token),
    });
    try {
      assert.equal(await lock.acquire(), true);
      const token = lock.token!;
      const signal = lock.signal;
      const aborted = new Promise<number>((resolve) =>
        signal.addEventListener("abort", () => resolve(performance.now()), { once: true })
      );
      const t0 = performance.now();
      const closing = server.close();
      const at = await aborted;
      assert.ok(at - t0 < 1000 + 1000, `lost after ${at - t0} ms`);
      assert.ok(signal.reason instanceof LeaseLostError);
      await closing;
      assert.deepEqual(lost, [token]);
      await assert.rejects(lock.release(), LeaseLostError);
    } finally {
      await lock.close();
      await closeDefaultClients();
      await server.close();
    }
  });

  test("aborting a blocked acquire rejects with the reason at once and leaves the queue", async () => {
    await withServer({}, async (server, addr) => {
      const holder = new DistributedLock({ key: "ab", servers: [addr] });
      const waiter = new DistributedLock({ key: "ab", servers: [addr], acquireTimeoutS: 30 });
      try {
        assert.equal(await holder.acquire(), true);
        const ac = new AbortController();
        const pending = waiter.acquire({ signal: ac.signal });
        await eventually(() => waitersOf(server, "ab") === 1, "waiter queued");
        const reason = new Error("stop");
        const t0 = performance.now();
        ac.abort(reason);
        await assert.rejects(pending, (err) => err === reason);
        assert.ok(performance.now() - t0 < 100, "rejected within 100 ms");
        await eventually(() => waitersOf(server, "ab") === 0, "waiter gone");
        // The object stays usable.
        await holder.release();
        assert.equal(await waiter.acquire(), true);
        await waiter.release();
        // An already aborted signal rejects before anything is sent.
        await assert.rejects(
          waiter.acquire({ signal: AbortSignal.abort(reason) }),
          (e) => e === reason,
        );
      } finally {
        await holder.close();
        await waiter.close();
      }
    });
  });

  test("close() does not release (auto-release frees it) and later acquires throw", async () => {
    await withServer({}, async (server, addr) => {
      const a = new DistributedLock({ key: "cl", servers: [addr] });
      const b = new DistributedLock({ key: "cl", servers: [addr], acquireTimeoutS: 5 });
      try {
        assert.equal(await a.acquire(), true);
        await a.close();
        await a.close();
        assert.equal(a.token, undefined);
        await assert.rejects(a.acquire(), DflockError);
        await assert.rejects(a.enqueue(), DflockError);
        assert.equal(await b.acquire(), true);
        assert.equal(isHeld(server, "cl"), true);
        await b.release();
      } finally {
        await a.close();
        await b.close();
      }
    });
  });

  test("await using and acquireLock", async () => {
    await withServer({}, async (server, addr) => {
      {
        await using lock = await acquireLock("au", { servers: [addr], leaseTtlS: 7 });
        assert.equal(lock.lease, 7);
        assert.equal(isHeld(server, "au"), true);
        await assert.rejects(
          acquireLock("au", { servers: [addr], acquireTimeoutS: 0 }),
          AcquireTimeoutError,
        );
      }
      assert.equal(isHeld(server, "au"), false);
      // Dispose is idempotent and quiet after release.
      const lock = await acquireLock("au", { servers: [addr] });
      await lock.release();
      await lock[Symbol.asyncDispose]();
      await lock[Symbol.asyncDispose]();
      assert.equal(isHeld(server, "au"), false);
    });
  });

  test("option validation", () => {
    assert.throws(() => new DistributedLock({ key: "" }), TypeError);
    assert.throws(() => new DistributedLock({ key: "a b" }), TypeError);
    assert.throws(() => new DistributedLock({ key: "k", renewRatio: 0 }), RangeError);
    assert.throws(() => new DistributedLock({ key: "k", renewRatio: 1 }), RangeError);
    assert.throws(() => new DistributedLock({ key: "k", leaseTtlS: 0 }), RangeError);
    assert.throws(() => new DistributedLock({ key: "k", acquireTimeoutS: -1 }), RangeError);
    assert.throws(() => new DistributedLock({ key: "k", servers: [] }), TypeError);
    assert.throws(() => new DistributedLock({ key: "k", servers: ["nope"] }), TypeError);
    assert.throws(() => new DistributedLock({ key: "k", servers: ["h:0"] }), RangeError);
    assert.throws(() => new DistributedLock({ key: "k", keepaliveIntervalMs: 0 }), RangeError);
    // Host/port shorthand and object entries are accepted.
    new DistributedLock({ key: "k", host: "127.0.0.1", port: 7000 });
    new DistributedLock({ key: "k", servers: [{ host: "::1", port: 7000 }, "[::1]:7001"] });
  });

  test("TLS and auth; a wrong token is an AuthError", async () => {
    // A leaf certificate: rustls (Deno) refuses the CA:TRUE conformance certificate as a leaf.
    const cert = readFixture("transport/fixtures/cert.pem");
    const key = readFixture("transport/fixtures/key.pem");
    await withServer({ tls: { cert, key }, authToken: "s3cret" }, async (server, addr) => {
      const tls = { caCerts: [cert] };
      const lock = new DistributedLock({ key: "tls", servers: [addr], tls, authToken: "s3cret" });
      const bad = new DistributedLock({ key: "tls", servers: [addr], tls, authToken: "wrong" });
      try {
        assert.equal(await lock.acquire(), true);
        assert.equal(isHeld(server, "tls"), true);
        await lock.release();
        await assert.rejects(bad.acquire(), AuthError);
      } finally {
        await lock.close();
        await bad.close();
      }
    });
  });
});
