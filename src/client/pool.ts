/**
 * The connections of a {@linkcode DflockClient}, per server: one shared, pipelined connection
 * for the requests that never block (`l`/`sl` with timeout 0, renew, release, `ping`), and a set
 * of exclusive connections for requests that may block (an acquire that has to wait, `e`/`w`),
 * which hold what they acquired until it is released. Idle connections stay warm (TLS done,
 * authenticated), are capped per server, closed after `idleTimeoutMs` (below the server's read
 * timeout) and never keep the process alive; connections that hold something are pinged when
 * they would otherwise stay silent for `keepaliveIntervalMs`. Internal.
 *
 * @module
 */

import { ping } from "./low_level.ts";
import { connect } from "./connection.ts";
import type { Connection } from "./connection.ts";
import type { ServerEndpoint } from "./servers.ts";
import { LockError } from "../errors.ts";
import type { TlsConnectOptions, TransportAdapter } from "../transport/types.ts";
import { unrefTimer } from "../transport/timers.ts";
import type { TimerHandle } from "../transport/timers.ts";

/** What a pool needs to open and look after connections. */
export interface PoolSettings {
  readonly servers: readonly ServerEndpoint[];
  readonly tls: boolean | TlsConnectOptions | undefined;
  readonly authToken: string | undefined;
  readonly connectTimeoutMs: number | undefined;
  readonly transport: TransportAdapter | undefined;
  /** Longest silence of an open connection before it is pinged, in ms. */
  readonly keepaliveIntervalMs: number;
  /** An idle connection that holds nothing is closed after this many ms unused. */
  readonly idleTimeoutMs: number;
  /** Idle exclusive connections kept per server. */
  readonly maxIdlePerServer: number;
}

/** One connection of the pool. */
export class PooledConnection {
  readonly conn: Connection;
  readonly server: number;
  /** The server's pipelined connection (never handed out exclusively). */
  readonly shared: boolean;
  /** Leases and queue places held through this connection that signal when it drops. */
  held = 0;
  /** Leases that are not renewed (they run out by themselves), taken and not yet released. */
  unrenewed = 0;
  /** Until then (performance.now() ms), those leases may still be held here. */
  holdUntil = 0;
  /** When it was last handed out or given back (ms); pings do not count. */
  lastUsed = performance.now();
  /** Requests sent on it for callers (not pings). */
  uses = 0;
  readonly #onLost = new Set<() => void>();

  constructor(conn: Connection, server: number, shared: boolean) {
    this.conn = conn;
    this.server = server;
    this.shared = shared;
  }

  /** `true` while something may still be held through it. */
  get holding(): boolean {
    return this.held > 0 || (this.unrenewed > 0 && performance.now() < this.holdUntil);
  }

  /** Calls `listener` once when the connection closes; returns the unsubscribe function. */
  onLost(listener: () => void): () => void {
    this.#onLost.add(listener);
    return () => this.#onLost.delete(listener);
  }

  /** Runs the loss listeners (once). */
  lost(): void {
    const listeners = [...this.#onLost];
    this.#onLost.clear();
    for (const listener of listeners) listener();
  }
}

/**
 * Counters of one server's connections, as `DflockClient.stats()` reports them.
 *
 * @example Is the shared connection up?
 * ```ts
 * import { DflockClient } from "@dflock/dflock";
 * import type { ServerPoolStats } from "@dflock/dflock";
 *
 * await using client = new DflockClient();
 * const first: ServerPoolStats | undefined = client.stats().servers[0];
 * console.log(first?.shared, first?.open);
 * ```
 */
export interface ServerPoolStats {
  /** The server, `host:port`. */
  address: string;
  /** Open connections (shared, exclusive in use, idle). */
  open: number;
  /** Idle exclusive connections. */
  idle: number;
  /** Exclusive connections in use (waiting, queued or holding). */
  active: number;
  /** Whether the shared pipelined connection is open. */
  shared: boolean;
  /** Connections opened since the client was created (each one TLS handshake and `auth`). */
  opened: number;
}

interface ServerSlot {
  shared: PooledConnection | undefined;
  connecting: Promise<PooledConnection> | undefined;
  idle: PooledConnection[];
  active: Set<PooledConnection>;
  opened: number;
}

const CLOSED_MESSAGE = "The client is closed";

/** The pool. */
export class ConnectionPool {
  readonly settings: PoolSettings;
  readonly #slots: ServerSlot[];
  readonly #opening = new Set<Promise<unknown>>();
  #timer: TimerHandle | undefined;
  #closed = false;

  constructor(settings: PoolSettings) {
    this.settings = settings;
    this.#slots = settings.servers.map(() => ({
      shared: undefined,
      connecting: undefined,
      idle: [],
      active: new Set(),
      opened: 0,
    }));
  }

  get closed(): boolean {
    return this.#closed;
  }

  #check(): void {
    if (this.#closed) throw new LockError(CLOSED_MESSAGE, "closed");
  }

  /**
   * The shared connection to server `index`, opened on first use (concurrent callers wait for
   * the same connect).
   */
  shared(index: number, signal?: AbortSignal): Promise<PooledConnection> {
    this.#check();
    const slot = this.#slots[index]!;
    const current = slot.shared;
    if (current !== undefined && !current.conn.isClosed) {
      current.lastUsed = performance.now();
      return Promise.resolve(current);
    }
    slot.connecting ??= this.#open(index, true).then((pc) => {
      slot.connecting = undefined;
      slot.shared = pc;
      return pc;
    }, (err) => {
      slot.connecting = undefined;
      throw err;
    });
    return signal === undefined ? slot.connecting : raceAbort(slot.connecting, signal);
  }

  /** An idle exclusive connection to server `index`, or a new one. */
  async exclusive(index: number, signal?: AbortSignal): Promise<PooledConnection> {
    this.#check();
    const slot = this.#slots[index]!;
    for (;;) {
      const pc = slot.idle.pop();
      if (pc === undefined) break;
      if (pc.conn.isClosed) continue;
      pc.lastUsed = performance.now();
      slot.active.add(pc);
      return pc;
    }
    const pc = await this.#open(index, false, signal);
    slot.active.add(pc);
    return pc;
  }

  /**
   * Takes back an exclusive connection known to be clean (nothing held, nothing queued, no
   * reply outstanding): it joins the idle set, or is closed when the set is full.
   */
  giveBack(pc: PooledConnection): void {
    if (pc.shared) return;
    const slot = this.#slots[pc.server]!;
    slot.active.delete(pc);
    if (
      this.#closed || pc.conn.isClosed || pc.conn.pendingCount > 0 ||
      pc.holding || slot.idle.length >= this.settings.maxIdlePerServer
    ) {
      this.#close(pc);
      return;
    }
    pc.lastUsed = performance.now();
    slot.idle.push(pc);
  }

  /** Closes a connection whose state is unknown or unwanted; what it held is released. */
  discard(pc: PooledConnection): void {
    const slot = this.#slots[pc.server]!;
    if (slot.shared === pc) slot.shared = undefined;
    slot.active.delete(pc);
    const i = slot.idle.indexOf(pc);
    if (i >= 0) slot.idle.splice(i, 1);
    this.#close(pc);
  }

  #close(pc: PooledConnection): void {
    void pc.conn.close();
  }

  stats(): ServerPoolStats[] {
    return this.#slots.map((slot, i) => {
      const shared = slot.shared !== undefined && !slot.shared.conn.isClosed;
      const idle = slot.idle.filter((pc) => !pc.conn.isClosed).length;
      return {
        address: this.settings.servers[i]!.address,
        open: (shared ? 1 : 0) + idle + slot.active.size,
        idle,
        active: slot.active.size,
        shared,
        opened: slot.opened,
      };
    });
  }

  /** Closes every connection (the servers then release what they held). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopTimer();
    const closing: Promise<void>[] = [];
    for (const slot of this.#slots) {
      const all = [...slot.idle, ...slot.active];
      if (slot.shared !== undefined) all.push(slot.shared);
      slot.idle = [];
      slot.active.clear();
      slot.shared = undefined;
      for (const pc of all) closing.push(pc.conn.close());
    }
    await Promise.all(closing);
    // Connects in progress close their connection themselves once they see the pool closed.
    await Promise.allSettled([...this.#opening]);
  }

  async #open(index: number, shared: boolean, signal?: AbortSignal): Promise<PooledConnection> {
    const server = this.settings.servers[index]!;
    const pending = connect({
      host: server.host,
      port: server.port,
      tls: this.settings.tls,
      authToken: this.settings.authToken,
      connectTimeoutMs: this.settings.connectTimeoutMs,
      transport: this.settings.transport,
      unrefWhenIdle: true,
      // A shared connect serves several callers: one caller's abort must not cancel it.
      signal: shared ? undefined : signal,
    });
    this.#opening.add(pending);
    let conn: Connection;
    try {
      conn = await pending;
    } finally {
      this.#opening.delete(pending);
    }
    if (this.#closed) {
      await conn.close();
      throw new LockError(CLOSED_MESSAGE, "closed");
    }
    const slot = this.#slots[index]!;
    slot.opened++;
    const pc = new PooledConnection(conn, index, shared);
    void conn.closed.then(() => {
      if (slot.shared === pc) slot.shared = undefined;
      slot.active.delete(pc);
      const i = slot.idle.indexOf(pc);
      if (i >= 0) slot.idle.splice(i, 1);
      pc.lost();
    });
    this.#startTimer();
    return pc;
  }

  #startTimer(): void {
    if (this.#timer !== undefined || this.#closed) return;
    const s = this.settings;
    const period = Math.max(20, Math.min(s.keepaliveIntervalMs, s.idleTimeoutMs) / 2);
    this.#timer = unrefTimer(setInterval(() => this.#tick(), period));
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Pings silent connections that hold something; closes idle ones unused too long. */
  #tick(): void {
    const now = performance.now();
    let open = 0;
    for (const slot of this.#slots) {
      // Idle connections are not pinged: they close before the server's read timeout would
      // close them, and a server that is shutting down is not kept waiting for them.
      for (const pc of [...slot.idle]) {
        if (now - pc.lastUsed >= this.settings.idleTimeoutMs) this.discard(pc);
      }
      const shared = slot.shared;
      if (shared !== undefined) {
        if (shared.holding) {
          this.#keepalive(shared);
        } else if (
          now - shared.lastUsed >= this.settings.idleTimeoutMs && shared.conn.pendingCount === 0
        ) {
          this.discard(shared);
        }
      }
      for (const pc of slot.active) this.#keepalive(pc);
      open += slot.idle.length + slot.active.size + (slot.shared === undefined ? 0 : 1);
    }
    if (open === 0) this.#stopTimer();
  }

  #keepalive(pc: PooledConnection): void {
    const conn = pc.conn;
    if (conn.isClosed || conn.pendingCount > 0) return;
    if (conn.idleMs < this.settings.keepaliveIntervalMs - 5) return;
    // `ok` (newer servers) and `error` (v1.10) both mean alive; a failure closes it.
    ping(conn).catch(() => this.discard(pc));
  }
}

/** Rejects with `signal.reason` when `signal` aborts first; `promise` goes on regardless. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then((value) => {
      signal.removeEventListener("abort", onAbort);
      resolve(value);
    }, (err) => {
      signal.removeEventListener("abort", onAbort);
      reject(err);
    });
  });
}
