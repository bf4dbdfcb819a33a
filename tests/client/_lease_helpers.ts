/**
 * Shared helpers of the high-level client tests: a real server on port 0 and bounded polling.
 *
 * @module
 */

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { withServer as withTestServer } from "../_helpers/server.ts";
import type { Server, ServerOptions } from "../../src/server/mod.ts";

/**
 * Runs `fn` with a fresh server on 127.0.0.1, port 0 (2 s drain); closes it afterwards.
 *
 * @param options Server options.
 * @param fn The test body.
 * @returns What `fn` returned.
 */
export function withServer<T>(
  options: ServerOptions,
  fn: (server: Server, address: string) => Promise<T>,
): Promise<T> {
  return withTestServer({ shutdownTimeout: 2, ...options }, fn);
}

/**
 * Polls `predicate` every 10 ms until it holds, at most `timeoutMs`.
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
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Waiters on a lock or semaphore key, from the server's stats.
 *
 * @param server The server.
 * @param key The key.
 * @returns The number of queued waiters (0 when the key is not contended).
 */
export function waitersOf(server: Server, key: string): number {
  const s = server.stats();
  const l = s.locks.find((x) => x.key === key);
  if (l !== undefined) return l.waiters;
  return s.semaphores.find((x) => x.key === key)?.waiters ?? 0;
}

/**
 * Tells whether the server currently has a holder for a lock key.
 *
 * @param server The server.
 * @param key The key.
 * @returns `true` when held.
 */
export function isHeld(server: Server, key: string): boolean {
  return server.stats().locks.some((x) => x.key === key);
}

/** Sleeps (only where the test is about elapsed time, never as synchronisation). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Reads a fixture file under `tests/`, next to this file or (from a compiled copy) in the
 * source tree.
 *
 * @param path Path below `tests/`, e.g. `transport/fixtures/cert.pem`.
 * @returns The file's text.
 */
export function readFixture(path: string): string {
  for (const up of ["../", "../../../../tests/"]) {
    const url = new URL(`${up}${path}`, import.meta.url);
    if (existsSync(url)) return readFileSync(url, "utf8");
  }
  throw new Error(`Cannot find the fixture tests/${path}`);
}

/**
 * The error `promise` rejects with.
 *
 * @param promise The promise expected to reject.
 * @returns What it rejected with; the test fails when it resolves.
 */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail("expected a rejection");
}
