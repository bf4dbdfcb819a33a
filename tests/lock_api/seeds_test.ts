/**
 * The seed document's examples (order processing, counter increment, retry with backoff,
 * lock guard), run against DflockdLockApi on a real server.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { acquireWithRetry, DflockdLockApi, tryWithLock } from "../../src/lock_api.ts";
import type { Lock, LockApi } from "../../src/lock_api.ts";
import { isHeld, sleep, withServer } from "./_helpers.ts";

describe("seed examples on DflockdLockApi", () => {
  test("order processing: two instances, each order processed exactly once", async () => {
    await withServer({}, async (server, address) => {
      const steps: string[] = [];
      let openGate!: () => void;
      const gate = new Promise<void>((r) => openGate = r);
      let entered!: () => void;
      const inside = new Promise<void>((r) => entered = r);
      async function processOrder(
        lockApi: LockApi,
        orderId: string,
        pauseInside = false,
      ): Promise<boolean> {
        const lock = await lockApi.tryAcquire(`order:${orderId}`, 30);
        if (!lock) return false; // another process is handling this order
        try {
          assert.equal(isHeld(server, `order:${orderId}`), true);
          steps.push(`update:${orderId}`);
          if (pauseInside) {
            entered();
            await gate;
          }
          steps.push(`charge:${orderId}`);
          steps.push(`email:${orderId}`);
          return true;
        } finally {
          await lock.release();
        }
      }
      const one = new DflockdLockApi({ servers: [address] });
      const two = new DflockdLockApi({ servers: [address] });
      try {
        const first = processOrder(one, "1", true);
        await inside;
        // While instance one processes order 1, instance two skips it but handles order 2.
        assert.equal(await processOrder(two, "1"), false);
        assert.equal(await processOrder(two, "2"), true);
        openGate();
        assert.equal(await first, true);
        assert.deepEqual(steps, [
          "update:1",
          "update:2",
          "charge:2",
          "email:2",
          "charge:1",
          "email:1",
        ]);
        assert.equal(isHeld(server, "order:1"), false);
        // Released: a later run processes it again.
        assert.equal(await processOrder(two, "1"), true);
      } finally {
        await one.close();
        await two.close();
      }
    });
  });

  test("counter increment: 20 concurrent incrementers end at exactly 20", async () => {
    await withServer({}, async (_server, address) => {
      let stored = 0;
      const getCounterValue = async (): Promise<number> => {
        await sleep(1); // simulated I/O: without the lock, increments would be lost
        return stored;
      };
      const setCounterValue = async (v: number): Promise<void> => {
        await sleep(1);
        stored = v;
      };
      async function incrementCounter(lockApi: LockApi, counterId: string): Promise<boolean> {
        const lock = await lockApi.tryAcquire(`counter:${counterId}`, 10);
        if (!lock) return false;
        try {
          const currentValue = await getCounterValue();
          await setCounterValue(currentValue + 1);
          return true;
        } finally {
          await lock.release();
        }
      }
      const apis = [
        new DflockdLockApi({ servers: [address] }),
        new DflockdLockApi({ servers: [address] }),
      ];
      let refusals = 0;
      try {
        await Promise.all(
          Array.from({ length: 20 }, async (_, i) => {
            const api = apis[i % 2]!;
            for (let attempt = 0; attempt < 1000; attempt++) {
              if (await incrementCounter(api, "c")) return;
              refusals++;
              await sleep(2 + Math.random() * 8);
            }
            throw new Error("incrementer never got the lock");
          }),
        );
        assert.equal(stored, 20);
        assert.ok(refusals > 0, "the incrementers did contend");
      } finally {
        for (const api of apis) await api.close();
      }
    });
  });

  test("retry with backoff: gets the lock once the holder releases", async () => {
    await withServer({}, async (_server, address) => {
      const holder = new DflockdLockApi({ servers: [address] });
      const waiter = new DflockdLockApi({ servers: [address] });
      try {
        const held = await holder.tryAcquire("retry:k", 30);
        assert.ok(held !== undefined);
        // Always busy: gives up after maxAttempts.
        const none = await acquireWithRetry(waiter, "retry:k", 30, {
          maxAttempts: 3,
          baseDelayMs: 5,
          jitter: false,
        });
        assert.equal(none, undefined);
        // Released after the second refused attempt: the third attempt succeeds.
        let calls = 0;
        const counting: LockApi = {
          tryAcquire: async (key, ttlS) => {
            calls++;
            const got = await waiter.tryAcquire(key, ttlS);
            if (got === undefined && calls === 2) await held.release();
            return got;
          },
        };
        const lock: Lock | undefined = await acquireWithRetry(counting, "retry:k", 30, {
          maxAttempts: 10,
          baseDelayMs: 5,
          maxDelayMs: 50,
        });
        assert.equal(calls, 3);
        assert.ok(lock !== undefined);
        assert.equal(await holder.tryAcquire("retry:k", 30), undefined);
        await lock.release();
      } finally {
        await holder.close();
        await waiter.close();
      }
    });
  });

  test("lock guard: result, busy, and release when fn throws", async () => {
    await withServer({}, async (server, address) => {
      await using lockApi = new DflockdLockApi({ servers: [address] });
      const result = await tryWithLock(lockApi, "resource:123", 30, () => {
        assert.equal(isHeld(server, "resource:123"), true);
        return Promise.resolve("processed");
      });
      assert.equal(result, "processed");
      assert.equal(isHeld(server, "resource:123"), false);

      const other = await lockApi.tryAcquire("resource:123", 30);
      assert.ok(other !== undefined);
      let ran = false;
      const busy = await tryWithLock(lockApi, "resource:123", 30, () => {
        ran = true;
        return 1;
      });
      assert.equal(busy, undefined);
      assert.equal(ran, false);
      await other.release();

      await assert.rejects(
        tryWithLock(lockApi, "resource:123", 30, () => Promise.reject(new Error("boom"))),
        /boom/,
      );
      assert.equal(isHeld(server, "resource:123"), false, "released after fn threw");
    });
  });
});
