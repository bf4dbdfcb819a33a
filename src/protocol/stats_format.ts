/**
 * Go `encoding/json` primitives used by `stats`: float64 and int formatting and string
 * escaping of byte strings (docs/protocol.md 7).
 *
 * @module
 */

const HEX = "0123456789abcdef";

/**
 * Escapes for bytes below 0x80 that Go does not write raw (index = byte). The reference
 * server (v1.10, built with Go 1.19) writes only `\n`, `\r` and `\t` in short form; every
 * other control byte, backspace and form feed included, becomes `\u00XX` (Go 1.22 and later
 * write `\b` and `\f`; the v1.10 server does not). DEL (0x7f) stays raw.
 */
const ASCII_ESCAPES: (string | undefined)[] = [];
for (let c = 0; c < 0x20; c++) {
  ASCII_ESCAPES[c] = "\\u00" + HEX[c >> 4] + HEX[c & 15];
}
ASCII_ESCAPES[0x09] = "\\t";
ASCII_ESCAPES[0x0a] = "\\n";
ASCII_ESCAPES[0x0d] = "\\r";
ASCII_ESCAPES[0x22] = '\\"';
ASCII_ESCAPES[0x5c] = "\\\\";
ASCII_ESCAPES[0x3c] = "\\u003c";
ASCII_ESCAPES[0x3e] = "\\u003e";
ASCII_ESCAPES[0x26] = "\\u0026";

/**
 * Length of the valid UTF-8 sequence starting at `i` with non-ASCII lead byte `c`, or 0 if
 * Go's `utf8.DecodeRuneInString` would return `(RuneError, 1)` there.
 */
function validSeqLen(s: string, i: number, c: number): number {
  let need: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) need = 1;
  else if (c >= 0xe0 && c <= 0xef) {
    need = 2;
    if (c === 0xe0) lo = 0xa0;
    else if (c === 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 3;
    if (c === 0xf0) lo = 0x90;
    else if (c === 0xf4) hi = 0x8f;
  } else return 0;
  for (let k = 1; k <= need; k++) {
    const d = s.charCodeAt(i + k);
    if (!(d >= lo && d <= hi)) return 0;
    lo = 0x80;
    hi = 0xbf;
  }
  return need + 1;
}

/**
 * A Go JSON string (HTML-escaping on, as `json.Marshal`) from a byte string: `"` and `\`
 * escaped; `\n \r \t`; other control bytes (backspace and form feed too) as `\u00XX`;
 * `<` `>` `&` as `\u003c` `\u003e` `\u0026`; U+2028/U+2029 as `\u2028`/`\u2029`; every byte
 * that does not start a valid UTF-8 sequence as `\ufffd`; other valid UTF-8 kept raw.
 *
 * @param s A byte string.
 * @returns The quoted JSON string, as a byte string.
 */
export function goJsonString(s: string): string {
  const len = s.length;
  let out = '"';
  let start = 0;
  let i = 0;
  while (i < len) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      const esc = ASCII_ESCAPES[c];
      if (esc === undefined) {
        i++;
        continue;
      }
      out += s.slice(start, i) + esc;
      start = ++i;
      continue;
    }
    const n = validSeqLen(s, i, c);
    if (n === 0) {
      out += s.slice(start, i) + "\\ufffd";
      start = ++i;
      continue;
    }
    if (n === 3 && c === 0xe2 && s.charCodeAt(i + 1) === 0x80) {
      const d = s.charCodeAt(i + 2);
      if (d === 0xa8 || d === 0xa9) {
        out += s.slice(start, i) + (d === 0xa8 ? "\\u2028" : "\\u2029");
        start = i += 3;
        continue;
      }
    }
    i += n;
  }
  return out + s.slice(start) + '"';
}

/**
 * A float64 as Go's `encoding/json` writes it: shortest round-trip digits, no fraction for
 * integral values, exponent form only below 1e-6 or from 1e21 (`5e-7`, `1e+21`).
 *
 * JavaScript's `Number.prototype.toString` switches to exponent form at exactly the same
 * thresholds and writes the same shortest digits and exponent (`e-7`, `e+21`), so only
 * `-0` and non-finite values need care.
 *
 * @returns The JSON number text.
 * @throws {RangeError} For NaN and infinities (Go's encoder refuses them too).
 */
export function goJsonFloat(x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`json: unsupported value: ${x}`);
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  return String(x);
}

/**
 * A Go integer as JSON: plain decimal digits, never exponent form. A `bigint` (an int64 beyond
 * 2^53, such as a large semaphore limit) is written exactly.
 *
 * @param n An integral number, or a bigint.
 * @returns The JSON number text.
 * @throws {RangeError} If `n` is a number that is not an integer.
 */
export function goJsonInt(n: number | bigint): string {
  if (typeof n === "bigint" || Number.isSafeInteger(n)) return String(n);
  if (!Number.isInteger(n)) throw new RangeError(`not an integer: ${n}`);
  return BigInt(n).toString();
}
