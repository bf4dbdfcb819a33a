/**
 * Runs the echo floor as its own process (used by `server_load.ts --server-process`).
 *
 * Usage: `deno run -A bench/echo_floor_main.ts [--host 127.0.0.1] [--port 0]`. Prints
 * `listening on HOST:PORT` to stderr once bound, then serves until killed.
 *
 * @module
 */

import process from "node:process";
import { startEchoFloor } from "./echo_floor.ts";

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] ?? fallback : fallback;
}

startEchoFloor({ hostname: flag("--host", "127.0.0.1"), port: Number(flag("--port", "0")) })
  .then((floor) => {
    process.stderr.write(`listening on ${floor.addr.hostname}:${floor.addr.port}\n`);
  })
  .catch((e: unknown) => {
    process.stderr.write(`echo floor failed: ${e}\n`);
    process.exitCode = 1;
  });
