/**
 * The benchmark building blocks (`bench/`) at toy sizes, so that CI notices when one breaks:
 * the echo floor's framing, the server load generator, the hold scenario, every client path,
 * the statistics and the report. No timing is asserted (benchmarks measure, tests check).
 *
 * @module
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { interleave, median, mergeLatencies, percentile, summarize } from "../../bench/_stats.ts";
import { CLIENT_TARGETS, runClient } from "../../bench/client_runs.ts";
import type { ClientReport } from "../../bench/client_load.ts";
import { ECHO_RESPONSE, startEchoFloor } from "../../bench/echo_floor.ts";
import { runLoad } from "../../bench/load.ts";
import {
  clientMarkdown,
  markdown,
  mergeSections,
  sharedClientMarkdown,
  svg,
} from "../../bench/_report.ts";
import type { SharedReport } from "../../bench/shared_client.ts";
import { openHolds } from "../../bench/server_hold.ts";
import { measureServerLogic } from "../../bench/_server_logic.ts";
import type { Row, SuiteResult } from "../../bench/server_suite.ts";
import { connect, stats } from "../../mod.ts";
import { openChannel } from "../../src/transport/channel.ts";
import { connect as connectTransport } from "../../src/transport/auto.ts";
import { withServer } from "../_helpers/server.ts";

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

describe("bench building blocks", () => {
  test("echo floor: one fixed line per 3-line request, pipelined; over-long line -> error", async () => {
    const floor = await startEchoFloor();
    try {
      const t = await connectTransport({ hostname: "127.0.0.1", port: floor.addr.port });
      const io = openChannel(t);
      try {
        await io.write(new TextEncoder().encode("l\na\n5\nr\na\ntok\nl\nb"));
        let got = "";
        for (let i = 0; i < 100 && got.length < 2 * ECHO_RESPONSE.length; i++) {
          const chunk = await io.read();
          assert.ok(chunk !== null, "EOF too early");
          got += text(chunk);
        }
        assert.equal(got, ECHO_RESPONSE.repeat(2), "two complete requests, two answers");
        await io.write(new TextEncoder().encode(`\n${"x".repeat(300)}\n`));
        let rest = "";
        for (let i = 0; i < 100; i++) {
          const chunk = await io.read();
          if (chunk === null) break;
          rest += text(chunk);
        }
        assert.equal(rest, "error\n", "the third request's line is over-long: error, then close");
      } finally {
        await t.close();
      }
    } finally {
      await floor.close();
    }
  });

  test("runLoad: every pair completes against the echo floor and the server", async () => {
    const floor = await startEchoFloor();
    try {
      const r = await runLoad({ port: floor.addr.port, connections: 4, rounds: 25 });
      assert.equal(r.ops, 100);
      assert.ok(r.p50Ms > 0 && r.p99Ms >= r.p50Ms, `p50 ${r.p50Ms} p99 ${r.p99Ms}`);
    } finally {
      await floor.close();
    }
    await withServer({}, async (server) => {
      const unique = await runLoad({ port: server.addr.port, connections: 4, rounds: 25 });
      assert.equal(unique.ops, 100);
      const shared = await runLoad({
        port: server.addr.port,
        connections: 4,
        rounds: 25,
        keyMode: "shared",
      });
      assert.equal(shared.ops, 100, "contended pairs all complete (FIFO hand-over)");
      const conn = await connect({ port: server.addr.port });
      try {
        assert.equal((await stats(conn)).locks.length, 0, "every lock was released");
      } finally {
        await conn.close();
      }
    });
  });

  test("openHolds: each connection holds its own lock until close()", async () => {
    await withServer({}, async (server) => {
      const holds = await openHolds({ port: server.addr.port, connections: 30, concurrency: 5 });
      const conn = await connect({ port: server.addr.port });
      try {
        assert.equal(holds.held, 30);
        assert.equal((await stats(conn)).locks.length, 30);
        await holds.close();
        let left = -1;
        for (let i = 0; i < 100 && left !== 0; i++) {
          left = (await stats(conn)).locks.length;
          if (left !== 0) await new Promise((resolve) => setTimeout(resolve, 20));
        }
        assert.equal(left, 0, "closing the holds released every lock (auto-release)");
      } finally {
        await conn.close();
      }
    });
  });

  test("runClient: every client path completes its pairs", async () => {
    await withServer({}, async (server) => {
      for (const target of CLIENT_TARGETS) {
        const r = await runClient(target, {
          hostname: "127.0.0.1",
          port: server.addr.port,
          workers: 3,
          rounds: 10,
          keyPrefix: `smoke-${target}`,
          timeLimitMs: 20_000,
        });
        assert.equal(r.ops, 30, target);
        assert.equal(r.aborted, false, target);
      }
    });
  });

  test("measureServerLogic: in-memory peers get every pair answered, own keys and one key", async () => {
    const own = await measureServerLogic(5, 20);
    assert.equal(own.pairs, 100);
    assert.ok(own.cpuUs > 0 && own.wallMs > 0);
    // Contended: each acquire waits for the holder before it to release (FIFO hand-over); a
    // wrong answer (anything but ok) would reject.
    const shared = await measureServerLogic(5, 20, true);
    assert.equal(shared.pairs, 100);
  });

  test("statistics: median, percentile, summary, interleaving", () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.deepEqual(summarize([5, 1, 3]), { median: 3, min: 1, max: 5 });
    const sorted = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(percentile(sorted, 0.5), 5);
    assert.equal(percentile(sorted, 0.99), 10);
    // Only the first `count` latencies of each worker count.
    const merged = mergeLatencies([
      { latencies: Float64Array.from([3, 1, 2, 99]), count: 3 },
      { latencies: Float64Array.from([5]), count: 1 },
    ], 2);
    assert.deepEqual(merged, { ops: 4, opsPerSec: 2, p50Ms: 2, p99Ms: 5 });
    assert.deepEqual(
      interleave(["server", "echo"], 3).map((x) => `${x.run}${x.target}`),
      ["0server", "0echo", "1echo", "1server", "2server", "2echo"],
      "alternating order so no target always runs first",
    );
  });

  test("report: Markdown tables, goal verdicts and an SVG chart from results", () => {
    const s = (v: number) => ({ median: v, min: v, max: v });
    const row = (target: "server" | "echo", ops: number, p99: number): Row => ({
      scenario: "uncontended",
      placement: "cross-core",
      target,
      connections: 100,
      rounds: 500,
      runs: [],
      opsPerSec: s(ops),
      p50Ms: s(1),
      p99Ms: s(p99),
      rssKiB: s(60_000),
      bytesPerHold: null,
      targetCpuUsPerOp: s(30),
      ratioToEcho: target === "server" ? s(ops / 40_000) : null,
    });
    const result: SuiteResult = {
      kind: "dflock-server-bench",
      date: "2026-11-24T07:00:00.000Z",
      runtime: "bun",
      runtimeVersion: "1.4.5",
      nproc: 2,
      cpuModel: "Test CPU",
      pinned: true,
      loadAverage: [0.5, 0.7],
      config: { runs: 3 },
      rows: [row("server", 30_000, 9.5), row("echo", 40_000, 5)],
    };
    const md = markdown([result]);
    assert.match(md, /Bun 1\.4\.5/);
    assert.match(md, /30 000/);
    assert.match(md, /75% met/, "30 000 / 40 000 against the 70% goal");
    assert.match(md, /9\.50 ms MISSED/, "p99 against the 4 ms goal");
    const chart = svg([result]);
    assert.ok(chart.startsWith("<svg") && chart.trimEnd().endsWith("</svg>"), "an SVG document");
    assert.match(chart, /Bun 1\.4\.5/);
    const client: ClientReport = {
      kind: "dflock-client-bench",
      runtime: "bun",
      version: "1.4.5",
      nproc: 2,
      cpu: "Test CPU",
      date: "2026-11-24T07:00:00.000Z",
      server: "dflock server (bun child process)",
      config: {
        workers: 100,
        rounds: 500,
        seqRounds: 5000,
        lockRounds: 50,
        lockSeqRounds: 1000,
        runs: 5,
        targets: [...CLIENT_TARGETS],
        scenarios: ["concurrent"],
        timeLimitMs: 60_000,
        json: false,
        pin: true,
        out: undefined,
      },
      rows: (["raw", "low-level"] as const).map((target, i) => ({
        scenario: "concurrent" as const,
        target,
        workers: 100,
        rounds: 500,
        opsPerSec: s(20_000 - i * 1000),
        p50Ms: 3,
        p99Ms: 8,
        cpuUsPerOp: 30,
        aborted: false,
        runs: [],
      })),
      ratios: [{
        scenario: "concurrent",
        numerator: "low-level",
        denominator: "raw",
        ratio: s(0.95),
        target: 0.9,
        met: true,
      }],
    };
    const cmd = clientMarkdown([client]);
    assert.match(
      cmd,
      /\| 20 000 \(20 000-20 000\) \| 19 000 \(19 000-19 000\) \| 95% \(95%-95%\) met/,
    );
    assert.match(cmd, /server on CPU 0, client on CPU 1/);
    // shared_client.ts's own SharedReport (a type-only import, so its main() does not run).
    const shared: SharedReport = {
      kind: "dflock-shared-client-bench",
      runtime: "node",
      version: "20.20.2",
      versions: { server: "1.10.0" },
      nproc: 2,
      cpu: "Test CPU",
      date: "2026-11-24T07:00:00.000Z",
      loadavg: { start: 0.5, end: 0.7 },
      server: "Go dflockd /tmp/ref/dflockd (child process, CPU 0), version 1.10.0",
      redis: null,
      skipped: ["redis-semaphore: redis-server not found"],
      config: {
        runs: 3,
        workers: 100,
        rounds: 500,
        seqRounds: 2000,
        lockRounds: 50,
        lockSeqRounds: 1000,
        targets: ["dflock-withLock", "dflock-low-level"],
        shapes: ["concurrent"],
        server: "go",
        goServer: "/tmp/ref/dflockd",
        redisServer: "redis-server",
        clientTs: "x.tgz",
        perConnAnywhere: false,
        acquireTimeoutS: undefined,
        timeLimitMs: 60_000,
        pin: true,
        json: false,
        out: undefined,
      },
      rows: (["dflock-withLock", "dflock-low-level"] as const).map((target, i) => ({
        shape: "concurrent" as const,
        target,
        workers: 100,
        rounds: 500,
        opsPerSec: s(15_000 + i * 5000),
        p50Ms: 6,
        p99Ms: 12.5,
        cpuUsPerOp: 41.25,
        conns: 100,
        errors: 0,
        aborted: false,
        runs: [],
      })),
      ratios: [{
        shape: "concurrent",
        metric: "opsPerSec",
        numerator: "dflock-withLock",
        denominator: "dflock-low-level",
        perRep: [0.74, 0.75, 0.76],
        ratio: { median: 0.75, min: 0.74, max: 0.76 },
        goal: { op: ">=", value: 0.8 },
        met: false,
      }, {
        shape: "concurrent",
        metric: "p50Ms",
        numerator: "dflock-withLock",
        denominator: "dflock-low-level",
        perRep: [1.05],
        ratio: s(1.05),
        goal: { op: "<=", value: 1.1 },
        met: true,
      }],
    };
    const smd = sharedClientMarkdown([shared]);
    assert.ok(smd.startsWith("## Shared client\n"), "the section heading");
    assert.equal(sharedClientMarkdown([]), "", "no reports, no section");
    assert.match(smd, /### Node 20\.20\.2/);
    assert.match(
      smd,
      /Lock server: Go dflockd version 1\.10\.0; servers on CPU 0/,
    );
    assert.match(smd, /medians of 3 reps/);
    assert.match(
      smd,
      /\| concurrent \| dflock-withLock \| 100 x 500 \| 15 000 \(15 000-15 000\) \| 6\.00 \| 12\.50 \| 41\.3 \| 100 \|/,
    );
    assert.match(
      smd,
      /\| dflock-withLock \/ dflock-low-level, ops\/s \| 0\.74, 0\.75, 0\.76 \| 0\.75 \(0\.74-0\.76\) \| >= 0\.8 \| MISSED \|/,
    );
    assert.match(
      smd,
      /\| dflock-withLock \/ dflock-low-level, p50 \| 1\.05 \| .* \| <= 1\.1 \| met \|/,
    );
    assert.match(smd, /skipped: redis-semaphore: redis-server not found/);
  });

  test("report: mergeSections replaces generated sections and keeps the others", () => {
    const existing = [
      "# dflock benchmarks",
      "",
      "Generated by a script.",
      "",
      "## Server",
      "",
      "old server",
      "",
      "### Bun",
      "",
      "```sh",
      "## not a heading",
      "```",
      "",
      "## Client",
      "",
      "old client",
      "",
    ].join("\n");
    const kept = mergeSections(existing, { Server: undefined, Client: undefined });
    assert.equal(kept, existing, "nothing generated: the file unchanged");
    const merged = mergeSections(existing, {
      Server: undefined,
      Client: "## Client\n\nnew client\n\n\n",
      "Shared client": "## Shared client\n\nnew shared\n",
    });
    assert.equal(
      merged,
      [
        "# dflock benchmarks",
        "",
        "Generated by a script.",
        "",
        "## Server",
        "",
        "old server",
        "",
        "### Bun",
        "",
        "```sh",
        "## not a heading",
        "```",
        "",
        "## Client",
        "",
        "new client",
        "",
        "## Shared client",
        "",
        "new shared",
        "",
      ].join("\n"),
      "Server kept (with its sub-heading and fenced block), Client replaced, Shared client added",
    );
    assert.equal(
      mergeSections("# Title\n", { Server: "## Server\n\nnew\n", Client: undefined }),
      "# Title\n\n## Server\n\nnew\n",
      "a header-only file gets the generated sections; absent and not generated: left out",
    );
    assert.equal(mergeSections("", { Client: "## Client\n\nx" }), "## Client\n\nx\n");
  });
});
