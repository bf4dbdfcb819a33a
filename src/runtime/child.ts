/**
 * Child processes for `dflock run`: `Deno.Command` on Deno (it needs only `--allow-run`),
 * `node:child_process` on Bun and Node. Only the CLI imports this module, so the embeddable
 * server and the client never load `node:child_process`.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { detectRuntime } from "../transport/auto.ts";

/** How a child process ended: an exit status, or the signal that killed it. */
export interface ChildExit {
  /** Exit status, or `null` when the child was killed by a signal. */
  code: number | null;
  /** Name of the signal that killed the child (`"SIGTERM"`), or `null`. */
  signal: string | null;
}

/**
 * A child process started by {@linkcode spawnChild}.
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

/** The part of Deno's `Deno.Command` API used by {@linkcode spawnChild}. */
interface DenoCommandApi {
  Command: new (
    command: string,
    options: { args: string[]; stdin: "inherit"; stdout: "inherit"; stderr: "inherit" },
  ) => {
    spawn(): {
      readonly pid: number;
      readonly status: Promise<{ code: number; signal: string | null }>;
      kill(signal: string): void;
    };
  };
}

/**
 * Deno: `Deno.Command`, which inherits the environment without `--allow-env` (Deno's
 * `node:child_process` copies the whole environment first and so needs all of it), so
 * `--allow-run=cmd` is the only permission a child needs.
 */
function spawnDeno(deno: DenoCommandApi, command: string, args: readonly string[]): ChildHandle {
  let child: ReturnType<InstanceType<DenoCommandApi["Command"]>["spawn"]>;
  try {
    child = new deno.Command(command, {
      args: [...args],
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    return { pid: undefined, exited: Promise.reject(error), kill: () => {} };
  }
  let done = false;
  const exited = child.status.then((status) => {
    done = true;
    // Deno reports a signal death as code 128 + n and the signal's name.
    return status.signal === null
      ? { code: status.code, signal: null }
      : { code: null, signal: status.signal };
  });
  return {
    pid: child.pid,
    exited,
    kill(signal) {
      if (done) return;
      try {
        child.kill(signal);
      } catch {
        // Already gone.
      }
    },
  };
}

/**
 * Starts a child process with inherited stdio and environment: `node:child_process` on Bun and
 * Node, `Deno.Command` on Deno (which needs only `--allow-run`, no `--allow-env`).
 *
 * @param command The executable, looked up in `PATH`.
 * @param options `stdio: "inherit"`.
 * @returns The child; a start failure (`code` `"ENOENT"` when not found) shows as a rejected
 *   `exited`.
 *
 * @example Run a shell command and wait for it
 * ```ts ignore
 * import { spawnChild } from "./child.ts";
 * const child = spawnChild("sh", ["-c", "exit 3"], { stdio: "inherit" });
 * console.log(await child.exited); // { code: 3, signal: null }
 * ```
 */
export function spawnChild(
  command: string,
  args: readonly string[],
  options: SpawnChildOptions,
): ChildHandle {
  if (detectRuntime() === "deno") {
    const deno = (globalThis as { Deno?: DenoCommandApi }).Deno;
    if (deno !== undefined) return spawnDeno(deno, command, args);
  }
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
        process.kill(pid, signal);
      } catch {
        // Already gone.
      }
    },
  };
}
