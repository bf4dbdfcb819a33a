/**
 * What the HTTP listener costs the lock protocol: the 100-connection load (100 x 500
 * acquire+release pairs, own keys) against the server with no HTTP port, and against the server
 * with `--http-port` and an open dashboard (`dashboard_poller.ts`, a process of its own, fetches
 * `/v1/dashboard` once a second, as the page does, and `/metrics` once a second, as a Prometheus
 * scrape at 1 s would). Each rep measures both, in alternating order, and takes the ratio
 * (on / off) within the rep. The server runs on CPU 0, the load and the poller on CPU 1
 * (`taskset`, Linux). The load is the Go generator (`reference/load.go`, built with `go` when it
 * is installed), which leaves CPU 1 room for the poller; without Go it is the TypeScript one.
 *
 * The poller runs in both settings. With HTTP off it polls a second, idle server with an HTTP port
 * (on CPU 1, started once): a process that wakes on the load's CPU slows the generator by itself,
 * and without this control that shows as the server's cost (`--no-control` measures the old way,
 * no poller at all when HTTP is off, to see that effect).
 *
 * Usage (from the repository root; Node runs the npm build):
 *
 *     node_modules/.bin/deno run -A bench/http_overhead.ts [--runs 5] [--rounds 500] [--no-control]
 *     node_modules/.bin/bun bench/http_overhead.ts
 *     node npm/esm/bench/http_overhead.js
 *
 * @module
 */

import { spawn, spawnSync } from "node:child_process";
import type { Buffer } from "node:buffer";
import process from "node:process";
import { intArg } from "./_args.ts";
import { freePort } from "./_shared_procs.ts";
import { runLoad } from "./load.ts";
import { buildGoLoad, repoRoot } from "./_vs_go.ts";
import { pinSelf, scriptCommand, sourcePath, startTarget } from "./server_target.ts";

interface Figures {
  opsPerSec: number;
  p99Ms: number;
  /** The server's CPU per op (us), the least noisy figure on a shared machine. */
  cpuUsPerOp?: number;
}

const options = { runs: 5, rounds: 500, connections: 100, control: true };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i]!;
  if (arg === "--runs") options.runs = intArg(arg, argv[++i], 1);
  else if (arg === "--rounds") options.rounds = intArg(arg, argv[++i], 1);
  else if (arg === "--connections") options.connections = intArg(arg, argv[++i], 1);
  else if (arg === "--no-control") options.control = false;
  else {
    throw new RangeError(`unknown argument ${arg}; expected --runs N --rounds N --no-control`);
  }
}

/**
 * Starts `dashboard_poller.ts` in a process of its own on the load's CPU (in this process its
 * fetches would pause the load generator and show in its latencies).
 */
function startPoller(port: number): () => Promise<number> {
  const [command, args] = scriptCommand(sourcePath("./dashboard_poller"), [String(port)]);
  const child = spawn("taskset", ["-c", "1", command, ...args], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let out = "";
  child.stdout!.on("data", (chunk: Buffer) => out += chunk.toString());
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  return async () => {
    child.stdin!.end();
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    const code = await exited;
    clearTimeout(timer);
    if (code !== 0) throw new Error(`the dashboard poller failed (exit ${code})`);
    return Number(out.trim());
  };
}

/** One load run: the Go generator when there is one (it leaves CPU 1 room for the poller), else ours. */
async function load(port: number, rounds: number, prefix: string): Promise<Figures> {
  if (goLoad === undefined) {
    const r = await runLoad({ port, connections: options.connections, rounds, keyPrefix: prefix });
    return { opsPerSec: r.opsPerSec, p99Ms: r.p99Ms };
  }
  const r = spawnSync("taskset", [
    "-c",
    "1",
    goLoad.path,
    "-addr",
    `127.0.0.1:${port}`,
    "-c",
    String(options.connections),
    "-r",
    String(rounds),
    "-prefix",
    prefix,
    "-json",
  ], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`the Go load generator failed: ${r.stderr}`);
  const doc = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Figures;
  return { opsPerSec: doc.opsPerSec, p99Ms: doc.p99Ms };
}

/**
 * One setting. With HTTP off the poller, when there is a control server, polls that one instead,
 * so that both settings have the same process waking on the load's CPU.
 */
async function measure(http: boolean, control: number | undefined): Promise<Figures> {
  const httpPort = http ? await freePort() : 0;
  const server = await startTarget("server", {
    cpus: "0",
    serverArgs: http ? ["--http-port", String(httpPort)] : [],
  });
  // The poller starts before the warm-up, so that its own start-up is not in the measurement.
  const pollPort = http ? httpPort : control;
  const stopPoller = pollPort === undefined ? null : startPoller(pollPort);
  try {
    await load(server.port, 100, "warm");
    const cpu0 = server.cpuMicros();
    const r = await load(server.port, options.rounds, http ? "on" : "off");
    const cpu1 = server.cpuMicros();
    if (cpu0 !== null && cpu1 !== null) {
      r.cpuUsPerOp = (cpu1 - cpu0) / (options.connections * options.rounds);
    }
    if (stopPoller !== null && await stopPoller() === 0) {
      throw new Error("the dashboard poller never completed a poll");
    }
    return r;
  } finally {
    await server.stop();
  }
}

let goLoad: { path: string; remove: () => void } | undefined;
try {
  goLoad = buildGoLoad(repoRoot());
} catch (e) {
  console.error(
    `note: ${(e as Error).message}; using the TypeScript generator, which saturates ` +
      "CPU 1 so that the poller's own CPU shows as server cost",
  );
}
if (!pinSelf("1")) console.error("note: not pinned (taskset unavailable); figures are noisier");
const controlPort = options.control ? await freePort() : undefined;
const control = controlPort === undefined ? undefined : await startTarget("server", {
  cpus: "1",
  serverArgs: ["--http-port", String(controlPort)],
});
const ratios: { ops: number; p99: number; cpu: number }[] = [];
for (let rep = 1; rep <= options.runs; rep++) {
  // The order alternates, so that neither setting always runs first.
  const first = await measure(rep % 2 === 0, controlPort);
  const second = await measure(rep % 2 !== 0, controlPort);
  const [off, on] = rep % 2 === 0 ? [second, first] : [first, second];
  const ratio = {
    ops: on.opsPerSec / off.opsPerSec,
    p99: on.p99Ms / off.p99Ms,
    cpu: (on.cpuUsPerOp ?? NaN) / (off.cpuUsPerOp ?? NaN),
  };
  ratios.push(ratio);
  console.log(
    `rep ${rep}: off ${off.opsPerSec.toFixed(0)} ops/s p99 ${off.p99Ms.toFixed(2)} ms; ` +
      `on ${on.opsPerSec.toFixed(0)} ops/s p99 ${on.p99Ms.toFixed(2)} ms; ` +
      `on/off ops ${ratio.ops.toFixed(3)} p99 ${ratio.p99.toFixed(3)} ` +
      `server CPU per op ${ratio.cpu.toFixed(3)} (${off.cpuUsPerOp?.toFixed(1)} / ` +
      `${on.cpuUsPerOp?.toFixed(1)} us)`,
  );
}
const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const ops = ratios.map((r) => r.ops);
console.log(
  `HTTP on with a dashboard open / HTTP off, ops/s: median ${median(ops).toFixed(3)} ` +
    `(min ${Math.min(...ops).toFixed(3)}, max ${Math.max(...ops).toFixed(3)}); p99: median ` +
    `${median(ratios.map((r) => r.p99)).toFixed(3)}; server CPU per op: median ` +
    `${median(ratios.map((r) => r.cpu)).toFixed(3)}; goal: ops/s ratio >= 0.95` +
    (options.control ? "" : " (no control: no poller when HTTP is off)"),
);
goLoad?.remove();
await control?.stop();

// The direct figure: the server's CPU while idle, with and without the dashboard open.
{
  const httpPort = await freePort();
  const server = await startTarget("server", {
    cpus: "0",
    serverArgs: ["--http-port", String(httpPort)],
  });
  try {
    const cpuOver = async (ms: number, poll: boolean): Promise<number> => {
      const stopPoller = poll ? startPoller(httpPort) : null;
      const before = server.cpuMicros() ?? NaN;
      await new Promise((resolve) => setTimeout(resolve, ms));
      const after = server.cpuMicros() ?? NaN;
      await stopPoller?.();
      return (after - before) / 1000 / (ms / 1000);
    };
    await cpuOver(1000, true); // the poller's first requests, then settle
    const quiet = await cpuOver(10_000, false);
    const open = await cpuOver(10_000, true);
    console.log(
      `server CPU while idle: ${quiet.toFixed(1)} ms/s; with a dashboard open and a 1 s scrape: ` +
        `${open.toFixed(1)} ms/s (${((open - quiet) / 10).toFixed(2)}% of one core for HTTP)`,
    );
  } finally {
    await server.stop();
  }
}
