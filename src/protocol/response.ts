/**
 * Server side: the text of every reply that carries more than its status word (docs/protocol.md 4),
 * and the whole-second lease it reports. A bare reply (`ok`, `queued`, `timeout`, `error`,
 * `error_auth`, ...) is just its {@linkcode STATUS} word. The connection appends the `\n` that
 * ends each reply on the wire.
 *
 * Each reply is a single string concatenation, with no other allocation (the server's hot path).
 * The client reads these replies with `parseReply` (reply.ts).
 *
 * @module
 */

import { STATUS } from "./commands.ts";

const OK_PREFIX = STATUS.ok + " ";
const ACQUIRED_PREFIX = STATUS.acquired + " ";

/**
 * The `<lease>` of `ok <token> <lease>` and `acquired <token> <lease>` (docs/protocol.md 4.2, 4.3):
 * the granted lease in whole seconds, truncated toward zero; the server's default instead when
 * that is 0 (quirk: a wrapped lease under one second in magnitude). `parseRequest` converts the
 * requested seconds so that this is exactly Go's figure (`int(d.Seconds())` for `l`/`sl`,
 * `int(d / time.Second)` for `e`/`se`); `e` can report a negative lease
 * (`e k 9223372037` gives `-9223372036`).
 */
function grantLeaseSeconds(leaseMs: number, defaultLeaseS: number): number {
  const s = Math.trunc(leaseMs / 1000);
  return s === 0 ? defaultLeaseS : s;
}

/**
 * `ok <token> <lease>`: a granted `l`, `sl`, `w` or `sw`.
 *
 * @param token The 32-hex-char token.
 * @param leaseMs The lease the holder was granted (the default applied), in milliseconds.
 * @param defaultLeaseS The server's default lease in whole seconds (reported instead of a lease
 *   under one second).
 * @returns The reply, without `\n`.
 */
export function grantedReply(token: string, leaseMs: number, defaultLeaseS: number): string {
  return OK_PREFIX + token + " " + grantLeaseSeconds(leaseMs, defaultLeaseS);
}

/**
 * `acquired <token> <lease>`: an `e` or `se` granted at once.
 *
 * @param token The 32-hex-char token.
 * @param leaseMs The lease the holder was granted (the default applied), in milliseconds; may
 *   be negative for `e` (docs/protocol.md 3.4).
 * @param defaultLeaseS The server's default lease in whole seconds (reported instead of a lease
 *   under one second).
 * @returns The reply, without `\n`.
 */
export function acquiredReply(token: string, leaseMs: number, defaultLeaseS: number): string {
  return ACQUIRED_PREFIX + token + " " + grantLeaseSeconds(leaseMs, defaultLeaseS);
}

/**
 * `ok <seconds>`: a successful `n` or `sn` (docs/protocol.md 4.6). The new lease in whole seconds,
 * truncated toward zero: unlike a grant, a lease under one second reports `0`.
 *
 * @param leaseMs The lease applied (the default when none was given), in milliseconds (> 0).
 * @returns The reply, without `\n`.
 */
export function renewedReply(leaseMs: number): string {
  return OK_PREFIX + Math.trunc(leaseMs / 1000);
}

/**
 * `ok <json>`: the answer to `stats`.
 *
 * @param json The byte string from `formatStats`.
 * @returns The reply, without `\n`.
 */
export function statsReply(json: string): string {
  return OK_PREFIX + json;
}
