/**
 * The workload of the mutual-exclusion test: in-process workers (several per process) and
 * child-process workers running critical sections on a few shared keys through
 * `DistributedLock` / `DistributedSemaphore`, with faults injected at planned sections, and
 * FIFO rounds. Everything is recorded as a {@linkcode History} for `_checker.ts`.
 *
 * @module
 */

import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { DistributedLock, DistributedSemaphore } from "../../mod.ts";
import { startTestServer } from "../_helpers/server.ts";
import type { Server } from "../../src/server/mod.ts";
import { detectRuntime, getAdapter } from "../../src/transport/auto.ts";
import type { TransportAdapter } from "../../src/transport/types.ts";
import { ClientTap, ServerTap } from "./_faults.ts";
import { fromChild, narrowClock } from "./_history.ts";
import type {
  ChildSection,
  ClockBounds,
  FaultKind,
  FifoRound,
  History,
  Section,
} from "./_history.ts";
import { closeDefaultClients } from "../../src/client/core.ts";

/** What a worker needs from a lock or semaphore object. */
export interface Holdable {
  acquire(): Promise<boolean>;
  release(): Promise<void>;
  close(): Promise<void>;
  readonly token: string | undefined;
  readonly fence: bigint | undefined;
  readonly lease: number | undefined;
  readonly signal: AbortSignal;
}

/** Makes the object a worker locks with. */
export type MakeHoldable = (key: string, limit: number, tap: ClientTap) => Holdable;

/** The library under test: a lock for limit 1, a semaphore otherwise, lease 1 s. */
export function realHoldable(port: number): MakeHoldable {
  return (key, limit, tap) => {
    const common = {
      key,
      servers: [`127.0.0.1:${port}`],
      leaseTtlS: 1,
      acquireTimeoutS: 60,
      transport: tap.adapter,
    };
    return limit === 1 ? new DistributedLock(common) : new DistributedSemaphore({
      ...common,
      limit,
    });
  };
}

/** Seeded PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function waitAbort(signal: AbortSignal, ms: number): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}

/** Shared state of one run. */
export interface RunContext {
  /** Makes lock objects. */
  make: MakeHoldable;
  /** The runtime's transport adapter. */
  base: TransportAdapter;
  /** Server-side connection dropper (absent when there is no tapped server). */
  serverTap: ServerTap | undefined;
  /** The in-process server, for `stats` (absent in mutation tests that bypass it). */
  server: Server | undefined;
  /** Where sections go. */
  sections: Section[];
  /** Acquires that timed out. */
  timeouts: number;
}

/** One in-process worker. */
export interface WorkerPlan {
  /** Name. */
  name: string;
  /** Key. */
  key: string;
  /** Limit (1 = lock). */
  limit: number;
  /** Sections to run. */
  count: number;
  /** Faults by section index. */
  faults: Map<number, FaultKind>;
  /** Random source for hold times. */
  random: () => number;
}

/**
 * Runs one worker's critical sections, recording each.
 *
 * @param ctx The run.
 * @param plan The worker.
 */
export async function runWorker(ctx: RunContext, plan: WorkerPlan): Promise<void> {
  const tap = new ClientTap(ctx.base);
  for (let i = 0; i < plan.count; i++) {
    const lock = ctx.make(plan.key, plan.limit, tap);
    const call = performance.now();
    if (!await lock.acquire()) {
      ctx.timeouts++;
      await lock.close();
      continue;
    }
    const enter = performance.now();
    const lease = lock.lease ?? 1;
    const s: Section = {
      key: plan.key,
      limit: plan.limit,
      worker: plan.name,
      token: lock.token ?? "",
      fence: lock.fence,
      lease,
      call,
      enter,
    };
    // The lease horizon of a lock: its expiry on the server, read from `stats` in the same
    // process (exact: the table's own number) when the holder there is this connection;
    // otherwise the lease is already gone on the server. Semaphores have no per-holder expiry
    // in `stats`; they get no horizon (and no pause faults).
    if (plan.limit === 1 && ctx.server !== undefined && ctx.serverTap !== undefined) {
      const now = performance.now();
      const entry = ctx.server.stats().locks.find((l) => l.key === plan.key);
      const owner = ctx.serverTap.connIdOf(s.token);
      if (entry !== undefined && owner !== undefined && entry.ownerConnId === owner) {
        s.horizon = now + entry.leaseExpiresInS * 1000;
        if (tap.lastReadAt >= call) s.receiptLagMs = tap.lastReadAt - (s.horizon - lease * 1000);
      } else {
        s.horizon = now;
      }
    }
    const signal = lock.signal;
    const onAbort = (): void => {
      s.abort = performance.now();
      s.abortReason = (signal.reason as Error | undefined)?.name ?? String(signal.reason);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    ctx.sections.push(s);
    const fault = plan.faults.get(i);
    if (fault === "client-close") {
      s.fault = fault;
      s.revoke = performance.now();
      await tap.closeConnections();
      await waitAbort(signal, 5000);
    } else if (fault === "server-drop" && ctx.serverTap !== undefined) {
      s.fault = fault;
      s.revoke = performance.now();
      if (!ctx.serverTap.drop(s.token)) throw new Error(`no server connection holds ${s.token}`);
      await waitAbort(signal, 5000);
    } else if (fault === "pause") {
      // Frozen past the lease: nothing leaves this connection (no renewal), the body ignores
      // the signal and sleeps longer than the lease.
      s.fault = fault;
      tap.stallConnections();
      await sleep(lease * 1000 + 300);
      tap.resumeConnections();
    } else {
      const r = plan.random();
      // Semaphore holders hold a little longer so that the slots really fill up.
      if (plan.limit > 1) await sleep(1 + Math.floor(r * 3));
      else if (r < 0.5) await Promise.resolve();
      else if (r < 0.9) await sleep(0);
      else await sleep(1 + Math.floor(r * 3));
    }
    if (tap.lastRenewAt > enter) {
      // Renewed: the server extended the lease at some time after the renewal was sent.
      s.horizon = Math.max(s.horizon ?? 0, tap.lastRenewAt + lease * 1000);
    }
    s.exit = performance.now();
    try {
      await lock.release();
      s.released = "ok";
    } catch (err) {
      s.released = (err as Error).name;
    }
    signal.removeEventListener("abort", onAbort);
    await lock.close();
  }
}

/** The entry of the child worker, on the current runtime. */
function childCommand(): { command: string; args: string[] } {
  const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  const script = fileURLToPath(new URL(`./_worker_child${ext}`, import.meta.url));
  if (detectRuntime() === "deno") return { command: process.execPath, args: ["run", "-A", script] };
  return { command: process.execPath, args: [script] };
}

/** Result of a child worker. */
export interface ChildOutcome {
  /** Sections on the parent clock. */
  sections: Section[];
  /** Whether it was killed in its hanging section. */
  killed: boolean;
  /** Clock bounds width, ms. */
  clockUncertaintyMs: number;
}

/**
 * Runs a worker in a child process; kills it (SIGKILL) as soon as it reports entering its
 * section `hangAt` (pass -1 for none).
 *
 * @param port Server port.
 * @param key Key (a lock).
 * @param name Worker name.
 * @param count Sections.
 * @param hangAt Section to be killed in.
 * @returns Its sections on the parent clock.
 */
export async function runChild(
  port: number,
  key: string,
  name: string,
  count: number,
  hangAt: number,
): Promise<ChildOutcome> {
  const { command, args } = childCommand();
  const child = spawn(command, [...args, String(port), key, name, String(count), String(hangAt)], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (c: string) => stderr += c);
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  let bounds: ClockBounds = { lo: -Infinity, hi: Infinity };
  const open = new Map<string, ChildSection>();
  const done: ChildSection[] = [];
  let killedAt: number | undefined;
  let syncSent = 0;
  let syncAt = 0;
  const SYNCS = 8;
  let finished = false;
  let failure: string | undefined;
  const lines = (text: string): void => {
    const m = JSON.parse(text) as { t: string; k?: number; c?: number; s?: ChildSection };
    const now = performance.now();
    if (m.t === "ready" || (m.t === "sync" && m.k === syncSent)) {
      if (m.t === "sync") bounds = narrowClock(bounds, syncAt, m.c!, now);
      if (syncSent < SYNCS) {
        syncSent++;
        syncAt = performance.now();
        child.stdin!.write(`sync ${syncSent}\n`);
      } else {
        child.stdin!.write("go\n");
      }
    } else if (m.t === "enter") {
      open.set(m.s!.token, m.s!);
      if (done.length + open.size - 1 === hangAt && killedAt === undefined) {
        killedAt = performance.now();
        child.kill("SIGKILL");
      }
    } else if (m.t === "sec") {
      open.delete(m.s!.token);
      done.push(m.s!);
    } else if (m.t === "done") {
      finished = true;
    } else if (m.t === "error") {
      failure = text;
    }
  };
  let buf = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim() !== "") lines(line);
    }
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
  if (failure !== undefined) throw new Error(`child ${name} failed: ${failure}\n${stderr}`);
  if (!finished && killedAt === undefined) {
    throw new Error(`child ${name} ended early:\n${stderr}`);
  }
  const sections = done.map((s) => fromChild(s, bounds));
  for (const s of open.values()) {
    const sec = fromChild(s, bounds);
    sec.fault = "kill";
    sec.revoke = killedAt;
    sections.push(sec);
  }
  return { sections, killed: killedAt !== undefined, clockUncertaintyMs: bounds.hi - bounds.lo };
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

function waiters(server: Server, key: string): number {
  const st = server.stats();
  return st.locks.find((l) => l.key === key)?.waiters ??
    st.semaphores.find((s) => s.key === key)?.waiters ?? 0;
}

/**
 * One FIFO round on a key nobody else uses: `limit` holders take every slot, `n` waiters
 * queue one at a time (the next `acquire()` starts only once `stats` shows the previous one
 * queued, so queue order is known exactly), waiter `leaveAt` leaves the queue by aborting its
 * acquire, then the holders release and every remaining waiter records its fence.
 *
 * @param ctx The run (sections are recorded too).
 * @param server The server, for `stats`.
 * @param key The key.
 * @param limit The limit.
 * @param n Waiters.
 * @param leaveAt Index of the waiter that leaves (-1: none).
 * @returns The round.
 */
export async function fifoRound(
  ctx: RunContext,
  server: Server,
  key: string,
  limit: number,
  n: number,
  leaveAt: number,
): Promise<FifoRound> {
  const round: FifoRound = { key, enqueued: [], left: [], fences: {} };
  const holders: Holdable[] = [];
  for (let i = 0; i < limit; i++) {
    const h = ctx.make(key, limit, new ClientTap(ctx.base));
    if (!await h.acquire()) throw new Error("FIFO holder timed out");
    holders.push(h);
  }
  const runs: Promise<void>[] = [];
  let queued = 0;
  for (let i = 0; i < n; i++) {
    const name = `f${i}`;
    const tap = new ClientTap(ctx.base);
    const w = ctx.make(key, limit, tap);
    const call = performance.now();
    const leave = i === leaveAt;
    runs.push(
      w.acquire().then(async (ok) => {
        if (!ok) throw new Error(`FIFO waiter ${name} timed out`);
        const s: Section = {
          key,
          limit,
          worker: name,
          token: w.token ?? "",
          fence: w.fence,
          lease: w.lease ?? 1,
          call,
          enter: performance.now(),
        };
        round.fences[name] = w.fence;
        ctx.sections.push(s);
        s.exit = performance.now();
        await w.release();
        s.released = "ok";
        await w.close();
      }, async (err) => {
        if (!leave) throw err;
        await w.close();
      }),
    );
    queued++;
    await until(`waiter ${name} to queue`, () => waiters(server, key) === queued);
    round.enqueued.push(name);
    if (leave) {
      await tap.closeConnections();
      round.left.push(name);
      queued--;
      await until(`waiter ${name} to leave`, () => waiters(server, key) === queued);
    }
  }
  for (const h of holders) {
    await h.release();
    await h.close();
  }
  await Promise.all(runs);
  return round;
}

/** Size and shape of one batch. */
export interface BatchConfig {
  /** Seed for fault placement and hold times. */
  seed: number;
  /** Sections per in-process worker. */
  perWorker: number;
  /** Sections per child worker. */
  perChild: number;
  /** Faults of each kind per key (client-close, server-drop); pauses per key. */
  dropsPerKey: number;
  /** Pauses per key. */
  pausesPerKey: number;
  /** FIFO rounds per kind (lock, semaphore). */
  fifoRounds: number;
  /** Child workers (one of them is killed). */
  children: number;
  /** Replaces the library under test (mutation tests). */
  make?: MakeHoldable;
  /** Run without child processes (mutation tests). */
  inProcessOnly?: boolean;
  /** Told the server's port before any worker starts. */
  onServer?: (port: number) => void;
}

/** Outcome of a batch. */
export interface BatchResult {
  /** The record. */
  history: History;
  /** Acquire timeouts. */
  timeouts: number;
  /** Children killed. */
  kills: number;
  /** Widest child clock uncertainty, ms. */
  clockUncertaintyMs: number;
  /** Wall time, ms. */
  elapsedMs: number;
}

/**
 * Runs one batch: a server, workers on keys `L0`, `L1` (locks, in-process), `L2` (lock,
 * in-process and child processes), `S0` (semaphore of 3), faults, FIFO rounds.
 *
 * @param config Size.
 * @returns The history and figures.
 */
export async function runBatch(config: BatchConfig): Promise<BatchResult> {
  const started = performance.now();
  const base = await getAdapter();
  const serverTap = new ServerTap(base);
  const server = await startTestServer({
    leaseSweepInterval: 0.05,
    defaultLeaseTtl: 1,
    gcInterval: 60,
    shutdownTimeout: 2,
    transport: serverTap.adapter,
  });
  config.onServer?.(server.addr.port);
  const ctx: RunContext = {
    make: config.make ?? realHoldable(server.addr.port),
    base,
    serverTap,
    server: config.make === undefined ? server : undefined,
    sections: [],
    timeouts: 0,
  };
  const random = prng(config.seed);
  const plans: WorkerPlan[] = [];
  const keys: [string, number, number][] = [["L0", 1, 4], ["L1", 1, 4], ["L2", 1, 2], [
    "S0",
    3,
    6,
  ]];
  let w = 0;
  for (const [key, limit, workers] of keys) {
    const faults: FaultKind[] = [];
    for (let i = 0; i < config.dropsPerKey; i++) faults.push("client-close", "server-drop");
    if (limit === 1) { for (let i = 0; i < config.pausesPerKey; i++) faults.push("pause"); }
    const keyPlans: WorkerPlan[] = [];
    for (let i = 0; i < workers; i++) {
      keyPlans.push({
        name: `p${w++}`,
        key,
        limit,
        count: config.perWorker,
        faults: new Map(),
        random: prng(Math.floor(random() * 2 ** 32)),
      });
    }
    for (const f of faults) {
      const p = keyPlans[Math.floor(random() * keyPlans.length)]!;
      for (let tries = 0; tries < 100; tries++) {
        const at = 1 + Math.floor(random() * (config.perWorker - 1));
        if (!p.faults.has(at)) {
          p.faults.set(at, f);
          break;
        }
      }
    }
    plans.push(...keyPlans);
  }
  const fifo: FifoRound[] = [];
  let kills = 0;
  let clock = 0;
  try {
    const jobs: Promise<unknown>[] = plans.map((p) => runWorker(ctx, p));
    if (!config.inProcessOnly) {
      for (let c = 0; c < config.children; c++) {
        const hangAt = c === 0 ? Math.floor(config.perChild / 2) : -1;
        jobs.push(
          runChild(server.addr.port, "L2", `c${c}`, config.perChild, hangAt).then((out) => {
            ctx.sections.push(...out.sections);
            if (out.killed) kills++;
            clock = Math.max(clock, out.clockUncertaintyMs);
          }),
        );
      }
    }
    jobs.push((async () => {
      for (let r = 0; r < config.fifoRounds; r++) {
        fifo.push(await fifoRound(ctx, server, "F-lock", 1, 5, r % 2 === 0 ? 2 : -1));
        fifo.push(await fifoRound(ctx, server, "F-sem", 3, 5, r % 2 === 1 ? 1 : -1));
      }
    })());
    const results = await Promise.allSettled(jobs);
    for (const r of results) if (r.status === "rejected") throw r.reason;
  } finally {
    await closeDefaultClients();
    await server.close();
  }
  return {
    history: { sections: ctx.sections, fifo },
    timeouts: ctx.timeouts,
    kills,
    clockUncertaintyMs: clock,
    elapsedMs: performance.now() - started,
  };
}
