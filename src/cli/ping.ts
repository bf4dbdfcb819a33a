/**
 * `dflock ping`: checks that dflockd servers answer, for scripts and container health checks.
 * Connects (authenticating when a token is set), sends `ping`, prints the round trip, and exits
 * 0 only when every server answered.
 *
 * @module
 */

import { connect } from "../client/connection.ts";
import type { Connection } from "../client/connection.ts";
import { ping } from "../client/low_level.ts";
import type { ServerEndpoint } from "../client/servers.ts";
import {
  AUTH_TOKEN_ENV,
  type ClientSettings,
  clientSettings,
  CONNECTION_FLAGS,
  describeFailure,
} from "./_client_flags.ts";
import { type CommandSpec, numberFlag, parseOrExit, usageError } from "./_flags.ts";
import type { CliIo } from "./io.ts";

/** Default of `--timeout`, in seconds. */
export const DEFAULT_PING_TIMEOUT_S = 5;

/** The `ping` subcommand: synopsis, flags and help text. */
export const PING_COMMAND: CommandSpec = {
  name: "ping",
  synopsis: "[--server host:port ...] [--timeout S] [flags]",
  description:
    "Checks that dflockd servers answer, for scripts and container health checks: connects,\n" +
    "authenticates when a token is set, sends the `ping` request and prints the round trip\n" +
    '("127.0.0.1:6388: ok, 0.4 ms"), one line per server. Go dflockd before v1.14 has no\n' +
    "`ping` and answers `error`: that counts as an answer too (the server is up and reading\n" +
    "requests), and the line says so.",
  flags: [
    {
      name: "server",
      kind: "strings",
      placeholder: "host:port",
      usage: "server to check; repeat for several (default 127.0.0.1:6388)",
    },
    {
      name: "timeout",
      kind: "number",
      placeholder: "S",
      usage:
        `seconds to connect, authenticate and get the answer (default ${DEFAULT_PING_TIMEOUT_S})`,
    },
    ...CONNECTION_FLAGS,
  ],
  epilog: "Exit status: 0 when every server answered; 1 when one did not (refused, timed out,\n" +
    "shutting down, auth refused): the error is on stderr; 2 on a usage error.\n\n" +
    "Deno needs no more than (add --allow-read=FILE for --tls-ca FILE):\n" +
    `  deno run --allow-net=HOST:PORT --allow-env=${AUTH_TOKEN_ENV} src/cli/main.ts ping\n\n` +
    "Example (a container health check):\n" +
    "  dflock ping --server 127.0.0.1:6388 --timeout 2\n",
};

/** The result of pinging one server. */
type PingResult =
  | { ok: true; ms: number; knowsPing: boolean }
  | { ok: false; message: string };

/** Formats a round trip: `0.4 ms`, `12.3 ms`, `1204 ms`. */
function formatMs(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms)} ms` : `${ms.toFixed(1)} ms`;
}

async function pingOne(
  server: ServerEndpoint,
  settings: ClientSettings,
  timeoutS: number,
): Promise<PingResult> {
  const timeoutMs = timeoutS * 1000;
  const deadline = new AbortController();
  const timer = setTimeout(
    () => deadline.abort(new Error(`no answer within ${timeoutS} s`)),
    timeoutMs,
  );
  let conn: Connection | undefined;
  try {
    conn = await connect({
      host: server.host,
      port: server.port,
      tls: settings.tls,
      authToken: settings.authToken,
      connectTimeoutMs: timeoutMs,
      signal: deadline.signal,
    });
    const start = performance.now();
    const knowsPing = await ping(conn, { signal: deadline.signal });
    return { ok: true, ms: performance.now() - start, knowsPing };
  } catch (error) {
    const text = describeFailure(deadline.signal.aborted ? deadline.signal.reason : error);
    return {
      ok: false,
      message: text.includes(server.address) ? text : `${server.address}: ${text}`,
    };
  } finally {
    clearTimeout(timer);
    await conn?.close();
  }
}

/**
 * Runs `dflock ping`.
 *
 * @param argv Arguments after `ping`.
 * @returns 0 when every server answered, 1 when one did not, 2 on a usage error.
 */
export async function runPing(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseOrExit(PING_COMMAND, argv, io);
  if (typeof parsed === "number") return parsed;
  if (parsed.rest.length > 0) {
    return usageError(PING_COMMAND, `unexpected argument ${JSON.stringify(parsed.rest[0])}`, io);
  }
  const timeoutS = numberFlag(parsed.values, "timeout") ?? DEFAULT_PING_TIMEOUT_S;
  if (!(timeoutS > 0)) {
    return usageError(PING_COMMAND, `--timeout must be more than 0 (got ${timeoutS})`, io);
  }
  const settings = await clientSettings(parsed.values, io);
  if ("usage" in settings) return usageError(PING_COMMAND, settings.usage, io);
  if ("failure" in settings) {
    io.writeStderr(`dflock ping: ${settings.failure}\n`);
    return 1;
  }
  const results = await Promise.all(
    settings.servers.map((server) => pingOne(server, settings, timeoutS)),
  );
  let status = 0;
  for (const [n, result] of results.entries()) {
    const address = settings.servers[n]?.address ?? "";
    if (result.ok) {
      const note = result.knowsPing
        ? ""
        : " (answered error: a dflockd without ping, before v1.14)";
      io.writeStdout(`${address}: ok, ${formatMs(result.ms)}${note}\n`);
    } else {
      io.writeStderr(`dflock ping: ${result.message}\n`);
      status = 1;
    }
  }
  return status;
}
