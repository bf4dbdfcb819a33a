import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { acquire, connect, enqueue, release, semAcquire, semRelease, wait } from "../../mod.ts";
import { withServer } from "../_helpers/server.ts";
import type { Server } from "../../src/server/mod.ts";
import { runRun } from "../../src/cli/run.ts";
import { closeDefaultClients } from "../../src/client/core.ts";
import type { ChildHandle } from "../../src/runtime/child.ts";
import { closedPort, startDflock } from "./_client_process.ts";
import { fakeIo } from "./_fake_io.ts";

/** A command that exits 0 at once; records what stderr held when it was started. */
function fakeCommand(io: { err: string }): {
  spawn: (cmd: string, args: readonly string[]) => ChildHandle;
  errAtStart(): string | undefined;
} {
  let seen: string | undefined;
  return {
    spawn: () => {
      seen = io.err;
      return { pid: 1, exited: Promise.resolve({ code: 0, signal: null }), kill: () => {} };
    },
    errAtStart: () => seen,
  };
}

/** Resolves once the server lists `n` waiters on lock `key` (bounded). */
async function waitersOn(server: Server, key: string, n: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (server.stats().locks.find((l) => l.key === key)?.waiters === n) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`never ${n} waiters on ${key}: ${JSON.stringify(server.stats().locks)}`);
}

describe("dflock run", () => {
  test("holds the lock while the command runs, exits with its status, releases", async () => {
    await withServer({ shutdownTimeout: 5 }, async (server, address) => {
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
    await withServer({ shutdownTimeout: 5 }, async (server, address) => {
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
    await withServer({ shutdownTimeout: 5 }, async (server, address) => {
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
    await withServer({}, async (server, address) => {
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
    });
  });

  test("lease lost: a command that ignores SIGTERM gets SIGKILL after the grace period", async () => {
    await withServer({}, async (server, address) => {
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
    });
  });

  test("SIGTERM is forwarded to the command; the lock is released after it exits", async () => {
    await withServer({ shutdownTimeout: 5 }, async (server, address) => {
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
    await withServer({ shutdownTimeout: 5 }, async (_server, address) => {
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
    await withServer({ shutdownTimeout: 5 }, async (server, address) => {
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

  test("on a terminal: a status line while waiting (key, server, seconds, place), cleared", async () => {
    await withServer({ shutdownTimeout: 5 }, async (server, address) => {
      const holder = await connect({ port: server.addr.port });
      const second = await connect({ port: server.addr.port });
      try {
        const held = await acquire(holder, "busy", 0);
        assert.equal((await enqueue(second, "busy")).status, "queued");
        const io = fakeIo({}, {}, { stderrIsTty: true });
        const command = fakeCommand(io);
        const started = performance.now();
        const code = runRun(
          ["--key", "busy", "--timeout", "30", "--server", address, "--", "true"],
          io,
          { spawn: command.spawn },
        );
        // One holder and one connection queued before us: we are second in line.
        await io.waitForErr((err) => err.includes("position 2 in the queue"));
        assert.match(
          io.err,
          new RegExp(
            `^\\rdflock run: waiting for busy on ${address}: queued, 0 s\\x1b\\[K` +
              `(\\rdflock run: waiting for busy on ${address}: [^\\r]+, \\d+ s\\x1b\\[K)*$`,
          ),
        );
        // The holder leaves: the queued connection is granted, we move up.
        await release(holder, "busy", held.token);
        await io.waitForErr((err) => err.includes("position 1 in the queue"));
        assert.equal(command.errAtStart(), undefined, "the command waits for the lock");
        const next = await wait(second, "busy", 5);
        await release(second, "busy", next.token);
        assert.equal(await code, 0);
        const elapsedS = (performance.now() - started) / 1000;
        // Cleared before the command started, and nothing after.
        const before = command.errAtStart();
        assert.ok(before?.endsWith("\r\x1b[K"), JSON.stringify(before));
        assert.equal(io.err, before);
        assert.ok(!io.err.includes("\n"), "one line, redrawn in place");
        // Redrawn at most once a second (plus the first draw).
        const draws = io.err.split("\rdflock run: waiting").length - 1;
        assert.ok(draws >= 2 && draws <= Math.floor(elapsedS) + 1, `${draws} in ${elapsedS} s`);
        assert.match(io.err, new RegExp(", [1-9]\\d* s\u001b\\[K"), "the seconds count up");
        assert.deepEqual(server.stats().locks, []);
      } finally {
        await holder.close();
        await second.close();
        await closeDefaultClients();
      }
    });
  });

  test("on a terminal: a semaphore's wait names its slots", async () => {
    await withServer({ shutdownTimeout: 5 }, async (server, address) => {
      const holder = await connect({ port: server.addr.port });
      try {
        const a = await semAcquire(holder, "pool", 0, 1);
        const io = fakeIo({}, {}, { stderrIsTty: true });
        const command = fakeCommand(io);
        const code = runRun(
          ["--key", "pool", "--semaphore", "1", "--server", address, "--", "true"],
          io,
          { spawn: command.spawn },
        );
        await io.waitForErr((err) => err.includes("position 1 in the queue"));
        assert.match(
          io.err,
          new RegExp(`waiting for a slot of pool \\(semaphore of 1\\) on ${address}: `),
        );
        await semRelease(holder, "pool", a.token);
        assert.equal(await code, 0);
        assert.ok(command.errAtStart()?.endsWith("\r\x1b[K"));
      } finally {
        await holder.close();
        await closeDefaultClients();
      }
    });
  });

  test("not a terminal: nothing is written while waiting", async () => {
    await withServer({ shutdownTimeout: 5 }, async (server, address) => {
      const holder = await connect({ port: server.addr.port });
      try {
        let token = (await acquire(holder, "quiet", 0)).token;
        for (const tty of [false, undefined]) {
          const io = fakeIo({}, {}, tty === undefined ? {} : { stderrIsTty: tty });
          const command = fakeCommand(io);
          const code = runRun(
            ["--key", "quiet", "--server", address, "--", "true"],
            io,
            { spawn: command.spawn },
          );
          await waitersOn(server, "quiet", 1);
          // On a terminal the first line is drawn as soon as the server queues us.
          assert.equal(io.err, "");
          await release(holder, "quiet", token);
          assert.equal(await code, 0);
          assert.equal(io.err, "");
          assert.equal(command.errAtStart(), "");
          token = (await acquire(holder, "quiet", 0)).token;
        }
      } finally {
        await holder.close();
        await closeDefaultClients();
      }
    });
  });
});
