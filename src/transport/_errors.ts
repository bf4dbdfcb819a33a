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
 * Formats an address as `host:port` (`[v6]:port` for IPv6 literals).
 *
 * @param addr The address.
 * @returns The printable address.
 */
export function formatAddr(addr: NetAddr): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
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
 * Wraps a platform error as `ConnectionError("<action>: <reason>")` with the error as `cause`.
 * A `ConnectionError` is returned unchanged.
 *
 * @param action What was attempted, e.g. `Cannot connect to 127.0.0.1:1234`.
 * @param err The platform error.
 * @returns The wrapped error.
 */
export function toConnectionError(action: string, err: unknown): ConnectionError {
  if (err instanceof ConnectionError) return err;
  return new ConnectionError(`${action}: ${describeError(err)}`, { cause: err });
}

/**
 * Validates connect/listen address arguments.
 *
 * @param hostname Host name or address.
 * @param port TCP port.
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
