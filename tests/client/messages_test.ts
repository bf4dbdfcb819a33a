import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  acquire,
  AcquireTimeoutError,
  auth,
  AuthError,
  connect,
  ConnectionError,
  DflockError,
  DistributedLock,
  DistributedSemaphore,
  enqueue,
  isRetryable,
  LeaseLostError,
  LimitMismatchError,
  MaxLocksError,
  MaxWaitersError,
  release,
  RequestTimeoutError,
  semAcquire,
  semEnqueue,
} from "../../mod.ts";
import { startTestServer } from "../_helpers/server.ts";
import { eventually, rejection, withServer } from "./_lease_helpers.ts";
import { startScriptedPeer } from "./_scripted_peer.ts";

const TOKEN = "0123456789abcdef0123456789abcdef";
const AUTH_FLAGS = "(--auth-token or $DFLOCKD_AUTH_TOKEN on the command line)";

/** The error `fn` throws. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.fail("expected a throw");
}

/** Resolves with the reason once `signal` aborts. */
function aborted(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve) => {
    signal.addEventListener("abort", () => resolve(signal.reason), { once: true });
  });
}

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(":") + 1));
}

describe("auth messages name authToken and the command line's flag and variable", () => {
  test("no token for a server that requires one", async () => {
    await withServer({ authToken: "s3cret" }, async (_server, address) => {
      await using conn = await connect({ port: portOf(address) });
      const err = await rejection(acquire(conn, "k", 0));
      assert.ok(err instanceof AuthError);
      assert.equal(
        err.message,
        `Cannot acquire lock "k": the server requires an auth token and none was sent: set ` +
          `authToken ${AUTH_FLAGS}`,
      );
      assert.equal(isRetryable(err), false);

      const lock = new DistributedLock({ key: "k", servers: [address] });
      try {
        const lockErr = await rejection(lock.acquire());
        assert.ok(lockErr instanceof AuthError);
        assert.match(lockErr.message, /requires an auth token and none was sent: set authToken/);
      } finally {
        await lock.close();
      }
    });
  });

  test("a wrong token", async () => {
    await withServer({ authToken: "s3cret" }, async (_server, address) => {
      const err = await rejection(connect({ port: portOf(address), authToken: "nope" }));
      assert.ok(err instanceof AuthError);
      assert.equal(
        err.message,
        `Cannot authenticate to ${address}: the server refused the auth token: set authToken ` +
          `to the server's token ${AUTH_FLAGS}`,
      );
      assert.equal(isRetryable(err), false);

      const lock = new DistributedLock({ key: "k", servers: [address], authToken: "nope" });
      try {
        const lockErr = await rejection(lock.acquire());
        assert.ok(lockErr instanceof AuthError);
        assert.match(lockErr.message, /refused the auth token/);
      } finally {
        await lock.close();
      }
    });
  });

  test("a token for a server without auth, and the low-level auth()", async () => {
    await withServer({}, async (_server, address) => {
      const err = await rejection(connect({ port: portOf(address), authToken: "x" }));
      assert.ok(err instanceof AuthError);
      assert.match(
        err.message,
        /answered "error" to auth: it has no auth token configured .*: connect without authToken \(drop --auth-token and \$DFLOCKD_AUTH_TOKEN on the command line\)$/,
      );
      await using conn = await connect({ port: portOf(address) });
      const lowErr = await rejection(auth(conn, "x"));
      assert.ok(lowErr instanceof AuthError);
      assert.match(lowErr.message, /^Cannot authenticate: the server answered "error" to auth/);
    });
  });
});

describe("a key used as a lock and as a semaphore", () => {
  test("a lock on a semaphore's key: LimitMismatchError that says so", async () => {
    await withServer({}, async (_server, address) => {
      await using conn = await connect({ port: portOf(address) });
      await semAcquire(conn, "pool", 0, 3);
      for (const call of [() => acquire(conn, "pool", 0), () => enqueue(conn, "pool")]) {
        const err = await rejection(call());
        assert.ok(err instanceof LimitMismatchError);
        assert.equal(err.code, "error_limit_mismatch");
        assert.match(
          err.message,
          /^Cannot (acquire|enqueue for) lock "pool": the key is a semaphore on the server \(.+\): use another key for the lock$/,
        );
      }
      const lock = new DistributedLock({ key: "pool", servers: [address] });
      try {
        const err = await rejection(lock.acquire());
        assert.ok(err instanceof LimitMismatchError);
        assert.match(err.message, /the key is a semaphore on the server/);
      } finally {
        await lock.close();
      }
    });
  });

  test("a semaphore on a lock's key, or with another limit: says which limit it asked", async () => {
    await withServer({}, async (_server, address) => {
      await using conn = await connect({ port: portOf(address) });
      const held = await acquire(conn, "job", 0);
      await release(conn, "job", held.token); // idle keys keep their limit too
      for (const call of [() => semAcquire(conn, "job", 0, 3), () => semEnqueue(conn, "job", 3)]) {
        const err = await rejection(call());
        assert.ok(err instanceof LimitMismatchError);
        assert.match(
          err.message,
          /^Cannot (acquire|enqueue for) semaphore "job": the key exists on the server as a lock or as a semaphore with a limit other than 3 \(the server keeps a key's limit until .+\): give every user of the key the same limit, or use another key$/,
        );
      }
      const sem = new DistributedSemaphore({ key: "job", limit: 5, servers: [address] });
      try {
        const err = await rejection(sem.acquire());
        assert.ok(err instanceof LimitMismatchError);
        assert.match(err.message, /with a limit other than 5/);
      } finally {
        await sem.close();
      }
    });
  });
});

describe("other server answers say what to do", () => {
  test("max_locks, max_waiters, and a release with a token the server does not hold", async () => {
    await withServer({ maxLocks: 1, maxWaiters: 1 }, async (server, address) => {
      await using a = await connect({ port: portOf(address) });
      await using b = await connect({ port: portOf(address) });
      await using c = await connect({ port: portOf(address) });
      await acquire(a, "one", 0);
      const full = await rejection(acquire(a, "two", 0));
      assert.ok(full instanceof MaxLocksError);
      assert.match(full.message, /\(max_locks\): retry later .*raise the server's --max-locks$/);

      void acquire(b, "one", 30).catch(() => {}); // the one waiter allowed
      await eventually(() => server.stats().locks[0]?.waiters === 1, "a waiter");
      const queue = await rejection(acquire(c, "one", 30));
      assert.ok(queue instanceof MaxWaitersError);
      assert.match(
        queue.message,
        /\(max_waiters\): retry later or raise the server's --max-waiters$/,
      );

      const stale = await rejection(release(c, "one", TOKEN));
      assert.ok(stale instanceof DflockError);
      assert.equal(stale.code, "error");
      assert.equal(
        stale.message,
        `Cannot release lock "one": the server holds no such token for the key (the lease ` +
          `expired, or it was released already)`,
      );
    });
  });

  test("withLock() that times out says how long it waited and what to do", async () => {
    await withServer({}, async (_server, address) => {
      await using conn = await connect({ port: portOf(address) });
      await acquire(conn, "busy", 0);
      const lock = new DistributedLock({ key: "busy", servers: [address], acquireTimeoutS: 0 });
      try {
        const err = await rejection(
          lock.withLock(() => "never runs"),
        );
        assert.ok(err instanceof AcquireTimeoutError);
        assert.equal(
          err.message,
          `Cannot acquire lock "busy": it stayed taken for the whole acquire timeout (0 s): ` +
            `try again later, or wait longer with acquireTimeoutS`,
        );
      } finally {
        await lock.close();
      }
    });
  });
});

describe("LeaseLostError: one sentence that names the key once", () => {
  function assertOneSentence(err: unknown, key: string): asserts err is LeaseLostError {
    assert.ok(err instanceof LeaseLostError, String(err));
    assert.equal(err.key, key);
    const mentions = err.message.split(`lock "${key}"`).length - 1;
    assert.equal(mentions, 1, `the key once: ${err.message}`);
    assert.doesNotMatch(err.message, /Lost the lease|: The lease|: Cannot /, err.message);
  }

  test("the renewal is refused (the token was released elsewhere)", async () => {
    await withServer({}, async (_server, address) => {
      const lock = new DistributedLock({
        key: "k",
        servers: [address],
        leaseTtlS: 2,
        renewRatio: 0.1,
      });
      try {
        assert.equal(await lock.acquire(), true);
        await using other = await connect({ port: portOf(address) });
        await release(other, "k", lock.token!); // release works from any connection
        const err = await aborted(lock.signal);
        assertOneSentence(err, "k");
        assert.equal(
          err.message,
          `The lease of lock "k" was lost: the server holds no such token for the key (the ` +
            `lease expired, or it was released already)`,
        );
        assert.ok(err.cause instanceof DflockError, "the refused renewal is the cause");
        await assert.rejects(lock.release(), (e) => e === err);
      } finally {
        await lock.close();
      }
    });
  });

  test("the connection is closed by the server", async () => {
    const server = await startTestServer();
    const address = `127.0.0.1:${server.addr.port}`;
    const lock = new DistributedLock({ key: "k", servers: [address], leaseTtlS: 30 });
    try {
      assert.equal(await lock.acquire(), true);
      void server.close({ force: true });
      const err = await aborted(lock.signal);
      assertOneSentence(err, "k");
      assert.match(
        err.message,
        new RegExp(`^The lease of lock "k" was lost: connection to ${address}`),
      );
      assert.ok(err.cause instanceof ConnectionError);
    } finally {
      await lock.close();
      await server.close();
    }
  });

  test("the renewal is not answered before the lease runs out", async () => {
    // Grants a 1 s lease, then never answers (the renewal).
    await using peer = await startScriptedPeer([`ok ${TOKEN} 1\n`]);
    const lock = new DistributedLock({ key: "k", servers: [peer.address], leaseTtlS: 1 });
    try {
      assert.equal(await lock.acquire(), true);
      const err = await aborted(lock.signal);
      assertOneSentence(err, "k");
      assert.equal(
        err.message,
        `The lease of lock "k" ran out before it was renewed: the server did not answer the ` +
          `renewal in time`,
      );
    } finally {
      await lock.close();
    }
  });
});

describe("seconds round up (and say so); counts and low-level seconds must be integers", () => {
  test("a fractional leaseTtlS rounds up: 1.5 s becomes a 2 s lease", async () => {
    await withServer({}, async (_server, address) => {
      const lock = new DistributedLock({ key: "k", servers: [address], leaseTtlS: 1.5 });
      try {
        assert.equal(await lock.acquire(), true);
        assert.equal(lock.lease, 2);
      } finally {
        await lock.close();
      }
    });
  });

  test("out-of-range seconds: the message gives the range and the rounding", () => {
    const cases: Array<[string, Record<string, number>, string]> = [
      ["leaseTtlS", { leaseTtlS: 0 }, "above 0 and at most 9223372036"],
      ["leaseTtlS", { leaseTtlS: -1 }, "above 0 and at most 9223372036"],
      ["leaseTtlS", { leaseTtlS: NaN }, "above 0 and at most 9223372036"],
      ["leaseTtlS", { leaseTtlS: 9223372036.5 }, "above 0 and at most 9223372036"],
      ["acquireTimeoutS", { acquireTimeoutS: -0.5 }, "from 0 to 9223372036"],
      ["acquireTimeoutS", { acquireTimeoutS: Infinity }, "from 0 to 9223372036"],
    ];
    for (const [name, options, range] of cases) {
      const err = thrown(() => new DistributedLock({ key: "k", ...options }));
      assert.ok(err instanceof RangeError, `${name} ${options[name]}`);
      assert.equal(
        err.message,
        `${name} must be a number of seconds ${range}; fractions round up to whole seconds ` +
          `(got ${options[name]})`,
      );
    }
    assert.throws(() => new DistributedLock({ key: "k", leaseTtlS: "5" as unknown as number }), {
      name: "TypeError",
      message: "leaseTtlS must be a number of seconds (got string)",
    });
  });

  test("the low-level calls and counts reject fractions with a message that says so", async () => {
    await withServer({}, async (_server, address) => {
      await using conn = await connect({ port: portOf(address) });
      await assert.rejects(acquire(conn, "k", 1.5), {
        name: "RangeError",
        message: "acquireTimeoutS must be a whole number of seconds from 0 to 9223372036 (got 1.5)",
      });
      await assert.rejects(acquire(conn, "k", 0, { leaseTtlS: 2.5 }), {
        name: "RangeError",
        message: "leaseTtlS must be a whole number of seconds from 1 to 9223372036 (got 2.5)",
      });
      await assert.rejects(semAcquire(conn, "s", 0, 1.5), {
        name: "RangeError",
        message: "limit must be an integer from 1 to 1048576 (got 1.5)",
      });
      assert.throws(() => new DistributedSemaphore({ key: "s", limit: 2.5 }), {
        name: "RangeError",
        message: "limit must be an integer from 1 to 1048576 (got 2.5)",
      });
    });
  });
});

/** The deno binary: this runtime on Deno, else node_modules/.bin/deno above this file. */
function denoBinary(): string | undefined {
  if ("Deno" in globalThis) return process.execPath;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, "node_modules", ".bin", "deno");
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return undefined;
}

/** The parts of Deno's `Deno.Command` used here (the type-check of the npm build has no Deno). */
interface DenoCommandApi {
  Command: new (
    path: string,
    options: { args: string[]; stdout: "piped"; stderr: "piped"; signal: AbortSignal },
  ) => { output(): Promise<{ code: number; stdout: Uint8Array; stderr: Uint8Array }> };
  execPath(): string;
}

/** Runs deno with `args`; resolves with its stdout. */
async function runDeno(args: string[]): Promise<string> {
  const deno = (globalThis as { Deno?: DenoCommandApi }).Deno;
  if (deno !== undefined) {
    // Not node:child_process: on Deno, a `deno run` it starts inherits the parent's permissions.
    const out = await new deno.Command(deno.execPath(), {
      args,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const text = (b: Uint8Array): string => new TextDecoder().decode(b);
    if (out.code !== 0) throw new Error(`deno exited with ${out.code}: ${text(out.stderr)}`);
    return text(out.stdout);
  }
  return await new Promise((resolve, reject) => {
    const child = spawn(denoBinary()!, args, { stdio: ["ignore", "pipe", "pipe"] });
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (t: string) => out += t);
    child.stderr.setEncoding("utf8").on("data", (t: string) => err += t);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`deno exited with ${code}: ${err}`));
    });
  });
}

describe("isRetryable", () => {
  test("transient failures are retryable; setup failures, auth and leases are not", () => {
    assert.equal(isRetryable(new ConnectionError("reset")), true);
    assert.equal(isRetryable(new RequestTimeoutError("no reply")), true);
    assert.equal(isRetryable(new AcquireTimeoutError("busy")), true);
    for (const code of ["tls_mismatch", "tls_certificate", "permission_denied"]) {
      const err = new ConnectionError("setup", { code });
      assert.equal(err.code, code);
      assert.equal(isRetryable(err), false, code);
    }
    assert.equal(isRetryable(new AuthError("bad token")), false);
    assert.equal(isRetryable(new LeaseLostError("lost", "k")), false);
    assert.equal(isRetryable(new DflockError("closed", "closed")), false);
  });

  test(
    "Deno without --allow-net: permission_denied with Deno's words, not retryable",
    { skip: denoBinary() === undefined ? "no deno binary found" : false },
    async () => {
      await using server = await startTestServer();
      const here = dirname(fileURLToPath(import.meta.url));
      const script = existsSync(join(here, "_no_net_child.ts"))
        ? join(here, "_no_net_child.ts")
        : join(here, "_no_net_child.js");
      // No permission flags at all: the connect is refused by Deno.
      const out = await runDeno(["run", "--no-prompt", script, String(server.addr.port)]);
      const result = JSON.parse(out.trim()) as Record<string, unknown>;
      assert.equal(result.name, "ConnectionError");
      assert.equal(result.code, "permission_denied");
      assert.equal(result.retryable, false);
      assert.match(String(result.message), /permission denied: .*--allow-net/);
    },
  );
});
