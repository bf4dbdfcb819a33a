/**
 * Server side: three request lines to a typed {@linkcode Request}.
 *
 * Lines are "byte strings": one UTF-16 code unit per byte (0..255), exactly the bytes that
 * arrived, trailing CRs already stripped. Keys stay byte strings, so they compare as bytes.
 *
 * CONTRACT (shared with src/server): the types below are fixed; the implementation of
 * parseRequest is owned by the protocol core.
 *
 * @module
 */

import { COMMAND } from "./commands.ts";
import { atoi, fields, leaseSecondsToMs, secondsToMs, trimSpace } from "./go_text.ts";

/** Go's numeric error codes, used internally (only `error` goes on the wire). */
export type InvalidReason =
  | "unknown_command"
  | "bad_key"
  | "bad_field_count"
  | "bad_number"
  | "bad_timeout"
  | "bad_limit"
  | "bad_lease"
  | "bad_token";

/**
 * A parsed request. Durations are milliseconds after Go's int64-nanosecond wrap-around, with
 * `Math.trunc(leaseMs / 1000)` exactly the whole seconds the Go server reports for that lease
 * (see `secondsToMs` and `leaseSecondsToMs`; response.ts formats the replies). A `limit` is a
 * `number` up to `Number.MAX_SAFE_INTEGER` and an exact `bigint` above (Go keeps it as an
 * int64), so two different limits never compare equal.
 */
export type Request =
  /** `l` (limit 1) and `sl`. */
  | {
    type: "acquire";
    key: string;
    timeoutMs: number;
    limit: number | bigint;
    leaseMs: number | undefined;
  }
  /** `e` (limit 1) and `se`. `leaseMs` may be negative for `e` (docs/protocol.md 3.4). */
  | { type: "enqueue"; key: string; limit: number | bigint; leaseMs: number | undefined }
  /** `w` and `sw`. */
  | { type: "wait"; key: string; timeoutMs: number }
  /** `r` and `sr`. */
  | { type: "release"; key: string; token: string }
  /** `n` and `sn`. */
  | { type: "renew"; key: string; token: string; leaseMs: number | undefined }
  /** `stats`. */
  | { type: "stats" }
  /** `auth`; `secret` is the trimmed argument line (byte string). */
  | { type: "auth"; secret: string }
  /** `ping` (newer servers). */
  | { type: "ping" }
  /** Anything that fails validation: answered `error`, connection stays open. */
  | { type: "invalid"; reason: InvalidReason };

/** The `invalid` member of {@linkcode Request}. */
export type InvalidRequest = Extract<Request, { type: "invalid" }>;

const INVALID: { readonly [R in InvalidReason]: InvalidRequest } = {
  unknown_command: Object.freeze({ type: "invalid", reason: "unknown_command" }),
  bad_key: Object.freeze({ type: "invalid", reason: "bad_key" }),
  bad_field_count: Object.freeze({ type: "invalid", reason: "bad_field_count" }),
  bad_number: Object.freeze({ type: "invalid", reason: "bad_number" }),
  bad_timeout: Object.freeze({ type: "invalid", reason: "bad_timeout" }),
  bad_limit: Object.freeze({ type: "invalid", reason: "bad_limit" }),
  bad_lease: Object.freeze({ type: "invalid", reason: "bad_lease" }),
  bad_token: Object.freeze({ type: "invalid", reason: "bad_token" }),
};

const STATS: Request = Object.freeze({ type: "stats" });
const PING: Request = Object.freeze({ type: "ping" });

/**
 * Tells whether a key line is a valid key: non-empty, no space, tab, CR or LF
 * (docs/protocol.md 3.2). Any other byte is allowed.
 *
 * @param key The key line (byte string).
 * @returns `true` when valid.
 */
export function isValidKey(key: string): boolean {
  const len = key.length;
  if (len === 0) return false;
  for (let i = 0; i < len; i++) {
    const c = key.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) return false;
  }
  return true;
}

/** Timeout field: parse, check >= 0 as parsed, convert; a wrap below zero acts as 0. */
function parseTimeout(field: string): number | InvalidRequest {
  const t = atoi(field);
  if (t === undefined) return INVALID.bad_number;
  if (t < 0) return INVALID.bad_timeout;
  const ms = secondsToMs(t);
  return ms < 0 ? 0 : ms;
}

/**
 * Limit field: parse, check > 0. Beyond 2^53 the value stays an exact bigint (`atoi` returns
 * a number whenever it is safe), so limits compare exactly, as int64s do in Go.
 */
function parseLimit(field: string): number | bigint | InvalidRequest {
  const v = atoi(field);
  if (v === undefined) return INVALID.bad_number;
  if (v <= 0) return INVALID.bad_limit;
  return v;
}

/**
 * Optional lease field: parse, convert, check > 0 after conversion. `convert` is
 * `leaseSecondsToMs` where Go reports the lease as `int(d.Seconds())` (`l`, `sl`, `n`, `sn`)
 * and `secondsToMs` where it reports `int(d / time.Second)` (`se`).
 */
function parseLease(
  field: string | undefined,
  convert: (seconds: number | bigint) => number,
): number | undefined | InvalidRequest {
  if (field === undefined) return undefined;
  const v = atoi(field);
  if (v === undefined) return INVALID.bad_number;
  const ms = convert(v);
  return ms > 0 ? ms : INVALID.bad_lease;
}

/**
 * Parses one request from its three lines, with the Go server's validation order
 * (docs/protocol.md 3 and 4): command, then (except for `stats`, `auth`, `ping`) the key, then
 * the argument fields.
 *
 * `leaseMs` is `undefined` when no lease was given (the server default applies).
 *
 * @returns The typed request, or `{ type: "invalid" }`.
 */
export function parseRequest(command: string, key: string, arg: string): Request {
  switch (command) {
    case COMMAND.lock:
    case COMMAND.enqueue:
    case COMMAND.wait:
    case COMMAND.release:
    case COMMAND.renew:
    case COMMAND.semAcquire:
    case COMMAND.semEnqueue:
    case COMMAND.semWait:
    case COMMAND.semRelease:
    case COMMAND.semRenew:
      break;
    case COMMAND.stats:
      return STATS;
    case COMMAND.auth:
      return { type: "auth", secret: trimSpace(arg) };
    case COMMAND.ping:
      return PING;
    default:
      return INVALID.unknown_command;
  }
  if (!isValidKey(key)) return INVALID.bad_key;

  switch (command) {
    case COMMAND.lock:
    case COMMAND.semAcquire: {
      const parts = fields(arg);
      const sem = command === COMMAND.semAcquire;
      const min = sem ? 2 : 1;
      if (parts.length !== min && parts.length !== min + 1) return INVALID.bad_field_count;
      const timeoutMs = parseTimeout(parts[0]!);
      if (typeof timeoutMs !== "number") return timeoutMs;
      let limit: number | bigint = 1;
      if (sem) {
        const l = parseLimit(parts[1]!);
        if (typeof l === "object") return l;
        limit = l;
      }
      const leaseMs = parseLease(parts[min], leaseSecondsToMs);
      if (typeof leaseMs === "object") return leaseMs;
      return { type: "acquire", key, timeoutMs, limit, leaseMs };
    }
    case COMMAND.enqueue: {
      const stripped = trimSpace(arg);
      if (stripped === "") return { type: "enqueue", key, limit: 1, leaseMs: undefined };
      const v = atoi(stripped);
      if (v === undefined) return INVALID.bad_number;
      // Go checks the lease before converting it (quirk): the result may be <= 0.
      if (v <= 0) return INVALID.bad_lease;
      return { type: "enqueue", key, limit: 1, leaseMs: secondsToMs(v) };
    }
    case COMMAND.semEnqueue: {
      const parts = fields(arg);
      if (parts.length !== 1 && parts.length !== 2) return INVALID.bad_field_count;
      const limit = parseLimit(parts[0]!);
      if (typeof limit === "object") return limit;
      const leaseMs = parseLease(parts[1], secondsToMs);
      if (typeof leaseMs === "object") return leaseMs;
      return { type: "enqueue", key, limit, leaseMs };
    }
    case COMMAND.wait:
    case COMMAND.semWait: {
      const stripped = trimSpace(arg);
      if (stripped === "") return INVALID.bad_field_count;
      const timeoutMs = parseTimeout(stripped);
      if (typeof timeoutMs !== "number") return timeoutMs;
      return { type: "wait", key, timeoutMs };
    }
    case COMMAND.release:
    case COMMAND.semRelease: {
      const token = trimSpace(arg);
      if (token === "") return INVALID.bad_token;
      return { type: "release", key, token };
    }
    default: {
      // COMMAND.renew, COMMAND.semRenew
      const parts = fields(arg);
      if (parts.length !== 1 && parts.length !== 2) return INVALID.bad_field_count;
      const leaseMs = parseLease(parts[1], leaseSecondsToMs);
      if (typeof leaseMs === "object") return leaseMs;
      return { type: "renew", key, token: parts[0]!, leaseMs };
    }
  }
}
