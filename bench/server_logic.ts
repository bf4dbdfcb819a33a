/**
 * The server's own cost per request, without sockets: the real server (`startServer`) on an
 * in-memory listener whose connections are driven by a peer in the same process. Each of
 * `--connections` peers runs `--rounds` acquire+release pairs on its own key (or, with
 * `--one-key`, all on one key), sending the next request as soon as the answer to the last one
 * has been written. What is measured is the process's CPU time per pair: the request loop, line
 * decoding, parsing, the lock table, deadlines, metrics and answer encoding, plus a small and
 * constant cost for the in-memory peer (no system calls, no event loop turns for I/O).
 *
 * This is the part of the server's cost that our code decides; the side-by-side benchmark
 * (`vs_go.ts`) measures the whole, where the runtime's socket layer is most of it. Use it to
 * compare two versions of the server quickly and with little noise (run each a few times,
 * alternating).
 *
 * Usage: `deno run -A bench/server_logic.ts`, `bun bench/server_logic.ts`,
 * `node npm/esm/bench/server_logic.js` with `[--connections 100] [--rounds 2000] [--runs 5]
 * [--one-key] [--json]`.
 *
 * @module
 */

import process from "node:process";
import { measureServerLogic, type ServerLogicRun } from "./_server_logic.ts";

function intFlag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer`);
  return v;
}

const connections = intFlag("--connections", 100);
const rounds = intFlag("--rounds", 2000);
const runs = intFlag("--runs", 5);
const oneKey = process.argv.includes("--one-key");
await measureServerLogic(connections, Math.min(rounds, 200), oneKey); // warm-up
const results: ServerLogicRun[] = [];
for (let i = 0; i < runs; i++) results.push(await measureServerLogic(connections, rounds, oneKey));
const nsPerPair = results.map((r) => (r.cpuUs * 1000) / r.pairs).sort((a, b) => a - b);
const median = nsPerPair[Math.floor(nsPerPair.length / 2)]!;
if (process.argv.includes("--json")) {
  console.log(JSON.stringify({ connections, rounds, runs, nsPerPair, median, min: nsPerPair[0] }));
} else {
  console.log(
    `${connections} connections x ${rounds} pairs, ${runs} runs: CPU per pair ` +
      `${(median / 1000).toFixed(2)} us (median; runs ${
        nsPerPair.map((v) => (v / 1000).toFixed(2)).join(", ")
      })`,
  );
}
