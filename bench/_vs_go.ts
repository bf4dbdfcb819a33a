/**
 * The side-by-side benchmark (`vs_go.ts`): the reference Go dflockd and the dflock server on
 * Bun, Deno and Node, each driven by the same native load generator (`reference/load.go`), and
 * the low-level dflock client on each runtime against the Go client's own bench, all against
 * the same Go server. Everything measured runs as a child process: the servers under
 * `taskset -c 0`, the generators and clients under `taskset -c 1` (`pin`), so no JavaScript
 * event loop of this process is in the measurement.
 *
 * Shapes (one op = one acquire+release pair):
 *
 * - `unique`: `connections` x `rounds` (100 x 500), each connection its own key;
 * - `contended`: `contendedConnections` x `contendedRounds` (10 x 1000) on one key;
 * - `sequential`: 1 connection x `sequentialRounds` (5000);
 * - `hold`: `holdConnections` (10 000) connections each holding a lock; a fresh server per run;
 *   RSS of the server process with every lock held (and idle, after a warm-up of 500 holds);
 * - `client`: the low-level dflock client (`acquire(conn, key, 30, { leaseTtlS: 10 })` +
 *   `release` on one persistent connection per worker, `clientWorkers` x `clientRounds`,
 *   100 x 500) on each runtime, against the Go client's `bench` (the same requests), both
 *   against one Go server.
 *
 * Every rep runs every target once, the order rotated by one per rep; the ratio dflock / Go is
 * taken within a rep and then summarised (median, min-max) over the reps.
 *
 * Without Go (`reference: "dflock"`, `generator: "ts"`) the same machinery runs with dflock on
 * both sides and a TypeScript stand-in generator (`vs_go_load.ts`): for checking the mode end
 * to end, never for figures.
 *
 * @module
 */

import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { connect } from "../src/client/connection.ts";
import type { Connection } from "../src/client/connection.ts";
import { acquire, release } from "../src/client/low_level.ts";
import { detectRuntime } from "../src/transport/auto.ts";
import type { Runtime } from "../src/transport/auto.ts";
import { freePort } from "./_shared_procs.ts";
import { summarize } from "./_stats.ts";
import type { Summary } from "./_stats.ts";
import { pinSelf, readCpuMicros, readRssKiB } from "./server_target.ts";

export type { Runtime };

/** The runtimes the dflock side runs on. */
export const RUNTIMES: readonly Runtime[] = ["bun", "deno", "node"];

/** The measured shapes, in run order. */
export type Shape = "unique" | "contended" | "sequential" | "hold" | "client";

/** Every shape, in run order. */
export const SHAPES: readonly Shape[] = ["unique", "contended", "sequential", "hold", "client"];

/** A figure a ratio is taken of. */
export type Metric =
  | "opsPerSec"
  | "p50Ms"
  | "p99Ms"
  | "serverCpuUsPerOp"
  | "rssKiB"
  | "steadyRssKiB"
  | "heldDeltaKiB";

/** A ratio's goal: `ratio op value` must hold for the median. */
export interface Goal {
  /** Comparison. */
  op: ">=" | "<=" | "<";
  /** Bound. */
  value: number;
}

/** Settings of one side-by-side run. */
export interface VsGoConfig {
  /** Runtimes of the dflock side. */
  runtimes: Runtime[];
  /** Shapes to measure (run in {@linkcode SHAPES} order). */
  shapes: Shape[];
  /** Reps (each runs every target once). */
  runs: number;
  /** `unique`: connections. */
  connections: number;
  /** `unique`: pairs per connection. */
  rounds: number;
  /** `contended`: connections on the one key. */
  contendedConnections: number;
  /** `contended`: pairs per connection. */
  contendedRounds: number;
  /** `sequential`: pairs on the single connection. */
  sequentialRounds: number;
  /** `hold`: connections each holding one lock. */
  holdConnections: number;
  /**
   * `hold`: seconds after the last grant at which RSS is read once more (0: not read).
   */
  holdSteadyS: number;
  /** `hold`: warm-up holds opened and closed before the idle RSS is read. */
  holdWarmup: number;
  /** `client`: workers (one connection and key each). */
  clientWorkers: number;
  /** `client`: pairs per worker. */
  clientRounds: number;
  /** The reference side: the Go binaries, or dflock on this runtime (a self-check). */
  reference: "go" | "dflock";
  /** The Go dflockd binary (`reference: "go"`). */
  goDflockd: string | undefined;
  /** The Go client's bench binary (`reference: "go"`, shape `client`). */
  goBench: string | undefined;
  /** The load generator: the Go one (`reference/load.go`) or the TypeScript stand-in. */
  generator: "go" | "ts";
  /** The built Go load generator; built from `reference/load.go` when absent. */
  goLoad: string | undefined;
  /** Servers on CPU 0, generators and clients on CPU 1 (`taskset`). */
  pin: boolean;
  /**
   * A busy loop at the lowest priority (`nice -n 19`) on the servers' CPU for the whole run, so
   * that the CPU never idles between requests: shows how much of a latency is the CPU waking
   * from idle (docs/performance.md, "Waking an idle CPU"). Needs `pin`.
   */
  busyServerCpu: boolean;
  /** Bound on one child run, milliseconds. */
  timeLimitMs: number;
  /** Pause before reading RSS, milliseconds. */
  settleMs: number;
  /** Executables of the runtimes. */
  bins: RuntimeBins;
  /** The repository root (sources for Deno and Bun, `npm/esm/` for Node). */
  root: string;
  /** Progress lines. */
  log: (line: string) => void;
}

/** Executables of the three runtimes. */
export interface RuntimeBins {
  /** Deno. */
  deno: string;
  /** Bun. */
  bun: string;
  /** Node. */
  node: string;
}

/** One measured run of one target. */
export interface VsGoRun {
  /** Rep index, from 0. */
  rep: number;
  /** Completed pairs (held locks for `hold`). */
  ops: number;
  /** Wall time, seconds. */
  seconds: number;
  /** Ops per second. */
  opsPerSec: number;
  /** Median latency, ms (connect+acquire for `hold`). */
  p50Ms: number;
  /** 99th percentile latency, ms. */
  p99Ms: number;
  /** Server CPU (user+system) per op, microseconds. */
  serverCpuUsPerOp: number | null;
  /** Server RSS after the run (every lock held, for `hold`), KiB. */
  rssKiB: number | null;
  /** `hold`: server RSS before the holds, KiB. */
  idleRssKiB: number | null;
  /** `hold`: server RSS after every lock has been held `holdSteadyS` seconds, KiB. */
  steadyRssKiB: number | null;
}

/** Every run of one target in one shape, with summaries. */
export interface VsGoRow {
  /** The shape. */
  shape: Shape;
  /** Target name: `go`, `go-bench`, `dflock-<runtime>`, `client-<runtime>`, or `ref-...`. */
  target: string;
  /** The runtime of a dflock target; `null` for the reference. */
  runtime: Runtime | null;
  /** Connections (workers). */
  connections: number;
  /** Pairs per connection (1 for `hold`). */
  rounds: number;
  /** Every rep. */
  runs: VsGoRun[];
  /** Ops per second. */
  opsPerSec: Summary;
  /** Median latency, ms. */
  p50Ms: Summary;
  /** 99th percentile latency, ms. */
  p99Ms: Summary;
  /** Server CPU per op, microseconds. */
  serverCpuUsPerOp: Summary | null;
  /** Server RSS, KiB. */
  rssKiB: Summary | null;
  /** `hold`: idle server RSS, KiB. */
  idleRssKiB: Summary | null;
  /** `hold`: server RSS after `holdSteadyS` seconds held, KiB. */
  steadyRssKiB: Summary | null;
}

/** A dflock / reference ratio of one metric, per rep and summarised. */
export interface VsGoRatio {
  /** The shape. */
  shape: Shape;
  /** The dflock side's runtime. */
  runtime: Runtime;
  /** The figure compared. */
  metric: Metric;
  /** dflock / reference, one per rep (reps missing a figure are left out). */
  perRep: number[];
  /** Median, min and max of `perRep`. */
  ratio: Summary;
  /** The goal, or `null` for information only. */
  goal: Goal | null;
  /** Whether the median meets the goal; `null` without a goal or figures. */
  met: boolean | null;
}

/** The JSON document of a side-by-side run. */
export interface VsGoReport {
  /** Format tag. */
  kind: "dflock-vs-go-bench";
  /** ISO date and time. */
  date: string;
  /** The runtime this orchestrating process ran on. */
  orchestrator: Runtime;
  /** Logical CPUs. */
  nproc: number;
  /** CPU model. */
  cpu: string;
  /** One-minute load average at the start and at the end. */
  loadavg: { start: number; end: number };
  /** Versions: `go-dflockd`, `bun`, `deno`, `node`, `go` (the toolchain, when used). */
  versions: Record<string, string>;
  /** The reference side. */
  reference: "go" | "dflock";
  /** The load generator. */
  generator: "go" | "ts";
  /** The settings (without executables' paths and the logger). */
  config: Record<string, unknown>;
  /** One row per shape and target. */
  rows: VsGoRow[];
  /** dflock / reference ratios. */
  ratios: VsGoRatio[];
}

/** The ratios of each shape, with their goals (`null`: information only). */
export const GOALS: Readonly<Record<Shape, readonly [Metric, (rt: Runtime) => Goal | null][]>> = {
  unique: [
    ["opsPerSec", (rt) => ({ op: ">=", value: rt === "node" ? 0.85 : 1.0 })],
    ["p50Ms", () => null],
    ["p99Ms", () => ({ op: "<=", value: 1.2 })],
    ["serverCpuUsPerOp", () => null],
  ],
  contended: [
    ["opsPerSec", () => ({ op: ">=", value: 1.0 })],
    ["p50Ms", () => null],
    ["p99Ms", () => ({ op: "<=", value: 1.5 })],
    ["serverCpuUsPerOp", () => null],
  ],
  sequential: [
    ["p50Ms", () => ({ op: "<", value: 1.0 })],
    ["p99Ms", () => null],
    ["serverCpuUsPerOp", () => null],
  ],
  hold: [
    ["rssKiB", () => ({ op: "<=", value: 1.0 })],
    ["steadyRssKiB", () => ({ op: "<=", value: 1.0 })],
    ["heldDeltaKiB", () => null],
  ],
  client: [
    ["p99Ms", () => ({ op: "<=", value: 1.5 })],
    ["p50Ms", () => null],
    ["opsPerSec", () => null],
  ],
};

/** Server flags for both servers: room for every key, no idle timeouts, no key GC. */
export const SERVER_FLAGS: readonly string[] = [
  "--max-locks",
  "1000000",
  "--read-timeout",
  "600",
  "--gc-max-idle",
  "3600",
];

const SERVER_CPU = "0";
const LOAD_CPU = "1";
/**
 * Unrecorded full-size runs per target before a load shape's reps. V8 compiles a server's request
 * loop with its optimizing compiler only after some 20 000 requests (Deno: 54-84 ms of compiling on
 * the server's one CPU, with the other hot functions after it); one run at a fifth of the size left
 * that to the first reps, whose p99 on one contended key was 3-5 ms against 1.0 once warm
 * (docs/performance.md, "Warming up"). Every target, Go included, gets the same.
 */
const WARMUP_PASSES = 2;

// ---- paths and commands ----

/**
 * The repository root, from this module's location: `<root>/bench/` when running from source,
 * `<root>/npm/esm/bench/` from the npm build.
 *
 * @returns The absolute path.
 */
export function repoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return import.meta.url.endsWith(".ts") ? join(here, "..") : join(here, "..", "..", "..");
}

/**
 * Where the runtimes are: this process's executable for its own runtime, else
 * `node_modules/.bin/deno` and `node_modules/.bin/bun` of the repository and `node` on the PATH.
 *
 * @param root The repository root.
 * @returns The executables.
 */
export function defaultBins(root: string): RuntimeBins {
  const current = detectRuntime();
  const local = (name: string): string => join(root, "node_modules", ".bin", name);
  return {
    deno: current === "deno" ? process.execPath : local("deno"),
    bun: current === "bun" ? process.execPath : local("bun"),
    node: current === "node" ? process.execPath : "node",
  };
}

/**
 * The command line that runs one of the repository's scripts on a runtime: the TypeScript
 * source for Deno and Bun, the npm build (`npm/esm/`) for Node.
 *
 * @param runtime The runtime.
 * @param root The repository root.
 * @param script Path from the root without extension, e.g. `src/cli/main`.
 * @param bins The runtimes' executables.
 * @returns Executable and arguments.
 * @throws {Error} When the file is missing (for Node: the npm build was not made).
 */
export function scriptCommand(
  runtime: Runtime,
  root: string,
  script: string,
  bins: RuntimeBins,
): [string, string[]] {
  const file = runtime === "node"
    ? join(root, "npm", "esm", script + ".js")
    : join(root, script + ".ts");
  if (!existsSync(file)) {
    throw new Error(
      runtime === "node"
        ? `${file} is missing: Node runs the npm build; make it with ` +
          "`node_modules/.bin/deno run -A scripts/build_npm.ts`, or leave Node out " +
          "(--runtimes bun,deno)"
        : `${file} is missing: run from a checkout of the repository`,
    );
  }
  if (runtime === "deno") return [bins.deno, ["run", "-A", file]];
  return [runtime === "bun" ? bins.bun : bins.node, [file]];
}

/** Bound on the busy loop of `busyServerCpu`, seconds (it also ends when this process does). */
const SPINNER_LIMIT_S = 3600;

/**
 * Starts the busy loop of `busyServerCpu`: a shell loop on the servers' CPU at the lowest
 * priority, which any server thread that wakes up preempts. It ends when this process is gone
 * (or after an hour), so a benchmark that dies leaves no loop behind.
 *
 * @param onError Called when the loop cannot be started (then the run has no busy loop).
 * @returns The loop's process (kill it when done).
 */
function startSpinner(onError: (err: unknown) => void): ChildProcess {
  const loop = `end=$((SECONDS + ${SPINNER_LIMIT_S})); ` +
    `while kill -0 ${process.pid} 2>/dev/null && [ $SECONDS -lt $end ]; do :; done`;
  const child = spawn("nice", ["-n", "19", "taskset", "-c", SERVER_CPU, "bash", "-c", loop], {
    stdio: "ignore",
  });
  child.on("error", onError);
  return child;
}

function pinned(cmd: [string, string[]], cpus: string | undefined): [string, string[]] {
  return cpus === undefined ? cmd : ["taskset", ["-c", cpus, cmd[0], ...cmd[1]]];
}

/**
 * The first line a command prints (its version), or `?`.
 *
 * @param exe The executable.
 * @param args Its arguments (e.g. `--version`).
 * @returns The first non-empty line of stdout (else stderr).
 */
export function versionOf(exe: string, args: string[]): string {
  const r = spawnSync(exe, args, { encoding: "utf8", timeout: 20_000 });
  if (r.error !== undefined || r.status !== 0) return "?";
  return ((r.stdout || r.stderr) ?? "").trim().split("\n")[0] ?? "?";
}

/**
 * Builds `reference/load.go` with `go build` into a new temporary directory.
 *
 * @param root The repository root.
 * @returns The binary's path and a function deleting the directory.
 * @throws {Error} When `go` is missing or the build fails, saying how to get Go.
 */
export function buildGoLoad(root: string): { path: string; remove: () => void } {
  const source = join(root, "bench", "reference", "load.go");
  const dir = mkdtempSync(join(os.tmpdir(), "dflock-go-load-"));
  const path = join(dir, "go-load");
  const r = spawnSync("go", ["build", "-o", path, source], {
    encoding: "utf8",
    timeout: 300_000,
    env: { ...process.env, GOFLAGS: "-mod=mod", GOPROXY: "off", GO111MODULE: "off" },
  });
  if (r.error !== undefined || r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `cannot build ${source} with go: ${r.error?.message ?? r.stderr}. Install Go (Debian: ` +
        "apt-get install golang-go; ../shared/reference/build.sh installs it too), or pass a " +
        "built generator with --go-load PATH",
    );
  }
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

// ---- child processes ----

/** A child's exit and output. */
export interface Collected {
  /** Exit code (null when killed by a signal). */
  code: number | null;
  /** Standard output. */
  stdout: string;
  /** Standard error (its last 8 KiB). */
  stderr: string;
}

/**
 * Runs a command to completion and collects its output.
 *
 * @param cmd Executable and arguments.
 * @param cwd Working directory.
 * @param timeoutMs Kill it (SIGKILL) and reject after this long.
 * @returns Exit code and output.
 * @throws {Error} When it cannot be started or runs out of time.
 */
export function collect(
  cmd: [string, string[]],
  cwd: string,
  timeoutMs: number,
): Promise<Collected> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0], cmd[1], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8");
    child.stderr!.setEncoding("utf8");
    child.stdout!.on("data", (t: string) => stdout += t);
    child.stderr!.on("data", (t: string) => stderr = (stderr + t).slice(-8192));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${cmd.join(" ")} ran over ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd[0]}: ${e.message}`));
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Waits for a child's stderr to match `pattern` (the port is its last capture group), then
 * keeps draining stderr. Kills the child when it exits, fails to spawn or stays silent.
 */
function waitForPort(
  child: ChildProcess,
  what: string,
  pattern: RegExp,
  timeoutMs: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(
      () => fail(new Error(`${what} did not start in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const fail = (e: Error): void => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(e);
    };
    const onExit = (code: number | null): void =>
      fail(new Error(`${what} exited (${code}): ${buffered.slice(-2000)}`));
    child.once("error", (e) => fail(e));
    child.once("exit", onExit);
    child.stderr!.setEncoding("utf8");
    let found = false;
    child.stderr!.on("data", (text: string) => {
      if (found) return; // Keep draining, so the child never blocks on a full pipe.
      buffered = (buffered + text).slice(-65536);
      const m = pattern.exec(buffered);
      if (m === null) return;
      found = true;
      clearTimeout(timer);
      child.off("exit", onExit);
      buffered = "";
      resolve(Number(m[m.length - 1]));
    });
  });
}

/** A server child process. */
export interface RunningServer {
  /** What it is (`go`, `dflock-bun`, ...). */
  readonly name: string;
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** Its process id. */
  readonly pid: number;
  /** VmRSS in KiB, or `null`. */
  rssKiB(): number | null;
  /** User+system CPU so far, microseconds, or `null`. */
  cpuMicros(): number | null;
  /** SIGTERM, SIGKILL after 5 s; resolves once it exited. */
  stop(): Promise<void>;
}

async function startServerProcess(
  name: string,
  cmd: [string, string[]],
  cwd: string,
  pattern: RegExp,
  timeoutMs: number,
): Promise<RunningServer> {
  const child = spawn(cmd[0], cmd[1], { cwd, stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const port = await waitForPort(child, name, pattern, timeoutMs);
  const pid = child.pid!;
  return {
    name,
    port,
    pid,
    rssKiB: () => readRssKiB(pid),
    cpuMicros: () => readCpuMicros(pid),
    async stop(): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill();
      const force = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(force);
    },
  };
}

/**
 * Starts the dflock server (`src/cli/main serve --port 0`) on a runtime.
 *
 * @param runtime The runtime.
 * @param config Paths, pinning and time limit.
 * @param name The target's name.
 * @returns The running server.
 */
export function startDflockServer(
  runtime: Runtime,
  config: VsGoConfig,
  name = `dflock-${runtime}`,
): Promise<RunningServer> {
  const cmd = scriptCommand(runtime, config.root, "src/cli/main", config.bins);
  cmd[1].push("serve", "--host", "127.0.0.1", "--port", "0", ...SERVER_FLAGS);
  return startServerProcess(
    name,
    pinned(cmd, config.pin ? SERVER_CPU : undefined),
    config.root,
    /(?:^|\n)(?:dflock: )?listening on \S+:(\d+)/,
    config.timeLimitMs,
  );
}

/**
 * Starts the Go dflockd on a free port picked first (it logs the configured port, so port 0
 * would not tell us the bound one).
 *
 * @param binary The Go dflockd executable.
 * @param config Pinning and time limit.
 * @returns The running server.
 * @throws {Error} When the binary is missing, with how to build it.
 */
export async function startGoServer(binary: string, config: VsGoConfig): Promise<RunningServer> {
  if (!existsSync(binary)) {
    throw new Error(
      `no Go dflockd at ${binary}: build it with ` +
        "`bash ../shared/reference/build.sh /tmp/goref` and pass --go-dflockd /tmp/goref/dflockd",
    );
  }
  const port = await freePort();
  return await startServerProcess(
    "go",
    pinned(
      [binary, ["--host", "127.0.0.1", "--port", String(port), ...SERVER_FLAGS]],
      config.pin ? SERVER_CPU : undefined,
    ),
    config.root,
    /msg="?listening"?\s+addr=\S+:(\d+)/,
    config.timeLimitMs,
  );
}

// ---- generator ----

/** What the load generator reports for one load run. */
export interface LoadFigures {
  /** Completed pairs. */
  ops: number;
  /** Wall time, seconds. */
  seconds: number;
  /** Pairs per second. */
  opsPerSec: number;
  /** Median pair latency, ms. */
  p50Ms: number;
  /** 99th percentile, ms. */
  p99Ms: number;
}

/** One load run's shape. */
export interface LoadSpec {
  /** Connections. */
  connections: number;
  /** Pairs per connection. */
  rounds: number;
  /** Key per connection or one shared key. */
  keyMode: "unique" | "shared";
  /** Key prefix. */
  prefix: string;
}

/**
 * The generator's command line (pinned to CPU 1 with `pin`), before its own arguments.
 *
 * @param config The run's settings (with `goLoad` set for the Go generator).
 * @returns Executable and the first arguments.
 */
export function generatorCommand(config: VsGoConfig): [string, string[]] {
  const base: [string, string[]] = config.generator === "go"
    ? [config.goLoad!, []]
    : scriptCommand(detectRuntime(), config.root, "bench/vs_go_load", config.bins);
  return pinned(base, config.pin ? LOAD_CPU : undefined);
}

function parseJsonLine(text: string, what: string): Record<string, unknown> {
  const line = text.trim().split("\n").at(-1) ?? "";
  try {
    const doc = JSON.parse(line) as unknown;
    if (typeof doc === "object" && doc !== null) return doc as Record<string, unknown>;
  } catch {
    // Reported below.
  }
  throw new Error(`${what} printed no JSON result: ${JSON.stringify(text.slice(-500))}`);
}

function num(doc: Record<string, unknown>, field: string, what: string): number {
  const v = doc[field];
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new Error(`${what}: field ${field} missing or not a number in ${JSON.stringify(doc)}`);
  }
  return v;
}

/**
 * Runs the generator once against a port and reads its JSON result.
 *
 * @param config Generator, pinning, time limit.
 * @param port The server's port.
 * @param spec Connections, rounds, key mode and prefix.
 * @returns The figures.
 * @throws {Error} When it fails, reports timeouts or completes fewer pairs than asked.
 */
export async function runGenerator(
  config: VsGoConfig,
  port: number,
  spec: LoadSpec,
): Promise<LoadFigures> {
  const [exe, args] = generatorCommand(config);
  const cmd: [string, string[]] = [exe, [
    ...args,
    "-addr",
    `127.0.0.1:${port}`,
    "-c",
    String(spec.connections),
    "-r",
    String(spec.rounds),
    "-key-mode",
    spec.keyMode,
    "-prefix",
    spec.prefix,
    "-json",
  ]];
  const r = await collect(cmd, config.root, config.timeLimitMs);
  if (r.code !== 0) throw new Error(`load generator failed (${r.code}): ${r.stderr}`);
  const doc = parseJsonLine(r.stdout, "load generator");
  const figures = {
    ops: num(doc, "ops", "load generator"),
    seconds: num(doc, "seconds", "load generator"),
    opsPerSec: num(doc, "opsPerSec", "load generator"),
    p50Ms: num(doc, "p50Ms", "load generator"),
    p99Ms: num(doc, "p99Ms", "load generator"),
  };
  const expected = spec.connections * spec.rounds;
  if (figures.ops !== expected) {
    throw new Error(`load generator completed ${figures.ops} of ${expected} pairs`);
  }
  return figures;
}

/** Connections held open by the generator's hold mode. */
export interface GeneratorHolds {
  /** Connections holding their lock. */
  held: number;
  /** Time to open them all, seconds. */
  seconds: number;
  /** Median connect+acquire, ms. */
  p50Ms: number;
  /** 99th percentile connect+acquire, ms. */
  p99Ms: number;
  /** Ends the generator's stdin (it closes every connection and exits); resolves on its exit. */
  close(): Promise<void>;
}

/**
 * Starts the generator in hold mode and waits until every connection holds its lock.
 *
 * @param config Generator, pinning, time limit.
 * @param port The server's port.
 * @param connections Connections to open.
 * @param prefix Key prefix.
 * @returns The holds; `close()` them.
 * @throws {Error} When the generator fails or does not report in time.
 */
export function openGeneratorHolds(
  config: VsGoConfig,
  port: number,
  connections: number,
  prefix: string,
): Promise<GeneratorHolds> {
  const [exe, args] = generatorCommand(config);
  const child = spawn(exe, [
    ...args,
    "-addr",
    `127.0.0.1:${port}`,
    "-c",
    String(connections),
    "-prefix",
    prefix,
    "-hold",
  ], { cwd: config.root, stdio: ["pipe", "pipe", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const close = async (): Promise<void> => {
    child.stdin!.end();
    const force = setTimeout(() => child.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(force);
  };
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    let done = false;
    const fail = (e: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(e);
    };
    const timer = setTimeout(
      () => fail(new Error(`hold generator: no report in ${config.timeLimitMs} ms: ${stderr}`)),
      config.timeLimitMs,
    );
    child.stdin!.on("error", () => {}); // EPIPE when it exits first: reported via exit.
    child.once("error", (e) => fail(new Error(`cannot run ${exe}: ${e.message}`)));
    child.once("exit", (code) => fail(new Error(`hold generator exited (${code}): ${stderr}`)));
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (t: string) => stderr = (stderr + t).slice(-8192));
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (t: string) => {
      stdout += t;
      if (done || !stdout.includes("\n")) return;
      done = true;
      clearTimeout(timer);
      try {
        const doc = parseJsonLine(stdout.slice(0, stdout.indexOf("\n")), "hold generator");
        resolve({
          held: num(doc, "held", "hold generator"),
          seconds: num(doc, "seconds", "hold generator"),
          p50Ms: num(doc, "p50Ms", "hold generator"),
          p99Ms: num(doc, "p99Ms", "hold generator"),
          close,
        });
      } catch (e) {
        child.kill("SIGKILL");
        reject(e);
      }
    });
  });
}

// ---- clients ----

/**
 * Reads the Go client bench's text report (`throughput: N ops/s`, `p50 : X ms`, ...).
 *
 * @param text Its standard output.
 * @returns The figures.
 * @throws {Error} When a figure is missing.
 */
export function parseGoBench(text: string): LoadFigures {
  const field = (name: string, unit: string): number => {
    const m = new RegExp(`^\\s*${name}\\s*:\\s*([0-9.]+)\\s*${unit}`, "m").exec(text);
    if (m === null) throw new Error(`Go bench output has no ${name}: ${JSON.stringify(text)}`);
    return Number(m[1]);
  };
  return {
    ops: field("total ops", ""),
    seconds: field("wall time", "s"),
    opsPerSec: field("throughput", "ops/s"),
    p50Ms: field("p50", "ms"),
    p99Ms: field("p99", "ms"),
  };
}

/**
 * The percentile rule of the Go client's bench: linear interpolation between closest ranks.
 *
 * @param sorted Ascending values.
 * @param pct Percentile, 0-100.
 * @returns The value (0 when empty).
 */
export function interpolatedPercentile(sorted: ArrayLike<number>, pct: number): number {
  if (sorted.length === 0) return 0;
  const rank = pct / 100 * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = lo + 1;
  if (hi >= sorted.length) return sorted[lo]!;
  const frac = rank - lo;
  return sorted[lo]! * (1 - frac) + sorted[hi]! * frac;
}

/** Options of {@linkcode runLowLevelClient}. */
export interface ClientLoadOptions {
  /** Server port on 127.0.0.1. */
  port: number;
  /** Workers, each with its own connection and key `<prefix>_<i>`. */
  workers: number;
  /** Pairs per worker. */
  rounds: number;
  /** Key prefix. */
  prefix: string;
  /** Unrecorded pairs per worker first, on their own connections (JIT warm-up). */
  warmupRounds: number;
}

async function clientPass(
  options: ClientLoadOptions,
  rounds: number,
  latencies: Float64Array | null,
): Promise<number> {
  const start = performance.now();
  const conns: Connection[] = [];
  try {
    await Promise.all(Array.from({ length: options.workers }, async (_, w) => {
      const conn = await connect({ host: "127.0.0.1", port: options.port });
      conns.push(conn);
      const key = `${options.prefix}_${w}`;
      for (let i = 0; i < rounds; i++) {
        const t0 = performance.now();
        const { token } = await acquire(conn, key, 30, { leaseTtlS: 10 });
        await release(conn, key, token);
        if (latencies !== null) latencies[w * rounds + i] = performance.now() - t0;
      }
    }));
    return (performance.now() - start) / 1000;
  } finally {
    await Promise.all(conns.map((c) => c.close()));
  }
}

/**
 * The dflock side of the `client` shape, shaped like the Go client's bench: every worker
 * opens its own connection and runs `acquire(conn, key, 30, { leaseTtlS: 10 })` + `release`
 * (the Go bench's `l key 30 10` and `r`) `rounds` times; the wall time starts before the
 * connects, as the Go bench's does, and percentiles interpolate as its do.
 *
 * @param options Port, shape, prefix and warm-up.
 * @returns The figures.
 */
export async function runLowLevelClient(options: ClientLoadOptions): Promise<LoadFigures> {
  if (options.warmupRounds > 0) {
    await clientPass({ ...options, prefix: `${options.prefix}-warm` }, options.warmupRounds, null);
  }
  const latencies = new Float64Array(options.workers * options.rounds);
  const seconds = await clientPass(options, options.rounds, latencies);
  latencies.sort();
  return {
    ops: latencies.length,
    seconds,
    opsPerSec: latencies.length / seconds,
    p50Ms: interpolatedPercentile(latencies, 50),
    p99Ms: interpolatedPercentile(latencies, 99),
  };
}

/** A client target: the Go bench (or, self-checking, dflock) or the dflock client on a runtime. */
interface ClientTarget {
  name: string;
  runtime: Runtime | null;
}

async function runClientTarget(
  config: VsGoConfig,
  target: ClientTarget,
  port: number,
  rounds: number,
  prefix: string,
): Promise<LoadFigures> {
  const cpus = config.pin ? LOAD_CPU : undefined;
  if (target.runtime === null && config.reference === "go") {
    const bench = config.goBench!;
    const r = await collect(
      pinned([bench, [
        "--servers",
        `127.0.0.1:${port}`,
        "--workers",
        String(config.clientWorkers),
        "--rounds",
        String(rounds),
        "--key",
        prefix,
      ]], cpus),
      config.root,
      config.timeLimitMs,
    );
    if (r.code !== 0) throw new Error(`Go bench failed (${r.code}): ${r.stderr}`);
    return parseGoBench(r.stdout);
  }
  const runtime = target.runtime ?? detectRuntime();
  const cmd = scriptCommand(runtime, config.root, "bench/vs_go_client", config.bins);
  cmd[1].push(
    "--port",
    String(port),
    "--workers",
    String(config.clientWorkers),
    "--rounds",
    String(rounds),
    "--prefix",
    prefix,
    "--warmup",
    String(Math.ceil(rounds / 5)),
  );
  const r = await collect(pinned(cmd, cpus), config.root, config.timeLimitMs);
  if (r.code !== 0) throw new Error(`${target.name} failed (${r.code}): ${r.stderr}`);
  const doc = parseJsonLine(r.stdout, target.name);
  return {
    ops: num(doc, "ops", target.name),
    seconds: num(doc, "seconds", target.name),
    opsPerSec: num(doc, "opsPerSec", target.name),
    p50Ms: num(doc, "p50Ms", target.name),
    p99Ms: num(doc, "p99Ms", target.name),
  };
}

// ---- the run ----

/**
 * The rep's order: `items` rotated left by `rep` (A B C, B C A, C A B, ...).
 *
 * @param items The targets in base order.
 * @param rep The rep, from 0.
 * @returns A new array.
 */
export function rotate<T>(items: readonly T[], rep: number): T[] {
  const n = items.length;
  if (n === 0) return [];
  const k = ((rep % n) + n) % n;
  return [...items.slice(k), ...items.slice(0, k)];
}

function summarizeNullable(values: (number | null)[]): Summary | null {
  if (values.length === 0 || values.some((v) => v === null)) return null;
  return summarize(values as number[]);
}

function makeRow(
  shape: Shape,
  target: { name: string; runtime: Runtime | null },
  connections: number,
  rounds: number,
  runs: VsGoRun[],
): VsGoRow {
  return {
    shape,
    target: target.name,
    runtime: target.runtime,
    connections,
    rounds,
    runs,
    opsPerSec: summarize(runs.map((r) => r.opsPerSec)),
    p50Ms: summarize(runs.map((r) => r.p50Ms)),
    p99Ms: summarize(runs.map((r) => r.p99Ms)),
    serverCpuUsPerOp: summarizeNullable(runs.map((r) => r.serverCpuUsPerOp)),
    rssKiB: summarizeNullable(runs.map((r) => r.rssKiB)),
    idleRssKiB: shape === "hold" ? summarizeNullable(runs.map((r) => r.idleRssKiB)) : null,
    steadyRssKiB: shape === "hold" ? summarizeNullable(runs.map((r) => r.steadyRssKiB)) : null,
  };
}

function metricOf(run: VsGoRun, metric: Metric): number | null {
  if (metric === "heldDeltaKiB") {
    return run.rssKiB === null || run.idleRssKiB === null ? null : run.rssKiB - run.idleRssKiB;
  }
  return run[metric];
}

/**
 * Whether a ratio meets its goal.
 *
 * @param value The ratio.
 * @param goal The goal.
 * @returns The verdict.
 */
export function meets(value: number, goal: Goal): boolean {
  return goal.op === ">="
    ? value >= goal.value
    : goal.op === "<="
    ? value <= goal.value
    : value < goal.value;
}

/**
 * The dflock / reference ratios of every shape's metrics, per rep (same rep index) and
 * summarised, with the goals of {@linkcode GOALS}.
 *
 * @param rows Rows of one run; per shape the reference row has `runtime: null`.
 * @returns One ratio per shape, dflock runtime and metric.
 */
export function computeRatios(rows: readonly VsGoRow[]): VsGoRatio[] {
  const out: VsGoRatio[] = [];
  for (const shape of SHAPES) {
    const ref = rows.find((r) => r.shape === shape && r.runtime === null);
    if (ref === undefined) continue;
    for (const row of rows) {
      if (row.shape !== shape || row.runtime === null) continue;
      const runtime = row.runtime;
      for (const [metric, goalOf] of GOALS[shape]) {
        const perRep: number[] = [];
        for (const run of row.runs) {
          const base = ref.runs.find((r) => r.rep === run.rep);
          const a = metricOf(run, metric);
          const b = base === undefined ? null : metricOf(base, metric);
          if (a === null || b === null || b === 0) continue;
          perRep.push(a / b);
        }
        if (perRep.length === 0) continue;
        const ratio = summarize(perRep);
        const goal = goalOf(runtime);
        out.push({
          shape,
          runtime,
          metric,
          perRep,
          ratio,
          goal,
          met: goal === null ? null : meets(ratio.median, goal),
        });
      }
    }
  }
  return out;
}

function settle(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function cpuPerOp(before: number | null, after: number | null, ops: number): number | null {
  return before === null || after === null || ops === 0 ? null : (after - before) / ops;
}

function describe(r: VsGoRun): string {
  const rss = r.rssKiB === null ? "" : ` rss ${(r.rssKiB / 1024).toFixed(1)} MiB`;
  const cpu = r.serverCpuUsPerOp === null ? "" : ` server ${r.serverCpuUsPerOp.toFixed(1)} us/op`;
  return `${r.opsPerSec.toFixed(0)} ops/s p50 ${r.p50Ms.toFixed(3)} p99 ${
    r.p99Ms.toFixed(3)
  } ms${cpu}${rss}`;
}

interface ServerTarget {
  name: string;
  runtime: Runtime | null;
}

function serverTargets(config: VsGoConfig): ServerTarget[] {
  const ref = config.reference === "go" ? "go" : `ref-dflock-${detectRuntime()}`;
  return [
    { name: ref, runtime: null },
    ...config.runtimes.map((rt) => ({ name: `dflock-${rt}`, runtime: rt })),
  ];
}

function startTargetServer(config: VsGoConfig, target: ServerTarget): Promise<RunningServer> {
  if (target.runtime !== null) return startDflockServer(target.runtime, config);
  if (config.reference === "go") return startGoServer(config.goDflockd!, config);
  return startDflockServer(detectRuntime(), config, target.name);
}

function loadSpec(config: VsGoConfig, shape: Shape): LoadSpec {
  switch (shape) {
    case "contended":
      return {
        connections: config.contendedConnections,
        rounds: config.contendedRounds,
        keyMode: "shared",
        prefix: "vs-contended",
      };
    case "sequential":
      return {
        connections: 1,
        rounds: config.sequentialRounds,
        keyMode: "unique",
        prefix: "vs-sequential",
      };
    default:
      return {
        connections: config.connections,
        rounds: config.rounds,
        keyMode: "unique",
        prefix: "vs-unique",
      };
  }
}

async function measureLoadShapes(config: VsGoConfig, shapes: Shape[]): Promise<VsGoRow[]> {
  const targets = serverTargets(config);
  const servers = new Map<string, RunningServer>();
  const rows: VsGoRow[] = [];
  try {
    for (const t of targets) servers.set(t.name, await startTargetServer(config, t));
    for (const shape of shapes) {
      const spec = loadSpec(config, shape);
      for (const t of targets) {
        for (let pass = 0; pass < WARMUP_PASSES; pass++) {
          await runGenerator(config, servers.get(t.name)!.port, spec);
        }
      }
      const runs = new Map<string, VsGoRun[]>(targets.map((t) => [t.name, []]));
      for (let rep = 0; rep < config.runs; rep++) {
        for (const t of rotate(targets, rep)) {
          const server = servers.get(t.name)!;
          const before = server.cpuMicros();
          const f = await runGenerator(config, server.port, spec);
          const run: VsGoRun = {
            rep,
            ...f,
            serverCpuUsPerOp: cpuPerOp(before, server.cpuMicros(), f.ops),
            rssKiB: server.rssKiB(),
            idleRssKiB: null,
            steadyRssKiB: null,
          };
          runs.get(t.name)!.push(run);
          config.log(`  ${shape} rep ${rep + 1} ${t.name}: ${describe(run)}`);
        }
      }
      for (const t of targets) {
        rows.push(makeRow(shape, t, spec.connections, spec.rounds, runs.get(t.name)!));
      }
    }
  } finally {
    await Promise.all([...servers.values()].map((s) => s.stop()));
  }
  return rows;
}

async function measureHold(config: VsGoConfig): Promise<VsGoRow[]> {
  const targets = serverTargets(config);
  const runs = new Map<string, VsGoRun[]>(targets.map((t) => [t.name, []]));
  for (let rep = 0; rep < config.runs; rep++) {
    for (const t of rotate(targets, rep)) {
      const server = await startTargetServer(config, t);
      try {
        const warm = await openGeneratorHolds(
          config,
          server.port,
          Math.min(config.holdWarmup, config.holdConnections),
          "vs-warm",
        );
        await warm.close();
        await settle(config.settleMs);
        const idle = server.rssKiB();
        const before = server.cpuMicros();
        const holds = await openGeneratorHolds(
          config,
          server.port,
          config.holdConnections,
          "vs-hold",
        );
        let held: number | null;
        let steady: number | null = null;
        try {
          await settle(config.settleMs);
          held = server.rssKiB();
          if (config.holdSteadyS > 0) {
            // A runtime's garbage collector gives back memory only after a while without
            // allocation (V8's memory reducer: about 20-45 s): the footprint of holding.
            await settle(config.holdSteadyS * 1000 - config.settleMs);
            steady = server.rssKiB();
          }
        } finally {
          await holds.close();
        }
        const run: VsGoRun = {
          rep,
          ops: holds.held,
          seconds: holds.seconds,
          opsPerSec: holds.held / holds.seconds,
          p50Ms: holds.p50Ms,
          p99Ms: holds.p99Ms,
          serverCpuUsPerOp: cpuPerOp(before, server.cpuMicros(), holds.held),
          rssKiB: held,
          idleRssKiB: idle,
          steadyRssKiB: steady,
        };
        runs.get(t.name)!.push(run);
        config.log(
          `  hold rep ${rep + 1} ${t.name}: idle ${((idle ?? NaN) / 1024).toFixed(1)} MiB, ${
            describe(run)
          }`,
        );
      } finally {
        await server.stop();
      }
    }
  }
  return targets.map((t) => makeRow("hold", t, config.holdConnections, 1, runs.get(t.name)!));
}

async function measureClient(config: VsGoConfig): Promise<VsGoRow[]> {
  const refName = config.reference === "go" ? "go-bench" : `ref-client-${detectRuntime()}`;
  const targets: ClientTarget[] = [
    { name: refName, runtime: null },
    ...config.runtimes.map((rt) => ({ name: `client-${rt}`, runtime: rt })),
  ];
  const server = await startTargetServer(config, serverTargets(config)[0]!);
  const runs = new Map<string, VsGoRun[]>(targets.map((t) => [t.name, []]));
  try {
    for (const t of targets) {
      await runClientTarget(
        config,
        t,
        server.port,
        Math.max(1, Math.ceil(config.clientRounds / 5)),
        `vs-client-warm-${t.name}`,
      );
    }
    for (let rep = 0; rep < config.runs; rep++) {
      for (const t of rotate(targets, rep)) {
        const before = server.cpuMicros();
        const f = await runClientTarget(
          config,
          t,
          server.port,
          config.clientRounds,
          `vs-client-${t.name}`,
        );
        const expected = config.clientWorkers * config.clientRounds;
        if (f.ops !== expected) {
          throw new Error(`${t.name} completed ${f.ops} of ${expected} pairs`);
        }
        const run: VsGoRun = {
          rep,
          ...f,
          serverCpuUsPerOp: cpuPerOp(before, server.cpuMicros(), f.ops),
          rssKiB: server.rssKiB(),
          idleRssKiB: null,
          steadyRssKiB: null,
        };
        runs.get(t.name)!.push(run);
        config.log(`  client rep ${rep + 1} ${t.name}: ${describe(run)}`);
      }
    }
  } finally {
    await server.stop();
  }
  return targets.map((t) =>
    makeRow("client", t, config.clientWorkers, config.clientRounds, runs.get(t.name)!)
  );
}

/**
 * Runs the side-by-side benchmark.
 *
 * @param config The settings.
 * @returns The results document (rows and ratios).
 * @throws {Error} When a binary is missing, a child fails or a run is incomplete.
 */
export async function runVsGo(config: VsGoConfig): Promise<VsGoReport> {
  if (config.reference === "go") {
    if (config.goDflockd === undefined) {
      throw new Error(
        "the Go dflockd is needed: --go-dflockd PATH (or DFLOCKD_GO=PATH); build it with " +
          "`bash ../shared/reference/build.sh /tmp/goref`",
      );
    }
    if (config.shapes.includes("client") && config.goBench === undefined) {
      throw new Error("the client shape needs the Go client's bench: --go-bench PATH");
    }
  }
  // Fail early, before anything runs, when a runtime's entry point is missing.
  for (const rt of config.runtimes) scriptCommand(rt, config.root, "src/cli/main", config.bins);
  let built: { path: string; remove: () => void } | undefined;
  const run = { ...config };
  if (run.generator === "go" && run.goLoad === undefined) {
    built = buildGoLoad(run.root);
    run.goLoad = built.path;
  }
  if (run.pin && !pinSelf(LOAD_CPU)) throw new Error("taskset failed: cannot pin (use --no-pin)");
  const start = os.loadavg()[0] ?? 0;
  const versions: Record<string, string> = {};
  if (run.reference === "go") versions["go-dflockd"] = "v1.10.0 (reference source)";
  for (const rt of run.runtimes) {
    const exe = run.bins[rt];
    // `deno 2.9.6 (stable, ...)`, `1.4.5`, `v20.20.2`: the version number alone.
    const v = versionOf(exe, ["--version"]);
    versions[rt] = /(\d+\.\d+\.\d+\S*)/.exec(v)?.[1] ?? v;
  }
  if (built !== undefined) {
    const v = versionOf("go", ["version"]);
    versions["go"] = /go(\d+\.\d+\S*)/.exec(v)?.[1] ?? v;
  }
  const rows: VsGoRow[] = [];
  const spinner = run.busyServerCpu
    ? startSpinner((err) => {
      run.busyServerCpu = false; // the report must not claim it
      run.log(`--busy-server-cpu: the busy loop did not start (${String(err)})`);
    })
    : undefined;
  try {
    const loadShapes = SHAPES.filter((s) =>
      run.shapes.includes(s) && (s === "unique" || s === "contended" || s === "sequential")
    );
    if (loadShapes.length > 0) rows.push(...await measureLoadShapes(run, loadShapes));
    if (run.shapes.includes("hold")) rows.push(...await measureHold(run));
    if (run.shapes.includes("client")) rows.push(...await measureClient(run));
  } finally {
    spinner?.kill("SIGKILL");
    built?.remove();
  }
  const { bins: _bins, log: _log, root: _root, ...settings } = run;
  return {
    kind: "dflock-vs-go-bench",
    date: new Date().toISOString(),
    orchestrator: detectRuntime(),
    nproc: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? "?",
    loadavg: { start, end: os.loadavg()[0] ?? 0 },
    versions,
    reference: run.reference,
    generator: run.generator,
    config: { ...settings, goLoad: built === undefined ? settings.goLoad : "(built)" },
    rows,
    ratios: computeRatios(rows),
  };
}
