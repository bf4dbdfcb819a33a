/**
 * Where a client's request goes after a failure: leader redirects and draining answers of newer
 * dflockd servers, and in cluster mode dead or silent members (docs/protocol.md 15.6, 15.7, 15.10,
 * `docs/leases.md`). One {@linkcode Failover} per client. Internal.
 *
 * In cluster mode the client remembers the member that last served a request (the leader, as
 * far as it knows) and starts there; any failure at that member forgets it, so the leader is
 * learnt again from the next redirect. Independent shards keep every key on its own shard.
 *
 * @module
 */

import {
  ConnectionError,
  DrainingError,
  isRetryable,
  NotLeaderError,
  RequestTimeoutError,
} from "../errors.ts";
import type { ConnectionPool } from "./pool.ts";
import { parseServerAddress } from "./servers.ts";
import { pause, randomUnit } from "./_timing.ts";

/** Redirects followed per operation among independent shards before giving up. */
export const MAX_REDIRECT_HOPS = 3;
/**
 * Members a cluster client learns from redirects beyond its configured list (a bound on what a
 * misconfigured or hostile member can make it connect to).
 */
export const MAX_LEARNT_MEMBERS = 8;
/** First pause between tries, and the longest, in ms. */
const BACKOFF_FIRST_MS = 50;
const BACKOFF_MAX_MS = 1_000;

/**
 * The pause before try number `hop + 1` of an operation: doubling from 50 ms up to 1 s, each
 * drawn uniformly from its upper half (jitter, so clients do not retry in step).
 *
 * @param hop 0 for the pause after the first failure.
 * @returns Milliseconds.
 */
export function backoffMs(hop: number): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** hop);
  return ceiling * (0.5 + randomUnit() * 0.5);
}

/** One try of an operation on server `index`; `signal` also carries the operation's deadline. */
export type Attempt<T> = (index: number, signal: AbortSignal | undefined) => Promise<T>;

/** A client's routing of requests between its servers. */
export class Failover {
  readonly cluster: boolean;
  readonly #pool: ConnectionPool;
  /** Cluster mode: the member that last served a request, while it keeps serving. */
  #leader: number | undefined;
  #learnt = 0;

  constructor(cluster: boolean, pool: ConnectionPool) {
    this.cluster = cluster;
    this.#pool = pool;
  }

  /** Cluster mode: the index of the member that last served a request, while it serves. */
  get leader(): number | undefined {
    return this.#leader;
  }

  /** Tries per operation after the first, before the last error is thrown. */
  get maxHops(): number {
    return this.cluster
      ? Math.max(MAX_REDIRECT_HOPS, 2 * this.#pool.settings.servers.length)
      : MAX_REDIRECT_HOPS;
  }

  /** Where an operation on a key of shard `shard` starts. */
  start(shard: number): number {
    return this.cluster ? this.#leader ?? shard : shard;
  }

  /**
   * The index to try after `err` at `index`, or `undefined` when `err` is the operation's
   * answer (a refusal, a timeout, a bad request) rather than a failure of the server.
   */
  next(err: unknown, index: number): number | undefined {
    const n = this.#pool.servers.length;
    if (err instanceof NotLeaderError) {
      const leader = err.leader === undefined ? -1 : this.#leaderIndex(err.leader);
      if (leader >= 0) {
        if (this.cluster) this.#leader = leader;
        return leader;
      }
      this.#forget(index);
      return (index + 1) % n;
    }
    if (!this.cluster) return err instanceof DrainingError ? index : undefined;
    // A TLS mismatch, a rejected certificate or a refused permission is the client's setup:
    // another member would fail the same way.
    if (err instanceof DrainingError || (err instanceof ConnectionError && isRetryable(err))) {
      this.#forget(index);
      return (index + 1) % n;
    }
    return undefined;
  }

  #forget(index: number): void {
    if (this.#leader === index) this.#leader = undefined;
  }

  /** The index of a redirect's leader: listed, learnt now (cluster mode, bounded), or -1. */
  #leaderIndex(address: string): number {
    const known = this.#pool.indexOf(address);
    if (known >= 0 || !this.cluster || this.#learnt >= MAX_LEARNT_MEMBERS) return known;
    let endpoint;
    try {
      endpoint = parseServerAddress(address);
    } catch {
      return -1; // not a host:port: treated as a bare redirect
    }
    const again = this.#pool.indexOf(endpoint.address);
    if (again >= 0) return again;
    this.#learnt++;
    return this.#pool.addServer(endpoint);
  }

  /**
   * Runs `attempt` at `start`, then, after failures of the server (see {@linkcode next}), at
   * the servers they point to, pausing {@linkcode backoffMs} between tries, at most
   * {@linkcode maxHops} tries after the first and never past `budgetMs` after the call: once the budget is
   * spent the try in progress is aborted and the call rejects with
   * {@linkcode RequestTimeoutError}. The first try runs directly: failures are rare, and this is
   * every request's path.
   *
   * @param start The index to try first.
   * @param attempt One try; it must leave nothing behind when it throws a server failure.
   * @param signal The caller's signal: aborting rejects with its reason.
   * @param budgetMs The operation's whole time bound, in ms.
   * @returns What `attempt` returned.
   */
  async run<T>(
    start: number,
    attempt: Attempt<T>,
    signal: AbortSignal | undefined,
    budgetMs: number,
  ): Promise<T> {
    const startedAt = performance.now();
    try {
      const result = await attempt(start, signal);
      if (this.cluster) this.#leader = start;
      return result;
    } catch (err) {
      const next = this.next(err, start);
      if (next === undefined || signal?.aborted) throw err;
      return await this.#retry(next, err, attempt, signal, startedAt + budgetMs, budgetMs);
    }
  }

  async #retry<T>(
    first: number,
    firstErr: unknown,
    attempt: Attempt<T>,
    signal: AbortSignal | undefined,
    deadline: number,
    budgetMs: number,
  ): Promise<T> {
    let index = first;
    let lastErr: unknown = firstErr;
    const expiry = new AbortController();
    const timer = setTimeout(() => {
      expiry.abort(
        new RequestTimeoutError(`No server answered within ${budgetMs} ms`, { cause: lastErr }),
      );
    }, Math.max(0, deadline - performance.now()));
    const combined = signal === undefined
      ? expiry.signal
      : AbortSignal.any([signal, expiry.signal]);
    try {
      for (let hop = 1;; hop++) {
        try {
          await pause(backoffMs(hop - 1), combined);
          const result = await attempt(index, combined);
          if (this.cluster) this.#leader = index;
          return result;
        } catch (err) {
          if (signal?.aborted) throw signal.reason;
          if (expiry.signal.aborted) {
            const reason = expiry.signal.reason as RequestTimeoutError;
            throw new RequestTimeoutError(
              `${reason.message}; last failure: ${describe(lastErr)}`,
              { cause: lastErr },
            );
          }
          lastErr = err;
          const next = this.next(err, index);
          if (next === undefined || hop >= this.maxHops) throw err;
          index = next;
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
