/**
 * What the `dflock` commands need from the process, as one injectable object so commands can
 * be tested in-process. {@linkcode processIo} binds it to the real process.
 *
 * @module
 */

import { envAll, onSignal, readTextFile, writeStderr, writeStdout } from "../transport/process.ts";

/**
 * Signals that stop the server gracefully.
 *
 * @example Name a stop signal
 * ```ts
 * import type { StopSignal } from "@dflock/dflock/cli";
 *
 * const signals: StopSignal[] = ["SIGINT", "SIGTERM"];
 * console.log(signals.join(", "));
 * ```
 */
export type StopSignal = "SIGINT" | "SIGTERM";

/**
 * Process facilities used by the commands.
 *
 * @example Capture the output of a command
 * ```ts
 * import { type CliIo, main } from "@dflock/dflock/cli";
 *
 * let out = "";
 * const io: CliIo = {
 *   env: {},
 *   readTextFile: () => Promise.reject(new Error("no files")),
 *   writeStdout: (text) => void (out += text),
 *   writeStderr: (text) => void (out += text),
 *   onSignal: () => () => {},
 * };
 * await main(["version"], { io });
 * console.log(out);
 * ```
 */
export interface CliIo {
  /** The environment variables. */
  env: Readonly<Record<string, string | undefined>>;
  /**
   * How the user started this command line, for hints such as `Run "dflock serve --help"`
   * (`dflock`, `npx dflock`, `deno run -A src/cli/main.ts`). @default {"dflock"}
   */
  program?: string;
  /** Reads a text file; rejects when it cannot be read. */
  readTextFile(path: string): Promise<string>;
  /** Writes text to stdout. */
  writeStdout(text: string): void;
  /** Writes text to stderr. */
  writeStderr(text: string): void;
  /** Installs a signal handler; returns a function that removes it. */
  onSignal(signal: StopSignal, handler: () => void): () => void;
}

/**
 * The real process: environment, files, stdout/stderr and signals.
 *
 * @returns A {@linkcode CliIo} for the running process.
 */
export function processIo(): CliIo {
  return {
    env: envAll(),
    readTextFile,
    writeStdout,
    writeStderr,
    onSignal,
  };
}
