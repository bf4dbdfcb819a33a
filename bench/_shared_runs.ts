/**
 * The measured targets of `shared_client.ts` and one timed run of any of them.
 *
 * Every target is a function `op(worker, i)` doing one whole acquire+release of the key
 * `<prefix>w<worker>-<i>` (a new key every op); {@linkcode runOps} runs `workers` such loops
 * concurrently in this process for `rounds` ops each and records each op's latency.
 *
 * - `dflock-withLock`: `client.lock(key).withLock(async () => {})` on ONE shared, pooled
 *   `DflockClient` (created once, reused across runs);
 * - `dflock-low-level`: `acquire(conn, key, 0)` + `release(conn, key, token)`, one persistent
 *   `Connection` per worker (opened before the clock starts);
 * - `redis-semaphore`: `new Mutex(redis, key, { acquireAttemptsLimit: 1 })`, `acquire()`,
 *   `release()` on ONE shared ioredis client;
 * - `client-ts`: `new DistributedLock({ key, servers }).withLock(async () => {})` from the
 *   dflockd-client 1.11 package (a connection per lock), loaded at run time from the reference
 *   tarball.
 *
 * @module
 */

import process from "node:process";
import { DflockClient } from "../mod.ts";
import { connect } from "../src/client/connection.ts";
import type { Connection } from "../src/client/connection.ts";
import { acquire, release } from "../src/client/low_level.ts";
import { mergeLatencies } from "./_stats.ts";

/** The measured client paths. */
export type SharedTarget =
  | "dflock-withLock"
  | "dflock-low-level"
  | "redis-semaphore"
  | "client-ts";

/** Every target, in table order. */
export const SHARED_TARGETS: readonly SharedTarget[] = [
  "dflock-withLock",
  "dflock-low-level",
  "redis-semaphore",
  "client-ts",
];

/** One op of a target: acquire and release the key of op `i` of `worker`. */
export type Op = (worker: number, i: number, key: string) => Promise<unknown>;

/** A target ready to run: its op, plus setup and teardown around each run. */
export interface PreparedTarget {
  /** Called before the clock starts (e.g. opens per-worker connections). */
  setup(workers: number): Promise<void>;
  /** The op. */
  op: Op;
  /** Makes in-flight ops fail fast (time limit hit): closes sockets. */
  abort(): void;
  /** Called after every run (e.g. closes per-worker connections). */
  teardown(): Promise<void>;
  /** Called once at the end. */
  dispose(): Promise<void>;
  /** The client's pool counters after a run (`DflockClient.stats()`), when it has a pool. */
  poolStats?(): PoolCounters | null;
}

/** A `DflockClient`'s connection counters for its (single) server. */
export interface PoolCounters {
  /** Open connections. */
  open: number;
  /** Connections opened since the client was created. */
  opened: number;
}

/** Outcome of one run. */
export interface OpsRunResult {
  /** Completed ops (failed ops are not counted). */
  ops: number;
  /** Failed ops. */
  errors: number;
  /** The first failure's message, if any. */
  firstError: string | null;
  /** Wall time in seconds. */
  seconds: number;
  /** `ops / seconds`. */
  opsPerSec: number;
  /** Median op latency, ms. */
  p50Ms: number;
  /** 99th percentile op latency, ms. */
  p99Ms: number;
  /** User+system CPU of this process per completed op, us. */
  cpuUsPerOp: number;
  /**
   * The target's open connections right after the run: the pool's `open` for a DflockClient,
   * else connections to the target's port opened since before `setup` (from `/proc/net/tcp`).
   */
  conns: number | null;
  /** The pool's counters right after the run (dflock-withLock), else null. */
  pool: PoolCounters | null;
  /** Whether the time limit ended the run. */
  aborted: boolean;
}

/** Options of {@linkcode runOps}. */
export interface OpsRunOptions {
  /** Concurrent workers. */
  workers: number;
  /** Ops per worker. */
  rounds: number;
  /** Key prefix (`<prefix>w<worker>-<i>`, or `<prefix>w<worker>` without `uniqueKeys`). */
  keyPrefix: string;
  /** A new key every op (true) or one key per worker, reused by each of its ops (false). */
  uniqueKeys: boolean;
  /** Abort the run after this many ms. */
  timeLimitMs: number;
  /** Open connections to the server right after the run (before teardown), or null. */
  countConnections: () => number | null;
}

/** The key of op `i` of `worker`. */
export function opKey(prefix: string, worker: number, i: number): string {
  return `${prefix}w${worker}-${i}`;
}

/**
 * Runs one timed run of a prepared target.
 *
 * @param target The target.
 * @param options Shape, keys and time limit.
 * @returns Counts, throughput, percentiles, CPU per op and connection count.
 */
export async function runOps(
  target: PreparedTarget,
  options: OpsRunOptions,
): Promise<OpsRunResult> {
  const { workers: n, rounds, keyPrefix, timeLimitMs } = options;
  const connsBefore = options.countConnections();
  await target.setup(n);
  const state = { stopped: false, aborted: false };
  let errors = 0;
  let firstError: string | null = null;
  const timer = setTimeout(() => {
    state.stopped = true;
    state.aborted = true;
    target.abort();
  }, timeLimitMs);
  const op = target.op;
  const recorders = Array.from({ length: n }, () => ({
    latencies: new Float64Array(rounds),
    count: 0,
  }));
  const loop = async (w: number): Promise<void> => {
    const rec = recorders[w]!;
    for (let i = 0; i < rounds && !state.stopped; i++) {
      const key = options.uniqueKeys ? opKey(keyPrefix, w, i) : `${keyPrefix}w${w}`;
      const t0 = performance.now();
      try {
        await op(w, i, key);
        rec.latencies[rec.count++] = performance.now() - t0;
      } catch (e) {
        errors++;
        if (firstError === null && !state.aborted) firstError = String((e as Error)?.stack ?? e);
      }
    }
  };
  try {
    const cpuBefore = process.cpuUsage();
    const start = performance.now();
    await Promise.all(recorders.map((_, w) => loop(w)));
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const connsAfter = options.countConnections();
    const pool = target.poolStats?.() ?? null;
    const conns = pool !== null
      ? pool.open
      : connsAfter === null || connsBefore === null
      ? null
      : connsAfter - connsBefore;
    const { ops, opsPerSec, p50Ms, p99Ms } = mergeLatencies(recorders, seconds);
    return {
      ops,
      errors,
      firstError,
      seconds,
      opsPerSec,
      p50Ms,
      p99Ms,
      cpuUsPerOp: ops > 0 ? (cpu.user + cpu.system) / ops : 0,
      conns,
      pool,
      aborted: state.aborted,
    };
  } finally {
    clearTimeout(timer);
    await target.teardown();
  }
}

/** Where the dflock server is. */
export interface Address {
  /** Host. */
  hostname: string;
  /** Port. */
  port: number;
}

function addrString(a: Address): string {
  return a.hostname.includes(":") ? `[${a.hostname}]:${a.port}` : `${a.hostname}:${a.port}`;
}

const nothing = async (): Promise<void> => {};

/**
 * `dflock-withLock`: one shared, pooled client, created on first use and kept across runs;
 * re-created after an aborted run.
 *
 * @param server The dflock server.
 * @param acquireTimeoutS `client.lock(key, { acquireTimeoutS })` when given, else
 *   `client.lock(key)` (the client's default).
 * @returns The prepared target.
 */
export function dflockClientTarget(
  server: Address,
  acquireTimeoutS?: number,
): PreparedTarget {
  const servers = [addrString(server)];
  const make = (): DflockClient => new DflockClient({ servers });
  let current = make();
  let client: DflockClient | null = current;
  const fn = async (): Promise<void> => {};
  const settings = acquireTimeoutS === undefined ? undefined : { acquireTimeoutS };
  return {
    poolStats: () => {
      const s = current.stats().servers[0];
      return s === undefined ? null : { open: s.open, opened: s.opened };
    },
    setup: () => {
      if (client === null) client = current = make();
      return Promise.resolve();
    },
    op: settings === undefined
      ? (_w, _i, key) => current.lock(key).withLock(fn)
      : (_w, _i, key) => current.lock(key, settings).withLock(fn),
    abort: () => {
      const c = client;
      client = null;
      if (c !== null) void c.close().catch(() => {});
    },
    teardown: nothing,
    dispose: async () => {
      if (client !== null) await client.close();
      client = null;
    },
  };
}

/**
 * `dflock-low-level`: one persistent connection per worker, opened in `setup` (not timed) and
 * closed in `teardown`.
 *
 * @param server The dflock server.
 * @returns The prepared target.
 */
export function lowLevelTarget(server: Address): PreparedTarget {
  let conns: Connection[] = [];
  return {
    setup: async (workers) => {
      conns = await Promise.all(
        Array.from(
          { length: workers },
          () => connect({ host: server.hostname, port: server.port }),
        ),
      );
    },
    op: async (w, _i, key) => {
      const conn = conns[w]!;
      const { token } = await acquire(conn, key, 0);
      await release(conn, key, token);
    },
    abort: () => {
      for (const c of conns) c.destroy();
    },
    teardown: async () => {
      const open = conns;
      conns = [];
      await Promise.all(open.map((c) => c.close().catch(() => {})));
    },
    dispose: nothing,
  };
}

/** The parts of ioredis and redis-semaphore the benchmark uses. */
interface RedisModules {
  Redis: typeof import("ioredis").Redis;
  Mutex: typeof import("redis-semaphore").Mutex;
  versions: { ioredis: string; redisSemaphore: string };
}

/**
 * Loads ioredis and redis-semaphore (dynamic imports, so a runtime that cannot load them
 * skips the target instead of failing).
 *
 * @returns The modules, or the reason they did not load.
 */
export async function loadRedisModules(): Promise<RedisModules | string> {
  try {
    const ioredis = await import("ioredis");
    const semaphore = await import("redis-semaphore");
    const Redis = ioredis.Redis ?? (ioredis.default as unknown as typeof ioredis.Redis);
    const Mutex = semaphore.Mutex;
    if (typeof Redis !== "function" || typeof Mutex !== "function") {
      return "ioredis/redis-semaphore loaded without the Redis/Mutex classes";
    }
    return { Redis, Mutex, versions: { ioredis: "?", redisSemaphore: "?" } };
  } catch (e) {
    return `cannot load ioredis/redis-semaphore: ${(e as Error).message}`;
  }
}

/**
 * `redis-semaphore`: a new `Mutex` per op on ONE shared ioredis client (default options:
 * no auto-pipelining). Mutex options are the defaults (lockTimeout 10 s, refresh timer every
 * 8 s, started on acquire and cleared on release) except `acquireAttemptsLimit: 1`: a taken
 * key fails at once instead of polling (never the case here: every key is new).
 *
 * @param mods The loaded modules.
 * @param server The redis server.
 * @returns The prepared target, once the client is connected.
 */
export async function redisTarget(mods: RedisModules, server: Address): Promise<PreparedTarget> {
  const { Redis, Mutex } = mods;
  const make = async () => {
    const r = new Redis({ host: server.hostname, port: server.port, lazyConnect: true });
    await r.connect();
    return r;
  };
  let redis: InstanceType<typeof Redis> | null = await make();
  let current = redis;
  return {
    setup: async () => {
      if (redis === null) redis = current = await make();
    },
    op: async (_w, _i, key) => {
      const m = new Mutex(current, key, { acquireAttemptsLimit: 1 });
      await m.acquire();
      await m.release();
    },
    abort: () => {
      const r = redis;
      redis = null;
      r?.disconnect();
    },
    teardown: nothing,
    dispose: async () => {
      const r = redis;
      redis = null;
      if (r !== null) await r.quit().catch(() => r.disconnect());
    },
  };
}

/** What the benchmark uses of dflockd-client 1.11's `DistributedLock`. */
export interface ClientTsLock {
  withLock<T>(fn: () => T | Promise<T>): Promise<T>;
  close(): void;
}

/** The constructor of dflockd-client 1.11's `DistributedLock`. */
export type ClientTsLockClass = new (opts: {
  key: string;
  servers: Array<[string, number]>;
}) => ClientTsLock;

/**
 * `client-ts`: dflockd-client 1.11 `new DistributedLock({ key, servers }).withLock(...)` per op
 * (default options: acquireTimeoutS 10, renew at the default ratio), one connection per lock.
 *
 * @param DistributedLock The class, loaded from the reference package.
 * @param server The dflock server.
 * @returns The prepared target.
 */
export function clientTsTarget(
  DistributedLock: ClientTsLockClass,
  server: Address,
): PreparedTarget {
  const servers: Array<[string, number]> = [[server.hostname, server.port]];
  const fn = async (): Promise<void> => {};
  return {
    setup: nothing,
    op: (_w, _i, key) => new DistributedLock({ key, servers }).withLock(fn),
    abort: () => {},
    teardown: nothing,
    dispose: nothing,
  };
}
