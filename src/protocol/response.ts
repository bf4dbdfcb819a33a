/**
 * Server side: response lines as byte strings, each ending in `\n` (PROTOCOL.md 2.2, 4).
 *
 * Fixed lines are precomputed; the others are a single string concatenation.
 *
 * @module
 */

import { STATUS } from "./commands.ts";
import type { Status } from "./commands.ts";

const LINES = Object.fromEntries(
  Object.values(STATUS).map((s) => [s, `${s}\n`]),
) as { readonly [S in Status]: string };

/** `ok\n`. */
export const OK_LINE: string = LINES.ok;
/** `queued\n`. */
export const QUEUED_LINE: string = LINES.queued;
/** `timeout\n`. */
export const TIMEOUT_LINE: string = LINES.timeout;
/** `error\n`. */
export const ERROR_LINE: string = LINES.error;
/** `error_auth\n`. */
export const ERROR_AUTH_LINE: string = LINES.error_auth;

const OK_PREFIX = `${STATUS.ok} `;
const ACQUIRED_PREFIX = `${STATUS.acquired} `;

/**
 * A bare status line such as `error_max_locks\n`.
 *
 * @param status Any status word.
 * @returns The line, with `\n`.
 */
export function statusLine(status: Status): string {
  return LINES[status];
}

/**
 * `ok <token> <lease>\n`: answer to `l`, `sl`, `w`, `sw`.
 *
 * @param token The 32-hex-char token.
 * @param leaseS The lease to report, in whole seconds (see `leaseReportSeconds`).
 * @returns The line, with `\n`.
 */
export function okGrantLine(token: string, leaseS: number): string {
  return OK_PREFIX + token + " " + leaseS + "\n";
}

/**
 * `acquired <token> <lease>\n`: fast-path answer to `e`, `se`.
 *
 * @param token The 32-hex-char token.
 * @param leaseS The lease to report, in whole seconds (may be negative for `e`).
 * @returns The line, with `\n`.
 */
export function acquiredLine(token: string, leaseS: number): string {
  return ACQUIRED_PREFIX + token + " " + leaseS + "\n";
}

/**
 * `ok <seconds>\n`: answer to a successful `n`, `sn`.
 *
 * @param seconds The new lease in whole seconds (see `renewReportSeconds`).
 * @returns The line, with `\n`.
 */
export function renewOkLine(seconds: number): string {
  return OK_PREFIX + seconds + "\n";
}

/**
 * `ok <json>\n`: answer to `stats`.
 *
 * @param json The byte string from `formatStats`.
 * @returns The line, with `\n`.
 */
export function statsOkLine(json: string): string {
  return OK_PREFIX + json + "\n";
}
