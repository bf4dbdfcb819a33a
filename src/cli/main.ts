/**
 * The `dflock` command. Run it as a script:
 *
 * ```sh
 * deno run -A src/cli/main.ts serve --port 6388
 * bun src/cli/main.ts stats --server 127.0.0.1:6388
 * npx dflock ping --server 127.0.0.1:6388
 * node npm/esm/src/cli/main.js run --key nightly -- ./backup.sh
 * ```
 *
 * Importing this module has no side effects; {@linkcode main} runs the command line.
 *
 * @module
 */

import { serve } from "../server/mod.ts";
import { isMainModule } from "../runtime/entry.ts";
import { keepYoungGenerationSmall } from "../runtime/heap.ts";
import { args, EnvPermissionError, exit, stdoutIsTty, writeStderr } from "../runtime/process.ts";
import { type CliIo, processIo } from "./io.ts";
import { runDemo } from "./demo.ts";
import { runPing } from "./ping.ts";
import { type RunDeps, runRun } from "./run.ts";
import { runServe, type StartServer } from "./serve.ts";
import { runStats } from "./stats.ts";
import { usageErrorText } from "./_usage.ts";

export type { CliIo, StopSignal } from "./io.ts";
export type { ChildExit, ChildHandle } from "../runtime/child.ts";
export type { ServerHandle, StartServer } from "./serve.ts";
export type { RunDeps } from "./run.ts";
import { versionLine } from "./version.ts";

/** The top-level help text. */
export const USAGE: string = `Usage: dflock <command> [flags]

Commands:
  serve      run a dflockd-compatible lock server (flags as Go dflockd; serve -h lists them)
  stats      show a server's locks, semaphores, waiters and idle keys
  run        run a command while holding a distributed lock (a distributed flock)
  ping       check that servers answer: exit 0 if they do, 1 if not (scripts, health checks)
  demo       start a local server and show FIFO locks, semaphores and lease loss
  version    print the version

Flags:
  -h, --help       show this help
  --version        print the version

"dflock <command> --help" describes a command. Exit status 2 means a usage error, except for
serve, which keeps the Go server's status 1 for a bad flag. stats, run and ping read the auth
token from $DFLOCKD_AUTH_TOKEN when --auth-token is not given (the server's own variable).
`;

/** The commands, for the message of a missing one. */
const COMMANDS = "serve, stats, run, ping, demo or version";

/**
 * Options for {@linkcode main}, for tests.
 */
export interface MainOptions {
  /** Process facilities. @default {the real process} */
  io?: CliIo;
  /** Starts the server for `serve`. @default {serve from src/server/mod.ts} */
  startServer?: StartServer;
  /** Starts the command of `run`. @default {spawnChild from src/runtime/child.ts} */
  spawn?: RunDeps["spawn"];
  /** `stats --watch` clears the screen between refreshes. @default {stdout is a terminal} */
  clearScreen?: boolean;
}

/**
 * Runs the `dflock` command line.
 *
 * @param argv Arguments after the script name (`["serve", "--port", "0"]`).
 * @param options Injected process facilities and server factory (tests only).
 * @returns The exit status: 0 on success, 1 on runtime errors (and on Deno when a variable
 *   the command reads is not granted by `--allow-env`), 2 on an unknown or missing command or
 *   a usage error (`serve`: 1, as the Go server), and what each command documents (`run`
 *   returns its command's status, `ping` 1 when a server does not answer).
 *
 * @example Run the command line from a script
 * ```ts
 * import { main } from "@dflock/dflock/cli";
 *
 * const status = await main(["stats", "--server", "127.0.0.1:6388"]);
 * console.log(`exit status ${status}`);
 * ```
 */
export async function main(argv: readonly string[], options: MainOptions = {}): Promise<number> {
  const io = options.io ?? processIo();
  const [command, ...rest] = argv;
  try {
    return await runCommand(command, rest, io, options);
  } catch (error) {
    // Deno without --allow-env for a variable the command reads: say which flag is missing.
    if (!(error instanceof EnvPermissionError)) throw error;
    io.writeStderr(`dflock${command === undefined ? "" : ` ${command}`}: ${error.message}\n`);
    return 1;
  }
}

async function runCommand(
  command: string | undefined,
  rest: string[],
  io: CliIo,
  options: MainOptions,
): Promise<number> {
  switch (command) {
    case "serve":
      return await runServe(rest, io, options.startServer ?? serve);
    case "stats":
      return await runStats(rest, io, {
        clearScreen: options.clearScreen ?? (options.io === undefined && stdoutIsTty()),
      });
    case "run":
      return await runRun(rest, io, options.spawn === undefined ? {} : { spawn: options.spawn });
    case "ping":
      return await runPing(rest, io);
    case "demo":
      return await runDemo(rest, io);
    case "-h":
    case "-help":
    case "--help":
    case "help":
      io.writeStdout(USAGE);
      return 0;
    case "-version":
    case "--version":
    case "version":
      io.writeStdout(versionLine());
      return 0;
    case undefined:
      io.writeStderr(
        usageErrorText(io, undefined, `missing command: ${COMMANDS}`),
      );
      return 2;
    default:
      io.writeStderr(
        usageErrorText(
          io,
          undefined,
          command.startsWith("-")
            ? `unknown flag ${command}`
            : `unknown command ${JSON.stringify(command)}`,
        ),
      );
      return 2;
  }
}

if (isMainModule(import.meta)) {
  const argv = args();
  // The command owns this process: a server keeps its young generation small (heap.ts).
  const ready = argv[0] === "serve" ? keepYoungGenerationSmall() : Promise.resolve(false);
  ready.then(() => main(argv)).then(
    (code) => exit(code),
    (error: unknown) => {
      writeStderr(`dflock: ${error instanceof Error ? (error.stack ?? error.message) : error}\n`);
      exit(1);
    },
  );
}
