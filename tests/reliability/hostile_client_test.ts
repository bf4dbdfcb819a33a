/**
 * Hostile server replies: every low-level call and every DistributedLock / DistributedSemaphore
 * path (acquire, enqueue, wait, release, background renewal) is fed a garbage line, `ok` with
 * the wrong number of fields, a bad token, a non-integer lease, a line over 1 MiB, EOF
 * mid-line, a reset mid-line and an unsolicited line. Each call must reject with
 * `ProtocolError` or `ConnectionError` within a bounded time (never hang, never crash), and a
 * renewal that gets garbage must report the lease loss through `lock.signal`.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import {
  acquire,
  auth,
  AuthError,
  connect,
  ConnectionError,
  DistributedLock,
  DistributedSemaphore,
  enqueue,
  LeaseLostError,
  ping,
  ProtocolError,
  release,
  renew,
  semAcquire,
  semEnqueue,
  semRelease,
  semRenew,
  semWait,
  stats,
  wait,
} from "../../mod.ts";
import type { Connection } from "../../mod.ts";
import {
  type PeerAction,
  rejection,
  reset,
  startHostilePeer,
  within,
  writeBytes,
} from "./hostile_peer.ts";

const TOKEN = "0123456789abcdef0123456789abcdef";
const MIB = 1024 * 1024;
/** Every call must settle within this bound. */
const BOUND_MS = 4000;

type Shape = "grant" | "enqueue" | "renew" | "plain" | "stats";

const SHAPE: Record<string, Shape> = {
  l: "grant",
  sl: "grant",
  w: "grant",
  sw: "grant",
  e: "enqueue",
  se: "enqueue",
  n: "renew",
  sn: "renew",
  r: "plain",
  sr: "plain",
  auth: "plain",
  ping: "plain",
  stats: "stats",
};

/** One kind of hostile reply. */
interface Hostile {
  name: string;
  /** The error class the call must reject with. */
  expect: "protocol" | "connection";
  /** The line (or behaviour) for a request of the given reply shape. */
  act: (shape: Shape) => PeerAction;
  /** Sent on connect, before any request, instead of answering. */
  unsolicited?: boolean;
}

const line = (byShape: Record<Shape, string>): (shape: Shape) => PeerAction => (shape) => (sock) =>
  writeBytes(sock, byShape[shape]);

const HOSTILE: Hostile[] = [
  {
    name: "garbage line",
    expect: "protocol",
    act: () => (sock) => writeBytes(sock, "w\xff\x00t garbage \x01\x7f\n"),
  },
  {
    name: "ok with the wrong field count",
    expect: "protocol",
    act: line({
      grant: `ok ${TOKEN}\n`,
      enqueue: `acquired ${TOKEN} 30 7\n`,
      renew: "ok 30 30\n",
      plain: "ok ok\n",
      stats: "ok\n",
    }),
  },
  {
    name: "bad token",
    expect: "protocol",
    act: line({
      grant: "ok NOT-A-TOKEN 30\n",
      enqueue: `acquired ${TOKEN.toUpperCase()} 30\n`,
      renew: `ok ${TOKEN}\n`,
      plain: `ok ${TOKEN}\n`,
      stats: `ok "${TOKEN}"\n`,
    }),
  },
  {
    name: "non-integer lease",
    expect: "protocol",
    act: line({
      grant: `ok ${TOKEN} 1.5\n`,
      enqueue: `acquired ${TOKEN} ten\n`,
      renew: "ok 1e3\n",
      plain: "ok 1.5\n",
      stats: '{"connections": 1.5.0}\n',
    }),
  },
  {
    name: "a line over 1 MiB",
    expect: "protocol",
    // No newline: the client must give up at the limit, not wait for the end of the line.
    act: () => (sock) => writeBytes(sock, "ok " + "x".repeat(MIB + 64)),
  },
  {
    name: "EOF mid-line",
    expect: "connection",
    act: () => (sock) => {
      sock.end("ok 0123");
    },
  },
  {
    name: "reset mid-line",
    expect: "connection",
    act: () => (sock) => {
      writeBytes(sock, "ok 0123");
      setTimeout(() => reset(sock), 20);
    },
  },
  {
    name: "unsolicited line",
    expect: "connection",
    act: () => () => {},
    unsolicited: true,
  },
];

/**
 * The expected class. An unsolicited line may also arrive after the first request was written
 * and then answers it (a malformed answer: ProtocolError). `auth` reports every answer but
 * `ok`, malformed ones included, as AuthError by design (errors.ts).
 */
function isExpected(err: unknown, h: Hostile, call = ""): boolean {
  if (call === "auth" && h.expect === "protocol" && err instanceof AuthError) return true;
  if (h.unsolicited) return err instanceof ProtocolError || err instanceof ConnectionError;
  return h.expect === "protocol" ? err instanceof ProtocolError : err instanceof ConnectionError;
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error
    ? ` (cause ${err.cause.name}: ${err.cause.message})`
    : "";
  return `${err.name}: ${err.message.slice(0, 160)}${cause}`;
}

/** Starts a peer that answers the first request on every connection with `h`. */
function peerFor(h: Hostile, before: PeerAction[] = []) {
  const act: PeerAction = (sock, req) => h.act(SHAPE[req.command] ?? "plain")(sock, req);
  return startHostilePeer([...before, act], {
    onConnect: h.unsolicited ? (sock: Socket) => writeBytes(sock, "ok\n") : undefined,
  });
}

type LowLevelCall = (conn: Connection) => Promise<unknown>;

const LOW_LEVEL: [string, LowLevelCall][] = [
  ["acquire", (c) => acquire(c, "k", 5)],
  ["release", (c) => release(c, "k", TOKEN)],
  ["renew", (c) => renew(c, "k", TOKEN, 30)],
  ["enqueue", (c) => enqueue(c, "k")],
  ["wait", (c) => wait(c, "k", 5)],
  ["semAcquire", (c) => semAcquire(c, "k", 5, 3)],
  ["semRelease", (c) => semRelease(c, "k", TOKEN)],
  ["semRenew", (c) => semRenew(c, "k", TOKEN)],
  ["semEnqueue", (c) => semEnqueue(c, "k", 3)],
  ["semWait", (c) => semWait(c, "k", 5)],
  ["stats", (c) => stats(c)],
  ["auth", (c) => auth(c, "secret")],
  ["ping", (c) => ping(c)],
];

describe("low-level calls reject hostile replies with typed errors", () => {
  for (const h of HOSTILE) {
    test(h.name, async () => {
      const peer = await peerFor(h);
      const problems: string[] = [];
      try {
        await Promise.all(LOW_LEVEL.map(async ([name, call]) => {
          const conn = await connect({ port: peer.port, connectTimeoutMs: BOUND_MS });
          try {
            if (h.unsolicited) {
              // The unsolicited line closes the connection; later calls fail fast.
              await within(conn.closed, BOUND_MS, `${name}: close after the unsolicited line`);
            }
            const err = await rejection(call(conn), BOUND_MS, name);
            if (!isExpected(err, h, name)) problems.push(`${name}: ${describeError(err)}`);
          } catch (err) {
            problems.push(`${name}: ${describeError(err)}`);
          } finally {
            await conn.close();
          }
        }));
      } finally {
        await peer.close();
      }
      assert.deepEqual(problems, [], `expected ${h.expect} errors`);
    });
  }
});

type Lease = DistributedLock | DistributedSemaphore;

function makeLease(kind: "lock" | "semaphore", address: string): Lease {
  const common = {
    key: "k",
    servers: [address],
    acquireTimeoutS: 2,
    leaseTtlS: 30,
    // Renew after about 0.6 s of the 30 s lease: the loss must come from the renewal's
    // answer, long before the lease could run out locally.
    renewRatio: 0.02,
    connectTimeoutMs: BOUND_MS,
  };
  return kind === "lock"
    ? new DistributedLock(common)
    : new DistributedSemaphore({ ...common, limit: 3 });
}

/**
 * Accepts the expected class, or a lease loss caused by a typed error: the connection is
 * closed when the bad line arrives, and that close may be noticed before the failed call.
 */
function acceptable(err: unknown, h: Hostile): boolean {
  if (isExpected(err, h)) return true;
  return err instanceof LeaseLostError && typedFailure(err.cause);
}

function typedFailure(err: unknown): boolean {
  return err instanceof ProtocolError || err instanceof ConnectionError;
}

const GRANT = `ok ${TOKEN} 30\n`;

interface Path {
  name: string;
  /** Replies before the hostile one. */
  before: () => string[];
  run: (lease: Lease, h: Hostile) => Promise<string | undefined>;
}

const PATHS: Path[] = [
  {
    name: "acquire",
    before: () => [],
    run: async (lease, h) => {
      const err = await rejection(lease.acquire(), BOUND_MS, "acquire");
      return acceptable(err, h) ? undefined : describeError(err);
    },
  },
  {
    name: "enqueue",
    before: () => [],
    run: async (lease, h) => {
      const err = await rejection(lease.enqueue(), BOUND_MS, "enqueue");
      return acceptable(err, h) ? undefined : describeError(err);
    },
  },
  {
    name: "wait",
    before: () => ["queued\n"],
    run: async (lease, h) => {
      if (h.unsolicited) return undefined; // the line would answer `e`; see the enqueue path
      assert.equal(await within(lease.enqueue(), BOUND_MS, "enqueue"), "queued");
      const err = await rejection(lease.wait(5), BOUND_MS, "wait");
      return acceptable(err, h) ? undefined : describeError(err);
    },
  },
  {
    name: "release",
    before: () => [GRANT],
    run: async (lease, h) => {
      if (h.unsolicited) return undefined; // the line would answer `l`; see the acquire path
      assert.equal(await within(lease.acquire(), BOUND_MS, "acquire"), true);
      const err = await rejection(lease.release(), BOUND_MS, "release");
      return acceptable(err, h) ? undefined : describeError(err);
    },
  },
  {
    name: "renewal",
    before: () => [GRANT],
    run: async (lease, h) => {
      if (h.unsolicited) return undefined;
      assert.equal(await within(lease.acquire(), BOUND_MS, "acquire"), true);
      const signal = lease.signal;
      await within(
        new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          signal.addEventListener("abort", () => resolve(), { once: true });
        }),
        BOUND_MS,
        "lease loss through lock.signal",
      );
      const reason: unknown = signal.reason;
      if (!(reason instanceof LeaseLostError)) return `signal reason ${describeError(reason)}`;
      if (!typedFailure(reason.cause)) return `loss caused by ${describeError(reason.cause)}`;
      // release() reports the loss once, then is quiet.
      const err = await rejection(lease.release(), BOUND_MS, "release after loss");
      return err instanceof LeaseLostError ? undefined : `release: ${describeError(err)}`;
    },
  },
  {
    name: "wait after an unsolicited line",
    before: () => ["queued\nok\n"],
    run: async (lease, h) => {
      if (h.name !== "garbage line") return undefined; // one run is enough
      assert.equal(await within(lease.enqueue(), BOUND_MS, "enqueue"), "queued");
      const err = await rejection(lease.wait(5), BOUND_MS, "wait");
      return typedFailure(err) ? undefined : describeError(err);
    },
  },
  {
    name: "unsolicited line while held",
    before: () => [GRANT + "ok\n"],
    run: async (lease, h) => {
      if (h.name !== "garbage line") return undefined; // one run is enough
      assert.equal(await within(lease.acquire(), BOUND_MS, "acquire"), true);
      const signal = lease.signal;
      await within(
        new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          signal.addEventListener("abort", () => resolve(), { once: true });
        }),
        BOUND_MS,
        "lease loss after an unsolicited line",
      );
      const err = await rejection(lease.release(), BOUND_MS, "release after loss");
      return err instanceof LeaseLostError ? undefined : `release: ${describeError(err)}`;
    },
  },
];

describe("DistributedLock and DistributedSemaphore reject hostile replies", () => {
  for (const h of HOSTILE) {
    test(h.name, async () => {
      const problems: string[] = [];
      await Promise.all(
        PATHS.flatMap((path) =>
          (["lock", "semaphore"] as const).map(async (kind) => {
            const pre = path.before().map((l): PeerAction => (sock) => writeBytes(sock, l));
            const peer = await peerFor(h, pre);
            const lease = makeLease(kind, peer.address);
            try {
              const problem = await path.run(lease, h);
              if (problem !== undefined) problems.push(`${kind} ${path.name}: ${problem}`);
            } catch (err) {
              problems.push(`${kind} ${path.name}: ${describeError(err)}`);
            } finally {
              await lease.close();
              await peer.close();
            }
          })
        ),
      );
      assert.deepEqual(problems, []);
    });
  }
});
