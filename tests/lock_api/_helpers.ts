/**
 * Shared helpers of the LockApi tests: a real server on port 0, a connect-counting transport
 * adapter and bounded polling.
 *
 * @module
 */

import { getAdapter } from "../../src/transport/auto.ts";
import type { TransportAdapter } from "../../src/transport/types.ts";

export { withServer } from "../_helpers/server.ts";
import type { Server } from "../../src/server/mod.ts";

/** A transport adapter that counts the connections it opens. */
export interface CountingAdapter {
  /** The adapter to pass as `transport`. */
  adapter: TransportAdapter;
  /** Connections opened so far. */
  readonly connects: number;
}

/**
 * Wraps the running runtime's adapter and counts `connect` calls.
 *
 * @returns The adapter and its counter.
 */
export async function countingAdapter(): Promise<CountingAdapter> {
  const base = await getAdapter();
  let connects = 0;
  const adapter: TransportAdapter = {
    ...base,
    connect: (options) => {
      connects++;
      return base.connect(options);
    },
  };
  return {
    adapter,
    get connects() {
      return connects;
    },
  };
}

/**
 * Polls `probe` every 25 ms until it returns something other than `undefined`, for at most
 * `timeoutMs`.
 *
 * @param probe The check.
 * @param timeoutMs Bound.
 * @returns The first defined value, or `undefined` after the bound.
 */
export async function pollFor<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 3500,
): Promise<T | undefined> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (performance.now() > until) return undefined;
    await sleep(25);
  }
}

/**
 * Polls `predicate` every 20 ms until it holds, at most `timeoutMs`.
 *
 * @param predicate The condition.
 * @param what Message when it never held.
 * @param timeoutMs Bound.
 */
export async function eventually(
  predicate: () => boolean,
  what: string,
  timeoutMs = 3000,
): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Sleeps (where elapsed time is the point, or to simulate I/O). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Tells whether the server currently has a holder for a lock key.
 *
 * @param server The server.
 * @param key The key.
 * @returns `true` when held.
 */
export function isHeld(server: Server, key: string): boolean {
  return server.stats().locks.some((x) => x.key === key && x.ownerConnId !== 0);
}
