/**
 * Typed errors. Every error dflock raises on purpose is a {@linkcode LockError}; when the
 * error stands for a server status, that status string is on `code`.
 *
 * @module
 */

/**
 * Base class of every dflock error. `code` holds the wire status (`"error_max_locks"`, ...)
 * when the error comes from a server answer, or a short local code otherwise.
 */
export class LockError extends Error {
  /** The wire status, or a local code such as `"connection"`. */
  readonly code: string;

  /**
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
