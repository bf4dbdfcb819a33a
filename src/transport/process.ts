/**
 * Process-level facilities the CLI needs (arguments, environment, signals, exit, stdio, files,
 * child processes),
 * implemented once over `node:process` and `node:fs`, which Deno, Bun and Node all provide.
 * Nothing outside `src/transport/` touches the process directly.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import process from "node:process";
import { detectRuntime } from "./auto.ts";

/** A signal the CLI reacts to. */
export type ProcessSignal = "SIGINT" | "SIGTERM";

/**
 * The user's command-line arguments (after the runtime and the script).
 *
 * @returns A fresh array of arguments.
 *
 * @example Read the arguments
 * ```ts
 * import { args } from "./process.ts";
 * console.log(args());
 * ```
 */
export function args(): string[] {
  if (detectRuntime() === "deno") {
    const deno = (globalThis as { Deno?: { args: readonly string[] } }).Deno;
    if (deno !== undefined) return [...deno.args];
  }
  return process.argv.slice(2);
}

/**
 * Reads one environment variable.
 *
 * @param name Variable name.
 * @returns Its value, or `undefined` when unset.
 *
 * @example Read HOME
 * ```ts
 * import { env } from "./process.ts";
 * console.log(env("HOME"));
 * ```
 */
export function env(name: string): string | undefined {
  return process.env[name];
}

/**
 * Copies the whole environment.
 *
 * @returns A fresh name → value record.
 *
 * @example List variable names
 * ```ts
 * import { envAll } from "./process.ts";
 * console.log(Object.keys(envAll()).length);
 * ```
 */
export function envAll(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/**
 * Calls `fn` whenever the process receives `signal`.
 *
 * @param signal `"SIGINT"` or `"SIGTERM"`.
 * @param fn The handler.
 * @returns A function that removes the handler (idempotent).
 *
 * @example Stop on Ctrl-C
 * ```ts ignore
 * import { onSignal } from "./process.ts";
 * const off = onSignal("SIGINT", () => console.log("stopping"));
 * off();
 * ```
 */
export function onSignal(signal: ProcessSignal, fn: () => void): () => void {
  const handler = (): void => fn();
  process.on(signal, handler);
  let active = true;
  return () => {
    if (!active) return;
    active = false;
    process.off(signal, handler);
  };
}

/**
 * Ends the process.
 *
 * @param code Exit status.
 * @returns Never returns.
 *
 * @example Exit with failure
 * ```ts ignore
 * import { exit } from "./process.ts";
 * exit(1);
 * ```
 */
export function exit(code: number): never {
  return process.exit(code);
}

/**
 * Writes text to standard error (no newline added).
 *
 * @param text The text.
 *
 * @example Report a problem
 * ```ts ignore
 * import { writeStderr } from "./process.ts";
 * writeStderr("error: bad flag\n");
 * ```
 */
export function writeStderr(text: string): void {
  process.stderr.write(text);
}

/**
 * Writes text to standard output (no newline added).
 *
 * @param text The text.
 *
 * @example Print a line
 * ```ts ignore
 * import { writeStdout } from "./process.ts";
 * writeStdout("ok\n");
 * ```
 */
export function writeStdout(text: string): void {
  process.stdout.write(text);
}

/**
 * Reads a UTF-8 text file.
 *
 * @param path File path.
 * @returns The file's text.
 * @throws {Error} The platform error when the file cannot be read.
 *
 * @example Read a token file
 * ```ts ignore
 * import { readTextFile } from "./process.ts";
 * const token = (await readTextFile("token.txt")).trim();
 * ```
 */
export async function readTextFile(path: string): Promise<string> {
  return await readFile(path, "utf8");
}

/**
 * How a child process ended: an exit status, or the signal that killed it.
 *
 * @example Turn an exit into a shell status
 * ```ts
 * import type { ChildExit } from "@dflock/dflock/cli";
 *
 * const exit: ChildExit = { code: null, signal: "SIGTERM" };
 * console.log(exit.code ?? 128 + 15); // 143
 * ```
 */
export interface ChildExit {
  /** Exit status, or `null` when the child was killed by a signal. */
  code: number | null;
  /** Name of the signal that killed the child (`"SIGTERM"`), or `null`. */
  signal: string | null;
}

/**
 * A child process started by {@linkcode spawnChild}.
 *
 * @example A fake child for tests
 * ```ts
 * import type { ChildHandle } from "@dflock/dflock/cli";
 *
 * const child: ChildHandle = {
 *   pid: 1234,
 *   exited: Promise.resolve({ code: 0, signal: null }),
 *   kill: () => {},
 * };
 * console.log((await child.exited).code); // 0
 * ```
 */
export interface ChildHandle {
  /** The child's process id; `undefined` when it could not be started. */
  readonly pid: number | undefined;
  /**
   * Resolves once the child has exited; rejects with the platform error (`code` `"ENOENT"`,
   * `"EACCES"`, ...) when the command could not be started.
   */
  readonly exited: Promise<ChildExit>;
  /**
   * Sends a signal to the child; does nothing once it has exited.
   *
   * @param signal Signal name, e.g. `"SIGTERM"` or `"SIGKILL"`.
   */
  kill(signal: string): void;
}

/** Options of {@linkcode spawnChild}. */
export interface SpawnChildOptions {
  /** `"inherit"`: the child shares this process's stdin, stdout and stderr. */
  stdio: "inherit";
}

/**
 * Starts a child process with inherited stdio, over `node:child_process` (which Deno, Bun and
 * Node all provide).
 *
 * @param command The executable, looked up in `PATH`.
 * @param args Its arguments.
 * @param options `stdio: "inherit"`.
 * @returns The child; a start failure shows as a rejected `exited`.
 *
 * @example Run a shell command and wait for it
 * ```ts ignore
 * import { spawnChild } from "./process.ts";
 * const child = spawnChild("sh", ["-c", "exit 3"], { stdio: "inherit" });
 * console.log(await child.exited); // { code: 3, signal: null }
 * ```
 */
export function spawnChild(
  command: string,
  args: readonly string[],
  options: SpawnChildOptions,
): ChildHandle {
  let child: ChildProcess;
  try {
    child = spawn(command, [...args], { stdio: options.stdio });
  } catch (error) {
    return { pid: undefined, exited: Promise.reject(error), kill: () => {} };
  }
  let done = false;
  const exited = new Promise<ChildExit>((resolve, reject) => {
    child.once("exit", (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
    child.once("error", (error) => {
      // Also emitted when a kill fails; only a failed start ends the child's life here.
      if (child.pid === undefined && !done) {
        done = true;
        reject(error);
      }
    });
  });
  const pid = child.pid;
  return {
    pid,
    exited,
    kill(signal) {
      if (done || pid === undefined) return;
      try {
        // process.kill rather than child.kill: Deno's child.kill marks the child as killed by
        // the signal even when the child catches it and exits normally.
        process.kill(pid, signal);
      } catch {
        // Already gone.
      }
    },
  };
}

/**
 * The number of a signal, for the shell convention of exit status 128 + n.
 *
 * @param name Signal name (`"SIGINT"`).
 * @returns The signal number, or `undefined` when the platform does not know the name.
 *
 * @example SIGTERM is 15 on Linux
 * ```ts
 * import { signalNumber } from "./process.ts";
 * console.log(signalNumber("SIGTERM")); // 15
 * ```
 */
export function signalNumber(name: string): number | undefined {
  const table = osConstants.signals as Readonly<Record<string, number | undefined>>;
  return table[name];
}

/**
 * Tells whether standard output is a terminal.
 *
 * @returns `true` when stdout is a TTY.
 *
 * @example Colour only on a terminal
 * ```ts ignore
 * import { stdoutIsTty } from "./process.ts";
 * const color = stdoutIsTty();
 * ```
 */
export function stdoutIsTty(): boolean {
  return process.stdout.isTTY === true;
}
