/**
 * One measured run of the client benchmark for each client path: the raw socket loop, the
 * low-level API on persistent connections, and the high-level `DistributedLock.withLock` with
 * a fresh lock object per round (on the default client's pooled connections).
 *
 * One **op** is one completed acquire+release pair on the worker's own key (`t = 0`, so never
 * contended). Raw and low-level: the latency of a pair runs from writing the acquire to
 * reading the release's answer, and ops/s is pairs per second of wall time from "all
 * connections open" to "last worker done". raw-per-conn: the raw loop with a new transport per
 * round (connect, pair, close), the floor of withLock. withLock: a pair is one whole
 * `new DistributedLock(...).withLock(...)` call (acquire, release), and the
 * wall time covers the connects.
 *
 * @module
 */

import process from "node:process";
import { connect as transportConnect } from "../src/transport/auto.ts";
import type { Transport } from "../src/transport/types.ts";
import { connect } from "../src/client/connection.ts";
import type { Connection } from "../src/client/connection.ts";
import { acquire, release } from "../src/client/low_level.ts";
import { DistributedLock } from "../src/lock.ts";
import { mergeLatencies } from "./_stats.ts";
import { RawLoopWorker } from "./_raw_loop.ts";
import type { StopState } from "./_raw_loop.ts";

/** The client paths measured. */
export type ClientTarget = "raw" | "low-level" | "raw-per-conn" | "withLock";

/** Every client target, in table order. */
export const CLIENT_TARGETS: readonly ClientTarget[] = [
  "raw",
  "low-level",
  "raw-per-conn",
  "withLock",
];

/** Options of {@linkcode runClient}. */
export interface ClientRunOptions {
  /** Server host. */
  hostname: string;
  /** Server port. */
  port: number;
  /** Concurrent workers, each with its own key (and its own connection). */
  workers: number;
  /** Acquire+release pairs per worker. */
  rounds: number;
  /** Prefix of the key names (the worker index is appended). */
  keyPrefix: string;
  /** Abort the run after this many milliseconds. */
  timeLimitMs: number;
}

/** Outcome of one run. */
export interface ClientRunResult {
  /** Completed pairs. */
  ops: number;
  /** Wall time of the measured phase in seconds. */
  seconds: number;
  /** `ops / seconds`. */
  opsPerSec: number;
  /** Median pair latency in milliseconds. */
  p50Ms: number;
  /** 99th percentile pair latency in milliseconds. */
  p99Ms: number;
  /** User+system CPU of this (client) process per op, in microseconds. */
  cpuUsPerOp: number;
  /** True when the time limit ended the run early. */
  aborted: boolean;
}

interface Worker {
  readonly latencies: Float64Array;
  readonly count: number;
  run(): Promise<void>;
}

/** The low-level API on one persistent connection. */
class LowLevelWorker implements Worker {
  readonly latencies: Float64Array;
  count = 0;
  #conn: Connection;
  #key: string;
  #rounds: number;
  #state: StopState;

  constructor(conn: Connection, key: string, rounds: number, state: StopState) {
    this.#conn = conn;
    this.#key = key;
    this.#rounds = rounds;
    this.#state = state;
    this.latencies = new Float64Array(rounds);
  }

  async run(): Promise<void> {
    const conn = this.#conn;
    const key = this.#key;
    for (let i = 0; i < this.#rounds && !this.#state.stopped; i++) {
      const t0 = performance.now();
      const { token } = await acquire(conn, key, 0);
      await release(conn, key, token);
      this.latencies[this.count++] = performance.now() - t0;
    }
  }
}

/**
 * A fresh `DistributedLock` (own connection) per round. No abort signal is passed (one shared
 * signal on hundreds of locks trips Node's listener-leak warning): the time limit stops the
 * workers between rounds, and a round is bounded by the client's connect timeout and `t = 0`.
 */
class WithLockWorker implements Worker {
  readonly latencies: Float64Array;
  count = 0;
  #hostname: string;
  #port: number;
  #key: string;
  #rounds: number;
  #state: StopState;

  constructor(
    hostname: string,
    port: number,
    key: string,
    rounds: number,
    state: StopState,
  ) {
    this.#hostname = hostname;
    this.#port = port;
    this.#key = key;
    this.#rounds = rounds;
    this.#state = state;
    this.latencies = new Float64Array(rounds);
  }

  async run(): Promise<void> {
    for (let i = 0; i < this.#rounds && !this.#state.stopped; i++) {
      const t0 = performance.now();
      const lock = new DistributedLock({
        key: this.#key,
        host: this.#hostname,
        port: this.#port,
        acquireTimeoutS: 0,
      });
      await lock.withLock(() => {});
      this.latencies[this.count++] = performance.now() - t0;
    }
  }
}

/**
 * Runs one measured run of `target`.
 *
 * @param target The client path.
 * @param options Address, shape, key prefix and time limit.
 * @returns Counts, throughput, latency percentiles and client CPU per op.
 * @throws {Error} When a worker fails (unless the time limit ended the run).
 */
export async function runClient(
  target: ClientTarget,
  options: ClientRunOptions,
): Promise<ClientRunResult> {
  const { hostname, port, workers: n, rounds, keyPrefix, timeLimitMs } = options;
  const state: StopState & { aborted: boolean } = { stopped: false, aborted: false };
  const transports: Transport[] = [];
  const conns: Connection[] = [];
  const timer = setTimeout(() => {
    state.stopped = true;
    state.aborted = true;
    for (const t of transports) void t.close();
    for (const c of conns) c.destroy();
  }, timeLimitMs);
  const key = (i: number): string => `${keyPrefix}-${i}`;
  try {
    let workers: Worker[];
    if (target === "raw") {
      transports.push(
        ...await Promise.all(
          Array.from({ length: n }, () => transportConnect({ hostname, port })),
        ),
      );
      workers = transports.map((t, i) => new RawLoopWorker(t, key(i), rounds, state));
    } else if (target === "low-level") {
      conns.push(
        ...await Promise.all(
          Array.from({ length: n }, () => connect({ host: hostname, port })),
        ),
      );
      workers = conns.map((c, i) => new LowLevelWorker(c, key(i), rounds, state));
    } else if (target === "raw-per-conn") {
      const open = (): Promise<Transport> => transportConnect({ hostname, port });
      workers = Array.from({ length: n }, (_, i) => {
        const w = new RawLoopWorker(undefined, key(i), rounds, state);
        return {
          latencies: w.latencies,
          get count() {
            return w.count;
          },
          run: () => w.runPerConnection(open),
        };
      });
    } else {
      workers = Array.from(
        { length: n },
        (_, i) => new WithLockWorker(hostname, port, key(i), rounds, state),
      );
    }
    const cpuBefore = process.cpuUsage();
    const start = performance.now();
    const outcomes = await Promise.allSettled(workers.map((w) => w.run()));
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    if (!state.aborted) {
      const failed = outcomes.find((o) => o.status === "rejected");
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    }
    const { ops, opsPerSec, p50Ms, p99Ms } = mergeLatencies(workers, seconds);
    return {
      ops,
      seconds,
      opsPerSec,
      p50Ms,
      p99Ms,
      cpuUsPerOp: ops > 0 ? (cpu.user + cpu.system) / ops : 0,
      aborted: state.aborted,
    };
  } finally {
    clearTimeout(timer);
    await Promise.all([
      ...transports.map((t) => t.close()),
      ...conns.map((c) => c.close()),
    ]);
  }
}
