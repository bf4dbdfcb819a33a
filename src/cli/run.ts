/**
 * `dflock run`: a distributed flock(1). Acquires a lock (or one slot of a semaphore), runs a
 * command with inherited stdio while the lease renews in the background, releases when the
 * command exits, and exits with the command's status.
 *
 * @module
 */

import { connect } from "../client/connection.ts";
import type { Connection } from "../client/connection.ts";
import { stats } from "../client/low_level.ts";
import { type ServerEndpoint, shardIndex } from "../client/servers.ts";
import { LeaseLostError } from "../errors.ts";
import { DistributedLock } from "../lock.ts";
import { DistributedSemaphore } from "../semaphore.ts";
import { type ChildExit, type ChildHandle, spawnChild } from "../runtime/child.ts";
import { signalNumber } from "../runtime/process.ts";
import {
  AUTH_TOKEN_ENV,
  type ClientSettings,
  clientSettings,
  CONNECTION_FLAGS,
  describeFailure,
} from "./_client_flags.ts";
import { type CommandSpec, numberFlag, parseOrExit, stringFlag, usageError } from "./_flags.ts";
import type { CliIo, StopSignal } from "./io.ts";

/** Exit status when the lock could not be acquired in time (EX_TEMPFAIL). */
export const EXIT_TIMEOUT = 75;
/** Exit status when the lease was lost while the command ran (EX_SOFTWARE). */
export const EXIT_LEASE_LOST = 70;
/** Exit status when the command was not found. */
export const EXIT_NOT_FOUND = 127;
/** Exit status when the command could not be started for another reason. */
export const EXIT_CANNOT_RUN = 126;
/** Default grace period between SIGTERM and SIGKILL after a lost lease, in seconds. */
export const DEFAULT_KILL_GRACE_S = 5;

/** The `run` subcommand: synopsis, flags and help text. */
export const RUN_COMMAND: CommandSpec = {
  name: "run",
  synopsis: "--key K [flags] [--] command [args...]",
  description:
    "Runs a command while holding a distributed lock: acquires K, runs the command with the\n" +
    "terminal's stdin/stdout/stderr while the lease renews in the background, releases when\n" +
    "the command exits, and exits with its status (128+n when it died of signal n).\n" +
    "SIGINT and SIGTERM are forwarded to the command; the lock is released after it exits.\n" +
    "If the lease is lost, the command gets SIGTERM (SIGKILL 5 s later) and dflock exits 70.",
  positional: true,
  flags: [
    { name: "key", kind: "string", placeholder: "K", usage: "the lock key (required)" },
    {
      name: "lease",
      kind: "number",
      placeholder: "S",
      min: 1,
      usage: "lease in seconds, renewed in the background (default: the server's)",
    },
    {
      name: "timeout",
      kind: "number",
      placeholder: "S",
      min: 0,
      usage: "seconds to wait for the lock; 0 tries once (default 10)",
    },
    {
      name: "semaphore",
      kind: "int",
      placeholder: "N",
      min: 1,
      usage: "take one of N slots of a semaphore instead of a lock",
    },
    {
      name: "server",
      kind: "strings",
      placeholder: "host:port",
      usage: "server (default 127.0.0.1:6388); repeat for shards, picked by CRC-32",
    },
    ...CONNECTION_FLAGS,
    { name: "kill-grace", kind: "number", min: 0, usage: "", hidden: true },
  ],
  epilog: "While it waits for the lock on a terminal, a status line on stderr shows the key,\n" +
    "the server, the seconds waited and the place in the queue (from the server's waiter\n" +
    "count); it is cleared once the lock is acquired. Nothing is shown when stderr is not a\n" +
    "terminal.\n\n" +
    "Exit status: the command's; 75 when the lock was not acquired within --timeout;\n" +
    "70 when the lease was lost; 127 when the command was not found, 126 when it could not\n" +
    "be started; 1 when a server cannot be reached or refuses; 2 on a usage error.\n\n" +
    "Deno needs no more than (add --allow-read=FILE for --tls-ca FILE):\n" +
    `  deno run --allow-net=HOST:PORT --allow-env=${AUTH_TOKEN_ENV} --allow-run=CMD \\\n` +
    "    src/cli/main.ts run ...\n\n" +
    "Example:\n  dflock run --key nightly-backup --lease 60 -- ./backup.sh --full\n",
};

/**
 * What `run` needs besides {@linkcode CliIo} (injectable for tests).
 *
 * @example Replace the command with a fake child
 * ```ts
 * import { main, type RunDeps } from "@dflock/dflock/cli";
 *
 * const spawn: RunDeps["spawn"] = () => ({
 *   pid: 1,
 *   exited: Promise.resolve({ code: 0, signal: null }),
 *   kill: () => {},
 * });
 * const status = await main(["run", "--key", "job", "--", "true"], { spawn });
 * console.log(status);
 * ```
 */
export interface RunDeps {
  /** Starts the command. @default {spawnChild from src/runtime/child.ts} */
  spawn?: (command: string, args: readonly string[]) => ChildHandle;
}

/** The parts of {@linkcode DistributedLock} and {@linkcode DistributedSemaphore} used here. */
interface Lease {
  acquire(options: { signal?: AbortSignal }): Promise<boolean>;
  enqueue(options: { signal?: AbortSignal }): Promise<"acquired" | "queued">;
  wait(timeoutS: number, options: { signal?: AbortSignal }): Promise<boolean>;
  release(): Promise<void>;
  close(): Promise<void>;
  readonly signal: AbortSignal;
}

function statusOf(exit: ChildExit): number {
  if (exit.code !== null) return exit.code;
  return 128 + (exit.signal === null ? 0 : signalNumber(exit.signal) ?? 0);
}

function lostReason(error: unknown): string {
  if (error instanceof LeaseLostError && error.cause !== undefined) {
    return describeFailure(error.cause);
  }
  return describeFailure(error);
}

/**
 * Runs `dflock run`.
 *
 * @param argv Arguments after `run`.
 * @param deps How to start the command.
 * @returns The command's exit status, or one of the statuses listed in the help text.
 */
export async function runRun(
  argv: readonly string[],
  io: CliIo,
  deps: RunDeps = {},
): Promise<number> {
  const parsed = parseOrExit(RUN_COMMAND, argv, io);
  if (typeof parsed === "number") return parsed;
  const { values, rest } = parsed;
  const key = stringFlag(values, "key");
  if (key === undefined) return usageError(RUN_COMMAND, "--key is required", io);
  const [command, ...args] = rest;
  if (command === undefined) return usageError(RUN_COMMAND, "no command given", io);
  const settings = await clientSettings(values, io);
  if ("usage" in settings) return usageError(RUN_COMMAND, settings.usage, io);
  if ("failure" in settings) {
    io.writeStderr(`dflock run: ${settings.failure}\n`);
    return 1;
  }
  const timeoutS = numberFlag(values, "timeout") ?? 10;
  const limit = numberFlag(values, "semaphore");
  const graceMs = (numberFlag(values, "kill-grace") ?? DEFAULT_KILL_GRACE_S) * 1000;
  const spawn = deps.spawn ??
    ((cmd: string, a: readonly string[]) => spawnChild(cmd, a, { stdio: "inherit" }));

  let lease: Lease;
  try {
    const options = {
      key,
      servers: settings.servers.map((s) => s.address),
      acquireTimeoutS: timeoutS,
      leaseTtlS: numberFlag(values, "lease"),
      tls: settings.tls,
      authToken: settings.authToken,
    };
    lease = limit === undefined
      ? new DistributedLock(options)
      : new DistributedSemaphore({ ...options, limit });
  } catch (error) {
    // A malformed key: TypeError/RangeError from the option checks.
    return usageError(RUN_COMMAND, describeFailure(error), io);
  }

  let child: ChildHandle | undefined;
  let stopSignal: StopSignal | undefined;
  const stopAcquire = new AbortController();
  const onStop = (signal: StopSignal): void => {
    if (child !== undefined) {
      child.kill(signal);
      return;
    }
    stopSignal ??= signal;
    stopAcquire.abort(new Error(`${signal} received`));
  };
  const removers = [
    io.onSignal("SIGINT", () => onStop("SIGINT")),
    io.onSignal("SIGTERM", () => onStop("SIGTERM")),
  ];
  try {
    let acquired: boolean;
    try {
      acquired = io.stderrIsTty?.() === true && timeoutS > 0
        ? await acquireShowingWait(lease, {
          key,
          limit,
          server: settings.servers[shardIndex(key, settings.servers.length)] ??
            settings.servers[0]!,
          settings,
          timeoutS,
          io,
          signal: stopAcquire.signal,
        })
        : await lease.acquire({ signal: stopAcquire.signal });
    } catch (error) {
      await lease.close();
      if (stopSignal !== undefined) return 128 + (signalNumber(stopSignal) ?? 0);
      io.writeStderr(`dflock run: ${describeFailure(error)}\n`);
      return 1;
    }
    if (!acquired) {
      await lease.close();
      io.writeStderr(`dflock run: could not acquire ${key} within ${timeoutS} s\n`);
      return EXIT_TIMEOUT;
    }
    if (stopSignal !== undefined) {
      await lease.release().catch(() => {});
      return 128 + (signalNumber(stopSignal) ?? 0);
    }
    return await runHolding(lease, key, spawn(command, args), command, io, graceMs, (c) => {
      child = c;
    });
  } finally {
    for (const remove of removers) remove();
  }
}

/** What {@linkcode acquireShowingWait} needs. */
interface WaitContext {
  key: string;
  /** The semaphore's limit, or `undefined` for a lock. */
  limit: number | undefined;
  /** The key's server. */
  server: ServerEndpoint;
  settings: ClientSettings;
  timeoutS: number;
  io: CliIo;
  signal: AbortSignal;
}

/** How often the wait status is redrawn, in ms (at most once a second). */
const WAIT_REDRAW_MS = 1_000;

/**
 * The waiters queued on `key` in a stats snapshot (this process included), or `undefined`
 * when the key is not listed.
 */
function waitersOf(
  snapshot: Awaited<ReturnType<typeof stats>>,
  key: string,
  limit: number | undefined,
): number | undefined {
  const lock = snapshot.locks.find((l) => l.key === key);
  const semaphore = snapshot.semaphores.find((m) => m.key === key);
  const first = limit === undefined ? (lock ?? semaphore) : (semaphore ?? lock);
  return first?.waiters;
}

/**
 * The one-line wait status on a terminal: redrawn in place (`\r`) at most once a second with
 * the seconds waited and the place in the queue, cleared by {@linkcode WaitStatus.stop}.
 *
 * The place comes from the server's waiter count for the key: right after this process
 * queued it is the last in line, so the count is its place; later the place can only go down
 * (FIFO), so the smallest count seen is kept. Waiters who joined later and left again can
 * make it show a place higher than the true one, never a lower one.
 */
class WaitStatus {
  readonly #ctx: WaitContext;
  readonly #started = performance.now();
  readonly #what: string;
  #position: number | undefined;
  #conn: Connection | undefined;
  #polling = false;
  #stopped = false;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(ctx: WaitContext) {
    this.#ctx = ctx;
    this.#what = ctx.limit === undefined
      ? `${ctx.key}`
      : `a slot of ${ctx.key} (semaphore of ${ctx.limit})`;
  }

  /** Draws the first line, asks the server for the queue, and redraws every second. */
  start(): void {
    this.#draw();
    void this.#poll();
    this.#timer = setInterval(() => {
      this.#draw();
      void this.#poll();
    }, WAIT_REDRAW_MS);
  }

  #draw(): void {
    if (this.#stopped) return;
    const seconds = Math.floor((performance.now() - this.#started) / 1000);
    const place = this.#position === undefined
      ? "queued"
      : `position ${this.#position} in the queue`;
    this.#ctx.io.writeStderr(
      `\rdflock run: waiting for ${this.#what} on ${this.#ctx.server.address}: ${place}, ` +
        `${seconds} s\x1b[K`,
    );
  }

  /** One stats request (never two at once); a failure leaves the place unknown. */
  async #poll(): Promise<void> {
    if (this.#polling || this.#stopped) return;
    this.#polling = true;
    const { server, settings, key, limit } = this.#ctx;
    try {
      this.#conn ??= await connect({
        host: server.host,
        port: server.port,
        tls: settings.tls,
        authToken: settings.authToken,
        connectTimeoutMs: 5_000,
        unrefWhenIdle: true,
      });
      if (this.#stopped) return;
      const waiters = waitersOf(await stats(this.#conn), key, limit);
      if (waiters !== undefined && waiters > 0) {
        this.#position = Math.min(this.#position ?? waiters, waiters);
      }
    } catch {
      const conn = this.#conn;
      this.#conn = undefined;
      await conn?.close().catch(() => {});
    } finally {
      this.#polling = false;
      if (this.#stopped) await this.#closeConn();
    }
  }

  async #closeConn(): Promise<void> {
    const conn = this.#conn;
    this.#conn = undefined;
    await conn?.close().catch(() => {});
  }

  /** Clears the line and closes the stats connection. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#ctx.io.writeStderr("\r\x1b[K");
    if (!this.#polling) await this.#closeConn();
  }
}

/**
 * Acquires with two-phase locking so the wait can be shown: `enqueue()` answers at once
 * (acquired, or queued); while queued, `wait()` blocks and {@linkcode WaitStatus} shows the
 * wait on stderr.
 */
async function acquireShowingWait(lease: Lease, ctx: WaitContext): Promise<boolean> {
  if ((await lease.enqueue({ signal: ctx.signal })) === "acquired") return true;
  const status = new WaitStatus(ctx);
  status.start();
  try {
    return await lease.wait(ctx.timeoutS, { signal: ctx.signal });
  } finally {
    await status.stop();
  }
}

/** Runs the started child while the lease is held; releases afterwards. */
async function runHolding(
  lease: Lease,
  key: string,
  child: ChildHandle,
  command: string,
  io: CliIo,
  graceMs: number,
  track: (child: ChildHandle) => void,
): Promise<number> {
  track(child);
  let lost = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const signal = lease.signal;
  const onLost = (): void => {
    if (lost) return;
    lost = true;
    io.writeStderr(`dflock run: lost the lock on ${key}: ${lostReason(signal.reason)}\n`);
    child.kill("SIGTERM");
    killTimer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  };
  signal.addEventListener("abort", onLost, { once: true });
  if (signal.aborted) onLost();
  let exit: ChildExit;
  try {
    exit = await child.exited;
  } catch (error) {
    await lease.release().catch(() => {});
    const code = (error as { code?: unknown }).code;
    io.writeStderr(`dflock run: cannot run ${command}: ${describeFailure(error)}\n`);
    return code === "ENOENT" ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
  } finally {
    signal.removeEventListener("abort", onLost);
    clearTimeout(killTimer);
  }
  if (lost) {
    await lease.close();
    return EXIT_LEASE_LOST;
  }
  try {
    await lease.release();
  } catch (error) {
    if (error instanceof LeaseLostError) {
      io.writeStderr(`dflock run: lost the lock on ${key}: ${lostReason(error)}\n`);
      return EXIT_LEASE_LOST;
    }
    io.writeStderr(`dflock run: could not release ${key}: ${describeFailure(error)}\n`);
    await lease.close();
  }
  return statusOf(exit);
}
