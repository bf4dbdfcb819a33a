/**
 * The demo's first three scenes: a FIFO lock hand-off, a semaphore of 2, and the two-phase
 * enqueue / wait. Each runs real clients against the embedded server.
 *
 * @module
 */

import { DistributedLock } from "../lock.ts";
import { DistributedSemaphore } from "../semaphore.ts";
import type { Server } from "../server/server.ts";
import type { LockInfo, SemaphoreInfo } from "../protocol/stats.ts";
import { between, sleep, type Timeline, until } from "./_demo_timeline.ts";

/** What every scene needs. */
export interface DemoContext {
  /** The printer. */
  t: Timeline;
  /** The embedded server (its `stats()` shows queues). */
  server: Server;
  /** `host:port` of the embedded server. */
  address: string;
}

/**
 * The server's view of one lock.
 *
 * @returns Its stats, or `undefined` when nobody holds it.
 */
export function lockStats(server: Server, key: string): LockInfo | undefined {
  return server.stats().locks.find((l) => l.key === key);
}

function semStats(server: Server, key: string): SemaphoreInfo | undefined {
  return server.stats().semaphores.find((s) => s.key === key);
}

/**
 * Formats the fencing number of a held lock for printing.
 *
 * @param fence The fence, if any.
 * @returns ` (fence N)` or an empty string.
 */
export function fenceNote(fence: bigint | undefined): string {
  return fence === undefined ? "" : ` (fence ${fence})`;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => {};
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Scene 1: five workers contend for one lock; the server grants it in arrival order.
 *
 * @param ctx Printer and server.
 * @returns Resolves once every worker has released.
 */
export async function fifoScene(ctx: DemoContext): Promise<void> {
  const { t, server, address } = ctx;
  const key = "jobs/report";
  t.heading(`1. Five workers contend for one lock (${key}); the server hands it over FIFO`);
  const lined = deferred();
  const work = async (name: string, lock: DistributedLock, first: boolean): Promise<void> => {
    try {
      if (!await lock.acquire()) throw new Error(`${name} timed out acquiring ${key}`);
      const hold = between(200, 400);
      t.log(name, `acquired ${key}${fenceNote(lock.fence)}, works ${hold} ms`);
      // The first holder also waits for the queue to form, so arrival order is well defined.
      await Promise.all([sleep(hold), first ? lined.promise : undefined]);
      t.log(name, `releases ${key}`);
      await lock.release();
    } finally {
      await lock.close();
    }
  };
  const runs: Promise<void>[] = [];
  try {
    for (let i = 1; i <= 5; i++) {
      const name = `worker-${i}`;
      const lock = new DistributedLock({ key, servers: [address], leaseTtlS: 10 });
      runs.push(work(name, lock, i === 1));
      if (i === 1) {
        await until(() => lockStats(server, key) !== undefined, `${name} to hold ${key}`);
      } else {
        await until(() => (lockStats(server, key)?.waiters ?? 0) >= i - 1, `${name} to queue`);
        t.log(name, `queued for ${key} (position ${i - 1} in line)`);
      }
    }
  } finally {
    lined.resolve();
    await Promise.all(runs);
  }
}

/**
 * Scene 2: four workers share a semaphore of 2; never more than two are inside.
 *
 * @param ctx Printer and server.
 * @returns Resolves once every worker has left.
 */
export async function semaphoreScene(ctx: DemoContext): Promise<void> {
  const { t, server, address } = ctx;
  const key = "pool/db";
  t.heading(`2. Four workers share a semaphore of 2 (${key}): at most two inside`);
  const inside = new Set<string>();
  let most = 0;
  const names = (): string => [...inside].join(", ") || "nobody";
  const work = async (name: string): Promise<void> => {
    const sem = new DistributedSemaphore({ key, limit: 2, servers: [address], leaseTtlS: 10 });
    try {
      if (!await sem.acquire()) throw new Error(`${name} timed out acquiring ${key}`);
      inside.add(name);
      most = Math.max(most, inside.size);
      const holders = semStats(server, key)?.holders ?? 0;
      t.log(name, `entered (inside: ${names()}; server: ${holders} of 2 slots taken)`);
      await sleep(between(200, 400));
      inside.delete(name);
      t.log(name, `leaves  (inside: ${names()})`);
      await sem.release();
    } finally {
      await sem.close();
    }
  };
  const runs = [1, 2, 3, 4].map((i) => {
    t.log(`worker-${i}`, `asks for a slot`);
    return work(`worker-${i}`);
  });
  await Promise.all(runs);
  t.log("demo", `most workers inside at once: ${most} (limit 2)`);
}

/**
 * Scene 3: two-phase acquisition. Enqueue returns at once ("acquired" or "queued"), the
 * worker does something else (tells someone), then blocks in wait() until granted.
 *
 * @param ctx Printer and server.
 * @returns Resolves once both workers have released.
 */
export async function twoPhaseScene(ctx: DemoContext): Promise<void> {
  const { t, address } = ctx;
  const key = "jobs/deploy";
  t.heading(`3. Two-phase: enqueue (returns at once), notify, then wait (${key})`);
  const first = new DistributedLock({ key, servers: [address], leaseTtlS: 10 });
  const second = new DistributedLock({ key, servers: [address], leaseTtlS: 10 });
  try {
    const s1 = await first.enqueue();
    t.log("worker-1", `enqueue -> ${s1}${fenceNote(first.fence)}`);
    const s2 = await second.enqueue();
    t.log("worker-2", `enqueue -> ${s2} (returned at once; its place in line is kept)`);
    t.log("worker-2", `notifies: "deploy #42 is waiting for ${key}" (anything can run here)`);
    t.log("worker-2", `wait() ...`);
    const granted = second.wait(5);
    await sleep(300);
    t.log("worker-1", `releases ${key}`);
    await first.release();
    const ok = await granted;
    t.log("worker-2", `wait -> ${ok ? "granted" : "timed out"}${fenceNote(second.fence)}`);
    if (!ok) throw new Error(`worker-2 was not granted ${key}`);
    await second.release();
    t.log("worker-2", `released ${key}`);
  } finally {
    await Promise.all([first.close(), second.close()]);
  }
}
