/**
 * Internal: turns platform errors (Deno `Deno.errors.*`, Node and Bun `code` strings) into
 * {@linkcode ConnectionError}s with a readable reason and the platform error as `cause`.
 *
 * @module
 */

import { ConnectionError } from "../errors.ts";
import type { NetAddr } from "./types.ts";

/** Short reasons keyed by Node/Bun `code` or Deno error `name`. */
const REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ConnectionRefused: "connection refused",
  ECONNRESET: "connection reset by peer",
  ConnectionReset: "connection reset by peer",
  ECONNABORTED: "connection aborted",
  ConnectionAborted: "connection aborted",
  EPIPE: "broken pipe",
  BrokenPipe: "broken pipe",
  ENOTCONN: "not connected",
  NotConnected: "not connected",
  EADDRINUSE: "address already in use",
  AddrInUse: "address already in use",
  EADDRNOTAVAIL: "address not available",
  AddrNotAvailable: "address not available",
  ETIMEDOUT: "timed out",
  TimedOut: "timed out",
  EACCES: "permission denied",
  PermissionDenied: "permission denied",
  NotCapable: "permission denied",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host not found",
  EAI_NONAME: "host not found",
};

/**
 * Formats an address as `host:port`, bracketing IPv6 literals (`[::1]:6388`); a host that is
 * bracketed already is left as it is. The one address format of messages, logs and server
 * lists.
 */
export function formatAddr(addr: NetAddr): string {
  const host = addr.hostname;
  return host.includes(":") && !host.startsWith("[")
    ? `[${host}]:${addr.port}`
    : `${host}:${addr.port}`;
}

/**
 * Describes a platform error in a few words ("connection refused"), falling back to its message.
 *
 * @param err The platform error.
 * @returns A short lower-case reason.
 */
export function describeError(err: unknown): string {
  if (typeof err === "object" && err !== null) {
    const { code, name, message } = err as { code?: unknown; name?: unknown; message?: unknown };
    if (typeof code === "string" && REASONS[code] !== undefined) return REASONS[code];
    if (typeof name === "string" && REASONS[name] !== undefined) return REASONS[name];
    if (typeof message === "string" && message !== "") return message;
  }
  return String(err);
}

/**
 * How far a connection attempt got: `"tcp"` while the TCP connection is being made, `"tls"`
 * once it is up and the TLS handshake runs.
 */
export type ConnectPhase = "tcp" | "tls";

/** What to do when the server turns out not to speak TLS. */
export const DROP_TLS = "connect without tls (drop --tls)";

/**
 * What TLS libraries say when the peer's answer is not TLS at all: OpenSSL (Node: `wrong
 * version number`, `packet length too long`, `unknown protocol`, `http request`), BoringSSL
 * (Bun: `WRONG_VERSION_NUMBER`, `RECORD_TOO_LARGE`) and rustls (Deno: `received corrupt
 * message of type InvalidContentType`).
 */
const NOT_TLS =
  /wrong[ _]version[ _]number|packet[ _]length[ _]too[ _]long|unknown[ _]protocol|http[ _]request|record[ _]too[ _]large|received corrupt message/i;

/** Node and Bun `code`s of certificate verification failures (OpenSSL's names). */
const CERT_CODE = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY|DECRYPT)|ALTNAME|HOSTNAME/;

/** A certificate that does not name the host (Node and Bun codes, Deno's words). */
const CERT_NAME = /ALTNAME|HOSTNAME|not valid for name/i;

/** Deno (rustls) and generic wording of certificate verification failures. */
const CERT_MESSAGE = /invalid peer certificate|certificate verify failed|self[- ]signed/i;

function fields(err: unknown): { code: string; name: string; message: string } {
  if (typeof err !== "object" || err === null) return { code: "", name: "", message: String(err) };
  const { code, name, message } = err as { code?: unknown; name?: unknown; message?: unknown };
  return {
    code: typeof code === "string" ? code : "",
    name: typeof name === "string" ? name : "",
    message: typeof message === "string" ? message : "",
  };
}

/**
 * Wraps a platform error as `ConnectionError("<action>: <reason>")` with the error as `cause`.
 * A `ConnectionError` is returned unchanged. A permission Deno refused gets `code`
 * `"permission_denied"` and Deno's words (they name the flag to add). When `err` ended a
 * connection attempt (`phase` given), the other failures a retry cannot fix get their own
 * `code` and a message that says what to change: a permission the system refused
 * (`"permission_denied"`), a rejected server certificate (`"tls_certificate"`), a server that
 * does not speak TLS (`"tls_mismatch"`); any other failure during the TLS handshake says that a
 * server without TLS is a possible cause.
 *
 * @param action What was attempted, e.g. `Cannot connect to 127.0.0.1:1234`.
 * @param err The platform error.
 * @param phase How far the connection attempt got, when `err` ended one.
 */
export function toConnectionError(
  action: string,
  err: unknown,
  phase?: ConnectPhase,
): ConnectionError {
  if (err instanceof ConnectionError) return err;
  const { code, name, message } = fields(err);
  const reason = describeError(err);
  if (name === "NotCapable" || name === "PermissionDenied") {
    // Deno's own message names the flag to add.
    return new ConnectionError(`${action}: permission denied: ${message}`, {
      cause: err,
      code: "permission_denied",
    });
  }
  if (phase === undefined) return new ConnectionError(`${action}: ${reason}`, { cause: err });
  if (code === "EACCES" || code === "EPERM") {
    return new ConnectionError(
      `${action}: permission denied by the operating system (${code}): a firewall or ` +
        `security policy blocks the connection`,
      { cause: err, code: "permission_denied" },
    );
  }
  if (CERT_CODE.test(code) || CERT_MESSAGE.test(message)) {
    const fix = CERT_NAME.test(code) || CERT_NAME.test(message)
      ? "set tls.serverName to a name the certificate lists, or connect by that name"
      : "trust the CA that signed it with tls.caCerts (--tls-ca on the command line)";
    return new ConnectionError(
      `${action}: the server's TLS certificate was not accepted (${reason}): ${fix}`,
      { cause: err, code: "tls_certificate" },
    );
  }
  if (NOT_TLS.test(message) || NOT_TLS.test(code)) {
    return new ConnectionError(`${action}: the server does not speak TLS: ${DROP_TLS}`, {
      cause: err,
      code: "tls_mismatch",
    });
  }
  if (phase === "tls") {
    return new ConnectionError(
      `${action}: the TLS handshake failed (${reason}); if the server does not speak TLS, ` +
        DROP_TLS,
      { cause: err },
    );
  }
  return new ConnectionError(`${action}: ${reason}`, { cause: err });
}

/**
 * Validates connect/listen address arguments.
 *
 * @param hostname Host name or address.
 * @throws {TypeError} When the hostname is not a non-empty string.
 * @throws {RangeError} When the port is not an integer in 0..65535.
 */
export function checkAddr(hostname: unknown, port: unknown): void {
  if (typeof hostname !== "string" || hostname === "") {
    throw new TypeError(
      `Cannot use hostname ${JSON.stringify(hostname)}: expected a non-empty string`,
    );
  }
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Cannot use port ${String(port)}: expected an integer from 0 to 65535`);
  }
}

/**
 * The error of a second `read()` while one is still pending on the same connection. Adapters
 * read into one buffer per connection, so a concurrent read is refused rather than served.
 *
 * @returns A `TypeError` that says what to do instead.
 */
export function concurrentReadError(): TypeError {
  return new TypeError(
    "Cannot read: a read() on this connection is still pending; await it before reading again " +
      "(one reader per connection)",
  );
}

/**
 * What an accept loop does about an error from accepting one connection:
 * - `"closed"`: the listener is gone; stop.
 * - `"skip"`: the error is about that one connection (reset or aborted by the client before it
 *   was accepted, or a network error pending on it): accept the next one at once.
 * - `"backoff"`: the process or system is out of resources (file descriptors, buffers, memory)
 *   or the error is unknown: wait briefly before accepting again, so the loop does not spin.
 */
export type AcceptErrorAction = "closed" | "skip" | "backoff";

/**
 * Errors about the connection being accepted, not about the listener (Node/Bun/Deno `code`s and
 * Deno error names). Linux's accept(2) hands pending network errors of the new connection to
 * the caller; Deno's accept fails with `NotConnected` when the peer reset the connection before
 * it was accepted (reading its address fails).
 */
const PER_CONNECTION = new Set([
  "ENOTCONN",
  "NotConnected",
  "ECONNRESET",
  "ConnectionReset",
  "ECONNABORTED",
  "ConnectionAborted",
  "EPIPE",
  "BrokenPipe",
  "ETIMEDOUT",
  "TimedOut",
  "EPROTO",
  "ENOPROTOOPT",
  "EOPNOTSUPP",
  "ENETDOWN",
  "ENETUNREACH",
  "EHOSTDOWN",
  "EHOSTUNREACH",
  "ENONET",
]);

/** Deno's errors of a closed listener (closed before or while accepting). */
const LISTENER_GONE = new Set(["BadResource", "Interrupted"]);

/**
 * Classifies an error thrown by a listener's accept; see {@linkcode AcceptErrorAction}.
 *
 * @param err The platform error.
 * @returns What to do.
 */
export function acceptErrorAction(err: unknown): AcceptErrorAction {
  const { code, name } = fields(err);
  if (LISTENER_GONE.has(name)) return "closed";
  if (PER_CONNECTION.has(code) || PER_CONNECTION.has(name)) return "skip";
  return "backoff";
}
