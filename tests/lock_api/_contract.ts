/**
 * The LockApi contract: one suite, run against every implementation through a factory.
 *
 * @module
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Lock, LockApi } from "../../src/lock_api.ts";

/** What the contract needs from an implementation under test. */
export interface ContractHarness {
  /** A handle on the lock space. */
  a: LockApi;
  /** A second handle on the same lock space (another "process" where that means something). */
  b: LockApi;
  /**
   * Lets `ttlS` seconds pass (a fake clock, or real time plus the server's sweep), polling
   * `probe` until it returns a lock; bounded.
   */
  expire(ttlS: number, probe: () => Promise<Lock | undefined>): Promise<Lock | undefined>;
  /** Releases every resource. */
  close(): Promise<void>;
}

async function withHarness(
  factory: () => Promise<ContractHarness>,
  fn: (h: ContractHarness) => Promise<void>,
): Promise<void> {
  const h = await factory();
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

/**
 * Registers the contract tests for one implementation.
 *
 * @param name The implementation's name.
 * @param factory Creates a fresh harness per test.
 */
export function lockApiContract(name: string, factory: () => Promise<ContractHarness>): void {
  describe(`LockApi contract: ${name}`, () => {
    test("exclusive while held: a second tryAcquire gets undefined", async () => {
      await withHarness(factory, async (h) => {
        const lock = await h.a.tryAcquire("contract:x", 10);
        assert.ok(lock !== undefined);
        assert.equal(lock.type, "lock");
        assert.equal(await h.b.tryAcquire("contract:x", 10), undefined);
        assert.equal(await h.a.tryAcquire("contract:x", 10), undefined);
        await lock.release();
      });
    });

    test("release frees the key", async () => {
      await withHarness(factory, async (h) => {
        const lock = await h.a.tryAcquire("contract:r", 10);
        assert.ok(lock !== undefined);
        await lock.release();
        const again = await h.b.tryAcquire("contract:r", 10);
        assert.ok(again !== undefined, "released key can be taken by another holder");
        await again.release();
      });
    });

    test("the lock expires after its TTL; a release after expiry is quiet", async () => {
      await withHarness(factory, async (h) => {
        const lock = await h.a.tryAcquire("contract:ttl", 1);
        assert.ok(lock !== undefined);
        assert.equal(await h.b.tryAcquire("contract:ttl", 1), undefined);
        const next = await h.expire(1, () => h.b.tryAcquire("contract:ttl", 10));
        assert.ok(next !== undefined, "expired lock is free again");
        // The stale holder's release neither throws nor frees the new holder's lock.
        await lock.release();
        assert.equal(await h.a.tryAcquire("contract:ttl", 10), undefined);
        await next.release();
      });
    });

    test("double release is safe and does not free a later holder", async () => {
      await withHarness(factory, async (h) => {
        const lock = await h.a.tryAcquire("contract:dbl", 10);
        assert.ok(lock !== undefined);
        await lock.release();
        await lock.release();
        const other = await h.b.tryAcquire("contract:dbl", 10);
        assert.ok(other !== undefined);
        await lock.release();
        assert.equal(await h.a.tryAcquire("contract:dbl", 10), undefined);
        await other.release();
      });
    });

    test("keys are independent", async () => {
      await withHarness(factory, async (h) => {
        const one = await h.a.tryAcquire("contract:k1", 10);
        const two = await h.b.tryAcquire("contract:k2", 10);
        assert.ok(one !== undefined && two !== undefined);
        await one.release();
        assert.equal(await h.a.tryAcquire("contract:k2", 10), undefined, "k2 still held");
        await two.release();
      });
    });

    test("await using releases at the end of the scope", async () => {
      await withHarness(factory, async (h) => {
        {
          await using lock = await h.a.tryAcquire("contract:using", 10);
          assert.ok(lock !== undefined);
          assert.equal(await h.b.tryAcquire("contract:using", 10), undefined);
        }
        const after = await h.b.tryAcquire("contract:using", 10);
        assert.ok(after !== undefined, "released by await using");
        await after.release();
      });
    });
  });
}
