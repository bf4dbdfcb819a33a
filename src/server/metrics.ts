/**
 * What the server counts for operators: per-kind counters of grants, releases, timeouts, lease
 * expiries, renewals and errors, the queue-wait and service-time histograms, connection and
 * HTTP request counters. Plain numbers, no I/O and no clock: the lock table and the connections
 * add to them with times they already read, and `/metrics` (see `metrics_text.ts`) and the
 * dashboard read them. Label values come from fixed sets, never from keys, so the number of
 * series stays bounded whatever the clients send.
 *
 * @module
 */

import { COMMAND, type Command } from "../protocol/commands.ts";

/** Lock or semaphore: `l e w r n` are lock commands, `sl se sw sr sn` semaphore commands. */
export type Kind = "lock" | "semaphore";

/** The kinds, in exposition order. */
export const KINDS: readonly Kind[] = ["lock", "semaphore"];

/** Why a held slot was given up. */
export type ReleaseReason = "request" | "disconnect";

/**
 * Queue wait buckets (seconds): from a lock request to its grant; a grant without waiting counts
 * as 0.
 */
export const QUEUE_WAIT_BOUNDS: readonly number[] = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
];

/** Service time buckets (seconds): from a request's arrival to its answer, waiting included. */
export const SERVICE_TIME_BOUNDS: readonly number[] = [
  0.00001,
  0.000025,
  0.00005,
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.005,
  0.01,
  0.1,
  1,
  10,
  60,
];

/** A cumulative-free histogram: `counts[i]` holds the observations in bucket `i`. */
export class Histogram {
  /** Upper bounds (inclusive), ascending; the last bucket is above the last bound. */
  readonly bounds: readonly number[];
  /** Observations per bucket (`bounds.length + 1` entries, not cumulative). */
  readonly counts: number[];
  /** Sum of the observed values. */
  sum = 0;
  /** Number of observations. */
  count = 0;

  /** @param bounds Upper bounds, ascending. */
  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  /**
   * Records one value.
   *
   * @param value The value (seconds); negative values count as 0.
   */
  observe(value: number): void {
    const v = value > 0 ? value : 0;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && v > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

/** Counters split by kind, indexed like {@linkcode KINDS}. */
export type PerKind = [lock: number, semaphore: number];

/**
 * Index into a {@linkcode PerKind}: a key's kind as `stats` classifies it (limit 1 is a lock).
 *
 * @param limit The key's slot count.
 * @returns 0 for a lock, 1 for a semaphore.
 */
export function kindOfLimit(limit: number | bigint): 0 | 1 {
  return limit === 1 ? 0 : 1;
}

/** What the lock table counts as it acts (pure numbers; see {@linkcode ServerMetrics}). */
export class TableCounters {
  /** Slots granted, at once or from the queue. */
  readonly grants: PerKind = [0, 0];
  /** Slots released by `r`/`sr`. */
  readonly releases: PerKind = [0, 0];
  /** Slots released because their connection ended (auto-release). */
  readonly disconnectReleases: PerKind = [0, 0];
  /** Leases renewed by `n`/`sn`. */
  readonly renewals: PerKind = [0, 0];
  /** Holders evicted because their lease ran out. */
  readonly leaseExpiries: PerKind = [0, 0];
  /** Time from request (or enqueue) to grant, per kind. */
  readonly queueWait: [Histogram, Histogram] = [
    new Histogram(QUEUE_WAIT_BOUNDS),
    new Histogram(QUEUE_WAIT_BOUNDS),
  ];
}

/** The wire statuses counted as errors, in exposition order. */
export const ERROR_STATUSES = [
  "error",
  "error_auth",
  "error_max_locks",
  "error_max_waiters",
  "error_limit_mismatch",
  "error_not_enqueued",
  "error_already_enqueued",
  "error_lease_expired",
] as const;

/** One of {@linkcode ERROR_STATUSES}. */
export type ErrorStatus = typeof ERROR_STATUSES[number];

/**
 * The lock-protocol commands counted per request, in exposition order: the wire commands in
 * `COMMAND`'s order (lock commands first, then the semaphore ones, which {@linkcode kindOfCommand}
 * relies on), then `other` for anything unknown.
 */
export const COUNTED_COMMANDS: readonly CountedCommand[] = [...Object.values(COMMAND), "other"];

/** One of {@linkcode COUNTED_COMMANDS}. */
export type CountedCommand = Command | "other";

/** The HTTP methods counted by name; any other is counted as `other`. */
const HTTP_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "POST", "PUT", "DELETE"]);

/** Count and duration of HTTP requests with one method, route and status. */
export interface HttpRequestCount {
  /** Method (`GET`, ... or `other`). */
  method: string;
  /** Route (`/metrics`, ... or `unmatched`). */
  path: string;
  /** Response status. */
  status: number;
  /** Requests. */
  count: number;
  /** Sum of their durations, seconds. */
  durationSum: number;
}

/**
 * Everything the server counts. The lock table adds to {@linkcode ServerMetrics.table}; the
 * connections, the accept loop and the HTTP listener add to the rest.
 */
export class ServerMetrics {
  /** Counted by the lock table. */
  readonly table: TableCounters = new TableCounters();
  /** Requests per command, indexed like {@linkcode COUNTED_COMMANDS}. */
  readonly requests: number[] = new Array<number>(COUNTED_COMMANDS.length).fill(0);
  /** Blocking requests that timed out, per kind. */
  readonly timeouts: PerKind = [0, 0];
  /** Error answers per kind (lock, semaphore, other) and status (see `errorCount`). */
  readonly #errors: number[] = new Array<number>(3 * ERROR_STATUSES.length).fill(0);
  /** Failed authentications on the lock protocol. */
  authFailuresTcp = 0;
  /** Requests refused on the HTTP listener for a missing or wrong bearer token. */
  authFailuresHttp = 0;
  /** Connections accepted. */
  connectionsAccepted = 0;
  /** Connections closed at once because `maxConnections` was reached. */
  connectionsRejectedLimit = 0;
  /** Connections closed at once because the server was shutting down. */
  connectionsRejectedDraining = 0;
  /** Time from a request's arrival to its answer, per kind (lock, semaphore, other). */
  readonly serviceTime: [Histogram, Histogram, Histogram] = [
    new Histogram(SERVICE_TIME_BOUNDS),
    new Histogram(SERVICE_TIME_BOUNDS),
    new Histogram(SERVICE_TIME_BOUNDS),
  ];
  readonly #http = new Map<string, HttpRequestCount>();

  /**
   * Counts an error answer.
   *
   * @param kind 0 lock, 1 semaphore, 2 neither.
   */
  countError(kind: number, status: string): void {
    const i = (ERROR_STATUSES as readonly string[]).indexOf(status);
    if (i >= 0) this.#errors[kind * ERROR_STATUSES.length + i]!++;
  }

  /**
   * Error answers of one kind and status.
   *
   * @param kind 0 lock, 1 semaphore, 2 neither.
   */
  errorCount(kind: number, status: ErrorStatus): number {
    return this.#errors[kind * ERROR_STATUSES.length + ERROR_STATUSES.indexOf(status)]!;
  }

  /** @returns Every error answer counted. */
  errorTotal(): number {
    let n = 0;
    for (const v of this.#errors) n += v;
    return n;
  }

  /**
   * Counts an HTTP request.
   *
   * @param path The route that served it, or `unmatched`.
   * @param seconds How long it took.
   */
  countHttp(method: string, path: string, status: number, seconds: number): void {
    const m = HTTP_METHODS.has(method) ? method : "other";
    const id = `${m} ${path} ${status}`;
    let entry = this.#http.get(id);
    if (entry === undefined) {
      entry = { method: m, path, status, count: 0, durationSum: 0 };
      this.#http.set(id, entry);
    }
    entry.count++;
    entry.durationSum += seconds;
  }

  /** @returns The HTTP request counts, sorted by path, method and status (as Go sorts them). */
  httpCounts(): HttpRequestCount[] {
    return [...this.#http.values()].sort((a, b) =>
      a.path < b.path
        ? -1
        : a.path > b.path
        ? 1
        : a.method < b.method
        ? -1
        : a.method > b.method
        ? 1
        : a.status - b.status
    );
  }
}

/**
 * The counted command of a request line.
 *
 * @param cmd The command line as received.
 * @returns Its index in {@linkcode COUNTED_COMMANDS}.
 */
export function commandIndex(cmd: string): number {
  const i = (COUNTED_COMMANDS as readonly string[]).indexOf(cmd);
  return i >= 0 ? i : COUNTED_COMMANDS.length - 1;
}

/**
 * The kind of a command: 0 lock (`l e w r n`), 1 semaphore (`sl se sw sr sn`), 2 neither.
 *
 * @param commandIdx An index from {@linkcode commandIndex}.
 */
export function kindOfCommand(commandIdx: number): number {
  return commandIdx < 5 ? 0 : commandIdx < 10 ? 1 : 2;
}
