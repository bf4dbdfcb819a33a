/**
 * Client side: one response line (JavaScript text, without `\n`) to a typed result.
 *
 * What counts as success depends on the request, so the caller passes the expected
 * {@linkcode ReplyShape} (see {@linkcode COMMAND_SHAPE}). Parsing is strict like the Go and
 * Python clients (docs/protocol.md 13.5): `ok <token> <lease>` needs exactly three fields, a
 * 32-lowercase-hex token and an integer lease; renew's `ok <n>` exactly two fields. Error
 * statuses are accepted for every shape; `error_not_leader` may carry the leader's address.
 * Anything else is `{ status: "malformed", line }`.
 *
 * @module
 */

import { COMMAND, STATUS } from "./commands.ts";
import type { Command, Status } from "./commands.ts";
import { atoi } from "./go_text.ts";

/** What a successful answer looks like. */
export type ReplyShape =
  /** `l` `sl` `w` `sw`: `ok <token> <lease>` or `timeout`. */
  | "grant"
  /** `e` `se`: `acquired <token> <lease>` or `queued`. */
  | "enqueue"
  /** `n` `sn`: `ok <seconds>`. */
  | "renew"
  /** `r` `sr` `auth` `ping`: `ok`. */
  | "plain"
  /** `stats`: `ok <json>`. */
  | "stats";

/** The reply shape of every command. */
export const COMMAND_SHAPE: { readonly [C in Command]: ReplyShape } = {
  [COMMAND.lock]: "grant",
  [COMMAND.semAcquire]: "grant",
  [COMMAND.wait]: "grant",
  [COMMAND.semWait]: "grant",
  [COMMAND.enqueue]: "enqueue",
  [COMMAND.semEnqueue]: "enqueue",
  [COMMAND.renew]: "renew",
  [COMMAND.semRenew]: "renew",
  [COMMAND.release]: "plain",
  [COMMAND.semRelease]: "plain",
  [COMMAND.auth]: "plain",
  [COMMAND.ping]: "plain",
  [COMMAND.stats]: "stats",
};

/** `ok <token> <lease>`. */
export interface GrantedReply {
  status: typeof STATUS.ok;
  token: string;
  leaseS: number;
}
/** `acquired <token> <lease>`. */
export interface AcquiredReply {
  status: typeof STATUS.acquired;
  token: string;
  leaseS: number;
}
/** `queued`. */
export interface QueuedReply {
  status: typeof STATUS.queued;
}
/** `timeout`. */
export interface TimeoutReply {
  status: typeof STATUS.timeout;
}
/** Renew's `ok <seconds>`. */
export interface RenewedReply {
  status: typeof STATUS.ok;
  leaseS: number;
}
/** Plain `ok`. */
export interface OkReply {
  status: typeof STATUS.ok;
}
/** `ok <json>`; `stats` is the parsed JSON object. */
export interface StatsReply {
  status: typeof STATUS.ok;
  stats: Record<string, unknown>;
}

/** Error statuses that stand alone on their line. */
export type ErrorStatus = Exclude<
  Status,
  | typeof STATUS.ok
  | typeof STATUS.acquired
  | typeof STATUS.queued
  | typeof STATUS.timeout
  | typeof STATUS.errorNotLeader
>;

/**
 * A bare error status. An unknown `error_*` word (from a newer server) is reported as
 * `error`; `line` always holds the raw line.
 */
export interface ErrorReply {
  status: ErrorStatus;
  line: string;
}
/** `error_not_leader [host:port]`. */
export interface NotLeaderReply {
  status: typeof STATUS.errorNotLeader;
  leader: string | undefined;
  line: string;
}
/** A line that does not fit the expected shape. */
export interface MalformedReply {
  status: "malformed";
  line: string;
}

/** Every failure result. */
export type FailureReply = ErrorReply | NotLeaderReply | MalformedReply;

/** The possible results per shape. */
export interface ReplyByShape {
  grant: GrantedReply | TimeoutReply | FailureReply;
  enqueue: AcquiredReply | QueuedReply | FailureReply;
  renew: RenewedReply | FailureReply;
  plain: OkReply | FailureReply;
  stats: StatsReply | FailureReply;
}

/** Any result of {@linkcode parseReply}. */
export type Reply = ReplyByShape[ReplyShape];

const OK_PLAIN: OkReply = Object.freeze({ status: STATUS.ok });
const QUEUED: QueuedReply = Object.freeze({ status: STATUS.queued });
const TIMEOUT: TimeoutReply = Object.freeze({ status: STATUS.timeout });

const ERROR_STATUSES: ReadonlySet<string> = new Set<string>(
  Object.values(STATUS).filter((s) => s.startsWith(STATUS.error) && s !== STATUS.errorNotLeader),
);
const UNKNOWN_ERROR_RE = new RegExp(`^${STATUS.error}_[a-z0-9_]+$`);

/** Field separators: ASCII space, `\t`, `\n`, `\v`, `\f`, `\r`. */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** Whether `line[from, to)` is exactly `word`. */
function fieldIs(line: string, from: number, to: number, word: string): boolean {
  return to - from === word.length && line.startsWith(word, from);
}

/** Whether `line` has a token (32 lowercase hex digits) at `from`; what follows is not checked. */
function isToken(line: string, from: number): boolean {
  const to = from + 32;
  if (to > line.length) return false;
  for (let i = from; i < to; i++) {
    const c = line.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/**
 * The integer in `line[from, to)` (Go's `strconv.Atoi`: optional sign, decimal digits), or
 * `undefined` when it is not one or is beyond `Number.MAX_SAFE_INTEGER`. Plain digits that
 * cannot overflow are read in place; anything else goes through {@linkcode atoi}.
 */
function intField(line: string, from: number, to: number): number | undefined {
  if (to - from <= 15) {
    let n = 0;
    let i = from;
    for (; i < to; i++) {
      const d = line.charCodeAt(i) - 0x30;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
    }
    if (i === to && to > from) return n;
  }
  const v = atoi(line.slice(from, to));
  return typeof v === "number" ? v : undefined;
}

/**
 * Maps one response line to a typed result.
 *
 * @param line The line as text, without its `\n` (a trailing `\r` is tolerated).
 * @param shape What a success looks like for the request that was sent.
 * @returns The typed result; `{ status: "malformed", line }` for anything unexpected.
 */
export function parseReply<S extends ReplyShape>(line: string, shape: S): ReplyByShape[S] {
  return parseAny(line, shape) as ReplyByShape[S];
}

/**
 * The one parser. It splits the line into whitespace-separated fields in a single scan that
 * keeps only the bounds of the first three (a fourth field makes every reply malformed, except
 * `stats`, whose JSON runs to the end of the line) and checks a grant's token on the way, then
 * matches the fields against the shape.
 */
function parseAny(line: string, shape: ReplyShape): Reply {
  const len = line.length;
  // A grant's second field is read as a token at once: 32 hex digits hold no separator.
  const wantsToken = shape === "grant" || shape === "enqueue";
  let token = false; // the second field is a token
  let n = 0; // fields seen, counting stops at 4
  let a0 = 0, b0 = 0, a1 = 0, b1 = 0, a2 = 0, b2 = 0;
  let i = 0;
  while (n < 4) {
    while (i < len && isSpace(line.charCodeAt(i))) i++;
    if (i === len) break;
    const a = i;
    if (
      n === 1 && wantsToken && isToken(line, a) &&
      (a + 32 === len || isSpace(line.charCodeAt(a + 32)))
    ) {
      token = true;
      i = a + 32;
    } else {
      while (i < len && !isSpace(line.charCodeAt(i))) i++;
    }
    if (n === 0) {
      a0 = a;
      b0 = i;
    } else if (n === 1) {
      a1 = a;
      b1 = i;
    } else if (n === 2) {
      a2 = a;
      b2 = i;
    }
    n++;
  }
  if (n === 0) return { status: "malformed", line };

  // Successes for the shape.
  switch (shape) {
    case "grant":
    case "enqueue": {
      const word = shape === "grant" ? STATUS.ok : STATUS.acquired;
      if (n === 3 && token && fieldIs(line, a0, b0, word)) {
        const leaseS = intField(line, a2, b2);
        if (leaseS !== undefined) {
          return { status: word, token: line.slice(a1, b1), leaseS } as
            | GrantedReply
            | AcquiredReply;
        }
      }
      if (n === 1) {
        if (shape === "grant" && fieldIs(line, a0, b0, STATUS.timeout)) return TIMEOUT;
        if (shape === "enqueue" && fieldIs(line, a0, b0, STATUS.queued)) return QUEUED;
      }
      break;
    }
    case "renew":
      if (n === 2 && fieldIs(line, a0, b0, STATUS.ok)) {
        const leaseS = intField(line, a1, b1);
        if (leaseS !== undefined) return { status: STATUS.ok, leaseS };
      }
      break;
    case "plain":
      if (n === 1 && fieldIs(line, a0, b0, STATUS.ok)) return OK_PLAIN;
      break;
    default: // "stats"
      if (n >= 2 && fieldIs(line, a0, b0, STATUS.ok)) {
        let v: unknown;
        try {
          v = JSON.parse(line.slice(a1));
        } catch {
          return { status: "malformed", line };
        }
        return typeof v === "object" && v !== null && !Array.isArray(v)
          ? { status: STATUS.ok, stats: v as Record<string, unknown> }
          : { status: "malformed", line };
      }
  }

  // Failures, the same for every shape.
  const word = line.slice(a0, b0);
  if (ERROR_STATUSES.has(word)) {
    if (n === 1) return { status: word as ErrorStatus, line };
  } else if (word === STATUS.errorNotLeader) {
    if (n <= 2) {
      return {
        status: STATUS.errorNotLeader,
        leader: n === 2 ? line.slice(a1, b1) : undefined,
        line,
      };
    }
  } else if (n === 1 && UNKNOWN_ERROR_RE.test(word)) {
    return { status: STATUS.error, line };
  }
  return { status: "malformed", line };
}
