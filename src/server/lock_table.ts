/**
 * The server's lock state as a pure state machine (docs/protocol.md sections 4 to 7): resources
 * with their holders and FIFO queues, per-connection state, leases, eviction, sweep and GC.
 *
 * Every method takes the current time `now` in milliseconds (a monotonic clock); the table
 * has no timers and does no I/O. A blocked waiter is told about its grant through its
 * `onGrant` callback, synchronously, inside the call that freed the slot.
 *
 * @module
 */

import type { IdleKeyInfo, LockInfo, SemaphoreInfo, ServerStats } from "../protocol/stats.ts";
import { durationSeconds } from "../protocol/go_text.ts";
import { decodeUtf8 } from "../protocol/utf8.ts";
import { kindOfLimit, TableCounters } from "./metrics.ts";

/** Settings of a {@linkcode LockTable}. */
export interface LockTableOptions {
  /** Maximum number of keys (resources), idle ones included; > 0. */
  maxLocks: number;
  /** Maximum queued waiters per key; 0 means unlimited. */
  maxWaiters: number;
  /** Lease used when a request names none, in milliseconds. */
  defaultLeaseMs: number;
  /** A key idle for longer than this (milliseconds) is removed by {@linkcode LockTable.gc}. */
  gcMaxIdleMs: number;
  /** Produces a new token for every grant. */
  newToken: () => string;
  /** Where grants, releases, renewals, expiries and queue waits are counted. */
  counters?: TableCounters;
}

/**
 * Per-connection state: granted slots, queued waiters, enqueue records. The slots are a list
 * threaded through the holders themselves, and each collection is made on first use: most
 * connections hold one lock at a time and never queue or enqueue, and at 10 000 connections
 * the empty collections would cost several MiB.
 */
export class TableConn {
  /** The connection id (shown as `owner_conn_id`). */
  readonly id: number;
  /** The newest slot granted to this connection and still held (see `Holder.prevOfOwner`). */
  newestHolder: Holder | null = null;
  /** How many slots this connection holds. */
  holderCount = 0;
  /** Waiters of this connection still in a queue (`null` before the first). */
  waiters: Set<Waiter> | null;
  /** Enqueue records by key (`null` before the first). */
  records: Map<string, EnqueueRecord> | null;

  /** @param id The connection id. */
  constructor(id: number) {
    this.id = id;
    // Set here, not by initializers: they are reset when the connection goes, and a field
    // first written then would discard the optimized code that reads it (docs/performance.md,
    // "The first close").
    this.waiters = null;
    this.records = null;
  }
}

/** One granted slot. */
export class Holder {
  /** The token that proves ownership. */
  readonly token: string;
  /** The resource the slot belongs to. */
  readonly resource: Resource;
  /** The connection it was granted to. */
  readonly owner: TableConn;
  /** The lease requested at grant time (ms); what acquire and wait answers report. */
  readonly leaseMs: number;
  /** When the lease runs out (ms, same clock as `now`). */
  expiry: number;
  /** False once released or evicted. */
  alive = true;
  /** The `acquired` enqueue record holding this token, if any. */
  record: EnqueueRecord | null = null;
  /** The owner's slot granted before this one and still held (the owner's list). */
  prevOfOwner: Holder | null = null;
  /** The owner's slot granted after this one and still held. */
  nextOfOwner: Holder | null = null;

  /**
   * @param owner Owning connection.
   * @param leaseMs Lease in ms.
   * @param expiry Expiry time.
   */
  constructor(
    token: string,
    resource: Resource,
    owner: TableConn,
    leaseMs: number,
    expiry: number,
  ) {
    this.token = token;
    this.resource = resource;
    this.owner = owner;
    this.leaseMs = leaseMs;
    this.expiry = expiry;
  }
}

/** One queued request for a slot (from `l`/`sl` or a queued `e`/`se`). */
export class Waiter {
  /** The resource it waits on. */
  readonly resource: Resource;
  /** The connection that queued it. */
  readonly owner: TableConn;
  /** The lease to grant (ms). */
  readonly leaseMs: number;
  /** The enqueue record pointing at this waiter (two-phase), if any. */
  record: EnqueueRecord | null = null;
  /** Set once the waiter has been granted a slot. */
  holder: Holder | null = null;
  /** True while in the queue. */
  queued = true;
  /** Called synchronously when the waiter is granted. */
  onGrant: ((waiter: Waiter) => void) | null;
  /** When it was queued (ms), for the queue-wait histogram. */
  readonly queuedAt: number;
  /** Queue links. */
  prev: Waiter | null = null;
  /** Queue links. */
  next: Waiter | null = null;

  /**
   * @param leaseMs Lease in ms.
   * @param queuedAt When it was queued (ms).
   */
  constructor(
    resource: Resource,
    owner: TableConn,
    leaseMs: number,
    onGrant: ((waiter: Waiter) => void) | null,
    queuedAt: number,
  ) {
    this.resource = resource;
    this.owner = owner;
    this.leaseMs = leaseMs;
    this.onGrant = onGrant;
    this.queuedAt = queuedAt;
  }
}

/** Per (connection, key) memory of an `e`/`se`: holds a token or points at a waiter. */
export class EnqueueRecord {
  /** The key. */
  readonly key: string;
  /** The lease given to `e`/`se` (ms). */
  readonly leaseMs: number;
  /** The holder from an `acquired` answer. */
  holder: Holder | null = null;
  /** The waiter from a `queued` answer. */
  waiter: Waiter | null = null;

  /**
   * @param leaseMs Lease in ms.
   */
  constructor(key: string, leaseMs: number) {
    this.key = key;
    this.leaseMs = leaseMs;
  }
}

/** A key's state. */
export class Resource {
  /** The key (byte string). */
  readonly key: string;
  /**
   * The slot count (1 for a lock): a number, or an exact bigint above 2^53 (see
   * `parseRequest`), so that limits compare as Go's int64s do.
   */
  readonly limit: number | bigint;
  /**
   * The current holders: a lock's one holder is kept here, without a map; a semaphore's holders
   * move to `#byToken` once there are two.
   */
  #single: Holder | null = null;
  /** Holders by token, in grant order; made for the second concurrent holder. */
  #byToken: Map<string, Holder> | null = null;
  /** How many slots are held. */
  holderCount = 0;
  /** Queue head (oldest waiter). */
  head: Waiter | null = null;
  /** Queue tail. */
  tail: Waiter | null = null;
  /** Queue length. */
  waiting = 0;
  /** Time of the last activity (ms). */
  lastActivity: number;
  /** A lower bound of the holders' expiry times. */
  minExpiry = Infinity;

  /**
   * @param now Creation time.
   */
  constructor(key: string, limit: number | bigint, now: number) {
    this.key = key;
    this.limit = limit;
    this.lastActivity = now;
  }

  /** The current holder with this token, if any. */
  holderOf(token: string): Holder | undefined {
    if (this.#byToken !== null) return this.#byToken.get(token);
    const h = this.#single;
    return h !== null && h.token === token ? h : undefined;
  }

  /** Current holders in grant order. */
  holders(): Iterable<Holder> {
    if (this.#byToken !== null) return this.#byToken.values();
    return this.#single === null ? [] : [this.#single];
  }

  /** Records a new holder. */
  addHolder(h: Holder): void {
    this.holderCount++;
    if (this.#byToken !== null) {
      this.#byToken.set(h.token, h);
    } else if (this.#single === null) {
      this.#single = h;
    } else {
      this.#byToken = new Map([[this.#single.token, this.#single], [h.token, h]]);
      this.#single = null;
    }
  }

  /** Forgets a current holder. */
  deleteHolder(h: Holder): void {
    if (this.#byToken !== null) {
      if (this.#byToken.delete(h.token)) this.holderCount--;
    } else if (this.#single === h) {
      this.#single = null;
      this.holderCount--;
    }
  }
}

/** Refusals shared by acquire and enqueue. */
export type AcquireRefusal = "error_max_locks" | "error_limit_mismatch" | "error_max_waiters";

/** What {@linkcode LockTable.acquire} does when no slot is free. */
export type IfBusy = "queue" | "timeout" | "error";

/** The lock state of one server. */
export class LockTable {
  readonly #resources: Map<string, Resource> = new Map();
  readonly #maxLocks: number;
  readonly #maxWaiters: number;
  readonly #defaultLeaseMs: number;
  readonly #gcMaxIdleMs: number;
  readonly #newToken: () => string;
  #minExpiry = Infinity;

  /**
   * @param options Limits, default lease, GC age and token source.
   */
  constructor(options: LockTableOptions) {
    this.#maxLocks = options.maxLocks;
    this.#maxWaiters = options.maxWaiters;
    this.#defaultLeaseMs = options.defaultLeaseMs;
    this.#gcMaxIdleMs = options.gcMaxIdleMs;
    this.#newToken = options.newToken;
    this.counters = options.counters ?? new TableCounters();
  }

  /** What the table has counted (grants, releases, renewals, expiries, queue waits). */
  readonly counters: TableCounters;

  /**
   * How many times the table has woken a blocked request by granting it (its `onGrant` called):
   * the server's request loop compares it around a request to learn whether that request handed
   * a slot to another connection.
   */
  handoffs = 0;

  /** The default lease in milliseconds. */
  get defaultLeaseMs(): number {
    return this.#defaultLeaseMs;
  }

  /** Number of keys tracked (idle ones included). */
  get size(): number {
    return this.#resources.size;
  }

  /**
   * Looks a resource up (for tests and diagnostics).
   *
   * @returns The resource, if tracked.
   */
  resource(key: string): Resource | undefined {
    return this.#resources.get(key);
  }

  /**
   * Creates the state of a new connection.
   *
   * @returns The per-connection state to pass to the other methods.
   */
  openConnection(id: number): TableConn {
    return new TableConn(id);
  }

  /**
   * `l`/`sl`: acquire a slot.
   *
   * @param limit The limit (1 for `l`).
   * @param leaseMs The lease, or `undefined` for the default.
   * @param ifBusy When the request would have to queue: `"queue"` appends a waiter (with
   *   `onGrant`) and returns it; `"timeout"`/`"error"` return that string instead.
   * @param onGrant Called when a queued waiter is granted.
   * @returns The new holder, a queued waiter, `"timeout"`/`"error"`, or a refusal.
   */
  acquire(
    conn: TableConn,
    key: string,
    limit: number | bigint,
    leaseMs: number | undefined,
    now: number,
    ifBusy: IfBusy,
    onGrant: ((waiter: Waiter) => void) | null = null,
  ): Holder | Waiter | "timeout" | "error" | AcquireRefusal {
    const res = this.#findOrCreate(key, limit, now);
    if (typeof res === "string") return res;
    const lease = leaseMs ?? this.#defaultLeaseMs;
    res.lastActivity = now;
    if (res.minExpiry <= now) this.#evictExpired(res, now);
    if (res.holderCount < res.limit && res.waiting === 0) {
      return this.#grant(res, conn, lease, now);
    }
    if (this.#maxWaiters > 0 && res.waiting >= this.#maxWaiters) return "error_max_waiters";
    if (ifBusy !== "queue") return ifBusy;
    const w = new Waiter(res, conn, lease, onGrant, now);
    this.#append(res, w);
    (conn.waiters ??= new Set()).add(w);
    return w;
  }

  /**
   * `e`/`se`: enqueue (two-phase step 1).
   *
   * @param limit The limit (1 for `e`).
   * @param leaseMs The lease, or `undefined` for the default (may be negative, see 3.4).
   * @returns The holder (`acquired`), the waiter (`queued`), or a refusal.
   */
  enqueue(
    conn: TableConn,
    key: string,
    limit: number | bigint,
    leaseMs: number | undefined,
    now: number,
  ): Holder | Waiter | "error_already_enqueued" | AcquireRefusal {
    if (conn.records?.has(key)) return "error_already_enqueued";
    const res = this.#findOrCreate(key, limit, now);
    if (typeof res === "string") return res;
    const lease = leaseMs ?? this.#defaultLeaseMs;
    res.lastActivity = now;
    if (res.minExpiry <= now) this.#evictExpired(res, now);
    const rec = new EnqueueRecord(key, lease);
    if (res.holderCount < res.limit && res.waiting === 0) {
      const h = this.#grant(res, conn, lease, now);
      rec.holder = h;
      h.record = rec;
      (conn.records ??= new Map()).set(key, rec);
      return h;
    }
    if (this.#maxWaiters > 0 && res.waiting >= this.#maxWaiters) return "error_max_waiters";
    const w = new Waiter(res, conn, lease, null, now);
    w.record = rec;
    rec.waiter = w;
    this.#append(res, w);
    (conn.waiters ??= new Set()).add(w);
    (conn.records ??= new Map()).set(key, rec);
    return w;
  }

  /**
   * `w`/`sw`: collect an enqueue (two-phase step 2), without blocking.
   *
   * @returns The holder to answer `ok` with (record consumed, expiry reset; possibly a dead
   *   holder, quirk 3), the still-queued waiter (the caller blocks on it, or cancels it with
   *   {@linkcode LockTable.cancelWaiter}), or an error status.
   */
  wait(
    conn: TableConn,
    key: string,
    now: number,
  ): Holder | Waiter | "error_not_enqueued" | "error_lease_expired" {
    const records = conn.records;
    const rec = records?.get(key);
    if (records === null || rec === undefined) return "error_not_enqueued";
    const held = rec.holder;
    if (held !== null) {
      records.delete(key);
      rec.holder = null;
      if (held.record === rec) held.record = null;
      if (!held.alive) return "error_lease_expired";
      if (held.expiry <= now) {
        const res = held.resource;
        this.counters.leaseExpiries[kindOfLimit(res.limit)]++;
        this.#removeHolder(held);
        res.lastActivity = now;
        this.#grantWaiters(res, now);
        return "error_lease_expired";
      }
      this.#setExpiry(held, now + rec.leaseMs);
      held.resource.lastActivity = now;
      return held;
    }
    const w = rec.waiter!;
    if (w.holder !== null) return this.collect(w, now);
    return w;
  }

  /**
   * Finishes a `w` whose waiter has been granted: drops the enqueue record, resets the
   * holder's expiry to now + the enqueue's lease (if the holder still exists) and counts as
   * activity on the key, like Go's `Wait`, even when the grant's lease already ran out and
   * was evicted (quirk 3: the answer is then a dead token, but the key's idle clock restarts).
   *
   * @param waiter A granted waiter with an enqueue record.
   * @returns The holder to answer with.
   */
  collect(waiter: Waiter, now: number): Holder {
    const h = waiter.holder!;
    const rec = waiter.record;
    if (rec !== null) {
      waiter.record = null;
      const records = waiter.owner.records;
      if (records?.get(rec.key) === rec) records.delete(rec.key);
      rec.waiter = null;
      if (h.alive) this.#setExpiry(h, now + rec.leaseMs);
      // Go touches whatever resource the key names now (the grant's may have been GC'd).
      const res = this.#resources.get(rec.key);
      if (res !== undefined) res.lastActivity = now;
    }
    return h;
  }

  /**
   * Ends a blocked wait (timeout, disconnect, shutdown). A grant that already happened wins:
   * the waiter's holder is returned and nothing is removed. Otherwise the waiter leaves its
   * queue and its enqueue record (if any) is dropped.
   *
   * @returns The holder when the waiter was granted first, else `null`.
   */
  cancelWaiter(waiter: Waiter, now: number): Holder | null {
    waiter.onGrant = null;
    if (waiter.holder !== null) return waiter.holder;
    const res = waiter.resource;
    if (waiter.queued) {
      this.#unlink(res, waiter);
      waiter.owner.waiters?.delete(waiter);
      res.lastActivity = now;
    }
    const rec = waiter.record;
    if (rec !== null) {
      waiter.record = null;
      rec.waiter = null;
      const records = waiter.owner.records;
      if (records?.get(rec.key) === rec) records.delete(rec.key);
    }
    return null;
  }

  /**
   * `r`/`sr`: release a slot by token (from any connection; the lease clock is ignored).
   *
   * @returns Whether the token was a current holder of the key.
   */
  release(key: string, token: string, now: number): boolean {
    const res = this.#resources.get(key);
    if (res === undefined) return false;
    res.lastActivity = now;
    const h = res.holderOf(token);
    if (h === undefined) return false;
    this.counters.releases[kindOfLimit(res.limit)]++;
    this.#removeHolder(h);
    this.#grantWaiters(res, now);
    return true;
  }

  /**
   * `n`/`sn`: renew a slot's lease. An expired holder is evicted instead.
   *
   * @param leaseMs The new lease, or `undefined` for the server default.
   * @returns The lease applied (ms), or `null` for `error`.
   */
  renew(key: string, token: string, leaseMs: number | undefined, now: number): number | null {
    const res = this.#resources.get(key);
    if (res === undefined) return null;
    res.lastActivity = now;
    const h = res.holderOf(token);
    if (h === undefined) return null;
    if (h.expiry <= now) {
      this.counters.leaseExpiries[kindOfLimit(res.limit)]++;
      this.#removeHolder(h);
      this.#grantWaiters(res, now);
      return null;
    }
    this.counters.renewals[kindOfLimit(res.limit)]++;
    const lease = leaseMs ?? this.#defaultLeaseMs;
    this.#setExpiry(h, now + lease);
    return lease;
  }

  /**
   * Cleans up after a connection ends (docs/protocol.md 5.8): its enqueue records and waiters are
   * always dropped (newer-server behaviour); its held slots are released and granted to
   * waiters only when `autoRelease` is true.
   *
   * @param autoRelease Whether held slots are released.
   */
  disconnect(conn: TableConn, now: number, autoRelease: boolean): void {
    for (const rec of conn.records?.values() ?? []) {
      if (rec.holder !== null && rec.holder.record === rec) rec.holder.record = null;
      rec.holder = null;
      if (rec.waiter !== null) rec.waiter.record = null;
      rec.waiter = null;
    }
    conn.records = null;
    for (const w of conn.waiters ?? []) {
      w.onGrant = null;
      if (w.queued) {
        this.#unlink(w.resource, w);
        w.resource.lastActivity = now;
      }
    }
    conn.waiters = null;
    if (!autoRelease) return;
    const touched: Resource[] = [];
    for (let h = conn.newestHolder; h !== null;) {
      const res = h.resource;
      const older = h.prevOfOwner;
      h.prevOfOwner = null;
      h.nextOfOwner = null;
      this.counters.disconnectReleases[kindOfLimit(res.limit)]++;
      h.alive = false;
      res.deleteHolder(h);
      if (h.record !== null) this.#dropRecordOf(h);
      res.lastActivity = now;
      touched.push(res);
      h = older;
    }
    // Oldest grants first, as they were granted.
    touched.reverse();
    conn.newestHolder = null;
    conn.holderCount = 0;
    for (const res of touched) this.#grantWaiters(res, now);
  }

  /** Evicts every expired holder of every key and grants the freed slots (the lease sweep). */
  sweep(now: number): void {
    if (now < this.#minExpiry) return;
    let min = Infinity;
    for (const res of this.#resources.values()) {
      if (res.minExpiry <= now) this.#evictExpired(res, now);
      if (res.minExpiry < min) min = res.minExpiry;
    }
    this.#minExpiry = min;
  }

  /**
   * Deletes every key with no holders, no waiters and no activity for more than
   * `gcMaxIdleMs` (the idle GC).
   *
   * @returns The number of keys removed.
   */
  gc(now: number): number {
    let removed = 0;
    for (const [key, res] of this.#resources) {
      if (
        res.holderCount === 0 && res.waiting === 0 &&
        now - res.lastActivity > this.#gcMaxIdleMs
      ) {
        this.#resources.delete(key);
        removed++;
      }
    }
    return removed;
  }

  /**
   * Builds a `stats` snapshot (docs/protocol.md section 7) with the keys as byte strings, as the
   * wire answer renders them (`formatStats`). Keys with limit 1 are locks, others semaphores;
   * a key is idle when it has no holders and no waiters.
   *
   * @param connections The open connection count to report.
   * @returns The snapshot, keys as byte strings (one char per UTF-8 byte).
   */
  stats(now: number, connections: number): ServerStats {
    return this.#snapshot(now, connections, false);
  }

  /**
   * Builds the same snapshot as {@linkcode LockTable.stats} with every key decoded from UTF-8
   * to text (invalid bytes become U+FFFD, as in the wire JSON), for in-process readers such as
   * `Server.stats()`. Keys are decoded here, once per snapshot, never on the request path.
   *
   * @param connections The open connection count to report.
   * @returns The snapshot, keys as text.
   */
  textStats(now: number, connections: number): ServerStats {
    return this.#snapshot(now, connections, true);
  }

  /**
   * Counts for the metrics gauges, in one pass: held locks (as Go counts them: a holder or a
   * lease left), lock waiters, semaphore holders and waiters, and keys.
   */
  summary(): TableSummary {
    const sum: TableSummary = {
      locksHeld: 0,
      lockWaiters: 0,
      semaphoreHolders: 0,
      semaphoreWaiters: 0,
      keys: this.#resources.size,
    };
    for (const res of this.#resources.values()) {
      if (res.limit === 1) {
        if (res.holderCount > 0) sum.locksHeld++;
        sum.lockWaiters += res.waiting;
      } else {
        sum.semaphoreHolders += res.holderCount;
        sum.semaphoreWaiters += res.waiting;
      }
    }
    return sum;
  }

  /**
   * Every key with its holders (owner connection and lease left) and queue length, keys
   * decoded as text: what the dashboard shows.
   *
   * @returns Held or queued keys, and idle keys, by kind.
   */
  detail(now: number): TableDetail {
    const detail: TableDetail = { locks: [], semaphores: [], idleLocks: [], idleSemaphores: [] };
    for (const res of this.#resources.values()) {
      const key = decodeUtf8(res.key);
      if (res.holderCount === 0 && res.waiting === 0) {
        const idle = { key, idleS: durationSeconds(Math.max(0, now - res.lastActivity)) };
        (res.limit === 1 ? detail.idleLocks : detail.idleSemaphores).push(idle);
        continue;
      }
      const holders: HolderDetail[] = [];
      for (const h of res.holders()) {
        holders.push({
          connId: h.owner.id,
          leaseExpiresInS: durationSeconds(Math.max(0, h.expiry - now)),
        });
      }
      if (res.limit === 1) detail.locks.push({ key, holders, waiters: res.waiting });
      else detail.semaphores.push({ key, limit: res.limit, holders, waiters: res.waiting });
    }
    return detail;
  }

  #snapshot(now: number, connections: number, text: boolean): ServerStats {
    const locks: LockInfo[] = [];
    const semaphores: SemaphoreInfo[] = [];
    const idleLocks: IdleKeyInfo[] = [];
    const idleSemaphores: IdleKeyInfo[] = [];
    for (const res of this.#resources.values()) {
      const holders = res.holderCount;
      const key = text ? decodeUtf8(res.key) : res.key;
      if (holders === 0 && res.waiting === 0) {
        const idle = { key, idleS: durationSeconds(Math.max(0, now - res.lastActivity)) };
        (res.limit === 1 ? idleLocks : idleSemaphores).push(idle);
      } else if (res.limit === 1) {
        let ownerConnId = 0;
        let leaseExpiresInS = 0;
        for (const h of res.holders()) {
          ownerConnId = h.owner.id;
          leaseExpiresInS = durationSeconds(Math.max(0, h.expiry - now));
        }
        locks.push({ key, ownerConnId, leaseExpiresInS, waiters: res.waiting });
      } else {
        semaphores.push({ key, limit: res.limit, holders, waiters: res.waiting });
      }
    }
    return { connections, locks, semaphores, idleLocks, idleSemaphores };
  }

  #findOrCreate(key: string, limit: number | bigint, now: number): Resource | AcquireRefusal {
    let res = this.#resources.get(key);
    if (res !== undefined) return res.limit === limit ? res : "error_limit_mismatch";
    if (this.#resources.size >= this.#maxLocks) return "error_max_locks";
    res = new Resource(key, limit, now);
    this.#resources.set(key, res);
    return res;
  }

  #grant(res: Resource, conn: TableConn, leaseMs: number, now: number, queuedAt = now): Holder {
    const k = kindOfLimit(res.limit);
    this.counters.grants[k]++;
    this.counters.queueWait[k].observe((now - queuedAt) / 1000);
    const expiry = now + leaseMs;
    const h = new Holder(this.#newToken(), res, conn, leaseMs, expiry);
    res.addHolder(h);
    const newest = conn.newestHolder;
    if (newest !== null) {
      newest.nextOfOwner = h;
      h.prevOfOwner = newest;
    }
    conn.newestHolder = h;
    conn.holderCount++;
    if (expiry < res.minExpiry) res.minExpiry = expiry;
    if (expiry < this.#minExpiry) this.#minExpiry = expiry;
    return h;
  }

  #setExpiry(h: Holder, expiry: number): void {
    h.expiry = expiry;
    const res = h.resource;
    if (expiry < res.minExpiry) res.minExpiry = expiry;
    if (expiry < this.#minExpiry) this.#minExpiry = expiry;
  }

  #grantWaiters(res: Resource, now: number): void {
    while (res.holderCount < res.limit && res.head !== null) {
      const w = res.head;
      this.#unlink(res, w);
      w.owner.waiters?.delete(w);
      res.lastActivity = now;
      w.holder = this.#grant(res, w.owner, w.leaseMs, now, w.queuedAt);
      const cb = w.onGrant;
      if (cb !== null) {
        w.onGrant = null;
        this.handoffs++;
        cb(w);
      }
    }
  }

  #evictExpired(res: Resource, now: number): void {
    let min = Infinity;
    let evicted = false;
    for (const h of res.holders()) {
      if (h.expiry <= now) {
        this.counters.leaseExpiries[kindOfLimit(res.limit)]++;
        this.#removeHolder(h);
        evicted = true;
      } else if (h.expiry < min) {
        min = h.expiry;
      }
    }
    res.minExpiry = min;
    if (evicted) {
      res.lastActivity = now;
      this.#grantWaiters(res, now);
    }
  }

  #removeHolder(h: Holder): void {
    h.alive = false;
    h.resource.deleteHolder(h);
    const owner = h.owner;
    const prev = h.prevOfOwner;
    const next = h.nextOfOwner;
    if (prev !== null) prev.nextOfOwner = next;
    if (next !== null) next.prevOfOwner = prev;
    else owner.newestHolder = prev;
    h.prevOfOwner = null;
    h.nextOfOwner = null;
    owner.holderCount--;
    if (h.record !== null) this.#dropRecordOf(h);
  }

  #dropRecordOf(h: Holder): void {
    const rec = h.record!;
    h.record = null;
    rec.holder = null;
    const records = h.owner.records;
    if (records?.get(rec.key) === rec) records.delete(rec.key);
  }

  #append(res: Resource, w: Waiter): void {
    w.prev = res.tail;
    w.next = null;
    if (res.tail !== null) res.tail.next = w;
    else res.head = w;
    res.tail = w;
    res.waiting++;
    w.queued = true;
  }

  #unlink(res: Resource, w: Waiter): void {
    if (!w.queued) return;
    if (w.prev !== null) w.prev.next = w.next;
    else res.head = w.next;
    if (w.next !== null) w.next.prev = w.prev;
    else res.tail = w.prev;
    w.prev = null;
    w.next = null;
    w.queued = false;
    res.waiting--;
  }
}

/** Counts from {@linkcode LockTable.summary}. */
export interface TableSummary {
  /** Locks with a holder. */
  locksHeld: number;
  /** Waiters queued on locks. */
  lockWaiters: number;
  /** Semaphore slots held. */
  semaphoreHolders: number;
  /** Waiters queued on semaphores. */
  semaphoreWaiters: number;
  /** Keys tracked, idle ones included. */
  keys: number;
}

/** One holder in {@linkcode TableDetail}. */
export interface HolderDetail {
  /** The owner's connection id. */
  connId: number;
  /** Lease left, seconds. */
  leaseExpiresInS: number;
}

/** A held or queued key in {@linkcode TableDetail}. */
export interface KeyDetail {
  /** The key as text. */
  key: string;
  /** Its holders. */
  holders: HolderDetail[];
  /** Queue length. */
  waiters: number;
}

/** What {@linkcode LockTable.detail} returns. */
export interface TableDetail {
  /** Held or queued locks. */
  locks: KeyDetail[];
  /** Held or queued semaphores with their limits. */
  semaphores: (KeyDetail & { limit: number | bigint })[];
  /** Idle locks. */
  idleLocks: IdleKeyInfo[];
  /** Idle semaphores. */
  idleSemaphores: IdleKeyInfo[];
}
