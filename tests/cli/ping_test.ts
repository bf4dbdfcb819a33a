import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startTestServer } from "../_helpers/server.ts";
import { main } from "../../src/cli/main.ts";
import { PING_COMMAND } from "../../src/cli/ping.ts";
import { startPeer } from "../_helpers/peer.ts";
import { closedPort, startDflock } from "./_client_process.ts";
import { fakeIo } from "./_fake_io.ts";

const OK_LINE = /^127\.0\.0\.1:\d+: ok, \d+\.\d ms\n$/;

describe("dflock ping", () => {
  test("a server that answers: its round trip on stdout, exit 0", async () => {
    const server = await startTestServer();
    try {
      const address = `127.0.0.1:${server.addr.port}`;
      const run = startDflock(["ping", "--server", address]);
      assert.equal((await run.finish()).code, 0, run.stderr());
      assert.match(run.stdout(), OK_LINE);
      assert.ok(run.stdout().startsWith(`${address}: ok, `));
      assert.equal(run.stderr(), "");
    } finally {
      await server.close();
    }
  });

  test("nothing listening: the error on stderr, exit 1", async () => {
    const port = await closedPort();
    const run = startDflock(["ping", "--server", `127.0.0.1:${port}`]);
    assert.equal((await run.finish()).code, 1);
    assert.equal(run.stdout(), "");
    assert.equal(
      run.stderr(),
      `dflock ping: cannot connect to 127.0.0.1:${port}: connection refused\n`,
    );
  });

  test("several servers: a line each, in flag order; exit 1 if any does not answer", async () => {
    const server = await startTestServer();
    try {
      const port = await closedPort();
      const up = `127.0.0.1:${server.addr.port}`;
      const io = fakeIo();
      const code = await main(
        ["ping", "--server", up, "--server", `127.0.0.1:${port}`, "--server", up],
        { io },
      );
      assert.equal(code, 1);
      const lines = io.out.split("\n");
      assert.equal(lines.length, 3, io.out);
      for (const line of lines.slice(0, 2)) assert.match(`${line}\n`, OK_LINE);
      assert.match(io.err, new RegExp(`^dflock ping: [^\\n]*127\\.0\\.0\\.1:${port}[^\\n]*\\n$`));
      assert.equal(await main(["ping", "--server", up], { io: fakeIo() }), 0);
    } finally {
      await server.close();
    }
  });

  test("auth: the token from --auth-token or $DFLOCKD_AUTH_TOKEN; none or a wrong one fails", async () => {
    const server = await startTestServer({ authToken: "s3cret" });
    try {
      const address = `127.0.0.1:${server.addr.port}`;
      const withFlag = fakeIo();
      assert.equal(
        await main(["ping", "--auth-token", "s3cret", "--server", address], { io: withFlag }),
        0,
      );
      assert.match(withFlag.out, OK_LINE);
      const withEnv = fakeIo({ DFLOCKD_AUTH_TOKEN: "s3cret" });
      assert.equal(await main(["ping", "--server", address], { io: withEnv }), 0, withEnv.err);
      const none = fakeIo();
      assert.equal(await main(["ping", "--server", address], { io: none }), 1);
      assert.match(none.err, /^dflock ping: [^\n]*auth[^\n]*\n$/);
      const wrong = fakeIo({ DFLOCKD_AUTH_TOKEN: "nope" });
      assert.equal(await main(["ping", "--server", address], { io: wrong }), 1);
      assert.match(wrong.err, /^dflock ping: cannot authenticate[^\n]*\n$/);
    } finally {
      await server.close();
    }
  });

  test("a dflockd without ping (v1.10 answers error): alive, exit 0, and the line says so", async () => {
    await using peer = await startPeer((sock, req) => {
      sock.write(req.command === "ping" ? "error\n" : "ok\n");
    });
    const io = fakeIo();
    assert.equal(await main(["ping", "--server", peer.address], { io }), 0, io.err);
    assert.match(
      io.out,
      /^127\.0\.0\.1:\d+: ok, \d+\.\d ms \(answered error: a dflockd without ping/,
    );
    assert.deepEqual(peer.requests.map((r) => [r.command, r.key, r.arg]), [["ping", "_", "_"]]);
  });

  test("a server that never answers: exit 1 after --timeout", async () => {
    await using peer = await startPeer(() => {});
    const io = fakeIo();
    const start = performance.now();
    assert.equal(await main(["ping", "--timeout", "0.3", "--server", peer.address], { io }), 1);
    const ms = performance.now() - start;
    assert.ok(ms >= 250 && ms < 5000, `${ms} ms`);
    assert.equal(io.err, `dflock ping: ${peer.address}: no answer within 0.3 s\n`);
    assert.equal(io.out, "");
  });

  test("a draining server is not healthy: exit 1", async () => {
    await using peer = await startPeer((sock) => {
      sock.write("error_draining\n");
    });
    const io = fakeIo();
    assert.equal(await main(["ping", "--server", peer.address], { io }), 1);
    assert.match(io.err, /^dflock ping: [^\n]+\n$/);
    assert.equal(io.out, "");
  });

  test("--help names the request, the variable and the exit statuses", async () => {
    const io = fakeIo();
    assert.equal(await main(["ping", "--help"], { io }), 0);
    assert.match(io.out, /^Usage: dflock ping \[--server host:port \.\.\.\] \[--timeout S\]/);
    assert.match(io.out, /sends the `ping` request/);
    assert.match(io.out, /before v1\.14 has no\n`ping` and answers `error`/);
    assert.match(io.out, /\$DFLOCKD_AUTH_TOKEN/);
    assert.match(io.out, /Exit status: 0 when every server answered; 1 when one did not/);
    assert.ok(PING_COMMAND.flags.some((f) => f.name === "tls-ca"));
  });
});
