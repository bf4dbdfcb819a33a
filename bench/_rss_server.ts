/**
 * Child process of `rss_churn.ts`: the dflock server embedded (`serve()`, the code `dflock
 * serve` runs) with a memory probe on standard input. Prints `listening on 127.0.0.1:PORT` to
 * stderr once it listens; then answers each stdin line with one JSON line on stdout:
 *
 * - `mem`: `{"rss","heapTotal","heapUsed","external","arrayBuffers","gc":false}` (bytes, from
 *   `process.memoryUsage()`);
 * - `gc`: a forced full garbage collection first (`Bun.gc(true)` on Bun; `globalThis.gc()` on
 *   Node and Deno, which need `--expose-gc` / `--v8-flags=--expose-gc`), then the same figures
 *   with `"gc":true`, or `"gc":false` when the runtime does not allow it.
 *
 * It exits when stdin ends.
 *
 * Usage: `deno run -A --v8-flags=--expose-gc bench/_rss_server.ts [--max-locks N]`,
 * `bun bench/_rss_server.ts`, `node --expose-gc npm/esm/bench/_rss_server.js`.
 *
 * @module
 */

import process from "node:process";
import { serve } from "../src/server/mod.ts";

/**
 * Runs a full garbage collection where the runtime lets a script do that.
 *
 * @returns Whether one ran.
 */
function forceGc(): boolean {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  if (bun !== undefined) {
    bun.gc(true);
    return true;
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== "function") return false;
  gc();
  return true;
}

function sample(gc: boolean): string {
  const m = process.memoryUsage();
  return JSON.stringify({
    rss: m.rss,
    heapTotal: m.heapTotal,
    heapUsed: m.heapUsed,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    gc,
  }) + "\n";
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let maxLocks = 100_000;
  if (args[0] === "--max-locks" && Number.isInteger(Number(args[1]))) maxLocks = Number(args[1]);
  else if (args.length > 0) throw new RangeError("usage: _rss_server [--max-locks N]");
  const server = await serve({
    host: "127.0.0.1",
    port: 0,
    maxLocks,
    readTimeout: 600,
    log: (line) => process.stderr.write(line + "\n"),
  });
  let pending = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (text: string) => {
    pending += text;
    for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
      const command = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (command === "mem") process.stdout.write(sample(false));
      else if (command === "gc") process.stdout.write(sample(forceGc()));
      else process.stdout.write(JSON.stringify({ error: `unknown command ${command}` }) + "\n");
    }
  });
  await new Promise<void>((resolve) => {
    process.stdin.on("end", () => resolve());
    process.stdin.on("error", () => resolve());
  });
  await server.close({ force: true });
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
