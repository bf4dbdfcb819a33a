/**
 * What the HTTP listener costs the lock protocol: the 100-connection load (100 x 500
 * acquire+release pairs, own keys) against the server with no HTTP port, and against the server
 * with `--http-port` and an open dashboard (this process fetches `/v1/dashboard` once a second,
 * as the page does, and `/metrics` once a second, as a Prometheus scrape at 1 s would). Reps
 * alternate off and on; each rep's ratio (on / off) is taken within the rep. The server runs on
 * CPU 0, the load and the poller on CPU 1 (`taskset`, Linux).
 *
 * Usage (from the repository root; Node runs the npm build):
 *
 *     node_modules/.bin/deno run -A bench/http_overhead.ts [--runs 5] [--rounds 500]
 *     node_modules/.bin/bun bench/http_overhead.ts
 *     node npm/esm/bench/http_overhead.js
 *
 * @module
 */

import process from "node:process";
import { intArg } from "./_args.ts";
import { freePort } from "./_shared_procs.ts";
import { runLoad } from "./load.ts";
import { pinSelf, startTarget } from "./server_target.ts";

interface Figures {
  opsPerSec: number;
  p99Ms: number;
}

const options = { runs: 5, rounds: 500, connections: 100 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i]!;
  if (arg === "--runs") options.runs = intArg(arg, argv[++i], 1);
  else if (arg === "--rounds") options.rounds = intArg(arg, argv[++i], 1);
  else if (arg === "--connections") options.connections = intArg(arg, argv[++i], 1);
  else throw new RangeError(`unknown argument ${arg}; expected --runs N --rounds N`);
}

/** Fetches the dashboard's data and the metrics once a second until stopped. */
function startPoller(port: number): () => Promise<number> {
  let stop = false;
  let polls = 0;
  const loop = (async () => {
    while (!stop) {
      const started = performance.now();
      for (const path of ["/v1/dashboard", "/metrics"]) {
        const r = await fetch(`http://127.0.0.1:${port}${path}`);
        if (r.status !== 200) throw new Error(`${path} answered ${r.status}`);
        await r.arrayBuffer();
      }
      polls++;
      const left = 1000 - (performance.now() - started);
      if (left > 0 && !stop) await new Promise((resolve) => setTimeout(resolve, left));
    }
  })();
  return async () => {
    stop = true;
    await loop;
    return polls;
  };
}

async function measure(http: boolean): Promise<Figures> {
  const httpPort = http ? await freePort() : 0;
  const server = await startTarget("server", {
    cpus: "0",
    serverArgs: http ? ["--http-port", String(httpPort)] : [],
  });
  try {
    // Warm-up, then the measured run.
    await runLoad({ port: server.port, connections: options.connections, rounds: 100 });
    const stopPoller = http ? startPoller(httpPort) : null;
    const r = await runLoad({
      port: server.port,
      connections: options.connections,
      rounds: options.rounds,
      keyPrefix: http ? "on" : "off",
    });
    const polls = stopPoller === null ? 0 : await stopPoller();
    if (http && polls === 0) throw new Error("the dashboard poller never completed a poll");
    return { opsPerSec: r.opsPerSec, p99Ms: r.p99Ms };
  } finally {
    await server.stop();
  }
}

if (!pinSelf("1")) console.error("note: not pinned (taskset unavailable); figures are noisier");
const ratios: { ops: number; p99: number }[] = [];
for (let rep = 1; rep <= options.runs; rep++) {
  const off = await measure(false);
  const on = await measure(true);
  const ratio = { ops: on.opsPerSec / off.opsPerSec, p99: on.p99Ms / off.p99Ms };
  ratios.push(ratio);
  console.log(
    `rep ${rep}: off ${off.opsPerSec.toFixed(0)} ops/s p99 ${off.p99Ms.toFixed(2)} ms; ` +
      `on ${on.opsPerSec.toFixed(0)} ops/s p99 ${on.p99Ms.toFixed(2)} ms; ` +
      `on/off ops ${ratio.ops.toFixed(3)} p99 ${ratio.p99.toFixed(3)}`,
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
    `${median(ratios.map((r) => r.p99)).toFixed(3)}; goal: ops/s ratio >= 0.95`,
);
