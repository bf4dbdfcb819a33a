/**
 * Byte strings and UTF-8, by hand (the protocol core uses no runtime globals such as
 * `TextEncoder`).
 *
 * A "byte string" holds one char per byte (char codes 0..255).
 *
 * @module
 */

const CHUNK = 8192;

/**
 * Converts bytes to a byte string.
 *
 * @returns One char per byte.
 */
export function bytesToByteString(bytes: Uint8Array): string {
  const len = bytes.length;
  if (len <= CHUNK) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  let out = "";
  for (let i = 0; i < len; i += CHUNK) {
    out += String.fromCharCode.apply(
      null,
      bytes.subarray(i, Math.min(i + CHUNK, len)) as unknown as number[],
    );
  }
  return out;
}

/** Lines up to this long are converted through a reused plain array (no typed-array view). */
const SHORT_RANGE = 128;
/**
 * One reused array per length: setting a shared array's `length` for every line cost more than
 * the conversion itself (twice the time per line on V8).
 */
const shortCodes: number[][] = [];

/**
 * Converts `bytes[start..end)` to a byte string, like
 * `bytesToByteString(bytes.subarray(start, end))` without creating the view for short ranges
 * (creating a view costs more than converting a protocol line).
 *
 * @param start First index.
 * @param end Index after the last.
 * @returns One char per byte.
 */
export function byteRangeToByteString(bytes: Uint8Array, start: number, end: number): string {
  const n = end - start;
  // A command or a small number: one or two chars (V8 keeps one-char strings ready-made).
  if (n === 1) return String.fromCharCode(bytes[start]!);
  if (n === 2) return String.fromCharCode(bytes[start]!, bytes[start + 1]!);
  if (n > SHORT_RANGE) return bytesToByteString(bytes.subarray(start, end));
  const codes = shortCodes[n] ??= new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) codes[i] = bytes[start + i]!;
  return String.fromCharCode.apply(null, codes);
}

/**
 * Converts a byte string back to bytes (each char's low 8 bits).
 *
 * @param s A byte string.
 */
export function byteStringToBytes(s: string): Uint8Array {
  const len = s.length;
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Size of each {@linkcode ByteStringSlab} buffer. */
const SLAB_BYTES = 65536;

/**
 * Encodes byte strings into consecutive slices of large buffers, so that many small
 * results share one `ArrayBuffer` instead of allocating one each (cheaper to create, and
 * cheaper for runtimes that hand the bytes to the OS). A slice is never written again once
 * returned: when a buffer is full a new one is started, and the old one lives on only as
 * long as slices of it are referenced.
 */
export class ByteStringSlab {
  #buffer = new Uint8Array(SLAB_BYTES);
  #pos = 0;

  /**
   * Converts a byte string to bytes (each char's low 8 bits), like
   * {@linkcode byteStringToBytes}.
   *
   * @param s A byte string.
   * @returns The bytes: a slice of a shared buffer (a fresh array when `s` is large).
   */
  encode(s: string): Uint8Array {
    const len = s.length;
    if (len > SLAB_BYTES >> 4) return byteStringToBytes(s);
    const out = this.take(len);
    for (let i = 0; i < len; i++) out[i] = s.charCodeAt(i);
    return out;
  }

  /**
   * Hands out `len` fresh bytes (zeroed) for the caller to fill: a slice of a shared buffer,
   * or a new array of its own when `len` is large.
   *
   * @param len The number of bytes.
   */
  take(len: number): Uint8Array {
    if (len > SLAB_BYTES >> 4) return new Uint8Array(len);
    if (this.#pos + len > SLAB_BYTES) {
      this.#buffer = new Uint8Array(SLAB_BYTES);
      this.#pos = 0;
    }
    const start = this.#pos;
    this.#pos = start + len;
    return this.#buffer.subarray(start, start + len);
  }
}

/**
 * Number of bytes the UTF-8 encoding of `text` takes (a lone surrogate counts as the
 * 3-byte U+FFFD, like `TextEncoder`).
 *
 * @param text JavaScript text.
 */
export function utf8Length(text: string): number {
  const len = text.length;
  let n = 0;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < len) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/**
 * Writes the UTF-8 encoding of `text` into `out` at `pos`; `out` must have room
 * (see {@linkcode utf8Length}). Lone surrogates become U+FFFD.
 *
 * @param text JavaScript text.
 * @param pos Where to start writing.
 * @returns The index after the last byte written.
 */
export function writeUtf8(text: string, out: Uint8Array, pos: number): number {
  const len = text.length;
  for (let i = 0; i < len; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      out[pos++] = c;
      continue;
    }
    if (c < 0x800) {
      out[pos++] = 0xc0 | (c >> 6);
      out[pos++] = 0x80 | (c & 0x3f);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < len ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        out[pos++] = 0xf0 | (cp >> 18);
        out[pos++] = 0x80 | ((cp >> 12) & 0x3f);
        out[pos++] = 0x80 | ((cp >> 6) & 0x3f);
        out[pos++] = 0x80 | (cp & 0x3f);
        i++;
        continue;
      }
      c = 0xfffd;
    }
    out[pos++] = 0xe0 | (c >> 12);
    out[pos++] = 0x80 | ((c >> 6) & 0x3f);
    out[pos++] = 0x80 | (c & 0x3f);
  }
  return pos;
}

/**
 * Encodes text as UTF-8 bytes (like `TextEncoder.encode`).
 *
 * @param text JavaScript text.
 */
export function utf8Bytes(text: string): Uint8Array {
  const out = new Uint8Array(utf8Length(text));
  writeUtf8(text, out, 0);
  return out;
}

/**
 * Encodes text as a UTF-8 byte string.
 *
 * @param text JavaScript text.
 * @returns One char per UTF-8 byte.
 */
export function encodeUtf8(text: string): string {
  // ASCII fast path: the text is its own byte string.
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  return ascii ? text : bytesToByteString(utf8Bytes(text));
}

/**
 * Decodes a UTF-8 byte string to text, replacing each maximal invalid subpart with U+FFFD
 * (the WHATWG / `TextDecoder` rule).
 *
 * @param bytes A byte string.
 */
export function decodeUtf8(bytes: string): string {
  const len = bytes.length;
  let i = 0;
  while (i < len && bytes.charCodeAt(i) < 0x80) i++;
  if (i === len) return bytes;
  const parts: string[] = [bytes.slice(0, i)];
  const codes: number[] = [];
  const flush = (): void => {
    parts.push(String.fromCharCode.apply(null, codes));
    codes.length = 0;
  };
  while (i < len) {
    const c = bytes.charCodeAt(i);
    if (c < 0x80) {
      codes.push(c);
      i++;
    } else {
      let need: number;
      let cp: number;
      let lo = 0x80;
      let hi = 0xbf;
      if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
        cp = c & 0x1f;
      } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        cp = c & 0x0f;
        if (c === 0xe0) lo = 0xa0;
        else if (c === 0xed) hi = 0x9f;
      } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        cp = c & 0x07;
        if (c === 0xf0) lo = 0x90;
        else if (c === 0xf4) hi = 0x8f;
      } else {
        codes.push(0xfffd);
        i++;
        if (codes.length >= 4096) flush();
        continue;
      }
      i++;
      let ok = true;
      for (let k = 0; k < need; k++) {
        const d = i < len ? bytes.charCodeAt(i) : -1;
        if (d < lo || d > hi) {
          ok = false;
          break;
        }
        lo = 0x80;
        hi = 0xbf;
        cp = (cp << 6) | (d & 0x3f);
        i++;
      }
      if (!ok) codes.push(0xfffd);
      else if (cp >= 0x10000) {
        cp -= 0x10000;
        codes.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
      } else codes.push(cp);
    }
    if (codes.length >= 4096) flush();
  }
  flush();
  return parts.join("");
}
