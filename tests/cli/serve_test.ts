import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { runServe, type ServerHandle } from "../../src/cli/serve.ts";
import type { ServerOptions } from "../../src/server/options.ts";
import { fakeIo } from "./_fake_io.ts";

/** A fake server: records its options and how often close() was called. */
function fakeServer(port = 5555) {
  const calls: ServerOptions[] = [];
  let closeCalls = 0;
  let finish!: () => void;
  const closed = new Promise<void>((resolve) => (finish = resolve));
  const handle: ServerHandle = {
    addr: { hostname: "127.0.0.1", port },
    close() {
      closeCalls++;
      setTimeout(finish, 5);
      return closed;
    },
    closed,
  };
  let ready!: () => void;
  const started = new Promise<void>((resolve) => (ready = resolve));
  return {
    calls,
    closeCalls: () => closeCalls,
    started,
    start: (options: ServerOptions): Promise<ServerHandle> => {
      calls.push(options);
      ready();
      return Promise.resolve(handle);
    },
  };
}

async function untilListening(io: { err: string }): Promise<void> {
  for (let i = 0; i < 200 && !io.err.includes("listening on"); i++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  assert.match(io.err, /listening on/);
}

describe("runServe", () => {
  test("starts, logs the listening line, drains on SIGTERM and returns 0", async () => {
    const io = fakeIo({ DFLOCKD_MAX_WAITERS: "3" }, { "/tok": " t0k \n" });
    const server = fakeServer(4321);
    const code = runServe(["--max-locks", "7", "--auth-token-file", "/tok"], io, server.start);
    await untilListening(io);
    assert.match(
      io.err,
      /^dflock: listening on 127\.0\.0\.1:4321 \(max-locks=7, max-waiters=3, auth=on\)\n$/,
    );
    assert.equal(io.err.includes("t0k"), false, "the token is never logged");
    const options = server.calls[0];
    assert.ok(options);
    assert.equal(options.maxLocks, 7);
    assert.equal(options.maxWaiters, 3);
    assert.equal(options.authToken, "t0k");
    assert.equal(options.port, 6388);
    assert.equal(io.handlerCount(), 2);
    assert.equal(io.raise("SIGTERM"), 1);
    assert.equal(io.raise("SIGINT"), 1, "a second signal is caught but ignored");
    assert.equal(await code, 0);
    assert.equal(server.closeCalls(), 1);
    assert.match(io.err, /SIGTERM received, draining connections\n/);
    assert.match(io.err, /dflock: stopped\n$/);
    assert.equal(io.handlerCount(), 0, "handlers are removed after the stop");
  });

  test("no settings suffix with defaults; SIGINT also drains", async () => {
    const io = fakeIo();
    const server = fakeServer();
    const code = runServe([], io, server.start);
    await untilListening(io);
    assert.equal(io.err, "dflock: listening on 127.0.0.1:5555\n");
    io.raise("SIGINT");
    assert.equal(await code, 0);
    assert.equal(server.closeCalls(), 1);
  });

  test("a signal that arrives while the server starts drains it once it is up", async () => {
    const io = fakeIo();
    const server = fakeServer();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const code = runServe([], io, async (options) => {
      await gate;
      return await server.start(options);
    });
    for (let i = 0; i < 100 && io.handlerCount() < 2; i++) await Promise.resolve();
    assert.equal(io.handlerCount(), 2, "handlers are installed before listening");
    io.raise("SIGTERM");
    release();
    assert.equal(await code, 0);
    assert.equal(server.closeCalls(), 1);
  });

  test("a startup failure is a server error with exit 1", async () => {
    const io = fakeIo();
    const code = await runServe(
      ["--port", "1"],
      io,
      () => Promise.reject(new Error("address in use")),
    );
    assert.equal(code, 1);
    assert.equal(io.err, "dflock: server error: address in use\n");
    assert.equal(io.handlerCount(), 0);
  });

  test("only one of --tls-cert / --tls-key: exit 1 before starting", async () => {
    for (const argv of [["--tls-cert", "c.pem"], ["--tls-key", "k.pem"]]) {
      const io = fakeIo();
      const server = fakeServer();
      assert.equal(await runServe(argv, io, server.start), 1);
      assert.match(io.err, /tls-cert.*tls-key/);
      assert.equal(server.calls.length, 0);
    }
  });

  test("--version prints the version and exits 0 without starting", async () => {
    const io = fakeIo();
    const server = fakeServer();
    assert.equal(await runServe(["--version"], io, server.start), 0);
    assert.match(io.out, /^dflock \d+\.\d+\.\d+/);
    assert.equal(io.err, "");
    assert.equal(server.calls.length, 0);
  });

  test("configuration errors exit 1 with the message on stderr", async () => {
    const io = fakeIo({ DFLOCKD_GC_MAX_UNUSED_TIME: "0" });
    const server = fakeServer();
    assert.equal(await runServe([], io, server.start), 1);
    assert.equal(io.err, "configuration error: --gc-max-idle must be > 0 (got 0)\n");
    assert.equal(server.calls.length, 0);
    const io2 = fakeIo();
    assert.equal(await runServe(["--bogus"], io2, server.start), 1);
    assert.match(io2.err, /^flag provided but not defined: -bogus\nUsage of dflockd:\n/);
  });

  test("an unreadable token file exits 1", async () => {
    const io = fakeIo({ DFLOCKD_AUTH_TOKEN_FILE: "/nope" });
    const server = fakeServer();
    assert.equal(await runServe([], io, server.start), 1);
    assert.match(io.err, /^configuration error: cannot read auth token file "\/nope"/);
    assert.equal(server.calls.length, 0);
  });
});
