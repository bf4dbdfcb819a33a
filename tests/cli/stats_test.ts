import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { acquire, connect, type Connection, enqueue, release, semAcquire } from "../../mod.ts";
import { startTestServer } from "../_helpers/server.ts";
import type { Server } from "../../src/server/mod.ts";
import { formatStatsTable, outageLine } from "../../src/cli/stats.ts";
import { closedPort, startDflock } from "./_client_process.ts";

/** A server holding: lock "held" (plus one waiter), semaphore "pool" 2/3, idle lock "idle". */
async function knownState(): Promise<{ server: Server; address: string; conns: Connection[] }> {
  const server = await startTestServer();
  const conns: Connection[] = [];
  const open = async (): Promise<Connection> => {
    const conn = await connect({ port: server.addr.port });
    conns.push(conn);
    return conn;
  };
  try {
    await acquire(await open(), "held", 0, { leaseTtlS: 30 });
    assert.equal((await enqueue(await open(), "held")).status, "queued");
    await semAcquire(await open(), "pool", 0, 3);
    await semAcquire(await open(), "pool", 0, 3);
    const idle = await open();
    const grant = await acquire(idle, "idle", 0);
    await release(idle, "idle", grant.token);
  } catch (error) {
    await Promise.all(conns.map((c) => c.close()));
    await server.close();
    throw error;
  }
  return { server, address: `127.0.0.1:${server.addr.port}`, conns };
}

/** tests/transport/fixtures (a CA:FALSE leaf for 127.0.0.1), also from the compiled copy. */
function fixture(name: string): string {
  for (const up of ["../", "../../../../tests/"]) {
    const url = new URL(`${up}transport/fixtures/${name}`, import.meta.url);
    if (existsSync(url)) return fileURLToPath(url);
  }
  throw new Error(`Cannot find tests/transport/fixtures/${name}`);
}

async function cleanUp(state: { server: Server; conns: Connection[] }): Promise<void> {
  await Promise.all(state.conns.map((c) => c.close()));
  await state.server.close();
}

describe("dflock stats", () => {
  test("prints locks, semaphores, waiters and idle keys as a table", async () => {
    const state = await knownState();
    try {
      const run = startDflock(["stats", "--server", state.address]);
      assert.equal((await run.finish()).code, 0);
      assert.equal(run.stderr(), "");
      const out = run.stdout();
      assert.match(out, new RegExp(`^server ${state.address}: 6 connections, 1 waiter\\n`));
      assert.match(
        out,
        /locks \(1\)\n +KEY +OWNER CONN +LEASE LEFT +WAITERS\n +held +1 +(29|30)\.\ds +1\n/,
      );
      assert.match(out, /semaphores \(1\)\n +KEY +HOLDERS +WAITERS\n +pool +2\/3 +0\n/);
      assert.match(out, /idle keys \(1\)\n +KEY +TYPE +IDLE\n +idle +lock +\d+\.\ds\n/);
    } finally {
      await cleanUp(state);
    }
  });

  test("--json prints the server's object on one line", async () => {
    const state = await knownState();
    try {
      const run = startDflock(["stats", "--json", "--server", state.address]);
      assert.equal((await run.finish()).code, 0);
      const lines = run.stdout().split("\n");
      assert.equal(lines.length, 2, "one line and its newline");
      assert.equal(lines[1], "");
      const json = JSON.parse(lines[0] ?? "");
      assert.equal(json.connections, 6);
      assert.equal(json.locks[0].key, "held");
      assert.equal(json.locks[0].waiters, 1);
      assert.deepEqual(json.semaphores, [{ key: "pool", limit: 3, holders: 2, waiters: 0 }]);
      assert.equal(json.idle_locks[0].key, "idle");
      assert.deepEqual(json.idle_semaphores, []);
    } finally {
      await cleanUp(state);
    }
  });

  test("--watch refreshes (bounded by --count) and stops with 0 on SIGTERM", async () => {
    const state = await knownState();
    try {
      const counted = startDflock([
        "stats",
        "--watch",
        "--count",
        "2",
        "--interval",
        "0.05",
        "--server",
        state.address,
      ]);
      assert.equal((await counted.finish()).code, 0);
      assert.equal(counted.stdout().match(/^server /gm)?.length, 2);
      assert.equal(counted.stdout().match(/^every 0\.05s, \d{4}-/gm)?.length, 2);

      const watching = startDflock(["stats", "--watch", "--server", state.address]);
      try {
        await watching.waitForStdout("idle keys");
        watching.signal("SIGTERM");
        assert.deepEqual(await watching.finish(), { code: 0, signal: null });
      } finally {
        watching.signal("SIGKILL");
        await watching.exited;
      }
    } finally {
      await cleanUp(state);
    }
  });

  test("unreachable server: one line on stderr, exit 1", async () => {
    const port = await closedPort();
    const run = startDflock(["stats", "--server", `127.0.0.1:${port}`]);
    assert.equal((await run.finish()).code, 1);
    assert.equal(
      run.stderr(),
      `dflock stats: cannot connect to 127.0.0.1:${port}: connection refused\n`,
    );
    assert.equal(run.stdout(), "");
  });

  test("--auth-token and $DFLOCKD_AUTH_TOKEN authenticate; a wrong token is one line, exit 1", async () => {
    const server = await startTestServer({ authToken: "s3cret" });
    try {
      const address = `127.0.0.1:${server.addr.port}`;
      const flag = startDflock(["stats", "--json", "--auth-token", "s3cret", "--server", address]);
      assert.equal((await flag.finish()).code, 0);
      assert.equal(JSON.parse(flag.stdout()).connections, 1);
      const env = startDflock(["stats", "--json", "--server", address], {
        DFLOCKD_AUTH_TOKEN: "s3cret",
      });
      assert.equal((await env.finish()).code, 0, env.stderr());
      assert.equal(JSON.parse(env.stdout()).connections, 1);
      // The old name is not an alias: without DFLOCKD_AUTH_TOKEN no token is sent.
      const old = startDflock(["stats", "--json", "--server", address], {
        DFLOCK_AUTH_TOKEN: "s3cret",
      });
      assert.equal((await old.finish()).code, 1);
      assert.match(old.stderr(), /^dflock stats: [^\n]*auth[^\n]*\n$/);
      // The flag beats the variable.
      const both = startDflock(["stats", "--json", "--auth-token", "s3cret", "--server", address], {
        DFLOCKD_AUTH_TOKEN: "wrong",
      });
      assert.equal((await both.finish()).code, 0, both.stderr());
      const wrong = startDflock(["stats", "--auth-token", "nope", "--server", address]);
      assert.equal((await wrong.finish()).code, 1);
      assert.match(wrong.stderr(), /^dflock stats: cannot authenticate to [^\n]+\n$/);
    } finally {
      await server.close();
    }
  });

  test("--tls-ca trusts the given certificate; --tls alone rejects a self-signed one", async () => {
    const cert = fixture("cert.pem");
    const tls = { cert: readFileSync(cert, "utf8"), key: readFileSync(fixture("key.pem"), "utf8") };
    const server = await startTestServer({ tls });
    try {
      const address = `127.0.0.1:${server.addr.port}`;
      const ok = startDflock(["stats", "--json", "--tls-ca", cert, "--server", address]);
      assert.equal((await ok.finish()).code, 0);
      assert.equal(JSON.parse(ok.stdout()).connections, 1);
      const untrusted = startDflock(["stats", "--tls", "--server", address]);
      assert.equal((await untrusted.finish()).code, 1);
      assert.match(untrusted.stderr(), /^dflock stats: cannot connect to [^\n]+\n$/);
    } finally {
      await server.close();
    }
  });

  test("formatStatsTable shows empty sections as (none)", () => {
    const text = formatStatsTable("h:1", {
      connections: 1,
      locks: [],
      semaphores: [],
      idleLocks: [],
      idleSemaphores: [{ key: "s", idleS: 2.25 }],
    });
    assert.equal(
      text,
      "server h:1: 1 connection, 0 waiters\n\nlocks (0)\n  (none)\n\nsemaphores (0)\n  (none)\n\n" +
        "idle keys (1)\n  KEY  TYPE       IDLE\n  s    semaphore  2.3s\n",
    );
  });

  test("--watch shows an outage, keeps retrying and recovers on the same port", async () => {
    let server = await startTestServer({ shutdownTimeout: 0.5 });
    const port = server.addr.port;
    const address = `127.0.0.1:${port}`;
    const watch = startDflock(["stats", "--watch", "--interval", "0.1", "--server", address]);
    try {
      await watch.waitForStdout(`server ${address}: `);
      await server.close();
      const outage = new RegExp(
        `^server ${address.replaceAll(".", "\\.")} unreachable since (\\d\\d:\\d\\d:\\d\\d): ` +
          `[^\\n]+; retrying$`,
        "gm",
      );
      // Two rounds of the outage: the start time stays, the table is gone.
      await watch.waitFor("two outage lines", (out) => (out.match(outage)?.length ?? 0) >= 2);
      const since = [...watch.stdout().matchAll(outage)].map((m) => m[1]);
      assert.equal(new Set(since).size, 1, since.join(", "));
      assert.match(watch.stdout(), /unreachable since [\d:]+: connection refused; retrying\n/);
      const mark = watch.stdout().length;
      server = await startTestServer({ port, shutdownTimeout: 0.5 });
      await watch.waitFor("stats again", (out) => out.slice(mark).includes(`server ${address}: `));
      // The round after the recovery shows the table, not the outage.
      const last = watch.stdout().slice(watch.stdout().lastIndexOf("every 0.1s"));
      assert.doesNotMatch(last, /unreachable/);
      watch.signal("SIGTERM");
      assert.deepEqual(await watch.finish(), { code: 0, signal: null });
      assert.equal(watch.stderr(), "");
    } finally {
      watch.signal("SIGKILL");
      await watch.exited;
      await server.close();
    }
  });

  test("--watch --json reports an outage on stderr; a refused token ends the watch", async () => {
    const port = await closedPort();
    const down = startDflock([
      "stats",
      "--watch",
      "--json",
      "--count",
      "2",
      "--interval",
      "0.05",
      "--server",
      `127.0.0.1:${port}`,
    ]);
    assert.equal((await down.finish()).code, 0);
    assert.equal(down.stdout(), "");
    assert.match(
      down.stderr(),
      new RegExp(
        `^(dflock stats: server 127\\.0\\.0\\.1:${port} unreachable since [\\d:]+: ` +
          `connection refused; retrying\\n){2}$`,
      ),
    );
    const server = await startTestServer({ authToken: "s3cret" });
    try {
      const wrong = startDflock([
        "stats",
        "--watch",
        "--auth-token",
        "nope",
        "--server",
        `127.0.0.1:${server.addr.port}`,
      ]);
      assert.equal((await wrong.finish()).code, 1);
      assert.match(wrong.stderr(), /^dflock stats: cannot authenticate[^\n]+\n$/);
    } finally {
      await server.close();
    }
  });

  test("outageLine names the server, the start time and the reason", () => {
    const since = new Date(2024, 0, 1, 9, 5, 7);
    assert.equal(
      outageLine("h:1", since, new Error("Cannot connect to h:1: connection refused")),
      "server h:1 unreachable since 09:05:07: connection refused; retrying\n",
    );
    assert.equal(
      outageLine("h:1", since, new Error("no answer within 5 s")),
      "server h:1 unreachable since 09:05:07: no answer within 5 s; retrying\n",
    );
  });
});
