/**
 * `dflock serve`: runs a dflockd-compatible server configured like the Go `dflockd` binary
 * (flags, `DFLOCKD_*` variables, messages and exit status 1 for configuration errors), until
 * SIGINT or SIGTERM.
 *
 * - `--help` (`-h`, `-help`) prints the flags with their environment variables on stdout and
 *   exits 0.
 * - What the Go server ignores silently (arguments from the first non-flag on, environment
 *   values that do not parse) is ignored too, with a `dflock: ignoring ...` line on stderr.
 * - A bad flag or value prints one error line and a pointer to `--help`; exit status 1.
 * - Once up it logs `dflock: listening on HOST:PORT` with the settings that differ from the
 *   defaults; with `--http-port` the server's `http listening on HOST:PORT` line follows it.
 * - The first signal starts the graceful drain and says what it waits for (the open
 *   connections and the `--shutdown-timeout` deadline); a second signal closes the remaining
 *   connections at once. Either way the command then returns 0.
 *
 * @module
 */

import type { ServerOptions } from "../server/options.ts";
import { formatAddr } from "../transport/_errors.ts";
import { checkStartup } from "../server/settings.ts";
import {
  describeNonDefaults,
  parseServerArgs,
  serverHelp,
  toServerOptions,
} from "./serve_config.ts";
import { clockTime, usageErrorText } from "./_usage.ts";
import { type CliIo, commandLine, type StopSignal } from "./io.ts";
import { versionLine } from "./version.ts";

/** The part of the server handle that `serve` uses. */
export interface ServerHandle {
  /** The bound address. */
  readonly addr: { hostname: string; port: number };
  /**
   * Starts the graceful drain, or with `{ force: true }` closes every connection now (also
   * after a graceful drain started); resolves once everything is closed.
   */
  close(options?: { force?: boolean }): Promise<void>;
  /** Resolves once the server has fully stopped. */
  readonly closed: Promise<void>;
  /** Optional: the server's counters; `serve` names the open connections when it drains. */
  stats?(): { readonly connections: number };
}

/** Starts a server (the real one is `serve` from `src/server/mod.ts`). */
export type StartServer = (options: ServerOptions) => Promise<ServerHandle>;

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function connectionsText(count: number | undefined): string {
  if (count === undefined) return "the open connections";
  return count === 1 ? "1 connection" : `${count} connections`;
}

/**
 * The line logged on the first stop signal: what the drain waits for, until when, and how to
 * cut it short.
 *
 * @param count Connections open, if known.
 * @param timeoutS `--shutdown-timeout` in seconds (0 = no limit).
 * @returns The line without prefix and newline.
 */
export function drainMessage(
  signal: StopSignal,
  count: number | undefined,
  timeoutS: number,
  now: Date,
): string {
  if (count === 0) return `${signal} received: no connections open, stopping`;
  const them = count === 1 ? "it" : "them";
  const until = timeoutS > 0
    ? `closing ${them} at ${clockTime(new Date(now.getTime() + timeoutS * 1000))} ` +
      `(--shutdown-timeout ${timeoutS} s)`
    : `waiting for ${them} without a time limit (--shutdown-timeout 0)`;
  return `${signal} received: draining ${connectionsText(count)}, ${until}; ` +
    `send ${signal} again to close ${them} now`;
}

/**
 * Server log lines go to stderr with the `dflock: ` prefix, except the server's TCP
 * `listening on` line: the CLI prints its own, with the non-default settings. The lines logged
 * while the server starts (`http listening on ...`) are held until `flush()`, so that the
 * CLI's line for the TCP address is always the first `listening on` line on stderr.
 */
function serverLog(io: CliIo): { log: (line: string) => void; flush: () => void } {
  let held: string[] | undefined = [];
  const write = (line: string): void => io.writeStderr(`dflock: ${line}\n`);
  return {
    log(line) {
      if (line.startsWith("listening on ")) return;
      if (held === undefined) write(line);
      else held.push(line);
    },
    flush() {
      const lines = held ?? [];
      held = undefined;
      for (const line of lines) write(line);
    },
  };
}

/**
 * Runs `dflock serve`.
 *
 * @param argv Arguments after `serve` (Go flag syntax, docs/protocol.md 12.3).
 * @returns The exit status: 0 after a stop by signal, `--help` or `--version`; 1 for a bad
 *   flag or value and for startup errors (as the Go server).
 */
export async function runServe(
  argv: readonly string[],
  io: CliIo,
  startServer: StartServer,
): Promise<number> {
  const result = await parseServerArgs(argv, io.env, (path) => io.readTextFile(path));
  if (result.kind === "help") {
    // A package script that runs `serve` (`npm run serve --`) is how the user runs it again.
    io.writeStdout(serverHelp(commandLine(io, "serve")));
    return 0;
  }
  for (const warning of result.warnings) io.writeStderr(`dflock: ${warning}\n`);
  if (result.kind === "error") {
    io.writeStderr(
      result.usage
        ? usageErrorText(io, "serve", result.message)
        : `dflock serve: ${result.message}\n`,
    );
    return 1;
  }
  if (result.version) {
    io.writeStdout(versionLine());
    return 0;
  }
  const config = result.options;
  const startupError = checkStartup(config);
  if (startupError !== undefined) {
    io.writeStderr(`dflock: server error: ${startupError}\n`);
    return 1;
  }

  // Handlers go in before listening, so a signal right after the listen is never fatal.
  // The first signal drains, the second closes the remaining connections; they are acted on
  // once the server is up.
  let server: ServerHandle | undefined;
  const signals: StopSignal[] = [];
  let draining: Promise<void> | undefined;
  let forced = false;
  const act = (): void => {
    if (server === undefined) return;
    const [first, second] = signals;
    if (first !== undefined && draining === undefined) {
      const count = server.stats?.().connections;
      io.writeStderr(`dflock: ${drainMessage(first, count, config.shutdownTimeout, new Date())}\n`);
      draining = server.close();
      // A failed close surfaces through `server.closed` or the await below.
      draining.catch(() => {});
    }
    if (second !== undefined && !forced) {
      forced = true;
      const count = server.stats?.().connections;
      const again = second === first ? " again" : "";
      const what = count === 0 ? "stopping now" : `closing ${connectionsText(count)} now`;
      io.writeStderr(`dflock: ${second} received${again}: ${what}\n`);
      server.close({ force: true }).catch(() => {});
    }
  };
  const onStop = (signal: StopSignal): void => {
    if (signals.length < 2) signals.push(signal);
    act();
  };
  const removers = [
    io.onSignal("SIGINT", () => onStop("SIGINT")),
    io.onSignal("SIGTERM", () => onStop("SIGTERM")),
  ];
  const log = serverLog(io);
  try {
    try {
      server = await startServer({ ...toServerOptions(config), log: log.log });
    } catch (error) {
      log.flush();
      io.writeStderr(`dflock: server error: ${errorText(error)}\n`);
      return 1;
    }
    const extras = describeNonDefaults(config);
    const suffix = extras.length > 0 ? ` (${extras.join(", ")})` : "";
    io.writeStderr(`dflock: listening on ${formatAddr(server.addr)}${suffix}\n`);
    // The HTTP address (with --http-port) is the server's own `http listening on` line.
    log.flush();
    act();
    try {
      await server.closed;
      if (draining !== undefined) await draining;
    } catch (error) {
      io.writeStderr(`dflock: server error: ${errorText(error)}\n`);
      return 1;
    }
    io.writeStderr("dflock: stopped\n");
    return 0;
  } finally {
    for (const remove of removers) remove();
  }
}
