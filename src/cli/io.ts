/**
 * What the `dflock` commands need from the process, as one injectable object so commands can
 * be tested in-process. {@linkcode processIo} binds it to the real process.
 *
 * @module
 */

import { envAll, onSignal, readTextFile, writeStderr, writeStdout } from "../transport/process.ts";

/** Signals that stop the server gracefully. */
export type StopSignal = "SIGINT" | "SIGTERM";

/** Process facilities used by the commands. */
export interface CliIo {
  /** The environment variables. */
  env: Readonly<Record<string, string | undefined>>;
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
