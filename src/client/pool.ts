/**
 * The connections of a {@linkcode DflockClient}, per server: one shared, pipelined connection
 * for the requests that never block (`l`/`sl` with timeout 0, renew, release, `ping`), and a set
 * of exclusive connections for requests that may block (an acquire that has to wait, `e`/`w`),
 * which hold what they acquired until it is released. Idle connections stay warm (TLS done,
 * authenticated), are capped per server, closed after `idleTimeoutMs` (below the server's read
 * timeout) and never keep the process alive; connections that hold something are pinged when
 * they would otherwise stay silent for `keepaliveIntervalMs`, and a request that gets no reply
 * within `requestTimeoutMs` (beyond its own blocking time) closes its connection. Internal.
 *
 * @module
 */

import { ping } from "./low_level.ts";
import { connect } from "./connection.ts";
import type { Connection } from "./connection.ts";
import type { ServerEndpoint } from "./servers.ts";
import { DflockError, ProtocolError } from "../errors.ts";
import { STATUS } from "../protocol/commands.ts";
import type { TlsConnectOptions, TransportAdapter } from "../transport/types.ts";
import { unrefTimer } from "../runtime/timers.ts";
import type { TimerHandle } from "../runtime/timers.ts";

/** What a pool needs to open and look after connections. */
export interface PoolSettings {
  readonly servers: readonly ServerEndpoint[];
  readonly tls: boolean | TlsConnectOptions | undefined;
  readonly authToken: string | undefined;
  readonly connectTimeoutMs: number | undefined;
  readonly transport: TransportAdapter | undefined;
  /**
   * Longest silence of an open connection before it is pinged, in ms (lowered when a server
   * turns out to close silent connections sooner).
   */
  readonly keepaliveIntervalMs: number;
  /** Longest wait for a reply beyond a request's own blocking time, in ms. */
  readonly requestTimeoutMs: number;
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
  /** The pool closed it on purpose (it was not lost). */
  closing = false;
  readonly #onLost = new Set<(reason: DflockError) => void>();
  #lostReason: DflockError | undefined;

  constructor(conn: Connection, server: number, shared: boolean) {
    this.conn = conn;
    this.server = server;
    this.shared = shared;
  }

  /** `true` while something may still be held through it. */
  get holding(): boolean {
    return this.held > 0 || (this.unrenewed > 0 && performance.now() < this.holdUntil);
  }

  /**
   * Calls `listener` once, synchronously, when the connection closes (by either side, before
   * the close has completed); returns the unsubscribe function. A listener added after the
   * close (a grant read just before it) is called in a microtask.
   */
  onLost(listener: (reason: DflockError) => void): () => void {
    const reason = this.#lostReason;
    if (reason !== undefined) {
      queueMicrotask(() => listener(reason));
      return () => {};
    }
    this.#onLost.add(listener);
    return () => this.#onLost.delete(listener);
  }

  /** Runs the loss listeners (once). */
  lost(reason: DflockError): void {
    this.#lostReason = reason;
    const listeners = [...this.#onLost];
    this.#onLost.clear();
    for (const listener of listeners) listener(reason);
  }
}

/** Counters of one server's connections, as `DflockClient.stats()` reports them. */
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

const CLOSED_MESSAGE = "The client is closed (close() was called): use a new DflockClient";

/** The least keepalive interval the pool lowers itself to, in ms. */
const MIN_KEEPALIVE_MS = 250;

function newSlot(): ServerSlot {
  return { shared: undefined, connecting: undefined, idle: [], active: new Set(), opened: 0 };
}

/** The pool. */
export class ConnectionPool {
  readonly settings: PoolSettings;
  readonly #servers: ServerEndpoint[];
  readonly #slots: ServerSlot[];
  #keepaliveMs: number;
  readonly #opening = new Set<Promise<unknown>>();
  #timer: TimerHandle | undefined;
  #closed = false;

  constructor(settings: PoolSettings) {
    this.settings = settings;
    this.#servers = [...settings.servers];
    this.#slots = settings.servers.map(newSlot);
    this.#keepaliveMs = settings.keepaliveIntervalMs;
  }

  /** The servers: the configured ones, then those learnt from leader redirects. */
  get servers(): readonly ServerEndpoint[] {
    return this.#servers;
  }

  /** The keepalive interval in force, in ms (see {@linkcode PoolSettings.keepaliveIntervalMs}). */
  get keepaliveIntervalMs(): number {
    return this.#keepaliveMs;
  }

  /** The index of the server with this `host:port`, or -1. */
  indexOf(address: string): number {
    return this.#servers.findIndex((s) => s.address === address);
  }

  /** Adds a server (a cluster member learnt from a redirect); returns its index. */
  addServer(endpoint: ServerEndpoint): number {
    this.#servers.push(endpoint);
    this.#slots.push(newSlot());
    return this.#servers.length - 1;
  }

  get closed(): boolean {
    return this.#closed;
  }

  #check(): void {
    if (this.#closed) throw new DflockError(CLOSED_MESSAGE, "closed");
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
    pc.closing = true;
    void pc.conn.close();
  }

  stats(): ServerPoolStats[] {
    return this.#slots.map((slot, i) => {
      const shared = slot.shared !== undefined && !slot.shared.conn.isClosed;
      const idle = slot.idle.filter((pc) => !pc.conn.isClosed).length;
      return {
        address: this.#servers[i]!.address,
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
      for (const pc of all) {
        pc.closing = true;
        closing.push(pc.conn.close());
      }
    }
    await Promise.all(closing);
    // Connects in progress close their connection themselves once they see the pool closed.
    await Promise.allSettled([...this.#opening]);
  }

  async #open(index: number, shared: boolean, signal?: AbortSignal): Promise<PooledConnection> {
    const server = this.#servers[index]!;
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
      throw new DflockError(CLOSED_MESSAGE, "closed");
    }
    const slot = this.#slots[index]!;
    slot.opened++;
    const pc = new PooledConnection(conn, index, shared);
    conn.onClose((reason, idle) => {
      if (slot.shared === pc) slot.shared = undefined;
      slot.active.delete(pc);
      const i = slot.idle.indexOf(pc);
      if (i >= 0) slot.idle.splice(i, 1);
      if (idle && pc.holding && !pc.closing) this.#learnReadTimeout(pc, reason);
      pc.lost(reason);
    });
    this.#startTimer();
    return pc;
  }

  /**
   * A server that closes a silent connection writes `error` first (its read timeout,
   * docs/protocol.md 2.4). When that happens to a connection that held something, sooner than the
   * keepalive interval, the pool pings at half that silence from then on.
   */
  #learnReadTimeout(pc: PooledConnection, reason: DflockError): void {
    if (!(reason instanceof ProtocolError) || reason.line?.trim() !== STATUS.error) return;
    const silentMs = pc.conn.idleMs;
    if (silentMs >= this.#keepaliveMs) return;
    this.#keepaliveMs = Math.max(MIN_KEEPALIVE_MS, Math.floor(silentMs / 2));
    this.#stopTimer();
    this.#startTimer();
  }

  #startTimer(): void {
    if (this.#timer !== undefined || this.#closed) return;
    const s = this.settings;
    const period = Math.max(
      20,
      Math.min(this.#keepaliveMs / 2, s.idleTimeoutMs / 2, s.requestTimeoutMs / 4),
    );
    this.#timer = unrefTimer(setInterval(() => this.#tick(), period));
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Closes connections whose replies are overdue; pings silent connections that hold
   * something; closes idle ones unused too long.
   */
  #tick(): void {
    const now = performance.now();
    const replyMs = this.settings.requestTimeoutMs;
    let open = 0;
    for (const slot of this.#slots) {
      if (slot.shared !== undefined) slot.shared.conn.closeIfUnanswered(replyMs, now);
      for (const pc of [...slot.active]) pc.conn.closeIfUnanswered(replyMs, now);
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
    if (conn.idleMs < this.#keepaliveMs - 5) return;
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
