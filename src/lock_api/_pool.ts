/**
 * A small per-server pool of client connections for {@linkcode DflockdLockApi}: one request
 * at a time per connection, connections that hold leases stay open (and are pinged below the
 * server's read timeout), idle lease-less connections are capped and closed after a while.
 * Internal.
 *
 * @module
 */

import { connect } from "../client/connection.ts";
import type { Connection } from "../client/connection.ts";
import { ping } from "../client/low_level.ts";
import type { ServerEndpoint } from "../client/servers.ts";
import { ConnectionError, LockError } from "../errors.ts";
import type { TlsConnectOptions, TransportAdapter } from "../transport/types.ts";

/**
 * Something held through a pooled connection (a lock whose lease may still run).
 *
 * @example A lease that lives until a deadline
 * ```ts ignore
 * const ref: LeaseHolderRef = { get live() { return performance.now() < deadline; } };
 * entry.leases.add(ref);
 * ```
 */
export interface LeaseHolderRef {
  /** `true` while the server may still hold the lease for this connection. */
  readonly live: boolean;
}

/**
 * One pooled connection.
 *
 * @example Use the connection inside run()
 * ```ts ignore
 * await pool.run(0, (entry: PoolEntry) => low.release(entry.conn, "k", token));
 * ```
 */
export interface PoolEntry {
  /** The connection. */
  readonly conn: Connection;
  /** The server index. */
  readonly index: number;
  /** `true` while one of our requests is in flight on it. */
  busy: boolean;
  /** Leases acquired through this connection and not yet released. */
  readonly leases: Set<LeaseHolderRef>;
}

/**
 * Settings of a {@linkcode ConnectionPool}.
 *
 * @example One local server
 * ```ts ignore
 * const settings: PoolSettings = {
 *   servers: resolveServers({}),
 *   tls: undefined,
 *   authToken: undefined,
 *   connectTimeoutMs: undefined,
 *   transport: undefined,
 *   keepaliveIntervalMs: 10_000,
 *   idleTimeoutMs: 10_000,
 *   maxIdleConnections: 4,
 * };
 * ```
 */
export interface PoolSettings {
  /** The servers. */
  readonly servers: readonly ServerEndpoint[];
  /** TLS settings. */
  readonly tls: boolean | TlsConnectOptions | undefined;
  /** Auth token. */
  readonly authToken: string | undefined;
  /** Connect timeout in ms. */
  readonly connectTimeoutMs: number | undefined;
  /** Transport adapter. */
  readonly transport: TransportAdapter | undefined;
  /** Longest silence of a connection holding leases, in ms. */
  readonly keepaliveIntervalMs: number;
  /** Longest idle time of a lease-less connection, in ms. */
  readonly idleTimeoutMs: number;
  /** Lease-less idle connections kept per server. */
  readonly maxIdleConnections: number;
}

/**
 * Options of {@linkcode ConnectionPool.run}.
 *
 * @example Prefer the connection that acquired the lock
 * ```ts ignore
 * await pool.run(owner.index, (e) => low.release(e.conn, "k", token), { prefer: owner });
 * ```
 */
export interface RunOptions {
  /** Use this entry when it is open and free. */
  prefer?: PoolEntry | undefined;
}

function holdsLeases(entry: PoolEntry): boolean {
  for (const lease of entry.leases) {
    if (lease.live) return true;
    entry.leases.delete(lease);
  }
  return false;
}

/**
 * The pool.
 *
 * @example Send one request on a pooled connection
 * ```ts ignore
 * const pool = new ConnectionPool(settings);
 * const grant = await pool.run(0, (entry) => low.acquire(entry.conn, "k", 0, { leaseTtlS: 5 }));
 * await pool.close();
 * ```
 */
export class ConnectionPool {
  readonly #s: PoolSettings;
  readonly #entries: PoolEntry[][];
  readonly #connecting = new Set<Promise<unknown>>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  /**
   * Creates an empty pool; nothing connects until {@linkcode ConnectionPool.run}.
   *
   * @param settings Servers, connection options and limits.
   */
  constructor(settings: PoolSettings) {
    this.#s = settings;
    this.#entries = settings.servers.map(() => []);
  }

  /** `true` once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Open pooled connections, over all servers. */
  get size(): number {
    let n = 0;
    for (const list of this.#entries) n += list.length;
    return n;
  }

  /**
   * Runs `op` on a free connection to server `index` (a new one if none is free). When a
   * reused connection fails with {@linkcode ConnectionError}, `op` runs once more on a fresh
   * connection (the server had closed the idle connection).
   *
   * @param index The server index.
   * @param op The requests to send.
   * @param options Preferred entry.
   * @returns What `op` returned.
   * @throws {ConnectionError} When the server cannot be reached.
   * @throws {LockError} With code `closed` when the pool is closed.
   */
  async run<T>(
    index: number,
    op: (entry: PoolEntry) => Promise<T>,
    options: RunOptions = {},
  ): Promise<T> {
    let entry = this.#take(index, options.prefer);
    const reused = entry !== undefined;
    entry ??= await this.#open(index);
    try {
      return await op(entry);
    } catch (err) {
      if (!(reused && err instanceof ConnectionError && entry.conn.isClosed)) throw err;
    } finally {
      this.#give(entry);
    }
    const fresh = await this.#open(index);
    try {
      return await op(fresh);
    } finally {
      this.#give(fresh);
    }
  }

  /**
   * Closes every connection (the server then releases what they held) and stops the timer.
   * Idempotent.
   *
   * @returns Resolves once every connection is closed.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopTimer();
    const closing: Promise<void>[] = [];
    for (const list of this.#entries) {
      for (const entry of list.splice(0)) closing.push(entry.conn.close());
    }
    await Promise.all(closing);
    // Connects in progress close their connection themselves once they see `#closed`.
    await Promise.allSettled([...this.#connecting]);
  }

  #take(index: number, prefer: PoolEntry | undefined): PoolEntry | undefined {
    if (this.#closed) throw new LockError("The lock API is closed", "closed");
    const list = this.#entries[index]!;
    let entry: PoolEntry | undefined;
    if (prefer !== undefined && prefer.index === index && this.#usable(prefer)) {
      entry = prefer;
    } else {
      // Prefer connections that must stay open anyway (they hold leases).
      entry = list.find((e) => this.#usable(e) && holdsLeases(e)) ??
        list.find((e) => this.#usable(e));
    }
    if (entry !== undefined) entry.busy = true;
    return entry;
  }

  #usable(entry: PoolEntry): boolean {
    return !entry.busy && !entry.conn.isClosed && this.#entries[entry.index]!.includes(entry);
  }

  async #open(index: number): Promise<PoolEntry> {
    if (this.#closed) throw new LockError("The lock API is closed", "closed");
    const server = this.#s.servers[index]!;
    const pending = connect({
      host: server.host,
      port: server.port,
      tls: this.#s.tls,
      authToken: this.#s.authToken,
      connectTimeoutMs: this.#s.connectTimeoutMs,
      transport: this.#s.transport,
    });
    this.#connecting.add(pending);
    let conn: Connection;
    try {
      conn = await pending;
    } finally {
      this.#connecting.delete(pending);
    }
    if (this.#closed) {
      await conn.close();
      throw new LockError("The lock API is closed", "closed");
    }
    const entry: PoolEntry = { conn, index, busy: true, leases: new Set() };
    this.#entries[index]!.push(entry);
    void conn.closed.then(() => this.#remove(entry));
    this.#startTimer();
    return entry;
  }

  #remove(entry: PoolEntry): void {
    const list = this.#entries[entry.index]!;
    const i = list.indexOf(entry);
    if (i >= 0) list.splice(i, 1);
    if (this.size === 0) this.#stopTimer();
  }

  #discard(entry: PoolEntry): void {
    this.#remove(entry);
    void entry.conn.close();
  }

  #give(entry: PoolEntry): void {
    entry.busy = false;
    if (entry.conn.isClosed) {
      this.#remove(entry);
      return;
    }
    if (this.#closed || holdsLeases(entry)) return;
    let idle = 0;
    for (const e of this.#entries[entry.index]!) {
      if (!e.busy && !e.conn.isClosed && !holdsLeases(e)) idle++;
    }
    if (idle > this.#s.maxIdleConnections) this.#discard(entry);
  }

  #startTimer(): void {
    if (this.#timer !== undefined || this.#closed) return;
    const period = Math.max(
      20,
      Math.min(this.#s.keepaliveIntervalMs, this.#s.idleTimeoutMs) / 2,
    );
    this.#timer = setInterval(() => this.#tick(), period);
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Pings silent lease holders, closes idle lease-less connections. */
  #tick(): void {
    for (const list of this.#entries) {
      for (const entry of [...list]) {
        if (entry.busy || entry.conn.isClosed) continue;
        if (holdsLeases(entry)) {
          if (entry.conn.idleMs >= this.#s.keepaliveIntervalMs) this.#keepalive(entry);
        } else if (entry.conn.idleMs >= this.#s.idleTimeoutMs) {
          this.#discard(entry);
        }
      }
    }
  }

  #keepalive(entry: PoolEntry): void {
    entry.busy = true;
    // `ok` (newer servers) and `error` (v1.10) both mean alive; anything else: drop it.
    ping(entry.conn).then(
      () => this.#give(entry),
      () => {
        entry.busy = false;
        this.#discard(entry);
      },
    );
  }
}
