import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startTestServer } from "../_helpers/server.ts";
import { connect } from "../../src/client/connection.ts";
import { detectRuntime } from "../../src/transport/auto.ts";
import { acquire, ping } from "../../src/client/low_level.ts";
import { AuthError, ConnectionError, ProtocolError } from "../../src/errors.ts";
import { closedPort, startScriptedPeer } from "./_scripted_peer.ts";

function fixture(path: string): string {
  return readFileSync(fileURLToPath(new URL(path, import.meta.url)), "utf8");
}
/** The conformance fixture: self-signed with CA:TRUE (rustls, i.e. Deno, refuses it as a leaf). */
const CONF_CERT = fixture("../conformance/fixtures/cert.pem");
const CONF_KEY = fixture("../conformance/fixtures/key.pem");
/** The transport fixture: self-signed leaf (CA:FALSE), accepted by every runtime. */
const LEAF_CERT = fixture("../transport/fixtures/cert.pem");
const LEAF_KEY = fixture("../transport/fixtures/key.pem");

/** Polls `cond` every few ms, failing after `ms`. */
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("connect and request", () => {
  test("request returns the reply line; requests pipeline FIFO", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using conn = await connect({ port: server.addr.port });
    assert.equal(conn.address, `127.0.0.1:${server.addr.port}`);
    assert.equal(conn.isClosed, false);
    const replies = await Promise.all([
      conn.request("l", "a", "0 7"),
      conn.request("l", "b", "0 8"),
      conn.request("sl", "c", "0 3 9"),
      conn.request("l", "a", "0"),
      conn.request("ping", "_", "_"),
    ]);
    assert.match(replies[0]!, /^ok [0-9a-f]{32} 7$/);
    assert.match(replies[1]!, /^ok [0-9a-f]{32} 8$/);
    assert.match(replies[2]!, /^ok [0-9a-f]{32} 9$/);
    assert.equal(replies[3], "timeout");
    assert.equal(replies[4], "ok");
    assert.equal(conn.pendingCount, 0);
  });

  test("non-ASCII keys round-trip as UTF-8 in stats", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using conn = await connect({ port: server.addr.port });
    assert.match(await conn.request("l", "ключ", "0"), /^ok /);
    const line = await conn.request("stats", "_", "");
    assert.ok(line.includes('"key":"ключ"'), line);
  });

  test("idleMs grows while idle and resets on a request", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using conn = await connect({ port: server.addr.port });
    await new Promise((r) => setTimeout(r, 30));
    assert.ok(conn.idleMs >= 25, `idleMs ${conn.idleMs}`);
    await conn.request("ping", "_", "_");
    assert.ok(conn.idleMs < 25, `idleMs ${conn.idleMs}`);
  });

  test("close is idempotent, resolves closed, and later requests reject", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    const conn = await connect({ port: server.addr.port });
    const pending = conn.request("l", "k", "0");
    const pendingResult = pending.then(() => "resolved", (e) => e);
    await conn.close();
    await conn.close();
    await conn.closed;
    assert.equal(conn.isClosed, true);
    const r = await pendingResult;
    assert.ok(r === "resolved" || r instanceof ConnectionError);
    await assert.rejects(conn.request("ping", "_", "_"), ConnectionError);
    await until(() => server.stats().connections === 0);
  });

  test("destroy closes without awaiting", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    const conn = await connect({ port: server.addr.port });
    conn.destroy();
    assert.equal(conn.isClosed, true);
    await conn.closed;
  });

  test("await using closes the connection at scope exit", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    let saved: Awaited<ReturnType<typeof connect>> | undefined;
    {
      await using conn = await connect({ port: server.addr.port });
      saved = conn;
      assert.equal(await ping(conn), true);
    }
    assert.equal(saved.isClosed, true);
    await saved.closed;
  });

  test("a line feed inside a request line is a TypeError", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using conn = await connect({ port: server.addr.port });
    await assert.rejects(conn.request("l", "a\nb", "0"), TypeError);
    assert.equal(conn.isClosed, false);
  });

  test("connection refused -> ConnectionError", async () => {
    const port = await closedPort();
    await assert.rejects(connect({ port }), ConnectionError);
  });

  test("bad options throw TypeError / RangeError", async () => {
    await assert.rejects(connect({ port: 0 }), RangeError);
    await assert.rejects(connect({ port: 70000 }), RangeError);
    await assert.rejects(connect({ host: "" }), TypeError);
    await assert.rejects(connect({ connectTimeoutMs: 0 }), RangeError);
    await assert.rejects(connect({ authToken: "a\nb" }), TypeError);
  });

  test("an aborted signal rejects connect with its reason", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    const reason = new Error("stop");
    await assert.rejects(
      connect({ port: server.addr.port, signal: AbortSignal.abort(reason) }),
      (e) => e === reason,
    );
  });

  test("TLS with the conformance fixture certificate", {
    skip: detectRuntime() === "deno" ? "rustls refuses a CA:TRUE certificate as a leaf" : false,
  }, async () => {
    await using server = await startTestServer({
      shutdownTimeout: 2,
      tls: { cert: CONF_CERT, key: CONF_KEY },
    });
    await using conn = await connect({ port: server.addr.port, tls: { caCerts: [CONF_CERT] } });
    assert.equal(await ping(conn), true);
    assert.match(await conn.request("l", "tls-key", "0"), /^ok [0-9a-f]{32} 33$/);
  });

  test("TLS with a leaf certificate, and auth over TLS", async () => {
    await using server = await startTestServer({
      shutdownTimeout: 2,
      tls: { cert: LEAF_CERT, key: LEAF_KEY },
      authToken: "t",
    });
    await using conn = await connect({
      port: server.addr.port,
      tls: { caCerts: [LEAF_CERT] },
      authToken: "t",
    });
    assert.equal(await ping(conn), true);
    assert.match(await conn.request("l", "tls-key", "0"), /^ok [0-9a-f]{32} 33$/);
  });

  test("TLS with an untrusted certificate -> ConnectionError", async () => {
    await using server = await startTestServer({
      shutdownTimeout: 2,
      tls: { cert: LEAF_CERT, key: LEAF_KEY },
    });
    await assert.rejects(connect({ port: server.addr.port, tls: true }), ConnectionError);
  });
});

describe("auth", () => {
  test("right token authenticates", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2, authToken: "s3cret" });
    await using conn = await connect({ port: server.addr.port, authToken: "s3cret" });
    assert.match(await conn.request("l", "k", "0"), /^ok /);
  });

  test("wrong token -> AuthError", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2, authToken: "s3cret" });
    await assert.rejects(connect({ port: server.addr.port, authToken: "nope" }), AuthError);
    await until(() => server.stats().connections === 0);
  });

  test("auth against a server without auth (`error`) -> AuthError", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await assert.rejects(connect({ port: server.addr.port, authToken: "x" }), AuthError);
    await until(() => server.stats().connections === 0);
  });

  test("without auth, a server that requires it answers error_auth", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2, authToken: "s3cret" });
    await using conn = await connect({ port: server.addr.port });
    assert.equal(await conn.request("l", "k", "0"), "error_auth");
    await conn.closed; // the server hangs up after error_auth
    await assert.rejects(conn.request("ping", "_", "_"), ConnectionError);
  });

  test("connectTimeoutMs bounds the auth round trip", async () => {
    await using peer = await startScriptedPeer([null]);
    const t0 = performance.now();
    await assert.rejects(
      connect({ port: peer.port, authToken: "t", connectTimeoutMs: 150 }),
      (e) => e instanceof ConnectionError && /timed out/.test(e.message),
    );
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 100 && elapsed < 2000, `elapsed ${elapsed}`);
    assert.deepEqual(peer.requests, [{ command: "auth", key: "_", arg: "t" }]);
  });

  test("EOF after error_auth -> AuthError", async () => {
    await using peer = await startScriptedPeer([{ end: "error_auth\n" }]);
    await assert.rejects(connect({ port: peer.port, authToken: "t" }), AuthError);
  });
});

describe("abort", () => {
  test("abort of a blocked acquire closes the connection within 100 ms; waiter is gone", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using holder = await connect({ port: server.addr.port });
    await acquire(holder, "blocked", 0);
    const conn = await connect({ port: server.addr.port });
    try {
      const ac = new AbortController();
      const call = acquire(conn, "blocked", 30, { signal: ac.signal });
      const outcome = call.then(() => "resolved", (e) => e);
      await until(() => server.stats().locks.some((l) => l.key === "blocked" && l.waiters === 1));
      const reason = new Error("give up");
      const t0 = performance.now();
      ac.abort(reason);
      const got = await outcome;
      const elapsed = performance.now() - t0;
      assert.equal(got, reason);
      assert.ok(elapsed < 100, `rejected after ${elapsed} ms`);
      assert.equal(conn.isClosed, true);
      await conn.closed;
      await until(() =>
        server.stats().locks.some((l) => l.key === "blocked" && l.waiters === 0) &&
        server.stats().connections === 1
      );
      // the holder's connection is unaffected
      assert.equal(await ping(holder), true);
    } finally {
      await conn.close();
    }
  });

  test("abort before the request is written rejects and keeps the connection", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using conn = await connect({ port: server.addr.port });
    const reason = new Error("early");
    await assert.rejects(
      conn.request("l", "k", "0", { signal: AbortSignal.abort(reason) }),
      (e) => e === reason,
    );
    assert.equal(conn.isClosed, false);
    assert.equal(await ping(conn), true);
    assert.equal(server.stats().locks.length, 0);
  });

  test("abort with AbortSignal.timeout rejects with a TimeoutError DOMException", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using holder = await connect({ port: server.addr.port });
    await acquire(holder, "t", 0);
    await using conn = await connect({ port: server.addr.port });
    await assert.rejects(
      acquire(conn, "t", 30, { signal: AbortSignal.timeout(50) }),
      (e) => e instanceof Error && e.name === "TimeoutError",
    );
    assert.equal(conn.isClosed, true);
  });

  test("other pipelined requests reject with ConnectionError when one is aborted", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using holder = await connect({ port: server.addr.port });
    await acquire(holder, "p", 0);
    await using conn = await connect({ port: server.addr.port });
    const ac = new AbortController();
    const first = conn.request("l", "p", "30", { signal: ac.signal });
    const second = conn.request("ping", "_", "_");
    ac.abort(new Error("x"));
    await assert.rejects(first, /x/);
    await assert.rejects(second, ConnectionError);
  });
});

describe("failures provoked by a scripted peer", () => {
  test("reply line over 1 MiB -> ProtocolError and close", async () => {
    const big = new Uint8Array(1048576 + 10).fill(0x61);
    await using peer = await startScriptedPeer([big]);
    const conn = await connect({ port: peer.port });
    try {
      await assert.rejects(conn.request("stats", "_", ""), ProtocolError);
      await conn.closed;
      assert.equal(conn.isClosed, true);
    } finally {
      await conn.close();
    }
  });

  test("a reply of exactly 1 MiB is accepted", async () => {
    const line = "ok " + "x".repeat(1048576 - 3) + "\n";
    await using peer = await startScriptedPeer([line]);
    await using conn = await connect({ port: peer.port });
    const got = await conn.request("stats", "_", "");
    assert.equal(got.length, 1048576);
  });

  test("pipelined requests behind an over-long reply reject with ConnectionError", async () => {
    const big = "a".repeat(1048577) + "\n";
    await using peer = await startScriptedPeer([big, "ok\n"]);
    await using conn = await connect({ port: peer.port });
    const a = conn.request("stats", "_", "");
    const b = conn.request("ping", "_", "_");
    await assert.rejects(a, ProtocolError);
    await assert.rejects(b, ConnectionError);
  });

  test("peer closes mid-line -> ConnectionError, closed resolves", async () => {
    await using peer = await startScriptedPeer([{ end: "ok 1234" }]);
    const conn = await connect({ port: peer.port });
    try {
      await assert.rejects(conn.request("ping", "_", "_"), ConnectionError);
      await conn.closed;
      assert.equal(conn.isClosed, true);
    } finally {
      await conn.close();
    }
  });

  test("peer reset while waiting -> ConnectionError", async () => {
    await using peer = await startScriptedPeer([{ destroy: true }]);
    await using conn = await connect({ port: peer.port });
    await assert.rejects(conn.request("l", "k", "10"), ConnectionError);
    await conn.closed;
  });

  test("an unsolicited reply -> ProtocolError close", async () => {
    await using peer = await startScriptedPeer([], { greeting: "ok\n" });
    const conn = await connect({ port: peer.port });
    try {
      await conn.closed;
      assert.equal(conn.isClosed, true);
      await assert.rejects(
        conn.request("ping", "_", "_"),
        (e) => e instanceof ConnectionError && e.cause instanceof ProtocolError,
      );
    } finally {
      await conn.close();
    }
  });

  test("CRLF reply endings are accepted", async () => {
    await using peer = await startScriptedPeer([
      (req) => (req.command === "ping" ? "ok\r\n" : null),
      "ok 0123456789abcdef0123456789abcdef 5\n",
    ]);
    await using conn = await connect({ port: peer.port });
    assert.equal(await conn.request("ping", "_", "_"), "ok");
    assert.equal(
      await conn.request("l", "k", "0"),
      "ok 0123456789abcdef0123456789abcdef 5",
    );
  });
});
