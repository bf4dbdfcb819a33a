/**
 * `dflock serve`: runs a dflockd-compatible server configured like the Go `dflockd` binary,
 * until SIGINT or SIGTERM, then drains and returns exit status 0.
 *
 * @module
 */

import {
  checkStartup,
  describeNonDefaults,
  parseServerArgs,
  toServerOptions,
} from "../server/config.ts";
import type { ServerOptions } from "../server/options.ts";
import type { CliIo, StopSignal } from "./io.ts";
import { versionLine } from "./version.ts";

/**
 * The part of the server handle that `serve` uses.
 *
 * @example The real server is a handle
 * ```ts
 * import type { ServerHandle } from "@dflock/dflock/cli";
 * import { serve } from "@dflock/dflock/server";
 *
 * const handle: ServerHandle = await serve({ port: 0 });
 * console.log(handle.addr.port);
 * await handle.close();
 * ```
 */
export interface ServerHandle {
  /** The bound address. */
  readonly addr: { hostname: string; port: number };
  /** Starts the graceful drain; resolves once everything is closed. */
  close(): Promise<void>;
  /** Resolves once the server has fully stopped. */
  readonly closed: Promise<void>;
}

/**
 * Starts a server (the real one is `serve` from `src/server/mod.ts`).
 *
 * @example The real server factory fits
 * ```ts
 * import type { StartServer } from "@dflock/dflock/cli";
 * import { serve } from "@dflock/dflock/server";
 *
 * const startServer: StartServer = serve;
 * const handle = await startServer({ port: 0 });
 * await handle.close();
 * ```
 */
export type StartServer = (options: ServerOptions) => Promise<ServerHandle>;

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function formatAddr(addr: { hostname: string; port: number }): string {
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return `${host}:${addr.port}`;
}

/** Server log lines go to stderr with the `dflock: ` prefix; the CLI prints its own listening line. */
function serverLog(io: CliIo): (line: string) => void {
  return (line) => {
    if (!line.startsWith("listening on ")) io.writeStderr(`dflock: ${line}\n`);
  };
}

/**
 * Runs `dflock serve`.
 *
 * @param argv Arguments after `serve` (Go flag syntax, PROTOCOL.md 12.3).
 * @param io Process facilities.
 * @param startServer Starts the server.
 * @returns The exit status: 0 after a graceful stop or `--version`, 1 on configuration or
 *   startup errors.
 */
export async function runServe(
  argv: readonly string[],
  io: CliIo,
  startServer: StartServer,
): Promise<number> {
  const result = await parseServerArgs(argv, io.env, (path) => io.readTextFile(path));
  if (result.kind === "exit") {
    io.writeStderr(result.stderr);
    return result.code;
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
  let server: ServerHandle | undefined;
  let stopSignal: StopSignal | undefined;
  let draining: Promise<void> | undefined;
  const drain = (): void => {
    if (server === undefined || draining !== undefined) return;
    io.writeStderr(`dflock: ${stopSignal} received, draining connections\n`);
    draining = server.close();
    // A failed close surfaces through `server.closed` or the await below.
    draining.catch(() => {});
  };
  const onStop = (signal: StopSignal): void => {
    if (stopSignal !== undefined) return;
    stopSignal = signal;
    drain();
  };
  const removers = [
    io.onSignal("SIGINT", () => onStop("SIGINT")),
    io.onSignal("SIGTERM", () => onStop("SIGTERM")),
  ];
  try {
    try {
      server = await startServer({ ...toServerOptions(config), log: serverLog(io) });
    } catch (error) {
      io.writeStderr(`dflock: server error: ${errorText(error)}\n`);
      return 1;
    }
    const extras = describeNonDefaults(config);
    const suffix = extras.length > 0 ? ` (${extras.join(", ")})` : "";
    io.writeStderr(`dflock: listening on ${formatAddr(server.addr)}${suffix}\n`);
    if (stopSignal !== undefined) drain();
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
