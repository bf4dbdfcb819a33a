/**
 * Load generator for a dflockd-compatible server.
 *
 * Opens `connections` connections; each one runs a worker that, `rounds` times, sends
 * `l\n<key>\n<t>\n` (expects `ok <token> <lease>`) and then `r\n<key>\n<token>\n` (expects a
 * line whose status word is `ok`; the echo floor answers `ok <token> 33` here, which is
 * accepted). Requests are never pipelined: each worker waits for a response before its next
 * request.
 *
 * One **op** is one completed acquire+release pair; its latency runs from writing the acquire
 * to reading the release's answer. `opsPerSec` is completed pairs per second of wall time,
 * measured from the moment all connections are open until the last worker finishes.
 *
 * @module
 */

import { mergeLatencies } from "./_stats.ts";
import { connect as defaultConnect } from "../src/transport/auto.ts";
import { CLIENT_MAX_LINE_BYTES, LINE_TOO_LONG, LineDecoder } from "../src/protocol/line_decoder.ts";
import { openChannel } from "../src/transport/channel.ts";
import type { ByteChannel, Connect, Transport } from "../src/transport/types.ts";

/** How keys are assigned to connections. */
export type KeyMode = "unique" | "shared";

/** Options for {@linkcode runLoad}. */
export interface LoadOptions {
  /** Server host. @default {"127.0.0.1"} */
  hostname?: string;
  /** Server port. */
  port: number;
  /** Number of concurrent connections (one worker each). @default {100} */
  connections?: number;
  /** Acquire+release pairs per connection. @default {500} */
  rounds?: number;
  /**
   * `unique`: every connection uses its own key (no contention). `shared`: all connections
   * use one key (contended; acquires queue FIFO on the server). @default {"unique"}
   */
  keyMode?: KeyMode;
  /** Acquire timeout in seconds sent with `l`. @default {0 for unique, 30 for shared} */
  acquireTimeoutSec?: number;
  /** Prefix of the key names. @default {"bench"} */
  keyPrefix?: string;
  /** Abort the whole run after this many milliseconds. @default {60000} */
  timeLimitMs?: number;
  /** Connector to use. @default {the current runtime's, from `src/transport/auto.ts`} */
  connect?: Connect;
}

/** Outcome of one load run. */
export interface LoadResult {
  /** Completed acquire+release pairs. */
  ops: number;
  /** Wall time of the measured phase, in seconds. */
  seconds: number;
  /** `ops / seconds`. */
  opsPerSec: number;
  /** Median pair latency in milliseconds. */
  p50Ms: number;
  /** 99th percentile pair latency in milliseconds. */
  p99Ms: number;
  /** Acquires answered `timeout` (only possible when the lock is held elsewhere). */
  timeouts: number;
  /** True when the time limit ended the run early. */
  aborted: boolean;
}

const encoder = new TextEncoder();

/**
 * Runs one load test against a server and measures throughput and latency.
 *
 * @param options Target address, concurrency and key mode.
 * @returns Counts, throughput and latency percentiles.
 * @throws {Error} When a connection fails or a response is not the expected one (unless the
 *   run was aborted by its time limit, in which case partial results are returned).
 * @throws {RangeError} On a non-positive `connections` or negative `rounds`.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const hostname = options.hostname ?? "127.0.0.1";
  const connections = options.connections ?? 100;
  const rounds = options.rounds ?? 500;
  const keyMode = options.keyMode ?? "unique";
  const acquireTimeout = options.acquireTimeoutSec ?? (keyMode === "shared" ? 30 : 0);
  const prefix = options.keyPrefix ?? "bench";
  const timeLimitMs = options.timeLimitMs ?? 60_000;
  const connectFn = options.connect ?? defaultConnect;
  if (!Number.isInteger(connections) || connections < 1) {
    throw new RangeError(`connections must be a positive integer, got ${connections}`);
  }
  if (!Number.isInteger(rounds) || rounds < 0) {
    throw new RangeError(`rounds must be a non-negative integer, got ${rounds}`);
  }

  const transports: Transport[] = [];
  const state = { stopped: false, aborted: false };
  const timer = setTimeout(() => {
    state.stopped = true;
    state.aborted = true;
    for (const t of transports) void t.close();
  }, timeLimitMs);
  try {
    const opened = await Promise.all(
      Array.from(
        { length: connections },
        () => connectFn({ hostname, port: options.port, timeoutMs: timeLimitMs }),
      ),
    );
    transports.push(...opened);
    if (state.aborted) { for (const t of transports) void t.close(); }

    const workers = transports.map((transport, i) =>
      new LoadWorker(
        transport,
        keyMode === "shared" ? `${prefix}-shared` : `${prefix}-${i}`,
        acquireTimeout,
        rounds,
        state,
      )
    );
    const start = performance.now();
    const outcomes = await Promise.allSettled(workers.map((w) => w.run()));
    const seconds = (performance.now() - start) / 1000;
    if (!state.aborted) {
      const failed = outcomes.find((o) => o.status === "rejected");
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    }

    let timeouts = 0;
    for (const w of workers) timeouts += w.timeouts;
    return {
      ...mergeLatencies(workers, seconds),
      seconds,
      timeouts,
      aborted: state.aborted,
    };
  } finally {
    clearTimeout(timer);
    await Promise.all(transports.map((t) => t.close()));
  }
}

/** The status word of a response line (up to the first space). */
function statusOf(line: string): string {
  const sp = line.indexOf(" ");
  return sp < 0 ? line : line.slice(0, sp);
}

/** One connection's request loop. */
class LoadWorker {
  readonly latencies: Float64Array;
  count = 0;
  timeouts = 0;
  #transport: Transport;
  #key: string;
  #acquire: Uint8Array;
  #rounds: number;
  #state: { stopped: boolean };
  #decoder = new LineDecoder(CLIENT_MAX_LINE_BYTES);
  #io: ByteChannel | undefined;
  #writeError: unknown = undefined;

  constructor(
    transport: Transport,
    key: string,
    acquireTimeout: number,
    rounds: number,
    state: { stopped: boolean },
  ) {
    this.#transport = transport;
    this.#key = key;
    this.#acquire = encoder.encode(`l\n${key}\n${acquireTimeout}\n`);
    this.#rounds = rounds;
    this.#state = state;
    this.latencies = new Float64Array(rounds);
  }

  async run(): Promise<void> {
    this.#io = openChannel(this.#transport);
    for (let i = 0; i < this.#rounds && !this.#state.stopped; i++) {
      const t0 = performance.now();
      this.#send(this.#acquire);
      const acquired = await this.#readLine();
      const status = statusOf(acquired);
      if (status === "timeout") {
        this.timeouts++;
        continue;
      }
      if (status !== "ok") throw new Error(`acquire answered ${JSON.stringify(acquired)}`);
      const start = status.length + 1;
      const end = acquired.indexOf(" ", start);
      const token = acquired.slice(start, end < 0 ? acquired.length : end);
      this.#send(encoder.encode(`r\n${this.#key}\n${token}\n`));
      const released = await this.#readLine();
      if (statusOf(released) !== "ok") {
        throw new Error(`release answered ${JSON.stringify(released)}`);
      }
      this.latencies[this.count++] = performance.now() - t0;
    }
  }

  /** Writes without awaiting: the response's arrival proves the write went out. */
  #send(bytes: Uint8Array): void {
    this.#io!.write(bytes).catch((e: unknown) => {
      this.#writeError ??= e;
    });
  }

  async #readLine(): Promise<string> {
    for (;;) {
      const line = this.#decoder.nextLine();
      if (line === LINE_TOO_LONG) throw new Error("response line too long");
      if (line !== null) return line;
      const value = await this.#io!.read();
      if (value === null) {
        throw new Error("server closed the connection", { cause: this.#writeError });
      }
      this.#decoder.push(value);
    }
  }
}
