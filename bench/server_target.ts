/**
 * Benchmark targets as child processes: the dflock server (through its CLI) or the echo floor
 * (`floor.ts --serve`), on the current runtime, optionally pinned to CPU cores with `taskset`.
 * A child process is measured alone: its resident memory comes from `/proc/<pid>/status`
 * (VmRSS) and its CPU time from `/proc/<pid>/stat` (Linux only; `null` elsewhere).
 *
 * @module
 */

import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { detectRuntime } from "../src/transport/auto.ts";

/** What a benchmark runs against. */
export type Target = "server" | "echo";

/** Options for {@linkcode startTarget}. */
export interface TargetOptions {
  /** CPU list for `taskset -c` (e.g. `"0"`); unpinned when absent. */
  cpus?: string;
  /** Extra server CLI flags (ignored for the echo floor). */
  serverArgs?: string[];
  /** Give up waiting for the child's `listening on` line after this many ms. @default {30000} */
  startTimeoutMs?: number;
}

/** A running target child process. */
export interface TargetProcess {
  /** Which target this is. */
  readonly target: Target;
  /** The loopback port it listens on. */
  readonly port: number;
  /** The child's process id. */
  readonly pid: number;
  /** Resident set size in KiB (VmRSS), or `null` when unknown. */
  rssKiB(): number | null;
  /** User+system CPU microseconds used so far, or `null` when unknown. */
  cpuMicros(): number | null;
  /** Terminates the child (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Path of a file relative to this module: `.ts` when running from source, `.js` from the
 * npm build.
 *
 * @param relative Path without extension, relative to this file.
 * @returns The absolute file system path.
 */
export function sourcePath(relative: string): string {
  const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  return fileURLToPath(new URL(relative + ext, import.meta.url));
}

/**
 * The command line that runs a script on the current runtime.
 *
 * @param file The script's path.
 * @param args Its arguments.
 * @returns Executable and arguments.
 */
export function scriptCommand(file: string, args: string[]): [string, string[]] {
  if (detectRuntime() === "deno") return [process.execPath, ["run", "-A", file, ...args]];
  return [process.execPath, [file, ...args]];
}

/**
 * Starts a target as a child process and waits until it listens.
 *
 * @param target `server` (the dflock CLI, `serve --port 0`) or `echo` (the echo floor).
 * @param options CPU pinning, extra server flags and start timeout.
 * @returns The running child; call `stop()` when done.
 * @throws {Error} When the child exits or stays silent before reporting its port.
 */
export async function startTarget(
  target: Target,
  options: TargetOptions = {},
): Promise<TargetProcess> {
  const [command, args] = target === "server"
    ? scriptCommand(sourcePath("../src/cli/main"), [
      "serve",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      ...(options.serverArgs ?? []),
    ])
    : scriptCommand(sourcePath("./floor"), ["--serve", "--port", "0"]);
  const [exe, argv] = options.cpus === undefined
    ? [command, args]
    : ["taskset", ["-c", options.cpus, command, ...args]];
  const child: ChildProcess = spawn(exe, argv, { stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const { port } = await waitForListening(child, `${target} child`, startTimeoutMs);
  const pid = child.pid!;
  return {
    target,
    port,
    pid,
    rssKiB: () => readRssKiB(pid),
    cpuMicros: () => readCpuMicros(pid),
    async stop(): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill();
      const force = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(force);
    },
  };
}

/**
 * Waits for a child's `listening on HOST:PORT` line on stderr (the dflock CLI and the echo floor
 * print it), then keeps draining stderr. Kills the child when it exits, fails to spawn or stays
 * silent.
 *
 * @param child A child spawned with `stdio[2]: "pipe"`.
 * @param what Its name, for messages.
 * @param timeoutMs How long to wait.
 * @returns The reported address (a wildcard host becomes `127.0.0.1`).
 * @throws {Error} When the child exits, fails to spawn or does not report in time.
 */
export function waitForListening(
  child: ChildProcess,
  what: string,
  timeoutMs: number,
): Promise<{ hostname: string; port: number }> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(() => {
      fail(new Error(`${what} did not report its port in ${timeoutMs} ms`));
    }, timeoutMs);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(e);
    };
    child.once("error", (e) => fail(e));
    child.once("exit", (code) => fail(new Error(`${what} exited (${code}): ${buffered}`)));
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (text: string) => {
      buffered += text;
      const m = /(?:^|\n)(?:dflock: )?listening on (\S+):(\d+)/.exec(buffered);
      if (m !== null) {
        clearTimeout(timer);
        buffered = "";
        child.stderr!.resume();
        const host = m[1]!.replace(/^\[|\]$/g, "");
        resolve({
          hostname: host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host,
          port: Number(m[2]),
        });
      } else if (buffered.length > 65536) {
        buffered = buffered.slice(-4096);
      }
    });
  });
}

/**
 * Resident set size of a process (VmRSS from `/proc/<pid>/status`).
 *
 * @param pid Process id.
 * @returns KiB, or `null` when unavailable (not Linux, process gone).
 */
export function readRssKiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/**
 * User+system CPU time of a process from `/proc/<pid>/stat`.
 *
 * @param pid Process id.
 * @returns Microseconds, or `null` when unavailable.
 */
export function readCpuMicros(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * (1e6 / 100) : null; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/**
 * Pins every thread of this process to the given CPUs (`taskset -a -p -c`).
 *
 * @param cpus CPU list, e.g. `"1"`.
 * @returns Whether taskset succeeded.
 */
export function pinSelf(cpus: string): boolean {
  const result = spawnSync("taskset", ["-a", "-p", "-c", cpus, String(process.pid)], {
    stdio: "ignore",
  });
  return result.status === 0;
}
