/**
 * Server benchmark entry: the dflock server against the echo floor on the current runtime
 * (see `server_suite.ts` for the scenarios and `README.md` in this folder for the options).
 *
 * Usage (from the repository root):
 *
 *     deno run -A bench/server_load.ts [--pin] [--out bench/results/deno-server.json]
 *     bun bench/server_load.ts [options]
 *     node npm/esm/bench/server_load.js [options]      (after the npm build)
 *
 * @module
 */

import process from "node:process";
import { runSuite } from "./server_suite.ts";

runSuite(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
