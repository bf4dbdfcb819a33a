/**
 * Process-level facilities the CLI needs (arguments, environment, signals, exit, stdio, how the
 * process was started), implemented once over `node:process`, `node:fs` and `node:os`, which
 * Deno, Bun and Node all provide, plus Deno's own API where Deno's permissions need it. Child
 * processes are in `child.ts`, file reading for the server in `files.ts`.
 *
 * @module
 */

import { readFileSync, realpathSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { basename, delimiter, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { detectRuntime } from "../transport/auto.ts";

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
 * Deno refused to read an environment variable: the process was started without
 * `--allow-env` for it. The message names the flag that grants it.
 *
 * @example Tell the user which flag is missing
 * ```ts
 * import { EnvPermissionError } from "./process.ts";
 *
 * const error = new EnvPermissionError("DFLOCKD_AUTH_TOKEN");
 * console.log(error.message);
 * ```
 */
export class EnvPermissionError extends Error {
  /** The variable that could not be read. */
  readonly variable: string;

  /**
   * Creates the error.
   *
   * @param variable The variable that could not be read.
   * @param options `cause`: Deno's own error.
   */
  constructor(variable: string, options?: ErrorOptions) {
    super(
      `cannot read the environment variable ${variable}: Deno was started without ` +
        `--allow-env=${variable}; add it to the deno run flags`,
      options,
    );
    this.name = "EnvPermissionError";
    this.variable = variable;
  }
}

/** Deno's error for a permission it does not have (`NotCapable`, older `PermissionDenied`). */
function isPermissionError(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === "NotCapable" || name === "PermissionDenied";
}

/** The part of `Deno.permissions` read here. */
interface DenoPermissions {
  querySync(descriptor: { name: "env"; variable: string } | { name: "read"; path: string }): {
    state: string;
  };
}

/** Deno's permission API, or `undefined` on Bun and Node. */
function denoPermissions(): DenoPermissions | undefined {
  if (detectRuntime() !== "deno") return undefined;
  return (globalThis as { Deno?: { permissions?: DenoPermissions } }).Deno?.permissions;
}

/**
 * Whether Deno already grants a permission, without prompting for it. Always true on Bun and
 * Node.
 */
function granted(descriptor: { name: "env"; variable: string } | { name: "read"; path: string }) {
  const permissions = denoPermissions();
  if (permissions === undefined) return true;
  try {
    return permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
}

/**
 * Reads one environment variable. On Deno the variable must be granted (`--allow-env=NAME`);
 * when it is not, Deno prompts on a terminal, and a refusal becomes an
 * {@linkcode EnvPermissionError}.
 *
 * @returns Its value, or `undefined` when unset.
 * @throws {EnvPermissionError} On Deno, when reading the variable is not allowed.
 *
 * @example Read HOME
 * ```ts
 * import { env } from "./process.ts";
 * console.log(env("HOME"));
 * ```
 */
export function env(name: string): string | undefined {
  try {
    return process.env[name];
  } catch (error) {
    if (isPermissionError(error)) throw new EnvPermissionError(name, { cause: error });
    throw error;
  }
}

/**
 * Reads an environment variable that is only nice to have (npm's variables, `PATH`): on Deno
 * it is read only when already granted, so there is never a prompt or a permission error.
 *
 * @returns Its value, or `undefined` when unset or not granted.
 *
 * @example How npm started this process, if it did
 * ```ts
 * import { optionalEnv } from "./process.ts";
 * console.log(optionalEnv("npm_lifecycle_event") ?? "not an npm script");
 * ```
 */
export function optionalEnv(name: string): string | undefined {
  if (!granted({ name: "env", variable: name })) return undefined;
  try {
    return process.env[name];
  } catch {
    return undefined;
  }
}

/**
 * Copies the whole environment. The CLI does not use it (on Deno it needs every variable
 * granted); it reads single variables with {@linkcode env} and {@linkcode optionalEnv}.
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
 * @example Colour only on a terminal
 * ```ts ignore
 * import { stdoutIsTty } from "./process.ts";
 * const color = stdoutIsTty();
 * ```
 */
export function stdoutIsTty(): boolean {
  return process.stdout.isTTY === true;
}

/**
 * Tells whether standard error is a terminal.
 *
 * @example Show progress only on a terminal
 * ```ts ignore
 * import { stderrIsTty } from "./process.ts";
 * if (stderrIsTty()) console.error("waiting...");
 * ```
 */
export function stderrIsTty(): boolean {
  return process.stderr.isTTY === true;
}

/** How this process was started, for telling the user a command line that works again. */
export interface LaunchFacts {
  /** The runtime. */
  runtime: "deno" | "bun" | "node";
  /** The runtime's executable (absolute). */
  execPath: string;
  /**
   * The entry script: an absolute path as the runtime got it (symbolic links kept, so an
   * npm bin shows as `.../node_modules/.bin/dflock`), a URL for a remote Deno module
   * (`https://jsr.io/...`), or `undefined` when unknown.
   */
  script: string | undefined;
  /** The working directory, or `undefined` when unknown. */
  cwd: string | undefined;
  /** Whether a `PATH` directory holds the executable under its name; `undefined`: unknown. */
  execOnPath: boolean | undefined;
  /** Whether a `PATH` directory holds the script under its name; `undefined`: unknown. */
  scriptOnPath: boolean | undefined;
}

/** Whether `file` is reachable as its base name through one of the `PATH` directories. */
function onPath(file: string, pathVar: string | undefined): boolean | undefined {
  if (pathVar === undefined) return undefined;
  const name = basename(file);
  let real: string;
  try {
    real = granted({ name: "read", path: file }) ? realpathSync(file) : file;
  } catch {
    real = file;
  }
  for (const dir of pathVar.split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    if (candidate === file) return true;
    if (!granted({ name: "read", path: candidate })) continue;
    try {
      if (realpathSync(candidate) === real) return true;
    } catch {
      // Not there.
    }
  }
  return false;
}

/**
 * Collects the {@linkcode LaunchFacts} of this process. Needs no permission on Deno: what is not
 * granted is reported as unknown.
 *
 * @example Print the entry script
 * ```ts ignore
 * import { launchFacts } from "./process.ts";
 * console.log(launchFacts().script);
 * ```
 */
export function launchFacts(): LaunchFacts {
  const runtime = detectRuntime();
  let script: string | undefined;
  let execPath = process.execPath;
  if (runtime === "deno") {
    const deno = (globalThis as { Deno?: { mainModule?: string; execPath?: () => string } }).Deno;
    try {
      execPath = deno?.execPath?.() ?? execPath;
    } catch {
      // Keep process.execPath.
    }
    const main = deno?.mainModule;
    if (main !== undefined) script = main.startsWith("file:") ? fileURLToPath(main) : main;
  } else {
    const arg = process.argv[1];
    if (arg !== undefined && arg !== "") script = resolve(arg);
  }
  let cwd: string | undefined;
  try {
    cwd = process.cwd();
  } catch {
    cwd = undefined;
  }
  const pathVar = optionalEnv("PATH");
  const isFile = script !== undefined && !/^[a-z][a-z0-9+.-]*:\/\//i.test(script);
  return {
    runtime,
    execPath,
    script,
    cwd,
    execOnPath: onPath(execPath, pathVar),
    scriptOnPath: isFile && script !== undefined ? onPath(script, pathVar) : false,
  };
}

/**
 * Reads a UTF-8 text file if that is allowed without a prompt (on Deno: `--allow-read` already
 * granted for it) and possible.
 *
 * @returns The text, or `undefined`.
 *
 * @example Read the package.json npm names
 * ```ts ignore
 * import { optionalEnv, readTextFileIfAllowed } from "./process.ts";
 * const path = optionalEnv("npm_package_json");
 * const text = path === undefined ? undefined : readTextFileIfAllowed(path);
 * ```
 */
export function readTextFileIfAllowed(path: string): string | undefined {
  if (!granted({ name: "read", path })) return undefined;
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * The runtime running this process and its version: `Deno 2.9.6`, `Bun 1.4.5` or
 * `Node 20.20.2`. Deno and Bun report a Node version too, so the runtime is detected first.
 */
export function runtimeDescription(): string {
  const versions = process.versions as Readonly<Record<string, string | undefined>>;
  switch (detectRuntime()) {
    case "deno":
      return `Deno ${versions["deno"] ?? "(unknown version)"}`;
    case "bun":
      return `Bun ${versions["bun"] ?? "(unknown version)"}`;
    case "node":
      return `Node ${versions["node"] ?? "(unknown version)"}`;
  }
}
