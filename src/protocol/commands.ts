/**
 * The command strings and status strings of the dflockd wire protocol, in one place.
 *
 * Nothing else in the code base spells these literals: import {@linkcode COMMAND} and
 * {@linkcode STATUS} instead.
 *
 * @module
 */

/** Every request command (first request line) known to dflock. */
export const COMMAND = {
  /** Acquire a lock: `l`. */
  lock: "l",
  /** Enqueue for a lock (two-phase, step 1): `e`. */
  enqueue: "e",
  /** Wait for an enqueued lock (two-phase, step 2): `w`. */
  wait: "w",
  /** Release a lock: `r`. */
  release: "r",
  /** Renew a lock's lease: `n`. */
  renew: "n",
  /** Acquire a semaphore slot: `sl`. */
  semAcquire: "sl",
  /** Enqueue for a semaphore slot: `se`. */
  semEnqueue: "se",
  /** Wait for an enqueued semaphore slot: `sw`. */
  semWait: "sw",
  /** Release a semaphore slot: `sr`. */
  semRelease: "sr",
  /** Renew a semaphore slot's lease: `sn`. */
  semRenew: "sn",
  /** Server statistics: `stats`. */
  stats: "stats",
  /** Authenticate: `auth`. */
  auth: "auth",
  /** Keepalive (newer servers; v1.10 answers `error`): `ping`. */
  ping: "ping",
} as const;

/** One command string. */
export type Command = typeof COMMAND[keyof typeof COMMAND];

/**
 * Every status word a server may answer with (first field of a response line).
 *
 * @example Inspect a raw reply
 * ```ts
 * import { COMMAND, connect, STATUS } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * const line = await conn.request(COMMAND.lock, "my-key", "0");
 * if (line.startsWith(`${STATUS.timeout}`)) console.log("busy");
 * ```
 */
export const STATUS = {
  /** Success. */
  ok: "ok",
  /** `e`/`se` fast path: the slot is already held. */
  acquired: "acquired",
  /** `e`/`se`: queued, collect with `w`/`sw`. */
  queued: "queued",
  /** Acquire or wait ran out of time. */
  timeout: "timeout",
  /** Generic failure (parse error, unknown token, ...). */
  error: "error",
  /** Authentication failed; the server closes the connection. */
  errorAuth: "error_auth",
  /** The server tracks its maximum number of keys. */
  errorMaxLocks: "error_max_locks",
  /** The key's wait queue is full. */
  errorMaxWaiters: "error_max_waiters",
  /** The key exists with another limit. */
  errorLimitMismatch: "error_limit_mismatch",
  /** `w`/`sw` without a matching `e`/`se` on this connection. */
  errorNotEnqueued: "error_not_enqueued",
  /** A second `e`/`se` on the same key before `w`/`sw`. */
  errorAlreadyEnqueued: "error_already_enqueued",
  /** The grant's lease ran out before `w`/`sw` collected it. */
  errorLeaseExpired: "error_lease_expired",
  /** Newer servers (v1.16+): shutting down, request not executed, connection closed. */
  errorDraining: "error_draining",
  /** Cluster servers: not the leader; may be followed by the leader's `host:port`. */
  errorNotLeader: "error_not_leader",
} as const;

/** One status string. */
export type Status = typeof STATUS[keyof typeof STATUS];

const COMMAND_SET: ReadonlySet<string> = new Set(Object.values(COMMAND));
const STATUS_SET: ReadonlySet<string> = new Set(Object.values(STATUS));

/**
 * Tells whether a string is one of the known commands.
 *
 * @returns `true` when `s` is a {@linkcode Command}.
 */
export function isCommand(s: string): s is Command {
  return COMMAND_SET.has(s);
}

/**
 * Tells whether a string is one of the known status words.
 *
 * @returns `true` when `s` is a {@linkcode Status}.
 */
export function isStatus(s: string): s is Status {
  return STATUS_SET.has(s);
}
