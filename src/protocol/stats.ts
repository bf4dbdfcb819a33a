/**
 * The `stats` snapshot and its exact Go `encoding/json` rendering (PROTOCOL.md section 7).
 *
 * CONTRACT (shared with src/server): the types are fixed; formatStats is owned by the
 * protocol core.
 *
 * @module
 */

import { goJsonFloat, goJsonInt, goJsonString } from "./stats_format.ts";

/**
 * One held or contended lock (limit 1).
 *
 * @example List held locks
 * ```ts
 * import { serve, type LockStats } from "@dflock/dflock/server";
 *
 * await using server = await serve({ port: 0 });
 * const locks: LockStats[] = server.stats().locks;
 * for (const lock of locks) console.log(lock.key, lock.ownerConnId, lock.waiters);
 * ```
 */
export interface LockStats {
  /** The key: text in `Server.stats()`; a byte string (one char per byte) for `formatStats`. */
  key: string;
  /** Id of the connection the holder was granted to; 0 without a holder. */
  ownerConnId: number;
  /** Seconds until the holder's lease expires, never below 0; 0 without a holder. */
  leaseExpiresInS: number;
  /** Queued waiters. */
  waiters: number;
}

/**
 * One held or contended semaphore (limit > 1).
 *
 * @example Show semaphore usage
 * ```ts
 * import { type SemaphoreStats, serve } from "@dflock/dflock/server";
 *
 * await using server = await serve({ port: 0 });
 * const semaphores: SemaphoreStats[] = server.stats().semaphores;
 * for (const s of semaphores) console.log(`${s.key}: ${s.holders}/${s.limit}`);
 * ```
 */
export interface SemaphoreStats {
  /** The key: text in `Server.stats()`; a byte string (one char per byte) for `formatStats`. */
  key: string;
  /**
   * The semaphore's limit: a `number`, or an exact `bigint` when it is above
   * `Number.MAX_SAFE_INTEGER` (limits are int64 on the wire; `JSON.stringify` needs a replacer
   * for those).
   */
  limit: number | bigint;
  /** Current holders. */
  holders: number;
  /** Queued waiters. */
  waiters: number;
}

/**
 * One idle key.
 *
 * @example Find keys idle for a minute
 * ```ts
 * import { type IdleStats, serve } from "@dflock/dflock/server";
 *
 * await using server = await serve({ port: 0 });
 * const idle: IdleStats[] = server.stats().idleLocks.filter((k) => k.idleS > 60);
 * console.log(idle.map((k) => k.key));
 * ```
 */
export interface IdleStats {
  /** The key: text in `Server.stats()`; a byte string (one char per byte) for `formatStats`. */
  key: string;
  /** Seconds since the key's last activity. */
  idleS: number;
}

/**
 * Everything `stats` reports.
 *
 * @example Count connections
 * ```ts
 * import { serve, type StatsSnapshot } from "@dflock/dflock/server";
 *
 * await using server = await serve({ port: 0 });
 * const snapshot: StatsSnapshot = server.stats();
 * console.log(snapshot.connections); // 0
 * ```
 */
export interface StatsSnapshot {
  /** Open client connections, including the one asking. */
  connections: number;
  /** Limit-1 keys with a holder or waiters. */
  locks: LockStats[];
  /** Limit > 1 keys with holders or waiters. */
  semaphores: SemaphoreStats[];
  /** Limit-1 keys with neither. */
  idleLocks: IdleStats[];
  /** Limit > 1 keys with neither. */
  idleSemaphores: IdleStats[];
}

/**
 * Renders the JSON object exactly as the Go server does (field order, number format,
 * escapes), as a byte string (one char per UTF-8 byte).
 *
 * @param snapshot The state to render, keys as byte strings (`LockTable.stats`).
 * @returns The JSON text, without the `ok ` prefix or newline.
 * @throws {RangeError} If a number is not finite or an integer field is not integral.
 */
export function formatStats(snapshot: StatsSnapshot): string {
  let out = '{"connections":' + goJsonInt(snapshot.connections) + ',"locks":[';
  let sep = "";
  for (const l of snapshot.locks) {
    out += sep + '{"key":' + goJsonString(l.key) + ',"owner_conn_id":' +
      goJsonInt(l.ownerConnId) + ',"lease_expires_in_s":' + goJsonFloat(l.leaseExpiresInS) +
      ',"waiters":' + goJsonInt(l.waiters) + "}";
    sep = ",";
  }
  out += '],"semaphores":[';
  sep = "";
  for (const s of snapshot.semaphores) {
    out += sep + '{"key":' + goJsonString(s.key) + ',"limit":' + goJsonInt(s.limit) +
      ',"holders":' + goJsonInt(s.holders) + ',"waiters":' + goJsonInt(s.waiters) + "}";
    sep = ",";
  }
  out += '],"idle_locks":' + idleArray(snapshot.idleLocks) + ',"idle_semaphores":' +
    idleArray(snapshot.idleSemaphores) + "}";
  return out;
}

function idleArray(list: IdleStats[]): string {
  let out = "[";
  let sep = "";
  for (const i of list) {
    out += sep + '{"key":' + goJsonString(i.key) + ',"idle_s":' + goJsonFloat(i.idleS) + "}";
    sep = ",";
  }
  return out + "]";
}
