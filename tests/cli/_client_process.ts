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
import { type CliCommand, cliCommand, type CliExit } from "../_helpers/cli_process.ts";

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
  /**
   * Resolves once `test(stdout, stderr)` holds (checked on every output chunk); rejects after
   * `ms` or when the process exits first.
   */
  waitFor(
    what: string,
    test: (stdout: string, stderr: string) => boolean,
    ms?: number,
  ): Promise<void>;
  /** Writes to the process's stdin. */
  write(text: string): void;
  /** Sends a signal (no-op once exited). */
  signal(name: "SIGTERM" | "SIGINT" | "SIGKILL"): void;
  /** Resolves with the exit status once the process has exited and its output is complete. */
  exited: Promise<CliExit>;
  /** Resolves with the exit status, killing the process after `ms` (default 20 s). */
  finish(ms?: number): Promise<CliExit>;
}

/** Options of {@linkcode startDflock}. */
export interface StartOptions {
  /** Working directory. @default {this process's} */
  cwd?: string;
  /** How to start the CLI (`deno run --allow-net=... main.ts`). @default {cliCommand()} */
  command?: CliCommand;
}

/**
 * Starts `dflock <args>`.
 *
 * @param args Arguments after the script (`["stats", "--server", "127.0.0.1:1234"]`).
 * @param env Extra environment variables (inherited `DFLOCK*` ones are removed).
 * @param options Working directory and command.
 * @returns The running process.
 */
export function startDflock(
  args: readonly string[],
  env: Record<string, string> = {},
  options: StartOptions = {},
): DflockProcess {
  const { command, args: lead } = options.command ?? cliCommand();
  const childEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("DFLOCK")) childEnv[name] = value;
  }
  const child = spawn(command, [...lead, ...args], {
    env: { ...childEnv, ...env },
    stdio: ["pipe", "pipe", "pipe"],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
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
    for (const l of [...listeners]) l();
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
  const waitFor = (
    what: string,
    test: (stdout: string, stderr: string) => boolean,
    ms = 20_000,
  ): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`no ${what} within ${ms} ms; stdout:\n${out}\nstderr:\n${err}`));
      }, ms);
      function check(): void {
        if (test(out, err)) {
          clearTimeout(timer);
          listeners.delete(check);
          resolve();
        } else if (done) {
          clearTimeout(timer);
          listeners.delete(check);
          reject(new Error(`exited before ${what}; stdout:\n${out}\nstderr:\n${err}`));
        }
      }
      listeners.add(check);
      check();
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
      return waitFor(JSON.stringify(text), (stdout) => stdout.includes(text), ms);
    },
    waitFor,
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
