/**
 * Low-level dflockd calls: one function per protocol command, on a connection you manage
 * (the names follow the original TypeScript, Go and Python clients).
 *
 * Every function checks its arguments locally first (`TypeError`/`RangeError`, nothing is
 * sent), maps error statuses to the typed errors of `errors.ts`, and turns malformed reply
 * lines into {@linkcode ProtocolError}. Every function takes a final options bag with
 * `signal`; aborting a call that is waiting for its reply closes the connection.
 *
 * @example Lock, renew, release
 * ```ts
 * import { acquire, connect, release, renew } from "@dflock/dflock";
 *
 * const conn = await connect({ host: "127.0.0.1", port: 6388 });
 * const { token, lease } = await acquire(conn, "my-key", 10);
 * const seconds = await renew(conn, "my-key", token, 60);
 * await release(conn, "my-key", token);
 * conn.destroy();
 * ```
 *
 * @module
 */

import { COMMAND, STATUS } from "../protocol/commands.ts";
import type { Command } from "../protocol/commands.ts";
import { validateAuthToken, validateKey, validateSeconds } from "../protocol/encode.ts";
import { parseReply } from "../protocol/reply.ts";
import type { FailureReply, TimeoutReply } from "../protocol/reply.ts";
import { authRefused, DflockError, errorForStatus, ProtocolError } from "../errors.ts";
import type { CallOptions } from "./connection.ts";

export type { CallOptions };
import { parseStats } from "../protocol/stats.ts";
import type { ServerStats } from "../protocol/stats.ts";

export type { IdleKeyInfo, LockInfo, SemaphoreInfo, ServerStats } from "../protocol/stats.ts";

/** Largest semaphore limit newer servers accept (docs/protocol.md 15.8). */
export const MAX_SEMAPHORE_LIMIT = 1_048_576;

/** What the low-level functions need from a connection: a `Connection` fits. */
export interface Requester {
  /**
   * Sends one request and resolves with its reply line.
   *
   * @param options `signal` to abort.
   * @returns The reply line without `\n`.
   */
  request(command: Command, key: string, arg: string, options?: CallOptions): Promise<string>;
}

/** Options of calls that create a holder (`acquire`, `enqueue` and their semaphore twins). */
export interface LeaseOptions extends CallOptions {
  /** Lease in whole seconds (>= 1); the server default (33 s) when absent. */
  leaseTtlS?: number;
}

/** A granted lock or semaphore slot. */
export interface Grant {
  /** The holder's token (opaque; needed for renew and release). */
  token: string;
  /** The lease the server granted, in seconds. */
  lease: number;
}

/**
 * The answer of {@linkcode enqueue}: granted at once, or queued (collect with {@linkcode wait}).
 *
 * @example Wait only when queued
 * ```ts
 * import { connect } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * const r: EnqueueResult = await enqueue(conn, "k");
 * if (r.status === "queued") await wait(conn, "k", 10);
 * ```
 */
export type EnqueueResult =
  | { status: "acquired"; token: string; lease: number }
  | { status: "queued"; token?: undefined; lease?: undefined };

function validateToken(token: unknown): string {
  if (typeof token !== "string") {
    throw new TypeError(`token must be a string (got ${typeof token})`);
  }
  if (token.length === 0 || token.length > 256 || /\s/.test(token)) {
    throw new TypeError(`token must be a non-empty string without white space`);
  }
  return token;
}

/**
 * Checks a semaphore limit.
 *
 * @returns `limit`.
 * @throws {TypeError} If it is not a number.
 * @throws {RangeError} If it is not an integer from 1 to 1048576.
 *
 * @example A valid limit
 * ```ts
 * validateLimit(3); // 3
 * ```
 */
export function validateLimit(limit: unknown): number {
  if (typeof limit !== "number") {
    throw new TypeError(`limit must be a number (got ${typeof limit})`);
  }
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SEMAPHORE_LIMIT) {
    throw new RangeError(
      `limit must be an integer from 1 to ${MAX_SEMAPHORE_LIMIT} (got ${limit})`,
    );
  }
  return limit;
}

function leaseSuffix(options: LeaseOptions | undefined): string {
  const lease = options?.leaseTtlS;
  return lease === undefined ? "" : " " + validateSeconds(lease, { min: 1, name: "leaseTtlS" });
}

/** A plain `error` to a release or renewal: the token does not hold the key (any more). */
const NOT_HELD = "the server holds no such token for the key (the lease expired, or it was " +
  "released already)";

/**
 * The error for a failure (or unexpected timeout) reply. `limit` (1 for a lock) words the
 * limit-mismatch message; `plain` replaces the message of a plain `error`.
 */
function failure(
  r: FailureReply | TimeoutReply,
  action: string,
  limit?: number,
  plain?: string,
): DflockError {
  if (r.status === "malformed") {
    return new ProtocolError(`${action}: unexpected reply "${r.line}"`, r.line);
  }
  if (r.status === STATUS.errorNotLeader) {
    return errorForStatus(r.status, action, { leader: r.leader });
  }
  if (r.status === STATUS.timeout) return errorForStatus(r.status, action);
  // Unknown `error_*` words are reported as `error` by parseReply; keep the real word as code.
  const status = r.line.trim();
  if (status === STATUS.error && plain !== undefined) {
    return new DflockError(`${action}: ${plain}`, STATUS.error);
  }
  return errorForStatus(status, action, { limit });
}

/** Sends one request (a plain promise: the caller's `await` is the only async frame). */
function send(
  conn: Requester,
  command: Command,
  key: string,
  arg: string,
  options: CallOptions | undefined,
): Promise<string> {
  const signal = options?.signal;
  return conn.request(command, key, arg, signal ? { signal } : undefined);
}

/**
 * `ok <token> <lease>` to a grant; anything else throws (`what` and `key` name the call,
 * `limit` is the one asked for).
 */
function grantOf(line: string, what: string, key: string, limit?: number): Grant {
  const r = parseReply(line, "grant");
  if (r.status === STATUS.ok) return { token: r.token, lease: r.leaseS };
  throw failure(r, `${what} "${key}"`, limit);
}

/** `acquired <token> <lease>` or `queued`; anything else throws. */
function enqueuedOf(line: string, what: string, key: string, limit: number): EnqueueResult {
  const r = parseReply(line, "enqueue");
  if (r.status === STATUS.acquired) return { status: "acquired", token: r.token, lease: r.leaseS };
  if (r.status === STATUS.queued) return { status: "queued" };
  throw failure(r, `${what} "${key}"`, limit);
}

/** A release's plain `ok`; anything else throws. */
function releasedOf(line: string, what: string, key: string): void {
  const r = parseReply(line, "plain");
  if (r.status !== STATUS.ok) throw failure(r, `${what} "${key}"`, undefined, NOT_HELD);
}

/** Renew's `ok <seconds>`; anything else throws. */
function renewedOf(line: string, what: string, key: string): number {
  const r = parseReply(line, "renew");
  if (r.status === STATUS.ok) return r.leaseS;
  throw failure(r, `${what} "${key}"`, undefined, NOT_HELD);
}

/**
 * Acquires a lock (`l`), waiting up to `acquireTimeoutS` seconds on the server.
 *
 * @param acquireTimeoutS Whole seconds to wait; 0 tries once.
 * @param options `leaseTtlS` (server default when absent) and `signal`.
 * @returns The token and the granted lease in seconds.
 * @throws {AcquireTimeoutError} When the server answers `timeout`.
 * @throws {MaxLocksError} When the server tracks its maximum number of keys.
 * @throws {MaxWaitersError} When the key's queue is full.
 * @throws {DflockError} On other error statuses; {@linkcode ProtocolError} on a malformed reply.
 * @throws {ConnectionError} When the connection fails.
 * @throws {TypeError} On a bad key.
 * @throws {RangeError} On a bad timeout or lease.
 *
 * @example Acquire with a one-minute lease
 * ```ts
 * import { connect } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * const { token, lease } = await acquire(conn, "my-key", 10, { leaseTtlS: 60 });
 * ```
 */
export async function acquire(
  conn: Requester,
  key: string,
  acquireTimeoutS: number,
  options?: LeaseOptions,
): Promise<Grant> {
  validateKey(key);
  const t = validateSeconds(acquireTimeoutS, { name: "acquireTimeoutS" });
  const arg = t + leaseSuffix(options);
  const line = await send(conn, COMMAND.lock, key, arg, options);
  return grantOf(line, "Cannot acquire lock", key, 1);
}

/**
 * Releases a lock (`r`).
 *
 * @param conn The connection (any connection works; the token proves ownership).
 * @param token The token from acquire or wait.
 * @throws {DflockError} With code `error` when the token does not hold the key.
 * @throws {ConnectionError} When the connection fails.
 * @throws {TypeError} On a bad key or token.
 *
 * @example Release a held lock
 * ```ts
 * import { connect } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * const { token } = await acquire(conn, "my-key", 10);
 * await release(conn, "my-key", token);
 * ```
 */
export async function release(
  conn: Requester,
  key: string,
  token: string,
  options?: CallOptions,
): Promise<void> {
  validateKey(key);
  validateToken(token);
  const line = await send(conn, COMMAND.release, key, token, options);
  releasedOf(line, "Cannot release lock", key);
}

/**
 * Renews a lock's lease (`n`).
 *
 * @param leaseTtlS New lease in whole seconds; the server default when absent (not the
 *   lease the lock was acquired with).
 * @returns The new lease in seconds, as the server reports it.
 * @throws {DflockError} With code `error` when the token no longer holds the key.
 * @throws {ConnectionError} When the connection fails.
 * @throws {TypeError} On a bad key or token.
 * @throws {RangeError} On a bad lease.
 *
 * @example Extend the lease to a minute
 * ```ts
 * import { connect } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * const { token } = await acquire(conn, "my-key", 10);
 * const seconds = await renew(conn, "my-key", token, 60);
 * ```
 */
export async function renew(
  conn: Requester,
  key: string,
  token: string,
  leaseTtlS?: number,
  options?: CallOptions,
): Promise<number> {
  validateKey(key);
  validateToken(token);
  const arg = token + leaseSuffix({ leaseTtlS });
  const line = await send(conn, COMMAND.renew, key, arg, options);
  return renewedOf(line, "Cannot renew lock", key);
}

/**
 * Enqueues for a lock (`e`, two-phase step 1). Collect a queued slot with {@linkcode wait}
 * on the same connection.
 *
 * @param options `leaseTtlS` and `signal`.
 * @returns `{ status: "acquired", token, lease }` or `{ status: "queued" }`.
 * @throws {AlreadyEnqueuedError} When this connection is already enqueued for the key.
 * @throws {MaxLocksError} When the server tracks its maximum number of keys.
 * @throws {MaxWaitersError} When the key's queue is full.
 * @throws {ConnectionError} When the connection fails.
 * @throws {TypeError} On a bad key.
 * @throws {RangeError} On a bad lease.
 *
 * @example Two-phase acquisition
 * ```ts
 * import { connect } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * const r = await enqueue(conn, "my-key");
 * const { token } = r.status === "acquired" ? r : await wait(conn, "my-key", 10);
 * ```
 */
export async function enqueue(
  conn: Requester,
  key: string,
  options?: LeaseOptions,
): Promise<EnqueueResult> {
  validateKey(key);
  const arg = leaseSuffix(options).trimStart();
  const line = await send(conn, COMMAND.enqueue, key, arg, options);
  return enqueuedOf(line, "Cannot enqueue for lock", key, 1);
}

/**
 * Waits for an enqueued lock (`w`, two-phase step 2).
 *
 * @param conn The connection that enqueued.
 * @param waitTimeoutS Whole seconds to wait; 0 does not block.
 * @throws {AcquireTimeoutError} On `timeout` (the queue slot is gone; enqueue again).
 * @throws {NotEnqueuedError} Without a pending enqueue on this connection.
 * @throws {LeaseExpiredError} When the grant's lease ran out before it was collected.
 * @throws {ConnectionError} When the connection fails.
 * @throws {TypeError} On a bad key.
 * @throws {RangeError} On a bad timeout.
 *
 * @example Collect a queued lock
 * ```ts
 * import { connect } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * await enqueue(conn, "my-key");
 * const { token, lease } = await wait(conn, "my-key", 10);
 * ```
 */
export async function wait(
  conn: Requester,
  key: string,
  waitTimeoutS: number,
  options?: CallOptions,
): Promise<Grant> {
  validateKey(key);
  const t = validateSeconds(waitTimeoutS, { name: "waitTimeoutS" });
  const line = await send(conn, COMMAND.wait, key, String(t), options);
  return grantOf(line, "Cannot wait for lock", key, 1);
}

/**
 * Alias of {@linkcode wait}, under the name the original TypeScript client uses; parameters,
 * result and errors are {@linkcode wait}'s.
 *
 * @example Collect a queued lock
 * ```ts
 * import { connect } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * if ((await enqueue(conn, "my-key")).status === "queued") await waitForLock(conn, "my-key", 10);
 * ```
 */
export const waitForLock: typeof wait = wait;

/**
 * Acquires a semaphore slot (`sl`).
 *
 * @param acquireTimeoutS Whole seconds to wait; 0 tries once.
 * @param limit The semaphore's limit, 1..1048576 (must match the key's existing limit).
 * @param options `leaseTtlS` and `signal`.
 * @throws {AcquireTimeoutError} When the server answers `timeout`.
 * @throws {LimitMismatchError} When the key exists with another limit.
 * @throws {MaxLocksError} When the server tracks its maximum number of keys.
 * @throws {MaxWaitersError} When the key's queue is full.
 * @throws {ConnectionError} When the connection fails.
 * @throws {TypeError} On a bad key.
 * @throws {RangeError} On a bad timeout, limit or lease.
 *
 * @example Take one of three slots
 * ```ts
 * import { connect } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * const { token } = await semAcquire(conn, "pool", 10, 3);
 * ```
 */
export async function semAcquire(
  conn: Requester,
  key: string,
  acquireTimeoutS: number,
  limit: number,
  options?: LeaseOptions,
): Promise<Grant> {
  validateKey(key);
  const t = validateSeconds(acquireTimeoutS, { name: "acquireTimeoutS" });
  const arg = t + " " + validateLimit(limit) + leaseSuffix(options);
  const line = await send(conn, COMMAND.semAcquire, key, arg, options);
  return grantOf(line, "Cannot acquire semaphore", key, limit);
}

/**
 * Releases a semaphore slot (`sr`).
 *
 * @throws {DflockError} With code `error` when the token does not hold a slot.
 * @throws {ConnectionError} When the connection fails.
 * @throws {TypeError} On a bad key or token.
 *
 * @example Give a slot back
 * ```ts
 * import { connect } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * const { token } = await semAcquire(conn, "pool", 10, 3);
 * await semRelease(conn, "pool", token);
 * ```
 */
export async function semRelease(
  conn: Requester,
  key: string,
  token: string,
  options?: CallOptions,
): Promise<void> {
  validateKey(key);
  validateToken(token);
  const line = await send(conn, COMMAND.semRelease, key, token, options);
  releasedOf(line, "Cannot release semaphore", key);
}

/**
 * Renews a semaphore slot's lease (`sn`).
 *
 * @param leaseTtlS New lease in whole seconds; the server default when absent.
 * @returns The new lease in seconds.
 * @throws {DflockError} With code `error` when the token no longer holds a slot.
 * @throws {ConnectionError} When the connection fails.
 * @throws {TypeError} On a bad key or token.
 * @throws {RangeError} On a bad lease.
 *
 * @example Extend a slot's lease to a minute
 * ```ts
 * import { connect } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * const { token } = await semAcquire(conn, "pool", 10, 3);
 * const seconds = await semRenew(conn, "pool", token, 60);
 * ```
 */
export async function semRenew(
  conn: Requester,
  key: string,
  token: string,
  leaseTtlS?: number,
  options?: CallOptions,
): Promise<number> {
  validateKey(key);
  validateToken(token);
  const arg = token + leaseSuffix({ leaseTtlS });
  const line = await send(conn, COMMAND.semRenew, key, arg, options);
  return renewedOf(line, "Cannot renew semaphore", key);
}

/**
 * Enqueues for a semaphore slot (`se`, two-phase step 1).
 *
 * @param limit The semaphore's limit, 1..1048576.
 * @param options `leaseTtlS` and `signal`.
 * @returns `{ status: "acquired", token, lease }` or `{ status: "queued" }`.
 * @throws {AlreadyEnqueuedError} When this connection is already enqueued for the key.
 * @throws {LimitMismatchError} When the key exists with another limit.
 * @throws {MaxLocksError} When the server tracks its maximum number of keys.
 * @throws {MaxWaitersError} When the key's queue is full.
 * @throws {ConnectionError} When the connection fails.
 * @throws {TypeError} On a bad key.
 * @throws {RangeError} On a bad limit or lease.
 *
 * @example Queue for a slot, then wait
 * ```ts
 * import { connect } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * const r = await semEnqueue(conn, "pool", 3);
 * ```
 */
export async function semEnqueue(
  conn: Requester,
  key: string,
  limit: number,
  options?: LeaseOptions,
): Promise<EnqueueResult> {
  validateKey(key);
  const arg = validateLimit(limit) + leaseSuffix(options);
  const line = await send(conn, COMMAND.semEnqueue, key, arg, options);
  return enqueuedOf(line, "Cannot enqueue for semaphore", key, limit);
}

/**
 * Waits for an enqueued semaphore slot (`sw`, two-phase step 2).
 *
 * @param conn The connection that enqueued.
 * @param waitTimeoutS Whole seconds to wait; 0 does not block.
 * @throws {AcquireTimeoutError} On `timeout` (the queue slot is gone).
 * @throws {NotEnqueuedError} Without a pending enqueue on this connection.
 * @throws {LeaseExpiredError} When the grant's lease ran out before it was collected.
 * @throws {ConnectionError} When the connection fails.
 * @throws {TypeError} On a bad key.
 * @throws {RangeError} On a bad timeout.
 *
 * @example Collect a queued slot
 * ```ts
 * import { connect } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * await semEnqueue(conn, "pool", 3);
 * const { token } = await semWait(conn, "pool", 10);
 * ```
 */
export async function semWait(
  conn: Requester,
  key: string,
  waitTimeoutS: number,
  options?: CallOptions,
): Promise<Grant> {
  validateKey(key);
  const t = validateSeconds(waitTimeoutS, { name: "waitTimeoutS" });
  const line = await send(conn, COMMAND.semWait, key, String(t), options);
  return grantOf(line, "Cannot wait for semaphore", key);
}

/**
 * Reads the server's statistics (`stats`).
 *
 * @returns The typed statistics (camelCase fields).
 * @throws {ProtocolError} On a malformed reply.
 * @throws {ConnectionError} When the connection fails.
 *
 * @example List the held keys
 * ```ts
 * import { connect } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * const s = await stats(conn);
 * console.log(s.connections, s.locks.map((l) => l.key));
 * ```
 */
export async function stats(conn: Requester, options?: CallOptions): Promise<ServerStats> {
  const r = parseReply(await send(conn, COMMAND.stats, "_", "", options), "stats");
  if (r.status !== STATUS.ok) throw failure(r, "Cannot read stats");
  return parseStats(r.stats);
}

/**
 * Authenticates the connection (`auth`). {@linkcode connect} does this itself when given
 * `authToken`.
 *
 * @param conn A fresh connection (auth must be its first request).
 * @returns Resolves on `ok`.
 * @throws {AuthError} On any other answer (the server closes the connection after `error_auth`).
 * @throws {ConnectionError} When the connection fails.
 * @throws {TypeError} When the token is not a string or contains CR or LF.
 *
 * @example Authenticate a raw connection
 * ```ts
 * import { connect as openTransport } from "@dflock/dflock/transport";
 * import { Connection } from "@dflock/dflock";
 *
 * const transport = await openTransport({ hostname: "127.0.0.1", port: 6388 });
 * await using conn = new Connection(transport, "127.0.0.1:6388");
 * await auth(conn, "s3cret");
 * ```
 */
export async function auth(conn: Requester, token: string, options?: CallOptions): Promise<void> {
  validateAuthToken(token, "token");
  const r = parseReply(await send(conn, COMMAND.auth, "_", token, options), "plain");
  if (r.status !== STATUS.ok) throw authRefused("Cannot authenticate", r.line);
}

/**
 * Checks that the server is alive (`ping`). Newer servers answer `ok`; v1.10 servers do not
 * know `ping` and answer `error` (and the request still resets their idle timer).
 *
 * @returns `true` on `ok`, `false` on `error`; both mean the server is alive.
 * @throws {DflockError} On other error statuses (`error_auth`, `error_draining`, ...).
 * @throws {ConnectionError} When the connection fails.
 *
 * @example Check liveness
 * ```ts
 * import { connect } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * const knowsPing = await ping(conn);
 * ```
 */
export async function ping(conn: Requester, options?: CallOptions): Promise<boolean> {
  const r = parseReply(await send(conn, COMMAND.ping, "_", "_", options), "plain");
  if (r.status === STATUS.ok) return true;
  if (r.status === STATUS.error && r.line.trim() === STATUS.error) return false;
  throw failure(r, "Cannot ping");
}
