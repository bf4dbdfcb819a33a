/**
 * Client side: request encoding and local argument validation.
 *
 * @module
 */

import { MAX_SECONDS } from "./go_text.ts";
import { ByteStringSlab, utf8Length, writeUtf8 } from "./utf8.ts";

/**
 * Where requests are encoded: small arrays of their own would each be copied out of the JS heap
 * when a runtime hands them to the OS (on Node, 4% of the client's CPU).
 */
const slab = new ByteStringSlab();

/** Longest key in UTF-8 bytes that fits a server request line. */
export const MAX_KEY_BYTES = 256;

/**
 * Encodes one request, `command\nkey\narg\n`, as UTF-8 in a single buffer.
 *
 * @param command The command string (from `COMMAND`).
 * @param key The key line (use `_` for `stats`, `auth`, `ping`).
 * @param arg The argument line (may be empty).
 * @returns The bytes to write.
 * @throws {TypeError} If a part contains a line feed.
 */
export function encodeRequest(command: string, key: string, arg: string): Uint8Array {
  // Fast path: all three parts ASCII without a line feed (the usual case) need one length
  // computation and one byte loop; anything else takes the general path below.
  const kAt = command.length + 1;
  const aAt = kAt + key.length + 1;
  const end = aAt + arg.length;
  const ascii = slab.take(end + 1);
  if (
    writeAsciiLine(command, ascii, 0) && writeAsciiLine(key, ascii, kAt) &&
    writeAsciiLine(arg, ascii, aAt)
  ) {
    ascii[kAt - 1] = 0x0a;
    ascii[aAt - 1] = 0x0a;
    ascii[end] = 0x0a;
    return ascii;
  }
  if (command.includes("\n") || key.includes("\n") || arg.includes("\n")) {
    throw new TypeError("request lines must not contain a line feed");
  }
  const out = new Uint8Array(utf8Length(command) + utf8Length(key) + utf8Length(arg) + 3);
  let p = writeUtf8(command, out, 0);
  out[p++] = 0x0a;
  p = writeUtf8(key, out, p);
  out[p++] = 0x0a;
  p = writeUtf8(arg, out, p);
  out[p] = 0x0a;
  return out;
}

/**
 * Joins encoded requests into the bytes of one write (pipelined requests of one tick).
 *
 * @param parts Encoded requests, in order.
 * @param totalBytes Their total length.
 * @returns The bytes, in the same shared buffers as single requests.
 */
export function joinRequests(parts: readonly Uint8Array[], totalBytes: number): Uint8Array {
  const out = slab.take(totalBytes);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/**
 * Copies `text` into `out` at `pos` as one byte per char, if every char is ASCII and not a
 * line feed.
 *
 * @returns `false` (with `out` partly written) on a line feed or a non-ASCII char.
 */
function writeAsciiLine(text: string, out: Uint8Array, pos: number): boolean {
  const len = text.length;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80 || c === 0x0a) return false;
    out[pos + i] = c;
  }
  return true;
}

/**
 * Checks a key locally the way the Go and Python clients do: a non-empty string without
 * space, tab, CR or LF, and at most 256 UTF-8 bytes (the server's line limit).
 *
 * @returns The key, unchanged.
 * @throws {TypeError} If the key is not a string, is empty, or contains space, tab, CR or LF.
 * @throws {RangeError} If the key is longer than 256 UTF-8 bytes.
 */
export function validateKey(key: unknown): string {
  if (typeof key !== "string") throw new TypeError(`key must be a string (got ${typeof key})`);
  if (key.length === 0) throw new TypeError("key must not be empty");
  let ascii = true;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) {
      throw new TypeError(`key must not contain space, tab, CR or LF: ${JSON.stringify(key)}`);
    }
    if (c >= 0x80) ascii = false;
  }
  const n = ascii ? key.length : utf8Length(key);
  if (n > MAX_KEY_BYTES) {
    throw new RangeError(`key is ${n} UTF-8 bytes, at most ${MAX_KEY_BYTES} are allowed`);
  }
  return key;
}

/**
 * Checks an auth token locally: a string without CR or LF, since it travels as the argument
 * line of an `auth` request.
 *
 * @param name What to call it in the error message.
 * @returns The token, unchanged.
 * @throws {TypeError} If the token is not a string or contains CR or LF.
 */
export function validateAuthToken(token: unknown, name = "authToken"): string {
  if (typeof token !== "string") {
    throw new TypeError(`${name} must be a string (got ${typeof token})`);
  }
  if (token.includes("\n") || token.includes("\r")) {
    throw new TypeError(`${name} must not contain CR or LF: it is sent as one request line`);
  }
  return token;
}

/** Options of {@linkcode validateSeconds}. */
export interface ValidateSecondsOptions {
  /** Smallest allowed value (default 0; use 1 for leases and limits). */
  min?: number;
  /** Name used in error messages (default `"seconds"`). */
  name?: string;
}

/**
 * Checks a whole number of seconds for the wire: an integer from `min` to 9223372036 (the
 * largest value the server converts to nanoseconds without overflow).
 *
 * @param options `min` and `name`.
 * @returns `n`, unchanged.
 * @throws {TypeError} If `n` is not a number.
 * @throws {RangeError} If `n` is not an integer in range.
 */
export function validateSeconds(n: unknown, options: ValidateSecondsOptions = {}): number {
  const { min = 0, name = "seconds" } = options;
  if (typeof n !== "number") throw new TypeError(`${name} must be a number (got ${typeof n})`);
  if (!Number.isInteger(n) || n < min || n > MAX_SECONDS) {
    throw new RangeError(
      `${name} must be a whole number of seconds from ${min} to ${MAX_SECONDS} (got ${n})`,
    );
  }
  return n;
}
