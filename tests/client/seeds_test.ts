/**
 * Every high-level example of the four client seeds (shared/seeds/), translated to this API and
 * run against the project's server.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  acquireLock,
  AcquireTimeoutError,
  DflockError,
  DistributedLock,
  DistributedSemaphore,
} from "../../mod.ts";
import { eventually, isHeld, waitersOf, withServer } from "./_lease_helpers.ts";

const TOKEN = /^[0-9a-f]{32}$/;

describe("seed: TypeScript dflockd-client", () => {
  test("withLock (recommended)", async () => {
    await withServer({}, async (server, _addr) => {
      const lock = new DistributedLock({ key: "my-resource", port: server.addr.port });
      let ran = false;
      // deno-lint-ignore require-await
      await lock.withLock(async () => {
        // critical section — lock is held here
        ran = isHeld(server, "my-resource");
      });
      // lock is released
      assert.equal(ran, true);
      assert.equal(isHeld(server, "my-resource"), false);
      await lock.close();
    });
  });

  test("manual acquire / release", async () => {
    await withServer({}, async (server) => {
      const lock = new DistributedLock({
        key: "my-resource",
        acquireTimeoutS: 10, // wait up to 10 s (default)
        leaseTtlS: 20, // server-side lease duration
        host: "127.0.0.1",
        port: server.addr.port,
      });
      const ok = await lock.acquire(); // true on success, false on timeout
      assert.equal(ok, true);
      try {
        // critical section — lock is held and auto-renewed
        assert.equal(lock.lease, 20);
        assert.equal(isHeld(server, "my-resource"), true);
      } finally {
        await lock.release();
      }
      assert.equal(isHeld(server, "my-resource"), false);
    });
  });

  test("two-phase lock (enqueue / wait), fast path and contended", async () => {
    await withServer({}, async (server) => {
      const notified: string[] = [];
      const notifyExternalSystem = (status: string): void => {
        notified.push(status);
      };
      const run = async (): Promise<void> => {
        const lock = new DistributedLock({
          key: "my-resource",
          acquireTimeoutS: 10,
          leaseTtlS: 20,
          port: server.addr.port,
        });
        // Step 1: join the queue (non-blocking, returns immediately)
        const status = await lock.enqueue(); // "acquired" or "queued"
        // Step 2: do something between enqueue and blocking
        notifyExternalSystem(status);
        // Step 3: block until the lock is granted (or timeout)
        const granted = await lock.wait(10); // true on success, false on timeout
        assert.equal(granted, true);
        try {
          assert.equal(isHeld(server, "my-resource"), true);
        } finally {
          await lock.release();
        }
      };
      await run(); // free: fast path
      const holder = new DistributedLock({ key: "my-resource", port: server.addr.port });
      assert.equal(await holder.acquire(), true);
      const contended = run();
      await eventually(() => waitersOf(server, "my-resource") === 1, "queued");
      await holder.release();
      await contended;
      assert.deepEqual(notified, ["acquired", "queued"]);
    });
  });

  test("error handling: withLock on a held lock with acquireTimeoutS 0 throws AcquireTimeoutError", async () => {
    await withServer({}, async (server) => {
      const holder = new DistributedLock({ key: "my-resource", port: server.addr.port });
      const lock = new DistributedLock({
        key: "my-resource",
        port: server.addr.port,
        acquireTimeoutS: 0,
      });
      assert.equal(await holder.acquire(), true);
      let outcome = "";
      try {
        await lock.withLock(async () => {/* ... */});
      } catch (err) {
        if (err instanceof AcquireTimeoutError) {
          // lock could not be acquired within acquireTimeoutS
          outcome = "timeout";
        } else if (err instanceof DflockError) {
          // protocol-level error (bad token, server disconnect, etc.)
          outcome = "lock error";
        }
      }
      assert.equal(outcome, "timeout");
      await holder.release();
      await lock.close();
    });
  });
});

describe("seed: Go client", () => {
  test("Lock quick start", async () => {
    await withServer({}, async (server, addr) => {
      const l = new DistributedLock({ key: "my-resource", acquireTimeoutS: 10, servers: [addr] });
      const ok = await l.acquire();
      assert.equal(ok, true, "timed out waiting for lock");
      try {
        // "lock acquired, doing work..."
        assert.equal(isHeld(server, "my-resource"), true);
      } finally {
        await l.release();
      }
    });
  });

  test("Semaphore quick start", async () => {
    await withServer({}, async (server, addr) => {
      const s = new DistributedSemaphore({
        key: "worker-pool",
        limit: 3, // max concurrent holders
        acquireTimeoutS: 10,
        leaseTtlS: 60,
        servers: [addr],
        renewRatio: 0.5,
      });
      const ok = await s.acquire();
      assert.equal(ok, true);
      // Slot is held; background renewal is running.
      assert.equal(server.stats().semaphores.find((x) => x.key === "worker-pool")?.limit, 3);
      await s.release();
      assert.equal(server.stats().semaphores.length, 0);
    });
  });

  test("two-phase acquire: Lock and Semaphore", async () => {
    await withServer({}, async (server, addr) => {
      const blocker = new DistributedLock({ key: "my-resource", servers: [addr] });
      assert.equal(await blocker.acquire(), true);
      const l = new DistributedLock({ key: "my-resource", servers: [addr] });
      const status = await l.enqueue();
      assert.equal(status, "queued");
      if (status === "queued") {
        // Perform application logic here (e.g. notify external system)
        const released = blocker.release();
        const ok = await l.wait(30);
        await released;
        assert.equal(ok, true, "timed out waiting for lock");
      }
      // Lock is held
      assert.equal(isHeld(server, "my-resource"), true);
      await l.release();

      const s = new DistributedSemaphore({ key: "pool", limit: 1, servers: [addr] });
      const sstatus: string = await s.enqueue();
      assert.equal(sstatus, "acquired"); // free: no need to wait, but wait() is harmless
      assert.equal(await s.wait(30), true);
      await s.release();
      await blocker.close();
    });
  });

  test("context cancellation (AbortSignal.timeout)", async () => {
    await withServer({}, async (server, addr) => {
      const holder = new DistributedLock({ key: "my-resource", servers: [addr] });
      assert.equal(await holder.acquire(), true);
      const l = new DistributedLock({ key: "my-resource", servers: [addr] });
      await assert.rejects(
        l.acquire({ signal: AbortSignal.timeout(200) }),
        (err: unknown) => err instanceof DOMException && err.name === "TimeoutError",
      );
      await eventually(() => waitersOf(server, "my-resource") === 0, "waiter dropped");
      await holder.release();
      await l.close();
    });
  });

  test("cleanup without release (Close) and Token", async () => {
    await withServer({}, async (server, addr) => {
      const l = new DistributedLock({ key: "my-resource", servers: [addr] });
      assert.equal(await l.acquire(), true);
      assert.match(l.token!, TOKEN); // fmt.Println("token:", l.Token())
      await l.close();
      // The server auto-releases the lock of the closed connection.
      await eventually(() => !isHeld(server, "my-resource"), "auto-release");
      await assert.rejects(l.acquire(), DflockError);
    });
  });
});

describe("seed: Python sync and async clients", () => {
  test("context manager: await using", async () => {
    await withServer({}, async (server, addr) => {
      {
        await using lock = await acquireLock("my-key", { acquireTimeoutS: 10, servers: [addr] });
        assert.match(lock.token!, TOKEN);
        assert.equal(lock.lease, 33); // server default
        assert.equal(isHeld(server, "my-key"), true);
        // If the lock cannot be acquired within the timeout, an error is raised.
        await assert.rejects(
          acquireLock("my-key", { acquireTimeoutS: 0, servers: [addr] }),
          AcquireTimeoutError,
        );
      }
      assert.equal(isHeld(server, "my-key"), false);
    });
  });

  test("manual acquire/release", async () => {
    await withServer({}, async (server, addr) => {
      const lock = new DistributedLock({ key: "my-key", acquireTimeoutS: 10, servers: [addr] });
      let worked = false;
      if (await lock.acquire()) {
        try {
          worked = isHeld(server, "my-key");
        } finally {
          await lock.release();
        }
      }
      assert.equal(worked, true);
      assert.equal(isHeld(server, "my-key"), false);
    });
  });

  test("two-phase acquisition", async () => {
    await withServer({}, async (server, addr) => {
      const lock = new DistributedLock({ key: "my-key", acquireTimeoutS: 10, servers: [addr] });
      const status = await lock.enqueue(); // "acquired" or "queued"
      assert.equal(status, "acquired");
      let worked = false;
      if (await lock.wait(10)) { // no-op if already acquired
        try {
          worked = isHeld(server, "my-key");
        } finally {
          await lock.release();
        }
      }
      assert.equal(worked, true);
    });
  });

  test("cleanup: release or close", async () => {
    await withServer({}, async (server, addr) => {
      const lock = new DistributedLock({ key: "my-key", servers: [addr] });
      try {
        if (await lock.acquire()) {
          assert.equal(isHeld(server, "my-key"), true);
          await lock.release();
        }
      } finally {
        await lock.close();
      }
      assert.equal(isHeld(server, "my-key"), false);
    });
  });
});
