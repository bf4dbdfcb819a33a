import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import * as net from "node:net";
import { dirname, join } from "node:path";
import * as tls from "node:tls";
import { fileURLToPath } from "node:url";
import type { Server } from "../../src/server/mod.ts";
import { withServer } from "../_helpers/server.ts";
import type { ServerOptions } from "../../src/server/options.ts";
import { eventually, ProtocolClient } from "./_protocol_client.ts";

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "..", "conformance", "fixtures");
const TLS = {
  cert: readFileSync(join(FIXTURES, "cert.pem"), "utf8"),
  key: readFileSync(join(FIXTURES, "key.pem"), "utf8"),
};

/** A raw TCP client that counts the bytes it receives and notes how the connection ended. */
class RawClient {
  readonly socket: net.Socket;
  readonly opened: number;
  bytes = 0;
  endedAt = 0;
  readonly ended: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.opened = performance.now();
    socket.on("data", (d: Buffer) => this.bytes += d.byteLength);
    this.ended = new Promise<void>((resolve) => {
      const done = (): void => {
        if (this.endedAt === 0) this.endedAt = performance.now();
        resolve();
      };
      socket.on("end", done);
      socket.on("close", done);
      socket.on("error", done);
    });
  }

  static async connect(port: number): Promise<RawClient> {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new RawClient(socket);
  }

  /** Waits up to `ms` for the server to end the connection; returns whether it did. */
  async endedWithin(ms: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
    try {
      return await Promise.race([this.ended.then(() => true), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Captures the ClientHello record a real TLS client sends (from a plain capturing server). */
async function captureClientHello(): Promise<Uint8Array> {
  let resolveHello!: (b: Uint8Array) => void;
  const hello = new Promise<Uint8Array>((resolve) => resolveHello = resolve);
  const sockets: net.Socket[] = [];
  const capture = net.createServer((s) => {
    sockets.push(s);
    let buf = Buffer.alloc(0);
    s.on("error", () => {});
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
        resolveHello(new Uint8Array(buf.subarray(0, 5 + buf.readUInt16BE(3))));
      }
    });
  });
  await new Promise<void>((resolve) => capture.listen(0, "127.0.0.1", resolve));
  const { port } = capture.address() as net.AddressInfo;
  const client = tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false });
  client.on("error", () => {});
  try {
    const record = await hello;
    assert.equal(record[0], 0x16, "a TLS handshake record");
    return record;
  } finally {
    client.destroy();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => capture.close(() => resolve()));
  }
}

async function withTlsServer(
  options: ServerOptions,
  fn: (server: Server, cleanup: (c: { close(): void }) => void) => Promise<void>,
): Promise<void> {
  await withServer({ tls: TLS, ...options }, async (server) => {
    const open: { close(): void }[] = [];
    try {
      await fn(server, (c) => open.push(c));
    } finally {
      for (const c of open) c.close();
    }
  });
}

describe("server TLS: max_connections and read_timeout apply before the handshake", () => {
  test("over the limit a TCP connection is closed with no byte sent (no handshake)", async () => {
    const hello = await captureClientHello();
    await withTlsServer({ maxConnections: 1 }, async (server, keep) => {
      const first = await ProtocolClient.connectTls(server.addr.port);
      keep(first);
      assert.match(await first.request("l", "k", "0"), /^ok [0-9a-f]{32} 33$/);
      assert.equal(server.stats().connections, 1);

      // A silent raw client: EOF, zero bytes, not counted.
      const silent = await RawClient.connect(server.addr.port);
      keep(silent);
      assert.ok(await silent.endedWithin(3000), "the server closes the extra connection");
      assert.equal(silent.bytes, 0);

      // A raw client sending a real ClientHello: still zero bytes (no ServerHello).
      const greeter = await RawClient.connect(server.addr.port);
      keep(greeter);
      greeter.socket.write(hello);
      assert.ok(await greeter.endedWithin(3000), "the server closes the extra connection");
      assert.equal(greeter.bytes, 0, "no handshake was started with a rejected connection");
      assert.equal(server.stats().connections, 1);
      assert.equal(await first.request("r", "k", "0"), "error", "the first client still works");

      // Control: with a free slot the same ClientHello is answered.
      first.close();
      assert.ok(await eventually(() => server.stats().connections === 0));
      const answered = await RawClient.connect(server.addr.port);
      keep(answered);
      answered.socket.write(hello);
      assert.ok(await eventually(() => answered.bytes > 0, 3000), "a ServerHello comes back");
    });
  });

  test("a client that never handshakes is counted and closed after read_timeout", async () => {
    await withTlsServer({ readTimeout: 1 }, async (server, keep) => {
      const silent = await RawClient.connect(server.addr.port);
      keep(silent);
      assert.ok(await eventually(() => server.stats().connections === 1), "counted while open");
      assert.ok(await silent.endedWithin(4000), "closed by the read timeout");
      const elapsed = silent.endedAt - silent.opened;
      assert.ok(elapsed >= 800 && elapsed < 3500, `closed after ${elapsed} ms`);
      assert.equal(silent.bytes, 0);
      assert.ok(await eventually(() => server.stats().connections === 0), "cleaned up");
    });
  });

  test("a partial ClientHello is closed after read_timeout", async () => {
    const hello = await captureClientHello();
    await withTlsServer({ readTimeout: 1, writeTimeout: 0 }, async (server, keep) => {
      const partial = await RawClient.connect(server.addr.port);
      keep(partial);
      partial.socket.write(hello.subarray(0, 20));
      assert.ok(await eventually(() => server.stats().connections === 1), "counted while open");
      assert.ok(await partial.endedWithin(4000), "closed by the read timeout");
      const elapsed = partial.endedAt - partial.opened;
      assert.ok(elapsed >= 800 && elapsed < 3500, `closed after ${elapsed} ms`);
      assert.equal(partial.bytes, 0);
      assert.ok(await eventually(() => server.stats().connections === 0), "cleaned up");
      // The listener still serves TLS clients.
      const ok = await ProtocolClient.connectTls(server.addr.port);
      keep(ok);
      assert.equal(await ok.request("ping", "_", "_"), "ok");
    });
  });

  test("connection ids count a connection that has not handshaken yet", async () => {
    await withTlsServer({}, async (server, keep) => {
      const silent = await RawClient.connect(server.addr.port);
      keep(silent);
      assert.ok(await eventually(() => server.stats().connections === 1));
      const a = await ProtocolClient.connectTls(server.addr.port);
      keep(a);
      assert.match(await a.request("l", "k", "0"), /^ok /);
      // The silent connection got id 1, so the TLS client holding "k" is connection 2.
      assert.match(await a.request("stats", "_", ""), /"owner_conn_id":2/);
      assert.equal(server.stats().connections, 2);
    });
  });
});
