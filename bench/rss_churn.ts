/**
 * RSS churn probe: is the server's resident memory after load bounded and reclaimable? Runs
 * the churn rounds of `_rss_churn.ts` against the server on each runtime (embedded in a child
 * process that reports its memory and can force a full GC) and prints, per runtime, the memory
 * idle, with every hold open and after each round, and after a forced GC.
 *
 * Usage (from the repository root; Node needs the npm build):
 *
 *     node_modules/.bin/deno run -A bench/rss_churn.ts [--runtimes bun,deno,node] [--rounds 5]
 *       [--holds 10000] [--load-connections 100] [--load-rounds 500] [--settle-ms 1000] [--pin]
 *       [--v8-flag FLAG]... [--out FILE] [--json]
 *
 * `--pin` runs the server child on CPU 0 and this process on CPU 1. `--v8-flag` passes a V8 flag
 * to the Node and Deno servers (e.g. `--max-semi-space-size=1`); Bun ignores it.
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import os from "node:os";
import process from "node:process";
import { countFlag, fileArg, intArg } from "./_args.ts";
import type { NumberKeys } from "./_args.ts";
import { memServerCommand, runChurn, startMemServer } from "./_rss_churn.ts";
import type { ChurnOptions, ChurnResult, MemSample } from "./_rss_churn.ts";
import { defaultBins, repoRoot, RUNTIMES } from "./_vs_go.ts";
import type { Runtime } from "./_vs_go.ts";
import { pinSelf } from "./server_target.ts";

const COUNT_FLAGS: Readonly<Record<string, NumberKeys<ChurnOptions>>> = {
  "--rounds": "rounds",
  "--holds": "holds",
  "--load-connections": "loadConnections",
  "--load-rounds": "loadRounds",
};

const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);

function table(runtime: string, r: ChurnResult): string {
  const lines = [
    `### ${runtime}`,
    "",
    "| sample | RSS MiB | JS heap used MiB | JS heap total MiB | external MiB |",
    "| ------ | ------- | ---------------- | ----------------- | ------------ |",
  ];
  const add = (name: string, m: MemSample): void => {
    lines.push(
      `| ${name} | ${mib(m.rss)} | ${mib(m.heapUsed)} | ${mib(m.heapTotal)} | ${mib(m.external)} |`,
    );
  };
  add("idle (after warm-up)", r.idle);
  r.peak.forEach((m, i) => {
    add(`round ${i + 1}, all held`, m);
    add(`round ${i + 1}, after`, r.after[i]!);
  });
  add(r.gc.gc ? "right after a forced GC" : "no forced GC possible", r.gc);
  add("forced GC + settle", r.gcSettled);
  return lines.join("\n") + "\n";
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const options: ChurnOptions = {
    rounds: 5,
    holds: 10_000,
    loadConnections: 100,
    loadRounds: 500,
    settleMs: 1000,
    timeLimitMs: 120_000,
  };
  let runtimes: Runtime[] = [...RUNTIMES];
  let pin = false;
  let out: string | null = null;
  let json = false;
  const v8Flags: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = (): string | undefined => argv[++i];
    if (countFlag(options, COUNT_FLAGS, arg, next)) continue;
    if (arg === "--settle-ms") options.settleMs = intArg(arg, next(), 0);
    else if (arg === "--pin") pin = true;
    else if (arg === "--out") out = fileArg(arg, next());
    else if (arg === "--json") json = true;
    else if (arg === "--v8-flag") v8Flags.push(fileArg(arg, next()));
    else if (arg === "--runtimes") {
      const list = (next() ?? "").split(",");
      for (const rt of list) {
        if (!RUNTIMES.includes(rt as Runtime)) {
          throw new RangeError(`--runtimes: unknown ${rt}; expected a comma list of bun,deno,node`);
        }
      }
      runtimes = list as Runtime[];
    } else {
      throw new RangeError(
        `unknown argument ${arg}; expected --runtimes --rounds --holds --load-connections ` +
          "--load-rounds --settle-ms --v8-flag --pin --out --json",
      );
    }
  }
  const root = repoRoot();
  const bins = defaultBins(root);
  if (pin && !pinSelf("1")) throw new Error("taskset failed: cannot pin");
  const loadavg = { start: os.loadavg()[0] ?? 0, end: 0 };
  const results: Record<string, ChurnResult> = {};
  for (const runtime of runtimes) {
    const [exe, args] = memServerCommand(runtime, root, bins, v8Flags);
    const cmd: [string, string[]] = pin ? ["taskset", ["-c", "0", exe, ...args]] : [exe, args];
    const server = await startMemServer(cmd, root, options.timeLimitMs);
    try {
      console.error(`${runtime}: ${options.rounds} rounds of ${options.holds} holds + load ...`);
      results[runtime] = await runChurn(server, options);
    } finally {
      await server.stop();
    }
  }
  loadavg.end = os.loadavg()[0] ?? 0;
  const doc = {
    kind: "dflock-rss-churn",
    date: new Date().toISOString(),
    nproc: os.cpus().length,
    loadavg,
    options: { ...options, pin, v8Flags },
    versions: process.versions,
    results,
  };
  if (out !== null) writeFileSync(out, JSON.stringify(doc, null, 2) + "\n");
  if (json) console.log(JSON.stringify(doc, null, 2));
  else {
    console.log(
      `RSS churn probe, ${doc.date}, load average ${loadavg.start.toFixed(1)} -> ${
        loadavg.end.toFixed(1)
      }\n`,
    );
    for (const [runtime, r] of Object.entries(results)) console.log(table(runtime, r));
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof RangeError ? `rss_churn: ${e.message}` : e);
    process.exit(e instanceof RangeError ? 2 : 1);
  },
);
