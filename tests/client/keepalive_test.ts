import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DistributedLock, DistributedSemaphore } from "../../mod.ts";
import { isHeld, sleep, waitersOf, withServer } from "./_lease_helpers.ts";

// The server disconnects a client that sends nothing for 2 s (and releases its locks). A 10 s
// lease renews only every ~4.5-5 s, so only the 500 ms keepalive pings keep these alive.
const SERVER = { readTimeout: 2 };
const CLIENT = { leaseTtlS: 10, keepaliveIntervalMs: 500 };

describe("keepalive", () => {
  test(
    "a held lock survives 6 s of a 2 s read timeout and renews",
    { timeout: 20_000 },
    async () => {
      await withServer(SERVER, async (server, addr) => {
        let lost = 0;
        const lock = new DistributedLock({
          key: "ka",
          servers: [addr],
          ...CLIENT,
          onLockLost: () => lost++,
        });
        try {
          assert.equal(await lock.acquire(), true);
          const token = lock.token;
          await sleep(6000); // elapsed time is what this test is about
          assert.equal(lost, 0);
          assert.equal(lock.signal.aborted, false);
          assert.equal(lock.token, token);
          assert.equal(isHeld(server, "ka"), true);
          const expires = server.stats().locks.find((l) => l.key === "ka")!.leaseExpiresInS;
          assert.ok(expires > 5, `renewed: ${expires} s left after 6 s of a 10 s lease`);
          await lock.release();
          assert.equal(isHeld(server, "ka"), false);
        } finally {
          await lock.close();
        }
      });
    },
  );

  test("a queued enqueue survives 6 s before wait(); so does a semaphore holder", {
    timeout: 20_000,
  }, async () => {
    await withServer(SERVER, async (server, addr) => {
      const holder = new DistributedLock({ key: "kq", servers: [addr], ...CLIENT });
      const waiter = new DistributedLock({ key: "kq", servers: [addr], ...CLIENT });
      const sem = new DistributedSemaphore({ key: "ks", limit: 2, servers: [addr], ...CLIENT });
      try {
        assert.equal(await holder.acquire(), true);
        assert.equal(await waiter.enqueue(), "queued");
        assert.equal(await sem.acquire(), true);
        await sleep(6000); // elapsed time is what this test is about
        assert.equal(waitersOf(server, "kq"), 1, "still queued");
        // The holder and the semaphore live on the client's shared connection, the queue place on
        // a connection of its own: both survived the read timeout.
        assert.equal(server.stats().connections, 2);
        assert.equal(server.stats().semaphores.find((s) => s.key === "ks")?.holders, 1);
        await holder.release();
        assert.equal(await waiter.wait(2), true);
        assert.match(waiter.token!, /^[0-9a-f]{32}$/);
        await waiter.release();
        await sem.release();
      } finally {
        await holder.close();
        await waiter.close();
        await sem.close();
      }
    });
  });
});
