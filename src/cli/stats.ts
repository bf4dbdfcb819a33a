/**
 * `dflock stats`: asks dflockd servers for their `stats` and prints a table of held locks,
 * semaphores, waiters and idle keys, or the raw JSON; `--watch` refreshes every second.
 *
 * @module
 */

import { connect } from "../client/connection.ts";
import type { Connection } from "../client/connection.ts";
import type { ServerEndpoint } from "../client/servers.ts";
import { type IdleKeyInfo, parseStats, type ServerStats } from "../protocol/stats.ts";
import { AuthError, DflockError, ProtocolError } from "../errors.ts";
import { COMMAND, STATUS } from "../protocol/commands.ts";
import {
  AUTH_TOKEN_ENV,
  type ClientSettings,
  clientSettings,
  CONNECTION_FLAGS,
  describeFailure,
} from "./_client_flags.ts";
import { boolFlag, type CommandSpec, numberFlag, parseOrExit, usageError } from "./_flags.ts";
import { clockTime } from "./_usage.ts";
import type { CliIo } from "./io.ts";

/** The `stats` subcommand: synopsis, flags and help text. */
export const STATS_COMMAND: CommandSpec = {
  name: "stats",
  synopsis: "[--server host:port ...] [--json] [--watch]",
  description:
    "Prints what a dflockd server holds: locks (owner connection, lease left, waiters),\n" +
    "semaphores (holders/limit, waiters) and idle keys. Several --server flags print one\n" +
    "section per server.",
  flags: [
    {
      name: "server",
      kind: "strings",
      placeholder: "host:port",
      usage: "server to ask; repeat for several (default 127.0.0.1:6388)",
    },
    {
      name: "json",
      kind: "bool",
      usage: "print the server's JSON object as sent, one line per server",
    },
    { name: "watch", kind: "bool", usage: "refresh every second until interrupted" },
    ...CONNECTION_FLAGS,
    { name: "count", kind: "int", min: 1, usage: "", hidden: true },
    { name: "interval", kind: "number", min: 0.01, usage: "", hidden: true },
  ],
  epilog: "--watch keeps going while a server is down: it shows\n" +
    '"server HOST:PORT unreachable since HH:MM:SS: <why>; retrying" in its place (on stderr\n' +
    "with --json) and shows its stats again once it is back.\n\n" +
    "For a live view in a browser, start the server with --http-port and open\n" +
    "http://HOST:PORT/, where HOST is its --http-host (or --host) and PORT its --http-port.\n\n" +
    "Exit status: 0 on success, 1 when a server cannot be reached or refuses (with --watch\n" +
    "only a refused auth token), 2 on a usage error. --watch stops with 0 on SIGINT or\n" +
    "SIGTERM.\n\n" +
    "Deno needs no more than (add --allow-read=FILE for --tls-ca FILE):\n" +
    `  deno run --allow-net=HOST:PORT --allow-env=${AUTH_TOKEN_ENV} src/cli/main.ts stats\n`,
};

/** Options of {@linkcode runStats} (tests). */
export interface StatsDeps {
  /** Clear the screen between `--watch` refreshes. @default {false} */
  clearScreen?: boolean;
}

/** Asks one server for its stats; returns the JSON text after `ok `. */
async function fetchRaw(conn: Connection, signal: AbortSignal): Promise<string> {
  const line = await conn.request(COMMAND.stats, "_", "", { signal });
  const prefix = `${STATUS.ok} `;
  if (line.startsWith(prefix)) return line.slice(prefix.length);
  throw new DflockError(`${conn.address} answered "${line}" to stats`, line.split(" ")[0]);
}

function seconds(s: number): string {
  return `${s.toFixed(1)}s`;
}

/** Lays out rows under a header, left-aligned, two spaces apart. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ");
  return [line(header), ...rows.map(line)].map((l) => `  ${l}\n`).join("");
}

function section(title: string, count: number, body: () => string): string {
  return `${title} (${count})\n${count === 0 ? "  (none)\n" : body()}`;
}

/**
 * Formats a stats snapshot as text tables.
 *
 * @param address The server's `host:port`.
 * @returns The text, ending in a newline.
 *
 * @example
 * ```ts ignore
 * io.writeStdout(formatStatsTable("127.0.0.1:6388", await stats(conn)));
 * ```
 */
export function formatStatsTable(address: string, s: ServerStats): string {
  const waiting = s.locks.reduce((n, l) => n + l.waiters, 0) +
    s.semaphores.reduce((n, m) => n + m.waiters, 0);
  const idle: (IdleKeyInfo & { kind: string })[] = [
    ...s.idleLocks.map((i) => ({ ...i, kind: "lock" })),
    ...s.idleSemaphores.map((i) => ({ ...i, kind: "semaphore" })),
  ];
  let out = `server ${address}: ${s.connections} connection${s.connections === 1 ? "" : "s"}, ` +
    `${waiting} waiter${waiting === 1 ? "" : "s"}\n\n`;
  out += section("locks", s.locks.length, () =>
    table(
      ["KEY", "OWNER CONN", "LEASE LEFT", "WAITERS"],
      s.locks.map((l) => [
        l.key,
        l.ownerConnId === 0 ? "-" : String(l.ownerConnId),
        l.ownerConnId === 0 ? "-" : seconds(l.leaseExpiresInS),
        String(l.waiters),
      ]),
    ));
  out += "\n";
  out += section("semaphores", s.semaphores.length, () =>
    table(
      ["KEY", "HOLDERS", "WAITERS"],
      s.semaphores.map((m) => [m.key, `${m.holders}/${m.limit}`, String(m.waiters)]),
    ));
  out += "\n";
  out += section(
    "idle keys",
    idle.length,
    () => table(["KEY", "TYPE", "IDLE"], idle.map((i) => [i.key, i.kind, seconds(i.idleS)])),
  );
  return out;
}

/** How long one stats request (connect included) may take, in ms. */
const REQUEST_TIMEOUT_MS = 5_000;

/** One open connection per server, opened on first use and reused by `--watch`. */
class Servers {
  readonly #settings: ClientSettings;
  readonly #conns = new Map<string, Connection>();

  constructor(settings: ClientSettings) {
    this.#settings = settings;
  }

  /**
   * Asks one server; on any failure the connection is dropped, so the next call connects
   * again (a restarted server is found on its old address).
   */
  async stats(server: ServerEndpoint, stop: AbortSignal): Promise<string> {
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)),
      REQUEST_TIMEOUT_MS,
    );
    const signal = AbortSignal.any([stop, deadline.signal]);
    try {
      let conn = this.#conns.get(server.address);
      if (conn === undefined) {
        conn = await connect({
          host: server.host,
          port: server.port,
          tls: this.#settings.tls,
          authToken: this.#settings.authToken,
          connectTimeoutMs: REQUEST_TIMEOUT_MS,
          signal,
        });
        this.#conns.set(server.address, conn);
      }
      return await fetchRaw(conn, signal);
    } catch (error) {
      await this.#drop(server.address);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  async #drop(address: string): Promise<void> {
    const conn = this.#conns.get(address);
    this.#conns.delete(address);
    await conn?.close().catch(() => {});
  }

  async close(): Promise<void> {
    await Promise.all([...this.#conns.values()].map((c) => c.close()));
    this.#conns.clear();
  }
}

/**
 * The line `--watch` shows while a server cannot be asked:
 * `server 127.0.0.1:6388 unreachable since 12:00:01: connection refused; retrying`.
 *
 * @param address The server's `host:port`.
 * @param since When the outage began.
 * @param error Why the latest attempt failed.
 * @returns The line, ending in a newline.
 */
export function outageLine(address: string, since: Date, error: unknown): string {
  let reason = describeFailure(error);
  const prefix = `cannot connect to ${address}: `;
  if (reason.startsWith(prefix)) reason = reason.slice(prefix.length);
  return `server ${address} unreachable since ${clockTime(since)}: ${reason}; retrying\n`;
}

/**
 * Runs `dflock stats`.
 *
 * @param argv Arguments after `stats`.
 * @returns 0 on success (and after SIGINT/SIGTERM in `--watch`), 1 when a server cannot be
 *   reached or answers with an error (`--watch` shows the outage and retries instead), 2 on a
 *   usage error.
 */
export async function runStats(
  argv: readonly string[],
  io: CliIo,
  deps: StatsDeps = {},
): Promise<number> {
  const parsed = parseOrExit(STATS_COMMAND, argv, io);
  if (typeof parsed === "number") return parsed;
  if (parsed.rest.length > 0) {
    return usageError(STATS_COMMAND, `unexpected argument ${JSON.stringify(parsed.rest[0])}`, io);
  }
  const settings = await clientSettings(parsed.values, io);
  if ("usage" in settings) return usageError(STATS_COMMAND, settings.usage, io);
  if ("failure" in settings) {
    io.writeStderr(`dflock stats: ${settings.failure}\n`);
    return 1;
  }
  const json = boolFlag(parsed.values, "json");
  const watch = boolFlag(parsed.values, "watch");
  const rounds = watch ? numberFlag(parsed.values, "count") ?? Infinity : 1;
  const intervalMs = (numberFlag(parsed.values, "interval") ?? 1) * 1000;

  const stop = new AbortController();
  const removers = watch
    ? [
      io.onSignal("SIGINT", () => stop.abort()),
      io.onSignal("SIGTERM", () => stop.abort()),
    ]
    : [];
  const servers = new Servers(settings);
  /** Servers that failed in `--watch`, and since when. */
  const outages = new Map<string, Date>();
  try {
    for (let round = 0; round < rounds && !stop.signal.aborted; round++) {
      if (round > 0) {
        await sleep(intervalMs, stop.signal);
        if (stop.signal.aborted) break;
      }
      let out = "";
      if (watch && !json) {
        out += deps.clearScreen === true ? "\x1b[H\x1b[2J" : round > 0 ? "\n" : "";
        out += `every ${intervalMs / 1000}s, ${new Date().toISOString()}\n\n`;
      }
      for (const [n, server] of settings.servers.entries()) {
        let raw: string;
        try {
          raw = await servers.stats(server, stop.signal);
        } catch (error) {
          if (stop.signal.aborted) return 0;
          // A refused token will not start working by itself: stop even in --watch.
          if (!watch || error instanceof AuthError) {
            io.writeStdout(out);
            io.writeStderr(`dflock stats: ${describeFailure(error)}\n`);
            return 1;
          }
          const since = outages.get(server.address) ?? new Date();
          outages.set(server.address, since);
          const line = outageLine(server.address, since, error);
          if (json) {
            io.writeStderr(`dflock stats: ${line}`);
          } else {
            out += `${n > 0 ? "\n" : ""}${line}`;
          }
          continue;
        }
        outages.delete(server.address);
        if (json) {
          out += `${raw}\n`;
          continue;
        }
        let snapshot: ServerStats;
        try {
          snapshot = parseStats(JSON.parse(raw) as Record<string, unknown>);
        } catch (error) {
          const reason = error instanceof ProtocolError ? error.message : "not JSON";
          io.writeStderr(`dflock stats: bad stats reply from ${server.address}: ${reason}\n`);
          return 1;
        }
        if (n > 0) out += "\n";
        out += formatStatsTable(server.address, snapshot);
      }
      io.writeStdout(out);
    }
    return 0;
  } finally {
    for (const remove of removers) remove();
    await servers.close();
  }
}

/** Waits `ms`, or less when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
