/**
 * Side-by-side benchmark: the reference Go dflockd against the dflock server on Bun, Deno and
 * Node, all driven by the same Go load generator, and the low-level dflock client on each
 * runtime against the Go client's bench (shapes and method in `_vs_go.ts`; `README.md` in this
 * folder). The whole run is one command, `bash bench/vs_go.sh`, which builds what is missing
 * and writes `bench/results/vs-go.json` and the "Versus Go dflockd" section of `docs/bench.md`.
 *
 * Usage (from the repository root):
 *
 *     bash ../shared/reference/build.sh /tmp/goref     # Go dflockd and bench, once
 *     node_modules/.bin/deno run -A scripts/build_npm.ts   # for Node
 *     node_modules/.bin/deno run -A bench/vs_go.ts --go-dflockd /tmp/goref/dflockd \
 *       [--out bench/results/vs-go.json] [options]
 *
 * Options:
 *
 *     --go-dflockd PATH       the Go dflockd (or env DFLOCKD_GO)
 *     --go-bench PATH         the Go client's bench (or env DFLOCKD_GO_BENCH; default: `bench`
 *                             next to the Go dflockd)
 *     --go-load PATH          the built reference/load.go (default: built with `go build`)
 *     --runtimes LIST         comma list of bun,deno,node (default all)
 *     --shape LIST            comma list of unique,contended,sequential,hold,client (default all)
 *     --runs N                reps (default 5)
 *     --connections N --rounds N                     unique (100 x 500)
 *     --contended-connections N --contended-rounds N contended (10 x 1000)
 *     --sequential-rounds N                          sequential (1 x 5000)
 *     --hold-connections N --hold-warmup N           hold (10 000; warm-up 500)
 *     --hold-steady-s N       hold: read RSS again N s after the last grant (default 0: not)
 *     --client-workers N --client-rounds N           client (100 x 500)
 *     --smoke                 tiny sizes and 1 rep, to see that everything runs
 *     --reference go|dflock   dflock: our server and client as the reference too (no Go)
 *     --generator go|ts       ts: the TypeScript stand-in generator (no Go)
 *     --no-pin                do not pin (default: servers CPU 0, load CPU 1)
 *     --busy-server-cpu       a lowest-priority busy loop on CPU 0 throughout, so that it never
 *                             idles (how much of a latency is waking an idle CPU)
 *     --time-limit S          bound on one child run (default 120)
 *     --settle-ms N           pause before reading RSS (default 1000)
 *     --out FILE              write the JSON document (kind dflock-vs-go-bench)
 *     --json                  print the JSON instead of the Markdown tables
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { existsSync, mkdirSync } from "node:fs";
import process from "node:process";
import { countFlag, fileArg, intArg } from "./_args.ts";
import type { NumberKeys } from "./_args.ts";
import { tidyMarkdown, vsGoMarkdown } from "./_report.ts";
import { defaultBins, repoRoot, RUNTIMES, runVsGo, SHAPES } from "./_vs_go.ts";
import type { Runtime, Shape, VsGoConfig } from "./_vs_go.ts";

const COUNT_FLAGS: Readonly<Record<string, NumberKeys<VsGoConfig>>> = {
  "--runs": "runs",
  "--connections": "connections",
  "--rounds": "rounds",
  "--contended-connections": "contendedConnections",
  "--contended-rounds": "contendedRounds",
  "--sequential-rounds": "sequentialRounds",
  "--hold-connections": "holdConnections",
  "--hold-warmup": "holdWarmup",
  "--hold-steady-s": "holdSteadyS",
  "--client-workers": "clientWorkers",
  "--client-rounds": "clientRounds",
};

const USAGE = "usage: vs_go [--go-dflockd PATH] [--go-bench PATH] [--go-load PATH] " +
  "[--runtimes bun,deno,node] [--shape unique,contended,sequential,hold,client] [--runs N] " +
  "[--smoke] [--reference go|dflock] [--generator go|ts] [--no-pin] [--busy-server-cpu] " +
  "[--time-limit S] " +
  "[--settle-ms N] [--out FILE] [--json] [count flags: --connections --rounds " +
  "--contended-connections --contended-rounds --sequential-rounds --hold-connections " +
  "--hold-warmup --client-workers --client-rounds]";

function list<T extends string>(flag: string, value: string | undefined, all: readonly T[]): T[] {
  const items = (value ?? "").split(",").filter((s) => s !== "");
  for (const item of items) {
    if (!all.includes(item as T)) {
      throw new RangeError(`${flag}: unknown ${item}; expected a comma list of ${all.join(",")}`);
    }
  }
  if (items.length === 0) {
    throw new RangeError(`${flag}: expected a comma list of ${all.join(",")}`);
  }
  return items as T[];
}

function parseArgs(argv: string[]): { config: VsGoConfig; out: string | null; json: boolean } {
  const root = repoRoot();
  const env = process.env;
  const config: VsGoConfig = {
    runtimes: [...RUNTIMES],
    shapes: [...SHAPES],
    runs: 5,
    connections: 100,
    rounds: 500,
    contendedConnections: 10,
    contendedRounds: 1000,
    sequentialRounds: 5000,
    holdConnections: 10_000,
    holdWarmup: 500,
    holdSteadyS: 0,
    clientWorkers: 100,
    clientRounds: 500,
    reference: "go",
    goDflockd: env.DFLOCKD_GO || undefined,
    goBench: env.DFLOCKD_GO_BENCH || undefined,
    generator: "go",
    goLoad: undefined,
    pin: true,
    busyServerCpu: false,
    timeLimitMs: 120_000,
    settleMs: 1000,
    bins: defaultBins(root),
    root,
    log: (line) => console.error(line),
  };
  let out: string | null = null;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = (): string | undefined => argv[++i];
    if (countFlag(config, COUNT_FLAGS, arg, next)) continue;
    switch (arg) {
      case "--go-dflockd":
        config.goDflockd = fileArg(arg, next());
        break;
      case "--go-bench":
        config.goBench = fileArg(arg, next());
        break;
      case "--go-load":
        config.goLoad = fileArg(arg, next());
        break;
      case "--runtimes":
        config.runtimes = list(arg, next(), RUNTIMES) as Runtime[];
        break;
      case "--shape":
        config.shapes = list(arg, next(), SHAPES) as Shape[];
        break;
      case "--smoke":
        Object.assign(config, {
          runs: 1,
          connections: 10,
          rounds: 50,
          contendedConnections: 5,
          contendedRounds: 50,
          sequentialRounds: 200,
          holdConnections: 500,
          holdWarmup: 100,
          clientWorkers: 10,
          clientRounds: 50,
          settleMs: 200,
        });
        break;
      case "--reference": {
        const v = next();
        if (v !== "go" && v !== "dflock") {
          throw new RangeError("--reference: expected go or dflock");
        }
        config.reference = v;
        break;
      }
      case "--generator": {
        const v = next();
        if (v !== "go" && v !== "ts") throw new RangeError("--generator: expected go or ts");
        config.generator = v;
        break;
      }
      case "--no-pin":
        config.pin = false;
        break;
      case "--busy-server-cpu":
        config.busyServerCpu = true;
        break;
      case "--time-limit":
        config.timeLimitMs = intArg(arg, next(), 1) * 1000;
        break;
      case "--settle-ms":
        config.settleMs = intArg(arg, next(), 0);
        break;
      case "--out":
        out = fileArg(arg, next());
        break;
      case "--json":
        json = true;
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
  if (config.busyServerCpu && !config.pin) {
    throw new RangeError("--busy-server-cpu needs the servers pinned (leave out --no-pin)");
  }
  if (config.goBench === undefined && config.goDflockd !== undefined) {
    const beside = join(dirname(config.goDflockd), "bench");
    if (existsSync(beside)) config.goBench = beside;
  }
  return { config, out, json };
}

async function main(): Promise<void> {
  const { config, out, json } = parseArgs(process.argv.slice(2));
  const report = await runVsGo(config);
  const text = JSON.stringify(report, null, 2) + "\n";
  if (out !== null) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, text);
    console.error(`wrote ${out}`);
  }
  if (json) console.log(text);
  else console.log(tidyMarkdown(vsGoMarkdown([report])));
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof RangeError ? `vs_go: ${e.message}` : e);
    process.exit(e instanceof RangeError ? 2 : 1);
  },
);
