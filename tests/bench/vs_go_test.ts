/**
 * The side-by-side benchmark's parts (`bench/_vs_go.ts`) at toy sizes, without Go: the whole
 * mode end to end with dflock on both sides and the TypeScript stand-in generator (child
 * processes, hold protocol, client children, per-rep ratios, report), plus the pure pieces (the
 * Go bench's output, its percentile rule, the rep order, the ratios and their goals). No timing
 * is asserted.
 *
 * @module
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { tidyMarkdown, vsGoMarkdown } from "../../bench/_report.ts";
import {
  computeRatios,
  defaultBins,
  GOALS,
  interpolatedPercentile,
  meets,
  parseGoBench,
  repoRoot,
  rotate,
  runVsGo,
  SHAPES,
} from "../../bench/_vs_go.ts";
import type { VsGoConfig, VsGoRow, VsGoRun } from "../../bench/_vs_go.ts";
import { detectRuntime } from "../../src/transport/auto.ts";

/** The Go client's bench output, as /tmp/goref/bench printed it. */
const GO_BENCH_OUTPUT = `bench: 3 workers x 20 rounds (key_prefix="fixture", conns/worker=1)

  total ops : 60
  wall time : 0.008s
  throughput: 7336.7 ops/s

  mean      : 0.347 ms
  min       : 0.081 ms
  max       : 1.280 ms
  p50       : 0.273 ms
  p99       : 1.200 ms
  stdev     : 0.258 ms
`;

function run(rep: number, fields: Partial<VsGoRun>): VsGoRun {
  return {
    rep,
    ops: 100,
    seconds: 1,
    opsPerSec: 100,
    p50Ms: 1,
    p99Ms: 2,
    serverCpuUsPerOp: null,
    rssKiB: null,
    idleRssKiB: null,
    steadyRssKiB: null,
    ...fields,
  };
}

function row(shape: VsGoRow["shape"], runtime: VsGoRow["runtime"], runs: VsGoRun[]): VsGoRow {
  const s = { median: 0, min: 0, max: 0 };
  return {
    shape,
    target: runtime === null ? "go" : `dflock-${runtime}`,
    runtime,
    connections: 10,
    rounds: 5,
    runs,
    opsPerSec: s,
    p50Ms: s,
    p99Ms: s,
    serverCpuUsPerOp: null,
    rssKiB: null,
    idleRssKiB: null,
    steadyRssKiB: null,
  };
}

describe("side-by-side benchmark (vs_go) parts", () => {
  test("the Go client bench's report is read; its percentile rule interpolates", () => {
    assert.deepEqual(parseGoBench(GO_BENCH_OUTPUT), {
      ops: 60,
      seconds: 0.008,
      opsPerSec: 7336.7,
      p50Ms: 0.273,
      p99Ms: 1.2,
    });
    assert.throws(() => parseGoBench("bench: nothing\n"), /no total ops/);
    const sorted = Float64Array.from([1, 2, 3, 4]);
    assert.equal(interpolatedPercentile(sorted, 50), 2.5, "between the two middle values");
    assert.ok(
      Math.abs(interpolatedPercentile(sorted, 99) - 3.97) < 1e-9,
      "3 + 0.97 of the way to 4",
    );
    assert.equal(interpolatedPercentile(sorted, 100), 4);
    assert.equal(interpolatedPercentile(new Float64Array(0), 50), 0);
  });

  test("rep order rotates; ratios pair the same rep and judge the median by its goal", () => {
    assert.deepEqual(rotate(["go", "bun", "deno"], 0), ["go", "bun", "deno"]);
    assert.deepEqual(rotate(["go", "bun", "deno"], 1), ["bun", "deno", "go"]);
    assert.deepEqual(rotate(["go", "bun", "deno"], 5), ["deno", "go", "bun"]);
    const rows = [
      // The reference's reps come in another order: pairing is by rep index, not position.
      row("unique", null, [run(1, { opsPerSec: 200, p99Ms: 4 }), run(0, { opsPerSec: 100 })]),
      row("unique", "node", [run(0, { opsPerSec: 90 }), run(1, { opsPerSec: 160, p99Ms: 6 })]),
      row("unique", "bun", [run(0, { opsPerSec: 90 })]),
      row("hold", null, [run(0, { rssKiB: 100_000, idleRssKiB: 10_000, steadyRssKiB: 100_000 })]),
      row("hold", "deno", [run(0, { rssKiB: 90_000, idleRssKiB: 60_000, steadyRssKiB: 120_000 })]),
    ];
    const ratios = computeRatios(rows);
    const get = (shape: string, runtime: string, metric: string) =>
      ratios.find((q) => q.shape === shape && q.runtime === runtime && q.metric === metric);
    const nodeOps = get("unique", "node", "opsPerSec")!;
    assert.deepEqual(nodeOps.perRep, [0.9, 0.8]);
    assert.deepEqual(nodeOps.ratio, { median: 0.8500000000000001, min: 0.8, max: 0.9 });
    assert.deepEqual(nodeOps.goal, { op: ">=", value: 0.85 }, "Node's throughput goal");
    assert.equal(nodeOps.met, true);
    const bunOps = get("unique", "bun", "opsPerSec")!;
    assert.deepEqual(bunOps.goal, { op: ">=", value: 1 }, "Bun's throughput goal");
    assert.equal(bunOps.met, false, "0.9 of Go misses 1.0");
    const p99 = get("unique", "node", "p99Ms")!;
    assert.deepEqual(p99.perRep, [1, 1.5]);
    assert.equal(p99.met, false, "median 1.25 over the 1.2 goal");
    assert.equal(get("unique", "node", "p50Ms")!.met, null, "p50 is information only");
    assert.equal(get("unique", "node", "serverCpuUsPerOp"), undefined, "no CPU figures, no ratio");
    assert.deepEqual(get("hold", "deno", "rssKiB")!.perRep, [0.9]);
    assert.equal(get("hold", "deno", "rssKiB")!.met, true);
    assert.deepEqual(get("hold", "deno", "heldDeltaKiB")!.perRep, [30_000 / 90_000]);
    assert.deepEqual(get("hold", "deno", "steadyRssKiB")!.perRep, [1.2]);
    assert.equal(get("hold", "deno", "steadyRssKiB")!.met, false, "held a while: over Go's");
    assert.equal(meets(0.99, { op: "<", value: 1 }), true);
    assert.equal(
      meets(1, { op: "<", value: 1 }),
      false,
      "the one-connection p50 must be below Go's",
    );
    assert.equal(meets(1.5, { op: "<=", value: 1.5 }), true);
    for (const shape of SHAPES) assert.ok(GOALS[shape].length > 0, shape);
  });

  test("end to end at toy size: dflock as both sides, the TypeScript generator", async () => {
    const runtime = detectRuntime();
    const root = repoRoot();
    const lines: string[] = [];
    const config: VsGoConfig = {
      runtimes: [runtime],
      shapes: [...SHAPES],
      runs: 2,
      connections: 4,
      rounds: 10,
      contendedConnections: 3,
      contendedRounds: 10,
      sequentialRounds: 20,
      holdConnections: 40,
      holdWarmup: 10,
      holdSteadyS: 1,
      clientWorkers: 3,
      clientRounds: 10,
      reference: "dflock",
      goDflockd: undefined,
      goBench: undefined,
      generator: "ts",
      goLoad: undefined,
      pin: false,
      busyServerCpu: false,
      timeLimitMs: 60_000,
      settleMs: 20,
      bins: defaultBins(root),
      root,
      log: (line) => lines.push(line),
    };
    const report = await runVsGo(config);
    assert.equal(report.kind, "dflock-vs-go-bench");
    assert.equal(report.reference, "dflock");
    assert.equal(report.generator, "ts");
    const expected: Record<string, number> = {
      unique: 40,
      contended: 30,
      sequential: 20,
      hold: 40,
      client: 30,
    };
    for (const shape of SHAPES) {
      const rows = report.rows.filter((r) => r.shape === shape);
      assert.equal(rows.length, 2, `${shape}: the reference and dflock on ${runtime}`);
      assert.ok(rows.some((r) => r.runtime === null), `${shape}: a reference row`);
      for (const r of rows) {
        assert.deepEqual(r.runs.map((x) => x.rep).sort(), [0, 1], `${shape} ${r.target}: 2 reps`);
        for (const x of r.runs) {
          assert.equal(x.ops, expected[shape], `${shape} ${r.target}: every op completed`);
          assert.ok(x.opsPerSec > 0 && x.p99Ms >= x.p50Ms && x.p50Ms > 0, `${shape} figures`);
        }
      }
      // Server CPU comes in 10 ms ticks: a toy run may use none, and such a rep has no ratio.
      for (const [metric] of GOALS[shape].filter(([m]) => m !== "serverCpuUsPerOp")) {
        const q = report.ratios.find((x) => x.shape === shape && x.metric === metric);
        assert.ok(q !== undefined, `${shape}: a ${metric} ratio`);
        assert.equal(q.runtime, runtime);
        assert.equal(q.perRep.length, 2, `${shape} ${metric}: one ratio per rep`);
        assert.ok(q.perRep.every((v) => Number.isFinite(v) && v > 0), `${shape} ${metric}`);
      }
    }
    for (const r of report.rows.filter((x) => x.shape === "hold")) {
      for (const x of r.runs) {
        assert.ok(x.rssKiB !== null && x.rssKiB > 0, "the server's RSS with every lock held");
        assert.ok(x.steadyRssKiB !== null && x.steadyRssKiB > 0, "and once more a while later");
        assert.ok(x.idleRssKiB !== null && x.idleRssKiB > 0, "and idle");
      }
    }
    assert.ok(lines.some((l) => /hold rep 2/.test(l)), "progress is logged per rep");
    const md = tidyMarkdown(vsGoMarkdown([report]));
    assert.ok(md.startsWith("## Versus Go dflockd\n"), "the report section's heading");
    assert.match(md, /\*\*Not a comparison with Go\*\*: reference dflock, generator ts/);
    assert.match(md, /\| 4 conns x 10, own keys +\| ref-dflock-/);
    assert.match(md, /\| 40 conns holding a lock +\| dflock-\w+ +\|.*\(idle /);
    assert.equal(vsGoMarkdown([]), "");
  });
});
