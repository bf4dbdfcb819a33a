/** NoOpLock, InMemoryLock details, withLock and acquireWithRetry with stub LockApis. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { acquireWithRetry, tryWithLock } from "../../src/lock_api.ts";
import type { Lock, LockApi } from "../../src/lock_api.ts";
import { backoffDelayMs } from "../../src/lock_api/acquire_with_retry.ts";
import { InMemoryLock, NoOpLock } from "../../src/testing.ts";

/** A LockApi that refuses `refusals` times, then grants; counts calls and releases. */
function stubApi(refusals: number): LockApi & { calls: number; releases: number } {
  const stub = {
    calls: 0,
    releases: 0,
    tryAcquire(_key: string, _ttlS: number): Promise<Lock | undefined> {
      stub.calls++;
      if (stub.calls <= refusals) return Promise.resolve(undefined);
      const release = (): Promise<void> => {
        stub.releases++;
        return Promise.resolve();
      };
      return Promise.resolve({ type: "lock" as const, release, [Symbol.asyncDispose]: release });
    },
  };
  return stub;
}

describe("NoOpLock", () => {
  test("unlocked mode always grants, even the same key twice", async () => {
    const api = new NoOpLock(false);
    assert.equal(api.locked, false);
    const one = await api.tryAcquire("key", 30);
    const two = await api.tryAcquire("key", 30);
    assert.ok(one !== undefined && two !== undefined);
    assert.equal(one.type, "lock");
    await one.release();
    await one.release();
    await two[Symbol.asyncDispose]();
  });

  test("locked mode always refuses", async () => {
    const api = new NoOpLock(true);
    assert.equal(await api.tryAcquire("key", 30), undefined);
    assert.equal(await api.tryAcquire("other", 1), undefined);
    assert.equal(await tryWithLock(api, "key", 30, () => "ran"), undefined);
  });

  test("a non-boolean mode is a TypeError", () => {
    assert.throws(() => new NoOpLock("yes" as unknown as boolean), TypeError);
  });
});

describe("InMemoryLock", () => {
  test("uses the injected clock; isLocked follows expiry", async () => {
    let now = 0;
    const api = new InMemoryLock(() => now);
    const lock = await api.tryAcquire("k", 2.5);
    assert.ok(lock !== undefined);
    assert.equal(api.isLocked("k"), true);
    now = 2499;
    assert.equal(api.isLocked("k"), true);
    assert.equal(await api.tryAcquire("k", 1), undefined);
    now = 2500;
    assert.equal(api.isLocked("k"), false);
    await lock.release();
  });

  test("an empty key or a non-function clock is a TypeError, a TTL of 0 or NaN a RangeError", async () => {
    const api = new InMemoryLock();
    await assert.rejects(api.tryAcquire("", 1), TypeError);
    await assert.rejects(api.tryAcquire("k", 0), RangeError);
    await assert.rejects(api.tryAcquire("k", Number.NaN), RangeError);
    assert.throws(() => new InMemoryLock(5 as unknown as () => number), TypeError);
  });

  test("sweeps expired entries under load and keeps live ones", async () => {
    let now = 0;
    const api = new InMemoryLock(() => now);
    for (let i = 0; i < 1100; i++) assert.ok(await api.tryAcquire(`k${i}`, 1));
    const live = await api.tryAcquire("live", 100);
    assert.ok(live !== undefined);
    now = 5000;
    assert.ok(await api.tryAcquire("k0", 1), "expired key granted again");
    assert.equal(await api.tryAcquire("live", 1), undefined);
  });
});

describe("withLock", () => {
  test("returns fn's result and releases; releases when fn throws", async () => {
    const api = stubApi(0);
    assert.equal(await tryWithLock(api, "k", 10, () => 42), 42);
    assert.equal(api.releases, 1);
    await assert.rejects(
      tryWithLock(api, "k", 10, () => {
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.equal(api.releases, 2);
  });

  test("is exclusive on InMemoryLock", async () => {
    const api = new InMemoryLock();
    const inner = await tryWithLock(api, "k", 10, () => tryWithLock(api, "k", 10, () => "nested"));
    assert.equal(inner, undefined, "the nested guard could not take the held key");
    assert.equal(api.isLocked("k"), false);
  });
});

describe("acquireWithRetry", () => {
  test("honours maxAttempts", async () => {
    const api = stubApi(Infinity);
    const lock = await acquireWithRetry(api, "k", 10, { maxAttempts: 4, baseDelayMs: 1 });
    assert.equal(lock, undefined);
    assert.equal(api.calls, 4);
    const once = stubApi(Infinity);
    assert.equal(await acquireWithRetry(once, "k", 10, { maxAttempts: 1 }), undefined);
    assert.equal(once.calls, 1);
  });

  test("returns the lock of the first successful attempt", async () => {
    const api = stubApi(2);
    const lock = await acquireWithRetry(api, "k", 10, {
      maxAttempts: 5,
      baseDelayMs: 1,
      jitter: false,
    });
    assert.ok(lock !== undefined);
    assert.equal(api.calls, 3);
  });

  test("defaults to 3 attempts", async () => {
    const api = stubApi(Infinity);
    assert.equal(await acquireWithRetry(api, "k", 10, { baseDelayMs: 0 }), undefined);
    assert.equal(api.calls, 3);
  });

  test("rejects with signal.reason when aborted during a pause", async () => {
    const api = stubApi(Infinity);
    const controller = new AbortController();
    const reason = new Error("stop");
    const started = performance.now();
    const pending = acquireWithRetry(api, "k", 10, {
      maxAttempts: 5,
      baseDelayMs: 30_000,
      jitter: false,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(reason), 20);
    await assert.rejects(pending, (err) => err === reason);
    assert.equal(api.calls, 1);
    assert.ok(performance.now() - started < 5000, "did not wait out the pause");
  });

  test("rejects at once when already aborted", async () => {
    const api = stubApi(0);
    const reason = new Error("early");
    await assert.rejects(
      acquireWithRetry(api, "k", 10, { signal: AbortSignal.abort(reason) }),
      (err) => err === reason,
    );
    assert.equal(api.calls, 0);
  });

  test("releases a lock granted after the signal fired", async () => {
    const controller = new AbortController();
    const reason = new Error("late");
    const inner = stubApi(0);
    const api: LockApi = {
      tryAcquire: (key, ttlS) => {
        controller.abort(reason);
        return inner.tryAcquire(key, ttlS);
      },
    };
    await assert.rejects(
      acquireWithRetry(api, "k", 10, { signal: controller.signal }),
      (err) => err === reason,
    );
    assert.equal(inner.releases, 1);
  });

  test("maxAttempts 0 or 1.5 or a negative baseDelayMs is a RangeError before any attempt", async () => {
    const api = stubApi(0);
    await assert.rejects(acquireWithRetry(api, "k", 1, { maxAttempts: 0 }), RangeError);
    await assert.rejects(acquireWithRetry(api, "k", 1, { maxAttempts: 1.5 }), RangeError);
    await assert.rejects(acquireWithRetry(api, "k", 1, { baseDelayMs: -1 }), RangeError);
    assert.equal(api.calls, 0);
  });

  test("backoff: exponential ceilings capped at maxDelayMs, full jitter below them", () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((i) => backoffDelayMs(i, 100, 1000, false)),
      [100, 200, 400, 800, 1000, 1000],
    );
    assert.equal(backoffDelayMs(3, 100, 1000, true, () => 0), 0);
    assert.equal(backoffDelayMs(3, 100, 1000, true, () => 0.5), 400);
    assert.equal(backoffDelayMs(9, 100, 1000, true, () => 0.999), 999);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelayMs(2, 100, 1000, true);
      assert.ok(d >= 0 && d < 400, `jittered delay ${d} within [0, 400)`);
    }
  });
});
