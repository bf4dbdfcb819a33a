/**
 * Fencing tokens of dflockd v2.1+ (docs/protocol.md 15.5).
 *
 * @module
 */

const TOKEN_HEX = /^[0-9a-fA-F]{32}$/;

/**
 * The fence of a token: its first 16 hex digits as a big-endian unsigned 64-bit number.
 * Meaningful only on v2.1+ servers (earlier tokens are random) and only between tokens of
 * the same key.
 *
 * @param token A token as the server sent it.
 * @returns The fence, or `undefined` unless `token` is exactly 32 hex digits.
 *
 * @example Compare the fences of two tokens of one key
 * ```ts
 * import { fenceFromToken } from "@dflock/dflock";
 * import assert from "node:assert/strict";
 *
 * const older = fenceFromToken("0000000000000007" + "a".repeat(16));
 * const newer = fenceFromToken("0000000000000008" + "b".repeat(16));
 * assert.equal(older, 7n);
 * assert.ok(newer !== undefined && older !== undefined && newer > older);
 * assert.equal(fenceFromToken("not-a-token"), undefined);
 * ```
 */
export function fenceFromToken(token: string): bigint | undefined {
  if (typeof token !== "string" || !TOKEN_HEX.test(token)) return undefined;
  return BigInt("0x" + token.slice(0, 16));
}
