/**
 * The embeddable dflockd-compatible server: option validation, the accept loop, connection
 * ids and limits, the lease sweep and idle GC timers, and graceful shutdown
 * (docs/protocol.md 5.3 and sections 6, 11, 12).
 *
 * @module
 */

import type { ServerStats } from "../protocol/stats.ts";
import { encodeUtf8 } from "../protocol/utf8.ts";
import { getAdapter } from "../transport/auto.ts";
import { formatAddr } from "../transport/_errors.ts";
import { readTextFile } from "../runtime/files.ts";
import type { Listener, NetAddr, TlsListenOptions, TransportAdapter } from "../transport/types.ts";
import { VERSION } from "../version.ts";
import { type ConnectionHost, ServerConnection } from "./connection.ts";
import { Deadlines } from "./deadlines.ts";
import { type HttpServer, serveHttp } from "./http.ts";
import { httpApi, type HttpApiHost, metricsText } from "./http_api.ts";
import { LockTable } from "./lock_table.ts";
import { ServerMetrics } from "./metrics.ts";
import { type HttpOptions, SERVER_DEFAULTS, type ServerOptions } from "./options.ts";
import {
  checkStartup,
  findHttpPortViolation,
  findSettingViolation,
  resolveSettings,
} from "./settings.ts";
import { createTokenGenerator } from "./token.ts";
import { readAuthTokenFile } from "./auth_token_file.ts";

/**
 * {@linkcode ServerOptions} with every default filled in and every value validated.
 */
export interface ResolvedServerOptions {
  /** Bind address. */
  host: string;
  /** TCP port, 0..65535. */
  port: number;
  /** Default lease, seconds (> 0). */
  defaultLeaseTtl: number;
  /** Sweep interval, seconds (> 0). */
  leaseSweepInterval: number;
  /** GC interval, seconds (> 0). */
  gcInterval: number;
  /** Idle age for GC, seconds (> 0). */
  gcMaxIdle: number;
  /** Maximum keys (integer > 0). */
  maxLocks: number;
  /** Maximum connections, 0 = unlimited. */
  maxConnections: number;
  /** Maximum waiters per key, 0 = unlimited. */
  maxWaiters: number;
  /** Read timeout per line, seconds (> 0). */
  readTimeout: number;
  /** Write timeout, seconds (>= 0, 0 = none). */
  writeTimeout: number;
  /** Drain timeout, seconds (>= 0, 0 = forever). */
  shutdownTimeout: number;
  /** Release held slots on disconnect. */
  autoReleaseOnDisconnect: boolean;
  /** Certificate path, if any. */
  tlsCert: string | undefined;
  /** Key path, if any. */
  tlsKey: string | undefined;
  /** PEM text, if given. */
  tls: TlsListenOptions | undefined;
  /** Auth token (empty strings count as unset). */
  authToken: string | undefined;
  /** Auth token file, if any. */
  authTokenFile: string | undefined;
  /** Debug logging. */
  debug: boolean;
  /** Log sink (a no-op unless {@linkcode ServerOptions.log} was given). */
  log: (line: string) => void;
  /** Transport adapter, if given. */
  transport: TransportAdapter | undefined;
  /** The HTTP listener's address (host filled in), or `undefined` when off. */
  http: Required<HttpOptions> | undefined;
}

/** A running server. */
export interface Server extends AsyncDisposable {
  /** The bound address (with the real port when 0 was asked for). */
  readonly addr: NetAddr;
  /** Resolves once the server has shut down completely. */
  readonly closed: Promise<void>;
  /**
   * Graceful shutdown, like SIGTERM on the Go server: stop accepting, answer blocked
   * acquires and waits `error`, keep serving open connections (anything that would block
   * answers `error`), stop the sweep and GC, wait for every connection to close and
   * force-close them after `shutdownTimeout` seconds (0 = wait forever).
   *
   * With `{ force: true }` the remaining connections are closed at once (their clients see
   * the connection end and the server releases what they held), whether or not a graceful
   * close has already started. Calling `close` again is harmless.
   *
   * @param options `force: true` closes every connection now.
   * @returns Resolves like {@linkcode Server.closed}.
   */
  close(options?: { force?: boolean }): Promise<void>;
  /**
   * The current `stats` snapshot.
   *
   * @returns What a `stats` request would report now, keys as text (decoded from UTF-8).
   */
  stats(): ServerStats;
  /**
   * The metrics in the Prometheus text format, as `GET /metrics` serves them (for embedding
   * the server behind an HTTP server of your own).
   *
   * @returns The exposition text (format 0.0.4).
   */
  metrics(): string;
  /** The HTTP listener's bound address, or `undefined` when `http` was not given. */
  readonly httpAddr: NetAddr | undefined;
}

const noLog = (_line: string): void => {};

/**
 * Fills in defaults and validates server options in the Go server's order. Durations may
 * be fractional seconds (the wire protocol itself only carries whole seconds); counts and
 * the port must be integers.
 *
 * @throws {RangeError} For an out-of-range value, with the Go message, e.g.
 *   `--max-locks must be > 0 (got 0)`.
 * @throws {TypeError} When only one of `tlsCert` / `tlsKey` is given.
 *
 * @example Fill in the defaults
 * ```ts
 * import { resolveServerOptions } from "@dflock/dflock/server";
 * import assert from "node:assert/strict";
 *
 * const options = resolveServerOptions({ port: 0, maxLocks: 100 });
 * assert.equal(options.maxLocks, 100);
 * assert.equal(options.defaultLeaseTtl, 33);
 * assert.throws(() => resolveServerOptions({ maxLocks: 0 }), RangeError);
 * ```
 */
export function resolveServerOptions(options: ServerOptions = {}): ResolvedServerOptions {
  const r: ResolvedServerOptions = {
    ...resolveSettings(options),
    tls: options.tls,
    log: options.log ?? noLog,
    transport: options.transport,
    http: options.http === undefined ? undefined : {
      port: options.http.port,
      host: options.http.host || (options.host ?? SERVER_DEFAULTS.host),
    },
  };
  const violation = findSettingViolation(r);
  if (violation !== undefined) throw new RangeError(violation.message);
  const httpViolation = r.http === undefined
    ? undefined
    : findHttpPortViolation(r.port, r.http.port);
  if (httpViolation !== undefined) throw new RangeError(httpViolation.message);
  const startupError = r.tls === undefined ? checkStartup(r) : undefined;
  if (startupError !== undefined) throw new TypeError(startupError);
  return r;
}

/**
 * Starts a server: validates the options, reads the TLS and auth-token files, binds the
 * listening socket and serves until {@linkcode Server.close}.
 *
 * @param options Server settings (defaults as the Go server).
 * @throws {RangeError} For invalid options (see {@linkcode resolveServerOptions}).
 * @throws {ConnectionError} If the address cannot be bound or the certificate is unusable.
 *
 * @example Serve on a free port and stop again
 * ```ts
 * import { serve } from "@dflock/dflock/server";
 *
 * await using server = await serve({ port: 0 });
 * console.log(server.addr.port);
 * ```
 */
export async function serve(options: ServerOptions = {}): Promise<Server> {
  const resolved = resolveServerOptions(options);
  let tls = resolved.tls;
  if (tls === undefined && resolved.tlsCert !== undefined && resolved.tlsKey !== undefined) {
    tls = {
      cert: await readTextFile(resolved.tlsCert),
      key: await readTextFile(resolved.tlsKey),
    };
  }
  let secret = resolved.authToken !== undefined ? encodeUtf8(resolved.authToken) : "";
  if (secret === "" && resolved.authTokenFile !== undefined) {
    secret = encodeUtf8(await readAuthTokenFile(resolved.authTokenFile));
  }
  const adapter = resolved.transport ?? await getAdapter();
  const tlsOption = tls !== undefined ? { tls } : {};
  const core = new ServerCore(resolved, secret === "" ? null : secret);
  // The HTTP port comes up first and answers /ready with 503 until the lock port is bound.
  let http: HttpServer | undefined;
  if (resolved.http !== undefined) {
    const httpListener = await adapter.listen({
      hostname: resolved.http.host,
      port: resolved.http.port,
      ...tlsOption,
    });
    http = serveHttp(httpListener, httpApi(core), {
      onRefusal: (method, status) => core.metrics.countHttp(method, "unmatched", status, 0),
    });
    resolved.log(`http listening on ${formatAddr(http.addr)}`);
  }
  let listener: Listener;
  try {
    listener = await adapter.listen({
      hostname: resolved.host,
      port: resolved.port,
      ...tlsOption,
    });
  } catch (err) {
    await http?.close();
    throw err;
  }
  return new DflockServer(listener, core, http);
}

/**
 * The state a server and its HTTP endpoints share from the start: the lock table, the counters,
 * the clock and the phase (`starting` until the lock port is bound).
 */
class ServerCore implements HttpApiHost {
  readonly options: ResolvedServerOptions;
  readonly authSecret: string | null;
  readonly metrics: ServerMetrics = new ServerMetrics();
  readonly table: LockTable;
  readonly version = VERSION;
  readonly startedAt = performance.now();
  /** Set once the lock port serves. */
  server: DflockServer | undefined;

  constructor(options: ResolvedServerOptions, authSecret: string | null) {
    this.options = options;
    this.authSecret = authSecret;
    this.table = new LockTable({
      maxLocks: options.maxLocks,
      maxWaiters: options.maxWaiters,
      defaultLeaseMs: options.defaultLeaseTtl * 1000,
      gcMaxIdleMs: options.gcMaxIdle * 1000,
      newToken: createTokenGenerator(),
      counters: this.metrics.table,
    });
  }

  now(): number {
    return performance.now();
  }

  phase(): "starting" | "ready" | "draining" {
    const server = this.server;
    return server === undefined ? "starting" : server.draining ? "draining" : "ready";
  }

  connectionCount(): number {
    return this.server?.connectionCount ?? 0;
  }
}

/**
 * Serves on an already bound listener (TLS, if any, is the listener's business). The
 * auth-token file and TLS paths are not read here: pass `authToken` directly.
 *
 * @throws {RangeError} For invalid options.
 * @throws {TypeError} When `http` is given (only {@linkcode serve} opens an HTTP port).
 *
 * @example Serve on a listener bound by the transport layer
 * ```ts
 * import { startServer } from "@dflock/dflock/server";
 * import { listen } from "@dflock/dflock/transport";
 *
 * const listener = await listen({ hostname: "127.0.0.1", port: 0 });
 * await using server = startServer(listener, { authToken: "s3cret" });
 * console.log(`listening on port ${server.addr.port}`);
 * ```
 */
export function startServer(listener: Listener, options: ServerOptions = {}): Server {
  if (options.http !== undefined) {
    throw new TypeError(
      "startServer serves a listener you bound and opens no HTTP port: use serve({ http }), " +
        "or serve server.metrics() from your own HTTP server",
    );
  }
  const resolved = resolveServerOptions({ ...options, tlsCert: undefined, tlsKey: undefined });
  const secret = resolved.authToken !== undefined ? encodeUtf8(resolved.authToken) : null;
  return new DflockServer(listener, new ServerCore(resolved, secret));
}

class DflockServer implements Server {
  readonly addr: NetAddr;
  readonly httpAddr: NetAddr | undefined;
  readonly closed: Promise<void>;
  readonly #core: ServerCore;
  readonly #metrics: ServerMetrics;
  readonly #http: HttpServer | undefined;
  readonly #listener: Listener;
  readonly #options: ResolvedServerOptions;
  readonly #table: LockTable;
  readonly #conns: Set<ServerConnection> = new Set();
  readonly #host: ConnectionHost;
  #resolveClosed!: () => void;
  #nextId = 0;
  #draining = false;
  #acceptDone = false;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  #gcTimer: ReturnType<typeof setInterval> | undefined;
  #forceTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(listener: Listener, core: ServerCore, http?: HttpServer) {
    const options = core.options;
    this.#listener = listener;
    this.#options = options;
    this.#core = core;
    this.#metrics = core.metrics;
    this.#http = http;
    this.addr = listener.addr;
    this.httpAddr = http?.addr;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    const table = core.table;
    this.#table = table;
    const now = (): number => performance.now();
    this.#host = {
      table,
      autoRelease: options.autoReleaseOnDisconnect,
      readTimeoutMs: options.readTimeout * 1000,
      writeTimeoutMs: options.writeTimeout * 1000,
      authSecret: core.authSecret,
      defaultLeaseS: Math.trunc(options.defaultLeaseTtl),
      now,
      deadlines: new Deadlines(now),
      isDraining: () => this.#draining,
      connectionCount: () => this.#conns.size,
      metrics: this.#metrics,
      ended: (conn) => {
        this.#conns.delete(conn);
        if (options.debug) {
          options.log(`connection ${conn.id} closed (${formatAddr(conn.remoteAddr)})`);
        }
        this.#checkDrained();
      },
    };
    this.#sweepTimer = setInterval(() => table.sweep(now()), options.leaseSweepInterval * 1000);
    this.#gcTimer = setInterval(() => table.gc(now()), options.gcInterval * 1000);
    options.log(`listening on ${formatAddr(this.addr)}`);
    core.server = this;
    void this.#acceptLoop();
  }

  /** True once a shutdown has begun. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.#conns.size;
  }

  async #acceptLoop(): Promise<void> {
    const max = this.#options.maxConnections;
    const debug = this.#options.debug;
    try {
      for await (const transport of this.#listener) {
        if (this.#draining || (max > 0 && this.#conns.size >= max)) {
          if (this.#draining) this.#metrics.connectionsRejectedDraining++;
          else this.#metrics.connectionsRejectedLimit++;
          void transport.close().catch(() => {});
          continue;
        }
        this.#metrics.connectionsAccepted++;
        const id = ++this.#nextId;
        const conn = new ServerConnection(transport, id, this.#host);
        this.#conns.add(conn);
        if (debug) this.#options.log(`connection ${id} from ${formatAddr(transport.remoteAddr)}`);
        // The connection reports its end through the host's `ended`: no callback per connection.
        void conn.run();
      }
    } catch (error) {
      if (!this.#draining) this.#options.log(`accept failed: ${String(error)}`);
    }
    this.#acceptDone = true;
    this.#checkDrained();
  }

  #checkDrained(): void {
    if (!this.#draining || !this.#acceptDone || this.#conns.size > 0) return;
    if (this.#forceTimer !== undefined) clearTimeout(this.#forceTimer);
    this.#forceTimer = undefined;
    // Every connection took its deadline away as it finished; nothing may keep the process alive.
    this.#host.deadlines.clear();
    // The HTTP port answers /ready with 503 through the drain and goes last.
    if (this.#http === undefined) this.#resolveClosed();
    else void this.#http.close().finally(this.#resolveClosed);
  }

  close(options: { force?: boolean } = {}): Promise<void> {
    if (!this.#draining) {
      this.#draining = true;
      clearInterval(this.#sweepTimer);
      clearInterval(this.#gcTimer);
      this.#sweepTimer = undefined;
      this.#gcTimer = undefined;
      void this.#listener.close().catch(() => {}).then(() => {
        // Some adapters end iteration only on the next accept; do not wait for that.
        this.#acceptDone = true;
        this.#checkDrained();
      });
      for (const conn of this.#conns) conn.drain();
      const timeout = this.#options.shutdownTimeout;
      if (timeout > 0) {
        this.#forceTimer = setTimeout(
          () => this.#forceCloseAll(),
          Math.min(timeout * 1000, 0x7fffffff),
        );
      }
      this.#checkDrained();
    }
    if (options.force === true) this.#forceCloseAll();
    return this.closed;
  }

  /** Closes every remaining connection now; `#checkDrained` then resolves `closed`. */
  #forceCloseAll(): void {
    if (this.#forceTimer !== undefined) clearTimeout(this.#forceTimer);
    this.#forceTimer = undefined;
    for (const conn of this.#conns) void conn.forceClose();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  stats(): ServerStats {
    return this.#table.textStats(performance.now(), this.#conns.size);
  }

  metrics(): string {
    return metricsText(this.#core);
  }
}
