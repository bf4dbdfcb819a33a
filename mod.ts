/**
 * dflock: distributed locks and semaphores for Deno, Bun and Node over the dflockd wire
 * protocol.
 *
 * This entry point holds the client surface: typed errors, the CRC-32 shard function shared
 * with the Go and Python clients, fence-token decoding, and the transport contract. The
 * embeddable dflockd server lives in `@dflock/dflock/server`, the command line in
 * `@dflock/dflock/cli`.
 *
 * @example Pick the server for a key among three shards
 * ```ts
 * import { stableHashShard } from "@dflock/dflock";
 * import assert from "node:assert/strict";
 *
 * assert.equal(stableHashShard("my-key", 3), 2);
 * ```
 *
 * @module
 */

export { ConnectionError, LockError, ProtocolError } from "./src/errors.ts";
export { crc32, stableHashShard } from "./src/protocol/crc32.ts";
export { fenceFromToken } from "./src/protocol/fence.ts";
export type {
  Connect,
  ConnectOptions,
  Listen,
  Listener,
  ListenOptions,
  NetAddr,
  TlsConnectOptions,
  TlsListenOptions,
  Transport,
  TransportAdapter,
} from "./src/transport/types.ts";
