/**
 * Resource exhaustion: idle connections are closed after the read timeout, the
 * `maxConnections`, `maxWaiters` and `maxLocks` limits hold under a flood while well-behaved
 * clients keep working, and a client that never reads its answers is disconnected after the
 * write timeout instead of growing the server's memory.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import { Buffer } from "node:buffer";
import process from "node:process";
import { withServer as withTestServer } from "../_helpers/server.ts";
import type { Server, ServerOptions } from "../../src/server/mod.ts";
import { ByteLineClient } from "../fuzz/byte_line_client.ts";

function withServer(
  options: ServerOptions,
  fn: (server: Server, port: number) => Promise<void>,
): Promise<void> {
  return withTestServer(options, (server) => fn(server, server.addr.port));
}

/** Polls `predicate` every 20 ms for at most `ms`. */
async function until(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A raw socket that records the bytes it got and when it closed. */
interface Probe {
  socket: net.Socket;
  data: string;
  closed: Promise<void>;
  isClosed: boolean;
}

function probe(port: number): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ host: "127.0.0.1", port });
    const p: Probe = { socket, data: "", closed: Promise.resolve(), isClosed: false };
    p.closed = new Promise((done) =>
      socket.once("close", () => {
        p.isClosed = true;
        done();
      })
    );
    socket.on("data", (d: Buffer) => p.data += d.toString("latin1"));
    socket.on("error", () => {});
    socket.once("connect", () => resolve(p));
    socket.once("error", reject);
  });
}

const TOKEN_RE = /^(?:ok|acquired) ([0-9a-f]{32}) [0-9]+$/;

function token(line: string): string {
  const m = TOKEN_RE.exec(line);
  assert.ok(m !== null, `expected a grant, got ${JSON.stringify(line)}`);
  return m[1]!;
}

describe("exhaustion", () => {
  test("2000 idle connections are closed after the read timeout", async () => {
    const N = 2000;
    await withServer({ readTimeout: 1 }, async (server, port) => {
      const probes: Probe[] = [];
      try {
        for (let i = 0; i < N; i += 200) {
          probes.push(...await Promise.all(Array.from({ length: 200 }, () => probe(port))));
        }
        const opened = performance.now();
        await until(
          () => server.stats().connections === N || probes.some((p) => p.isClosed),
          5000,
          "server sees every connection",
        );
        await Promise.race([
          Promise.all(probes.map((p) => p.closed)),
          new Promise((r) => setTimeout(r, 15_000)),
        ]);
        const closes = probes.filter((p) => p.isClosed).length;
        assert.equal(closes, N, "every idle connection was closed by the server");
        const waited = performance.now() - opened;
        assert.ok(waited >= 500, `closed after ${waited.toFixed(0)} ms, before the timeout`);
        // Each got `error` before its close (docs/protocol.md 2.4).
        const answered = probes.filter((p) => p.data === "error\n").length;
        assert.equal(answered, N, "each idle connection was answered `error`");
        await until(() => server.stats().connections === 0, 3000, "connections back to 0");
      } finally {
        for (const p of probes) p.socket.destroy();
      }
    });
  });

  test("maxConnections holds under a flood; a holder keeps renewing and can release", async () => {
    await withServer({ maxConnections: 10 }, async (server, port) => {
      const witness = await ByteLineClient.open(port);
      const flood: Probe[] = [];
      try {
        const tok = token(await witness.request("l", "held", "0 30"));
        await until(() => server.stats().connections === 1, 2000, "witness counted");
        for (let round = 0; round < 5; round++) {
          flood.push(...await Promise.all(Array.from({ length: 40 }, () => probe(port))));
          assert.equal(await witness.request("n", "held", `${tok} 30`), "ok 30");
          assert.ok(server.stats().connections <= 10, `${server.stats().connections} > 10`);
        }
        // Exactly 9 flood connections got a slot; the rest were closed without a byte.
        await until(() => flood.filter((p) => p.isClosed).length >= 191, 5000, "rejects closed");
        const rejected = flood.filter((p) => p.isClosed);
        assert.equal(rejected.length, 191);
        assert.ok(rejected.every((p) => p.data === ""), "a rejected connection got bytes");
        assert.equal(server.stats().connections, 10);
        // Slots free up when clients leave.
        for (const p of flood) p.socket.destroy();
        await until(() => server.stats().connections === 1, 3000, "flood slots freed");
        const again = await ByteLineClient.open(port);
        try {
          assert.equal(await again.request("ping", "_", "_"), "ok");
        } finally {
          await again.close();
        }
        assert.equal(await witness.request("r", "held", tok), "ok");
      } finally {
        for (const p of flood) p.socket.destroy();
        await witness.close();
      }
    });
  });

  test("maxLocks and maxWaiters hold under a flood; existing holders keep working", async () => {
    await withServer({ maxLocks: 50, maxWaiters: 5 }, async (server, port) => {
      const witness = await ByteLineClient.open(port);
      const clients: ByteLineClient[] = [];
      try {
        const tok = token(await witness.request("l", "w-key", "0 30"));
        // Key flood from one pipelining connection: 49 new keys fit, the rest are refused.
        const flooder = await ByteLineClient.open(port);
        clients.push(flooder);
        let batch = "";
        for (let i = 0; i < 300; i++) batch += `l\nflood-${i}\n0 30\n`;
        flooder.send(batch);
        const answers: string[] = [];
        for (let i = 0; i < 300; i++) answers.push((await flooder.readLine(5000)) ?? "EOF");
        assert.equal(answers.filter((a) => a.startsWith("ok ")).length, 49);
        assert.equal(answers.filter((a) => a === "error_max_locks").length, 251);
        assert.equal(await witness.request("n", "w-key", `${tok} 30`), "ok 30");
        assert.equal(server.stats().locks.length, 50);

        // Waiter flood on the witness's key: 5 queue, 45 are refused at once.
        const waiters = await Promise.all(
          Array.from({ length: 50 }, () => ByteLineClient.open(port)),
        );
        clients.push(...waiters);
        const replies = await Promise.all(waiters.map((c) => c.request("e", "w-key", "30")));
        assert.equal(replies.filter((r) => r === "queued").length, 5);
        assert.equal(replies.filter((r) => r === "error_max_waiters").length, 45);
        assert.equal(server.stats().locks.find((l) => l.key === "w-key")?.waiters, 5);
        // The holder still renews and releases; the first waiter then gets the lock.
        assert.equal(await witness.request("n", "w-key", `${tok} 30`), "ok 30");
        assert.equal(await witness.request("r", "w-key", tok), "ok");
        const first = waiters[replies.indexOf("queued")]!;
        token(await first.request("w", "w-key", "2"));
        // An existing key is still usable while the table is full.
        assert.equal(await witness.request("l", "w-key", "0"), "timeout");
      } finally {
        await Promise.all(clients.map((c) => c.close()));
        await witness.close();
      }
    });
  });

  test("a client that never reads is closed after the write timeout", async () => {
    await withServer(
      { writeTimeout: 1, readTimeout: 30, maxLocks: 10_000 },
      async (server, port) => {
        const witness = await ByteLineClient.open(port);
        let hog: Probe | undefined;
        try {
          // 500 held keys make every `stats` answer about 40 KB.
          let batch = "";
          for (let i = 0; i < 500; i++) batch += `l\nbig-key-${i}\n0 60\n`;
          witness.send(batch);
          for (let i = 0; i < 500; i++) assert.match((await witness.readLine(5000)) ?? "", /^ok /);
          const statsLine = await witness.request("stats", "_", "");
          const before = process.memoryUsage().rss;

          hog = await probe(port);
          hog.socket.pause(); // never read
          const request = Buffer.from("stats\n_\n\n".repeat(5000), "latin1");
          hog.socket.write(request);
          const started = performance.now();
          await until(() => server.stats().connections === 1, 15_000, "hog closed by the server");
          const took = performance.now() - started;
          // Answers pending: 5000 * ~40 KB = ~200 MB if the server had buffered them all.
          const grown = process.memoryUsage().rss - before;
          assert.ok(grown < 120 * 1024 * 1024, `RSS grew by ${(grown / 1048576).toFixed(0)} MiB`);
          assert.ok(took >= 900, `closed after ${took.toFixed(0)} ms, before the write timeout`);
          // The server stays responsive.
          assert.equal(await witness.request("ping", "_", "_"), "ok");
          const after = JSON.parse((await witness.request("stats", "_", "")).slice(3));
          assert.equal(after.locks.length, 500);
          // The hog sees the close once it reads.
          hog.socket.resume();
          await Promise.race([hog.closed, new Promise((r) => setTimeout(r, 5000))]);
          assert.ok(hog.isClosed, "the hog's socket was closed");
          assert.ok(hog.data.length < statsLine.length * 5000, "not every answer was sent");
        } finally {
          hog?.socket.destroy();
          await witness.close();
        }
      },
    );
  });
});
