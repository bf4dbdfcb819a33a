/**
 * Soak: a mixed load of locks, semaphores, two-phase acquires, renewals and abrupt
 * disconnects against one embedded server. RSS is sampled throughout; afterwards, once every
 * client has left and GC has run, `stats` must be empty, and after `server.close()` no timer
 * or socket may remain.
 *
 * CI mode (default): a 10-second miniature; the end conditions are checked, the RSS trend is
 * only reported.
 *
 * Long mode: DFLOCK_RELIABILITY_LONG=1 runs for DFLOCK_SOAK_SECONDS (default and maximum
 * 600), samples RSS every 10 s and fails if it trends upward after the warm-up.
 *   DFLOCK_RELIABILITY_LONG=1 node_modules/.bin/deno test -A tests/reliability/soak_test.ts
 *   DFLOCK_RELIABILITY_LONG=1 node_modules/.bin/bun test --timeout 0 ./tests/reliability/soak_test.ts
 *   DFLOCK_RELIABILITY_LONG=1 node --test npm/esm/tests/reliability/soak_test.js
 * DFLOCK_RELIABILITY_VERBOSE=1 prints the operation counts and RSS samples.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { startTestServer } from "../_helpers/server.ts";
import { DflockError, DistributedLock, DistributedSemaphore } from "../../mod.ts";
import { ByteLineClient } from "../fuzz/byte_line_client.ts";
import { Prng } from "../fuzz/prng.ts";
import { closeDefaultClients } from "../../src/client/core.ts";

const LONG = process.env.DFLOCK_RELIABILITY_LONG === "1";
const VERBOSE = Boolean(process.env.DFLOCK_RELIABILITY_VERBOSE);

function envSeconds(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${name} must be a positive number`);
  return Math.min(n, 600);
}

const SECONDS = envSeconds("DFLOCK_SOAK_SECONDS", LONG ? 600 : 10);
const SAMPLE_MS = LONG ? 10_000 : 1000;
const WORKERS = 8;
const MIB = 1024 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Handle kinds that must not outlive the server, counted by getActiveResourcesInfo. */
function resources(): Map<string, number> | undefined {
  const info = (process as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo;
  if (typeof info !== "function") return undefined;
  const counts = new Map<string, number>();
  for (const kind of info.call(process)) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

/** Whether getActiveResourcesInfo reports timers at all (Bun returns an empty list). */
function resourcesSupported(): boolean {
  const timer = setTimeout(() => {}, 10_000);
  try {
    return (resources()?.get("Timeout") ?? 0) > 0;
  } finally {
    clearTimeout(timer);
  }
}

/** Kinds whose count grew between two snapshots. */
function grown(before: Map<string, number>, after: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [kind, n] of after) {
    if (n > (before.get(kind) ?? 0)) out.push(`${kind}: ${before.get(kind) ?? 0} -> ${n}`);
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

interface Tally {
  ops: Record<string, number>;
  timeouts: number;
  renewals: number;
  problems: string[];
}

function count(t: Tally, op: string): void {
  t.ops[op] = (t.ops[op] ?? 0) + 1;
}

/** One worker: random operations until the deadline. */
async function worker(id: number, address: string, port: number, until: number, t: Tally) {
  const p = new Prng(0x50a4 + id);
  const common = (key: string) => ({
    key,
    servers: [address],
    acquireTimeoutS: 2,
    leaseTtlS: 2,
    renewRatio: 0.3,
    connectTimeoutMs: 5000,
  });
  while (performance.now() < until && t.problems.length < 10) {
    const op = p.pick(["lock", "sem", "two-phase", "abandon", "raw-drop", "raw-partial"]);
    count(t, op);
    const holdMs = p.chance(0.15) ? p.range(700, 1500) : p.range(0, 30);
    try {
      if (op === "raw-drop" || op === "raw-partial") {
        const c = await ByteLineClient.open(port);
        try {
          if (op === "raw-drop") {
            const line = await c.request("l", `soak-lock-${p.int(8)}`, "0 2");
            assert.match(line, /^(ok [0-9a-f]{32} 2|timeout)$/);
          } else {
            c.send(`sl\nsoak-sem-${p.int(3)}\n0 2`); // no final newline
            await sleep(p.range(0, 20));
          }
        } finally {
          await c.close(); // gone without releasing
        }
        continue;
      }
      const lease = op === "sem"
        ? new DistributedSemaphore({ ...common(`soak-sem-${p.int(3)}`), limit: 2 })
        : new DistributedLock(common(`soak-lock-${p.int(8)}`));
      try {
        let held: boolean;
        if (op === "two-phase") {
          held = (await lease.enqueue()) === "acquired" || await lease.wait(2);
        } else {
          held = await lease.acquire();
        }
        if (!held) {
          t.timeouts++;
          continue;
        }
        const token = lease.token;
        const lease0 = lease.lease;
        await sleep(holdMs);
        if (holdMs >= 700) t.renewals++;
        if (lease.signal.aborted) {
          t.problems.push(`${op}: lease lost while held: ${lease.signal.reason}`);
          continue;
        }
        assert.equal(lease.token, token);
        assert.equal(lease0, 2);
        if (op !== "abandon") await lease.release();
      } finally {
        await lease.close();
      }
    } catch (err) {
      const name = err instanceof DflockError ? `${err.name}(${err.code})` : String(err);
      t.problems.push(`worker ${id} ${op}: ${name}: ${(err as Error).message ?? ""}`);
    }
  }
}

test(`soak: mixed load for ${SECONDS} s leaves no state, timers or sockets`, {
  timeout: (SECONDS + 60) * 1000,
}, async () => {
  const trackResources = resourcesSupported();
  const baseline = resources();
  const server = await startTestServer({
    defaultLeaseTtl: 3,
    leaseSweepInterval: 1,
    gcInterval: 1,
    gcMaxIdle: 1,
    readTimeout: 5,
    shutdownTimeout: 2,
    maxLocks: 10_000,
  });
  let closed = false;
  const samples: number[] = [];
  const sampler = setInterval(() => samples.push(process.memoryUsage().rss), SAMPLE_MS);
  const t: Tally = { ops: {}, timeouts: 0, renewals: 0, problems: [] };
  try {
    const port = server.addr.port;
    const address = `127.0.0.1:${port}`;
    samples.push(process.memoryUsage().rss);
    const until = performance.now() + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: WORKERS }, (_, i) => worker(i, address, port, until, t)),
    );
    clearInterval(sampler);
    samples.push(process.memoryUsage().rss);
    if (VERBOSE || LONG) {
      const mib = samples.map((s) => Math.round(s / MIB));
      console.log(JSON.stringify({ seconds: SECONDS, ...t, rssMiB: mib }));
    }
    assert.deepEqual(t.problems, []);
    const total = Object.values(t.ops).reduce((a, b) => a + b, 0);
    assert.ok(total >= WORKERS * 5, `only ${total} operations ran`);
    assert.ok(t.renewals > 0, "no lease was held long enough to be renewed");

    // Every client has left: once GC has run, nothing is left, idle keys included.
    const deadline = performance.now() + 8000;
    let snap = server.stats();
    const empty = (): boolean =>
      snap.connections === 0 && snap.locks.length === 0 && snap.semaphores.length === 0 &&
      snap.idleLocks.length === 0 && snap.idleSemaphores.length === 0;
    while (!empty() && performance.now() < deadline) {
      await sleep(100);
      snap = server.stats();
    }
    assert.ok(empty(), `stats not empty after GC: ${JSON.stringify(snap).slice(0, 500)}`);

    if (LONG) {
      // No upward trend after warm-up (the first fifth, at least one minute).
      const warm = Math.max(Math.ceil(60_000 / SAMPLE_MS), Math.ceil(samples.length / 5));
      const rest = samples.slice(warm);
      if (rest.length >= 6) {
        const third = Math.floor(rest.length / 3);
        const early = median(rest.slice(0, third));
        const late = median(rest.slice(-third));
        assert.ok(
          late <= early * 1.2 + 16 * MIB,
          `RSS rose from ${(early / MIB).toFixed(0)} to ${(late / MIB).toFixed(0)} MiB`,
        );
      }
    }

    await closeDefaultClients();

    await server.close();
    closed = true;
    if (trackResources && baseline !== undefined) {
      let left: string[] = [];
      for (let i = 0; i < 40; i++) {
        left = grown(baseline, resources() ?? new Map());
        if (left.length === 0) break;
        await sleep(50);
      }
      assert.deepEqual(left, [], "timers or sockets left behind");
    }
  } finally {
    clearInterval(sampler);
    if (!closed) await server.close();
  }
});
