/**
 * IEEE CRC-32 and the clients' key-to-server sharding (docs/protocol.md 13.2).
 *
 * @module
 */

import { utf8Bytes } from "./utf8.ts";

const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * IEEE 802.3 CRC-32 (as zlib's `crc32` and Go's `crc32.ChecksumIEEE`).
 *
 * @returns The checksum as an unsigned 32-bit number.
 *
 * @example Checksum of a UTF-8 string
 * ```ts
 * import { crc32 } from "@dflock/dflock";
 * import assert from "node:assert/strict";
 *
 * assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
 * ```
 */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * The server index for a key: `crc32(utf8(key)) mod n`.
 *
 * @param key The key (JavaScript text).
 * @returns An index from 0 to n - 1.
 * @throws {RangeError} If `n` is not a positive integer.
 *
 * @example Pick the server for a key among three shards
 * ```ts
 * import { stableHashShard } from "@dflock/dflock";
 * import assert from "node:assert/strict";
 *
 * const servers = ["10.0.0.1:6388", "10.0.0.2:6388", "10.0.0.3:6388"];
 * assert.equal(servers[stableHashShard("my-key", servers.length)], "10.0.0.3:6388");
 * ```
 */
export function stableHashShard(key: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new RangeError(`number of servers must be a positive integer (got ${n})`);
  }
  return n === 1 ? 0 : crc32(utf8Bytes(key)) % n;
}
