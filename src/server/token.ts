/**
 * Fencing tokens (docs/protocol.md 15.5): 32 lowercase hex characters. The first 16
 * are a server-wide 64-bit counter, big-endian, seeded from the wall clock in nanoseconds
 * and incremented on every grant (the first token carries seed + 1); the last 16 are 8
 * random bytes. Plain string comparison of two tokens from one generator therefore follows
 * grant order.
 *
 * @module
 */

/** The character codes of "0123456789abcdef". */
const HEX_DIGITS: readonly number[] = Array.from("0123456789abcdef", (c) => c.charCodeAt(0));

const POOL_SIZE = 4096;
const TWO_32 = 0x1_0000_0000;

/** Writes cryptographically secure random bytes into `buffer`. */
export type RandomFill = (buffer: Uint8Array) => void;

/** Options for {@linkcode createTokenGenerator}. */
export interface TokenGeneratorOptions {
  /** Counter seed (the first token carries seed + 1). @default {wall clock in nanoseconds} */
  seed?: bigint;
  /** Random source for the salt. @default {crypto.getRandomValues} */
  random?: RandomFill;
}

/**
 * The wall clock in nanoseconds since the Unix epoch (microsecond resolution).
 *
 * @returns Nanoseconds as a bigint.
 */
export function wallClockNanos(): bigint {
  const micros = Math.round((performance.timeOrigin + performance.now()) * 1000);
  return BigInt(micros) * 1000n;
}

/** Writes `n` (a uint32) as 8 hex digits into `codes` from `at`. */
function putHex32(codes: number[], at: number, n: number): void {
  for (let shift = 28, i = at; shift >= 0; shift -= 4, i++) {
    codes[i] = HEX_DIGITS[(n >>> shift) & 15]!;
  }
}

/**
 * Creates a fencing-token generator. Each call returns the next token; the counter never
 * wraps (it throws once 2^64 - 1 is used up).
 *
 * @param options Seed and random source, for tests.
 * @returns A function producing a new token per call.
 * @throws {RangeError} If the seed is outside 0..2^64-1.
 */
export function createTokenGenerator(options: TokenGeneratorOptions = {}): () => string {
  const seed = options.seed ?? wallClockNanos();
  if (seed < 0n || seed > 0xffff_ffff_ffff_ffffn) {
    throw new RangeError(`token seed must be a uint64 (got ${seed})`);
  }
  const fill: RandomFill = options.random ?? ((b) => void crypto.getRandomValues(b));
  let hi = Number(seed >> 32n);
  let lo = Number(seed & 0xffff_ffffn);
  const pool = new Uint8Array(POOL_SIZE);
  let pos = POOL_SIZE;
  const codes: number[] = new Array(32).fill(0);
  return (): string => {
    lo++;
    if (lo === TWO_32) {
      if (hi === TWO_32 - 1) {
        lo--;
        throw new RangeError("fencing token counter exhausted");
      }
      lo = 0;
      hi++;
    }
    if (pos === POOL_SIZE) {
      fill(pool);
      pos = 0;
    }
    putHex32(codes, 0, hi);
    putHex32(codes, 8, lo);
    for (let i = 0; i < 8; i++) {
      const b = pool[pos + i]!;
      codes[16 + 2 * i] = HEX_DIGITS[b >> 4]!;
      codes[17 + 2 * i] = HEX_DIGITS[b & 15]!;
    }
    pos += 8;
    // One flat string: concatenating 16 pieces made a tree of 15 intermediate strings per grant.
    return String.fromCharCode.apply(null, codes);
  };
}

/**
 * Reads the fence (the counter half) of a token.
 *
 * @param token A 32-hex-digit token.
 * @returns The first 16 hex digits as an unsigned 64-bit number.
 * @throws {TypeError} If `token` is not 32 lowercase hex digits.
 */
export function fenceOf(token: string): bigint {
  if (!/^[0-9a-f]{32}$/.test(token)) throw new TypeError(`not a token: ${token}`);
  return BigInt("0x" + token.slice(0, 16));
}
