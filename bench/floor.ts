/**
 * The I/O floor per runtime.
 *
 * - `floor.ts --serve [--host H] [--port P]`: runs the echo floor server (`echo_floor.ts`:
 *   the same transport and line decoder as the server, answering every 3-line request with a
 *   fixed `ok <32 hex> 33` line); prints `listening on HOST:PORT` to stderr, serves until
 *   killed. The suite starts it this way as a child process.
 * - `floor.ts [suite options]`: measures the echo floor alone with the suite's load generator
 *   and scenarios (`server_suite.ts` with `--target echo`).
 *
 * Usage: `deno run -A bench/floor.ts`, `bun bench/floor.ts`, `node npm/esm/bench/floor.js`.
 *
 * @module
 */

import process from "node:process";
import { startEchoFloor } from "./echo_floor.ts";

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] ?? fallback : fallback;
}

function fail(e: unknown): void {
  console.error(e);
  process.exit(1);
}

if (process.argv.includes("--serve")) {
  startEchoFloor({ hostname: flag("--host", "127.0.0.1"), port: Number(flag("--port", "0")) })
    .then((floor) => {
      process.stderr.write(`listening on ${floor.addr.hostname}:${floor.addr.port}\n`);
    })
    .catch(fail);
} else {
  // Loaded only here, so the serving child carries no benchmark code.
  import("./server_suite.ts")
    .then(({ runSuite }) => runSuite(["--target", "echo", ...process.argv.slice(2)]))
    .then(() => process.exit(0), fail);
}
