/**
 * A stand-in for the Go load generator (`bench/reference/load.go`) written on this package's
 * transport: the same flags, the same JSON output and the same hold protocol, so that the
 * side-by-side benchmark (`vs_go.ts`) can be checked end to end where Go is not installed
 * (`--generator ts`, and `tests/bench/vs_go_test.ts`). Its figures are not comparable with the
 * Go generator's: the real comparison always uses the Go one.
 *
 * Usage: `deno run -A bench/vs_go_load.ts -addr 127.0.0.1:PORT [-c N] [-r N]
 * [-key-mode unique|shared] [-prefix P] [-timeout S] [-json] [-hold [-lease S]]`
 * (also `bun bench/vs_go_load.ts`, `node npm/esm/bench/vs_go_load.js`).
 *
 * Load mode prints `{"ops","seconds","opsPerSec","p50Ms","p99Ms","timeouts"}` (one line, with
 * `-json`; a text line otherwise). Hold mode opens the connections, each holding its own lock
 * `<prefix>-<i>`, prints `{"held","seconds","p50Ms","p99Ms"}` and keeps them open until its
 * standard input ends.
 *
 * @module
 */

import process from "node:process";
import { runLoad } from "./load.ts";
import type { KeyMode } from "./load.ts";
import { openHolds } from "./server_hold.ts";

/** The generator's settings, as `load.go` names them. */
interface GeneratorArgs {
  /** Server host. */
  hostname: string;
  /** Server port. */
  port: number;
  /** Connections. */
  connections: number;
  /** Pairs per connection (load mode). */
  rounds: number;
  /** Key per connection or one shared key. */
  keyMode: KeyMode;
  /** Key prefix. */
  prefix: string;
  /** Acquire timeout in seconds; `undefined` for load.go's default (5 unique, 30 shared). */
  timeoutS: number | undefined;
  /** Print JSON. */
  json: boolean;
  /** Hold mode. */
  hold: boolean;
  /** Lease in seconds (hold mode). */
  leaseS: number;
}

function int(flag: string, value: string | undefined, min: number): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < min) {
    throw new RangeError(`${flag}: expected an integer >= ${min}, got ${value ?? "nothing"}`);
  }
  return n;
}

/**
 * Parses `load.go`'s flags (one or two leading dashes, `-flag value` or `-flag=value`).
 *
 * @param argv The arguments.
 * @returns The settings.
 * @throws {RangeError} On an unknown flag or a bad value, naming the flag.
 */
function parseGeneratorArgs(argv: readonly string[]): GeneratorArgs {
  const args: GeneratorArgs = {
    hostname: "127.0.0.1",
    port: 6388,
    connections: 100,
    rounds: 500,
    keyMode: "unique",
    prefix: "go-load",
    timeoutS: undefined,
    json: false,
    hold: false,
    leaseS: 600,
  };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.indexOf("=");
    const name = (eq < 0 ? raw : raw.slice(0, eq)).replace(/^--?/, "");
    const value = (): string | undefined => eq < 0 ? argv[++i] : raw.slice(eq + 1);
    switch (name) {
      case "addr": {
        const v = value() ?? "";
        const m = /^(127\.0\.0\.1|localhost|\[::1\]):(\d+)$/.exec(v);
        const port = Number(m?.[2]);
        if (m === null || port < 1 || port > 65535) {
          throw new RangeError(`-addr: expected a loopback 127.0.0.1:PORT, got ${v}`);
        }
        args.hostname = m[1]!.replace(/^\[|\]$/g, "");
        args.port = port;
        break;
      }
      case "c":
        args.connections = int("-c", value(), 1);
        break;
      case "r":
        args.rounds = int("-r", value(), 0);
        break;
      case "key-mode": {
        const v = value();
        if (v !== "unique" && v !== "shared") {
          throw new RangeError(`-key-mode: expected unique or shared, got ${v ?? "nothing"}`);
        }
        args.keyMode = v;
        break;
      }
      case "prefix":
        args.prefix = value() ?? "";
        if (args.prefix === "") throw new RangeError("-prefix: expected a key prefix");
        break;
      case "timeout":
        args.timeoutS = int("-timeout", value(), 0);
        break;
      case "json":
        args.json = true;
        break;
      case "hold":
        args.hold = true;
        break;
      case "lease":
        args.leaseS = int("-lease", value(), 1);
        break;
      default:
        throw new RangeError(
          `unknown flag ${raw}; expected -addr -c -r -key-mode -prefix -timeout -json -hold -lease`,
        );
    }
  }
  return args;
}

/** Resolves when standard input ends (or errors). */
function stdinEnded(): Promise<void> {
  return new Promise((resolve) => {
    process.stdin.on("end", () => resolve());
    process.stdin.on("error", () => resolve());
    process.stdin.resume();
  });
}

async function main(): Promise<void> {
  const args = parseGeneratorArgs(process.argv.slice(2));
  if (args.hold) {
    const holds = await openHolds({
      port: args.port,
      connections: args.connections,
      keyPrefix: args.prefix,
      leaseSec: args.leaseS,
    });
    process.stdout.write(
      JSON.stringify({
        held: holds.held,
        seconds: holds.seconds,
        p50Ms: holds.p50Ms,
        p99Ms: holds.p99Ms,
      }) + "\n",
    );
    await stdinEnded();
    await holds.close();
    return;
  }
  const r = await runLoad({
    hostname: args.hostname,
    port: args.port,
    connections: args.connections,
    rounds: args.rounds,
    keyMode: args.keyMode,
    keyPrefix: args.prefix,
    acquireTimeoutSec: args.timeoutS ?? (args.keyMode === "shared" ? 30 : 5),
  });
  const doc = {
    ops: r.ops,
    seconds: r.seconds,
    opsPerSec: r.opsPerSec,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    timeouts: r.timeouts,
  };
  process.stdout.write(
    args.json
      ? JSON.stringify(doc) + "\n"
      : `ops/s ${r.opsPerSec.toFixed(0)} p50 ${r.p50Ms.toFixed(3)} ms p99 ${
        r.p99Ms.toFixed(3)
      } ms\n`,
  );
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof RangeError ? `vs_go_load: ${e.message}` : e);
    process.exit(e instanceof RangeError ? 2 : 1);
  },
);
