/**
 * Robustness fuzz test of the dflockd server: several connections send random, mutated and
 * pipelined frames (random bytes, valid requests, mutations of them and of the conformance
 * transcripts' writes, over-long lines, invalid UTF-8, NUL bytes, pipelined floods) while two
 * well-behaved "witness" connections hold locks and a semaphore slot on their own keys. Every response is checked against the request the server read (the
 * framing model in server_view.ts predicts exactly how many answers each write gets), the
 * witnesses' state must survive untouched, and the server must still work and shut down
 * cleanly afterwards.
 *
 * Environment (read through node:process):
 *   DFLOCK_FUZZ_SEED    seed of the run (default 20240601); a failure message names it.
 *   DFLOCK_FUZZ_FRAMES  number of fuzz frames over all connections (default 3000).
 *   DFLOCK_FUZZ_VERBOSE set to print what each fuzz connection did (and progress every
 *                       50 000 frames per worker).
 *
 * Long variant (minutes):
 *   DFLOCK_FUZZ_FRAMES=1000000 node_modules/.bin/deno test -A tests/fuzz/server_fuzz_test.ts
 *   DFLOCK_FUZZ_FRAMES=1000000 DFLOCK_FUZZ_SEED=7 node_modules/.bin/bun test --timeout 0 ./tests/fuzz/server_fuzz_test.ts
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { startTestServer } from "../_helpers/server.ts";
import { Prng } from "./prng.ts";
import { FrameGenerator } from "./frames.ts";
import { ServerView, type Triple } from "./server_view.ts";
import { checkResponse, escapeBytes } from "./responses.ts";
import { ByteLineClient } from "./byte_line_client.ts";
import { checkAgainstModel } from "./request_model.ts";
import { loadTranscripts } from "./transcripts.ts";

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be an integer >= 0`);
  return n;
}

const SEED = envInt("DFLOCK_FUZZ_SEED", 20240601);
const FRAMES = envInt("DFLOCK_FUZZ_FRAMES", 3000);
const VERBOSE = Boolean(process.env.DFLOCK_FUZZ_VERBOSE);
const WORKERS = 4;
const READ_TIMEOUT_S = 3;
const DEFAULT_LEASE = 2;
const WITNESS_LEASE = "10";
const LOCK_A = "witness-lock-a";
const LOCK_B = "witness-lock-b";
const SEM = "witness-sem";
/** How long witness C blocks behind B: longer than any run. */
const WITNESS_C_TIMEOUT_S = 7 * 24 * 3600;
/** Base wait for the answers to one frame; each possibly blocking request adds 1.5 s. */
const FRAME_WAIT_MS = 5000;
/** Writes of the conformance transcripts, replayed and mutated by every worker. */
const TRANSCRIPTS = loadTranscripts();

/** Shared by all tasks of the run: the first problems found, and the stop flag. */
interface Run {
  problems: string[];
  stop: boolean;
  /** The longest event-loop stall seen so far (server and clients share the loop). */
  maxLagMs: number;
}

function fail(run: Run, problem: string): void {
  if (run.problems.length < 10) {
    const lag = `longest event-loop stall so far ${run.maxLagMs.toFixed(0)} ms`;
    run.problems.push(`[seed ${SEED}] ${problem} (${lag})`);
  }
  run.stop = true;
}

/** Tracks event-loop stalls, to tell a starved machine from a server bug in reports. */
function watchLag(run: Run): () => void {
  const tick = 50;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    run.maxLagMs = Math.max(run.maxLagMs, now - last - tick);
    last = now;
  }, tick);
  return () => clearInterval(timer);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function tokenOf(line: string, what: string): string {
  const m = /^(?:ok|acquired) ([0-9a-f]{32}) -?[0-9]+$/.exec(line);
  if (m === null) throw new Error(`${what}: unexpected answer ${JSON.stringify(line)}`);
  return m[1] as string;
}

/** The stats JSON (after `ok `), decoded from its UTF-8 bytes. */
interface StatsJson {
  connections: number;
  locks: { key: string; owner_conn_id: number; lease_expires_in_s: number; waiters: number }[];
  semaphores: { key: string; limit: number; holders: number; waiters: number }[];
}

function parseStats(line: string): StatsJson {
  assert.ok(line.startsWith("ok {"), `stats answered ${JSON.stringify(line.slice(0, 80))}`);
  const body = Uint8Array.from(line.slice(3), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(body)) as StatsJson;
}

/** The ids of the witness connections, learned from `stats` at setup. */
interface Witnesses {
  a: ByteLineClient;
  b: ByteLineClient;
  c: ByteLineClient;
  idA: number;
  idB: number;
  tokA: string;
  tokSemA: string;
  tokB: string;
  tokSemB: string;
}

/** Describes how the witness keys differ from the expected state, or undefined if they don't. */
function witnessProblem(s: StatsJson, w: Witnesses): string | undefined {
  const a = s.locks.find((l) => l.key === LOCK_A);
  const b = s.locks.find((l) => l.key === LOCK_B);
  const sem = s.semaphores.find((x) => x.key === SEM);
  const seen = JSON.stringify({ a, b, sem });
  if (a?.owner_conn_id !== w.idA || a.waiters !== 1 || !(a.lease_expires_in_s > 0)) {
    return `${LOCK_A} should be held by conn ${w.idA} with 1 waiter: ${seen}`;
  }
  if (b?.owner_conn_id !== w.idB || b.waiters !== 1 || !(b.lease_expires_in_s > 0)) {
    return `${LOCK_B} should be held by conn ${w.idB} with 1 waiter: ${seen}`;
  }
  if (sem?.limit !== 3 || sem.holders !== 2 || sem.waiters !== 0) {
    return `${SEM} should have limit 3, 2 holders, 0 waiters: ${seen}`;
  }
  return undefined;
}

async function setUpWitnesses(port: number): Promise<Witnesses> {
  const a = await ByteLineClient.open(port);
  const tokA = tokenOf(await a.request("l", LOCK_A, `0 ${WITNESS_LEASE}`), "witness A l");
  const tokSemA = tokenOf(await a.request("sl", SEM, `0 3 ${WITNESS_LEASE}`), "witness A sl");
  const b = await ByteLineClient.open(port);
  const tokB = tokenOf(await b.request("l", LOCK_B, `0 ${WITNESS_LEASE}`), "witness B l");
  const tokSemB = tokenOf(await b.request("sl", SEM, `0 3 ${WITNESS_LEASE}`), "witness B sl");
  assert.equal(await b.request("e", LOCK_A, WITNESS_LEASE), "queued");
  // C blocks in `l` behind B for longer than the run (a week: long runs take more than the
  // 10 minutes an earlier 600 s timeout allowed); the read timeout does not apply to it.
  const c = await ByteLineClient.open(port);
  c.send(`l\n${LOCK_B}\n${WITNESS_C_TIMEOUT_S} ${WITNESS_LEASE}\n`);
  let stats = parseStats(await a.request("stats", "", ""));
  for (let i = 0; i < 100 && stats.locks.find((l) => l.key === LOCK_B)?.waiters !== 1; i++) {
    await sleep(20);
    stats = parseStats(await a.request("stats", "", ""));
  }
  const idA = stats.locks.find((l) => l.key === LOCK_A)?.owner_conn_id ?? 0;
  const idB = stats.locks.find((l) => l.key === LOCK_B)?.owner_conn_id ?? 0;
  assert.ok(idA > 0 && idB > 0 && idA !== idB, `witness ids ${idA} ${idB}`);
  const w = { a, b, c, idA, idB, tokA, tokSemA, tokB, tokSemB };
  assert.equal(witnessProblem(stats, w), undefined);
  return w;
}

/** A witness renews its slots and checks `stats` every 250 ms until the fuzzers are done. */
async function witnessLoop(
  run: Run,
  fuzzing: { done: boolean },
  w: Witnesses,
  conn: ByteLineClient,
  slots: [string, string][],
): Promise<number> {
  let rounds = 0;
  while (!fuzzing.done && !run.stop && rounds < 1_000_000) {
    rounds++;
    try {
      for (const [key, tok] of slots) {
        const line = await conn.request("n", key, `${tok} ${WITNESS_LEASE}`);
        if (line !== `ok ${WITNESS_LEASE}`) {
          fail(run, `witness renew of ${key} answered ${JSON.stringify(line)}`);
          return rounds;
        }
      }
      const problem = witnessProblem(parseStats(await conn.request("stats", "", "")), w);
      if (problem !== undefined) {
        fail(run, `during fuzzing: ${problem}`);
        return rounds;
      }
    } catch (err) {
      fail(run, `witness failed: ${err}`);
      return rounds;
    }
    await sleep(250);
  }
  return rounds;
}

/** What one fuzz connection did, for the final sanity checks. */
interface WorkerReport {
  frames: number;
  requests: number;
  reconnects: number;
  stalls: number;
  /** Frames made per kind. */
  kinds?: Record<string, number>;
}

/**
 * Sends `frames` fuzz frames on one connection at a time, checking every answer; opens a new
 * connection whenever the server legitimately closed the old one.
 */
async function fuzzWorker(
  run: Run,
  id: number,
  frames: number,
  port: number,
): Promise<WorkerReport> {
  const prng = new Prng((SEED * 31 + id) >>> 0);
  const gen = new FrameGenerator(prng.fork(), { transcripts: TRANSCRIPTS });
  const report: WorkerReport = { frames: 0, requests: 0, reconnects: 0, stalls: 0 };
  let slowLeft = 2 + Math.floor(frames / 500);
  const stallAt = prng.int(Math.max(1, frames));
  let conn = await ByteLineClient.open(port);
  let view = new ServerView();
  let history: string[] = [];
  const where = (i: number, extra: string): string => {
    const recent = history.slice(-3).map((f) => `"${escapeBytes(f).slice(0, 400)}"`).join(" + ");
    return `worker ${id} frame ${i}: ${extra}; the connection's last writes: ${recent}`;
  };
  try {
    for (let i = 0; i < frames && !run.stop; i++) {
      report.frames++;
      if (VERBOSE && i > 0 && i % 50_000 === 0) {
        console.log(`worker ${id}: ${i} frames, ${report.requests} requests`);
      }
      if (view.closed || conn.ended) {
        await conn.close();
        conn = await ByteLineClient.open(port);
        view = new ServerView();
        history = [];
        report.reconnects++;
      }
      const early = conn.pending;
      if (early.lines.length > 0 || early.partial !== "") {
        const bytes = escapeBytes(early.lines.join("\n") + early.partial);
        fail(run, where(i, `unsolicited bytes "${bytes}" before the next write`));
        return report;
      }
      if (i === stallAt) {
        // Read timeout: leave the connection idle or mid-request; the server must answer
        // `error` and close after readTimeout, not earlier and not never.
        report.stalls++;
        if (view.atBoundary && prng.chance(0.5)) {
          conn.send("stats\n");
          history.push("stats\n");
          view.feed("stats\n");
        }
        const started = performance.now();
        const line = await conn.readLine(READ_TIMEOUT_S * 1000 + FRAME_WAIT_MS);
        const waited = performance.now() - started;
        if (line !== "error") {
          fail(run, where(i, `read timeout answered ${line}`));
          return report;
        }
        if (waited < READ_TIMEOUT_S * 1000 * 0.75) {
          fail(run, where(i, `read timeout fired after ${waited.toFixed(0)} ms`));
          return report;
        }
        await conn.waitEnd(FRAME_WAIT_MS);
        view = new ServerView();
        history = [];
        await conn.close();
        conn = await ByteLineClient.open(port);
        continue;
      }
      const frame = gen.frame(view, slowLeft);
      slowLeft -= frame.slow;
      const outcome = view.feed(frame.bytes);
      history.push(frame.bytes);
      if (history.length > 8) history.shift();
      conn.send(frame.bytes);
      const wait = FRAME_WAIT_MS + 1500 * frame.slow;
      for (const t of outcome.requests) {
        report.requests++;
        const problem = await checkNext(conn, t, wait, gen);
        if (problem !== undefined) {
          fail(run, where(i, problem));
          return report;
        }
      }
      if (outcome.closes) {
        const line = await conn.readLine(wait);
        if (line !== "error") {
          fail(run, where(i, `over-long line answered ${JSON.stringify(line)}`));
          return report;
        }
        await conn.waitEnd(wait);
      }
    }
  } catch (err) {
    fail(run, where(report.frames - 1, `${err}`));
  } finally {
    await conn.close();
  }
  report.kinds = Object.fromEntries(gen.kinds);
  return report;
}

async function checkNext(
  conn: ByteLineClient,
  t: Triple,
  wait: number,
  gen: FrameGenerator,
): Promise<string | undefined> {
  const req = `${escapeBytes(t.command)}|${escapeBytes(t.key)}|${escapeBytes(t.arg)}`;
  const line = await conn.readLine(wait);
  if (line === null) {
    const partial = conn.pending.partial;
    return `connection closed instead of answering [${req}]` +
      (partial === "" ? "" : ` (unterminated bytes "${escapeBytes(partial)}")`);
  }
  const problem = checkResponse(t, line) ?? checkAgainstModel(t, line, DEFAULT_LEASE);
  if (problem !== undefined) {
    return `${problem}: [${req}] answered "${escapeBytes(line.slice(0, 200))}"`;
  }
  gen.learn(t.key, line);
  return undefined;
}

test("server survives fuzzed, mutated and pipelined input", {
  timeout: 60_000 + FRAMES * 20,
}, async () => {
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => {
    rejections.push(reason);
  };
  process.on("unhandledRejection", onRejection);
  const server = await startTestServer({
    defaultLeaseTtl: DEFAULT_LEASE,
    leaseSweepInterval: 1,
    gcInterval: 1,
    gcMaxIdle: 2,
    readTimeout: READ_TIMEOUT_S,
    writeTimeout: 5,
    shutdownTimeout: 2,
    maxLocks: 100_000,
    maxWaiters: 10_000,
  });
  const port = server.addr.port;
  const run: Run = { problems: [], stop: false, maxLagMs: 0 };
  const stopWatching = watchLag(run);
  const others: ByteLineClient[] = [];
  let closed = false;
  try {
    const w = await setUpWitnesses(port);
    others.push(w.a, w.b, w.c);
    const fuzzing = { done: false };
    const loops = [
      witnessLoop(run, fuzzing, w, w.a, [[LOCK_A, w.tokA], [SEM, w.tokSemA]]),
      witnessLoop(run, fuzzing, w, w.b, [[LOCK_B, w.tokB], [SEM, w.tokSemB]]),
    ];
    const per = Math.ceil(FRAMES / WORKERS);
    const reports = await Promise.all(
      Array.from({ length: WORKERS }, (_, i) => fuzzWorker(run, i, per, port)),
    );
    fuzzing.done = true;
    const rounds = await Promise.all(loops);
    if (VERBOSE) {
      const lag = Math.round(run.maxLagMs);
      console.log(JSON.stringify({ seed: SEED, reports, witnessRounds: rounds, maxLagMs: lag }));
    }
    assert.deepEqual(run.problems, []);

    const total = reports.reduce((n, r) => n + r.frames, 0);
    assert.ok(total >= FRAMES, `only ${total} frames sent`);
    assert.ok(rounds.every((n) => n > 0), "witnesses never checked in");
    if (FRAMES >= 1000) {
      for (const kind of ["transcript", "transcript-mutated", "overlong", "flood", "mutated"]) {
        const made = reports.reduce((n, r) => n + (r.kinds?.[kind] ?? 0), 0);
        assert.ok(made > 0, `no ${kind} frames were sent`);
      }
    }

    // The witnesses' locks, semaphore slots and queue entries survived the fuzzing.
    const stats = parseStats(await w.a.request("stats", "", ""));
    assert.equal(witnessProblem(stats, w), undefined);
    for (
      const [conn, key, tok] of [[w.a, LOCK_A, w.tokA], [w.a, SEM, w.tokSemA], [
        w.b,
        LOCK_B,
        w.tokB,
      ], [w.b, SEM, w.tokSemB]] as const
    ) {
      assert.equal(await conn.request("n", key, tok), "ok 2", `renew ${key}`);
    }
    // Releasing A's lock grants B's queued enqueue; releasing B's lock wakes blocked C.
    assert.equal(await w.a.request("r", LOCK_A, w.tokA), "ok");
    tokenOf(await w.b.request("w", LOCK_A, "1"), "witness B w after A released");
    assert.equal(await w.b.request("r", LOCK_B, w.tokB), "ok");
    const granted = await w.c.readLine(5000);
    assert.match(granted ?? "", new RegExp(`^ok [0-9a-f]{32} ${WITNESS_LEASE}$`));

    // A fresh connection still gets a lock round trip.
    const fresh = await ByteLineClient.open(port);
    others.push(fresh);
    const tok = tokenOf(await fresh.request("l", "after-fuzz", "0"), "fresh l");
    assert.equal(await fresh.request("r", "after-fuzz", tok), "ok");

    // Once every client is gone, no connection, holder or waiter is left behind.
    await Promise.all(others.map((c) => c.close()));
    let snap = server.stats();
    for (let i = 0; i < 100 && (snap.connections > 0 || snap.locks.length > 0); i++) {
      await sleep(50);
      snap = server.stats();
    }
    assert.equal(snap.connections, 0, "connections left open");
    assert.deepEqual(snap.locks, [], "locks still held or waited for");
    assert.deepEqual(snap.semaphores, [], "semaphore slots still held or waited for");

    // Shuts down cleanly and quickly.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      server.close().then(() => "closed"),
      new Promise<string>((resolve) => timer = setTimeout(() => resolve("hung"), 5000)),
    ]);
    clearTimeout(timer);
    closed = true;
    assert.equal(outcome, "closed", "server.close() did not finish within 5 s");
    assert.deepEqual(rejections, [], "unhandled promise rejections");
  } finally {
    run.stop = true;
    stopWatching();
    await Promise.all(others.map((c) => c.close()));
    if (!closed) await server.close();
    process.off("unhandledRejection", onRejection);
  }
});
