/**
 * `dflock run`: a distributed flock(1). Acquires a lock (or one slot of a semaphore), runs a
 * command with inherited stdio while the lease renews in the background, releases when the
 * command exits, and exits with the command's status.
 *
 * @module
 */

import { LeaseLostError } from "../errors.ts";
import { DistributedLock } from "../lock.ts";
import { DistributedSemaphore } from "../semaphore.ts";
import {
  type ChildExit,
  type ChildHandle,
  signalNumber,
  spawnChild,
} from "../transport/process.ts";
import { clientSettings, CONNECTION_FLAGS, describeFailure } from "./_client_flags.ts";
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
  epilog: "Exit status: the command's; 75 when the lock was not acquired within --timeout;\n" +
    "70 when the lease was lost; 127 when the command was not found, 126 when it could not\n" +
    "be started; 1 when a server cannot be reached or refuses; 2 on a usage error.\n\n" +
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
  /** Starts the command. @default {spawnChild from src/transport/process.ts} */
  spawn?: (command: string, args: readonly string[]) => ChildHandle;
}

/** The parts of {@linkcode DistributedLock} and {@linkcode DistributedSemaphore} used here. */
interface Lease {
  acquire(options: { signal?: AbortSignal }): Promise<boolean>;
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
 * @param io Process facilities.
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
      acquired = await lease.acquire({ signal: stopAcquire.signal });
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
