/**
 * The `stats` answer (docs/protocol.md section 7), in one place: the typed model that the server's
 * `server.stats()`, the client's `stats()` and `dflock stats` all share, the Go
 * `encoding/json` rendering the server sends ({@linkcode formatStats}) and the reading of that
 * snake_case JSON back into the model ({@linkcode parseStats}). Only this file knows the JSON
 * field names.
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import { goJsonFloat, goJsonInt, goJsonString } from "./stats_format.ts";

/**
 * A lock (limit 1) that has a holder or waiters. JSON: `key`, `owner_conn_id`,
 * `lease_expires_in_s`, `waiters`.
 */
export interface LockInfo {
  /**
   * The key: text in `server.stats()` and the client's `stats()`; a byte string (one char per
   * byte) for {@linkcode formatStats}.
   */
  key: string;
  /** Id of the connection the holder was granted to; 0 without a holder. */
  ownerConnId: number;
  /** Seconds until the holder's lease expires, never below 0; 0 without a holder. */
  leaseExpiresInS: number;
  /** Queued waiters. */
  waiters: number;
}

/**
 * A semaphore (limit > 1) that has holders or waiters. JSON: `key`, `limit`, `holders`,
 * `waiters`.
 */
export interface SemaphoreInfo {
  /**
   * The key: text in `server.stats()` and the client's `stats()`; a byte string (one char per
   * byte) for {@linkcode formatStats}.
   */
  key: string;
  /**
   * The semaphore's limit. The server's own `server.stats()` gives an exact `bigint` when it is
   * above `Number.MAX_SAFE_INTEGER` (limits are int64 on the wire; `JSON.stringify` needs a
   * replacer for those); a reply read by the client is always a `number` (rounded above
   * `Number.MAX_SAFE_INTEGER`, as `JSON.parse` reads it).
   */
  limit: number | bigint;
  /** Current holders. */
  holders: number;
  /** Queued waiters. */
  waiters: number;
}

/** A key without holders or waiters. JSON: `key`, `idle_s`. */
export interface IdleKeyInfo {
  /**
   * The key: text in `server.stats()` and the client's `stats()`; a byte string (one char per
   * byte) for {@linkcode formatStats}.
   */
  key: string;
  /** Seconds since the key's last activity. */
  idleS: number;
}

/**
 * Everything `stats` reports. JSON: `connections`, `locks`, `semaphores`, `idle_locks`,
 * `idle_semaphores`.
 */
export interface ServerStats {
  /** Open client connections, including the one asking. */
  connections: number;
  /** Limit-1 keys with a holder or waiters. */
  locks: LockInfo[];
  /** Limit > 1 keys with holders or waiters. */
  semaphores: SemaphoreInfo[];
  /** Limit-1 keys with neither. */
  idleLocks: IdleKeyInfo[];
  /** Limit > 1 keys with neither. */
  idleSemaphores: IdleKeyInfo[];
}

// ---- server side: model to JSON ----

/**
 * Renders the JSON object exactly as the Go server does (field order, number format,
 * escapes), as a byte string (one char per UTF-8 byte).
 *
 * @param snapshot The state to render, keys as byte strings (`LockTable.stats`).
 * @returns The JSON text, without the `ok ` prefix or newline.
 * @throws {RangeError} If a number is not finite or an integer field is not integral.
 */
export function formatStats(snapshot: ServerStats): string {
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

function idleArray(list: IdleKeyInfo[]): string {
  let out = "[";
  let sep = "";
  for (const i of list) {
    out += sep + '{"key":' + goJsonString(i.key) + ',"idle_s":' + goJsonFloat(i.idleS) + "}";
    sep = ",";
  }
  return out + "]";
}

// ---- client side: JSON to model ----

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
 * Reads the `stats` JSON object (as `JSON.parse` returns it) into {@linkcode ServerStats}: the
 * inverse of {@linkcode formatStats}. Missing or `null` arrays count as empty; unknown fields
 * are ignored.
 *
 * @param json The object after `ok `, as parsed by `JSON.parse`.
 * @throws {ProtocolError} When a field has the wrong type.
 */
export function parseStats(json: Record<string, unknown>): ServerStats {
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
