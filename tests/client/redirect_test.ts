import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DistributedLock, DrainingError, NotLeaderError } from "../../mod.ts";
import { isHeld, withServer } from "./_lease_helpers.ts";
import { closedPort, startScriptedPeer } from "./_scripted_peer.ts";
import type { ScriptedPeer } from "./_scripted_peer.ts";

const first = (): number => 0;

function address(peer: ScriptedPeer): string {
  return `127.0.0.1:${peer.port}`;
}

describe("leader redirects", () => {
  test("error_not_leader <addr> of a listed server: the request is retried there", async () => {
    await withServer({}, async (server, real) => {
      await using peer = await startScriptedPeer([`error_not_leader ${real}\n`]);
      const other = await startScriptedPeer([]);
      const lock = new DistributedLock({
        key: "rd",
        servers: [address(peer), address(other), real],
        shardingStrategy: first,
      });
      try {
        assert.equal(await lock.acquire(), true);
        assert.equal(isHeld(server, "rd"), true);
        assert.deepEqual(peer.requests.map((r) => r.command), ["l"]);
        assert.equal(other.connections, 0, "the redirect skipped the server in between");
        await lock.release();
        assert.equal(isHeld(server, "rd"), false);
        assert.equal(peer.requests.length, 1, "release went to the leader");
      } finally {
        await lock.close();
        await other.close();
      }
    });
  });

  test("bare error_not_leader, draining cluster member, unlisted leader among shards: next listed server", async () => {
    const unlisted = `127.0.0.1:${await closedPort()}`;
    await withServer({}, async (server, real) => {
      for (
        const [step, cluster] of [
          ["error_not_leader\n", true],
          [{ end: "error_draining\n" }, true],
          [`error_not_leader ${unlisted}\n`, false],
        ] as const
      ) {
        await using peer = await startScriptedPeer([step]);
        const lock = new DistributedLock({
          key: "nx",
          servers: [address(peer), real],
          cluster,
          shardingStrategy: first,
        });
        try {
          assert.equal(await lock.enqueue(), "acquired");
          assert.equal(isHeld(server, "nx"), true);
          assert.equal(peer.requests.length, 1);
          await lock.release();
        } finally {
          await lock.close();
        }
      }
    });
  });

  test("a draining shard is retried itself, never another shard", async () => {
    await withServer({}, async (server, real) => {
      let answered = 0;
      await using peer = await startScriptedPeer([
        () => answered++ === 0 ? { end: "error_draining\n" } : "error_max_locks\n",
      ]);
      const lock = new DistributedLock({
        key: "sh",
        servers: [address(peer), real],
        shardingStrategy: first,
      });
      try {
        await assert.rejects(
          lock.acquire(),
          (err) => err instanceof Error && /\(max_locks\)/.test(err.message),
        );
        assert.equal(peer.requests.length, 2, "the second attempt went to the same shard");
        assert.equal(isHeld(server, "sh"), false, "the key never moved to the other shard");
      } finally {
        await lock.close();
      }
    });
  });

  test("at most 3 hops with a backoff, then NotLeaderError", async () => {
    let bAddress = "";
    await using a = await startScriptedPeer([() => `error_not_leader ${bAddress}\n`]);
    await using b = await startScriptedPeer([`error_not_leader ${address(a)}\n`]);
    bAddress = address(b);
    const lock = new DistributedLock({
      key: "loop",
      servers: [address(a), address(b)],
      shardingStrategy: first,
    });
    try {
      const t0 = performance.now();
      await assert.rejects(lock.acquire(), (err) => {
        assert.ok(err instanceof NotLeaderError);
        assert.equal(err.leader, address(a));
        return true;
      });
      const elapsed = performance.now() - t0;
      assert.equal(a.requests.length + b.requests.length, 4);
      assert.equal(a.requests.length, 2);
      assert.ok(elapsed >= 3 * 50 - 5 && elapsed < 3 * 200 + 500, `took ${elapsed} ms`);
    } finally {
      await lock.close();
    }
  });

  test("a draining single server: DrainingError after 3 hops", async () => {
    await using peer = await startScriptedPeer([{ end: "error_draining\n" }]);
    const lock = new DistributedLock({ key: "dr", servers: [address(peer)] });
    try {
      await assert.rejects(lock.acquire(), DrainingError);
      assert.equal(peer.connections, 4);
    } finally {
      await lock.close();
    }
  });

  test("aborting during the backoff rejects with the reason", async () => {
    await using peer = await startScriptedPeer([{ end: "error_draining\n" }]);
    const lock = new DistributedLock({ key: "ab", servers: [address(peer)] });
    const ac = new AbortController();
    const reason = new Error("stop");
    try {
      const pending = lock.acquire({ signal: ac.signal });
      // Bounded: the first answer arrives quickly, then the backoff starts.
      for (let i = 0; i < 300 && peer.requests.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      ac.abort(reason);
      await assert.rejects(pending, (e) => e === reason);
      assert.ok(peer.connections <= 2);
    } finally {
      await lock.close();
    }
  });
});
