/**
 * Fencing tokens (PROTOCOL-NEWER.md section 4): 32 lowercase hex characters. The first 16
 * are a server-wide 64-bit counter, big-endian, seeded from the wall clock in nanoseconds
 * and incremented on every grant (the first token carries seed + 1); the last 16 are 8
 * random bytes. Plain string comparison of two tokens from one generator therefore follows
 * grant order.
 *
 * @module
 */

const HEX: readonly string[] = Array.from(
  { length: 256 },
  (_, i) => i.toString(16).padStart(2, "0"),
);

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

function hex32(n: number): string {
  return HEX[n >>> 24]! + HEX[(n >>> 16) & 255]! + HEX[(n >>> 8) & 255]! + HEX[n & 255]!;
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
    const p = pos;
    pos += 8;
    return hex32(hi) + hex32(lo) + HEX[pool[p]!]! + HEX[pool[p + 1]!]! + HEX[pool[p + 2]!]! +
      HEX[pool[p + 3]!]! + HEX[pool[p + 4]!]! + HEX[pool[p + 5]!]! + HEX[pool[p + 6]!]! +
      HEX[pool[p + 7]!]!;
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
