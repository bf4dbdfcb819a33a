/**
 * Mutual exclusion against a real 3-node dflockd Raft cluster, with leader crashes (SIGKILL) and
 * graceful leader restarts (SIGTERM) injected while workers lock a few shared keys through
 * `DflockClient` in cluster mode. Every worker runs in this process, on one clock, and records
 * the interval in which it believed it held a key: from reading the grant to the first of its
 * body ending and its signal aborting. The check: no two believed-held intervals of a key overlap,
 * and fences increase in grant order.
 *
 * It needs a cluster-capable Go dflockd (not part of the test suite):
 *
 *     DFC=$(mktemp -d); ../shared/reference/cluster/build.sh $DFC
 *     deno run -A bench/cluster_safety.ts --dflockd $DFC/bin/dflockd --seconds 60
 *
 * Options: `--workers N` (8), `--keys N` (3), `--port P` (first client port, 26381; raft ports
 * from P + 620), `--seconds N` (60).
 *
 * @module
 */

import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { connect, DflockClient, LeaseLostError } from "../mod.ts";

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const binary = flag("dflockd", "");
if (binary === "") {
  console.error("usage: cluster_safety.ts --dflockd PATH [--seconds N] [--workers N] [--keys N]");
  process.exit(2);
}
const seconds = Number(flag("seconds", "60"));
const workers = Number(flag("workers", "8"));
const keyCount = Number(flag("keys", "3"));
const basePort = Number(flag("port", "26381"));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- the cluster ------------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), "dflock-cluster-"));
const tokenFile = join(dir, "raft-token");
writeFileSync(tokenFile, "0123456789abcdef".repeat(3), { mode: 0o600 });
const clientAddr = (i: number): string => `127.0.0.1:${basePort + i}`;
const raftAddr = (i: number): string => `127.0.0.1:${basePort + 620 + i}`;
const peers = [0, 1, 2].map((i) => `n${i + 1}=${raftAddr(i)}@${clientAddr(i)}`).join(",");
const nodes: (ChildProcess | undefined)[] = [undefined, undefined, undefined];

function startNode(i: number): void {
  const log = openSync(join(dir, `n${i + 1}.log`), "a");
  nodes[i] = spawn(binary, [
    "--node-id",
    `n${i + 1}`,
    "--host",
    "127.0.0.1",
    "--port",
    String(basePort + i),
    "--http-port",
    "0",
    "--raft-dir",
    join(dir, `n${i + 1}`),
    "--raft-addr",
    raftAddr(i),
    "--cluster-peers",
    peers,
    "--raft-auth-token-file",
    tokenFile,
    "--shutdown-timeout",
    "5",
  ], { stdio: ["ignore", log, log] });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => child.once("exit", () => r()));
}

/** The member whose `stats` says it leads, or -1. */
async function findLeader(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    if (nodes[i] === undefined) continue;
    try {
      await using conn = await connect({
        host: "127.0.0.1",
        port: basePort + i,
        connectTimeoutMs: 500,
      });
      const line = await conn.request("stats", "_", "", { signal: AbortSignal.timeout(1000) });
      const role = JSON.parse(line.slice(3))?.cluster?.role;
      if (role === "leader") return i;
    } catch {
      // down or busy: not the leader we can use
    }
  }
  return -1;
}

// ---- the workload -----------------------------------------------------------------------------

interface Interval {
  key: string;
  worker: number;
  enter: number;
  end: number;
  fence: bigint | undefined;
  lost: boolean;
}

const intervals: Interval[] = [];
const errors = new Map<string, number>();
let acquires = 0;
let timeouts = 0;
const ends = performance.now() + seconds * 1000;

async function worker(id: number): Promise<void> {
  await using client = new DflockClient({
    servers: [0, 1, 2].map(clientAddr),
    cluster: true,
    requestTimeoutMs: 2000,
  });
  let n = id;
  while (performance.now() < ends) {
    const key = `k${n++ % keyCount}`;
    const lock = client.lock(key, { leaseTtlS: 3, acquireTimeoutS: 5 });
    try {
      acquires++;
      if (!await lock.acquire()) {
        timeouts++;
        continue;
      }
      const enter = performance.now();
      let abortedAt = Infinity;
      lock.signal.addEventListener("abort", () => abortedAt = performance.now(), { once: true });
      await sleep(20 + Math.random() * 150);
      const exit = performance.now();
      intervals.push({
        key,
        worker: id,
        enter,
        end: Math.min(exit, abortedAt),
        fence: lock.fence,
        lost: abortedAt !== Infinity,
      });
      await lock.release().catch((err) => {
        if (!(err instanceof LeaseLostError)) throw err;
      });
    } catch (err) {
      const name = err instanceof Error ? err.name : "unknown";
      errors.set(name, (errors.get(name) ?? 0) + 1);
      await sleep(100);
    } finally {
      await lock.close();
    }
  }
}

// ---- faults -----------------------------------------------------------------------------------

const faults: string[] = [];

async function injectFaults(): Promise<void> {
  let round = 0;
  while (performance.now() < ends - 6000) {
    await sleep(4000 + Math.random() * 2000);
    const leader = await findLeader();
    if (leader < 0) continue;
    const child = nodes[leader]!;
    const crash = round++ % 2 === 0;
    child.kill(crash ? "SIGKILL" : "SIGTERM");
    await exited(child);
    nodes[leader] = undefined;
    faults.push(`${crash ? "SIGKILL" : "SIGTERM"} n${leader + 1}`);
    await sleep(1500);
    startNode(leader);
  }
}

// ---- run and check ----------------------------------------------------------------------------

for (let i = 0; i < 3; i++) startNode(i);
try {
  const until = performance.now() + 20_000;
  while (await findLeader() < 0) {
    if (performance.now() > until) throw new Error(`no leader elected; logs in ${dir}`);
    await sleep(200);
  }
  await Promise.all([injectFaults(), ...Array.from({ length: workers }, (_, i) => worker(i))]);
} finally {
  for (const child of nodes) child?.kill("SIGKILL");
  await Promise.all(nodes.map((c) => c === undefined ? undefined : exited(c)));
}

let overlaps = 0;
let fenceInversions = 0;
const byKey = new Map<string, Interval[]>();
for (const iv of intervals) byKey.set(iv.key, [...(byKey.get(iv.key) ?? []), iv]);
for (const list of byKey.values()) {
  list.sort((a, b) => a.enter - b.enter);
  let reach = -Infinity;
  let lastFence: bigint | undefined;
  for (const iv of list) {
    if (iv.enter < reach) overlaps++;
    reach = Math.max(reach, iv.end);
    if (iv.fence !== undefined && lastFence !== undefined && iv.fence <= lastFence) {
      fenceInversions++;
    }
    if (iv.fence !== undefined) lastFence = iv.fence;
  }
}

const summary = {
  seconds,
  workers,
  keys: keyCount,
  faults,
  acquires,
  sections: intervals.length,
  lossesReported: intervals.filter((iv) => iv.lost).length,
  acquireTimeouts: timeouts,
  errors: Object.fromEntries(errors),
  overlaps,
  fenceInversions,
};
console.log(JSON.stringify(summary, null, 2));
rmSync(dir, { recursive: true, force: true });
process.exit(overlaps === 0 && fenceInversions === 0 ? 0 : 1);
