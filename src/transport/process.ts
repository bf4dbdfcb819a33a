/**
 * Process-level facilities the CLI needs (arguments, environment, signals, exit, stdio, files),
 * implemented once over `node:process` and `node:fs`, which Deno, Bun and Node all provide.
 * Nothing outside `src/transport/` touches the process directly.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
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
