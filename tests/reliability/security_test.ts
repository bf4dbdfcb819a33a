/**
 * Security properties of the server: the auth token is compared in constant time and never
 * logged, the ~100 ms delay after a failed `auth` holds under a burst without slowing honest
 * clients, TLS below 1.2 is refused, and an over-long line is discarded as it arrives (no
 * allocation of its size) and answered `error` + close once its newline comes.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import * as tls from "node:tls";
import { readFileSync } from "node:fs";
import { Buffer } from "node:buffer";
import process from "node:process";
import { withServer as withTestServer } from "../_helpers/server.ts";
import type { Server, ServerOptions } from "../../src/server/mod.ts";
import { constantTimeEqual } from "../../src/server/connection.ts";
import {
  LINE_TOO_LONG,
  LineDecoder,
  SERVER_MAX_LINE_BYTES,
} from "../../src/protocol/line_decoder.ts";
import { ByteLineClient } from "../fuzz/byte_line_client.ts";

const FIXTURES = new URL("../conformance/fixtures/", import.meta.url);
const CERT = readFileSync(new URL("cert.pem", FIXTURES), "utf8");
const KEY = readFileSync(new URL("key.pem", FIXTURES), "utf8");
const SECRET = "Sup3r-Secret-Token-4f9a2c";
/** Four times the 10 MiB of the issue. */
const LONG_LINE_BYTES = 40 * 1024 * 1024;

function withServer(
  options: ServerOptions,
  fn: (server: Server, port: number) => Promise<void>,
): Promise<void> {
  return withTestServer(options, (server) => fn(server, server.addr.port));
}

/** Sends `bytes`, then collects everything until the server closes; timings in ms. */
function exchange(
  port: number,
  bytes: string,
  ms = 5000,
): Promise<{ data: string; replyAt: number; closeAt: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ host: "127.0.0.1", port });
    let data = "";
    let sentAt = 0;
    let replyAt = -1;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${ms} ms (got ${JSON.stringify(data)})`));
    }, ms);
    socket.on("connect", () => {
      sentAt = performance.now();
      socket.write(Buffer.from(bytes, "latin1"));
    });
    socket.on("data", (d: Buffer) => {
      if (replyAt < 0) replyAt = performance.now() - sentAt;
      data += d.toString("latin1");
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ data, replyAt, closeAt: performance.now() - sentAt });
    });
  });
}

describe("security", () => {
  test("constantTimeEqual is correct and its time does not depend on where bytes differ", () => {
    const secret = "s".repeat(4096);
    assert.equal(constantTimeEqual(secret, secret), true);
    assert.equal(constantTimeEqual("", ""), true);
    assert.equal(constantTimeEqual(secret.slice(1), secret), false);
    assert.equal(constantTimeEqual(secret + "s", secret), false);
    assert.equal(constantTimeEqual("x" + secret.slice(1), secret), false);
    assert.equal(constantTimeEqual(secret.slice(0, -1) + "x", secret), false);
    assert.equal(constantTimeEqual("\u0100" + secret.slice(1), secret), false);
    // An early-exit comparison would be ~1000 times faster on a first-byte mismatch.
    const early = "x" + secret.slice(1);
    const late = secret.slice(0, -1) + "x";
    const time = (candidate: string): number => {
      let best = Infinity;
      for (let round = 0; round < 5; round++) {
        const t0 = performance.now();
        for (let i = 0; i < 300; i++) constantTimeEqual(candidate, secret);
        best = Math.min(best, performance.now() - t0);
      }
      return best;
    };
    time(early);
    time(late); // warm-up
    const ratio = time(late) / Math.max(time(early), 1e-3);
    assert.ok(ratio < 5, `late mismatch took ${ratio.toFixed(1)}x as long as an early one`);
  });

  test("the auth token never appears in the log, even with debug on", async () => {
    const lines: string[] = [];
    await withServer(
      { authToken: SECRET, debug: true, log: (l) => lines.push(l) },
      async (_server, port) => {
        // Right token, wrong tokens, the token in other fields and commands.
        const good = await ByteLineClient.open(port);
        try {
          assert.equal(await good.request("auth", "_", SECRET), "ok");
          assert.equal(await good.request("auth", SECRET, SECRET), "error");
          assert.equal(await good.request(SECRET, SECRET, SECRET), "error");
          assert.match(await good.request("l", SECRET, "0"), /^ok /);
        } finally {
          await good.close();
        }
        for (const bad of [SECRET + "x", SECRET.slice(0, -1), ` ${SECRET}x`, "nope"]) {
          const r = await exchange(port, `auth\n_\n${bad}\n`);
          assert.equal(r.data, "error_auth\n");
        }
        const r = await exchange(port, `l\n${SECRET}\n0\n`);
        assert.equal(r.data, "error_auth\n");
      },
    );
    assert.ok(lines.length >= 8, `the debug log was captured (${lines.length} lines)`);
    const leaked = lines.filter((l) => l.includes(SECRET) || l.includes(SECRET.slice(0, 12)));
    assert.deepEqual(leaked, [], "log lines containing the token");
  });

  test("the failed-auth delay holds under a burst; an honest client is not slowed", async () => {
    await withServer({ authToken: SECRET }, async (_server, port) => {
      const burst = Array.from({ length: 50 }, (_, i) => exchange(port, `auth\n_\nwrong-${i}\n`));
      // While the 50 failures wait out their delay, a correct client authenticates.
      const t0 = performance.now();
      const honest = await ByteLineClient.open(port);
      let honestMs: number;
      try {
        assert.equal(await honest.request("auth", "_", SECRET), "ok");
        honestMs = performance.now() - t0;
        assert.equal(await honest.request("ping", "_", "_"), "ok");
      } finally {
        await honest.close();
      }
      const results = await Promise.all(burst);
      for (const r of results) {
        assert.equal(r.data, "error_auth\n");
        assert.ok(r.closeAt >= 90, `a failed auth was closed after ${r.closeAt.toFixed(0)} ms`);
      }
      const slowest = Math.max(...results.map((r) => r.closeAt));
      assert.ok(honestMs < slowest, `honest auth took ${honestMs.toFixed(0)} ms`);
      assert.ok(honestMs < 1000, `honest auth took ${honestMs.toFixed(0)} ms`);
    });
  });

  test("TLS below 1.2 is refused; TLS 1.2 works", async (t) => {
    await withServer({ tls: { cert: CERT, key: KEY } }, async (_server, port) => {
      const attempt = (version: tls.SecureVersion) =>
        new Promise<{ ok: boolean; protocol: string | null; error?: string }>((resolve) => {
          const base: tls.ConnectionOptions = {
            host: "127.0.0.1",
            port,
            ca: [CERT],
            servername: "localhost",
            minVersion: "TLSv1",
            maxVersion: version,
          };
          let socket: tls.TLSSocket;
          try {
            // Let the client offer old versions at all (OpenSSL 3 refuses them at level 1+).
            socket = tls.connect({ ...base, ciphers: "DEFAULT:@SECLEVEL=0" });
          } catch {
            socket = tls.connect(base); // BoringSSL (Bun) has no security levels
          }
          const timer = setTimeout(() => {
            socket.destroy();
            resolve({ ok: false, protocol: null, error: "timeout" });
          }, 5000);
          socket.once("secureConnect", () => {
            clearTimeout(timer);
            const protocol = socket.getProtocol();
            socket.write("ping\n_\n_\n");
            socket.once("data", () => {
              socket.destroy();
              resolve({ ok: true, protocol });
            });
          });
          socket.once("error", (err: Error) => {
            clearTimeout(timer);
            socket.destroy();
            resolve({ ok: false, protocol: null, error: err.message });
          });
          socket.once("close", () => {
            clearTimeout(timer);
            resolve({ ok: false, protocol: null, error: "closed" });
          });
        });
      const v12 = await attempt("TLSv1.2");
      assert.ok(v12.ok, `TLS 1.2 failed: ${v12.error}`);
      if (process.env.DFLOCK_RELIABILITY_VERBOSE) console.log("TLSv1.2", JSON.stringify(v12));
      if ("Deno" in globalThis) {
        // Deno's node:tls runs on rustls, which cannot offer TLS 1.0/1.1 at all: a refusal
        // would not prove anything about the server (Deno's server side is rustls too).
        t.skip("Deno's TLS client cannot offer TLS below 1.2");
        return;
      }
      if (v12.protocol !== "TLSv1.2") {
        t.skip(`this runtime's node:tls ignores maxVersion (negotiated ${v12.protocol})`);
        return;
      }
      for (const version of ["TLSv1.1", "TLSv1"] as const) {
        const r = await attempt(version);
        if (process.env.DFLOCK_RELIABILITY_VERBOSE) console.log(version, JSON.stringify(r));
        if (r.error !== undefined && /no protocols available|unsupported protocol/i.test(r.error)) {
          // Could be our own client refusing to offer the version: not proof either way.
          if (/no protocols available/i.test(r.error)) {
            t.skip(`this runtime's TLS client cannot offer ${version}`);
            return;
          }
        }
        assert.equal(r.ok, false, `${version} was accepted (${r.protocol})`);
      }
    });
  });

  test("a 40 MiB line is discarded as it arrives, then answered error and closed", async () => {
    await withServer({ readTimeout: 30 }, async (server, port) => {
      const socket = net.createConnection({ host: "127.0.0.1", port });
      let data = "";
      let closed = false;
      const closedP = new Promise<void>((r) => socket.once("close", () => (closed = true, r())));
      socket.on("data", (d: Buffer) => data += d.toString("latin1"));
      socket.on("error", () => {});
      await new Promise<void>((r) => socket.once("connect", () => r()));
      try {
        const chunk = Buffer.alloc(64 * 1024, "x".charCodeAt(0));
        (globalThis as { gc?: () => void }).gc?.();
        const before = process.memoryUsage().rss;
        for (let sent = 0; sent < LONG_LINE_BYTES; sent += chunk.length) {
          if (!socket.write(chunk)) await new Promise((r) => socket.once("drain", r));
        }
        // The server reads and discards; nothing is answered before the newline.
        const probe = await ByteLineClient.open(port);
        try {
          assert.equal(await probe.request("ping", "_", "_"), "ok");
        } finally {
          await probe.close();
        }
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(data, "", "answered before the newline");
        assert.equal(closed, false, "closed before the newline");
        assert.equal(server.stats().connections, 1);
        // A server that kept the line would have grown by at least its size; garbage that is
        // not collected yet (read chunks) accounts for a few MiB.
        // RSS is a coarse guard only: read chunks that are not collected yet count too (up to
        // ~35 MiB here on Deno). The exact check is the decoder test below.
        const grown = process.memoryUsage().rss - before;
        if (process.env.DFLOCK_RELIABILITY_VERBOSE) console.log(`RSS growth ${grown} bytes`);
        assert.ok(grown < LONG_LINE_BYTES * 1.5, `RSS grew by ${(grown / 1048576).toFixed(1)} MiB`);
        socket.write("\nping\n_\n_\n");
        await Promise.race([closedP, new Promise((r) => setTimeout(r, 5000))]);
        assert.equal(closed, true, "not closed after the newline");
        assert.equal(data, "error\n", "the pipelined ping must not run");
      } finally {
        socket.destroy();
      }
    });
  });

  test("the server's line decoder never holds more than one chunk of an over-long line", () => {
    const dec = new LineDecoder(SERVER_MAX_LINE_BYTES);
    const chunk = new Uint8Array(64 * 1024).fill(0x78);
    let most = 0;
    for (let sent = 0; sent < 10 * 1024 * 1024; sent += chunk.length) {
      dec.push(chunk);
      assert.equal(dec.nextLine(), null);
      most = Math.max(most, dec.buffered);
    }
    assert.equal(dec.inLongLine, true);
    assert.ok(most <= chunk.length, `the decoder held ${most} bytes`);
    assert.equal(dec.buffered, 0, "discarded bytes are dropped at once");
    dec.push(new TextEncoder().encode("tail\nping\n"));
    assert.equal(dec.nextLine(), LINE_TOO_LONG);
    assert.equal(dec.nextLine(), "ping");
    // The 257th byte already makes the line too long.
    const edge = new LineDecoder(SERVER_MAX_LINE_BYTES);
    edge.push(new Uint8Array(257).fill(0x6b));
    assert.equal(edge.nextLine(), null);
    assert.equal(edge.inLongLine, true);
    assert.equal(edge.buffered, 0);
  });

  test("an over-long line before auth is answered error_auth and closed", async () => {
    await withServer({ authToken: SECRET }, async (_server, port) => {
      const r = await exchange(port, `auth\n_\n${"t".repeat(300)}${SECRET}\n`);
      assert.equal(r.data, "error_auth\n");
      const k = await exchange(port, `auth\n${"k".repeat(100_000)}\n${SECRET}\n`);
      assert.equal(k.data, "error_auth\n");
    });
  });
});
