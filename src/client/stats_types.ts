/**
 * The typed result of the `stats` command, converted from the server's snake_case JSON
 * (PROTOCOL.md section 7) to camelCase fields.
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";

/**
 * A lock (limit 1) that has a holder or waiters.
 *
 * @example Keys that others are waiting for
 * ```ts
 * import { connect, stats } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * const busy: LockInfo[] = (await stats(conn)).locks.filter((l) => l.waiters > 0);
 * ```
 */
export interface LockInfo {
  /** The key. */
  key: string;
  /** Id of the connection holding it (0 when nobody holds it). */
  ownerConnId: number;
  /** Seconds until the holder's lease runs out (0 when nobody holds it). */
  leaseExpiresInS: number;
  /** Queued waiters. */
  waiters: number;
}

/**
 * A semaphore (limit > 1) that has holders or waiters.
 *
 * @example Semaphores with every slot taken
 * ```ts
 * import { connect, stats } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * const full: SemaphoreInfo[] = (await stats(conn)).semaphores
 *   .filter((s) => s.holders === s.limit);
 * ```
 */
export interface SemaphoreInfo {
  /** The key. */
  key: string;
  /** The semaphore's limit. */
  limit: number;
  /** Current holders. */
  holders: number;
  /** Queued waiters. */
  waiters: number;
}

/**
 * A key without holders or waiters.
 *
 * @example Keys idle for more than 30 seconds
 * ```ts
 * import { connect, stats } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * const old: IdleKeyInfo[] = (await stats(conn)).idleLocks.filter((i) => i.idleS > 30);
 * ```
 */
export interface IdleKeyInfo {
  /** The key. */
  key: string;
  /** Seconds since the key's last activity. */
  idleS: number;
}

/**
 * Everything `stats` reports.
 *
 * @example Print the server's load
 * ```ts
 * import { connect, stats } from "@dflock/dflock";
 *
 * await using conn = await connect();
 * const s: ServerStats = await stats(conn);
 * console.log(s.connections, s.locks.length);
 * ```
 */
export interface ServerStats {
  /** Open client connections, including the one asking. */
  connections: number;
  /** Held or contended locks. */
  locks: LockInfo[];
  /** Held or contended semaphores. */
  semaphores: SemaphoreInfo[];
  /** Idle locks. */
  idleLocks: IdleKeyInfo[];
  /** Idle semaphores. */
  idleSemaphores: IdleKeyInfo[];
}

type Obj = Record<string, unknown>;

function bad(what: string): never {
  throw new ProtocolError(`Malformed stats reply: ${what}`);
}

function num(o: Obj, field: string, where: string): number {
  const v = o[field];
  if (typeof v !== "number" || !Number.isFinite(v)) bad(`${where}.${field} is not a number`);
  return v;
}

function str(o: Obj, field: string, where: string): string {
  const v = o[field];
  if (typeof v !== "string") bad(`${where}.${field} is not a string`);
  return v;
}

function list<T>(json: Obj, field: string, item: (o: Obj, where: string) => T): T[] {
  const v = json[field];
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v)) bad(`${field} is not an array`);
  return v.map((o: unknown, i) => {
    const where = `${field}[${i}]`;
    if (typeof o !== "object" || o === null || Array.isArray(o)) bad(`${where} is not an object`);
    return item(o as Obj, where);
  });
}

function idle(o: Obj, where: string): IdleKeyInfo {
  return { key: str(o, "key", where), idleS: num(o, "idle_s", where) };
}

/**
 * Converts the parsed `stats` JSON object into {@linkcode ServerStats}. Missing or `null`
 * arrays count as empty; unknown fields are ignored.
 *
 * @param json The object after `ok `, as parsed by `JSON.parse`.
 * @returns The typed statistics.
 * @throws {ProtocolError} When a field has the wrong type.
 *
 * @example Convert a parsed reply
 * ```ts
 * import { toServerStats } from "./stats_types.ts";
 * const stats = toServerStats({ connections: 1, locks: [], semaphores: [], idle_locks: [],
 *   idle_semaphores: [{ key: "pool", idle_s: 2.5 }] });
 * console.log(stats.idleSemaphores[0]?.idleS); // 2.5
 * ```
 */
export function toServerStats(json: Record<string, unknown>): ServerStats {
  return {
    connections: num(json, "connections", "stats"),
    locks: list(json, "locks", (o, w) => ({
      key: str(o, "key", w),
      ownerConnId: num(o, "owner_conn_id", w),
      leaseExpiresInS: num(o, "lease_expires_in_s", w),
      waiters: num(o, "waiters", w),
    })),
    semaphores: list(json, "semaphores", (o, w) => ({
      key: str(o, "key", w),
      limit: num(o, "limit", w),
      holders: num(o, "holders", w),
      waiters: num(o, "waiters", w),
    })),
    idleLocks: list(json, "idle_locks", idle),
    idleSemaphores: list(json, "idle_semaphores", idle),
  };
}
