import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { drainMessage, runServe, type ServerHandle } from "../../src/cli/serve.ts";
import type { ServerOptions } from "../../src/server/options.ts";
import { serve } from "../../src/server/mod.ts";
import { startTestServer } from "../_helpers/server.ts";
import { ProtocolClient } from "../server/_protocol_client.ts";
import { type FakeIo, fakeIo } from "./_fake_io.ts";

/** A fake server: records its options and every close() call with its options. */
function fakeServer(port = 5555, connections?: number) {
  const calls: ServerOptions[] = [];
  const closes: ({ force?: boolean } | undefined)[] = [];
  let finish!: () => void;
  const closed = new Promise<void>((resolve) => (finish = resolve));
  const handle: ServerHandle = {
    addr: { hostname: "127.0.0.1", port },
    close(options) {
      closes.push(options);
      setTimeout(finish, 5);
      return closed;
    },
    closed,
    ...(connections === undefined ? {} : { stats: () => ({ connections }) }),
  };
  return {
    calls,
    closes,
    closeCalls: () => closes.length,
    start: (options: ServerOptions): Promise<ServerHandle> => {
      calls.push(options);
      return Promise.resolve(handle);
    },
  };
}

/**
 * Resolves once the fake's stderr matches `pattern` (checked on every write, no polling);
 * rejects after `ms` with what was written, so a missing line fails the test clearly.
 */
function stderrMatches(io: FakeIo, pattern: RegExp, ms = 10_000): Promise<void> {
  if (pattern.test(io.err)) return Promise.resolve();
  const write = io.writeStderr;
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      io.writeStderr = write;
      reject(new Error(`stderr never matched ${pattern}: ${JSON.stringify(io.err)}`));
    }, ms);
    io.writeStderr = (text) => {
      write(text);
      if (pattern.test(io.err)) {
        clearTimeout(timer);
        io.writeStderr = write;
        resolve();
      }
    };
  });
}

const LISTENING = /listening on 127\.0\.0\.1:(\d+)/;

describe("runServe", () => {
  test("starts, logs the listening line, drains on SIGTERM and returns 0", async () => {
    const io = fakeIo({ DFLOCKD_MAX_WAITERS: "3" }, { "/tok": " t0k \n" });
    const server = fakeServer(4321, 2);
    const code = runServe(["--max-locks", "7", "--auth-token-file", "/tok"], io, server.start);
    await stderrMatches(io, /listening on/);
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
    assert.equal(await code, 0);
    assert.deepEqual(server.closes, [undefined], "one graceful close");
    assert.match(
      io.err,
      /\ndflock: SIGTERM received: draining 2 connections, closing them at \d\d:\d\d:\d\d \(--shutdown-timeout 30 s\); send SIGTERM again to close them now\n/,
    );
    assert.match(io.err, /dflock: stopped\n$/);
    assert.equal(io.handlerCount(), 0, "handlers are removed after the stop");
  });

  test("no settings suffix with defaults; SIGINT also drains", async () => {
    const io = fakeIo();
    const server = fakeServer();
    const code = runServe([], io, server.start);
    await stderrMatches(io, /listening on/);
    assert.equal(io.err, "dflock: listening on 127.0.0.1:5555\n");
    io.raise("SIGINT");
    assert.equal(await code, 0);
    assert.equal(server.closeCalls(), 1);
    assert.match(io.err, /SIGINT received: draining the open connections, closing them at /);
  });

  test("a second signal force-closes through close({ force: true })", async () => {
    const io = fakeIo();
    const server = fakeServer(5555, 1);
    const code = runServe([], io, server.start);
    await stderrMatches(io, /listening on/);
    io.raise("SIGINT");
    io.raise("SIGINT");
    io.raise("SIGTERM");
    assert.equal(await code, 0);
    assert.deepEqual(server.closes, [undefined, { force: true }], "a third signal adds nothing");
    assert.match(io.err, /\ndflock: SIGINT received again: closing 1 connection now\n/);
  });

  test("a signal that arrives while the server starts drains it once it is up", async () => {
    const io = fakeIo();
    const server = fakeServer();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let installed!: () => void;
    const starting = new Promise<void>((resolve) => (installed = resolve));
    const code = runServe([], io, async (options) => {
      installed();
      await gate;
      return await server.start(options);
    });
    await starting;
    assert.equal(io.handlerCount(), 2, "handlers are installed before listening");
    io.raise("SIGTERM");
    io.raise("SIGINT");
    release();
    assert.equal(await code, 0);
    assert.deepEqual(server.closes, [undefined, { force: true }], "both signals are honoured");
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

  test("only one of --tls-cert / --tls-key: the Go server's words, exit 1 before starting", async () => {
    for (const argv of [["--tls-cert", "c.pem"], ["--tls-key", "k.pem"]]) {
      const io = fakeIo();
      const server = fakeServer();
      assert.equal(await runServe(argv, io, server.start), 1);
      assert.equal(
        io.err,
        "dflock: server error: both --tls-cert and --tls-key must be provided together\n",
      );
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

  test("an unreadable token file exits 1 with one line", async () => {
    const io = fakeIo({ DFLOCKD_AUTH_TOKEN_FILE: "/nope" });
    const server = fakeServer();
    assert.equal(await runServe([], io, server.start), 1);
    assert.match(
      io.err,
      /^dflock serve: configuration error: cannot read auth token file "\/nope": [^\n]+\n$/,
    );
    assert.equal(server.calls.length, 0);
  });
});

describe("serve --help", () => {
  test("-h, -help, --help: the flags with their variables on stdout, exit 0", async () => {
    for (const flag of ["-h", "-help", "--help", "--h", "--help=true"]) {
      const io = fakeIo();
      const server = fakeServer();
      assert.equal(await runServe([flag], io, server.start), 0, flag);
      assert.equal(io.err, "", flag);
      assert.equal(server.calls.length, 0, flag);
      assert.match(io.out, /^Usage: dflock serve \[flags\]\n/, flag);
      assert.ok(
        io.out.includes("  -port int\n    \tBind port (default 6388) [$DFLOCKD_PORT]\n"),
        flag,
      );
    }
  });

  test("help after other flags is still help", async () => {
    const io = fakeIo();
    assert.equal(await runServe(["--port", "1", "--help"], io, fakeServer().start), 0);
    assert.match(io.out, /^Usage: dflock serve/);
  });

  test("every flag names its environment variable; the auth token quirk is explained", async () => {
    const io = fakeIo();
    assert.equal(await runServe(["--help"], io, fakeServer().start), 0);
    const table: [string, string][] = [
      ["host", "DFLOCKD_HOST"],
      ["port", "DFLOCKD_PORT"],
      ["default-lease-ttl", "DFLOCKD_DEFAULT_LEASE_TTL_S"],
      ["lease-sweep-interval", "DFLOCKD_LEASE_SWEEP_INTERVAL_S"],
      ["gc-interval", "DFLOCKD_GC_LOOP_SLEEP"],
      ["gc-max-idle", "DFLOCKD_GC_MAX_UNUSED_TIME"],
      ["max-locks", "DFLOCKD_MAX_LOCKS"],
      ["max-connections", "DFLOCKD_MAX_CONNECTIONS"],
      ["max-waiters", "DFLOCKD_MAX_WAITERS"],
      ["read-timeout", "DFLOCKD_READ_TIMEOUT_S"],
      ["write-timeout", "DFLOCKD_WRITE_TIMEOUT_S"],
      ["shutdown-timeout", "DFLOCKD_SHUTDOWN_TIMEOUT_S"],
      ["auto-release-on-disconnect", "DFLOCKD_AUTO_RELEASE_ON_DISCONNECT"],
      ["tls-cert", "DFLOCKD_TLS_CERT"],
      ["tls-key", "DFLOCKD_TLS_KEY"],
      ["auth-token", "DFLOCKD_AUTH_TOKEN"],
      ["auth-token-file", "DFLOCKD_AUTH_TOKEN_FILE"],
      ["http-port", "DFLOCKD_HTTP_PORT"],
      ["http-host", "DFLOCKD_HTTP_HOST"],
      ["debug", "DFLOCKD_DEBUG"],
    ];
    for (const [flag, env] of table) {
      const line = new RegExp(`^  -${flag}( int| string)?\\n    \\t[^\\n]*\\[\\$${env}[\\],]`, "m");
      assert.match(io.out, line, flag);
    }
    assert.ok(io.out.includes("\n  -version\n    \tPrint version and exit\n"));
    assert.match(io.out, /\[\$DFLOCKD_AUTH_TOKEN, which beats this flag\]/);
    assert.match(io.out, /\$DFLOCKD_AUTH_TOKEN \(it beats --auth-token, as in the Go/);
    assert.match(io.out, /--debug=false/, "the boolean syntax is explained");
  });

  test("the usage line names the program as the user started it", async () => {
    const io = fakeIo({}, {}, { program: "npx dflock" });
    assert.equal(await runServe(["-h"], io, fakeServer().start), 0);
    assert.match(io.out, /^Usage: npx dflock serve \[flags\]\n/);
    const npm = fakeIo({}, {}, { program: "npx dflock", commands: { serve: "npm run serve --" } });
    assert.equal(await runServe(["-h"], npm, fakeServer().start), 0);
    assert.match(npm.out, /^Usage: npm run serve -- \[flags\]\n/, "the package script wins");
  });
});

describe("serve: what Go ignores is reported", () => {
  test("--debug false --port 7005: Go's result, and the hint about booleans", async () => {
    const io = fakeIo();
    const server = fakeServer();
    const code = runServe(["--debug", "false", "--port", "7005"], io, server.start);
    await stderrMatches(io, /listening on/);
    io.raise("SIGTERM");
    assert.equal(await code, 0);
    assert.equal(server.calls[0]?.port, 6388, "parsing stopped at false, as in Go");
    assert.equal(server.calls[0]?.debug, true);
    assert.match(
      io.err,
      /^dflock: ignoring argument "false" and everything after it \(boolean flags are written --debug=false\)\n/,
    );
  });

  test("the hint only for a boolean-looking argument right after a boolean flag", async () => {
    const cases: [string[], string][] = [
      [
        ["--port", "7005", "extra", "--max-locks", "1"],
        'ignoring argument "extra" and everything after it',
      ],
      [["--debug", "extra"], 'ignoring argument "extra"'],
      [["--max-locks", "5", "false"], 'ignoring argument "false"'],
      [["--debug=true", "false"], 'ignoring argument "false"'],
      [
        ["-auto-release-on-disconnect", "no"],
        'ignoring argument "no" (boolean flags are written -auto-release-on-disconnect=false)',
      ],
      [
        ["--debug", "T", "x"],
        'ignoring argument "T" and everything after it (boolean flags are written --debug=T)',
      ],
      [["--", "--port", "1"], 'ignoring argument "--port" and everything after it'],
    ];
    for (const [argv, warning] of cases) {
      const io = fakeIo();
      const server = fakeServer();
      const code = runServe(argv, io, server.start);
      await stderrMatches(io, /listening on/);
      io.raise("SIGTERM");
      assert.equal(await code, 0);
      assert.equal(io.err.split("\n")[0], `dflock: ${warning}`, argv.join(" "));
    }
  });

  test("DFLOCKD_PORT=7003x is ignored, as Go's Atoi fails, and said so", async () => {
    const io = fakeIo({
      DFLOCKD_PORT: "7003x",
      DFLOCKD_MAX_LOCKS: "99999999999999999999",
      DFLOCKD_DEBUG: "maybe",
      DFLOCKD_MAX_WAITERS: "4",
    });
    const server = fakeServer();
    const code = runServe([], io, server.start);
    await stderrMatches(io, /listening on/);
    io.raise("SIGTERM");
    assert.equal(await code, 0);
    assert.equal(server.calls[0]?.port, 6388);
    assert.equal(server.calls[0]?.maxLocks, 1024);
    assert.equal(server.calls[0]?.debug, false);
    assert.equal(server.calls[0]?.maxWaiters, 4);
    const lines = io.err.split("\n");
    assert.deepEqual(lines.slice(0, 3), [
      'dflock: ignoring DFLOCKD_PORT="7003x": not an integer',
      'dflock: ignoring DFLOCKD_MAX_LOCKS="99999999999999999999": integer out of range',
      'dflock: ignoring DFLOCKD_DEBUG="maybe": not a boolean (use 1, yes, true, 0, no or false, in any letter case)',
    ]);
  });

  test("a variable the flag overrides is not consulted, so not reported", async () => {
    const io = fakeIo({ DFLOCKD_PORT: "7003x" });
    const server = fakeServer();
    const code = runServe(["--port", "7000"], io, server.start);
    await stderrMatches(io, /listening on/);
    io.raise("SIGTERM");
    assert.equal(await code, 0);
    assert.equal(server.calls[0]?.port, 7000);
    assert.equal(io.err.includes("ignoring"), false);
  });
});

describe("serve: usage errors", () => {
  test("a bad flag: the Go error and one line pointing to help, exit 1", async () => {
    const cases: [string[], string][] = [
      [["--nope"], "flag provided but not defined: -nope"],
      [["--port", "abc"], 'invalid value "abc" for flag -port: parse error'],
      [["--debug=yes"], 'invalid boolean value "yes" for -debug: parse error'],
      [["--max-locks"], "flag needs an argument: -max-locks"],
      [
        ["--no-auto-release-on-disconnect"],
        "flag provided but not defined: -no-auto-release-on-disconnect",
      ],
    ];
    for (const [argv, message] of cases) {
      const io = fakeIo();
      const server = fakeServer();
      assert.equal(await runServe(argv, io, server.start), 1, argv.join(" "));
      assert.equal(
        io.err,
        `dflock serve: ${message}\nRun "dflock serve --help" for usage.\n`,
        argv.join(" "),
      );
      assert.equal(io.out, "");
      assert.equal(server.calls.length, 0);
    }
  });

  test("the help pointer names the program as started, or the package script", async () => {
    const io = fakeIo({}, {}, { program: "deno run -A src/cli/main.ts" });
    assert.equal(await runServe(["--nope"], io, fakeServer().start), 1);
    assert.equal(
      io.err,
      'dflock serve: flag provided but not defined: -nope\nRun "deno run -A src/cli/main.ts serve --help" for usage.\n',
    );
    const npm = fakeIo({}, {}, { commands: { serve: "npm run serve --" } });
    assert.equal(await runServe(["--max-locks=0"], npm, fakeServer().start), 1);
    assert.equal(
      npm.err,
      'dflock serve: configuration error: --max-locks must be > 0 (got 0)\nRun "npm run serve -- --help" for usage.\n',
    );
  });

  test("a value out of range: the Go wording in one line, exit 1", async () => {
    const io = fakeIo();
    const server = fakeServer();
    assert.equal(await runServe(["--max-locks", "0"], io, server.start), 1);
    assert.equal(
      io.err,
      'dflock serve: configuration error: --max-locks must be > 0 (got 0)\nRun "dflock serve --help" for usage.\n',
    );
    assert.equal(server.calls.length, 0);
  });

  test("a value from the environment names its variable", async () => {
    const io = fakeIo({ DFLOCKD_GC_MAX_UNUSED_TIME: "0" });
    const server = fakeServer();
    assert.equal(await runServe([], io, server.start), 1);
    assert.equal(
      io.err.split("\n")[0],
      "dflock serve: configuration error: --gc-max-idle must be > 0 (got 0), set by DFLOCKD_GC_MAX_UNUSED_TIME",
    );
    assert.equal(server.calls.length, 0);
  });
});

describe("serve: stopping with clients connected", () => {
  test("drain messages: plural, no connections, no time limit", () => {
    const now = new Date(2024, 0, 1, 12, 0, 0);
    assert.equal(
      drainMessage("SIGINT", 3, 30, now),
      "SIGINT received: draining 3 connections, closing them at 12:00:30 (--shutdown-timeout 30 s); send SIGINT again to close them now",
    );
    assert.equal(
      drainMessage("SIGTERM", 1, 0, now),
      "SIGTERM received: draining 1 connection, waiting for it without a time limit (--shutdown-timeout 0); send SIGTERM again to close it now",
    );
    assert.equal(
      drainMessage("SIGINT", 0, 30, now),
      "SIGINT received: no connections open, stopping",
    );
    assert.match(drainMessage("SIGINT", 2, 3600, now), /closing them at 13:00:00 /);
  });

  test("real server: the first signal names the connection, the second closes it now", async () => {
    const io = fakeIo();
    const code = runServe(["--port", "0", "--shutdown-timeout", "30"], io, serve);
    let client: ProtocolClient | undefined;
    try {
      await stderrMatches(io, LISTENING);
      const port = Number(LISTENING.exec(io.err)?.[1]);
      client = await ProtocolClient.connect(port);
      assert.equal(await client.request("ping", "_", "_"), "ok", "the connection is served");
      assert.match(
        await client.request("l", "held", "0"),
        /^ok [0-9a-f]{32} \d+$/,
        "it holds a lock",
      );
      const t0 = performance.now();
      assert.equal(io.raise("SIGINT"), 1);
      assert.match(
        io.err,
        /\ndflock: SIGINT received: draining 1 connection, closing it at \d\d:\d\d:\d\d \(--shutdown-timeout 30 s\); send SIGINT again to close it now\n/,
      );
      assert.equal(await client.request("ping", "_", "_"), "ok", "still served while draining");
      assert.equal(io.raise("SIGINT"), 1);
      assert.equal(await code, 0);
      const ms = performance.now() - t0;
      assert.ok(ms < 5_000, `returned ${ms.toFixed(0)} ms after the first signal`);
      assert.ok(await client.closedByServer(), "the client saw its connection close");
      assert.match(io.err, /\ndflock: SIGINT received again: closing 1 connection now\n/);
      assert.match(io.err, /dflock: stopped\n$/);
      assert.equal(io.handlerCount(), 0);
    } finally {
      client?.close();
      if (io.handlerCount() > 0) {
        io.raise("SIGINT");
        io.raise("SIGINT");
      }
      await code;
    }
  });

  test("Server.close({ force: true }) ends a graceful close that would wait forever", async () => {
    const server = await startTestServer({ shutdownTimeout: 0 });
    const client = await ProtocolClient.connect(server.addr.port);
    try {
      assert.equal(await client.request("ping", "_", "_"), "ok");
      let done = false;
      const graceful = server.close().then(() => done = true);
      assert.ok(await client.silent(100), "nothing is sent while draining");
      assert.equal(done, false, "the graceful close waits for the client");
      assert.equal(server.stats().connections, 1);
      await server.close({ force: true });
      await graceful;
      assert.ok(await client.closedByServer());
      assert.equal(server.stats().connections, 0);
    } finally {
      client.close();
      await server.close({ force: true });
    }
  });

  test("Server.close({ force: true }) without a graceful close first", async () => {
    const server = await startTestServer({ shutdownTimeout: 30 });
    const client = await ProtocolClient.connect(server.addr.port);
    try {
      assert.match(await client.request("l", "k", "0"), /^ok /);
      const t0 = performance.now();
      await server.close({ force: true });
      assert.ok(performance.now() - t0 < 5_000, "no wait for the 30 s shutdown timeout");
      assert.ok(await client.closedByServer());
      await assert.rejects(ProtocolClient.connect(server.addr.port), "no longer listening");
    } finally {
      client.close();
    }
  });
});
