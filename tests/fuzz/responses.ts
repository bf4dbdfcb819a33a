/**
 * The response oracle for fuzzing: which status lines a dflockd v1.10 server (without auth)
 * may send at all, and which of them fit a given request (docs/protocol.md 4.1 and section 7).
 *
 * @module
 */

import type { Triple } from "./server_view.ts";

/** Every status line a server without auth may send (the line without its `\n`). */
export const LEGAL_STATUS_LINE: RegExp = new RegExp(
  "^(?:ok|ok [0-9a-f]{32} -?[0-9]+|ok -?[0-9]+|ok \\{.*\\}|acquired [0-9a-f]{32} -?[0-9]+|" +
    "queued|timeout|error|error_max_locks|error_max_waiters|error_limit_mismatch|" +
    "error_not_enqueued|error_already_enqueued|error_lease_expired)$",
  "s",
);

/** Response shapes, named for {@linkcode ALLOWED}. */
const SHAPES = {
  ok: /^ok$/,
  okToken: /^ok [0-9a-f]{32} -?[0-9]+$/,
  okInt: /^ok -?[0-9]+$/,
  acquired: /^acquired [0-9a-f]{32} -?[0-9]+$/,
  queued: /^queued$/,
  timeout: /^timeout$/,
  error: /^error$/,
  maxLocks: /^error_max_locks$/,
  maxWaiters: /^error_max_waiters$/,
  mismatch: /^error_limit_mismatch$/,
  notEnqueued: /^error_not_enqueued$/,
  already: /^error_already_enqueued$/,
  expired: /^error_lease_expired$/,
} as const;

type Shape = keyof typeof SHAPES;

/** Allowed responses per command (docs/protocol.md 4.1); `stats` is checked separately. */
const ALLOWED: Record<string, readonly Shape[]> = {
  l: ["okToken", "timeout", "maxLocks", "maxWaiters", "mismatch", "error"],
  sl: ["okToken", "timeout", "maxLocks", "maxWaiters", "mismatch", "error"],
  e: ["acquired", "queued", "already", "maxLocks", "maxWaiters", "mismatch", "error"],
  se: ["acquired", "queued", "already", "maxLocks", "maxWaiters", "mismatch", "error"],
  w: ["okToken", "timeout", "notEnqueued", "expired", "error"],
  sw: ["okToken", "timeout", "notEnqueued", "expired", "error"],
  r: ["ok", "error"],
  sr: ["ok", "error"],
  n: ["okInt", "error"],
  sn: ["okInt", "error"],
  // Without a configured token `auth` is `error`; `ping` is `ok` on newer servers.
  auth: ["error"],
  ping: ["ok", "error"],
};

/** Keys must be non-empty and free of space, tab, CR and LF (docs/protocol.md 3.2). */
function badKey(key: string): boolean {
  return key === "" || /[ \t\r\n]/.test(key);
}

/**
 * Checks a `stats` JSON body: valid UTF-8 (Go replaces bad bytes), valid JSON, the five fields
 * with the right types.
 *
 * @param body The byte string after `ok `.
 * @returns A problem description, or undefined if fine.
 */
export function checkStatsBody(body: string): string | undefined {
  const bytes = new Uint8Array(body.length);
  for (let i = 0; i < body.length; i++) bytes[i] = body.charCodeAt(i);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return "stats JSON is not valid UTF-8";
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return "stats body is not valid JSON";
  }
  if (typeof parsed !== "object" || parsed === null) return "stats body is not an object";
  const o = parsed as Record<string, unknown>;
  const keys = Object.keys(o).join(",");
  if (keys !== "connections,locks,semaphores,idle_locks,idle_semaphores") {
    return `stats fields are ${keys}`;
  }
  if (!Number.isInteger(o.connections)) return "stats connections is not an integer";
  for (const f of ["locks", "semaphores", "idle_locks", "idle_semaphores"]) {
    if (!Array.isArray(o[f])) return `stats ${f} is not an array`;
  }
  return undefined;
}

/**
 * Checks one response line against the request it answers.
 *
 * @param request The request as the server read it.
 * @param line The response line without its `\n` (a byte string).
 * @returns A problem description, or undefined if the line is acceptable.
 */
export function checkResponse(request: Triple, line: string): string | undefined {
  if (line.endsWith("\r")) return "response line ends in \\r\\n, not a bare \\n";
  if (!LEGAL_STATUS_LINE.test(line)) return "not a legal status line";
  const { command, key } = request;
  if (command === "stats") {
    if (!line.startsWith("ok {")) return "stats did not answer ok {json}";
    return checkStatsBody(line.slice(3));
  }
  const allowed = ALLOWED[command];
  if (allowed === undefined) return line === "error" ? undefined : "unknown command not error";
  if (command !== "auth" && command !== "ping" && badKey(key) && line !== "error") {
    return "bad key not answered error";
  }
  if (!allowed.some((s) => SHAPES[s].test(line))) return `not a possible answer to ${command}`;
  return undefined;
}

/**
 * Makes a byte string readable in a report: printable ASCII as is, the rest escaped.
 *
 * @param s A byte string.
 * @returns A JavaScript string literal body.
 */
export function escapeBytes(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 10) out += "\\n";
    else if (c === 13) out += "\\r";
    else if (c === 9) out += "\\t";
    else if (c === 92) out += "\\\\";
    else if (c === 34) out += '\\"';
    else if (c >= 32 && c < 127) out += s[i];
    else out += "\\x" + c.toString(16).padStart(2, "0");
  }
  return out;
}
