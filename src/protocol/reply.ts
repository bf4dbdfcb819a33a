/**
 * Client side: one response line (JavaScript text, without `\n`) to a typed result.
 *
 * What counts as success depends on the request, so the caller passes the expected
 * {@linkcode ReplyShape} (see {@linkcode COMMAND_SHAPE}). Parsing is strict like the Go and
 * Python clients (PROTOCOL.md 13.5): `ok <token> <lease>` needs exactly three fields, a
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

const TOKEN_RE = /^[0-9a-f]{32}$/;
const SPACES_RE = /[\t\n\v\f\r ]+/;
const UNKNOWN_ERROR_RE = new RegExp(`^${STATUS.error}_[a-z0-9_]+$`);

const ERROR_STATUSES: ReadonlySet<string> = new Set<string>(
  Object.values(STATUS).filter((s) => s.startsWith(STATUS.error) && s !== STATUS.errorNotLeader),
);

function lease(field: string): number | undefined {
  const v = atoi(field);
  return typeof v === "number" ? v : undefined;
}

/**
 * The number in `line` from `from` to its end when that is 1 to 15 ASCII digits (checked by
 * the caller's length bounds), else `undefined`. Same value as {@linkcode lease} there.
 */
function digitsToEnd(line: string, from: number): number | undefined {
  let n = 0;
  for (let i = from; i < line.length; i++) {
    const d = line.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return n;
}

/**
 * The lease of a canonical `<word> <32 lowercase hex> <1..15 digits>` line (single spaces,
 * nothing around), else `undefined`. Such lines parse the same way on the general path; this
 * only skips its trim, split and regular expressions.
 */
function canonicalGrantLease(line: string, word: string): number | undefined {
  const w = word.length;
  const len = line.length;
  if (
    len < w + 35 || len > w + 49 || !line.startsWith(word) || line.charCodeAt(w) !== 0x20 ||
    line.charCodeAt(w + 33) !== 0x20
  ) {
    return undefined;
  }
  for (let i = w + 1; i < w + 33; i++) {
    const c = line.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return undefined;
  }
  return digitsToEnd(line, w + 34);
}

/** The canonical form of the frequent successes, or `undefined` for the general path. */
function parseCanonical(line: string, shape: ReplyShape): Reply | undefined {
  switch (shape) {
    case "plain":
      return line === STATUS.ok ? OK_PLAIN : undefined;
    case "grant": {
      const s = canonicalGrantLease(line, STATUS.ok);
      const at = STATUS.ok.length + 1;
      return s === undefined
        ? undefined
        : { status: STATUS.ok, token: line.slice(at, at + 32), leaseS: s };
    }
    case "enqueue": {
      const s = canonicalGrantLease(line, STATUS.acquired);
      const at = STATUS.acquired.length + 1;
      return s === undefined
        ? undefined
        : { status: STATUS.acquired, token: line.slice(at, at + 32), leaseS: s };
    }
    case "renew": {
      const w = STATUS.ok.length;
      const len = line.length;
      if (len < w + 2 || len > w + 16 || !line.startsWith(STATUS.ok)) return undefined;
      if (line.charCodeAt(w) !== 0x20) return undefined;
      const s = digitsToEnd(line, w + 1);
      return s === undefined ? undefined : { status: STATUS.ok, leaseS: s };
    }
    default:
      return undefined;
  }
}

type SuccessParser = (parts: string[], line: string) => Reply | undefined;

const OK_PLAIN: OkReply = Object.freeze({ status: STATUS.ok });
const QUEUED: QueuedReply = Object.freeze({ status: STATUS.queued });
const TIMEOUT: TimeoutReply = Object.freeze({ status: STATUS.timeout });

/** Success parsers per shape, keyed by the first field. */
const SUCCESS: { readonly [S in ReplyShape]: { readonly [word: string]: SuccessParser } } = {
  grant: {
    [STATUS.ok]: (p) => {
      const s = p.length === 3 && TOKEN_RE.test(p[1]!) ? lease(p[2]!) : undefined;
      return s === undefined ? undefined : { status: STATUS.ok, token: p[1]!, leaseS: s };
    },
    [STATUS.timeout]: (p) => (p.length === 1 ? TIMEOUT : undefined),
  },
  enqueue: {
    [STATUS.acquired]: (p) => {
      const s = p.length === 3 && TOKEN_RE.test(p[1]!) ? lease(p[2]!) : undefined;
      return s === undefined ? undefined : { status: STATUS.acquired, token: p[1]!, leaseS: s };
    },
    [STATUS.queued]: (p) => (p.length === 1 ? QUEUED : undefined),
  },
  renew: {
    [STATUS.ok]: (p) => {
      const s = p.length === 2 ? lease(p[1]!) : undefined;
      return s === undefined ? undefined : { status: STATUS.ok, leaseS: s };
    },
  },
  plain: {
    [STATUS.ok]: (p) => (p.length === 1 ? OK_PLAIN : undefined),
  },
  stats: {
    [STATUS.ok]: (_p, line) => {
      const m = /^ok[ \t]+(.*)$/s.exec(line);
      if (m === null) return undefined;
      try {
        const v: unknown = JSON.parse(m[1]!);
        return typeof v === "object" && v !== null && !Array.isArray(v)
          ? { status: STATUS.ok, stats: v as Record<string, unknown> }
          : undefined;
      } catch {
        return undefined;
      }
    },
  },
};

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

function parseAny(line: string, shape: ReplyShape): Reply {
  const canonical = parseCanonical(line, shape);
  if (canonical !== undefined) return canonical;
  const trimmed = line.trim();
  const parts = trimmed === "" ? [] : trimmed.split(SPACES_RE);
  const word = parts[0];
  if (word !== undefined) {
    const parser = Object.hasOwn(SUCCESS[shape], word) ? SUCCESS[shape][word] : undefined;
    if (parser !== undefined) {
      const r = parser(parts, line);
      if (r !== undefined) return r;
    } else if (ERROR_STATUSES.has(word)) {
      if (parts.length === 1) return { status: word as ErrorStatus, line };
    } else if (word === STATUS.errorNotLeader) {
      if (parts.length <= 2) return { status: STATUS.errorNotLeader, leader: parts[1], line };
    } else if (UNKNOWN_ERROR_RE.test(word) && parts.length === 1) {
      return { status: STATUS.error, line };
    }
  }
  return { status: "malformed", line };
}
