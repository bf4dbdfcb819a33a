/**
 * Test helper for the client subcommands (`stats`, `run`): starts `dflock <args>` as a real
 * child process on the current runtime with piped stdin, stdout and stderr, and lets a test
 * wait for output, write to stdin and send signals.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { createServer } from "node:net";
import process from "node:process";
import { cliCommand, type CliExit } from "../_helpers/cli_process.ts";

/** A running `dflock` process. */
export interface DflockProcess {
  /** The process id. */
  pid: number | undefined;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves once stdout contains `text`; rejects after `ms` or when the process exits. */
  waitForStdout(text: string, ms?: number): Promise<void>;
  /** Writes to the process's stdin. */
  write(text: string): void;
  /** Sends a signal (no-op once exited). */
  signal(name: "SIGTERM" | "SIGINT" | "SIGKILL"): void;
  /** Resolves with the exit status once the process has exited and its output is complete. */
  exited: Promise<CliExit>;
  /** Resolves with the exit status, killing the process after `ms` (default 20 s). */
  finish(ms?: number): Promise<CliExit>;
}

/**
 * Starts `dflock <args>`.
 *
 * @param args Arguments after the script (`["stats", "--server", "127.0.0.1:1234"]`).
 * @param env Extra environment variables.
 * @returns The running process.
 */
export function startDflock(
  args: readonly string[],
  env: Record<string, string> = {},
): DflockProcess {
  const { command, args: lead } = cliCommand();
  const childEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("DFLOCK")) childEnv[name] = value;
  }
  const child = spawn(command, [...lead, ...args], {
    env: { ...childEnv, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  let done = false;
  const listeners = new Set<() => void>();
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    out += chunk;
    for (const l of [...listeners]) l();
  });
  child.stderr.on("data", (chunk: string) => {
    err += chunk;
  });
  child.stdin.on("error", () => {});
  const exited = new Promise<CliExit>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => {
      done = true;
      for (const l of [...listeners]) l();
      resolve({ code, signal });
    });
  });
  const signal = (name: "SIGTERM" | "SIGINT" | "SIGKILL"): void => {
    if (done || child.pid === undefined) return;
    try {
      process.kill(child.pid, name);
    } catch {
      // Already gone.
    }
  };
  return {
    pid: child.pid,
    stdout: () => out,
    stderr: () => err,
    waitForStdout(text, ms = 20_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no ${JSON.stringify(text)} within ${ms} ms; stderr:\n${err}`));
        }, ms);
        function check(): void {
          if (out.includes(text)) {
            clearTimeout(timer);
            listeners.delete(check);
            resolve();
          } else if (done) {
            clearTimeout(timer);
            listeners.delete(check);
            reject(new Error(`exited before ${JSON.stringify(text)}; stderr:\n${err}`));
          }
        }
        listeners.add(check);
        check();
      });
    },
    write(text) {
      child.stdin.write(text);
    },
    signal,
    exited,
    async finish(ms = 20_000) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          signal("SIGKILL");
          reject(new Error(`dflock ${args.join(" ")} did not exit within ${ms} ms:\n${err}`));
        }, ms);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
        child.stdin.destroy();
      }
    },
  };
}

/**
 * Finds a loopback port with nothing listening (bound, then closed again).
 *
 * @returns The port.
 */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
