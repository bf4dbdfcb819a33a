import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  connect,
  Connection,
  ConnectionError,
  DflockClient,
  DistributedLock,
  isRetryable,
  RequestTimeoutError,
} from "../../mod.ts";
import { getAdapter } from "../../src/transport/auto.ts";
import { readFixture, rejection, withServer } from "./_lease_helpers.ts";
import { startScriptedPeer } from "./_scripted_peer.ts";
import { startPeer } from "../_helpers/peer.ts";

const CERT = readFixture("transport/fixtures/cert.pem");
const KEY = readFixture("transport/fixtures/key.pem");
/** Trusts the fixture certificate (CN and SAN localhost, SAN 127.0.0.1). */
const TRUSTED = { caCerts: [CERT], serverName: "localhost" };

const USE_TLS = "connect with tls: true (--tls on the command line)";
const DROP_TLS = "connect without tls (drop --tls)";

/** A TLS alert record (fatal, protocol_version): what a TLS server may send to plain text. */
const TLS_ALERT = new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]);

/**
 * A plain client met a TLS server. Either the server's bytes gave it away (a definite,
 * non-retryable `tls_mismatch`; our server on Deno and Bun answers plain text with a TLS alert)
 * or it only closed the connection (a hint; our server on Node and Go's crypto/tls do that).
 */
function assertPlainMetTls(err: unknown, address: string): void {
  assert.ok(err instanceof ConnectionError, `a ConnectionError: ${err}`);
  assert.ok(!(err instanceof RequestTimeoutError), `not a timeout: ${err.message}`);
  assert.ok(err.message.includes(address), err.message);
  assert.ok(err.message.endsWith(USE_TLS), err.message);
  if (err.code === "tls_mismatch") {
    assert.match(err.message, /: the server speaks TLS: /);
    assert.equal(isRetryable(err), false);
  } else {
    assert.equal(err.code, "connection");
    assert.match(err.message, /closed by the server before any reply; if the server speaks TLS, /);
  }
}

/** A TLS client met a plain server that answered: definite and not retryable. */
function assertTlsMetPlain(err: unknown, address: string): void {
  assert.ok(err instanceof ConnectionError, `a ConnectionError: ${err}`);
  assert.equal(err.code, "tls_mismatch", err.message);
  assert.equal(
    err.message,
    `Cannot connect to ${address}: the server does not speak TLS: ${DROP_TLS}`,
  );
  assert.ok(err.cause !== undefined, "the platform's TLS error is the cause");
  assert.equal(isRetryable(err), false);
}

describe("a plain client and a TLS server", () => {
  test("connect() and a request, connect() with authToken: the answer says to use TLS", async () => {
    await withServer({ tls: { cert: CERT, key: KEY } }, async (_server, address) => {
      const port = Number(address.split(":")[1]);
      const conn = await connect({ port });
      try {
        assertPlainMetTls(await rejection(conn.request("l", "k", "0")), address);
      } finally {
        await conn.close();
      }
      // With a token the auth request is the first one: connect() itself fails.
      assertPlainMetTls(await rejection(connect({ port, authToken: "s3cret" })), address);
    });
  });

  test("DistributedLock and DflockClient: acquire fails at once with the same message", async () => {
    await withServer({ tls: { cert: CERT, key: KEY } }, async (_server, address) => {
      const lock = new DistributedLock({ key: "k", servers: [address], acquireTimeoutS: 30 });
      try {
        assertPlainMetTls(await rejection(lock.acquire()), address);
      } finally {
        await lock.close();
      }
      const client = new DflockClient({ servers: [address] });
      try {
        assertPlainMetTls(
          await rejection(client.acquireLock("k", { acquireTimeoutS: 30 })),
          address,
        );
      } finally {
        await client.close();
      }
    });
  });

  test("TLS bytes from the server: a tls_mismatch ConnectionError, not retryable", async () => {
    await using peer = await startScriptedPeer([TLS_ALERT]);
    const conn = await connect({ port: peer.port });
    const err = await rejection(conn.request("l", "k", "0"));
    assert.ok(err instanceof ConnectionError);
    assert.equal(err.code, "tls_mismatch");
    assert.equal(err.message, `Cannot talk to ${peer.address}: the server speaks TLS: ${USE_TLS}`);
    assert.equal(isRetryable(err), false);
    assert.equal(conn.isClosed, true);

    // A DistributedLock gets the same error and does not try again.
    const lock = new DistributedLock({ key: "k", servers: [peer.address] });
    try {
      const lockErr = await rejection(lock.acquire());
      assert.ok(lockErr instanceof ConnectionError && lockErr.code === "tls_mismatch");
    } finally {
      await lock.close();
    }
    assert.equal(peer.connections, 2, "one connection each, no retry");
  });

  test("a close before any reply: a hint (retryable); after a reply or over TLS: none", async () => {
    await using silent = await startScriptedPeer([{ destroy: true }]);
    const conn = await connect({ port: silent.port });
    const err = await rejection(conn.request("l", "k", "0"));
    assert.ok(err instanceof ConnectionError);
    assert.equal(err.code, "connection");
    assert.match(err.message, /before any reply; if the server speaks TLS, connect with tls: true/);
    assert.equal(isRetryable(err), true, "a server at its connection limit does the same");

    // A reset instead of a close (unread bytes, or a server that aborts): the same hint.
    await using resetter = await startPeer((sock) => sock.resetAndDestroy());
    const conn1 = await connect({ port: resetter.port });
    const reset = await rejection(conn1.request("l", "k", "0"));
    assert.ok(reset instanceof ConnectionError);
    assert.match(
      reset.message,
      /before any reply; if the server speaks TLS, connect with tls: true/,
    );

    // The server answered once: a later close is no TLS problem.
    await using answered = await startScriptedPeer(["ok\n", { destroy: true }]);
    const conn2 = await connect({ port: answered.port });
    assert.equal(await conn2.request("ping", "_", "_"), "ok");
    const err2 = await rejection(conn2.request("l", "k", "0"));
    assert.ok(err2 instanceof ConnectionError);
    assert.doesNotMatch(err2.message, /TLS/);

    // A Connection not known to be plain (made from a transport) gives no hint.
    const adapter = await getAdapter();
    const transport = await adapter.connect({ hostname: "127.0.0.1", port: silent.port });
    const conn3 = new Connection(transport, silent.address);
    const err3 = await rejection(conn3.request("l", "k", "0"));
    assert.ok(err3 instanceof ConnectionError);
    assert.doesNotMatch(err3.message, /TLS/);
  });
});

describe("a TLS client and a plain server", () => {
  test("connect() and the transport: the server does not speak TLS", async () => {
    // The default read timeout (23 s): the server answers a ClientHello at once instead of
    // waiting for a line, so a short ClientHello (Deno's) fails well within the 5 s connect limit.
    await withServer({}, async (_server, address) => {
      const port = Number(address.split(":")[1]);
      assertTlsMetPlain(
        await rejection(connect({ port, tls: TRUSTED, connectTimeoutMs: 5_000 })),
        address,
      );
      assertTlsMetPlain(
        await rejection(connect({ port, tls: TRUSTED, authToken: "t", connectTimeoutMs: 5_000 })),
        address,
      );
      const adapter = await getAdapter();
      assertTlsMetPlain(
        await rejection(
          adapter.connect({ hostname: "127.0.0.1", port, tls: TRUSTED, timeoutMs: 5_000 }),
        ),
        address,
      );
    });
  });

  test("DistributedLock and DflockClient: acquire fails with the same error", async () => {
    await withServer({}, async (_server, address) => {
      const lock = new DistributedLock({ key: "k", servers: [address], tls: TRUSTED });
      try {
        assertTlsMetPlain(await rejection(lock.acquire()), address);
      } finally {
        await lock.close();
      }
      const client = new DflockClient({ servers: [address], tls: TRUSTED });
      try {
        assertTlsMetPlain(await rejection(client.acquireLock("k")), address);
      } finally {
        await client.close();
      }
    });
  });

  test("a handshake that never finishes times out with a hint", async () => {
    // Accepts and never answers: a plain server waiting for a complete request.
    await using silent = await startScriptedPeer([]);
    const t0 = performance.now();
    const err = await rejection(
      connect({ port: silent.port, tls: TRUSTED, connectTimeoutMs: 300 }),
    );
    assert.ok(err instanceof ConnectionError);
    assert.equal(err.code, "connection");
    assert.equal(
      err.message,
      `Cannot connect to ${silent.address}: timed out after 300 ms in the TLS handshake; ` +
        `if the server does not speak TLS, ${DROP_TLS}`,
    );
    assert.ok(performance.now() - t0 < 3_000);
    // The same through the authToken path (the adapter applies connectTimeoutMs there too).
    const err2 = await rejection(
      connect({ port: silent.port, tls: TRUSTED, authToken: "t", connectTimeoutMs: 300 }),
    );
    assert.ok(err2 instanceof ConnectionError);
    assert.match(err2.message, /in the TLS handshake; if the server does not speak TLS, /);
  });

  test("a server that closes during the handshake: a hint", async () => {
    await using closer = await startPeer(() => {}, (sock) => sock.destroy());
    const err = await rejection(
      connect({ port: closer.port, tls: TRUSTED, connectTimeoutMs: 5_000 }),
    );
    assert.ok(err instanceof ConnectionError);
    assert.ok(
      err.message.endsWith(`if the server does not speak TLS, ${DROP_TLS}`),
      err.message,
    );
  });
});

describe("a rejected server certificate", () => {
  test("untrusted or for another name: tls_certificate, not retryable, says what to set", async () => {
    await withServer({ tls: { cert: CERT, key: KEY } }, async (_server, address) => {
      const port = Number(address.split(":")[1]);
      // The system trust store does not know the fixture's self-signed certificate.
      const untrusted = await rejection(connect({ port, tls: true }));
      assert.ok(untrusted instanceof ConnectionError, String(untrusted));
      assert.equal(untrusted.code, "tls_certificate", untrusted.message);
      assert.match(
        untrusted.message,
        /the server's TLS certificate was not accepted \(.+\): trust the CA that signed it with tls\.caCerts \(--tls-ca on the command line\)$/,
      );
      assert.equal(isRetryable(untrusted), false);

      const wrongName = await rejection(
        connect({ port, tls: { caCerts: [CERT], serverName: "wrong.example" } }),
      );
      assert.ok(wrongName instanceof ConnectionError, String(wrongName));
      assert.equal(wrongName.code, "tls_certificate", wrongName.message);
      assert.match(wrongName.message, /set tls\.serverName to a name the certificate lists/);
      assert.equal(isRetryable(wrongName), false);

      // A lock is not retried either: the same error comes back.
      const lock = new DistributedLock({ key: "k", servers: [address], tls: true });
      try {
        const err = await rejection(lock.acquire());
        assert.ok(err instanceof ConnectionError && err.code === "tls_certificate");
      } finally {
        await lock.close();
      }

      // Control: the right CA and name connect.
      await using ok = await connect({ port, tls: TRUSTED });
      assert.match(await ok.request("l", "k", "0"), /^ok /);
    });
  });
});
