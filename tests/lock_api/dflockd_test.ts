/** DflockdLockApi specifics: renewal, connection pooling, keepalive, failures, sharding, auth. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { AuthError, ConnectionError, DflockError } from "../../src/errors.ts";
import { DflockdLockApi } from "../../src/lock_api.ts";
import { DflockClient } from "../../src/client.ts";
import { startTestServer } from "../_helpers/server.ts";
import { countingAdapter, eventually, isHeld, sleep, withServer } from "./_helpers.ts";

describe("DflockdLockApi", () => {
  test("tryAcquire sends a non-blocking acquire with the TTL as lease", async () => {
    await withServer({}, async (server, address) => {
      await using api = new DflockdLockApi({ servers: [address] });
      const lock = await api.tryAcquire("lease:k", 7.2);
      assert.ok(lock !== undefined);
      const info = server.stats().locks.find((l) => l.key === "lease:k");
      assert.ok(info !== undefined);
      assert.ok(info.leaseExpiresInS > 7 && info.leaseExpiresInS <= 8, "8 s lease (rounded up)");
      const started = performance.now();
      assert.equal(await api.tryAcquire("lease:k", 5), undefined);
      assert.ok(performance.now() - started < 900, "did not wait on the server");
      await lock.release();
      assert.equal(isHeld(server, "lease:k"), false);
    });
  });

  test("renew: true keeps a 1 s lease alive past 3 s, until release", async () => {
    await withServer({}, async (server, address) => {
      await using api = new DflockdLockApi({ servers: [address], renew: true });
      await using other = new DflockdLockApi({ servers: [address] });
      const lock = await api.tryAcquire("renew:k", 1);
      assert.ok(lock !== undefined);
      await sleep(3200); // the elapsed time is the point of this test
      assert.equal(isHeld(server, "renew:k"), true);
      assert.equal(await other.tryAcquire("renew:k", 1), undefined);
      await lock.release();
      const after = await other.tryAcquire("renew:k", 1);
      assert.ok(after !== undefined, "free after release");
      await after.release();
    });
  });

  test("50 sequential tryAcquire/release pairs reuse one connection", async () => {
    await withServer({}, async (server, address) => {
      const counter = await countingAdapter();
      await using client = new DflockClient({ servers: [address], transport: counter.adapter });
      await using api = new DflockdLockApi({ client });
      for (let i = 0; i < 50; i++) {
        const lock = await api.tryAcquire(`seq:${i % 3}`, 10);
        assert.ok(lock !== undefined);
        await lock.release();
      }
      assert.equal(counter.connects, 1);
      assert.equal(server.stats().connections, 1);
      assert.equal(client.stats().servers[0]!.open, 1);
      assert.equal(server.stats().locks.length, 0);
    });
  });

  test("concurrent acquires are pipelined on the one shared connection", async () => {
    await withServer({}, async (server, address) => {
      const counter = await countingAdapter();
      await using client = new DflockClient({ servers: [address], transport: counter.adapter });
      await using api = new DflockdLockApi({ client });
      const locks = await Promise.all(
        Array.from({ length: 6 }, (_, i) => api.tryAcquire(`par:${i}`, 10)),
      );
      assert.ok(locks.every((lock) => lock !== undefined));
      assert.equal(counter.connects, 1, "one connection carries all six");
      assert.equal(server.stats().locks.length, 6);
      await Promise.all(locks.map((lock) => lock!.release()));
      assert.equal(server.stats().locks.length, 0);
      assert.equal(client.stats().servers[0]!.open, 1);
    });
  });

  test("pings connections that hold leases, so the read timeout does not drop them", async () => {
    await withServer({ readTimeout: 1 }, async (server, address) => {
      await using client = new DflockClient({
        servers: [address],
        keepaliveIntervalMs: 200,
        idleTimeoutMs: 60_000,
      });
      const lock = await client.tryAcquire("keep:k", 30);
      assert.ok(lock !== undefined);
      await sleep(2500); // longer than the server's 1 s read timeout
      assert.equal(isHeld(server, "keep:k"), true, "still held: the connection survived");
      await lock.release();
    });
  });

  test("idle connections without leases are closed after idleTimeoutMs", async () => {
    await withServer({}, async (server, address) => {
      await using client = new DflockClient({ servers: [address], idleTimeoutMs: 150 });
      await using api = new DflockdLockApi({ client });
      const lock = await api.tryAcquire("idle:k", 10);
      await lock!.release();
      assert.equal(client.stats().servers[0]!.open, 1);
      await eventually(() => client.stats().servers[0]!.open === 0, "the idle connection to close");
      await eventually(() => server.stats().connections === 0, "the server to see it closed");
      // And a new call simply connects again.
      const again = await api.tryAcquire("idle:k", 10);
      assert.ok(again !== undefined);
      await again.release();
      assert.equal(client.stats().servers[0]!.opened, 2);
    });
  });

  test("a lock whose TTL passed no longer keeps its connection open", async () => {
    await withServer({}, async (_server, address) => {
      await using client = new DflockClient({ servers: [address], idleTimeoutMs: 100 });
      const lock = await client.tryAcquire("ttl:k", 1);
      assert.ok(lock !== undefined);
      await sleep(500);
      assert.equal(client.stats().servers[0]!.open, 1, "kept open while the lock may be held");
      // 1 s lease + 1 s margin + the idle timeout.
      await eventually(
        () => client.stats().servers[0]!.open === 0,
        "the connection to close",
        4000,
      );
      await lock.release(); // quiet: the lock is gone
    });
  });

  test("a closed server: tryAcquire rejects with ConnectionError, release is quiet", async () => {
    const server = await startTestServer();
    const address = `127.0.0.1:${server.addr.port}`;
    const client = new DflockClient({ servers: [address], connectTimeoutMs: 2000 });
    const api = new DflockdLockApi({ client });
    try {
      const lock = await api.tryAcquire("down:k", 30);
      assert.ok(lock !== undefined);
      await server.close(); // drains, then drops our pooled connection after 1 s
      await eventually(() => client.stats().servers[0]!.open === 0, "the client to see the close");
      await assert.rejects(api.tryAcquire("down:other", 30), ConnectionError);
      await lock.release(); // the lock went with its connection
    } finally {
      await api.close();
      await client.close();
      await server.close();
    }
    // A server that is not there at all.
    await using fresh = new DflockdLockApi({ servers: [address], connectTimeoutMs: 2000 });
    await assert.rejects(fresh.tryAcquire("down:k", 30), ConnectionError);
  });

  test("close() drops the connections, the server frees the locks; later calls", async () => {
    await withServer({}, async (server, address) => {
      const api = new DflockdLockApi({ servers: [address], renew: true });
      const lock = await api.tryAcquire("close:k", 30);
      assert.ok(lock !== undefined);
      await api.close();
      await api.close();
      await eventually(() => !isHeld(server, "close:k"), "auto-release on disconnect");
      await lock.release(); // quiet, nothing sent
      await assert.rejects(
        api.tryAcquire("close:k", 30),
        (err) => err instanceof DflockError && err.code === "closed",
      );
    });
  });

  test("arguments are checked before anything is sent", async () => {
    const counter = await countingAdapter();
    await using api = new DflockdLockApi({ port: 1, transport: counter.adapter });
    await assert.rejects(api.tryAcquire("bad key", 10), TypeError);
    await assert.rejects(api.tryAcquire("", 10), TypeError);
    await assert.rejects(api.tryAcquire("k", 0), RangeError);
    await assert.rejects(api.tryAcquire("k", "10" as unknown as number), TypeError);
    assert.equal(counter.connects, 0);
    assert.throws(() => new DflockdLockApi({ servers: [] }), TypeError);
    assert.throws(() => new DflockdLockApi({ renewRatio: 1 }), RangeError);
    assert.throws(() => new DflockdLockApi({ maxIdlePerServer: -1 }), RangeError);
    assert.throws(() => new DflockdLockApi({ keepaliveIntervalMs: 0 }), RangeError);
  });

  test("keys are sharded over the servers", async () => {
    await withServer({}, async (s0, a0) => {
      await withServer({}, async (s1, a1) => {
        await using api = new DflockdLockApi({
          servers: [a0, a1],
          shardingStrategy: (key) => (key.startsWith("zero:") ? 0 : 1),
        });
        const l0 = await api.tryAcquire("zero:k", 10);
        const l1 = await api.tryAcquire("one:k", 10);
        assert.equal(isHeld(s0, "zero:k"), true);
        assert.equal(isHeld(s1, "one:k"), true);
        assert.equal(isHeld(s0, "one:k"), false);
        assert.equal(isHeld(s1, "zero:k"), false);
        await l0!.release();
        await l1!.release();
        assert.equal(isHeld(s0, "zero:k") || isHeld(s1, "one:k"), false);
      });
    });
  });

  test("authenticates when authToken is set", async () => {
    await withServer({ authToken: "s3cret" }, async (server, address) => {
      await using good = new DflockdLockApi({ servers: [address], authToken: "s3cret" });
      const lock = await good.tryAcquire("auth:k", 10);
      assert.ok(lock !== undefined);
      assert.equal(isHeld(server, "auth:k"), true);
      await lock.release();
      await using bad = new DflockdLockApi({ servers: [address], authToken: "wrong" });
      await assert.rejects(bad.tryAcquire("auth:k", 10), AuthError);
    });
  });
});
