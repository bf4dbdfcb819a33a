/**
 * An independent model of how a dflockd v1.10 server parses a request (docs/protocol.md 3 and 4),
 * written from the specification only, to serve as a differential oracle: a request the
 * model calls malformed must be answered `error`, and for the commands that cannot fail
 * otherwise (`l`, `sl`, `e`, `se`, `w`, `sw` outside shutdown) `error` means malformed.
 *
 * @module
 */

import type { Triple } from "./server_view.ts";

/** UTF-8 encodings of Go's non-ASCII `unicode.IsSpace` characters. */
const WIDE_SPACES = [
  "\xc2\x85",
  "\xc2\xa0",
  "\xe1\x9a\x80",
  ...Array.from({ length: 11 }, (_, i) => "\xe2\x80" + String.fromCharCode(0x80 + i)),
  "\xe2\x80\xa8",
  "\xe2\x80\xa9",
  "\xe2\x80\xaf",
  "\xe2\x81\x9f",
  "\xe3\x80\x80",
];

/** Length of the white-space character at `i` of a byte string, or 0. */
function spaceAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) return 1;
  if (c !== 0xc2 && c !== 0xe1 && c !== 0xe2 && c !== 0xe3) return 0;
  for (const w of WIDE_SPACES) if (s.startsWith(w, i)) return w.length;
  return 0;
}

/**
 * Go's `strings.Fields` on a byte string (lead bytes never occur inside a valid multi-byte
 * character, so matching space encodings byte by byte agrees with Go's rune decoding).
 *
 * @param s A byte string.
 * @returns The fields.
 */
export function goFields(s: string): string[] {
  const fields: string[] = [];
  let start = -1;
  for (let i = 0; i < s.length;) {
    const w = spaceAt(s, i);
    if (w > 0) {
      if (start >= 0) fields.push(s.slice(start, i));
      start = -1;
      i += w;
    } else {
      if (start < 0) start = i;
      i++;
    }
  }
  if (start >= 0) fields.push(s.slice(start));
  return fields;
}

/**
 * Go's `strings.TrimSpace` on a byte string.
 *
 * @param s A byte string.
 * @returns It without leading and trailing white space.
 */
export function goTrim(s: string): string {
  let start = 0;
  for (let w; start < s.length && (w = spaceAt(s, start)) > 0;) start += w;
  let end = s.length;
  // Trailing: try every space encoding that ends at `end`.
  for (let moved = true; moved && end > start;) {
    moved = false;
    for (const len of [1, 2, 3]) {
      if (end - len >= start && spaceAt(s, end - len) === len) {
        end -= len;
        moved = true;
        break;
      }
    }
  }
  return s.slice(start, end);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Go's `strconv.Atoi` on 64-bit platforms.
 *
 * @param s The field.
 * @returns The value, or undefined if it does not parse.
 */
export function goAtoi(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  return v < INT64_MIN || v > INT64_MAX ? undefined : v;
}

/**
 * Seconds to int64 nanoseconds with Go's wrap-around.
 *
 * @param s Seconds.
 * @returns The wrapped nanoseconds.
 */
export function toNanos(s: bigint): bigint {
  return BigInt.asIntN(64, s * 1_000_000_000n);
}

/** The model's verdict on one request. */
export interface ParseVerdict {
  /** `invalid`: must be `error`; `valid`: parses; `unknown`: the model does not judge. */
  parse: "invalid" | "valid" | "unknown";
  /** For `l`/`sl`/`e`/`se`/`n`/`sn` that parse: the lease the answer must show, if known. */
  lease?: string;
}

function badKey(key: string): boolean {
  return key === "" || /[ \t\r\n]/.test(key);
}

/** The lease an answer shows: whole seconds, or the default under one second (4.2). */
function shownLease(ns: bigint, defaultLease: number): string {
  const s = ns / 1_000_000_000n; // BigInt division truncates toward zero, like Go
  return s === 0n ? String(defaultLease) : String(s);
}

/** Checks a converted lease field: parses and is > 0 after conversion. */
function leaseField(f: string | undefined, defaultLease: number): string | undefined | null {
  if (f === undefined) return String(defaultLease);
  const v = goAtoi(f);
  if (v === undefined) return null;
  const ns = toNanos(v);
  return ns <= 0n ? null : shownLease(ns, defaultLease);
}

/**
 * Judges one request as the v1.10 server would parse it.
 *
 * @param t The request (trailing CRs already stripped).
 * @param defaultLease The server's default lease in seconds.
 * @returns The verdict.
 */
export function judge(t: Triple, defaultLease: number): ParseVerdict {
  const { command, key, arg } = t;
  const invalid: ParseVerdict = { parse: "invalid" };
  switch (command) {
    case "stats":
      return { parse: "valid" };
    case "auth":
      return invalid; // no auth token configured
    case "ping":
      return { parse: "unknown" };
    case "l":
    case "sl":
    case "e":
    case "se":
    case "w":
    case "sw":
    case "r":
    case "sr":
    case "n":
    case "sn":
      break;
    default:
      return invalid;
  }
  if (badKey(key)) return invalid;
  const f = goFields(arg);
  switch (command) {
    case "l":
    case "sl": {
      const semaphore = command === "sl";
      const min = semaphore ? 2 : 1;
      if (f.length < min || f.length > min + 1) return invalid;
      const timeout = goAtoi(f[0] as string);
      if (timeout === undefined || timeout < 0n) return invalid;
      if (semaphore) {
        const limit = goAtoi(f[1] as string);
        if (limit === undefined || limit <= 0n) return invalid;
      }
      const lease = leaseField(f[min], defaultLease);
      return lease === null ? invalid : { parse: "valid", lease };
    }
    case "e": {
      const trimmed = goTrim(arg);
      if (trimmed === "") return { parse: "valid", lease: String(defaultLease) };
      const v = goAtoi(trimmed);
      if (v === undefined || v <= 0n) return invalid;
      return { parse: "valid", lease: shownLease(toNanos(v), defaultLease) };
    }
    case "se": {
      if (f.length < 1 || f.length > 2) return invalid;
      const limit = goAtoi(f[0] as string);
      if (limit === undefined || limit <= 0n) return invalid;
      const lease = leaseField(f[1], defaultLease);
      return lease === null ? invalid : { parse: "valid", lease };
    }
    case "w":
    case "sw": {
      const v = goAtoi(goTrim(arg));
      return v === undefined || v < 0n ? invalid : { parse: "valid" };
    }
    case "r":
    case "sr":
      return goTrim(arg) === "" ? invalid : { parse: "valid" };
    default: { // n, sn
      if (f.length === 0) return invalid;
      if (f.length > 2) return { parse: "unknown" };
      const lease = leaseField(f[1], defaultLease);
      if (lease === null) return invalid;
      // The answer shows the whole new lease; only judged when no wrap-around is involved.
      const plain = f[1] === undefined || (goAtoi(f[1]) ?? 0n) <= 9223372036n;
      return plain ? { parse: "valid", lease } : { parse: "valid" };
    }
  }
}

/** Commands whose only `error` outside shutdown is a malformed request. */
const ERROR_MEANS_MALFORMED = new Set(["l", "sl", "e", "se", "w", "sw"]);

/**
 * Compares an answer with the model.
 *
 * @param t The request.
 * @param line The answer (already known to be a legal status line for the command).
 * @param defaultLease The server's default lease in seconds.
 * @returns A problem description, or undefined if the answer agrees with the model.
 */
export function checkAgainstModel(
  t: Triple,
  line: string,
  defaultLease: number,
): string | undefined {
  const v = judge(t, defaultLease);
  if (v.parse === "invalid") {
    return line === "error"
      ? undefined
      : "malformed request (per docs/protocol.md 3/4) not answered error";
  }
  if (v.parse === "unknown") return undefined;
  if (line === "error" && ERROR_MEANS_MALFORMED.has(t.command)) {
    return "well-formed request answered error";
  }
  if (v.lease !== undefined) {
    const m = /^(?:ok [0-9a-f]{32}|acquired [0-9a-f]{32}|ok) (-?[0-9]+)$/.exec(line);
    if (m !== null && t.command !== "w" && t.command !== "sw" && m[1] !== v.lease) {
      return `answer shows lease ${m[1]}, expected ${v.lease}`;
    }
  }
  return undefined;
}
