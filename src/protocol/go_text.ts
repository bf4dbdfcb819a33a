/**
 * Go's text primitives on byte strings (one char per byte, 0..255): `unicode.IsSpace`,
 * `strings.TrimSpace`, `strings.Fields`, `strconv.Atoi`, the seconds to `time.Duration`
 * conversion with its int64 nanosecond wrap-around (docs/protocol.md 3.3, 3.4), and a duration
 * back to Go's float seconds.
 *
 * @module
 */

import { decodeUtf8, encodeUtf8 } from "./utf8.ts";

/**
 * Length in bytes of the Go white-space character that starts at `i`, or 0.
 *
 * Recognises ASCII tab, LF, VT, FF, CR, space and the UTF-8 encodings of U+0085, U+00A0,
 * U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F and U+3000 (not U+FEFF). Lead
 * bytes of these encodings are never UTF-8 continuation bytes, so a plain match at `i` is
 * exactly what Go's rune-by-rune decoding sees.
 *
 * @param s A byte string.
 * @param i The index to look at.
 * @returns 0 (no space), 1, 2 or 3.
 */
export function spaceLenAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c < 0x80) return c === 0x20 || (c >= 0x09 && c <= 0x0d) ? 1 : 0;
  switch (c) {
    case 0xc2: {
      const d = s.charCodeAt(i + 1);
      return d === 0x85 || d === 0xa0 ? 2 : 0;
    }
    case 0xe1:
      return s.charCodeAt(i + 1) === 0x9a && s.charCodeAt(i + 2) === 0x80 ? 3 : 0;
    case 0xe2: {
      const d = s.charCodeAt(i + 1);
      const e = s.charCodeAt(i + 2);
      if (d === 0x80) {
        return (e >= 0x80 && e <= 0x8a) || e === 0xa8 || e === 0xa9 || e === 0xaf ? 3 : 0;
      }
      return d === 0x81 && e === 0x9f ? 3 : 0;
    }
    case 0xe3:
      return s.charCodeAt(i + 1) === 0x80 && s.charCodeAt(i + 2) === 0x80 ? 3 : 0;
    default:
      return 0;
  }
}

/**
 * Length in bytes of the Go white-space character that ends just before `end`, or 0
 * (what Go's `utf8.DecodeLastRuneInString` followed by `unicode.IsSpace` sees).
 *
 * @param s A byte string.
 * @param end The exclusive end index.
 * @returns 0 (no space), 1, 2 or 3.
 */
export function spaceLenBefore(s: string, end: number): number {
  if (end <= 0) return 0;
  const c = s.charCodeAt(end - 1);
  if (c < 0x80) return c === 0x20 || (c >= 0x09 && c <= 0x0d) ? 1 : 0;
  if (end >= 2 && spaceLenAt(s, end - 2) === 2) return 2;
  if (end >= 3 && spaceLenAt(s, end - 3) === 3) return 3;
  return 0;
}

/**
 * Go's `strings.TrimSpace`: removes leading and trailing Go white space.
 *
 * @param s A byte string.
 * @returns The trimmed byte string.
 */
export function trimSpace(s: string): string {
  let start = 0;
  let end = s.length;
  let n: number;
  while (start < end && (n = spaceLenAt(s, start)) > 0) start += n;
  while (end > start && (n = spaceLenBefore(s, end)) > 0) end -= n;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/**
 * Go's `strings.TrimSpace` on JavaScript text (for file contents and environment values):
 * {@linkcode trimSpace} on its UTF-8 bytes, so U+0085 is trimmed and U+FEFF is not, unlike
 * `String.prototype.trim`.
 */
export function trimSpaceText(text: string): string {
  return decodeUtf8(trimSpace(encodeUtf8(text)));
}

/**
 * Go's `strings.Fields`: splits around runs of Go white space.
 *
 * @param s A byte string.
 * @returns The non-empty fields, in order (empty array for a blank string).
 */
export function fields(s: string): string[] {
  const out: string[] = [];
  const len = s.length;
  let i = 0;
  while (i < len) {
    let n: number;
    while (i < len && (n = spaceLenAt(s, i)) > 0) i += n;
    if (i >= len) break;
    const start = i;
    while (i < len && spaceLenAt(s, i) === 0) i++;
    out.push(s.slice(start, i));
  }
  return out;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Go's `strconv.Atoi` on a 64-bit platform: optional `+`/`-`, then one or more ASCII digits,
 * nothing else, value within int64.
 *
 * The result is a `number` whenever the value is a safe integer (always for 15 digits or
 * fewer, the fast path) and a `bigint` otherwise. `-0` gives `0`.
 *
 * @param s The field (byte string or text).
 * @returns The value, or `undefined` if Go would return an error.
 */
export function atoi(s: string): number | bigint | undefined {
  const len = s.length;
  if (len === 0) return undefined;
  let i = 0;
  let neg = false;
  const c0 = s.charCodeAt(0);
  if (c0 === 0x2b || c0 === 0x2d) {
    neg = c0 === 0x2d;
    i = 1;
    if (len === 1) return undefined;
  }
  if (len - i <= 15) {
    let n = 0;
    for (; i < len; i++) {
      const d = s.charCodeAt(i) - 0x30;
      if (d < 0 || d > 9) return undefined;
      n = n * 10 + d;
    }
    return neg && n !== 0 ? -n : n;
  }
  for (let j = i; j < len; j++) {
    const d = s.charCodeAt(j) - 0x30;
    if (d < 0 || d > 9) return undefined;
  }
  let v = BigInt(s.slice(i));
  if (neg) v = -v;
  if (v < INT64_MIN || v > INT64_MAX) return undefined;
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

/** The largest number of seconds whose nanosecond count fits in an int64. */
export const MAX_SECONDS = 9223372036;

const NS_PER_S = 1_000_000_000n;
/** How far the sub-second part of a wrapped duration may reach (ms); see `wrappedMs`. */
const MAX_FRACTION_MS = 999;

/**
 * Go's `time.Duration(seconds) * time.Second` (int64 nanoseconds, wrapping on overflow),
 * expressed in milliseconds, such that `Math.trunc(ms / 1000)` is exactly Go's integer
 * quotient `int64(d / time.Second)`: the whole seconds the Go server reports for an `e`/`se`
 * lease (`acquired`, and the `ok` of the `w` that collects it).
 *
 * For |seconds| <= 9223372036 (the common case, no bigint involved) this is exactly
 * `seconds * 1000`. Beyond that the nanosecond product wraps modulo 2^64 like Go's
 * (9223372037 s becomes about -9223372036709.55 ms, 18446744074 s about 290.45 ms). The sign
 * of the result is always the sign of the Go duration (0 only when the duration is 0), and
 * its sub-second part is kept to within a millisecond: more precision than a lease or a
 * timeout needs, and it leaves room for the whole seconds to come out exact.
 *
 * @param seconds An int64 value as returned by {@linkcode atoi}.
 * @returns The wrapped duration in milliseconds.
 */
export function secondsToMs(seconds: number | bigint): number {
  if (typeof seconds === "number" && seconds <= MAX_SECONDS && seconds >= -MAX_SECONDS) {
    return seconds * 1000;
  }
  const ns = BigInt.asIntN(64, BigInt(seconds) * NS_PER_S);
  return wrappedMs(ns, Number(ns / NS_PER_S));
}

/**
 * Like {@linkcode secondsToMs}, but `Math.trunc(ms / 1000)` is exactly Go's
 * `int(d.Seconds())`: the whole seconds the Go server reports for an `l`/`sl` lease (`ok
 * <token> <lease>`) and a renew (`ok <seconds>`). `d.Seconds()` is the float64 sum
 * `float64(d / Second) + float64(d % Second) / 1e9`, which for some wrapped durations rounds
 * up to the next whole second (15817298423145364 s wraps to 8589934592.999999488 s, reported
 * as 8589934593); for |seconds| <= 9223372036 both are `seconds`.
 *
 * @param seconds An int64 value as returned by {@linkcode atoi}.
 * @returns The wrapped duration in milliseconds.
 */
export function leaseSecondsToMs(seconds: number | bigint): number {
  if (typeof seconds === "number" && seconds <= MAX_SECONDS && seconds >= -MAX_SECONDS) {
    return seconds * 1000;
  }
  const ns = BigInt.asIntN(64, BigInt(seconds) * NS_PER_S);
  // The same float64 operations as Go's Duration.Seconds(), then int() truncates.
  const float = Number(ns / NS_PER_S) + Number(ns % NS_PER_S) / 1e9;
  return wrappedMs(ns, Math.trunc(float));
}

/**
 * Go's `Duration.Seconds()` of a duration of `ms` milliseconds taken to whole nanoseconds,
 * `float64(d / Second) + float64(d % Second) / 1e9`: the seconds a `stats` answer reports
 * (`lease_expires_in_s`, `idle_s`), written as Go writes them for the same duration (1.999920602
 * where `ms / 1000` of a clock difference gives 1.9999206020000002). Exact up to about 26 days,
 * while a millisecond double still carries whole nanoseconds; beyond, within the last digit.
 *
 * @param ms The duration in milliseconds.
 * @returns The seconds.
 */
export function durationSeconds(ms: number): number {
  if (!Number.isFinite(ms)) return ms / 1000;
  const ns = Math.round(ms * 1e6);
  if (Math.abs(ns) <= Number.MAX_SAFE_INTEGER) {
    // Exact on safe integers: `%` truncates like Go's, and `ns - rest` is a multiple of 1e9.
    const rest = ns % 1e9;
    return (ns - rest) / 1e9 + rest / 1e9;
  }
  const big = BigInt(ns);
  return Number(big / NS_PER_S) + Number(big % NS_PER_S) / 1e9;
}

/**
 * Milliseconds for the wrapped duration `ns` whose reported whole seconds are `whole`:
 * `whole * 1000` plus the rest of `ns` in milliseconds, that rest clamped to
 * [0, MAX_FRACTION_MS] (or its negative for a negative duration). |whole| < 2^34, so
 * `whole * 1000 + rest` (below 2^44) rounds by less than 1/512 ms, and dividing it by 1000
 * stays short of the next whole second: `Math.trunc(ms / 1000) === whole`.
 */
function wrappedMs(ns: bigint, whole: number): number {
  const restMs = Number(ns - BigInt(whole) * NS_PER_S) / 1e6;
  if (ns > 0n) return whole * 1000 + Math.min(Math.max(restMs, 0), MAX_FRACTION_MS);
  if (ns < 0n) return whole * 1000 + Math.max(Math.min(restMs, 0), -MAX_FRACTION_MS);
  return 0;
}
