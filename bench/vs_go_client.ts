/**
 * The dflock side of the side-by-side `client` shape (`vs_go.ts`), as a child process on one
 * runtime: the low-level client shaped like the Go client's bench (see `runLowLevelClient` in
 * `_vs_go.ts`). Prints one JSON line `{"ops","seconds","opsPerSec","p50Ms","p99Ms"}`.
 *
 * Usage: `deno run -A bench/vs_go_client.ts --port PORT [--workers 100] [--rounds 500]
 * [--prefix vs-client] [--warmup 100]` (also `bun bench/vs_go_client.ts`,
 * `node npm/esm/bench/vs_go_client.js`). The server is always on 127.0.0.1.
 *
 * @module
 */

import process from "node:process";
import { intArg } from "./_args.ts";
import { runLowLevelClient } from "./_vs_go.ts";
import type { ClientLoadOptions } from "./_vs_go.ts";

function parse(argv: string[]): ClientLoadOptions {
  const options: ClientLoadOptions = {
    port: 0,
    workers: 100,
    rounds: 500,
    prefix: "vs-client",
    warmupRounds: 100,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = (): string | undefined => argv[++i];
    switch (arg) {
      case "--port":
        options.port = intArg(arg, next(), 1);
        break;
      case "--workers":
        options.workers = intArg(arg, next(), 1);
        break;
      case "--rounds":
        options.rounds = intArg(arg, next(), 1);
        break;
      case "--warmup":
        options.warmupRounds = intArg(arg, next(), 0);
        break;
      case "--prefix": {
        const v = next();
        if (v === undefined || v === "") throw new RangeError("--prefix: expected a key prefix");
        options.prefix = v;
        break;
      }
      default:
        throw new RangeError(
          `unknown argument ${arg}; expected --port N [--workers N] [--rounds N] ` +
            "[--prefix P] [--warmup N]",
        );
    }
  }
  if (options.port === 0) throw new RangeError("--port: the server's port is required");
  return options;
}

Promise.resolve().then(() => runLowLevelClient(parse(process.argv.slice(2)))).then(
  (figures) => {
    process.stdout.write(JSON.stringify(figures) + "\n");
    process.exit(0);
  },
  (e: unknown) => {
    console.error(e instanceof RangeError ? `vs_go_client: ${e.message}` : e);
    process.exit(e instanceof RangeError ? 2 : 1);
  },
);
