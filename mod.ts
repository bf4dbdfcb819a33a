/**
 * dflock: distributed locks and semaphores for Deno, Bun and Node over the dflockd wire
 * protocol.
 *
 * This entry point holds the client: {@linkcode DflockClient}, which owns pooled connections
 * and hands out the high-level {@linkcode DistributedLock} and {@linkcode DistributedSemaphore}
 * (standalone ones share default clients; {@linkcode acquireLock} / {@linkcode acquireSemaphore}
 * for `await using`), the low-level one-function-per-command API on a {@linkcode Connection},
 * typed errors, the CRC-32 shard function shared with the Go and Python clients, fence-token
 * decoding, and the transport contract. The embeddable dflockd server lives in
 * `@dflock/dflock/server`, the command line in `@dflock/dflock/cli`.
 *
 * Vocabulary, the same in every module:
 *
 * - **Lease**: a held lock or semaphore slot ({@linkcode DistributedLease} is what the lock and
 *   the semaphore share); its **token** identifies it, its **fence** orders grants.
 * - **Durations are seconds** as plain numbers. Options that are durations end in `S` where the
 *   bare name could mean anything else (`leaseTtlS`, `acquireTimeoutS`); the server's options keep
 *   the Go dflockd's flag names (`defaultLeaseTtl` is `--default-lease-ttl`, in seconds); fields
 *   in milliseconds end in `Ms`.
 * - **`withLock`** (a method of a lock or semaphore) waits for the lease, runs a function, and
 *   releases; **`tryWithLock`** (on any `LockApi`) never waits: it runs the function only if the
 *   lock is free.
 * - **`CallOptions`** is the one options bag with an `AbortSignal` that every call taking one
 *   accepts; **`DflockError`** is the base of every error, with `code` one of the wire statuses or
 *   a local code.
 * - **`Connection`** is a client connection; the server's side of one is internal.
 *
 * @example Hold a lock for a scope
 * ```ts
 * import { DflockClient } from "@dflock/dflock";
 *
 * await using client = new DflockClient({ servers: ["127.0.0.1:6388"] });
 * {
 *   await using lock = await client.acquireLock("jobs/nightly");
 *   // critical section; lock.signal aborts if the lease is lost
 * } // released here
 * ```
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

// High-level client.
export { DflockClient } from "./src/client.ts";
export type { ClientStats, ServerPoolStats } from "./src/client.ts";
export { acquireLock, DistributedLock } from "./src/lock.ts";
export { DistributedLease } from "./src/client/distributed_lease.ts";
export { acquireSemaphore, DistributedSemaphore } from "./src/semaphore.ts";
export type {
  ClientOptions,
  LeaseSettings,
  LockOptions,
  SemaphoreOptions,
} from "./src/client/options.ts";
export type { ServerAddress, ServerListOptions, ShardingStrategy } from "./src/client/servers.ts";

// LockApi: backend-neutral tryAcquire locks; DflockdLockApi runs them on dflockd.
export { acquireWithRetry, DflockdLockApi, tryWithLock } from "./src/lock_api.ts";
export type {
  AcquireWithRetryOptions,
  DflockdLockApiOptions,
  Lock,
  LockApi,
} from "./src/lock_api.ts";

// Connection and low-level calls.
export { connect, Connection } from "./src/client/connection.ts";
export type { CallOptions, CloseListener, ConnectionOptions } from "./src/client/connection.ts";
export {
  acquire,
  auth,
  enqueue,
  ping,
  release,
  renew,
  semAcquire,
  semEnqueue,
  semRelease,
  semRenew,
  semWait,
  stats,
  wait,
  waitForLock,
} from "./src/client/low_level.ts";
export type {
  EnqueueResult,
  Grant,
  IdleKeyInfo,
  LeaseOptions,
  LockInfo,
  Requester,
  SemaphoreInfo,
  ServerStats,
} from "./src/client/low_level.ts";

// Errors.
export {
  AcquireTimeoutError,
  AlreadyEnqueuedError,
  AuthError,
  ConnectionError,
  DflockError,
  DrainingError,
  isRetryable,
  LeaseExpiredError,
  LeaseLostError,
  LimitMismatchError,
  MaxLocksError,
  MaxWaitersError,
  NotEnqueuedError,
  NotLeaderError,
  ProtocolError,
  RequestTimeoutError,
} from "./src/errors.ts";

// Sharding, fencing, transports.
export { COMMAND, STATUS } from "./src/protocol/commands.ts";
export type { Command, Status } from "./src/protocol/commands.ts";
export { crc32, stableHashShard } from "./src/protocol/crc32.ts";
export { fenceFromToken } from "./src/protocol/fence.ts";
export type {
  ByteChannel,
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
