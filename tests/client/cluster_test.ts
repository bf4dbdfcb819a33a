import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  DflockClient,
  DflockdLockApi,
  DistributedLock,
  LeaseLostError,
  NotLeaderError,
  RequestTimeoutError,
} from "../../mod.ts";
import { startClusterDouble } from "../_helpers/cluster_double.ts";
import type { ClusterDouble } from "../_helpers/cluster_double.ts";
import { eventually } from "./_lease_helpers.ts";
import { closedPort, startScriptedPeer } from "./_scripted_peer.ts";

const first = (): number => 0;

/** A cluster client over every member of the double. */
function clusterClient(double: ClusterDouble, extra: Record<string, unknown> = {}): DflockClient {
  return new DflockClient({ servers: [...double.addresses], cluster: true, ...extra });
}

/** Resolves with performance.now() when the signal aborts. */
function abortTime(signal: AbortSignal): Promise<number> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(performance.now());
    else signal.addEventListener("abort", () => resolve(performance.now()), { once: true });
  });
}

describe("cluster failover", () => {
  test("a renewal answered error_draining: the lease is lost before the key's next holder is granted", async () => {
    await using double = await startClusterDouble();
    await using a = clusterClient(double, { shardingStrategy: first });
    await using b = clusterClient(double, { shardingStrategy: first });
    const lock = a.lock("job", { leaseTtlS: 2, renewRatio: 0.2 });
    assert.equal(await lock.acquire(), true);
    const lost = abortTime(lock.signal);
    // B queues behind A on the leader.
    const next = b.lock("job", { acquireTimeoutS: 10 });
    let aAbortedWhenBGranted: boolean | undefined;
    const granted = next.acquire().then((ok) => {
      aAbortedWhenBGranted = lock.signal.aborted;
      return ok;
    });
    await eventually(() => double.waiters("job") === 1, "B to queue");
    // The leader shuts down gracefully: A's renewal (due within 0.4 s) is answered
    // error_draining, A's connection closed and the key handed to B.
    double.setMode(0, "draining");
    assert.equal(await granted, true);
    assert.equal(aAbortedWhenBGranted, true, "A still believed it held the key when B got it");
    assert.ok((await lost) <= double.grants.at(-1)!.at + 50);
    assert.ok(lock.signal.reason instanceof LeaseLostError);
    assert.match(lock.signal.reason.message, /error_draining/);
    await assert.rejects(lock.release(), LeaseLostError);
  });

  test("error_draining to another request on a lease's connection ends that lease at once", async () => {
    await using double = await startClusterDouble();
    await using a = clusterClient(double, { shardingStrategy: first });
    await using b = clusterClient(double, { shardingStrategy: first });
    // Both of A's locks live on its one shared connection to the leader.
    const held = a.lock("held", { leaseTtlS: 30 });
    assert.equal(await held.acquire(), true);
    const next = b.lock("held", { acquireTimeoutS: 10 });
    let heldAbortedWhenBGranted: boolean | undefined;
    const granted = next.acquire().then((ok) => {
      heldAbortedWhenBGranted = held.signal.aborted;
      return ok;
    });
    await eventually(() => double.waiters("held") === 1, "B to queue");
    double.setMode(0, "draining");
    double.leader = 1;
    // A asks for another key on the same connection: error_draining, and "held" goes to B.
    assert.equal(await a.lock("other", { leaseTtlS: 30 }).acquire(), true);
    assert.equal(await granted, true);
    assert.equal(heldAbortedWhenBGranted, true);
    assert.ok(held.signal.reason instanceof LeaseLostError);
    assert.equal(double.requests[1]!.filter((r) => r.key === "other").length, 1);
  });

  test("a dead member is skipped, and a stale leader is learnt again", async () => {
    await using double = await startClusterDouble();
    await using client = clusterClient(double, { shardingStrategy: first });
    // The client learns member 0 as the leader.
    await (await client.acquireLock("a")).release();
    await double.kill(0);
    double.leader = 2;
    const t0 = performance.now();
    const lock = await client.acquireLock("b", { acquireTimeoutS: 5 });
    assert.ok(performance.now() - t0 < 3000, "found the new leader quickly");
    assert.equal(double.holder("b"), lock.token);
    await lock.release();
    assert.equal(double.holder("b"), undefined);
    // The next request starts at the learnt leader: no new attempt at the dead member.
    const before = double.requests[1]!.length;
    await (await client.acquireLock("c")).release();
    assert.equal(double.requests[1]!.length, before);
  });

  test("a crashed leader's lease is lost, then released on the new leader", async () => {
    await using double = await startClusterDouble();
    await using client = clusterClient(double, { shardingStrategy: first });
    const lock = client.lock("orphan", { leaseTtlS: 30 });
    assert.equal(await lock.acquire(), true);
    const token = lock.token;
    double.leader = null;
    await double.kill(0); // kill -9: the lock stays in the replicated table
    await eventually(() => lock.signal.aborted, "the loss to be reported");
    assert.equal(double.holder("orphan"), token);
    double.leader = 1;
    await eventually(
      () => double.holder("orphan") === undefined,
      "the orphan to be released",
      8000,
    );
    assert.ok(double.requests[1]!.some((r) => r.command === "r" && r.arg === token));
  });

  test("a frozen leader makes acquire() fail within acquireTimeoutS plus requestTimeoutMs", async () => {
    await using double = await startClusterDouble();
    double.setMode(0, "frozen");
    await using client = clusterClient(double, { requestTimeoutMs: 300 });
    const t0 = performance.now();
    await assert.rejects(
      client.acquireLock("frozen", { acquireTimeoutS: 1 }),
      RequestTimeoutError,
    );
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 300 && elapsed < 1000 + 300 + 400, `took ${elapsed} ms`);
  });

  test("a server that stops answering a blocking acquire: RequestTimeoutError after its timeout", async () => {
    // `timeout` to the first try without waiting, then silence.
    await using peer = await startScriptedPeer([(r) => r.arg === "0" ? "timeout\n" : null]);
    await using client = new DflockClient({ servers: [peer.address], requestTimeoutMs: 300 });
    const t0 = performance.now();
    await assert.rejects(client.acquireLock("k", { acquireTimeoutS: 1 }), RequestTimeoutError);
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 1300 - 20 && elapsed < 1300 + 700, `took ${elapsed} ms`);
    assert.deepEqual(peer.requests.map((r) => `${r.command} ${r.arg}`), ["l 0", "l 1"]);
  });

  test("a leader outside the list is followed, for locks and for the LockApi", async () => {
    await using double = await startClusterDouble();
    await using client = new DflockClient({ servers: [double.addresses[1]!], cluster: true });
    const lock = await client.acquireLock("far");
    assert.equal(double.holder("far"), lock.token);
    assert.equal(double.grants.at(-1)!.member, 0);
    await lock.release();
    assert.equal(double.holder("far"), undefined);
    assert.deepEqual(client.stats().servers.map((s) => s.address), [
      double.addresses[1],
      double.addresses[0],
    ]);
    const api = new DflockdLockApi({ servers: [double.addresses[2]!], cluster: true });
    try {
      const held = await api.tryAcquire("api", 10);
      assert.ok(held !== undefined);
      assert.ok(double.holder("api") !== undefined);
      assert.equal(double.grants.at(-1)!.member, 0);
      await held.release();
    } finally {
      await api.close();
    }
  });

  test("redirect loops and endless new leaders are bounded", async () => {
    let bAddress = "";
    await using a = await startScriptedPeer([() => `error_not_leader ${bAddress}\n`]);
    await using b = await startScriptedPeer([`error_not_leader ${a.address}\n`]);
    bAddress = b.address;
    await using looping = new DflockClient({ servers: [a.address], cluster: true });
    await assert.rejects(looping.acquireLock("loop"), NotLeaderError);
    assert.ok(a.requests.length + b.requests.length <= 6, "hops are bounded");

    const refused: string[] = [];
    for (let i = 0; i < 12; i++) refused.push(`127.0.0.1:${await closedPort()}`);
    let n = 0;
    await using c = await startScriptedPeer(
      Array.from({ length: 40 }, () => () => `error_not_leader ${refused[n++ % refused.length]}\n`),
    );
    await using scattered = new DflockClient({ servers: [c.address], cluster: true });
    const t0 = performance.now();
    await assert.rejects(scattered.acquireLock("scatter", { acquireTimeoutS: 1 }));
    assert.ok(performance.now() - t0 < 3000, "gave up soon");
    assert.ok(scattered.stats().servers.length <= 1 + 8, "learnt members are bounded");
  });

  test("a server that closes silent connections sooner than the keepalive: pinged sooner after", async () => {
    const { withServer } = await import("./_lease_helpers.ts");
    await withServer({ readTimeout: 1 }, async (_server, address) => {
      await using client = new DflockClient({ servers: [address] });
      const first = await client.acquireLock("rt", { leaseTtlS: 30 });
      await eventually(() => first.signal.aborted, "the first lease to be lost", 5000);
      assert.ok(client.stats().keepaliveIntervalMs < 1000);
      const second = await client.acquireLock("rt", { leaseTtlS: 30 });
      const t0 = performance.now();
      await eventually(() => performance.now() - t0 > 2500, "time to pass", 4000);
      assert.equal(second.signal.aborted, false, "the second lease survived the read timeout");
      await second.release();
    });
  });

  test("standalone cluster locks follow redirects too", async () => {
    await using double = await startClusterDouble();
    double.leader = 2;
    const lock = new DistributedLock({
      key: "solo",
      servers: [...double.addresses],
      cluster: true,
    });
    try {
      assert.equal(await lock.acquire(), true);
      assert.equal(double.holder("solo"), lock.token);
      await lock.release();
    } finally {
      await lock.close();
    }
  });
});
