/**
 * Test helper: runs the `dflock` CLI as a real child process on the current runtime (the same
 * binary that runs the tests), and learns the server's port from its
 * `dflock: listening on HOST:PORT` stderr line.
 *
 * Under Node the tests run compiled (`npm/esm/tests/...`), so the CLI path keeps this file's
 * own extension: `src/cli/main.ts` next to `.ts` tests, `src/cli/main.js` next to `.js` ones.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { detectRuntime } from "../../src/transport/auto.ts";

/** How to start the CLI: the executable and the arguments before the subcommand. */
export interface CliCommand {
  /** The runtime executable. */
  command: string;
  /** Arguments up to and including the script path. */
  args: string[];
}

/** How a child process ended. */
export interface CliExit {
  /** Exit status, or `null` when killed by a signal. */
  code: number | null;
  /** The signal that killed it, if any. */
  signal: string | null;
}

/** Options for {@linkcode startCli} and {@linkcode runCli}. */
export interface CliOptions {
  /** Extra environment variables. Inherited `DFLOCKD_*` variables are always removed. */
  env?: Record<string, string>;
  /** Give up after this many milliseconds. @default {20000} */
  timeoutMs?: number;
}

/** A running CLI server. */
export interface RunningCli {
  /** The child process. */
  child: ChildProcess;
  /** The host from the listening line. */
  host: string;
  /** The port from the listening line. */
  port: number;
  /** Everything written to stderr so far. */
  stderrText(): string;
  /** Everything written to stdout so far. */
  stdoutText(): string;
  /** Resolves when the process has exited and its output is complete. */
  exited: Promise<CliExit>;
  /**
   * Sends a signal to the process. Use this rather than `child.kill()`: Deno's
   * `node:child_process` reports a child it `kill()`ed as killed by that signal even when
   * the child caught it and exited 0. Does nothing once the process has exited.
   */
  signal(name: "SIGTERM" | "SIGINT" | "SIGKILL"): void;
}

/** Result of {@linkcode runCli}. */
export interface CliResult extends CliExit {
  /** The whole stdout. */
  stdout: string;
  /** The whole stderr. */
  stderr: string;
}

const LISTENING = /listening on (\S+):(\d+)/;

/**
 * The command line that starts `src/cli/main` on the current runtime.
 *
 * @returns Executable and leading arguments; append the subcommand and its flags.
 */
export function cliCommand(): CliCommand {
  const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  const script = fileURLToPath(new URL(`../../src/cli/main${ext}`, import.meta.url));
  if (detectRuntime() === "deno") return { command: process.execPath, args: ["run", "-A", script] };
  return { command: process.execPath, args: [script] };
}

function childEnv(extra: Record<string, string> | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("DFLOCKD_")) env[name] = value;
  }
  return { ...env, ...extra };
}

function spawnCli(args: readonly string[], options: CliOptions) {
  const { command, args: lead } = cliCommand();
  const child = spawn(command, [...lead, ...args], {
    env: childEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8");
  child.stderr?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<CliExit>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

function sendSignal(child: ChildProcess, name: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, name);
  } catch {
    // Already gone.
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what()}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Starts `dflock <args>` (usually `serve --port 0 ...`) and waits for its listening line.
 * The caller must stop the process with `signal()` (not `child.kill()`) and await `exited`.
 *
 * @param args Arguments after the script (`["serve", "--port", "0"]`).
 * @param options Environment and timeout.
 * @returns The running process and its port.
 * @throws {Error} When the process exits or times out before it listens (stderr included).
 */
export async function startCli(
  args: readonly string[],
  options: CliOptions = {},
): Promise<RunningCli> {
  const run = spawnCli(args, options);
  const listening = new Promise<RegExpExecArray>((resolve, reject) => {
    const check = (): void => {
      const match = LISTENING.exec(run.stderr());
      if (match !== null) {
        run.child.stderr?.off("data", check);
        resolve(match);
      }
    };
    run.child.stderr?.on("data", check);
    run.exited.then(
      (exit) =>
        reject(
          new Error(`CLI exited (${exit.code ?? exit.signal}) before listening:\n${run.stderr()}`),
        ),
      reject,
    );
  });
  let match: RegExpExecArray;
  try {
    match = await withTimeout(listening, options.timeoutMs ?? 20_000, run.stderr);
  } catch (error) {
    sendSignal(run.child, "SIGKILL");
    await run.exited.catch(() => {});
    throw error;
  }
  return {
    child: run.child,
    host: match[1] ?? "",
    port: Number(match[2]),
    stderrText: run.stderr,
    stdoutText: run.stdout,
    exited: run.exited,
    signal: (name) => sendSignal(run.child, name),
  };
}

/**
 * Runs `dflock <args>` to completion (for commands that exit by themselves).
 *
 * @param args Arguments after the script.
 * @param options Environment and timeout (the process is killed when it runs out).
 * @returns Exit status and the complete output.
 */
export async function runCli(
  args: readonly string[],
  options: CliOptions = {},
): Promise<CliResult> {
  const run = spawnCli(args, options);
  try {
    const exit = await withTimeout(run.exited, options.timeoutMs ?? 20_000, run.stderr);
    return { ...exit, stdout: run.stdout(), stderr: run.stderr() };
  } catch (error) {
    sendSignal(run.child, "SIGKILL");
    await run.exited.catch(() => {});
    throw error;
  }
}
