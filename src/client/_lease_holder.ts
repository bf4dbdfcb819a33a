/**
 * The one lease engine behind {@linkcode DistributedLock}, {@linkcode DistributedSemaphore} and
 * the LockApi's locks: acquisition on a client's pooled connections (a non-blocking attempt on
 * the shared pipelined connection first, then a blocking wait on an exclusive connection when
 * the key is taken), two-phase enqueue+wait, background renewal with early jitter, the local
 * lease deadline, loss signalling, release and close. Internal.
 *
 * @module
 */

import {
  AcquireTimeoutError,
  ConnectionError,
  DflockError,
  DrainingError,
  LeaseLostError,
  NotEnqueuedError,
  NotLeaderError,
  RequestTimeoutError,
} from "../errors.ts";
import { STATUS } from "../protocol/commands.ts";
import { fenceFromToken } from "../protocol/fence.ts";
import type { Connection } from "./connection.ts";
import * as low from "./low_level.ts";
import type { EnqueueResult, Grant } from "./low_level.ts";
import { shardIndex } from "./servers.ts";
import type { Attempt } from "./failover.ts";
import { DEFAULT_ACQUIRE_TIMEOUT_S } from "./options.ts";
import type { ResolvedLeaseSettings } from "./options.ts";
import type { ClientCore } from "./core.ts";
import { raceAbort } from "./pool.ts";
import type { PooledConnection } from "./pool.ts";
import { randomUnit } from "./_timing.ts";

/** The wire operations of one kind of lease (lock or semaphore), bound to a key. */
export interface LeaseOps {
  /** `"lock"` or `"semaphore"`, for messages. */
  readonly noun: string;
  acquire(conn: Connection, timeoutS: number, signal?: AbortSignal): Promise<Grant>;
  enqueue(conn: Connection, signal?: AbortSignal): Promise<EnqueueResult>;
  wait(conn: Connection, timeoutS: number, signal?: AbortSignal): Promise<Grant>;
  renew(conn: Connection, token: string): Promise<number>;
  release(conn: Connection, token: string, signal?: AbortSignal): Promise<void>;
}

/**
 * The wire operations of a lease on one key: methods, not closures, as one exists per lease
 * object. With a `limit` they are the semaphore commands (`s*`), without one the lock commands.
 */
class KeyOps implements LeaseOps {
  readonly noun: "lock" | "semaphore";
  readonly #key: string;
  readonly #leaseTtlS: number | undefined;
  readonly #limit: number | undefined;

  constructor(settings: ResolvedLeaseSettings, limit: number | undefined) {
    this.noun = limit === undefined ? "lock" : "semaphore";
    this.#key = settings.key;
    this.#leaseTtlS = settings.leaseTtlS;
    this.#limit = limit;
  }

  acquire(conn: Connection, t: number, signal?: AbortSignal): Promise<Grant> {
    const options = { leaseTtlS: this.#leaseTtlS, signal };
    return this.#limit === undefined
      ? low.acquire(conn, this.#key, t, options)
      : low.semAcquire(conn, this.#key, t, this.#limit, options);
  }

  enqueue(conn: Connection, signal?: AbortSignal): Promise<EnqueueResult> {
    const options = { leaseTtlS: this.#leaseTtlS, signal };
    return this.#limit === undefined
      ? low.enqueue(conn, this.#key, options)
      : low.semEnqueue(conn, this.#key, this.#limit, options);
  }

  wait(conn: Connection, t: number, signal?: AbortSignal): Promise<Grant> {
    const wait = this.#limit === undefined ? low.wait : low.semWait;
    return wait(conn, this.#key, t, { signal });
  }

  renew(conn: Connection, token: string): Promise<number> {
    const renew = this.#limit === undefined ? low.renew : low.semRenew;
    return renew(conn, this.#key, token, this.#leaseTtlS);
  }

  release(conn: Connection, token: string, signal?: AbortSignal): Promise<void> {
    const release = this.#limit === undefined ? low.release : low.semRelease;
    return release(conn, this.#key, token, { signal });
  }
}

/**
 * The wire operations of a lease on `settings.key`: a lock's, or with `limit` a semaphore's.
 *
 * @param settings The resolved lease settings (key and lease TTL are used).
 * @param limit The semaphore limit, validated; `undefined` for a lock.
 */
export function leaseOps(settings: ResolvedLeaseSettings, limit?: number): LeaseOps {
  return new KeyOps(settings, limit);
}

/** Engine settings beyond the lease settings. */
export interface LeaseMode {
  /**
   * `false`: the lease is never renewed and simply runs out (the LockApi's locks); no loss is
   * signalled, and releasing after it ran out is quiet.
   */
  readonly renew: boolean;
}

type State = "idle" | "busy" | "queued" | "held" | "releasing";

const MAX_TIMER_MS = 0x7fffffff;
const RENEW_JITTER = 0.1;
/** How long past its local deadline a lease that is not renewed keeps its connection open. */
const HOLD_MARGIN_MS = 1_000;

/**
 * The end of a loss message: the cause's message without a repeated `Cannot renew lock "k": `,
 * starting in lower case.
 */
function lossDetail(cause: unknown, what: string): string {
  if (!(cause instanceof Error)) return String(cause);
  let text = cause.message;
  const at = text.indexOf(`${what}: `);
  if (text.startsWith("Cannot ") && at >= 0) text = text.slice(at + what.length + 2);
  return text.charAt(0).toLowerCase() + text.slice(1);
}

function isRedirect(err: unknown): boolean {
  return err instanceof NotLeaderError || err instanceof DrainingError;
}

/**
 * A plain `error` to a valid acquire or enqueue is what a server writes before it closes a
 * connection it gave up on (its read timeout, docs/protocol.md 2.4, 2.6): not an answer to the
 * request.
 */
function isGivenUp(err: unknown): boolean {
  return err instanceof DflockError && err.code === STATUS.error;
}

/**
 * A pooled connection used before may have been closed by the server while it sat in the pool
 * (its read timeout ran out, or it restarted): such a failure is worth one try on a new one. A
 * server that did not answer in time is not: a second try would only double the wait.
 */
function isStaleFailure(err: unknown): boolean {
  return (err instanceof ConnectionError && !(err instanceof RequestTimeoutError)) ||
    isGivenUp(err);
}

/** Shared implementation behind the public lock and semaphore classes. */
export class LeaseHolder {
  readonly #core: ClientCore;
  readonly #o: ResolvedLeaseSettings;
  readonly #ops: LeaseOps;
  readonly #renews: boolean;
  /** The key's shard: where its requests start (in a cluster, unless a leader is known). */
  readonly #index: number;
  #state: State = "idle";
  #closed = false;
  /** The connection the lease (or queue place) lives on. */
  #owner: PooledConnection | undefined;
  #unwatch: (() => void) | undefined;
  #token: string | undefined;
  #lease: number | undefined;
  /** Created on first use of `signal`; `#signalUsed` tells whether the current one was given out. */
  #controller: AbortController | undefined;
  #lost: LeaseLostError | undefined;
  /** Why the queue place of an `enqueue()` is gone, for the `wait()` that follows. */
  #queueLost: ConnectionError | undefined;
  /** The moment (performance.now() ms) the current lease was last known to start. */
  #anchor = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #renewing: Promise<void> | undefined;
  #releasing: Promise<void> | undefined;

  constructor(core: ClientCore, settings: ResolvedLeaseSettings, ops: LeaseOps, mode: LeaseMode) {
    this.#core = core;
    this.#o = settings;
    this.#ops = ops;
    this.#renews = mode.renew;
    const o = core.options;
    this.#index = shardIndex(
      settings.key,
      o.servers.length,
      settings.shardingStrategy ?? o.shardingStrategy,
    );
  }

  get key(): string {
    return this.#o.key;
  }

  get token(): string | undefined {
    return this.#token;
  }

  get lease(): number | undefined {
    return this.#lease;
  }

  get fence(): bigint | undefined {
    return this.#token === undefined ? undefined : fenceFromToken(this.#token);
  }

  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  get acquireTimeoutS(): number {
    return this.#o.acquireTimeoutS;
  }

  /** The address of the server currently in use (the shard, or where a redirect led). */
  get serverAddress(): string {
    return this.#core.options.servers[this.#index]!.address;
  }

  /** `lock "k"` or `semaphore "k"`, for messages. */
  get what(): string {
    return `${this.#ops.noun} "${this.#o.key}"`;
  }

  #enter(action: string): void {
    if (this.#closed) {
      throw new DflockError(
        `Cannot ${action} ${this.what}: close() was called on it: create a new one`,
        "closed",
      );
    }
    if (this.#core.pool.closed) {
      throw new DflockError(
        `Cannot ${action} ${this.what}: its client is closed: use an open client`,
        "closed",
      );
    }
    if (this.#state === "busy" || this.#state === "releasing") {
      throw new DflockError(
        `Cannot ${action} ${this.what}: another call on it is in progress: await that first`,
        "busy",
      );
    }
    if (this.#state === "held") {
      throw new DflockError(
        `Cannot ${action} ${this.what}: it is already held: release() it first`,
        "held",
      );
    }
    if (this.#state === "queued") {
      throw new DflockError(
        `Cannot ${action} ${this.what}: it is enqueued, call wait()`,
        "queued",
      );
    }
    this.#lost = undefined;
    this.#queueLost = undefined;
    // A new acquisition gets a fresh signal (the old one may have been aborted).
    if (this.#controller?.signal.aborted) this.#controller = undefined;
  }

  /**
   * Runs `attempt` on the key's server, or, after a redirect or a failure of the server, where
   * the client's failover sends it (docs/leases.md), within the acquire timeout plus the
   * request timeout.
   */
  #onServers<T>(attempt: Attempt<T>, signal: AbortSignal | undefined): Promise<T> {
    const core = this.#core;
    const budgetMs = this.#o.acquireTimeoutS * 1000 + core.options.requestTimeoutMs;
    return core.failover.run(core.failover.start(this.#index), attempt, signal, budgetMs);
  }

  // ---- acquisition --------------------------------------------------------------------------

  async acquire(signal: AbortSignal | undefined): Promise<boolean> {
    signal?.throwIfAborted();
    this.#enter("acquire");
    this.#state = "busy";
    try {
      const timeoutS = this.#o.acquireTimeoutS;
      const ends = performance.now() + timeoutS * 1000;
      let tries = 0;
      await this.#onServers(
        // A retry after a failover waits only for what is left of the acquire timeout.
        (index, s) =>
          this.#acquireOn(
            index,
            s,
            tries++ === 0 ? timeoutS : Math.floor((ends - performance.now()) / 1000),
          ),
        signal,
      );
      return true;
    } catch (err) {
      if (err instanceof AcquireTimeoutError) return false;
      if (signal?.aborted) throw signal.reason;
      throw err;
    } finally {
      if (this.#state === "busy") this.#state = "idle";
    }
  }

  /**
   * Tries without waiting on the shared connection; waits up to `timeoutS` on an exclusive
   * connection when the key is taken.
   */
  async #acquireOn(
    index: number,
    signal: AbortSignal | undefined,
    timeoutS: number,
  ): Promise<void> {
    let grant: Grant;
    let pc: PooledConnection;
    for (let attempt = 0;; attempt++) {
      pc = await this.#core.pool.shared(index, signal);
      const reused = pc.uses > 0;
      pc.uses++;
      const sentAt = performance.now();
      const request = this.#ops.acquire(pc.conn, 0);
      try {
        grant = await (signal === undefined ? request : raceAbort(request, signal));
      } catch (err) {
        if (signal?.aborted) {
          // The reply still arrives on the shared connection: give back a late grant.
          request.then((g) => this.#ops.release(pc.conn, g.token)).catch(() => {});
          throw signal.reason;
        }
        if (err instanceof AcquireTimeoutError) {
          if (timeoutS < 1) throw err;
          return this.#acquireBlocking(index, signal, timeoutS);
        }
        if (isRedirect(err) || isGivenUp(err)) this.#core.pool.discard(pc);
        if (isStaleFailure(err) && reused && attempt === 0) continue;
        throw err;
      }
      this.#hold(pc, grant, sentAt);
      return;
    }
  }

  /** Waits for the key on an exclusive connection, which then holds the lease. */
  async #acquireBlocking(
    index: number,
    signal: AbortSignal | undefined,
    timeoutS: number,
  ): Promise<void> {
    const ends = performance.now() + timeoutS * 1000;
    const { pc, answer, sentAt } = await this.#onExclusive(
      index,
      signal,
      // A second try waits only for what is left of the wait.
      (conn, retry) =>
        this.#ops.acquire(
          conn,
          retry ? Math.max(0, Math.floor((ends - performance.now()) / 1000)) : timeoutS,
          signal,
        ),
    );
    this.#hold(pc, answer, sentAt);
  }

  /**
   * Sends `send` on an exclusive connection to server `index`. A connection from the pool that
   * turns out stale (see {@linkcode isStaleFailure}) costs one more try on a new one. After a
   * failure the connection goes back to the pool when the answer was `timeout` (it is clean),
   * and is closed otherwise.
   */
  async #onExclusive<T>(
    index: number,
    signal: AbortSignal | undefined,
    send: (conn: Connection, retry: boolean) => Promise<T>,
  ): Promise<{ pc: PooledConnection; answer: T; sentAt: number }> {
    const pool = this.#core.pool;
    for (let attempt = 0;; attempt++) {
      const pc = await pool.exclusive(index, signal);
      const reused = pc.uses > 0;
      pc.uses++;
      const sentAt = performance.now();
      try {
        return { pc, answer: await send(pc.conn, attempt > 0), sentAt };
      } catch (err) {
        if (err instanceof AcquireTimeoutError) pool.giveBack(pc);
        else pool.discard(pc);
        if (isStaleFailure(err) && reused && attempt === 0 && !signal?.aborted) continue;
        throw err;
      }
    }
  }

  async enqueue(signal: AbortSignal | undefined): Promise<"acquired" | "queued"> {
    signal?.throwIfAborted();
    this.#enter("enqueue for");
    this.#state = "busy";
    try {
      return await this.#onServers(async (index, s) => {
        // The queue place lives on the connection, and `w` blocks it: an exclusive one.
        const { pc, answer: r, sentAt } = await this.#onExclusive(
          index,
          s,
          (conn) => this.#ops.enqueue(conn, s),
        );
        if (r.status === "acquired") {
          this.#hold(pc, r, sentAt);
          return "acquired";
        }
        this.#state = "queued";
        this.#own(pc);
        return "queued";
      }, signal);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw err;
    } finally {
      if (this.#state === "busy") this.#state = "idle";
    }
  }

  async wait(timeoutS: number, signal: AbortSignal | undefined): Promise<boolean> {
    signal?.throwIfAborted();
    if (this.#closed) {
      throw new DflockError(
        `Cannot wait for ${this.what}: close() was called on it: create a new one`,
        "closed",
      );
    }
    if (this.#state === "held") return true;
    if (this.#state === "busy" || this.#state === "releasing") {
      throw new DflockError(
        `Cannot wait for ${this.what}: another call on it is in progress: await that first`,
        "busy",
      );
    }
    if (this.#state !== "queued") {
      const lost = this.#queueLost;
      this.#queueLost = undefined;
      if (lost !== undefined) throw lost;
      throw new NotEnqueuedError(`Cannot wait for ${this.what}: call enqueue() first`);
    }
    const pc = this.#owner!;
    const pool = this.#core.pool;
    this.#state = "busy";
    try {
      const sentAt = performance.now();
      let grant: Grant;
      try {
        grant = await this.#ops.wait(pc.conn, timeoutS, signal);
      } catch (err) {
        this.#disown();
        // A timed-out wait leaves the queue (docs/protocol.md 4.4): the connection is clean.
        if (err instanceof AcquireTimeoutError) pool.giveBack(pc);
        else pool.discard(pc);
        throw err;
      }
      this.#disown();
      this.#hold(pc, grant, sentAt);
      return true;
    } catch (err) {
      if (err instanceof AcquireTimeoutError) return false;
      if (signal?.aborted) throw signal.reason;
      throw err;
    } finally {
      if (this.#state === "busy") this.#state = "idle";
    }
  }

  /** Ties this object to the connection its lease or queue place lives on. */
  #own(pc: PooledConnection): void {
    this.#owner = pc;
    if (this.#renews || this.#state === "queued") {
      pc.held++;
      this.#unwatch = pc.onLost((reason) => this.#ownerLost(pc, reason));
    } else {
      pc.unrenewed++;
    }
  }

  /** Unties it (the lease is released or lost); returns the connection it lived on. */
  #disown(): PooledConnection | undefined {
    const pc = this.#owner;
    if (pc === undefined) return undefined;
    this.#owner = undefined;
    if (this.#unwatch !== undefined) {
      this.#unwatch();
      this.#unwatch = undefined;
      pc.held--;
    } else {
      pc.unrenewed--;
    }
    return pc;
  }

  /**
   * The connection the lease or queue place lives on is gone: the server releases what a
   * closed connection held (docs/protocol.md 5.8), so the lease ends now (docs/leases.md).
   */
  #ownerLost(pc: PooledConnection, reason: DflockError): void {
    if (this.#owner !== pc) return;
    if (this.#state === "held") {
      this.#lose(reason);
    } else if (this.#state === "queued") {
      this.#disown();
      this.#state = "idle";
      this.#queueLost = new ConnectionError(
        `Lost the queue place of ${this.what}: ${reason.message}`,
        { cause: reason },
      );
    }
  }

  /**
   * Starts holding a grant whose request was sent at `sentAt`. The server started the lease
   * at some moment between sending and reading the answer, so the local deadline counts from
   * `sentAt`: never later than the server's. When the request waited in the queue for long
   * (longer than a renewal interval), that bound is too loose to be useful; the deadline then
   * counts from now and the lease is renewed at once, which re-anchors it on the renewal's
   * send time.
   */
  #hold(pc: PooledConnection, grant: Grant, sentAt: number): void {
    this.#token = grant.token;
    this.#lease = grant.lease;
    this.#state = "held";
    this.#own(pc);
    const now = performance.now();
    if (!this.#renews) {
      pc.holdUntil = Math.max(pc.holdUntil, sentAt + grant.lease * 1000 + HOLD_MARGIN_MS);
      return;
    }
    if (now - sentAt <= grant.lease * 1000 * this.#o.renewRatio) {
      this.#anchor = sentAt;
      this.#scheduleRenewal(grant.lease);
    } else {
      this.#anchor = now;
      this.#renewNow();
    }
  }

  // ---- renewal and the local deadline -------------------------------------------------------

  /** One timer per held lease: the renewal, and while a renewal is unanswered, the deadline. */
  #scheduleRenewal(lease: number): void {
    const interval = lease * 1000 * this.#o.renewRatio * (1 - randomUnit() * RENEW_JITTER);
    const delay = Math.max(0, this.#anchor + Math.max(interval, 10) - performance.now());
    this.#timer = setTimeout(() => this.#renewNow(), Math.min(delay, MAX_TIMER_MS));
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #renewNow(): void {
    this.#timer = undefined;
    if (this.#state !== "held") return;
    const token = this.#token!;
    const lease = this.#lease!;
    // Until the renewal is answered, the lease ends where the last grant or renewal put it.
    const deadline = this.#anchor + lease * 1000 - performance.now();
    if (deadline <= 0) {
      // Late (the process was paused, say): the server may have given the key away already.
      this.#expire("the process was too busy (or paused) to renew it in time");
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#state === "held" && this.#token === token) {
        // The connection did not answer the renewal in time: it is not to be trusted either.
        this.#expire("the server did not answer the renewal in time", true);
      }
    }, Math.min(Math.max(0, deadline), MAX_TIMER_MS));
    const renewing = this.#renew(token).finally(() => {
      if (this.#renewing === renewing) this.#renewing = undefined;
    });
    this.#renewing = renewing;
  }

  async #renew(token: string): Promise<void> {
    const pc = this.#owner!;
    const sentAt = performance.now();
    try {
      const lease = await this.#ops.renew(pc.conn, token);
      if (this.#state !== "held" || this.#token !== token) return;
      if (performance.now() >= this.#anchor + this.#lease! * 1000) {
        // Answered after the local deadline: whatever the server says now, the lease ended.
        this.#expire("the answer to the renewal came too late");
        return;
      }
      this.#stopTimer();
      this.#lease = lease;
      this.#anchor = sentAt;
      this.#scheduleRenewal(lease);
    } catch (err) {
      // A server that redirects or drains has let go of this connection's leases.
      if (this.#state === "held" && this.#token === token) this.#lose(err, isRedirect(err));
      else if (isRedirect(err)) this.#core.pool.discard(pc);
    }
  }

  /** Ends a held lease as lost because of `cause` (see {@linkcode #endLease}). */
  #lose(cause: unknown, dropConnection = false): void {
    this.#endLease(
      `The lease of ${this.what} was lost: ${lossDetail(cause, this.what)}`,
      cause,
      dropConnection,
    );
  }

  /** The local deadline passed before a renewal was confirmed (`why`: what delayed it). */
  #expire(why: string, dropConnection = false): void {
    this.#endLease(
      `The lease of ${this.what} ran out before it was renewed: ${why}`,
      undefined,
      dropConnection,
    );
  }

  /**
   * Ends a held lease as lost with a {@linkcode LeaseLostError} of `message`;
   * `dropConnection`: its connection is not to be trusted (it did not answer in time, or
   * redirected), so it is closed even when shared. In cluster mode the token is then released
   * on the leader in the background: a lease whose connection died with a crashed leader lives
   * on in the cluster until it runs out, and would block the key.
   */
  #endLease(message: string, cause: unknown, dropConnection: boolean): void {
    if (this.#state !== "held") return;
    const token = this.#token!;
    const err = new LeaseLostError(
      message,
      this.#o.key,
      cause === undefined ? undefined : { cause },
    );
    this.#state = "idle";
    this.#token = undefined;
    this.#lease = undefined;
    this.#lost = err;
    this.#stopTimer();
    const pc = this.#disown();
    // An exclusive connection's state is unknown now; the shared one serves others, unless it
    // stopped answering.
    if (pc !== undefined && (!pc.shared || dropConnection)) this.#core.pool.discard(pc);
    this.#controller ??= new AbortController();
    this.#controller.abort(err);
    if (this.#core.failover.cluster) this.#releaseOrphan(token);
    try {
      this.#o.onLockLost?.(this.#o.key, token);
    } catch {
      // A throwing callback must not break the client.
    }
  }

  /** Releases a lost lease's token on the cluster's leader, best effort. */
  #releaseOrphan(token: string): void {
    const core = this.#core;
    if (core.pool.closed) return;
    core.failover.run(
      core.failover.start(this.#index),
      async (index, signal) => {
        const pc = await core.pool.shared(index, signal);
        const request = this.#ops.release(pc.conn, token);
        await (signal === undefined ? request : raceAbort(request, signal));
      },
      undefined,
      core.options.requestTimeoutMs,
    ).catch(() => {});
  }

  // ---- release and close --------------------------------------------------------------------

  release(signal: AbortSignal | undefined): Promise<void> {
    if (this.#state === "releasing") return this.#releasing!.catch(() => {});
    if (this.#state === "queued") {
      // Leaving the queue means closing the connection the place lives on.
      const pc = this.#disown();
      this.#state = "idle";
      if (pc !== undefined) this.#core.pool.discard(pc);
      return Promise.resolve();
    }
    if (this.#state === "busy") return Promise.resolve();
    if (this.#state !== "held") {
      const lost = this.#lost;
      this.#lost = undefined;
      return lost === undefined ? Promise.resolve() : Promise.reject(lost);
    }
    this.#state = "releasing";
    this.#stopTimer();
    const releasing = this.#release(this.#token!, signal);
    this.#releasing = releasing;
    return releasing;
  }

  async #release(token: string, signal: AbortSignal | undefined): Promise<void> {
    const pool = this.#core.pool;
    try {
      if (this.#renewing !== undefined) await this.#renewing.catch(() => {});
      const pc = this.#owner;
      if (this.#token !== token || pc === undefined) {
        // The renewal in flight failed: the lease is gone.
        const lost = this.#lost;
        this.#lost = undefined;
        if (lost !== undefined) throw lost;
        return;
      }
      if (pc.conn.isClosed) {
        this.#disown();
        if (this.#renews) {
          throw new LeaseLostError(
            `The lease of ${this.what} was lost: its connection to ${pc.conn.address} closed`,
            this.#o.key,
          );
        }
        return;
      }
      try {
        const request = this.#ops.release(pc.conn, token, pc.shared ? undefined : signal);
        await (pc.shared && signal !== undefined ? raceAbort(request, signal) : request);
      } catch (err) {
        this.#disown();
        if (!pc.shared || isRedirect(err)) pool.discard(pc);
        // A lease that was meant to run out may have: releasing it then is no error.
        if (!this.#renews && err instanceof DflockError && err.code === STATUS.error) return;
        throw err;
      }
      this.#disown();
      pool.giveBack(pc);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw err;
    } finally {
      if (this.#token === token) {
        this.#token = undefined;
        this.#lease = undefined;
      }
      if (this.#state === "releasing") this.#state = "idle";
      this.#releasing = undefined;
    }
  }

  /**
   * Stops renewing and gives up the lease without waiting for a release. An exclusive
   * connection is closed, so the server frees what it held (docs/protocol.md 5.8); a lease on the
   * shared connection, which must stay open for others, is released with `r` in the
   * background instead, to the same effect.
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#stopTimer();
    const token = this.#state === "held" ? this.#token : undefined;
    this.#state = "idle";
    this.#token = undefined;
    this.#lease = undefined;
    const pc = this.#disown();
    if (pc === undefined) return Promise.resolve();
    if (pc.shared) {
      if (token !== undefined) this.#ops.release(pc.conn, token).catch(() => {});
      return Promise.resolve();
    }
    this.#core.pool.discard(pc);
    return pc.conn.closed;
  }

  /**
   * `await using`: releases, then closes. A lease lost meanwhile is reported by throwing
   * {@linkcode LeaseLostError} (unless `release()` already reported it).
   */
  async dispose(): Promise<void> {
    try {
      if (!this.#closed) await this.release(undefined);
    } finally {
      await this.close();
    }
  }
}

/**
 * Acquires, runs `fn`, releases (also when `fn` throws) and returns `fn`'s result.
 *
 * @param signal Aborts a blocked acquire.
 * @returns What `fn` returned.
 * @throws {AcquireTimeoutError} When the acquire timed out.
 * @throws {LeaseLostError} When `fn` returned but the lease had been lost meanwhile.
 */
export async function runWithLease<T>(
  holder: LeaseHolder,
  fn: () => T | Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  if (!await holder.acquire(signal)) throw acquireTimedOut(holder.what, holder.acquireTimeoutS);
  let result: T;
  try {
    result = await fn();
  } catch (err) {
    await holder.release(undefined).catch(() => {});
    throw err;
  }
  await holder.release(undefined);
  return result;
}

/**
 * The error of a one-call acquire that timed out.
 *
 * @param what `lock "k"` or `semaphore "k"`.
 * @param seconds How long it waited (the acquire timeout, whole seconds or as given).
 * @returns The error, saying what to do.
 */
export function acquireTimedOut(what: string, seconds: number | undefined): AcquireTimeoutError {
  const waited = Math.ceil(seconds ?? DEFAULT_ACQUIRE_TIMEOUT_S);
  return new AcquireTimeoutError(
    `Cannot acquire ${what}: it stayed taken for the whole acquire timeout (${waited} s): ` +
      `try again later, or wait longer with acquireTimeoutS`,
  );
}
