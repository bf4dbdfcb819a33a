import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { acquire, connect } from "../../mod.ts";
import { serve } from "../../src/server/mod.ts";
import type { Server } from "../../src/server/mod.ts";
import { closedPort, startDflock } from "./_client_process.ts";

async function withServer(
  fn: (server: Server, address: string) => Promise<void>,
  shutdownTimeout = 5,
): Promise<void> {
  const server = await serve({ port: 0, log: () => {}, shutdownTimeout });
  try {
    await fn(server, `127.0.0.1:${server.addr.port}`);
  } finally {
    await server.close();
  }
}

describe("dflock run", () => {
  test("holds the lock while the command runs, exits with its status, releases", async () => {
    await withServer(async (server, address) => {
      const run = startDflock([
        "run",
        "--key",
        "jobs/a",
        "--server",
        address,
        "--",
        "sh",
        "-c",
        "echo running; read line; exit 3",
      ]);
      try {
        await run.waitForStdout("running\n");
        const during = server.stats();
        assert.equal(during.locks.length, 1);
        assert.equal(during.locks[0]?.key, "jobs/a");
        assert.ok((during.locks[0]?.ownerConnId ?? 0) > 0);
        run.write("go\n");
        assert.deepEqual(await run.finish(), { code: 3, signal: null });
        assert.equal(run.stderr(), "");
        const after = server.stats();
        assert.deepEqual(after.locks, []);
        assert.deepEqual(after.idleLocks.map((i) => i.key), ["jobs/a"]);
      } finally {
        run.signal("SIGKILL");
        await run.exited;
      }
    });
  });

  test("--semaphore N takes one slot of a semaphore with limit N", async () => {
    await withServer(async (server, address) => {
      const run = startDflock([
        "run",
        "--semaphore",
        "3",
        "--key",
        "pool",
        "--server",
        address,
        "sh",
        "-c",
        "echo running; read line",
      ]);
      try {
        await run.waitForStdout("running\n");
        assert.deepEqual(server.stats().semaphores, [
          { key: "pool", limit: 3, holders: 1, waiters: 0 },
        ]);
        run.write("\n");
        assert.equal((await run.finish()).code, 0);
        assert.deepEqual(server.stats().semaphores, []);
      } finally {
        run.signal("SIGKILL");
        await run.exited;
      }
    });
  });

  test("timeout: exit 75 and the message while another connection holds the key", async () => {
    await withServer(async (server, address) => {
      const conn = await connect({ port: server.addr.port });
      try {
        await acquire(conn, "busy", 0);
        const run = startDflock([
          "run",
          "--key",
          "busy",
          "--timeout",
          "1",
          "--server",
          address,
          "--",
          "sh",
          "-c",
          "echo SHOULD-NOT-RUN",
        ]);
        assert.equal((await run.finish()).code, 75);
        assert.equal(run.stderr(), "dflock run: could not acquire busy within 1 s\n");
        assert.equal(run.stdout(), "");
      } finally {
        await conn.close();
      }
    });
  });

  test("lease lost: the command gets SIGTERM, exit 70 with the message", async () => {
    await withServer(async (server, address) => {
      const run = startDflock([
        "run",
        "--key",
        "fragile",
        "--lease",
        "2",
        "--server",
        address,
        "--",
        "sh",
        "-c",
        'trap "echo got-term; exit 0" TERM; echo running; while :; do sleep 0.1; done',
      ]);
      try {
        await run.waitForStdout("running\n");
        // Drain with a 1 s shutdown timeout: the server then drops the holder's connection.
        const closing = server.close();
        assert.equal((await run.finish()).code, 70);
        assert.match(run.stdout(), /got-term/);
        assert.match(run.stderr(), /^dflock run: lost the lock on fragile: .+\n$/);
        await closing;
      } finally {
        run.signal("SIGKILL");
        await run.exited;
      }
    }, 1);
  });

  test("lease lost: a command that ignores SIGTERM gets SIGKILL after the grace period", async () => {
    await withServer(async (server, address) => {
      const run = startDflock([
        "run",
        "--key",
        "stubborn",
        "--lease",
        "2",
        "--kill-grace",
        "0.3",
        "--server",
        address,
        "--",
        "sh",
        "-c",
        'trap "echo ignored" TERM; echo running; while :; do sleep 0.1; done',
      ]);
      try {
        await run.waitForStdout("running\n");
        const closing = server.close();
        assert.equal((await run.finish()).code, 70);
        assert.match(run.stdout(), /ignored/, "SIGTERM came first");
        assert.match(run.stderr(), /lost the lock on stubborn/);
        await closing;
      } finally {
        run.signal("SIGKILL");
        await run.exited;
      }
    }, 1);
  });

  test("SIGTERM is forwarded to the command; the lock is released after it exits", async () => {
    await withServer(async (server, address) => {
      const run = startDflock([
        "run",
        "--key",
        "sig",
        "--server",
        address,
        "--",
        "sh",
        "-c",
        'trap "echo got-term; exit 9" TERM; echo running; while :; do sleep 0.1; done',
      ]);
      try {
        await run.waitForStdout("running\n");
        run.signal("SIGTERM");
        assert.equal((await run.finish()).code, 9);
        assert.match(run.stdout(), /got-term/);
        assert.deepEqual(server.stats().locks, []);
      } finally {
        run.signal("SIGKILL");
        await run.exited;
      }
    });
  });

  test("a command killed by a signal gives 128 + its number", async () => {
    await withServer(async (_server, address) => {
      const run = startDflock([
        "run",
        "--key",
        "k",
        "--server",
        address,
        "--",
        "sh",
        "-c",
        "kill -9 $$",
      ]);
      assert.equal((await run.finish()).code, 128 + 9);
    });
  });

  test("a missing command: exit 127, one line, lock released", async () => {
    await withServer(async (server, address) => {
      const run = startDflock(["run", "--key", "k", "--server", address, "no-such-command-dflock"]);
      assert.equal((await run.finish()).code, 127);
      assert.match(run.stderr(), /^dflock run: cannot run no-such-command-dflock: [^\n]+\n$/);
      assert.deepEqual(server.stats().locks, []);
    });
  });

  test("unreachable server: one line, exit 1, the command does not run", async () => {
    const port = await closedPort();
    const run = startDflock([
      "run",
      "--key",
      "k",
      "--server",
      `127.0.0.1:${port}`,
      "--",
      "sh",
      "-c",
      "echo ran",
    ]);
    assert.equal((await run.finish()).code, 1);
    assert.equal(
      run.stderr(),
      `dflock run: cannot connect to 127.0.0.1:${port}: connection refused\n`,
    );
    assert.equal(run.stdout(), "");
  });
});
