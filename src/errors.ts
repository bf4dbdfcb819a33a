/**
 * Typed errors. Every error dflock raises on purpose is a {@linkcode LockError}; when the
 * error stands for a server status, that status string is on `code`.
 *
 * @module
 */

import { STATUS } from "./protocol/commands.ts";

/**
 * Base class of every dflock error. `code` holds the wire status (`"error_max_locks"`, ...)
 * when the error comes from a server answer, or a short local code otherwise.
 */
export class LockError extends Error {
  /** The wire status, or a local code such as `"connection"`. */
  readonly code: string;

  /**
   * Creates the error.
   *
   * @param message Human-readable description.
   * @param code Wire status or local code.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, code = "error", options?: ErrorOptions) {
    super(message, options);
    this.name = "LockError";
    this.code = code;
  }
}

/** The transport failed: connect refused or timed out, reset, or closed mid-request. */
export class ConnectionError extends LockError {
  /**
   * Creates the error.
   *
   * @param message Human-readable description.
   * @param options Standard error options; `cause` carries the platform error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, "connection", options);
    this.name = "ConnectionError";
  }
}

/** The peer sent something that is not valid dflockd protocol (unknown status, malformed line). */
export class ProtocolError extends LockError {
  /** The offending line, when there is one. */
  readonly line: string | undefined;

  /**
   * Creates the error.
   *
   * @param message Human-readable description.
   * @param line The raw line that could not be understood.
   * @param options Standard error options.
   */
  constructor(message: string, line?: string, options?: ErrorOptions) {
    super(message, "protocol", options);
    this.name = "ProtocolError";
    this.line = line;
  }
}

/** The server answered `timeout`, or a blocking acquire ran out of time. */
export class AcquireTimeoutError extends LockError {
  /**
   * Creates the error.
   *
   * @param message Human-readable description.
   * @param options Standard error options.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, STATUS.timeout, options);
    this.name = "AcquireTimeoutError";
  }
}

/** Authentication failed (`error_auth`, or any non-`ok` answer to `auth`). */
export class AuthError extends LockError {
  /**
   * Creates the error.
   *
   * @param message Human-readable description.
   * @param options Standard error options.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, STATUS.errorAuth, options);
    this.name = "AuthError";
  }
}

/** The server already tracks its maximum number of keys (`error_max_locks`). */
export class MaxLocksError extends LockError {
  /**
   * Creates the error.
   *
   * @param message Human-readable description.
   * @param options Standard error options.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, STATUS.errorMaxLocks, options);
    this.name = "MaxLocksError";
  }
}

/** The key's wait queue is full (`error_max_waiters`). */
export class MaxWaitersError extends LockError {
  /**
   * Creates the error.
   *
   * @param message Human-readable description.
   * @param options Standard error options.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, STATUS.errorMaxWaiters, options);
    this.name = "MaxWaitersError";
  }
}

/** The key exists with another limit (`error_limit_mismatch`). */
export class LimitMismatchError extends LockError {
  /**
   * Creates the error.
   *
   * @param message Human-readable description.
   * @param options Standard error options.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, STATUS.errorLimitMismatch, options);
    this.name = "LimitMismatchError";
  }
}

/** `wait` without a pending `enqueue` on this connection (`error_not_enqueued`). */
export class NotEnqueuedError extends LockError {
  /**
   * Creates the error.
   *
   * @param message Human-readable description.
   * @param options Standard error options.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, STATUS.errorNotEnqueued, options);
    this.name = "NotEnqueuedError";
  }
}

/** A second `enqueue` on the same key before `wait` (`error_already_enqueued`). */
export class AlreadyEnqueuedError extends LockError {
  /**
   * Creates the error.
   *
   * @param message Human-readable description.
   * @param options Standard error options.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, STATUS.errorAlreadyEnqueued, options);
    this.name = "AlreadyEnqueuedError";
  }
}

/** The grant's lease ran out before `wait` collected it (`error_lease_expired`). */
export class LeaseExpiredError extends LockError {
  /**
   * Creates the error.
   *
   * @param message Human-readable description.
   * @param options Standard error options.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, STATUS.errorLeaseExpired, options);
    this.name = "LeaseExpiredError";
  }
}

/** A held lease was lost: renewal refused, connection dropped, or the lease ran out locally. */
export class LeaseLostError extends LockError {
  /** The key whose lease was lost. */
  readonly key: string;

  /**
   * Creates the error.
   *
   * @param message Human-readable description.
   * @param key The key whose lease was lost.
   * @param options Standard error options; `cause` carries what made it fail.
   */
  constructor(message: string, key: string, options?: ErrorOptions) {
    super(message, "lease_lost", options);
    this.name = "LeaseLostError";
    this.key = key;
  }
}

/** The server is shutting down and did not run the request (`error_draining`, newer servers). */
export class DrainingError extends LockError {
  /**
   * Creates the error.
   *
   * @param message Human-readable description.
   * @param options Standard error options.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, STATUS.errorDraining, options);
    this.name = "DrainingError";
  }
}

/** A cluster member that is not the leader (`error_not_leader [host:port]`). */
export class NotLeaderError extends LockError {
  /** The leader's client address, when the server named one. */
  readonly leader: string | undefined;

  /**
   * Creates the error.
   *
   * @param message Human-readable description.
   * @param leader The leader's `host:port`, if known.
   * @param options Standard error options.
   */
  constructor(message: string, leader?: string, options?: ErrorOptions) {
    super(message, STATUS.errorNotLeader, options);
    this.name = "NotLeaderError";
    this.leader = leader;
  }
}

/**
 * Builds the typed error for an error status from the server.
 *
 * @param status The status word (`error`, `error_max_locks`, ...).
 * @param action What was attempted, for the message (`Cannot acquire lock "jobs/1"`).
 * @param leader The leader address of an `error_not_leader` answer.
 * @returns The matching {@linkcode LockError} subclass; a plain `LockError` for `error` and
 * for statuses this client does not know.
 */
export function errorForStatus(status: string, action: string, leader?: string): LockError {
  switch (status) {
    case STATUS.timeout:
      return new AcquireTimeoutError(`${action}: timed out`);
    case STATUS.errorAuth:
      return new AuthError(`${action}: authentication failed`);
    case STATUS.errorMaxLocks:
      return new MaxLocksError(`${action}: server is at max locks`);
    case STATUS.errorMaxWaiters:
      return new MaxWaitersError(`${action}: wait queue is full`);
    case STATUS.errorLimitMismatch:
      return new LimitMismatchError(`${action}: the key exists with another limit`);
    case STATUS.errorNotEnqueued:
      return new NotEnqueuedError(`${action}: not enqueued on this connection`);
    case STATUS.errorAlreadyEnqueued:
      return new AlreadyEnqueuedError(`${action}: already enqueued on this connection`);
    case STATUS.errorLeaseExpired:
      return new LeaseExpiredError(`${action}: the lease expired before it was collected`);
    case STATUS.errorDraining:
      return new DrainingError(`${action}: server is shutting down`);
    case STATUS.errorNotLeader:
      return new NotLeaderError(
        `${action}: server is not the leader${leader ? ` (leader: ${leader})` : ""}`,
        leader,
      );
    default:
      return new LockError(`${action}: server answered "${status}"`, status);
  }
}

/**
 * Tells whether trying the same operation again (after a pause, possibly on another server)
 * can succeed: connection failures, timeouts, full queues or key tables, draining and
 * not-leader answers. Auth, protocol, argument and lease errors are not retryable.
 *
 * @param err Any thrown value.
 * @returns `true` when a retry makes sense.
 */
export function isRetryable(err: unknown): boolean {
  return err instanceof ConnectionError || err instanceof AcquireTimeoutError ||
    err instanceof MaxLocksError || err instanceof MaxWaitersError ||
    err instanceof DrainingError || err instanceof NotLeaderError;
}
