/**
 * The lifecycle shared by {@linkcode DistributedLock} and {@linkcode DistributedSemaphore}: one
 * lazily opened connection, acquire / two-phase enqueue+wait, background renewal with early
 * jitter, keepalive pings, lease-loss detection, release and close. Internal.
 *
 * @module
 */

import {
  AcquireTimeoutError,
  ConnectionError,
  DrainingError,
  LeaseLostError,
  LockError,
  NotEnqueuedError,
  NotLeaderError,
} from "../errors.ts";
import { fenceFromToken } from "../protocol/fence.ts";
import { connect } from "./connection.ts";
import type { Connection } from "./connection.ts";
import { ping } from "./low_level.ts";
import type { EnqueueResult, Grant } from "./low_level.ts";
import { followRedirects, shardIndex } from "./servers.ts";
import type { ResolvedLeaseOptions } from "./options.ts";
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

type State = "idle" | "busy" | "queued" | "held" | "releasing";

const MAX_TIMER_MS = 0x7fffffff;
const RENEW_JITTER = 0.1;

function quietly(p: Promise<unknown> | undefined): Promise<void> {
  return p === undefined ? Promise.resolve() : p.then(() => {}, () => {});
}

/** Shared implementation behind the public lock and semaphore classes. */
export class LeaseHolder {
  readonly #o: ResolvedLeaseOptions;
  readonly #ops: LeaseOps;
  #index: number;
  #conn: Connection | undefined;
  #state: State = "idle";
  #closed = false;
  #token: string | undefined;
  #lease: number | undefined;
  #controller = new AbortController();
  #controllerUsed = false;
  #lost: LeaseLostError | undefined;
  #renewAt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  #inflight: Promise<void> | undefined;
  #releasing: Promise<void> | undefined;

  /**
   * @param options Resolved options.
   * @param ops The lock or semaphore wire operations.
   */
  constructor(options: ResolvedLeaseOptions, ops: LeaseOps) {
    this.#o = options;
    this.#ops = ops;
    this.#index = shardIndex(options.key, options.servers.length, options.shardingStrategy);
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
    return this.#controller.signal;
  }

  get acquireTimeoutS(): number {
    return this.#o.acquireTimeoutS;
  }

  /** The address of the server currently in use (the shard, or where a redirect led). */
  get serverAddress(): string {
    return this.#o.servers[this.#index]!.address;
  }

  #what(): string {
    return `${this.#ops.noun} "${this.#o.key}"`;
  }

  #enter(action: string): void {
    if (this.#closed) {
      throw new LockError(`Cannot ${action} ${this.#what()}: it is closed`, "closed");
    }
    if (this.#state === "busy" || this.#state === "releasing") {
      throw new LockError(`Cannot ${action} ${this.#what()}: another call is in progress`, "busy");
    }
    if (this.#state === "held") {
      throw new LockError(`Cannot ${action} ${this.#what()}: it is already held`, "held");
    }
    if (this.#state === "queued") {
      throw new LockError(
        `Cannot ${action} ${this.#what()}: it is enqueued, call wait()`,
        "queued",
      );
    }
    this.#lost = undefined;
  }

  // ---- connection ---------------------------------------------------------------------------

  #dropConn(): void {
    const conn = this.#conn;
    this.#conn = undefined;
    if (conn !== undefined) void conn.close().catch(() => {});
  }

  async #connection(index: number, signal: AbortSignal | undefined): Promise<Connection> {
    if (index !== this.#index) {
      this.#dropConn();
      this.#index = index;
    }
    if (this.#conn !== undefined && !this.#conn.isClosed) return this.#conn;
    this.#conn = undefined;
    const server = this.#o.servers[index]!;
    const conn = await connect({
      host: server.host,
      port: server.port,
      tls: this.#o.tls,
      authToken: this.#o.authToken,
      connectTimeoutMs: this.#o.connectTimeoutMs,
      transport: this.#o.transport,
      signal,
    });
    if (this.#closed) {
      await conn.close();
      throw new LockError(`Cannot use ${this.#what()}: it was closed`, "closed");
    }
    this.#conn = conn;
    void conn.closed.then(() => this.#onConnClosed(conn));
    return conn;
  }

  #onConnClosed(conn: Connection): void {
    if (this.#conn !== conn) return;
    this.#conn = undefined;
    if (this.#state === "held") {
      this.#lose(new ConnectionError(`Connection to ${conn.address} closed`));
    } else if (this.#state === "queued") {
      this.#state = "idle";
      this.#stopTimers();
    }
  }

  /** Runs `op` on the current server's connection, following redirects. */
  #run<T>(op: (conn: Connection) => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    return followRedirects(this.#o.servers, this.#index, async (index) => {
      const conn = await this.#connection(index, signal);
      try {
        return await op(conn);
      } catch (err) {
        if (err instanceof NotLeaderError || err instanceof DrainingError) {
          if (this.#conn === conn) this.#dropConn();
        }
        throw err;
      }
    }, { signal, cluster: this.#o.cluster });
  }

  // ---- acquisition --------------------------------------------------------------------------

  async acquire(signal: AbortSignal | undefined): Promise<boolean> {
    signal?.throwIfAborted();
    this.#enter("acquire");
    this.#state = "busy";
    try {
      const sentAt = performance.now();
      const grant = await this.#run(
        (conn) => this.#ops.acquire(conn, this.#o.acquireTimeoutS, signal),
        signal,
      );
      this.#hold(grant, sentAt);
      return true;
    } catch (err) {
      if (err instanceof AcquireTimeoutError) return false;
      throw this.#failure(err, signal);
    } finally {
      if (this.#state === "busy") this.#state = "idle";
    }
  }

  async enqueue(signal: AbortSignal | undefined): Promise<"acquired" | "queued"> {
    signal?.throwIfAborted();
    this.#enter("enqueue for");
    this.#state = "busy";
    try {
      const sentAt = performance.now();
      const r = await this.#run((conn) => this.#ops.enqueue(conn, signal), signal);
      if (r.status === "acquired") {
        this.#hold(r, sentAt);
        return "acquired";
      }
      this.#state = "queued";
      this.#schedule();
      return "queued";
    } catch (err) {
      throw this.#failure(err, signal);
    } finally {
      if (this.#state === "busy") this.#state = "idle";
    }
  }

  async wait(timeoutS: number, signal: AbortSignal | undefined): Promise<boolean> {
    signal?.throwIfAborted();
    if (this.#closed) {
      throw new LockError(`Cannot wait for ${this.#what()}: it is closed`, "closed");
    }
    if (this.#state === "held") return true;
    if (this.#state === "busy" || this.#state === "releasing") {
      throw new LockError(`Cannot wait for ${this.#what()}: another call is in progress`, "busy");
    }
    if (this.#state !== "queued") {
      throw new NotEnqueuedError(`Cannot wait for ${this.#what()}: not enqueued`);
    }
    const conn = this.#conn;
    this.#state = "busy";
    this.#stopTimers();
    await quietly(this.#inflight);
    try {
      if (conn === undefined || conn.isClosed || this.#conn !== conn) {
        throw new ConnectionError(`Cannot wait for ${this.#what()}: the connection was lost`);
      }
      const sentAt = performance.now();
      const grant = await this.#ops.wait(conn, timeoutS, signal);
      this.#hold(grant, sentAt);
      return true;
    } catch (err) {
      this.#dropConn();
      if (err instanceof AcquireTimeoutError) return false;
      throw this.#failure(err, signal);
    } finally {
      if (this.#state === "busy") this.#state = "idle";
    }
  }

  /** Maps a failed acquisition: abort -> `signal.reason`; drops a dead connection. */
  #failure(err: unknown, signal: AbortSignal | undefined): unknown {
    if (this.#conn?.isClosed) this.#conn = undefined;
    if (signal?.aborted) {
      this.#dropConn();
      return signal.reason;
    }
    if (err instanceof ConnectionError) this.#dropConn();
    return err;
  }

  /**
   * Starts holding a grant whose request was sent at `sentAt`. The server started the lease
   * at some moment between sending and reading the answer, so the local deadline counts from
   * `sentAt`: never later than the server's. When the request waited in the queue for long
   * (longer than a renewal interval), that bound is too loose to be useful; the deadline then
   * counts from now and the lease is renewed at once, which re-anchors it on the renewal's
   * send time.
   */
  #hold(grant: Grant, sentAt: number): void {
    if (this.#controllerUsed) this.#controller = new AbortController();
    this.#controllerUsed = true;
    this.#token = grant.token;
    this.#lease = grant.lease;
    this.#state = "held";
    const now = performance.now();
    if (now - sentAt <= grant.lease * 1000 * this.#o.renewRatio) {
      this.#leaseRenewed(grant.lease, sentAt);
    } else {
      this.#leaseRenewed(grant.lease, now);
      this.#renewAt = now;
      this.#schedule();
    }
  }

  // ---- renewal and keepalive ----------------------------------------------------------------

  #leaseRenewed(lease: number, since: number): void {
    const now = performance.now();
    const interval = lease * 1000 * this.#o.renewRatio * (1 - randomUnit() * RENEW_JITTER);
    this.#renewAt = now + Math.max(interval, 10);
    if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer);
    const token = this.#token;
    this.#deadlineTimer = setTimeout(() => {
      this.#deadlineTimer = undefined;
      if (this.#state === "held" && this.#token === token) {
        this.#lose(new LockError(`The lease of ${this.#what()} ran out before it was renewed`));
      }
    }, Math.min(Math.max(0, since + lease * 1000 - now), MAX_TIMER_MS));
    this.#schedule();
  }

  #stopTimers(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer);
    this.#timer = undefined;
    this.#deadlineTimer = undefined;
  }

  #schedule(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#inflight !== undefined) return;
    if (this.#state !== "held" && this.#state !== "queued") return;
    const now = performance.now();
    let next = this.#state === "held" ? this.#renewAt : Infinity;
    const conn = this.#conn;
    if (conn !== undefined) next = Math.min(next, now + this.#o.keepaliveIntervalMs - conn.idleMs);
    if (!Number.isFinite(next)) return;
    this.#timer = setTimeout(() => this.#tick(), Math.min(Math.max(0, next - now), MAX_TIMER_MS));
  }

  #tick(): void {
    this.#timer = undefined;
    if (this.#inflight !== undefined) return;
    const now = performance.now();
    let job: Promise<void> | undefined;
    if (this.#state === "held" && now >= this.#renewAt) {
      job = this.#renew();
    } else if (
      (this.#state === "held" || this.#state === "queued") && this.#conn !== undefined &&
      this.#conn.idleMs >= this.#o.keepaliveIntervalMs - 5
    ) {
      job = quietly(ping(this.#conn));
    }
    if (job === undefined) {
      this.#schedule();
      return;
    }
    const inflight: Promise<void> = job.finally(() => {
      if (this.#inflight === inflight) this.#inflight = undefined;
      this.#schedule();
    });
    this.#inflight = inflight;
  }

  async #renew(): Promise<void> {
    const token = this.#token!;
    const sentAt = performance.now();
    try {
      const lease = await this.#run((conn) => this.#ops.renew(conn, token), undefined);
      if (this.#state !== "held" || this.#token !== token) return;
      this.#lease = lease;
      this.#leaseRenewed(lease, sentAt);
    } catch (err) {
      if (this.#state === "held" && this.#token === token) this.#lose(err);
    }
  }

  #lose(cause: unknown): void {
    if (this.#state !== "held") return;
    const token = this.#token!;
    const err = new LeaseLostError(
      `Lost the lease of ${this.#what()}${cause instanceof Error ? `: ${cause.message}` : ""}`,
      this.#o.key,
      { cause },
    );
    this.#state = "idle";
    this.#token = undefined;
    this.#lease = undefined;
    this.#lost = err;
    this.#stopTimers();
    this.#dropConn();
    this.#controller.abort(err);
    try {
      this.#o.onLockLost?.(this.#o.key, token);
    } catch {
      // A throwing callback must not break the client.
    }
  }

  // ---- release and close --------------------------------------------------------------------

  release(signal: AbortSignal | undefined): Promise<void> {
    if (this.#state === "releasing") return quietly(this.#releasing);
    if (this.#state === "busy" || this.#state === "queued") {
      // Only queued (or still blocked): leaving the queue means closing the connection.
      this.#stopTimers();
      this.#dropConn();
      if (this.#state === "queued") this.#state = "idle";
      return Promise.resolve();
    }
    if (this.#state !== "held") {
      const lost = this.#lost;
      this.#lost = undefined;
      return lost === undefined ? Promise.resolve() : Promise.reject(lost);
    }
    this.#state = "releasing";
    this.#stopTimers();
    const releasing = this.#release(this.#token!, signal);
    this.#releasing = releasing;
    return releasing;
  }

  async #release(token: string, signal: AbortSignal | undefined): Promise<void> {
    try {
      await quietly(this.#inflight);
      if (this.#token !== token) {
        // The renewal in flight failed: the lease is gone.
        const lost = this.#lost;
        this.#lost = undefined;
        if (lost !== undefined) throw lost;
        return;
      }
      await this.#run((conn) => this.#ops.release(conn, token, signal), signal);
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
      this.#dropConn();
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#stopTimers();
    this.#state = "idle";
    this.#token = undefined;
    this.#lease = undefined;
    const conn = this.#conn;
    this.#conn = undefined;
    return conn === undefined ? Promise.resolve() : conn.close().catch(() => {});
  }

  async dispose(): Promise<void> {
    try {
      if (!this.#closed) await this.release(undefined);
    } catch (err) {
      if (!(err instanceof LeaseLostError) && !(err instanceof ConnectionError)) {
        await this.close();
        throw err;
      }
    }
    await this.close();
  }
}

/**
 * Options of the `acquire*()` one-call helpers and `with*()` methods.
 *
 * @example Give up a blocked acquire after five seconds
 * ```ts
 * import { acquireLock, type SignalOption } from "@dflock/dflock";
 *
 * const options: SignalOption = { signal: AbortSignal.timeout(5_000) };
 * await using lock = await acquireLock("nightly-report", options);
 * ```
 */
export interface SignalOption {
  /** Aborting a blocked acquire closes its connection; the call rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/**
 * Acquires, runs `fn`, releases (also when `fn` throws) and returns `fn`'s result.
 *
 * @param holder The lease.
 * @param what `lock "k"` or `semaphore "k"`, for the timeout message.
 * @param fn The critical section.
 * @param signal Aborts a blocked acquire.
 * @returns What `fn` returned.
 * @throws {AcquireTimeoutError} When the acquire timed out.
 * @throws {LeaseLostError} When `fn` returned but the lease had been lost meanwhile.
 */
export async function runWithLease<T>(
  holder: LeaseHolder,
  what: string,
  fn: () => T | Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  if (!await holder.acquire(signal)) {
    throw new AcquireTimeoutError(
      `Cannot acquire ${what}: timed out after ${holder.acquireTimeoutS} s`,
    );
  }
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
