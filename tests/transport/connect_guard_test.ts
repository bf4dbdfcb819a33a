import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConnectionError } from "../../src/errors.ts";
import { guardConnect } from "../../src/transport/_connect_guard.ts";

interface Probe {
  cancelled: number;
  disposed: string[];
  resolve(value: string): void;
  reject(err: unknown): void;
}

function attempt(probe: Partial<Probe> & { cancelled: number; disposed: string[] }) {
  return () => ({
    promise: new Promise<string>((resolve, reject) => {
      probe.resolve = resolve;
      probe.reject = reject;
    }),
    cancel: () => {
      probe.cancelled++;
    },
  });
}

function newProbe(): Probe {
  return { cancelled: 0, disposed: [] } as unknown as Probe;
}

const ACTION = "Cannot connect to 127.0.0.1:1";

describe("guardConnect()", () => {
  test("resolves with the connection when it arrives first", async () => {
    const probe = newProbe();
    const pending = guardConnect({ action: ACTION, timeoutMs: 10_000 }, attempt(probe), (v) => {
      probe.disposed.push(v);
    });
    probe.resolve("conn");
    assert.equal(await pending, "conn");
    assert.equal(probe.cancelled, 0);
  });

  test("rejects with ConnectionError after timeoutMs, cancels and disposes a late connection", async () => {
    const probe = newProbe();
    const pending = guardConnect({ action: ACTION, timeoutMs: 20 }, attempt(probe), (v) => {
      probe.disposed.push(v);
    });
    await assert.rejects(
      pending,
      (err) => err instanceof ConnectionError && err.message === `${ACTION}: timed out after 20 ms`,
    );
    assert.equal(probe.cancelled, 1);
    probe.resolve("late");
    await Promise.resolve();
    assert.deepEqual(probe.disposed, ["late"]);
  });

  test("wraps a platform error as ConnectionError with cause", async () => {
    const probe = newProbe();
    const pending = guardConnect({ action: ACTION }, attempt(probe), () => {});
    const cause = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    probe.reject(cause);
    await assert.rejects(
      pending,
      (err) =>
        err instanceof ConnectionError && err.cause === cause &&
        err.message === `${ACTION}: connection refused`,
    );
  });

  test("rejects with signal.reason unchanged when aborted, without starting when pre-aborted", async () => {
    const reason = new Error("mine");
    let started = false;
    await assert.rejects(
      guardConnect({ action: ACTION, signal: AbortSignal.abort(reason) }, () => {
        started = true;
        return { promise: new Promise<string>(() => {}), cancel: () => {} };
      }, () => {}),
      (err) => err === reason,
    );
    assert.equal(started, false);

    const probe = newProbe();
    const controller = new AbortController();
    const pending = guardConnect(
      { action: ACTION, signal: controller.signal, timeoutMs: 10_000 },
      attempt(probe),
      (v) => {
        probe.disposed.push(v);
      },
    );
    controller.abort(reason);
    await assert.rejects(pending, (err) => err === reason);
    assert.equal(probe.cancelled, 1);
  });

  test("wraps a synchronous throw from start() as ConnectionError", async () => {
    await assert.rejects(
      guardConnect({ action: ACTION }, () => {
        throw new Error("boom");
      }, () => {}),
      (err) => err instanceof ConnectionError && err.message === `${ACTION}: boom`,
    );
  });

  test("rejects a negative or NaN timeout with RangeError", async () => {
    const never = () => ({ promise: new Promise<string>(() => {}), cancel: () => {} });
    await assert.rejects(
      guardConnect({ action: ACTION, timeoutMs: -1 }, never, () => {}),
      RangeError,
    );
    await assert.rejects(
      guardConnect({ action: ACTION, timeoutMs: NaN }, never, () => {}),
      RangeError,
    );
  });
});
