import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import * as net from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { resolveServerOptions, type Server } from "../../src/server/mod.ts";
import { startTestServer, withServer as withTestServer } from "../_helpers/server.ts";
import type { ServerOptions } from "../../src/server/options.ts";
import { runChildScript } from "../_helpers/child_script.ts";
import { eventually, ProtocolClient } from "./_protocol_client.ts";
import { wrapAcceptedChannels } from "../_helpers/accept_wrapper.ts";
import { getAdapter } from "../../src/transport/auto.ts";
import type { ByteChannel } from "../../src/transport/types.ts";

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "..", "conformance", "fixtures");
const TOKEN = /^ok ([0-9a-f]{32}) (\d+)$/;

/** The shared test server, plus the line clients the body opened (closed before the server). */
function withServer(
  options: ServerOptions,
  fn: (server: Server, clients: ProtocolClient[]) => Promise<void>,
): Promise<void> {
  return withTestServer(options, async (server) => {
    const clients: ProtocolClient[] = [];
    try {
      await fn(server, clients);
    } finally {
      for (const c of clients) c.close();
    }
  });
}

async function open(server: Server, clients: ProtocolClient[]): Promise<ProtocolClient> {
  const c = await ProtocolClient.connect(server.addr.port);
  clients.push(c);
  return c;
}

/** Requests waiting on any key. */
function waiters(server: Server): number {
  const stats = server.stats();
  return [...stats.locks, ...stats.semaphores].reduce((sum, r) => sum + r.waiters, 0);
}

/**
 * Sends requests (through `write`) and then `tail` on a new connection, half-closes, and reads
 * until the server closes (at most 10 s): the answer lines, their size in bytes, and the socket's
 * error code if the connection was reset.
 */
function exchange(
  port: number,
  tail: string,
  requests: (write: (text: string) => void) => void,
): Promise<{ lines: string[]; bytes: number; error: string | undefined }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let error: string | undefined;
    // Bounded: a server that never closes ends the exchange with an error after 10 s.
    const bound = setTimeout(() => {
      error = "no close within 10 s";
      socket.destroy();
    }, 10_000);
    socket.once("connect", () => {
      let text = "";
      requests((t) => text += t);
      socket.end(Buffer.from(text + tail, "latin1"));
    });
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", (e: NodeJS.ErrnoException) => error = e.code ?? String(e));
    socket.on("close", () => {
      clearTimeout(bound);
      const all = Buffer.concat(chunks).toString("latin1");
      const lines = all.split("\n");
      lines.pop();
      resolve({ lines, bytes: all.length, error });
    });
  });
}

/** A raw connection that keeps its side open after the server's end of stream. */
interface HalfOpenClient {
  readonly socket: net.Socket;
  /** Everything received so far, one char per byte. */
  received(): string;
  /** Resolves at the server's end of stream. */
  readonly ended: Promise<void>;
}

async function halfOpenClient(port: number): Promise<HalfOpenClient> {
  const socket = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  let text = "";
  socket.on("data", (d: Buffer) => text += d.toString("latin1"));
  socket.on("error", () => {});
  const ended = new Promise<void>((resolve) => socket.once("end", resolve));
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  return { socket, received: () => text, ended };
}

function token(line: string): string {
  const m = TOKEN.exec(line);
  assert.ok(m, `expected ok <token> <lease>, got ${JSON.stringify(line)}`);
  return m[1]!;
}

describe("server", () => {
  test("acquire, release, ping, stats, errors keep the connection", async () => {
    await withServer({}, async (server, clients) => {
      const a = await open(server, clients);
      assert.equal(await a.request("ping", "_", "_"), "ok");
      const t = token(await a.request("l", "k", "0 7"));
      assert.match(await a.request("l", "k2", "0"), / 33$/);
      assert.equal(await a.request("bogus", "k", "0"), "error");
      assert.equal(await a.request("r", "k", t), "ok");
      assert.equal(await a.request("r", "k", t), "error");
      assert.match(
        await a.request("stats", "_", ""),
        /^ok \{"connections":1,"locks":\[\{"key":"k2","owner_conn_id":1,"lease_expires_in_s":3\d(\.\d+)?,"waiters":0\}\],"semaphores":\[\],"idle_locks":\[\{"key":"k","idle_s":[0-9.e-]+\}\],"idle_semaphores":\[\]\}$/,
      );
    });
  });

  test("pipelined requests are answered in order", async () => {
    await withServer({}, async (server, clients) => {
      const a = await open(server, clients);
      a.sendRaw("l\np1\n0\nbogus\nx\ny\nl\np1\n0\ne\np2\n\nw\np2\n0\nping\n_\n_\n");
      const t1 = token(await a.line());
      assert.equal(await a.line(), "error");
      assert.equal(await a.line(), "timeout");
      const acq = await a.line();
      assert.match(acq, /^acquired [0-9a-f]{32} 33$/);
      assert.equal(token(await a.line()), acq.split(" ")[1]);
      assert.equal(await a.line(), "ok");
      assert.notEqual(t1, acq.split(" ")[1]);
    });
  });

  test("a blocked waiter is granted on release; later pipelined requests wait for it", async () => {
    await withServer({}, async (server, clients) => {
      const a = await open(server, clients);
      const b = await open(server, clients);
      const ta = token(await a.request("l", "k", "0"));
      b.sendRaw("l\nk\n5\nping\n_\n_\n");
      assert.ok(await b.silent(200));
      assert.equal(server.stats().locks[0]!.waiters, 1);
      assert.equal(await a.request("r", "k", ta), "ok");
      token(await b.line());
      assert.equal(await b.line(), "ok");
      assert.equal(server.stats().locks[0]!.ownerConnId, 2);
    });
  });

  test("a release that grants a waiter writes the grant before the releaser's answer", async () => {
    // Every write the server makes, in the order it makes them, by accepted connection. The
    // channels have no writeByteString: the server encodes and writes.
    const writes: string[] = [];
    // The number of each server's first connection (the count goes on across servers).
    let first: number | undefined;
    const transport = wrapAcceptedChannels(await getAdapter(), (io, n): ByteChannel => {
      first ??= n;
      const id = n - first;
      return {
        read: () => io.read(),
        write: (bytes) => {
          writes.push(`${id} ${new TextDecoder().decode(bytes)}`);
          return io.write(bytes);
        },
      };
    });
    for (const kind of [{ acquire: "l", release: "r" }, { acquire: "sl", release: "sr" }]) {
      await withServer({ transport }, async (server, clients) => {
        first = undefined;
        const a = await open(server, clients); // connection 0
        const b = await open(server, clients); // connection 1
        const limit = kind.acquire === "l" ? "" : " 1";
        const ta = token(await a.request(kind.acquire, "k", "0" + limit));
        b.send(kind.acquire, "k", "5" + limit);
        assert.ok(
          await eventually(() => server.stats().connections === 2 && waiters(server) === 1),
        );
        writes.length = 0;
        assert.equal(await a.request(kind.release, "k", ta), "ok");
        token(await b.line());
        // The lock's next holder hears first; the releaser's "ok" follows.
        assert.deepEqual(writes.map((w) => w.split(" ")[0] + " " + w.split(" ")[1]), [
          "1 ok",
          "0 ok\n",
        ], kind.acquire);
      });
    }
  });

  test("answers go out through the channel's writeByteString when it has one", async () => {
    const calls: string[] = [];
    const transport = wrapAcceptedChannels(await getAdapter(), (io): ByteChannel => ({
      read: () => io.read(),
      write: (bytes) => {
        calls.push("write");
        return io.write(bytes);
      },
      writeByteString: (text) => {
        calls.push(`writeByteString ${text}`);
        return io.write(Uint8Array.from(text, (c) => c.charCodeAt(0)));
      },
    }));
    await withServer({ transport }, async (server, clients) => {
      const a = await open(server, clients);
      const t = token(await a.request("l", "k", "0"));
      assert.equal(await a.request("r", "k", t), "ok");
      assert.deepEqual(calls, [`writeByteString ok ${t} 33\n`, "writeByteString ok\n"]);
    });
  });

  test("acquire timeout elapses", async () => {
    await withServer({}, async (server, clients) => {
      const a = await open(server, clients);
      const b = await open(server, clients);
      token(await a.request("l", "k", "0"));
      const t0 = Date.now();
      assert.equal(await b.request("l", "k", "1"), "timeout");
      assert.ok(Date.now() - t0 >= 900);
      assert.equal(server.stats().locks[0]!.waiters, 0);
    });
  });

  test("a waiter whose client disconnects while blocked is dropped at once", async () => {
    await withServer({}, async (server, clients) => {
      const a = await open(server, clients);
      const b = await open(server, clients);
      const ta = token(await a.request("l", "k", "0"));
      b.send("l", "k", "30");
      assert.ok(await eventually(() => server.stats().locks[0]?.waiters === 1));
      b.close();
      assert.ok(
        await eventually(() => server.stats().locks[0]?.waiters === 0),
        "waiter removed without waiting for its timeout",
      );
      assert.ok(await eventually(() => server.stats().connections === 1));
      assert.equal(await a.request("r", "k", ta), "ok");
      const c = await open(server, clients);
      token(await c.request("l", "k", "0"));
    });
  });

  test("disconnect releases held slots and grants waiters", async () => {
    await withServer({}, async (server, clients) => {
      const a = await open(server, clients);
      const b = await open(server, clients);
      token(await a.request("l", "k", "0"));
      b.send("l", "k", "10");
      assert.ok(await b.silent(100));
      a.close();
      token(await b.line());
      assert.equal(server.stats().locks[0]!.ownerConnId, 2);
    });
  });

  test("fence tokens: counter half +1 per grant and close to the wall clock", async () => {
    await withServer({}, async (server, clients) => {
      const a = await open(server, clients);
      const fences: bigint[] = [];
      for (let i = 0; i < 5; i++) {
        fences.push(BigInt("0x" + token(await a.request("sl", "s", "0 10")).slice(0, 16)));
      }
      for (let i = 1; i < fences.length; i++) assert.equal(fences[i], fences[i - 1]! + 1n);
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      const diff = nowNs - fences[0]!;
      assert.ok(diff >= 0n && diff < 60_000_000_000n, `fence ${fences[0]} vs now ${nowNs}`);
    });
  });

  test("auth: wrong token closes with error_auth, right token works, no token = error", async () => {
    await withServer({ authToken: "s3cret" }, async (server, clients) => {
      const bad = await open(server, clients);
      assert.equal(await bad.request("auth", "_", "wrong"), "error_auth");
      assert.ok(await bad.closedByServer());
      const first = await open(server, clients);
      first.sendRaw("l\nk\n0\nping\n_\n_\n");
      assert.equal(await first.line(), "error_auth");
      assert.ok(await first.closedByServer(), "requests pipelined after a failure never run");
      const good = await open(server, clients);
      good.sendRaw("auth\nany key\n  s3cret \t\nl\nk\n0\n");
      assert.equal(await good.line(), "ok");
      token(await good.line());
      assert.equal(await good.request("auth", "_", "s3cret"), "error");
      assert.equal(server.stats().locks.length, 1);
    });
    await withServer({}, async (server, clients) => {
      const a = await open(server, clients);
      assert.equal(await a.request("auth", "_", "x"), "error");
      assert.equal(await a.request("ping", "_", "_"), "ok");
    });
  });

  test("auth token file is read and trimmed", async () => {
    await withServer({ authTokenFile: join(FIXTURES, "auth-token.txt") }, async (s, clients) => {
      const a = await open(s, clients);
      assert.equal(await a.request("auth", "_", "file-secret-42"), "ok");
      const b = await open(s, clients);
      assert.equal(await b.request("auth", "_", "file-secret-4"), "error_auth");
    });
  });

  test("read timeout: idle and partial requests get error and a close", async () => {
    await withServer({ readTimeout: 0.3 }, async (server, clients) => {
      const a = await open(server, clients);
      const b = await open(server, clients);
      b.sendRaw("l\nk\n");
      assert.ok(await a.silent(150));
      assert.equal(await a.line(1000), "error");
      assert.ok(await a.closedByServer());
      assert.equal(await b.line(1000), "error");
      assert.ok(await b.closedByServer());
      assert.equal(server.stats().locks.length, 0);
    });
    await withServer({ readTimeout: 0.3, authToken: "x" }, async (server, clients) => {
      const a = await open(server, clients);
      assert.equal(await a.line(1000), "error_auth");
      assert.ok(await a.closedByServer());
    });
  });

  test("a blocked request is not subject to the read timeout", async () => {
    await withServer({ readTimeout: 0.3 }, async (server, clients) => {
      const a = await open(server, clients);
      const b = await open(server, clients);
      const ta = token(await a.request("l", "k", "0"));
      b.send("l", "k", "5");
      for (let i = 0; i < 4; i++) {
        assert.ok(await a.silent(150));
        assert.equal(await a.request("ping", "_", "_"), "ok", "a stays busy");
      }
      assert.ok(await b.silent(10), "b still blocked after twice the read timeout");
      assert.equal(await a.request("r", "k", ta), "ok");
      token(await b.line());
    });
  });

  test("an over-long line closes only that connection and releases its locks", async () => {
    await withServer({}, async (server, clients) => {
      const a = await open(server, clients);
      const b = await open(server, clients);
      token(await a.request("l", "k1", "0"));
      token(await b.request("l", "k2", "0"));
      b.sendRaw("x".repeat(300));
      assert.ok(await b.silent(100), "nothing before the newline arrives");
      b.sendRaw("\nl\nk3\n0\n");
      assert.equal(await b.line(), "error");
      assert.ok(await b.closedByServer());
      assert.ok(await eventually(() => server.stats().connections === 1));
      const s = server.stats();
      assert.deepEqual(s.locks.map((l) => l.key), ["k1"]);
      assert.deepEqual(s.idleLocks.map((l) => l.key), ["k2"]);
      assert.equal(await a.request("ping", "_", "_"), "ok");
    });
  });

  test("closing after an over-long line loses no answer on its way to the client", async () => {
    // Answers larger than the sockets' buffers, then an over-long line and bytes the server never
    // reads. Closing a socket with bytes unread makes the kernel reset the connection, and the
    // reset drops the answers still in flight (the client got 1 of 5 answers and ECONNRESET).
    await withServer({}, async (server) => {
      const port = server.addr.port;
      const keys = await exchange(port, "", (w) => {
        for (let i = 0; i < 1000; i++) w(`l\nlinger-${i}\n0\n`);
      });
      assert.equal(keys.lines.length, 1000);
      const stats = 5;
      const result = await exchange(port, "x".repeat(300) + "\n" + "j".repeat(64 * 1024), (w) => {
        for (let i = 0; i < stats; i++) w("stats\n_\n_\n");
      });
      assert.equal(result.error, undefined, "the connection ended without a reset");
      assert.equal(result.lines.length, stats + 1);
      assert.ok(result.lines.slice(0, stats).every((l) => l.startsWith('ok {"connections"')));
      assert.equal(result.lines[stats], "error");
      assert.ok(result.bytes > 150_000, `${result.bytes} bytes of answers`);
    });
  });

  test("after an error answer, a client that keeps its side open is let go within seconds", async () => {
    await withServer({}, async (server) => {
      const client = await halfOpenClient(server.addr.port);
      try {
        assert.equal(server.stats().connections, 1);
        client.socket.write("x".repeat(300) + "\n");
        await client.ended;
        assert.equal(client.received(), "error\n", "the answer, then the server's end of stream");
        // The server reads what the client might still send for a while, then closes.
        assert.ok(await eventually(() => server.stats().connections === 0, 10_000));
      } finally {
        client.socket.destroy();
      }
    });
  });

  test("after an error answer, an end of stream that cannot go out does not hold the connection", async () => {
    // A client that stops reading leaves the server's last bytes, and the end of stream behind
    // them, buffered for good: here the channel's closeWrite never settles.
    const transport = wrapAcceptedChannels(await getAdapter(), (io): ByteChannel => ({
      read: () => io.read(),
      write: (bytes) => io.write(bytes),
      closeWrite: () => new Promise<void>(() => {}),
    }));
    await withServer({ transport }, async (server) => {
      const client = await halfOpenClient(server.addr.port);
      try {
        client.socket.write("x".repeat(300) + "\n");
        assert.ok(await eventually(() => client.received() === "error\n", 5_000), "the answer");
        assert.ok(await eventually(() => server.stats().connections === 0, 10_000));
      } finally {
        client.socket.destroy();
      }
    });
  });

  test("a TLS client on the plain port is answered once, also when the read timeout passes during the close", async () => {
    await withServer({ readTimeout: 0.3 }, async (server) => {
      const client = await halfOpenClient(server.addr.port);
      try {
        client.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05]));
        await client.ended;
        assert.equal(client.received(), "error\n");
        // The server lingers past the read timeout before it lets the connection go.
        assert.ok(await eventually(() => server.stats().connections === 0, 10_000));
        const errors = /^dflockd_errors_total\{kind="other",status="error"\} (\d+)$/m
          .exec(server.metrics())?.[1];
        assert.equal(errors, "1", "one error answer, counted once");
      } finally {
        client.socket.destroy();
      }
    });
  });

  test("256 bytes plus \\r\\n is too long, 256 bytes is fine", async () => {
    await withServer({}, async (server, clients) => {
      const a = await open(server, clients);
      token(await a.request("l", "k".repeat(256), "0"));
      const b = await open(server, clients);
      b.sendRaw(`l\n${"d".repeat(256)}\r\n`);
      assert.equal(await b.line(), "error");
      assert.ok(await b.closedByServer());
    });
  });

  test("graceful close: blocked waiters get error, open connections are still served", async () => {
    const server = await startTestServer({ shutdownTimeout: 0 });
    const a = await ProtocolClient.connect(server.addr.port);
    const b = await ProtocolClient.connect(server.addr.port);
    try {
      const ta = token(await a.request("l", "k", "0"));
      b.send("l", "k", "30");
      assert.ok(await b.silent(100));
      const closing = server.close();
      assert.equal(await b.line(), "error");
      token(await a.request("l", "k2", "0"));
      assert.equal(await b.request("l", "k2", "5"), "error", "would block: error at once");
      assert.equal(await b.request("e", "k2", ""), "queued");
      assert.equal(await b.request("w", "k2", "5"), "error");
      assert.equal(await a.request("r", "k", ta), "ok");
      token(await b.request("l", "k", "5"));
      let done = false;
      void closing.then(() => done = true);
      assert.ok(await b.silent(100));
      assert.equal(done, false, "still draining while clients are connected");
      a.close();
      b.close();
      await closing;
      await server.closed;
      await assert.rejects(ProtocolClient.connect(server.addr.port));
    } finally {
      a.close();
      b.close();
      await server.close();
    }
  });

  test("graceful close force-closes remaining connections after shutdownTimeout", async () => {
    const server = await startTestServer({ shutdownTimeout: 0.3 });
    const a = await ProtocolClient.connect(server.addr.port);
    try {
      token(await a.request("l", "k", "0"));
      const t0 = Date.now();
      await server.close();
      assert.ok(Date.now() - t0 >= 250);
      assert.ok(await a.closedByServer());
    } finally {
      a.close();
    }
  });

  test("await using disposes the server", async () => {
    let port = 0;
    {
      await using server = await startTestServer();
      port = server.addr.port;
      const a = await ProtocolClient.connect(port);
      assert.equal(await a.request("ping", "_", "_"), "ok");
      a.close();
    }
    await assert.rejects(ProtocolClient.connect(port));
  });

  test("maxConnections: extra connections are closed without a byte and get no id", async () => {
    await withServer({ maxConnections: 2 }, async (server, clients) => {
      const a = await open(server, clients);
      const b = await open(server, clients);
      token(await b.request("l", "k2", "0"));
      const c = await open(server, clients);
      assert.ok(await c.closedByServer());
      a.close();
      assert.ok(await eventually(() => server.stats().connections === 1));
      const d = await open(server, clients);
      token(await d.request("l", "k1", "0"));
      const owner = server.stats().locks.find((l) => l.key === "k1")!.ownerConnId;
      assert.equal(owner, 3, "the refused connection consumed no id");
      assert.equal(server.stats().connections, 2);
    });
  });

  test("TLS from PEM text", async () => {
    const cert = readFileSync(join(FIXTURES, "cert.pem"), "utf8");
    const key = readFileSync(join(FIXTURES, "key.pem"), "utf8");
    await withServer({ tls: { cert, key } }, async (server) => {
      const a = await ProtocolClient.connectTls(server.addr.port);
      try {
        token(await a.request("l", "k", "0"));
        assert.equal(server.stats().locks.length, 1);
      } finally {
        a.close();
      }
    });
  });

  test("a client that stops reading is closed after the write timeout", async () => {
    await withServer({ writeTimeout: 0.2, maxLocks: 2000 }, async (server, clients) => {
      const a = await open(server, clients);
      let batch = "";
      for (let i = 0; i < 1000; i++) batch += `l\nkey-with-a-longish-name-${i}\n0\n`;
      a.sendRaw(batch);
      for (let i = 0; i < 1000; i++) token(await a.line());
      const b = await open(server, clients);
      b.pause();
      b.sendRaw("stats\n_\n\n".repeat(2000)); // ~100 MB of answers
      assert.ok(
        await eventually(() => server.stats().connections === 1, 10_000),
        "the stuck connection was closed",
      );
      assert.equal(server.stats().locks.length, 1000, "a's locks are untouched");
    });
  });

  test("auto-release off keeps a closed holder's lock", async () => {
    await withServer({ autoReleaseOnDisconnect: false }, async (server, clients) => {
      const a = await open(server, clients);
      token(await a.request("l", "k", "0 30"));
      a.close();
      assert.ok(await eventually(() => server.stats().connections === 0));
      assert.equal(server.stats().locks[0]!.ownerConnId, 1);
    });
  });
});

describe("the log option", () => {
  const child = new URL("./_quiet_server_child.ts", import.meta.url);

  test("an embedded server without `log` writes nothing to stderr, even with debug", async () => {
    const r = await runChildScript(child, ["default"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^done \d+\n$/);
    assert.equal(r.stderr, "");
  });

  test("control: with a logger, the same child's lines do reach stderr", async () => {
    const r = await runChildScript(child, ["stderr"]);
    assert.equal(r.code, 0, r.stderr);
    const port = /^done (\d+)\n$/.exec(r.stdout)?.[1];
    assert.ok(port, r.stdout);
    assert.match(r.stderr, new RegExp(`^listening on 127\\.0\\.0\\.1:${port}\\n`));
    assert.match(r.stderr, /\nconnection 1 from 127\.0\.0\.1:\d+\nconnection 1 closed /);
  });
});

describe("resolveServerOptions", () => {
  test("fills defaults", () => {
    const r = resolveServerOptions({ log: () => {} });
    assert.equal(r.port, 6388);
    assert.equal(r.defaultLeaseTtl, 33);
    assert.equal(r.autoReleaseOnDisconnect, true);
    assert.equal(r.authToken, undefined);
  });

  test("of several bad options the first in Go's order is reported, in Go's words", () => {
    assert.throws(
      () => resolveServerOptions({ maxLocks: 0, defaultLeaseTtl: 0 }),
      { name: "RangeError", message: "--max-locks must be > 0 (got 0)" },
    );
    assert.throws(() => resolveServerOptions({ defaultLeaseTtl: 0 }), /--default-lease-ttl/);
    assert.throws(() => resolveServerOptions({ gcMaxIdle: 0 }), /--gc-max-idle must be > 0/);
    assert.throws(() => resolveServerOptions({ writeTimeout: -1 }), /--write-timeout must be >= 0/);
    assert.throws(() => resolveServerOptions({ port: 70000 }), /--port/);
    assert.throws(() => resolveServerOptions({ maxLocks: 1.5 }), /--max-locks must be an integer/);
    assert.throws(() => resolveServerOptions({ readTimeout: NaN }), RangeError);
    assert.throws(() => resolveServerOptions({ tlsCert: "c.pem" }), /tls/);
  });
});
