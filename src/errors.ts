/**
 * Typed errors. Every error dflock raises on purpose is a {@linkcode DflockError}; when the
 * error stands for a server status, that status string is on `code`.
 *
 * @module
 */

import { STATUS } from "./protocol/commands.ts";

/**
 * Base class of every dflock error. `code` holds the wire status (`"error_max_locks"`, ...)
 * when the error comes from a server answer, or a short local code otherwise.
 *
 * @example Tell dflock errors from others by their code
 * ```ts
 * import { acquireLock, DflockError } from "@dflock/dflock";
 *
 * try {
 *   await using lock = await acquireLock("jobs/nightly");
 *   console.log(lock.token);
 * } catch (err) {
 *   if (!(err instanceof DflockError)) throw err;
 *   console.error(`dflock failed (${err.code}): ${err.message}`);
 * }
 * ```
 */
export class DflockError extends Error {
  /** The wire status, or a local code such as `"connection"`. */
  readonly code: string;

  /**
   * Creates the error.
   *
   * @param code Wire status or local code.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, code = "error", options?: ErrorOptions) {
    super(message, options);
    this.name = "DflockError";
    this.code = code;
  }
}

/**
 * The transport failed: connect refused or timed out, reset, or closed mid-request (`code`
 * `"connection"`: trying again may work). Failures that only a change of configuration fixes
 * have their own `code`, and {@linkcode isRetryable} is `false` for them:
 *
 * - `"tls_mismatch"`: one side speaks TLS and the other does not (connect with or without
 *   `tls` to match the server);
 * - `"tls_certificate"`: the server's TLS certificate was not accepted (trust its CA with
 *   `tls.caCerts`, or set `tls.serverName` to a name the certificate lists);
 * - `"permission_denied"`: the runtime or the operating system refused the connection (Deno
 *   without `--allow-net`, say).
 *
 * @example Report an unreachable server
 * ```ts
 * import { connect, ConnectionError } from "@dflock/dflock";
 *
 * try {
 *   await using conn = await connect({ host: "127.0.0.1", port: 6388, connectTimeoutMs: 2_000 });
 *   console.log(conn.address);
 * } catch (err) {
 *   if (err instanceof ConnectionError) console.error("dflockd is down:", err.cause);
 *   else throw err;
 * }
 * ```
 */
export class ConnectionError extends DflockError {
  /**
   * Creates the error.
   *
   * @param options Standard error options (`cause` carries the platform error), and `code`:
   *   `"connection"` (the default), `"tls_mismatch"`, `"tls_certificate"` or
   *   `"permission_denied"`.
   */
  constructor(message: string, options?: ErrorOptions & { code?: string }) {
    super(message, options?.code ?? "connection", options);
    this.name = "ConnectionError";
  }
}

/**
 * A server did not answer a request in time: within the client's `requestTimeoutMs`, beyond
 * the time a blocking request may legitimately wait (its own timeout). The connection is closed,
 * so nothing it held survives; a frozen or overloaded server is the usual cause.
 *
 * @example Tell a frozen server from a busy lock
 * ```ts
 * import { acquireLock, AcquireTimeoutError, RequestTimeoutError } from "@dflock/dflock";
 *
 * try {
 *   await using lock = await acquireLock("jobs/nightly", { acquireTimeoutS: 5 });
 *   console.log(lock.token);
 * } catch (err) {
 *   if (err instanceof RequestTimeoutError) console.error("the server stopped answering");
 *   else if (err instanceof AcquireTimeoutError) console.log("someone else holds it");
 *   else throw err;
 * }
 * ```
 */
export class RequestTimeoutError extends ConnectionError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RequestTimeoutError";
  }
}

/**
 * The peer sent something that is not valid dflockd protocol (unknown status, malformed line).
 *
 * @example Log the line the client could not parse
 * ```ts
 * import { connect, ping, ProtocolError } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * try {
 *   await ping(conn);
 * } catch (err) {
 *   if (err instanceof ProtocolError) console.error("not a dflockd server:", err.line);
 *   else throw err;
 * }
 * ```
 */
export class ProtocolError extends DflockError {
  /** The offending line, when there is one. */
  readonly line: string | undefined;

  /**
   * Creates the error.
   *
   * @param line The raw line that could not be understood.
   */
  constructor(message: string, line?: string, options?: ErrorOptions) {
    super(message, "protocol", options);
    this.name = "ProtocolError";
    this.line = line;
  }
}

/**
 * The server answered `timeout`, or a blocking acquire ran out of time.
 *
 * @example Skip the job when the lock stays busy
 * ```ts
 * import { AcquireTimeoutError, acquireLock } from "@dflock/dflock";
 *
 * try {
 *   await using lock = await acquireLock("jobs/nightly", { acquireTimeoutS: 5 });
 *   console.log("running with", lock.token);
 * } catch (err) {
 *   if (err instanceof AcquireTimeoutError) console.log("another worker has it; skipping");
 *   else throw err;
 * }
 * ```
 */
export class AcquireTimeoutError extends DflockError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, STATUS.timeout, options);
    this.name = "AcquireTimeoutError";
  }
}

/**
 * Authentication failed (`error_auth`, or any non-`ok` answer to `auth`).
 *
 * @example Detect a wrong auth token
 * ```ts
 * import { AuthError, connect } from "@dflock/dflock";
 *
 * try {
 *   await using conn = await connect({ authToken: "wrong-token" });
 *   console.log(conn.address);
 * } catch (err) {
 *   if (err instanceof AuthError) console.error("check DFLOCKD_AUTH_TOKEN");
 *   else throw err;
 * }
 * ```
 */
export class AuthError extends DflockError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, STATUS.errorAuth, options);
    this.name = "AuthError";
  }
}

/**
 * The server already tracks its maximum number of keys (`error_max_locks`).
 *
 * @example Back off when the server's key table is full
 * ```ts
 * import { acquire, connect, MaxLocksError } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * try {
 *   await acquire(conn, "jobs/1", 0);
 * } catch (err) {
 *   if (err instanceof MaxLocksError) console.warn("server at max keys; retry later");
 *   else throw err;
 * }
 * ```
 */
export class MaxLocksError extends DflockError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, STATUS.errorMaxLocks, options);
    this.name = "MaxLocksError";
  }
}

/**
 * The key's wait queue is full (`error_max_waiters`).
 *
 * @example Give up when too many clients already queue for a key
 * ```ts
 * import { acquire, connect, MaxWaitersError } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * try {
 *   await acquire(conn, "hot-key", 10);
 * } catch (err) {
 *   if (err instanceof MaxWaitersError) console.warn("queue full; try later");
 *   else throw err;
 * }
 * ```
 */
export class MaxWaitersError extends DflockError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, STATUS.errorMaxWaiters, options);
    this.name = "MaxWaitersError";
  }
}

/**
 * The key exists with another limit (`error_limit_mismatch`).
 *
 * @example Notice two callers disagreeing on a semaphore's limit
 * ```ts
 * import { connect, LimitMismatchError, semAcquire } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * try {
 *   await semAcquire(conn, "worker-pool", 0, 5);
 * } catch (err) {
 *   if (err instanceof LimitMismatchError) console.error("worker-pool exists with another limit");
 *   else throw err;
 * }
 * ```
 */
export class LimitMismatchError extends DflockError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, STATUS.errorLimitMismatch, options);
    this.name = "LimitMismatchError";
  }
}

/**
 * `wait` without a pending `enqueue` on this connection (`error_not_enqueued`).
 *
 * @example Waiting without enqueueing first
 * ```ts
 * import { connect, NotEnqueuedError, wait } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * try {
 *   await wait(conn, "my-key", 1);
 * } catch (err) {
 *   console.log(err instanceof NotEnqueuedError); // true: no enqueue on this connection
 * }
 * ```
 */
export class NotEnqueuedError extends DflockError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, STATUS.errorNotEnqueued, options);
    this.name = "NotEnqueuedError";
  }
}

/**
 * A second `enqueue` on the same key before `wait` (`error_already_enqueued`).
 *
 * @example Enqueueing twice on one connection
 * ```ts
 * import { AlreadyEnqueuedError, connect, enqueue } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * await enqueue(conn, "my-key");
 * try {
 *   await enqueue(conn, "my-key");
 * } catch (err) {
 *   console.log(err instanceof AlreadyEnqueuedError); // true
 * }
 * ```
 */
export class AlreadyEnqueuedError extends DflockError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, STATUS.errorAlreadyEnqueued, options);
    this.name = "AlreadyEnqueuedError";
  }
}

/**
 * The grant's lease ran out before `wait` collected it (`error_lease_expired`).
 *
 * @example Enqueue again when the grant expired before wait collected it
 * ```ts
 * import { connect, enqueue, LeaseExpiredError, wait } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * await enqueue(conn, "my-key", { leaseTtlS: 1 });
 * try {
 *   await wait(conn, "my-key", 10);
 * } catch (err) {
 *   if (err instanceof LeaseExpiredError) console.log("too slow to collect the grant");
 *   else throw err;
 * }
 * ```
 */
export class LeaseExpiredError extends DflockError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, STATUS.errorLeaseExpired, options);
    this.name = "LeaseExpiredError";
  }
}

/**
 * A held lease was lost: renewal refused, connection dropped, or the lease ran out locally.
 *
 * @example React to a lost lease
 * ```ts
 * import { DistributedLock, LeaseLostError } from "@dflock/dflock";
 *
 * const lock = new DistributedLock({
 *   key: "jobs/nightly",
 *   onLockLost: (key, token) => console.error(`lost ${key} (token ${token})`),
 * });
 * if (await lock.acquire()) {
 *   try {
 *     // long work, checking lock.signal.aborted from time to time
 *   } finally {
 *     await lock.release().catch((err) => {
 *       if (!(err instanceof LeaseLostError)) throw err;
 *       console.warn(`work on ${err.key} ran without the lock at the end`);
 *     });
 *   }
 * }
 * ```
 */
export class LeaseLostError extends DflockError {
  /** The key whose lease was lost. */
  readonly key: string;

  /**
   * Creates the error.
   *
   * @param key The key whose lease was lost.
   * @param options Standard error options; `cause` carries what made it fail.
   */
  constructor(message: string, key: string, options?: ErrorOptions) {
    super(message, "lease_lost", options);
    this.name = "LeaseLostError";
    this.key = key;
  }
}

/**
 * The server is shutting down and did not run the request (`error_draining`, newer servers).
 *
 * @example Retry elsewhere while a server shuts down
 * ```ts
 * import { acquire, connect, DrainingError } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * try {
 *   await acquire(conn, "my-key", 10);
 * } catch (err) {
 *   if (err instanceof DrainingError) console.warn("server is draining; use another one");
 *   else throw err;
 * }
 * ```
 */
export class DrainingError extends DflockError {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, STATUS.errorDraining, options);
    this.name = "DrainingError";
  }
}

/**
 * A cluster member that is not the leader (`error_not_leader [host:port]`).
 *
 * @example Follow the leader hint of a cluster member
 * ```ts
 * import { acquire, connect, NotLeaderError } from "@dflock/dflock";
 *
 * await using conn = await connect({ host: "10.0.0.2" });
 * try {
 *   await acquire(conn, "my-key", 10);
 * } catch (err) {
 *   if (err instanceof NotLeaderError && err.leader) console.log("retry on", err.leader);
 *   else throw err;
 * }
 * ```
 */
export class NotLeaderError extends DflockError {
  /** The leader's client address, when the server named one. */
  readonly leader: string | undefined;

  /**
   * Creates the error.
   *
   * @param leader The leader's `host:port`, if known.
   */
  constructor(message: string, leader?: string, options?: ErrorOptions) {
    super(message, STATUS.errorNotLeader, options);
    this.name = "NotLeaderError";
    this.leader = leader;
  }
}

/** What the server keeps until a key is forgotten, for the limit-mismatch message. */
function limitMismatchText(limit: number | undefined): string {
  const kept = "the server keeps a key's limit until the key has been unused long enough for " +
    "its idle GC";
  if (limit === 1) {
    return `the key is a semaphore on the server (a key is either a lock or a semaphore of ` +
      `one limit, and ${kept}): use another key for the lock`;
  }
  const other = limit === undefined ? "another limit" : `a limit other than ${limit}`;
  return `the key exists on the server as a lock or as a semaphore with ${other} (${kept}): ` +
    `give every user of the key the same limit, or use another key`;
}

/**
 * Builds the typed error for an error status from the server.
 *
 * @param status The status word (`error`, `error_max_locks`, ...).
 * @param action What was attempted, for the message (`Cannot acquire lock "jobs/1"`).
 * @param context `leader`: the leader address of an `error_not_leader` answer; `limit`: the
 *   limit the request asked for (1 for a lock), for the `error_limit_mismatch` message.
 * @returns The matching {@linkcode DflockError} subclass; a plain `DflockError` for `error` and
 * for statuses this client does not know.
 */
export function errorForStatus(
  status: string,
  action: string,
  context?: { leader?: string | undefined; limit?: number | undefined },
): DflockError {
  switch (status) {
    case STATUS.timeout:
      return new AcquireTimeoutError(`${action}: timed out`);
    case STATUS.errorAuth:
      return new AuthError(
        `${action}: the server requires an auth token and none was sent: set authToken ` +
          `(--auth-token or $DFLOCKD_AUTH_TOKEN on the command line)`,
      );
    case STATUS.errorMaxLocks:
      return new MaxLocksError(
        `${action}: the server already tracks its maximum number of keys (max_locks): retry ` +
          `later (its idle GC removes unused keys) or raise the server's --max-locks`,
      );
    case STATUS.errorMaxWaiters:
      return new MaxWaitersError(
        `${action}: the key's wait queue is full (max_waiters): retry later or raise the ` +
          `server's --max-waiters`,
      );
    case STATUS.errorLimitMismatch:
      return new LimitMismatchError(`${action}: ${limitMismatchText(context?.limit)}`);
    case STATUS.errorNotEnqueued:
      return new NotEnqueuedError(
        `${action}: this connection has not enqueued for the key: call enqueue() first, on the ` +
          `same connection`,
      );
    case STATUS.errorAlreadyEnqueued:
      return new AlreadyEnqueuedError(
        `${action}: this connection has already enqueued for the key: call wait() to collect ` +
          `that first`,
      );
    case STATUS.errorLeaseExpired:
      return new LeaseExpiredError(
        `${action}: the lease granted to the enqueue ran out before wait() collected it: ` +
          `enqueue again (with a longer lease if this repeats)`,
      );
    case STATUS.errorDraining:
      return new DrainingError(
        `${action}: the server is shutting down: retry on another server or once it has restarted`,
      );
    case STATUS.errorNotLeader: {
      const leader = context?.leader;
      return new NotLeaderError(
        `${action}: the server is not the cluster's leader: ` +
          (leader
            ? `send requests to the leader, ${leader}`
            : `retry on another member (list every member in servers, with cluster: true)`),
        leader,
      );
    }
    default:
      return new DflockError(`${action}: server answered "${status}"`, status);
  }
}

/**
 * Builds the error for an answer other than `ok` to `auth`.
 *
 * @param action What was attempted (`Cannot authenticate to 127.0.0.1:6388`).
 * @param line The server's answer.
 * @returns An {@linkcode AuthError} that says what to change.
 */
export function authRefused(action: string, line: string): AuthError {
  const status = line.trim();
  if (status === STATUS.errorAuth) {
    return new AuthError(
      `${action}: the server refused the auth token: set authToken to the server's token ` +
        `(--auth-token or $DFLOCKD_AUTH_TOKEN on the command line)`,
    );
  }
  if (status === STATUS.error) {
    return new AuthError(
      `${action}: the server answered "error" to auth: it has no auth token configured (or ` +
        `this connection is authenticated already): connect without authToken (drop ` +
        `--auth-token and $DFLOCKD_AUTH_TOKEN on the command line)`,
    );
  }
  return new AuthError(`${action}: server answered "${line}"`);
}

/** `code` values of {@linkcode ConnectionError}s that only a change of configuration fixes. */
const SETUP_FAILURES: ReadonlySet<string> = new Set([
  "tls_mismatch",
  "tls_certificate",
  "permission_denied",
]);

/**
 * Tells whether trying the same operation again (after a pause, possibly on another server)
 * can succeed: connection failures, timeouts, full queues or key tables, draining and
 * not-leader answers. Auth, protocol, argument and lease errors are not retryable, and neither
 * are the connection failures a retry cannot fix: a TLS mismatch (`code` `"tls_mismatch"`), a
 * rejected certificate (`"tls_certificate"`) or a refused permission (`"permission_denied"`,
 * Deno without `--allow-net`).
 *
 * @param err Any thrown value.
 * @returns `true` when a retry makes sense.
 *
 * @example Retry only what can succeed later
 * ```ts
 * import { acquireLock, AuthError, ConnectionError, isRetryable } from "@dflock/dflock";
 *
 * console.log(isRetryable(new ConnectionError("reset"))); // true
 * console.log(isRetryable(new AuthError("bad token"))); // false
 * console.log(isRetryable(new ConnectionError("no TLS", { code: "tls_mismatch" }))); // false
 *
 * for (let attempt = 1; ; attempt++) {
 *   try {
 *     await using lock = await acquireLock("jobs/nightly");
 *     console.log(lock.token);
 *     break;
 *   } catch (err) {
 *     if (!isRetryable(err) || attempt === 3) throw err;
 *     await new Promise((resolve) => setTimeout(resolve, 1_000 * attempt));
 *   }
 * }
 * ```
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof ConnectionError) return !SETUP_FAILURES.has(err.code);
  return err instanceof AcquireTimeoutError ||
    err instanceof MaxLocksError || err instanceof MaxWaitersError ||
    err instanceof DrainingError || err instanceof NotLeaderError;
}
