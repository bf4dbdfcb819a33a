/**
 * The server benchmark suite: the dflock server and its I/O floor (the echo floor) as child
 * processes on the current runtime, driven by this process, runs interleaved.
 *
 * Scenarios (one op = one acquire+release pair, see `load.ts`):
 *
 * - `uncontended`: 100 connections x 500 pairs, each connection its own key.
 * - `sequential`: 1 connection x 2000 pairs (round-trip latency). With `--pin` it runs twice:
 *   `cross-core` (server on CPU 0, generator on CPU 1) and `same-core` (both on CPU 0).
 * - `contended`: 10 connections x 200 pairs on one shared key (FIFO hand-over).
 * - `hold`: 10 000 connections each acquiring and then holding one lock; a fresh child per run;
 *   RSS per held lock = (RSS with all held - RSS idle) / connections. The idle RSS is read
 *   after a warm-up of 500 connections has come and gone, so JIT code is not counted.
 *
 * Each figure is the median (with min and max) of `--runs` runs; runs alternate between the
 * targets (server, echo, echo, server, ...), and server/echo ratios are taken per run pair.
 *
 * @module
 */

import { countFlag, fileArg, intArg } from "./_args.ts";
import type { NumberKeys } from "./_args.ts";
import os from "node:os";
import process from "node:process";
import { writeFileSync } from "node:fs";
import { detectRuntime } from "../src/transport/auto.ts";
import { interleave, summarize } from "./_stats.ts";
import type { Summary } from "./_stats.ts";
import { runLoad } from "./load.ts";
import type { KeyMode } from "./load.ts";
import { openHolds } from "./server_hold.ts";
import { pinSelf, startTarget } from "./server_target.ts";
import type { Target, TargetProcess } from "./server_target.ts";

/** The load shapes the suite knows. */
export type Scenario = "uncontended" | "sequential" | "contended" | "hold";

const ALL_SCENARIOS: Scenario[] = ["uncontended", "sequential", "contended", "hold"];
const SERVER_ARGS = ["--max-locks", "100000", "--read-timeout", "600"];
const SERVER_CPU = "0";
const GENERATOR_CPU = "1";

interface Config {
  connections: number;
  rounds: number;
  sequentialRounds: number;
  contendedConnections: number;
  contendedRounds: number;
  holdConnections: number;
  runs: number;
  targets: Target[];
  scenarios: Scenario[];
  pin: boolean;
  timeLimitMs: number;
  out: string | null;
  json: boolean;
}

/** One measured run. */
export interface RunResult {
  /** Run index (0-based); a server run and an echo run with the same index form a pair. */
  run: number;
  /** Completed ops (pairs, or held locks for `hold`). */
  ops: number;
  /** Ops per second of wall time. */
  opsPerSec: number;
  /** Median latency, ms (pair; connect+acquire for `hold`). */
  p50Ms: number;
  /** 99th percentile latency, ms. */
  p99Ms: number;
  /** Target RSS after the run, KiB (with everything held, for `hold`). */
  rssKiB: number | null;
  /** `hold` only: target RSS before opening the holds, KiB. */
  idleRssKiB?: number | null;
  /** `hold` only: (rssKiB - idleRssKiB) * 1024 / ops. */
  bytesPerHold?: number | null;
  /** Target CPU microseconds per op (user+system of the child). */
  targetCpuUsPerOp: number | null;
  /** True when the time limit cut the run short. */
  aborted: boolean;
}

/** Aggregated result for one scenario, placement and target. */
export interface Row {
  /** The scenario. */
  scenario: Scenario;
  /** `unpinned`, `cross-core` or `same-core`. */
  placement: string;
  /** `server` or `echo`. */
  target: Target;
  /** Connections. */
  connections: number;
  /** Pairs per connection (1 for `hold`). */
  rounds: number;
  /** Every measured run. */
  runs: RunResult[];
  /** Ops per second. */
  opsPerSec: Summary;
  /** Median latency, ms. */
  p50Ms: Summary;
  /** 99th percentile latency, ms. */
  p99Ms: Summary;
  /** RSS after the run, KiB. */
  rssKiB: Summary | null;
  /** `hold` only: RSS per held lock, bytes. */
  bytesPerHold: Summary | null;
  /** Target CPU per op, microseconds. */
  targetCpuUsPerOp: Summary | null;
  /** Server ops/s over echo ops/s, per run pair (server rows only). */
  ratioToEcho: Summary | null;
}

/** The JSON document a suite run writes. */
export interface SuiteResult {
  /** Format tag. */
  kind: "dflock-server-bench";
  /** ISO date and time of the run. */
  date: string;
  /** `deno`, `bun` or `node`. */
  runtime: string;
  /** The runtime's version. */
  runtimeVersion: string;
  /** Logical CPUs. */
  nproc: number;
  /** CPU model. */
  cpuModel: string;
  /** Whether server and generator were pinned with taskset. */
  pinned: boolean;
  /** One-minute load average at the start and at the end of the run (other load on the box). */
  loadAverage: [number, number];
  /** Settings used. */
  config: Record<string, unknown>;
  /** One row per scenario, placement and target. */
  rows: Row[];
}

const USAGE = "usage: server_load [--runs N] [--target server|echo|both] " +
  "[--scenario uncontended,sequential,contended,hold|all] [--pin] [--out FILE] [--json] " +
  "[--connections N] [--rounds N] [--sequential-rounds N] [--contended-connections N] " +
  "[--contended-rounds N] [--hold-connections N] [--time-limit S]";

/** The count flags and the config fields they set. */
const COUNT_FLAGS: Readonly<Record<string, NumberKeys<Config>>> = {
  "--connections": "connections",
  "--rounds": "rounds",
  "--sequential-rounds": "sequentialRounds",
  "--contended-connections": "contendedConnections",
  "--contended-rounds": "contendedRounds",
  "--hold-connections": "holdConnections",
  "--runs": "runs",
};

function parseArgs(argv: string[]): Config {
  const config: Config = {
    connections: 100,
    rounds: 500,
    sequentialRounds: 2000,
    contendedConnections: 10,
    contendedRounds: 200,
    holdConnections: 10_000,
    runs: 3,
    targets: ["server", "echo"],
    scenarios: [...ALL_SCENARIOS],
    pin: false,
    timeLimitMs: 60_000,
    out: null,
    json: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = (): string | undefined => argv[++i];
    if (countFlag(config, COUNT_FLAGS, arg, next)) continue;
    switch (arg) {
      case "--time-limit":
        config.timeLimitMs = intArg(arg, next(), 1) * 1000;
        break;
      case "--target": {
        const v = next();
        if (v === "both") config.targets = ["server", "echo"];
        else if (v === "server" || v === "echo") config.targets = [v];
        else throw new RangeError("--target: expected server, echo or both");
        break;
      }
      case "--scenario": {
        const v = next() ?? "";
        const list = v === "all" ? ALL_SCENARIOS : v.split(",");
        for (const s of list) {
          if (!ALL_SCENARIOS.includes(s as Scenario)) {
            throw new RangeError(`--scenario: unknown ${s}; expected ${ALL_SCENARIOS.join(",")}`);
          }
        }
        config.scenarios = list as Scenario[];
        break;
      }
      case "--pin":
        config.pin = true;
        break;
      case "--server-process": // Always on now; accepted for old command lines.
        break;
      case "--out":
        config.out = fileArg(arg, next());
        break;
      case "--json":
        config.json = true;
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
  return config;
}

function log(config: Config, text: string): void {
  if (!config.json) console.error(text);
}

function targetCpus(config: Config): string | undefined {
  return config.pin ? SERVER_CPU : undefined;
}

/** Settle time before reading RSS, so freed memory and lazy work have a moment. */
function settle(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function cpuPerOp(before: number | null, after: number | null, ops: number): number | null {
  return before === null || after === null || ops === 0 ? null : (after - before) / ops;
}

async function loadRun(
  config: Config,
  scenario: Scenario,
  child: TargetProcess,
  run: number,
  roundsOverride?: number,
): Promise<RunResult> {
  const shape = loadShape(config, scenario);
  const cpuBefore = child.cpuMicros();
  const result = await runLoad({
    hostname: "127.0.0.1",
    port: child.port,
    connections: shape.connections,
    rounds: roundsOverride ?? shape.rounds,
    keyMode: shape.keyMode,
    keyPrefix: `bench-${scenario}`,
    timeLimitMs: config.timeLimitMs,
  });
  return {
    run,
    ops: result.ops,
    opsPerSec: result.opsPerSec,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    rssKiB: child.rssKiB(),
    targetCpuUsPerOp: cpuPerOp(cpuBefore, child.cpuMicros(), result.ops),
    aborted: result.aborted,
  };
}

function loadShape(
  config: Config,
  scenario: Scenario,
): { connections: number; rounds: number; keyMode: KeyMode } {
  switch (scenario) {
    case "uncontended":
      return { connections: config.connections, rounds: config.rounds, keyMode: "unique" };
    case "sequential":
      return { connections: 1, rounds: config.sequentialRounds, keyMode: "unique" };
    case "contended":
      return {
        connections: config.contendedConnections,
        rounds: config.contendedRounds,
        keyMode: "shared",
      };
    case "hold":
      return { connections: config.holdConnections, rounds: 1, keyMode: "unique" };
  }
}

async function holdRun(config: Config, target: Target, run: number): Promise<RunResult> {
  const child = await startTarget(target, { cpus: targetCpus(config), serverArgs: SERVER_ARGS });
  try {
    const warm = await openHolds({
      port: child.port,
      connections: Math.min(500, config.holdConnections),
      keyPrefix: "warm",
      timeLimitMs: config.timeLimitMs,
    });
    await warm.close();
    await settle(1000);
    const idle = child.rssKiB();
    const cpuBefore = child.cpuMicros();
    const holds = await openHolds({
      port: child.port,
      connections: config.holdConnections,
      keyPrefix: "hold",
      timeLimitMs: config.timeLimitMs,
    });
    try {
      await settle(1000);
      const held = child.rssKiB();
      return {
        run,
        ops: holds.held,
        opsPerSec: holds.held / holds.seconds,
        p50Ms: holds.p50Ms,
        p99Ms: holds.p99Ms,
        rssKiB: held,
        idleRssKiB: idle,
        bytesPerHold: idle === null || held === null ? null : (held - idle) * 1024 / holds.held,
        targetCpuUsPerOp: cpuPerOp(cpuBefore, child.cpuMicros(), holds.held),
        aborted: false,
      };
    } finally {
      await holds.close();
    }
  } finally {
    await child.stop();
  }
}

function summarizeNullable(values: (number | null | undefined)[]): Summary | null {
  if (values.length === 0 || values.some((v) => v === null || v === undefined)) return null;
  return summarize(values as number[]);
}

function aggregate(
  scenario: Scenario,
  placement: string,
  connections: number,
  rounds: number,
  results: Map<Target, RunResult[]>,
): Row[] {
  const rows: Row[] = [];
  const echo = results.get("echo");
  for (const [target, runs] of results) {
    let ratio: Summary | null = null;
    if (target === "server" && echo !== undefined) {
      const ratios = runs.map((r) => {
        const e = echo.find((x) => x.run === r.run);
        return e === undefined || e.opsPerSec === 0 ? null : r.opsPerSec / e.opsPerSec;
      });
      ratio = summarizeNullable(ratios);
    }
    rows.push({
      scenario,
      placement,
      target,
      connections,
      rounds,
      runs,
      opsPerSec: summarize(runs.map((r) => r.opsPerSec)),
      p50Ms: summarize(runs.map((r) => r.p50Ms)),
      p99Ms: summarize(runs.map((r) => r.p99Ms)),
      rssKiB: summarizeNullable(runs.map((r) => r.rssKiB)),
      bytesPerHold: scenario === "hold" ? summarizeNullable(runs.map((r) => r.bytesPerHold)) : null,
      targetCpuUsPerOp: summarizeNullable(runs.map((r) => r.targetCpuUsPerOp)),
      ratioToEcho: ratio,
    });
  }
  return rows;
}

function describeRun(r: RunResult): string {
  const rss = r.rssKiB === null ? "" : ` rss ${(r.rssKiB / 1024).toFixed(1)} MiB`;
  const per = r.bytesPerHold == null ? "" : ` ${(r.bytesPerHold / 1024).toFixed(2)} KiB/hold`;
  return `${r.opsPerSec.toFixed(0)} ops/s p50 ${r.p50Ms.toFixed(3)} p99 ${
    r.p99Ms.toFixed(3)
  } ms${rss}${per}${r.aborted ? " (ABORTED)" : ""}`;
}

async function measureLoad(
  config: Config,
  scenario: Scenario,
  placement: string,
  children: Map<Target, TargetProcess>,
): Promise<Row[]> {
  const shape = loadShape(config, scenario);
  for (const target of config.targets) {
    await loadRun(config, scenario, children.get(target)!, -1, Math.ceil(shape.rounds / 5));
  }
  const results = new Map<Target, RunResult[]>(config.targets.map((t) => [t, []]));
  for (const { run, target } of interleave(config.targets, config.runs)) {
    const r = await loadRun(config, scenario, children.get(target)!, run);
    results.get(target)!.push(r);
    log(config, `  ${scenario} ${placement} ${target} run ${run + 1}: ${describeRun(r)}`);
  }
  return aggregate(scenario, placement, shape.connections, shape.rounds, results);
}

async function measureHold(config: Config, placement: string): Promise<Row[]> {
  const results = new Map<Target, RunResult[]>(config.targets.map((t) => [t, []]));
  for (const { run, target } of interleave(config.targets, config.runs)) {
    const r = await holdRun(config, target, run);
    results.get(target)!.push(r);
    log(config, `  hold ${placement} ${target} run ${run + 1}: ${describeRun(r)}`);
  }
  return aggregate("hold", placement, config.holdConnections, 1, results);
}

/**
 * Runs the suite with command-line arguments and prints or writes the results.
 *
 * @param argv Arguments (see the module documentation and `--help`).
 * @returns The results document.
 * @throws {RangeError} On a bad argument.
 * @throws {Error} When a target fails to start or a run fails.
 */
export async function runSuite(argv: string[]): Promise<SuiteResult> {
  const config = parseArgs(argv);
  const runtime = detectRuntime();
  const versions = process.versions as Record<string, string | undefined>;
  const nproc = typeof os.availableParallelism === "function"
    ? os.availableParallelism()
    : os.cpus().length;
  if (config.pin && !pinSelf(GENERATOR_CPU)) throw new Error("taskset failed: cannot pin");
  const placement = config.pin ? "cross-core" : "unpinned";
  log(
    config,
    `dflock server bench: ${runtime} ${versions[runtime]}, nproc ${nproc}, ${
      config.pin ? `server on CPU ${SERVER_CPU}, generator on CPU ${GENERATOR_CPU}` : "unpinned"
    }`,
  );
  const loadAtStart = os.loadavg()[0] ?? 0;
  const rows: Row[] = [];
  const loadScenarios = config.scenarios.filter((s) => s !== "hold");
  if (loadScenarios.length > 0) {
    const children = new Map<Target, TargetProcess>();
    try {
      for (const target of config.targets) {
        children.set(
          target,
          await startTarget(target, { cpus: targetCpus(config), serverArgs: SERVER_ARGS }),
        );
      }
      for (const scenario of loadScenarios) {
        rows.push(...await measureLoad(config, scenario, placement, children));
        if (scenario === "sequential" && config.pin) {
          if (!pinSelf(SERVER_CPU)) throw new Error("taskset failed: cannot pin");
          try {
            rows.push(...await measureLoad(config, scenario, "same-core", children));
          } finally {
            pinSelf(GENERATOR_CPU);
          }
        }
      }
    } finally {
      await Promise.all([...children.values()].map((c) => c.stop()));
    }
  }
  if (config.scenarios.includes("hold")) rows.push(...await measureHold(config, placement));
  const result: SuiteResult = {
    kind: "dflock-server-bench",
    date: new Date().toISOString(),
    runtime,
    runtimeVersion: versions[runtime] ?? "?",
    nproc,
    cpuModel: os.cpus()[0]?.model ?? "?",
    pinned: config.pin,
    loadAverage: [loadAtStart, os.loadavg()[0] ?? 0],
    config: { ...config },
    rows,
  };
  const text = JSON.stringify(result, null, 2) + "\n";
  if (config.out !== null) writeFileSync(config.out, text);
  if (config.json) console.log(text);
  else printTable(result);
  return result;
}

function fmtSummary(s: Summary | null, digits: number, scale = 1): string {
  if (s === null) return "-";
  const f = (v: number): string => (v * scale).toFixed(digits);
  return `${f(s.median)} (${f(s.min)}-${f(s.max)})`;
}

function printTable(result: SuiteResult): void {
  const header = [
    "scenario",
    "placement",
    "target",
    "conns x rounds",
    "ops/s",
    "p50 ms",
    "p99 ms",
    "RSS MiB",
    "KiB/hold",
    "vs echo",
    "CPU us/op",
  ];
  console.log(
    `\n${result.runtime} ${result.runtimeVersion}, nproc ${result.nproc}, ${result.cpuModel}` +
      ` (median (min-max) of ${String(result.config.runs)} runs)\n`,
  );
  console.log(`| ${header.join(" | ")} |`);
  console.log(`|${header.map(() => "---").join("|")}|`);
  for (const r of result.rows) {
    const cells = [
      r.scenario,
      r.placement,
      r.target,
      `${r.connections} x ${r.rounds}`,
      fmtSummary(r.opsPerSec, 0),
      fmtSummary(r.p50Ms, 3),
      fmtSummary(r.p99Ms, 3),
      fmtSummary(r.rssKiB, 1, 1 / 1024),
      fmtSummary(r.bytesPerHold, 2, 1 / 1024),
      fmtSummary(r.ratioToEcho, 0, 100),
      fmtSummary(r.targetCpuUsPerOp, 1),
    ];
    console.log(`| ${cells.join(" | ")} |`);
  }
}
