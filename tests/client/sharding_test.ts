import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DistributedLock, DistributedSemaphore, stableHashShard } from "../../mod.ts";
import { startTestServer } from "../_helpers/server.ts";
import type { Server } from "../../src/server/mod.ts";
import { closeDefaultClients } from "../../src/client/core.ts";

/** docs/protocol.md 13.2. */
const VECTORS: Array<[string, number, number]> = [
  ["123456789", 2, 2],
  ["a", 0, 3],
  ["b", 2, 1],
  ["job-2", 0, 1],
  ["my-key", 2, 1],
  ["ключ", 0, 2],
];

async function withServers(n: number, fn: (servers: Server[]) => Promise<void>): Promise<void> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      servers.push(await startTestServer({ shutdownTimeout: 2 }));
    }
    await fn(servers);
  } finally {
    await closeDefaultClients();
    for (const s of servers) await s.close();
  }
}

/** `server.stats()` has the keys as text (the "ключ" vector checks that too). */
function holderIndexes(servers: Server[], key: string): number[] {
  const k = key;
  const out: number[] = [];
  servers.forEach((s, i) => {
    const st = s.stats();
    if (st.locks.some((l) => l.key === k) || st.semaphores.some((x) => x.key === k)) out.push(i);
  });
  return out;
}

describe("sharding", () => {
  test("stableHashShard matches the CRC-32 vectors", () => {
    for (const [key, mod3, mod4] of VECTORS) {
      assert.equal(stableHashShard(key, 3), mod3, key);
      assert.equal(stableHashShard(key, 4), mod4, key);
      assert.equal(stableHashShard(key, 1), 0);
    }
  });

  test("three servers: each key is held on the server its CRC-32 picks", async () => {
    await withServers(3, async (servers) => {
      const addrs = servers.map((s) => `127.0.0.1:${s.addr.port}`);
      const locks = VECTORS.map(([key]) => new DistributedLock({ key, servers: addrs }));
      try {
        for (const lock of locks) assert.equal(await lock.acquire(), true);
        for (const [key, mod3] of VECTORS) {
          assert.deepEqual(holderIndexes(servers, key), [mod3], key);
        }
      } finally {
        for (const lock of locks) await lock.release().finally(() => lock.close());
      }
      for (const [key] of VECTORS) assert.deepEqual(holderIndexes(servers, key), [], key);
    });
  });

  test("object entries, semaphores and a custom strategy", async () => {
    await withServers(3, async (servers) => {
      const entries = servers.map((s) => ({ host: "127.0.0.1", port: s.addr.port }));
      const seen: Array<[string, number]> = [];
      const sem = new DistributedSemaphore({
        key: "my-key",
        limit: 2,
        servers: entries,
        shardingStrategy: (key, n) => {
          seen.push([key, n]);
          return 1;
        },
      });
      const lock = new DistributedLock({ key: "my-key", servers: entries });
      try {
        assert.equal(await sem.acquire(), true);
        assert.deepEqual(seen, [["my-key", 3]]);
        assert.deepEqual(holderIndexes(servers, "my-key"), [1]);
        assert.equal(await lock.acquire(), true);
        assert.deepEqual(holderIndexes(servers, "my-key"), [1, 2]);
      } finally {
        await sem.close();
        await lock.close();
      }
    });
  });

  test("a strategy returning an index out of range is a RangeError", () => {
    const servers = ["127.0.0.1:1", "127.0.0.1:2"];
    assert.throws(
      () => new DistributedLock({ key: "k", servers, shardingStrategy: () => 2 }),
      RangeError,
    );
    assert.throws(
      () => new DistributedLock({ key: "k", servers, shardingStrategy: () => 0.5 }),
      RangeError,
    );
  });
});
