/**
 * The low-level examples of the original client docs (shared/seeds), run against the real
 * server. Only the socket creation differs from the seeds.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startTestServer } from "../_helpers/server.ts";
import { connect } from "../../src/client/connection.ts";
import {
  acquire,
  enqueue,
  release,
  renew,
  semAcquire,
  semEnqueue,
  semRelease,
  semRenew,
  semWait,
  wait,
  waitForLock,
} from "../../src/client/low_level.ts";
import { AcquireTimeoutError } from "../../src/errors.ts";

const TOKEN_RE = /^[0-9a-f]{32}$/;

describe("ts-client-dflockd-client seed: low-level functions", () => {
  test("single-phase and two-phase, as in the README", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    const host = "127.0.0.1";
    const port = server.addr.port;

    // --- seed code (only `net.createConnection(...)` became `await connect(...)`) ---
    const sock = await connect({ host, port });

    // Single-phase
    const { token, lease } = await acquire(sock, "my-key", 10);
    const remaining = await renew(sock, "my-key", token, 60);
    await release(sock, "my-key", token);

    // Two-phase
    const result = await enqueue(sock, "another-key"); // { status, token, lease }
    let granted: { token: string; lease: number } | undefined;
    if (result.status === "queued") {
      granted = await waitForLock(sock, "another-key", 10); // { token, lease }
    }

    sock.destroy();
    // --- end of seed code ---

    assert.match(token, TOKEN_RE);
    assert.equal(lease, 33);
    assert.equal(remaining, 60);
    assert.equal(result.status, "acquired");
    assert.match(result.token ?? "", TOKEN_RE);
    assert.equal(result.lease, 33);
    assert.equal(granted, undefined);
    await sock.closed;
  });

  test("the queued branch of the two-phase example", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    const host = "127.0.0.1";
    const port = server.addr.port;
    const other = await connect({ host, port });
    try {
      const held = await acquire(other, "another-key", 0);

      const sock = await connect({ host, port });
      const result = await enqueue(sock, "another-key");
      assert.equal(result.status, "queued");
      assert.equal(result.token, undefined);
      const waiting = waitForLock(sock, "another-key", 10);
      await release(other, "another-key", held.token);
      const granted = await waiting;
      assert.match(granted.token, TOKEN_RE);
      assert.equal(granted.lease, 33);
      sock.destroy();
      await sock.closed;
    } finally {
      await other.close();
    }
  });
});

describe("go-client seed: low-level API", () => {
  test("Acquire / Release / Renew, with and without WithLeaseTTL", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    // c, err := client.Dial("127.0.0.1:6388"); defer c.Close()
    await using c = await connect({ host: "127.0.0.1", port: server.addr.port });

    // token, leaseTTL, err := client.Acquire(c, "my-key", 10*time.Second)
    const a = await acquire(c, "my-key", 10);
    assert.equal(a.lease, 33);
    // remaining, err := client.Renew(c, "my-key", token)
    assert.equal(await renew(c, "my-key", a.token), 33);
    // remaining, err := client.Renew(c, "my-key", token, client.WithLeaseTTL(60))
    assert.equal(await renew(c, "my-key", a.token, 60), 60);
    // err := client.Release(c, "my-key", token)
    await release(c, "my-key", a.token);

    // token, leaseTTL, err := client.Acquire(c, "my-key", 10*time.Second, client.WithLeaseTTL(60))
    const b = await acquire(c, "my-key", 10, { leaseTtlS: 60 });
    assert.equal(b.lease, 60);

    // _, _, err := client.Acquire(c, "my-key", 0); errors.Is(err, client.ErrTimeout)
    await using c2 = await connect({ host: "127.0.0.1", port: server.addr.port });
    await assert.rejects(acquire(c2, "my-key", 0), AcquireTimeoutError);
    await release(c, "my-key", b.token);
  });

  test("Enqueue and Wait", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using c = await connect({ host: "127.0.0.1", port: server.addr.port });
    // status, token, leaseTTL, err := client.Enqueue(c, "my-key")
    const r = await enqueue(c, "my-key");
    let token = r.token;
    let leaseTTL = r.lease;
    if (r.status === "queued") {
      ({ token, lease: leaseTTL } = await wait(c, "my-key", 10));
    }
    assert.equal(r.status, "acquired");
    // The Go client sends `w` even after "acquired": it answers at once with the same token.
    const w = await wait(c, "my-key", 10);
    assert.equal(w.token, token);
    assert.equal(w.lease, leaseTTL);
    await release(c, "my-key", w.token);
  });

  test("SemAcquire / SemRelease / SemRenew / SemEnqueue / SemWait", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    await using c = await connect({ host: "127.0.0.1", port: server.addr.port });
    // token, leaseTTL, err := client.SemAcquire(c, "pool", 10*time.Second, 3)
    const s1 = await semAcquire(c, "pool", 10, 3);
    // ... client.SemAcquire(c, "pool", 10*time.Second, 3, client.WithLeaseTTL(60))
    const s2 = await semAcquire(c, "pool", 10, 3, { leaseTtlS: 60 });
    assert.equal(s1.lease, 33);
    assert.equal(s2.lease, 60);
    // remaining, err := client.SemRenew(c, "pool", token)
    assert.equal(await semRenew(c, "pool", s1.token), 33);
    // err := client.SemRelease(c, "pool", token)
    await semRelease(c, "pool", s1.token);

    // status, token, leaseTTL, err := client.SemEnqueue(c, "pool", 3)
    await using c2 = await connect({ host: "127.0.0.1", port: server.addr.port });
    const r = await semEnqueue(c2, "pool", 3);
    assert.equal(r.status, "acquired");
    const third = await semAcquire(c, "pool", 0, 3);
    await using c3 = await connect({ host: "127.0.0.1", port: server.addr.port });
    const q = await semEnqueue(c3, "pool", 3);
    assert.equal(q.status, "queued");
    // if status == "queued" { token, leaseTTL, err = client.SemWait(c, "pool", 10*time.Second) }
    const waiting = semWait(c3, "pool", 10);
    await semRelease(c, "pool", third.token);
    const g = await waiting;
    assert.match(g.token, TOKEN_RE);
    await semRelease(c3, "pool", g.token);
    await semRelease(c, "pool", s2.token);
  });
});

describe("python sync seed: low-level functions", () => {
  test("acquire / renew / release", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    // sock = socket.create_connection(("127.0.0.1", 6388)); rfile = sock.makefile(...)
    const sock = await connect({ host: "127.0.0.1", port: server.addr.port });
    try {
      // token, lease = acquire(sock, rfile, "my-key", acquire_timeout_s=10)
      const { token, lease } = await acquire(sock, "my-key", 10);
      // remaining = renew(sock, rfile, "my-key", token)
      const remaining = await renew(sock, "my-key", token);
      // release(sock, rfile, "my-key", token)
      await release(sock, "my-key", token);
      assert.equal(lease, 33);
      assert.equal(remaining, 33);
      assert.equal(server.stats().locks.length, 0);
    } finally {
      // rfile.close(); sock.close()
      await sock.close();
    }
  });

  test("enqueue / wait / release", async () => {
    await using server = await startTestServer({ shutdownTimeout: 2 });
    const sock = await connect({ host: "127.0.0.1", port: server.addr.port });
    try {
      // status, token, lease = enqueue(sock, rfile, "my-key")
      const r = await enqueue(sock, "my-key");
      let token = r.token;
      // if status == "queued": token, lease = wait(sock, rfile, "my-key", wait_timeout_s=10)
      if (r.status === "queued") token = (await wait(sock, "my-key", 10)).token;
      // release(sock, rfile, "my-key", token)
      await release(sock, "my-key", token!);
      assert.equal(r.status, "acquired");
      assert.equal(server.stats().locks.length, 0);
    } finally {
      await sock.close();
    }
  });
});
