/**
 * Shared-client benchmark: the pooled `DflockClient` (one client for all workers, a new lock
 * object per op) against the low-level API on persistent connections, against redis-semaphore
 * on one shared ioredis client, and the connection-per-lock mode against dflockd-client 1.11;
 * all in one run, interleaved, against the same server process.
 *
 * Usage (from the repository root):
 *
 *     deno run -A bench/shared_client.ts [options]
 *     bun bench/shared_client.ts [options]
 *     node npm/esm/bench/shared_client.js [options]      (after the npm build)
 *
 * Shapes (one op = one acquire+release; `concurrent` and `sequential`: of a key no other op of
 * the run uses; the per-conn shapes: of the worker's own key, see below; run in the order
 * per-conn, per-conn-seq, concurrent, sequential):
 *
 * - `concurrent`: `--workers` x `--rounds` (100 x 500): dflock-withLock, dflock-low-level,
 *   redis-semaphore;
 * - `sequential`: 1 x `--seq-rounds` (2000): the same three;
 * - `per-conn`: `--workers` x `--lock-rounds` (100 x 50) and `per-conn-seq`: 1 x
 *   `--lock-seq-rounds` (1000): client-ts (dflockd-client 1.11 `DistributedLock`, a connection
 *   per lock) against the pooled dflock-withLock in the same shape; on Node only unless
 *   `--per-conn-anywhere`.
 *   These run first and use one key per worker: Go dflockd 1.10 scans all its keys on every
 *   disconnect, so tens of thousands of idle keys would make each connection cost the server
 *   milliseconds and measure that instead of the clients.
 *
 * Per shape: the dflock keys are created on the server first (one unrecorded low-level pass over
 * every key of the shape, so no run pays for inserting them), every target runs once at a fifth
 * of its rounds (warm-up), then `--runs` reps, each running every target once, the order
 * rotated by one per rep (A B C, B C A, C A B). Ratios are taken per rep (targets of the same
 * rep) and summarised.
 *
 * Goals: concurrent withLock / low-level ops/s >= 0.8; concurrent withLock / redis-semaphore
 * ops/s >= 1.0; withLock / client-ts ops/s >= 1.0 (both per-conn shapes); sequential withLock
 * p50 / low-level p50 <= 1.10 (a low-level op is two round trips).
 *
 * Server: `--server go` (the default when `--go-server PATH` or `DFLOCKD_GO=PATH` is given):
 * the Go dflockd binary; `--server dflock`: our server (`src/cli/main.ts serve`) on this
 * runtime; `DFLOCKD_ADDR=host:port`: an already running server (nothing started). Redis:
 * `redis-server` (or `--redis-server PATH`) started on a free port, no persistence.
 * `--pin`: the servers under `taskset -c 0`, this process pinned to CPU 1.
 *
 * Options:
 *
 *     --runs N               reps (default 3)
 *     --workers N            concurrent workers (default 100)
 *     --rounds N             ops per concurrent worker (default 500)
 *     --seq-rounds N         ops of the sequential worker (default 2000)
 *     --lock-rounds N        ops per per-conn worker (default 50)
 *     --lock-seq-rounds N    ops of the per-conn-seq worker (default 1000)
 *     --target LIST          comma list of dflock-withLock,dflock-low-level,redis-semaphore,
 *                            client-ts (default all)
 *     --shape LIST           comma list of concurrent,sequential,per-conn,per-conn-seq
 *     --server go|dflock     which server to start (see above)
 *     --go-server PATH       the Go dflockd binary (or env DFLOCKD_GO)
 *     --redis-server PATH    the redis-server binary (default redis-server)
 *     --client-ts TGZ        dflockd-client tarball (default
 *                            ../shared/reference/dflockd-client-ts-1.11.0.tgz)
 *     --per-conn-anywhere    run the per-conn shapes on Deno and Bun too
 *     --acquire-timeout S    `client.lock(key, { acquireTimeoutS: S })` for the DflockClient
 *                            targets (default: `client.lock(key)`, the client's default)
 *     --time-limit S         abort one run after S seconds (default 60)
 *     --pin                  servers on CPU 0, this process on CPU 1
 *     --json                 print JSON instead of the tables
 *     --out FILE             also write the JSON to FILE
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { detectRuntime } from "../src/transport/auto.ts";
import { countFlag, fileArg, intArg } from "./_args.ts";
import type { NumberKeys } from "./_args.ts";
import { median, summarize } from "./_stats.ts";
import type { Summary } from "./_stats.ts";
import {
  clientTsTarget,
  dflockClientTarget,
  loadRedisModules,
  lowLevelTarget,
  redisTarget,
  runOps,
  SHARED_TARGETS,
} from "./_shared_runs.ts";
import type {
  ClientTsLockClass,
  OpsRunResult,
  PreparedTarget,
  SharedTarget,
} from "./_shared_runs.ts";
import { connectionsTo, startLockServer, startRedis } from "./_shared_procs.ts";
import type { BenchServer, ServerKind } from "./_shared_procs.ts";
import { pinSelf } from "./server_target.ts";

/** The load shapes. */
export type Shape = "concurrent" | "sequential" | "per-conn" | "per-conn-seq";

// The per-conn shapes run first: Go dflockd 1.10 scans every key it knows on each disconnect
// (CleanupConnection), so after the 50 000 keys of `concurrent` a connection per lock costs the
// server milliseconds; they also use one key per worker instead of one per op.
const SHAPES: readonly Shape[] = ["per-conn", "per-conn-seq", "concurrent", "sequential"];

/** Whether a shape uses a new key every op (else one key per worker). */
const UNIQUE_KEYS: Record<Shape, boolean> = {
  concurrent: true,
  sequential: true,
  "per-conn": false,
  "per-conn-seq": false,
};

const SHAPE_TARGETS: Record<Shape, readonly SharedTarget[]> = {
  concurrent: ["dflock-withLock", "dflock-low-level", "redis-semaphore"],
  sequential: ["dflock-withLock", "dflock-low-level", "redis-semaphore"],
  "per-conn": ["dflock-withLock", "client-ts"],
  "per-conn-seq": ["dflock-withLock", "client-ts"],
};

const DEFAULT_CLIENT_TS = "../shared/reference/dflockd-client-ts-1.11.0.tgz";

interface Config {
  runs: number;
  workers: number;
  rounds: number;
  seqRounds: number;
  lockRounds: number;
  lockSeqRounds: number;
  targets: SharedTarget[];
  shapes: Shape[];
  server: ServerKind;
  goServer: string | undefined;
  redisServer: string;
  clientTs: string;
  perConnAnywhere: boolean;
  acquireTimeoutS: number | undefined;
  timeLimitMs: number;
  pin: boolean;
  json: boolean;
  out: string | undefined;
}

/** One table row: a target in a shape, over all reps. */
export interface SharedRow {
  shape: Shape;
  target: SharedTarget;
  workers: number;
  rounds: number;
  opsPerSec: Summary;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerOp: number;
  conns: number | null;
  errors: number;
  aborted: boolean;
  runs: OpsRunResult[];
}

/** A same-rep ratio between two targets of a shape. */
export interface SharedRatio {
  shape: Shape;
  /** `opsPerSec` (higher is better) or `p50Ms` (lower is better). */
  metric: "opsPerSec" | "p50Ms";
  numerator: SharedTarget;
  denominator: SharedTarget;
  /** One ratio per rep. */
  perRep: number[];
  ratio: Summary;
  /** `>= x` for ops/s, `<= x` for p50; null: information only. */
  goal: { op: ">=" | "<="; value: number } | null;
  /** Whether the median meets the goal; null without a goal. */
  met: boolean | null;
}

/** The JSON document `--out` writes. */
export interface SharedReport {
  kind: "dflock-shared-client-bench";
  runtime: string;
  version: string;
  versions: Record<string, string>;
  nproc: number;
  cpu: string;
  date: string;
  loadavg: { start: number; end: number };
  server: string;
  redis: string | null;
  skipped: string[];
  config: Omit<Config, "out"> & { out: undefined };
  rows: SharedRow[];
  ratios: SharedRatio[];
}

const USAGE = "usage: shared_client [--runs N] [--workers N] [--rounds N] [--seq-rounds N] " +
  "[--lock-rounds N] [--lock-seq-rounds N] [--target LIST] [--shape LIST] " +
  "[--server go|dflock] [--go-server PATH] [--redis-server PATH] [--client-ts TGZ] " +
  "[--per-conn-anywhere] [--acquire-timeout S] [--time-limit S] [--pin] [--json] [--out FILE]";

function listArg<T extends string>(
  name: string,
  value: string | undefined,
  all: readonly T[],
): T[] {
  const list = (value ?? "").split(",").filter((s) => s !== "");
  if (list.length === 0 || list.some((t) => !all.includes(t as T))) {
    throw new RangeError(`${name}: expected a comma list of ${all.join(", ")}`);
  }
  return all.filter((t) => list.includes(t));
}

/** The count flags and the config fields they set. */
const COUNT_FLAGS: Readonly<Record<string, NumberKeys<Config>>> = {
  "--runs": "runs",
  "--workers": "workers",
  "--rounds": "rounds",
  "--seq-rounds": "seqRounds",
  "--lock-rounds": "lockRounds",
  "--lock-seq-rounds": "lockSeqRounds",
};

function parseArgs(argv: string[]): Config {
  const envGo = process.env.DFLOCKD_GO;
  const config: Config = {
    runs: 3,
    workers: 100,
    rounds: 500,
    seqRounds: 2000,
    lockRounds: 50,
    lockSeqRounds: 1000,
    targets: [...SHARED_TARGETS],
    shapes: [...SHAPES],
    server: "dflock",
    goServer: envGo === undefined || envGo === "" ? undefined : envGo,
    redisServer: "redis-server",
    clientTs: DEFAULT_CLIENT_TS,
    perConnAnywhere: false,
    acquireTimeoutS: undefined,
    timeLimitMs: 60_000,
    pin: false,
    json: false,
    out: undefined,
  };
  let serverGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = (): string | undefined => argv[++i];
    if (countFlag(config, COUNT_FLAGS, arg, next)) continue;
    switch (arg) {
      case "--target":
        config.targets = listArg(arg, next(), SHARED_TARGETS);
        break;
      case "--shape":
        config.shapes = listArg(arg, next(), SHAPES);
        break;
      case "--server": {
        const v = next();
        if (v !== "go" && v !== "dflock") throw new RangeError("--server: expected go or dflock");
        config.server = v;
        serverGiven = true;
        break;
      }
      case "--go-server":
        config.goServer = fileArg(arg, next());
        break;
      case "--redis-server":
        config.redisServer = fileArg(arg, next());
        break;
      case "--client-ts":
        config.clientTs = fileArg(arg, next());
        break;
      case "--per-conn-anywhere":
        config.perConnAnywhere = true;
        break;
      case "--acquire-timeout":
        config.acquireTimeoutS = intArg(arg, next(), 0);
        break;
      case "--time-limit":
        config.timeLimitMs = intArg(arg, next(), 1) * 1000;
        break;
      case "--pin":
        config.pin = true;
        break;
      case "--json":
        config.json = true;
        break;
      case "--out":
        config.out = fileArg(arg, next());
        break;
      case "-h":
      case "--help":
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new RangeError(`unknown argument ${arg}\n${USAGE}`);
    }
  }
  if (!serverGiven && config.goServer !== undefined) config.server = "go";
  return config;
}

function shapeSize(config: Config, shape: Shape): [number, number] {
  switch (shape) {
    case "concurrent":
      return [config.workers, config.rounds];
    case "sequential":
      return [1, config.seqRounds];
    case "per-conn":
      return [config.workers, config.lockRounds];
    case "per-conn-seq":
      return [1, config.lockSeqRounds];
  }
}

/** `targets` rotated left by `by` (rep r runs them starting at target r). */
function rotate<T>(targets: readonly T[], by: number): T[] {
  const n = targets.length;
  if (n === 0) return [];
  const k = by % n;
  return [...targets.slice(k), ...targets.slice(0, k)];
}

function packageVersion(dir: string): string {
  try {
    return (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string })
      .version;
  } catch {
    return "?";
  }
}

/** Extracts the dflockd-client tarball and loads its `DistributedLock`. */
async function loadClientTs(
  tgz: string,
): Promise<{ cls: ClientTsLockClass; version: string; dir: string } | string> {
  if (!existsSync(tgz)) return `client-ts skipped: ${tgz} not found`;
  const dir = mkdtempSync(join(os.tmpdir(), "dflock-client-ts-"));
  const r = spawnSync("tar", ["-xzf", tgz, "-C", dir], { encoding: "utf8" });
  if (r.status !== 0) return `client-ts skipped: tar failed: ${r.stderr}`;
  for (const pkg of ["dflockd-client", "package"]) {
    const file = join(dir, pkg, "dist", "client.js");
    if (!existsSync(file)) continue;
    try {
      const mod = await import(pathToFileURL(file).href) as { DistributedLock?: unknown };
      if (typeof mod.DistributedLock !== "function") {
        return `client-ts skipped: ${file} has no DistributedLock`;
      }
      return {
        cls: mod.DistributedLock as ClientTsLockClass,
        version: packageVersion(join(dir, pkg)),
        dir,
      };
    } catch (e) {
      return `client-ts skipped: cannot import ${file}: ${(e as Error).message}`;
    }
  }
  return `client-ts skipped: no dist/client.js in ${tgz}`;
}

interface Context {
  config: Config;
  log: (line: string) => void;
  dflock: BenchServer;
  redisPort: number | null;
  prepared: Map<SharedTarget, PreparedTarget>;
}

function portOf(ctx: Context, target: SharedTarget): number | null {
  return target === "redis-semaphore" ? ctx.redisPort : ctx.dflock.port;
}

async function measureShape(
  ctx: Context,
  shape: Shape,
  targets: SharedTarget[],
): Promise<{ rows: SharedRow[]; results: Map<SharedTarget, OpsRunResult[]> }> {
  const { config, log } = ctx;
  const [workers, rounds] = shapeSize(config, shape);
  const keyPrefix = `bench-shared-${shape}-`;
  const once = (target: SharedTarget, r: number): Promise<OpsRunResult> => {
    const port = portOf(ctx, target);
    return runOps(ctx.prepared.get(target)!, {
      workers,
      rounds: r,
      keyPrefix,
      uniqueKeys: UNIQUE_KEYS[shape],
      timeLimitMs: config.timeLimitMs,
      countConnections: () => port === null ? null : connectionsTo(port),
    });
  };
  // Create every dflock key of the shape on the server (unrecorded), then warm up.
  if (targets.some((t) => t !== "redis-semaphore")) {
    const prime = await runOps(lowLevelTarget(ctx.dflock), {
      workers,
      rounds: UNIQUE_KEYS[shape] ? rounds : 1,
      keyPrefix,
      uniqueKeys: UNIQUE_KEYS[shape],
      timeLimitMs: config.timeLimitMs,
      countConnections: () => null,
    });
    log(`  ${shape}: primed ${prime.ops} keys (${prime.opsPerSec.toFixed(0)} ops/s)`);
  }
  for (const t of targets) {
    const w = await once(t, Math.max(1, Math.ceil(rounds / 5)));
    log(`  ${shape} ${t} warm-up: ${w.opsPerSec.toFixed(0)} ops/s` + runNote(w));
  }
  const results = new Map<SharedTarget, OpsRunResult[]>(targets.map((t) => [t, []]));
  for (let rep = 0; rep < config.runs; rep++) {
    for (const t of rotate(targets, rep)) {
      const r = await once(t, rounds);
      results.get(t)!.push(r);
      log(
        `  ${shape} ${t} rep ${rep + 1}: ${r.opsPerSec.toFixed(0)} ops/s, p50 ` +
          `${r.p50Ms.toFixed(3)} ms, p99 ${r.p99Ms.toFixed(3)} ms, CPU ` +
          `${r.cpuUsPerOp.toFixed(1)} us/op, conns ${r.conns ?? "?"}` +
          (r.pool === null ? "" : `, pool open ${r.pool.open} opened ${r.pool.opened}`) +
          runNote(r),
      );
    }
  }
  const rows = targets.map((target): SharedRow => {
    const runs = results.get(target)!;
    const conns = runs.map((r) => r.conns).filter((c): c is number => c !== null);
    return {
      shape,
      target,
      workers,
      rounds,
      opsPerSec: summarize(runs.map((r) => r.opsPerSec)),
      p50Ms: median(runs.map((r) => r.p50Ms)),
      p99Ms: median(runs.map((r) => r.p99Ms)),
      cpuUsPerOp: median(runs.map((r) => r.cpuUsPerOp)),
      conns: conns.length === 0 ? null : median(conns),
      errors: runs.reduce((s, r) => s + r.errors, 0),
      aborted: runs.some((r) => r.aborted),
      runs,
    };
  });
  return { rows, results };
}

function runNote(r: OpsRunResult): string {
  let s = "";
  if (r.aborted) s += " (ABORTED by time limit)";
  if (r.errors > 0) s += ` (${r.errors} failed ops; first: ${r.firstError?.split("\n")[0]})`;
  return s;
}

const RATIOS: {
  shapes: Shape[];
  metric: "opsPerSec" | "p50Ms";
  num: SharedTarget;
  den: SharedTarget;
  goal: { op: ">=" | "<="; value: number } | null;
}[] = [
  {
    shapes: ["concurrent"],
    metric: "opsPerSec",
    num: "dflock-withLock",
    den: "dflock-low-level",
    goal: { op: ">=", value: 0.8 },
  },
  {
    shapes: ["concurrent"],
    metric: "opsPerSec",
    num: "dflock-withLock",
    den: "redis-semaphore",
    goal: { op: ">=", value: 1 },
  },
  {
    shapes: ["sequential"],
    metric: "p50Ms",
    num: "dflock-withLock",
    den: "dflock-low-level",
    goal: { op: "<=", value: 1.1 },
  },
  {
    shapes: ["sequential"],
    metric: "opsPerSec",
    num: "dflock-withLock",
    den: "redis-semaphore",
    goal: null,
  },
  {
    shapes: ["per-conn", "per-conn-seq"],
    metric: "opsPerSec",
    num: "dflock-withLock",
    den: "client-ts",
    goal: { op: ">=", value: 1 },
  },
];

function ratiosOf(shape: Shape, results: Map<SharedTarget, OpsRunResult[]>): SharedRatio[] {
  const out: SharedRatio[] = [];
  for (const q of RATIOS) {
    if (!q.shapes.includes(shape)) continue;
    const a = results.get(q.num);
    const b = results.get(q.den);
    if (a === undefined || b === undefined) continue;
    const perRep = a.map((r, i) => r[q.metric] / b[i]![q.metric]);
    const ratio = summarize(perRep);
    const met = q.goal === null
      ? null
      : q.goal.op === ">="
      ? ratio.median >= q.goal.value
      : ratio.median <= q.goal.value;
    out.push({
      shape,
      metric: q.metric,
      numerator: q.num,
      denominator: q.den,
      perRep,
      ratio,
      goal: q.goal,
      met,
    });
  }
  return out;
}

function fmtOps(s: Summary): string {
  return `${s.median.toFixed(0)} (${s.min.toFixed(0)}-${s.max.toFixed(0)})`;
}

function printTables(rows: SharedRow[], ratios: SharedRatio[], runs: number): void {
  const shapes = SHAPES.filter((s) => rows.some((r) => r.shape === s));
  for (const shape of shapes) {
    const own = rows.filter((r) => r.shape === shape);
    console.log(`\n### ${shape} (${own[0]!.workers} x ${own[0]!.rounds})\n`);
    const header = [
      "target",
      `ops/s median (min-max, ${runs} reps)`,
      "p50 ms",
      "p99 ms",
      "client CPU us/op",
      "conns",
      "failed ops",
    ];
    console.log(`| ${header.join(" | ")} |`);
    console.log(`|${header.map(() => "---").join("|")}|`);
    for (const r of own) {
      console.log(
        `| ${
          [
            r.target + (r.aborted ? " (aborted)" : ""),
            fmtOps(r.opsPerSec),
            r.p50Ms.toFixed(3),
            r.p99Ms.toFixed(3),
            r.cpuUsPerOp.toFixed(1),
            r.conns === null ? "?" : String(r.conns),
            String(r.errors),
          ].join(" | ")
        } |`,
      );
    }
  }
  if (ratios.length === 0) return;
  console.log("\n### same-rep ratios\n");
  const header = ["shape", "ratio", "median (min-max)", "per rep", "goal", "result"];
  console.log(`| ${header.join(" | ")} |`);
  console.log(`|${header.map(() => "---").join("|")}|`);
  for (const q of ratios) {
    const what = q.metric === "p50Ms" ? "p50" : "ops/s";
    console.log(
      `| ${
        [
          q.shape,
          `${q.numerator} / ${q.denominator} ${what}`,
          `${q.ratio.median.toFixed(3)} (${q.ratio.min.toFixed(3)}-${q.ratio.max.toFixed(3)})`,
          q.perRep.map((x) => x.toFixed(3)).join(", "),
          q.goal === null ? "-" : `${q.goal.op} ${q.goal.value}`,
          q.met === null ? "info" : q.met ? "met" : "MISSED",
        ].join(" | ")
      } |`,
    );
  }
}

async function main(): Promise<void> {
  const config = parseArgs(process.argv.slice(2));
  const runtime = detectRuntime();
  const procVersions = process.versions as Record<string, string | undefined>;
  const version = procVersions[runtime] ?? "?";
  const log = config.json ? (_: string) => {} : (line: string) => console.error(line);
  const loadStart = os.loadavg()[0]!;
  if (config.pin && !pinSelf("1")) throw new Error("--pin: taskset failed");
  const cpus = config.pin ? "0" : undefined;
  const startMs = Math.min(config.timeLimitMs, 30_000);
  const skipped: string[] = [];
  const versions: Record<string, string> = {};
  const cleanups: (() => Promise<void>)[] = [];

  // Which targets run where.
  let shapes = config.shapes;
  if (runtime !== "node" && !config.perConnAnywhere) {
    const perConn = shapes.filter((s) => s === "per-conn" || s === "per-conn-seq") as Shape[];
    if (perConn.length > 0) {
      skipped.push(`${perConn.join(", ")}: Node only by default (--per-conn-anywhere)`);
      shapes = shapes.filter((s) => !perConn.includes(s));
    }
  }
  let targets = config.targets.filter((t) => shapes.some((s) => SHAPE_TARGETS[s].includes(t)));

  const dflock = await startLockServer(config.server, config.goServer, cpus, startMs);
  cleanups.push(() => dflock.stop());
  versions.server = dflock.version;
  let redisLabel: string | null = null;
  let redisPort: number | null = null;
  try {
    log(
      `dflock shared-client benchmark: ${runtime} ${version}, nproc ${os.cpus().length}, ` +
        `${dflock.label} at ${dflock.hostname}:${dflock.port}`,
    );
    const prepared = new Map<SharedTarget, PreparedTarget>();
    if (targets.includes("redis-semaphore")) {
      const mods = await loadRedisModules();
      const redis = typeof mods === "string"
        ? mods
        : await startRedis(cpus, startMs, config.redisServer);
      if (typeof mods === "string" || typeof redis === "string") {
        skipped.push(`redis-semaphore: ${typeof mods === "string" ? mods : redis}`);
        targets = targets.filter((t) => t !== "redis-semaphore");
      } else {
        cleanups.push(() => redis.stop());
        redisLabel = `${redis.label}, ${redis.version}`;
        redisPort = redis.port;
        versions["redis-server"] = redis.version;
        versions.ioredis = packageVersion(join(process.cwd(), "node_modules", "ioredis"));
        versions["redis-semaphore"] = packageVersion(
          join(process.cwd(), "node_modules", "redis-semaphore"),
        );
        prepared.set("redis-semaphore", await redisTarget(mods, redis));
      }
    }
    if (targets.includes("client-ts")) {
      const loaded = await loadClientTs(config.clientTs);
      if (typeof loaded === "string") {
        skipped.push(loaded);
        targets = targets.filter((t) => t !== "client-ts");
      } else {
        cleanups.push(() => Promise.resolve(rmSync(loaded.dir, { recursive: true, force: true })));
        versions["dflockd-client"] = loaded.version;
        prepared.set("client-ts", clientTsTarget(loaded.cls, dflock));
      }
    }
    if (targets.includes("dflock-withLock")) {
      prepared.set("dflock-withLock", dflockClientTarget(dflock, config.acquireTimeoutS));
    }
    if (targets.includes("dflock-low-level")) {
      prepared.set("dflock-low-level", lowLevelTarget(dflock));
    }
    for (const p of prepared.values()) cleanups.push(() => p.dispose());
    for (const s of skipped) log(`  skipped: ${s}`);

    const ctx: Context = { config, log, dflock, redisPort, prepared };
    const rows: SharedRow[] = [];
    const ratios: SharedRatio[] = [];
    for (const shape of shapes) {
      const own = SHAPE_TARGETS[shape].filter((t) => targets.includes(t));
      if (own.length === 0) continue;
      const { rows: r, results } = await measureShape(ctx, shape, own);
      rows.push(...r);
      ratios.push(...ratiosOf(shape, results));
    }
    const report: SharedReport = {
      kind: "dflock-shared-client-bench",
      runtime,
      version,
      versions,
      nproc: os.cpus().length,
      cpu: os.cpus()[0]?.model ?? "?",
      date: new Date().toISOString(),
      loadavg: { start: loadStart, end: os.loadavg()[0]! },
      server: `${dflock.label}, version ${dflock.version}`,
      redis: redisLabel,
      skipped,
      config: { ...config, out: undefined },
      rows,
      ratios,
    };
    const json = JSON.stringify(report, null, 2);
    if (config.out !== undefined) writeFileSync(config.out, json + "\n");
    if (config.json) {
      console.log(json);
    } else {
      console.log(
        `\n${runtime} ${version}, nproc ${report.nproc}, ${report.cpu}; ${report.server}` +
          (redisLabel === null ? "" : `; ${redisLabel}`) +
          `; pinned: ${config.pin ? "servers CPU 0, client CPU 1" : "no"}; load avg ` +
          `${loadStart.toFixed(2)} -> ${report.loadavg.end.toFixed(2)}`,
      );
      if (skipped.length > 0) console.log(`skipped: ${skipped.join("; ")}`);
      printTables(rows, ratios, config.runs);
    }
  } finally {
    for (const c of cleanups.reverse()) await c().catch((e) => log(`cleanup: ${e}`));
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
