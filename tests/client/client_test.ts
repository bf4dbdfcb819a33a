/**
 * DflockClient: pooled connections under every high-level lock, against the project's own
 * server over real sockets. What the pool must guarantee: the connection count stays at the
 * pool size, handshakes happen per connection and not per lock, a waiting lock never delays
 * another, an abort discards its connection, a restarted server is reconnected to, and a lost
 * lease is always reported.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  AcquireTimeoutError,
  DflockClient,
  DflockError,
  DistributedLock,
  LeaseLostError,
} from "../../mod.ts";
import { startTestServer } from "../_helpers/server.ts";
import { getAdapter } from "../../src/transport/auto.ts";
import type { Transport, TransportAdapter } from "../../src/transport/types.ts";
import { wrapAccepted } from "../_helpers/accept_wrapper.ts";
import { eventually, isHeld, readFixture, waitersOf, withServer } from "./_lease_helpers.ts";
import { startScriptedPeer } from "./_scripted_peer.ts";

/** A server-side adapter that counts accepted connections and `auth` requests. */
async function countingServerAdapter(): Promise<
  { adapter: TransportAdapter; accepted: () => number; auths: () => number }
> {
  const base = await getAdapter();
  let accepted = 0;
  let auths = 0;
  const wrap = (inner: Transport): Transport => {
    accepted++;
    let first = true;
    return {
      readable: inner.readable.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller): void {
            // The client sends `auth` first on a connection, in its first write.
            if (first && new TextDecoder().decode(chunk).startsWith("auth\n")) auths++;
            first = false;
            controller.enqueue(chunk);
          },
        }),
      ),
      writable: inner.writable,
      closed: inner.closed,
      remoteAddr: inner.remoteAddr,
      close: () => inner.close(),
    };
  };
  const adapter = wrapAccepted(base, wrap);
  return { adapter, accepted: () => accepted, auths: () => auths };
}

describe("DflockClient", () => {
  test("1 000 sequential withLock calls keep the server at the pool size", async () => {
    await withServer({}, async (server, address) => {
      await using client = new DflockClient({ servers: [address] });
      let most = 0;
      for (let i = 0; i < 1000; i++) {
        const lock = client.lock(`seq:${i}`); // a new lock object per call
        await lock.withLock(() => {
          most = Math.max(most, server.stats().connections);
        });
      }
      const wire = await client.serverStats();
      const pool = client.stats().servers[0]!;
      assert.equal(wire.connections, pool.open, "the server sees exactly the pooled connections");
      assert.equal(pool.open, 1);
      assert.equal(pool.opened, 1);
      assert.equal(most, 1);
      assert.equal(wire.locks.length, 0);
    });
  });

  test("TLS and auth handshakes equal the pooled connections, not the locks", async () => {
    const cert = readFixture("transport/fixtures/cert.pem");
    const key = readFixture("transport/fixtures/key.pem");
    const counting = await countingServerAdapter();
    await withServer({
      tls: { cert, key },
      authToken: "s3cret",
      transport: counting.adapter,
    }, async (server, address) => {
      await using client = new DflockClient({
        servers: [address],
        tls: { caCerts: [cert] },
        authToken: "s3cret",
      });
      for (let i = 0; i < 100; i++) await client.withLock(`tls:${i}`, () => {});
      // Contention: waiters need connections of their own, which are pooled in turn.
      for (let round = 0; round < 3; round++) {
        const holder = await client.acquireLock("tls:shared");
        const waiters = [client.lock("tls:shared"), client.lock("tls:shared")];
        const pending = waiters.map((w) => w.acquire());
        await eventually(() => waitersOf(server, "tls:shared") === 2, "two waiters");
        await holder.release();
        const first = await Promise.race(pending.map((p, i) => p.then(() => i)));
        await waiters[first]!.release();
        assert.equal(await pending[1 - first], true);
        await waiters[1 - first]!.release();
      }
      const opened = client.stats().servers[0]!.opened;
      assert.equal(opened, 3, "the shared connection and two for waiting, for 109 locks");
      assert.equal(counting.accepted(), opened, "one TLS handshake per pooled connection");
      assert.equal(counting.auths(), opened, "one auth per pooled connection");
    });
  });

  test("a lock that waits never delays another lock of the same client", async () => {
    await withServer({}, async (server, address) => {
      await using other = new DflockClient({ servers: [address] });
      await using client = new DflockClient({ servers: [address] });
      const holder = await other.acquireLock("busy");
      const waiter = client.lock("busy", { acquireTimeoutS: 5 });
      const waiting = waiter.acquire();
      await eventually(() => waitersOf(server, "busy") === 1, "the waiter queued");
      const started = performance.now();
      const free = await client.acquireLock("free");
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 500, `the free key took ${elapsed.toFixed(0)} ms`);
      assert.equal(waitersOf(server, "busy"), 1, "still waiting meanwhile");
      await free.release();
      await holder.release();
      assert.equal(await waiting, true);
      await waiter.release();
    });
  });

  test("an abort during a blocked acquire discards its connection; the server drops the waiter", async () => {
    await withServer({}, async (server, address) => {
      await using other = new DflockClient({ servers: [address] });
      await using client = new DflockClient({ servers: [address] });
      const holder = await other.acquireLock("ab");
      const ac = new AbortController();
      const reason = new Error("give up");
      const waiting = client.lock("ab", { acquireTimeoutS: 30 }).acquire({ signal: ac.signal });
      await eventually(() => waitersOf(server, "ab") === 1, "the waiter queued");
      const before = server.stats().connections;
      ac.abort(reason);
      await assert.rejects(waiting, (err) => err === reason);
      await eventually(() => waitersOf(server, "ab") === 0, "the server dropped the waiter");
      await eventually(() => server.stats().connections === before - 1, "its connection closed");
      const pool = client.stats().servers[0]!;
      assert.deepEqual([pool.active, pool.idle], [0, 0], "not returned to the pool");
      await holder.release();
      // The client goes on working.
      assert.equal(await client.withLock("ab", () => "ok"), "ok");
    });
  });

  test("a lock that timed out waiting leaves a clean connection in the pool", async () => {
    await withServer({}, async (server, address) => {
      await using other = new DflockClient({ servers: [address] });
      await using client = new DflockClient({ servers: [address] });
      const holder = await other.acquireLock("to");
      await assert.rejects(
        client.withLock("to", () => {}, { acquireTimeoutS: 1 }),
        AcquireTimeoutError,
      );
      assert.equal(client.stats().servers[0]!.idle, 1);
      await holder.release();
      // Reusing it: a new wait works on the pooled connection.
      const h2 = await other.acquireLock("to");
      const waiting = client.lock("to").acquire();
      await eventually(() => waitersOf(server, "to") === 1, "queued");
      await h2.release();
      assert.equal(await waiting, true);
      assert.equal(client.stats().servers[0]!.opened, 2, "the idle connection was reused");
    });
  });

  test("a restarted server: the next lock reconnects", async () => {
    let server = await startTestServer({ shutdownTimeout: 0.2 });
    const port = server.addr.port;
    const client = new DflockClient({ servers: [`127.0.0.1:${port}`] });
    try {
      for (let i = 0; i < 5; i++) await client.withLock(`rs:${i}`, () => {});
      assert.equal(client.stats().servers[0]!.open, 1);
      await server.close(); // drops the pooled connection after 0.2 s
      server = await startTestServer({ port });
      assert.equal(await client.withLock("rs:after", () => "again"), "again");
      assert.equal(client.stats().servers[0]!.opened, 2);
    } finally {
      await client.close();
      await server.close();
    }
  });

  test("a lease lost while pooled connections idle is reported everywhere", async () => {
    const server = await startTestServer({ shutdownTimeout: 0.2 });
    const client = new DflockClient({ servers: [`127.0.0.1:${server.addr.port}`] });
    try {
      const lost: string[] = [];
      const lock = client.lock("lost", { onLockLost: (key) => lost.push(key) });
      const inScope = client.lock("lost:scope");
      let withLockOutcome: unknown;
      const running = client.withLock("lost:with", async (signal) => {
        await new Promise((resolve) => signal.addEventListener("abort", resolve));
      }).catch((err) => withLockOutcome = err);
      assert.equal(await lock.acquire(), true);
      assert.equal(await inScope.acquire(), true);
      await server.close(); // the server goes away with the shared connection
      await eventually(() => lock.signal.aborted, "the lease loss");
      assert.ok(lock.signal.reason instanceof LeaseLostError);
      assert.deepEqual(lost, ["lost"]);
      await running;
      assert.ok(withLockOutcome instanceof LeaseLostError, `withLock: ${withLockOutcome}`);
      await assert.rejects(lock.release(), LeaseLostError);
      await lock.release(); // reported once
      await assert.rejects(
        inScope[Symbol.asyncDispose](),
        LeaseLostError,
        "await using reports it",
      );
    } finally {
      await client.close();
    }
  });

  test("close(): held locks are lost, later calls throw", async () => {
    await withServer({}, async (server, address) => {
      const client = new DflockClient({ servers: [address] });
      const lock = await client.acquireLock("cl");
      await client.close();
      await client.close();
      assert.ok(lock.signal.aborted);
      await eventually(() => !isHeld(server, "cl"), "the server freed it");
      await assert.rejects(
        client.withLock("cl", () => {}),
        (err) => err instanceof DflockError && err.code === "closed",
      );
      assert.equal(client.stats().closed, true);
      assert.throws(
        () => new DistributedLock({ key: "k", client, servers: [address] }),
        TypeError,
      );
    });
  });

  test("the client is a LockApi; semaphores share its connections", async () => {
    await withServer({}, async (server, address) => {
      await using client = new DflockClient({ servers: [address] });
      const lock = await client.tryAcquire("api", 10);
      assert.ok(lock !== undefined);
      assert.equal(await client.tryAcquire("api", 10), undefined);
      await lock.release();
      const slots = await Promise.all([1, 2, 3].map(() => client.acquireSemaphore("sem", 3)));
      assert.equal(server.stats().semaphores.find((s) => s.key === "sem")?.holders, 3);
      assert.equal(
        await client.withSemaphore("sem", 3, () => 1, { acquireTimeoutS: 0 }).catch(
          (err) => err instanceof AcquireTimeoutError ? "full" : err,
        ),
        "full",
      );
      for (const slot of slots) await slot.release();
      assert.equal(client.stats().servers[0]!.open, 1, "all on the shared connection");
    });
  });

  test("a connection with stray bytes after a reply is never reused", async () => {
    const token = "0123456789abcdef0123456789abcdef";
    let answered = 0;
    await using peer = await startScriptedPeer([
      // A grant followed by half of a line nobody asked for, then a clean release.
      () => answered++ === 0 ? `ok ${token} 30\nok 0123` : `ok ${token} 30\n`,
      "ok\n",
    ]);
    await using client = new DflockClient({ servers: [`127.0.0.1:${peer.port}`] });
    const lock = client.lock("stray");
    assert.equal(await lock.acquire(), true);
    await eventually(() => client.stats().servers[0]!.open === 0, "the connection to close");
    await eventually(() => lock.signal.aborted, "the lock on it to be reported lost");
    await assert.rejects(lock.release(), LeaseLostError);
    assert.equal(peer.connections, 1);
  });
});
