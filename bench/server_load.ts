/**
 * Server benchmark entry: the dflock server against the echo floor (the same transport and
 * line decoding with no lock logic), uncontended and contended, on the current runtime.
 *
 * Usage (from the repository root):
 *
 *     deno run -A bench/server_load.ts [options]
 *     bun bench/server_load.ts [options]
 *     node npm/esm/bench/server_load.js [options]      (after the npm build)
 *
 * Options:
 *
 *     --connections N       uncontended connections (default 100)
 *     --rounds N            acquire+release pairs per uncontended connection (default 500)
 *     --contended-connections N   (default 10)
 *     --contended-rounds N        (default 200)
 *     --runs N              measured runs per target and scenario, interleaved (default 3)
 *     --target server|echo|both   (default both)
 *     --scenario uncontended|contended|both   (default both)
 *     --server-process      run server and echo floor as child processes (separate cores)
 *     --time-limit S        abort one run after S seconds (default 60)
 *     --json                print the results as JSON instead of a table
 *
 * One op is one completed acquire+release pair (see `load.ts`).
 *
 * @module
 */

import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { detectRuntime } from "../src/transport/auto.ts";
import { serve } from "../src/server/mod.ts";
import { startEchoFloor } from "./echo_floor.ts";
import { runLoad } from "./load.ts";
import type { KeyMode, LoadResult } from "./load.ts";

type Target = "server" | "echo";
type Scenario = "uncontended" | "contended";

interface Config {
  connections: number;
  rounds: number;
  contendedConnections: number;
  contendedRounds: number;
  runs: number;
  targets: Target[];
  scenarios: Scenario[];
  serverProcess: boolean;
  timeLimitMs: number;
  json: boolean;
}

interface Endpoint {
  port: number;
  /** CPU microseconds the target used so far; `null` when unknown. In-process: 0 (counted with us). */
  cpuMicros(): number | null;
  stop(): Promise<void>;
}

/** One measured run plus the CPU time spent on it. */
interface Measured extends LoadResult {
  /** CPU microseconds per op: this process plus the target's child process (if any). */
  cpuUsPerOp: number | null;
}

interface Row {
  scenario: Scenario;
  target: Target;
  connections: number;
  rounds: number;
  runs: Measured[];
  opsPerSec: { median: number; min: number; max: number };
  cpuUsPerOp: number | null;
  p50Ms: number;
  p99Ms: number;
  ratioToEcho: number | null;
}

const USAGE = "usage: server_load [--connections N] [--rounds N] [--contended-connections N] " +
  "[--contended-rounds N] [--runs N] [--target server|echo|both] " +
  "[--scenario uncontended|contended|both] [--server-process] [--time-limit S] [--json]";

function parseArgs(argv: string[]): Config {
  const config: Config = {
    connections: 100,
    rounds: 500,
    contendedConnections: 10,
    contendedRounds: 200,
    runs: 3,
    targets: ["server", "echo"],
    scenarios: ["uncontended", "contended"],
    serverProcess: false,
    timeLimitMs: 60_000,
    json: false,
  };
  const int = (name: string, value: string | undefined, min: number): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) {
      throw new RangeError(`${name}: expected integer >= ${min}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = (): string | undefined => argv[++i];
    switch (arg) {
      case "--connections":
        config.connections = int(arg, next(), 1);
        break;
      case "--rounds":
        config.rounds = int(arg, next(), 1);
        break;
      case "--contended-connections":
        config.contendedConnections = int(arg, next(), 1);
        break;
      case "--contended-rounds":
        config.contendedRounds = int(arg, next(), 1);
        break;
      case "--runs":
        config.runs = int(arg, next(), 1);
        break;
      case "--time-limit":
        config.timeLimitMs = int(arg, next(), 1) * 1000;
        break;
      case "--target": {
        const v = next();
        if (v === "both") config.targets = ["server", "echo"];
        else if (v === "server" || v === "echo") config.targets = [v];
        else throw new RangeError(`--target: expected server, echo or both`);
        break;
      }
      case "--scenario": {
        const v = next();
        if (v === "both") config.scenarios = ["uncontended", "contended"];
        else if (v === "uncontended" || v === "contended") config.scenarios = [v];
        else throw new RangeError(`--scenario: expected uncontended, contended or both`);
        break;
      }
      case "--server-process":
        config.serverProcess = true;
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

/** The runtime's name and version, e.g. `deno 2.9.6`. */
function runtimeLabel(): string {
  const runtime = detectRuntime();
  const versions = process.versions as Record<string, string | undefined>;
  return `${runtime} ${versions[runtime] ?? "?"}`;
}

function cpuCount(): number {
  return typeof os.availableParallelism === "function"
    ? os.availableParallelism()
    : os.cpus().length;
}

// ---------------------------------------------------------------------------------------------
// Targets: in-process or child processes.

async function startInProcess(target: Target): Promise<Endpoint> {
  if (target === "echo") {
    const floor = await startEchoFloor({ hostname: "127.0.0.1", port: 0 });
    return { port: floor.addr.port, cpuMicros: () => 0, stop: () => floor.close() };
  }
  const server = await serve({ host: "127.0.0.1", port: 0, log: () => {} });
  return { port: server.addr.port, cpuMicros: () => 0, stop: () => server.close() };
}

/** Path of a sibling source file, `.ts` when running from source and `.js` from the build. */
function sourcePath(relative: string): string {
  const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  return fileURLToPath(new URL(relative + ext, import.meta.url));
}

/** The command that runs a script file on the current runtime. */
function scriptCommand(file: string, args: string[]): [string, string[]] {
  const runtime = detectRuntime();
  if (runtime === "deno") return [process.execPath, ["run", "-A", file, ...args]];
  return [process.execPath, [file, ...args]];
}

async function startChild(target: Target, timeLimitMs: number): Promise<Endpoint> {
  const [command, args] = target === "server"
    ? scriptCommand(sourcePath("../src/cli/main"), ["serve", "--port", "0"])
    : scriptCommand(sourcePath("./echo_floor_main"), ["--port", "0"]);
  const child: ChildProcess = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(() => {
      fail(new Error(`${target} child did not report its port in time`));
    }, Math.min(timeLimitMs, 30_000));
    const fail = (e: Error): void => {
      clearTimeout(timer);
      child.kill();
      reject(e);
    };
    child.once("exit", (code) => fail(new Error(`${target} child exited (${code}): ${buffered}`)));
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (text: string) => {
      buffered += text;
      const m = /(?:^|\n)(?:dflock: )?listening on (\S+):(\d+)/.exec(buffered);
      if (m !== null) {
        clearTimeout(timer);
        buffered = "";
        resolve(Number(m[2]));
      } else if (buffered.length > 65536) {
        buffered = buffered.slice(-4096);
      }
    });
  });
  child.stderr!.resume();
  return {
    port,
    cpuMicros: () => childCpuMicros(child.pid),
    async stop(): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill();
      // The CLI drains on SIGTERM; our connections are closed by now, but do not hang.
      const force = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(force);
    },
  };
}

/** User+system CPU of a child process from `/proc` (Linux only); `null` elsewhere. */
function childCpuMicros(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * (1e6 / 100) : null; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Measurement.

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function measure(config: Config, endpoints: Map<Target, Endpoint>): Promise<Row[]> {
  const rows: Row[] = [];
  for (const scenario of config.scenarios) {
    const contended = scenario === "contended";
    const connections = contended ? config.contendedConnections : config.connections;
    const rounds = contended ? config.contendedRounds : config.rounds;
    const keyMode: KeyMode = contended ? "shared" : "unique";
    const runOnce = async (target: Target, runRounds: number): Promise<Measured> => {
      const endpoint = endpoints.get(target)!;
      const ownBefore = process.cpuUsage();
      const targetBefore = endpoint.cpuMicros();
      const result = await runLoad({
        hostname: "127.0.0.1",
        port: endpoint.port,
        connections,
        rounds: runRounds,
        keyMode,
        keyPrefix: `bench-${scenario}`,
        timeLimitMs: config.timeLimitMs,
      });
      const own = process.cpuUsage(ownBefore);
      const targetAfter = endpoint.cpuMicros();
      const cpu = targetBefore === null || targetAfter === null
        ? null
        : own.user + own.system + targetAfter - targetBefore;
      return { ...result, cpuUsPerOp: cpu === null || result.ops === 0 ? null : cpu / result.ops };
    };
    // Warm-up (JIT, connection setup paths), not recorded.
    for (const target of config.targets) {
      await runOnce(target, Math.max(1, Math.ceil(rounds / 5)));
    }
    const results = new Map<Target, Measured[]>(config.targets.map((t) => [t, []]));
    for (let run = 0; run < config.runs; run++) {
      // Alternate the order so neither target always runs first.
      const order = run % 2 === 0 ? config.targets : [...config.targets].reverse();
      for (const target of order) {
        const result = await runOnce(target, rounds);
        results.get(target)!.push(result);
        if (!config.json) {
          console.error(
            `  ${scenario} ${target} run ${run + 1}: ${result.opsPerSec.toFixed(0)} ops/s` +
              (result.aborted ? " (ABORTED by time limit)" : ""),
          );
        }
      }
    }
    let echoMedian: number | null = null;
    const scenarioRows: Row[] = [];
    for (const target of config.targets) {
      const runs = results.get(target)!;
      const ops = runs.map((r) => r.opsPerSec);
      const row: Row = {
        scenario,
        target,
        connections,
        rounds,
        runs,
        opsPerSec: { median: median(ops), min: Math.min(...ops), max: Math.max(...ops) },
        cpuUsPerOp: runs.every((r) => r.cpuUsPerOp !== null)
          ? median(runs.map((r) => r.cpuUsPerOp!))
          : null,
        p50Ms: median(runs.map((r) => r.p50Ms)),
        p99Ms: median(runs.map((r) => r.p99Ms)),
        ratioToEcho: null,
      };
      if (target === "echo") echoMedian = row.opsPerSec.median;
      scenarioRows.push(row);
    }
    for (const row of scenarioRows) {
      if (echoMedian !== null && echoMedian > 0) {
        row.ratioToEcho = row.opsPerSec.median / echoMedian;
      }
    }
    rows.push(...scenarioRows);
  }
  return rows;
}

function printTable(rows: Row[], runtime: string, mode: string, runs: number): void {
  const header = [
    "runtime",
    "mode",
    "scenario",
    "target",
    "conns x rounds",
    `ops/s median (min-max, ${runs} runs)`,
    "p50 ms",
    "p99 ms",
    "vs echo",
    "CPU us/op",
  ];
  const lines = rows.map((r) => [
    runtime,
    mode,
    r.scenario,
    r.target,
    `${r.connections} x ${r.rounds}`,
    `${r.opsPerSec.median.toFixed(0)} (${r.opsPerSec.min.toFixed(0)}-${
      r.opsPerSec.max.toFixed(0)
    })`,
    r.p50Ms.toFixed(3),
    r.p99Ms.toFixed(3),
    r.ratioToEcho === null ? "-" : `${(r.ratioToEcho * 100).toFixed(0)}%`,
    r.cpuUsPerOp === null ? "-" : r.cpuUsPerOp.toFixed(0),
  ]);
  console.log(`| ${header.join(" | ")} |`);
  console.log(`|${header.map(() => "---").join("|")}|`);
  for (const line of lines) console.log(`| ${line.join(" | ")} |`);
}

async function main(): Promise<void> {
  const config = parseArgs(process.argv.slice(2));
  const runtime = runtimeLabel();
  const nproc = cpuCount();
  const mode = config.serverProcess ? "child process" : "in-process";
  if (!config.json) {
    console.error(`dflock server benchmark: ${runtime}, nproc ${nproc}, ${mode}`);
  }
  const endpoints = new Map<Target, Endpoint>();
  try {
    for (const target of config.targets) {
      endpoints.set(
        target,
        config.serverProcess
          ? await startChild(target, config.timeLimitMs)
          : await startInProcess(target),
      );
    }
    const rows = await measure(config, endpoints);
    if (config.json) {
      console.log(JSON.stringify({ runtime, nproc, mode, config, rows }, null, 2));
    } else {
      console.log(`\nruntime ${runtime}, nproc ${nproc}, ${os.cpus()[0]?.model ?? "?"}\n`);
      printTable(rows, runtime, mode, config.runs);
    }
  } finally {
    await Promise.all([...endpoints.values()].map((e) => e.stop()));
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
