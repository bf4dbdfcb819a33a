/**
 * Client benchmark entry: the dflock client against a raw socket loop on the same runtime and
 * the same server.
 *
 * Usage (from the repository root):
 *
 *     deno run -A bench/client_load.ts [options]
 *     bun bench/client_load.ts [options]
 *     node npm/esm/bench/client_load.js [options]      (after the npm build)
 *     DFLOCKD_ADDR=127.0.0.1:6388 deno run -A bench/client_load.ts   (any running server)
 *
 * Targets (client paths), each in two shapes: `concurrent` (`--workers` workers, each on its
 * own key and connection) and `sequential` (one worker):
 *
 * - `raw`: pre-encoded requests over the raw transport with a minimal newline scan
 *   (`_raw_loop.ts`), no client library: the floor the library is measured against;
 * - `low-level`: `acquire(conn, key, 0)` + `release(conn, key, token)` on a persistent
 *   `Connection`;
 * - `raw-per-conn`: the raw loop with a new transport per round (connect, pair, close): the
 *   floor of `withLock`;
 * - `withLock`: `new DistributedLock({ key, acquireTimeoutS: 0 }).withLock(...)` per round:
 *   acquire and release on the default client's pooled connections.
 *
 * The per-connection targets run fewer rounds by default (`--lock-rounds`, `--lock-seq-rounds`):
 * every round opens and closes a connection, which is slow and leaves a TIME_WAIT socket.
 *
 * Ratios are computed per run index (targets of one interleaved round) and summarised: the
 * goals are low-level >= 90% of raw and withLock >= 1/3 of low-level; withLock/raw-per-conn
 * and raw-per-conn/raw are shown for information.
 *
 * Options:
 *
 *     --workers N           concurrent workers (default 100)
 *     --rounds N            pairs per concurrent worker, raw and low-level (default 500)
 *     --seq-rounds N        pairs of the sequential worker, raw and low-level (default 5000)
 *     --lock-rounds N       raw-per-conn/withLock rounds per concurrent worker (default 50)
 *     --lock-seq-rounds N   raw-per-conn/withLock rounds of the sequential worker (default 1000)
 *     --runs N              measured runs per target and shape, interleaved (default 3)
 *     --target raw,low-level,raw-per-conn,withLock   comma list (default all four)
 *     --scenario concurrent|sequential|both   (default both)
 *     --time-limit S        abort one run after S seconds (default 60)
 *     --json                print the results as JSON instead of a table
 *     --pin                 our server child on CPU 0, the client on CPU 1 (taskset)
 *     --out FILE            also write the JSON to FILE
 *
 * @module
 */

import { countFlag, fileArg, intArg } from "./_args.ts";
import type { NumberKeys } from "./_args.ts";
import { writeFileSync } from "node:fs";
import os from "node:os";
import process from "node:process";
import { detectRuntime } from "../src/transport/auto.ts";
import { interleave, median, summarize } from "./_stats.ts";
import type { Summary } from "./_stats.ts";
import { CLIENT_TARGETS, runClient } from "./client_runs.ts";
import type { ClientRunResult, ClientTarget } from "./client_runs.ts";
import { startTarget } from "./client_target.ts";
import { pinSelf } from "./server_target.ts";
import type { ServerTarget } from "./client_target.ts";

type Scenario = "concurrent" | "sequential";

interface Config {
  workers: number;
  rounds: number;
  seqRounds: number;
  lockRounds: number;
  lockSeqRounds: number;
  runs: number;
  targets: ClientTarget[];
  scenarios: Scenario[];
  timeLimitMs: number;
  json: boolean;
  pin: boolean;
  out: string | undefined;
}

/** One table row: a target in a scenario, over all measured runs. */
export interface ClientRow {
  scenario: Scenario;
  target: ClientTarget;
  workers: number;
  rounds: number;
  opsPerSec: Summary;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerOp: number;
  aborted: boolean;
  runs: ClientRunResult[];
}

/** A ratio of two targets' ops/s, computed per run index (same interleaved round). */
export interface ClientRatio {
  scenario: Scenario;
  numerator: ClientTarget;
  denominator: ClientTarget;
  /** Median/min/max over the per-run ratios. */
  ratio: Summary;
  /** Required minimum (`0.9` for low-level/raw, `1/3` for withLock/low-level); null: info. */
  target: number | null;
  /** Whether the median reaches `target`; null without a target. */
  met: boolean | null;
}

/** The JSON document `--out` writes (read by `bench/report.ts`). */
export interface ClientReport {
  /** Document kind. */
  kind: "dflock-client-bench";
  /** `deno`, `bun` or `node`. */
  runtime: string;
  /** Runtime version. */
  version: string;
  /** CPU count. */
  nproc: number;
  /** CPU model. */
  cpu: string;
  /** ISO date of the run. */
  date: string;
  /** What was measured against. */
  server: string;
  /** The run's settings. */
  config: Omit<Config, "out"> & { out: undefined };
  /** Rows per scenario and target. */
  rows: ClientRow[];
  /** Ratios between targets. */
  ratios: ClientRatio[];
}

const USAGE = "usage: client_load [--workers N] [--rounds N] [--seq-rounds N] [--lock-rounds N] " +
  "[--lock-seq-rounds N] [--runs N] [--target raw,low-level,raw-per-conn,withLock] " +
  "[--scenario concurrent|sequential|both] [--time-limit S] [--json] [--pin] [--out FILE]";

/** The count flags and the config fields they set. */
const COUNT_FLAGS: Readonly<Record<string, NumberKeys<Config>>> = {
  "--workers": "workers",
  "--rounds": "rounds",
  "--seq-rounds": "seqRounds",
  "--lock-rounds": "lockRounds",
  "--lock-seq-rounds": "lockSeqRounds",
  "--runs": "runs",
};

function parseArgs(argv: string[]): Config {
  const config: Config = {
    workers: 100,
    rounds: 500,
    seqRounds: 5000,
    lockRounds: 50,
    lockSeqRounds: 1000,
    runs: 3,
    targets: [...CLIENT_TARGETS],
    scenarios: ["concurrent", "sequential"],
    timeLimitMs: 60_000,
    json: false,
    pin: false,
    out: undefined,
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
        const list = (next() ?? "").split(",").filter((s) => s !== "");
        if (list.length === 0 || list.some((t) => !CLIENT_TARGETS.includes(t as ClientTarget))) {
          throw new RangeError(`--target: expected a comma list of ${CLIENT_TARGETS.join(", ")}`);
        }
        config.targets = CLIENT_TARGETS.filter((t) => list.includes(t));
        break;
      }
      case "--scenario": {
        const v = next();
        if (v === "both") config.scenarios = ["concurrent", "sequential"];
        else if (v === "concurrent" || v === "sequential") config.scenarios = [v];
        else throw new RangeError(`--scenario: expected concurrent, sequential or both`);
        break;
      }
      case "--json":
        config.json = true;
        break;
      case "--pin":
        config.pin = true;
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
  return config;
}

function cpuCount(): number {
  return typeof os.availableParallelism === "function"
    ? os.availableParallelism()
    : os.cpus().length;
}

function shapeOf(config: Config, scenario: Scenario, target: ClientTarget): [number, number] {
  const workers = scenario === "concurrent" ? config.workers : 1;
  const rounds = target === "withLock" || target === "raw-per-conn"
    ? (scenario === "concurrent" ? config.lockRounds : config.lockSeqRounds)
    : (scenario === "concurrent" ? config.rounds : config.seqRounds);
  return [workers, rounds];
}

async function measure(
  config: Config,
  server: ServerTarget,
): Promise<[ClientRow[], ClientRatio[]]> {
  const rows: ClientRow[] = [];
  const ratios: ClientRatio[] = [];
  for (const scenario of config.scenarios) {
    const runOnce = (target: ClientTarget, warmUp: boolean): Promise<ClientRunResult> => {
      const [workers, rounds] = shapeOf(config, scenario, target);
      return runClient(target, {
        hostname: server.hostname,
        port: server.port,
        workers,
        rounds: warmUp ? Math.max(1, Math.ceil(rounds / 5)) : rounds,
        // The same keys for every run: each is released after every pair, and fresh keys
        // per run would pile up on the server until its idle-key sweep (max_locks).
        keyPrefix: `bench-client-${scenario}`,
        timeLimitMs: config.timeLimitMs,
      });
    };
    // Warm-up (JIT, connection paths), not recorded.
    for (const target of config.targets) await runOnce(target, true);
    const results = new Map<ClientTarget, ClientRunResult[]>(
      config.targets.map((t) => [t, []]),
    );
    for (const { run, target } of interleave(config.targets, config.runs)) {
      const r = await runOnce(target, false);
      results.get(target)!.push(r);
      if (!config.json) {
        console.error(
          `  ${scenario} ${target} run ${run + 1}: ${r.opsPerSec.toFixed(0)} ops/s, ` +
            `p50 ${r.p50Ms.toFixed(3)} ms, client CPU ${r.cpuUsPerOp.toFixed(1)} us/op` +
            (r.aborted ? " (ABORTED by time limit)" : ""),
        );
      }
    }
    for (const target of config.targets) {
      const runs = results.get(target)!;
      const [workers, rounds] = shapeOf(config, scenario, target);
      rows.push({
        scenario,
        target,
        workers,
        rounds,
        opsPerSec: summarize(runs.map((r) => r.opsPerSec)),
        p50Ms: median(runs.map((r) => r.p50Ms)),
        p99Ms: median(runs.map((r) => r.p99Ms)),
        cpuUsPerOp: median(runs.map((r) => r.cpuUsPerOp)),
        aborted: runs.some((r) => r.aborted),
        runs,
      });
    }
    const pairs: [ClientTarget, ClientTarget, number | null][] = [
      ["low-level", "raw", 0.9],
      ["withLock", "low-level", 1 / 3],
      ["withLock", "raw-per-conn", null],
      ["raw-per-conn", "raw", null],
    ];
    for (const [num, den, goal] of pairs) {
      const a = results.get(num);
      const b = results.get(den);
      if (a === undefined || b === undefined) continue;
      const per = a.map((r, i) => r.opsPerSec / b[i]!.opsPerSec);
      const ratio = summarize(per);
      ratios.push({
        scenario,
        numerator: num,
        denominator: den,
        ratio,
        target: goal,
        met: goal === null ? null : ratio.median >= goal,
      });
    }
  }
  return [rows, ratios];
}

function fmtOps(s: Summary): string {
  return `${s.median.toFixed(0)} (${s.min.toFixed(0)}-${s.max.toFixed(0)})`;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(0)}%`;
}

function fmtRatio(q: ClientRatio): string {
  const s = `${pct(q.ratio.median)} of ${q.denominator} (${pct(q.ratio.min)}-${pct(q.ratio.max)})`;
  return q.target === null ? s : `${s}, goal ${pct(q.target)}: ${q.met ? "met" : "MISSED"}`;
}

function printTable(runtime: string, rows: ClientRow[], ratios: ClientRatio[], runs: number): void {
  const header = [
    "runtime",
    "scenario",
    "target",
    "workers x rounds",
    `ops/s median (min-max, ${runs} runs)`,
    "p50 ms",
    "p99 ms",
    "client CPU us/op",
    "ratio (min-max)",
  ];
  console.log(`| ${header.join(" | ")} |`);
  console.log(`|${header.map(() => "---").join("|")}|`);
  for (const r of rows) {
    const own = ratios.filter((q) => q.scenario === r.scenario && q.numerator === r.target);
    console.log(
      `| ${
        [
          runtime,
          r.scenario,
          r.target + (r.aborted ? " (aborted)" : ""),
          `${r.workers} x ${r.rounds}`,
          fmtOps(r.opsPerSec),
          r.p50Ms.toFixed(3),
          r.p99Ms.toFixed(3),
          r.cpuUsPerOp.toFixed(1),
          own.length === 0 ? "-" : own.map(fmtRatio).join("; "),
        ].join(" | ")
      } |`,
    );
  }
}

async function main(): Promise<void> {
  const config = parseArgs(process.argv.slice(2));
  const runtime = detectRuntime();
  const versions = process.versions as Record<string, string | undefined>;
  const version = versions[runtime] ?? "?";
  const nproc = cpuCount();
  // --pin: our server child on CPU 0, this process on CPU 1 (an external server is not moved).
  if (config.pin && !pinSelf("1")) throw new Error("--pin: taskset failed");
  const server = await startTarget(
    Math.min(config.timeLimitMs, 30_000),
    config.pin ? "0" : undefined,
  );
  try {
    if (!config.json) {
      console.error(
        `dflock client benchmark: ${runtime} ${version}, nproc ${nproc}, target ${server.label}` +
          ` at ${server.hostname}:${server.port}`,
      );
    }
    const [rows, ratios] = await measure(config, server);
    const report: ClientReport = {
      kind: "dflock-client-bench",
      runtime,
      version,
      nproc,
      cpu: os.cpus()[0]?.model ?? "?",
      date: new Date().toISOString(),
      server: server.label,
      config: { ...config, out: undefined },
      rows,
      ratios,
    };
    const json = JSON.stringify(report, null, 2);
    if (config.out !== undefined) writeFileSync(config.out, json + "\n");
    if (config.json) {
      console.log(json);
    } else {
      console.log(`\n${runtime} ${version}, nproc ${nproc}, ${report.cpu}, ${server.label}\n`);
      printTable(`${runtime} ${version}`, rows, ratios, config.runs);
    }
  } finally {
    await server.stop();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
