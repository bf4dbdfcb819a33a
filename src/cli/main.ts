/**
 * The `dflock` command. Run it as a script:
 *
 * ```sh
 * deno run -A src/cli/main.ts serve --port 6388
 * bun src/cli/main.ts serve --port 6388
 * node npm/esm/src/cli/main.js serve --port 6388
 * ```
 *
 * Importing this module has no side effects; {@linkcode main} runs the command line.
 *
 * @module
 */

import { serve } from "../server/mod.ts";
import { isMainModule } from "../transport/entry.ts";
import { args, exit, writeStderr } from "../transport/process.ts";
import { type CliIo, processIo } from "./io.ts";
import { runServe, type StartServer } from "./serve.ts";

export type { CliIo, StopSignal } from "./io.ts";
export type { ServerHandle, StartServer } from "./serve.ts";
import { versionLine } from "./version.ts";

/** The top-level help text. */
export const USAGE: string = `Usage: dflock <command> [flags]

Commands:
  serve      run a dflockd-compatible lock server (flags as Go dflockd; serve -h lists them)
  version    print the version

Flags:
  -h, --help       show this help
  --version        print the version
`;

/** Options for {@linkcode main}, for tests. */
export interface MainOptions {
  /** Process facilities. @default {the real process} */
  io?: CliIo;
  /** Starts the server for `serve`. @default {serve from src/server/mod.ts} */
  startServer?: StartServer;
}

/**
 * Runs the `dflock` command line.
 *
 * @param argv Arguments after the script name (`["serve", "--port", "0"]`).
 * @param options Injected process facilities and server factory (tests only).
 * @returns The exit status: 0 on success, 1 on configuration or startup errors, 2 on an
 *   unknown or missing command.
 */
export async function main(argv: readonly string[], options: MainOptions = {}): Promise<number> {
  const io = options.io ?? processIo();
  const [command, ...rest] = argv;
  switch (command) {
    case "serve":
      return await runServe(rest, io, options.startServer ?? serve);
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
      io.writeStderr(USAGE);
      return 2;
    default:
      io.writeStderr(`dflock: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return 2;
  }
}

if (isMainModule(import.meta)) {
  main(args()).then(
    (code) => exit(code),
    (error: unknown) => {
      writeStderr(`dflock: ${error instanceof Error ? (error.stack ?? error.message) : error}\n`);
      exit(1);
    },
  );
}
