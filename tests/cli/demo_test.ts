import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DEMO_USAGE, runDemo } from "../../src/cli/demo.ts";
import { runCli } from "../_helpers/cli_process.ts";
import { fakeIo } from "./_fake_io.ts";

/** The lines of one numbered scene ("1." up to the next blank line). */
function scene(out: string, n: number): string[] {
  const lines = out.split("\n");
  const start = lines.findIndex((l) => l.startsWith(`${n}. `));
  assert.ok(start >= 0, `scene ${n} missing in:\n${out}`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => l.trim() === "");
  return end < 0 ? rest : rest.slice(0, end);
}

function indexOf(lines: string[], pattern: RegExp): number {
  const i = lines.findIndex((l) => pattern.test(l));
  assert.ok(i >= 0, `no line matches ${pattern} in:\n${lines.join("\n")}`);
  return i;
}

/** Checks the timeline a full demo run printed. */
function checkTimeline(out: string): void {
  assert.match(out, /^dflock demo: embedded server on 127\.0\.0\.1:\d+/);
  for (const line of out.split("\n")) {
    if (line.startsWith(" +")) assert.match(line, /^ *\+\d+\.\d\ds /, line);
  }

  // 1. FIFO: everyone queued in order, then acquired in order with rising fences.
  const fifo = scene(out, 1);
  for (let i = 2; i <= 5; i++) {
    assert.ok(
      fifo.some((l) => l.includes(`worker-${i} queued for jobs/report (position ${i - 1}`)),
    );
  }
  const acquired = fifo
    .map((l) => /(worker-\d) acquired jobs\/report \(fence (\d+)\)/.exec(l))
    .filter((m) => m !== null);
  assert.deepEqual(acquired.map((m) => m[1]), [1, 2, 3, 4, 5].map((i) => `worker-${i}`));
  const fences = acquired.map((m) => BigInt(m[2] ?? "0"));
  for (let i = 1; i < fences.length; i++) assert.ok(fences[i]! > fences[i - 1]!);
  // Each hand-off happens after the previous holder released.
  for (let i = 2; i <= 5; i++) {
    const released = indexOf(fifo, new RegExp(`worker-${i - 1} releases`));
    assert.ok(indexOf(fifo, new RegExp(`worker-${i} acquired`)) > released);
  }

  // 2. Semaphore of 2: four entered, never more than two inside (ours and the server's view).
  const sem = scene(out, 2);
  assert.equal(sem.filter((l) => / entered /.test(l)).length, 4);
  let most = 0;
  for (const line of sem) {
    const inside = /inside: ([^;)]*)/.exec(line)?.[1];
    if (inside !== undefined && inside !== "nobody") {
      most = Math.max(most, inside.split(", ").length);
    }
    const slots = /server: (\d+) of 2 slots taken/.exec(line)?.[1];
    if (slots !== undefined) assert.ok(Number(slots) <= 2, line);
  }
  assert.ok(most >= 1 && most <= 2, `most inside: ${most}`);
  assert.ok(sem.some((l) => l.includes(`most workers inside at once: ${most} (limit 2)`)));

  // 3. Two-phase: acquired, queued, notify, wait, then granted once worker-1 released.
  const two = scene(out, 3);
  const order = [
    /worker-1 enqueue -> acquired/,
    /worker-2 enqueue -> queued/,
    /worker-2 notifies/,
    /worker-2 wait\(\)/,
    /worker-1 releases jobs\/deploy/,
    /worker-2 wait -> granted/,
  ].map((p) => indexOf(two, p));
  assert.deepEqual(order, [...order].sort((a, b) => a - b));

  // 4. Lease loss: expiry hands the lock on; a dead connection aborts lock.signal.
  const lease = scene(out, 4);
  const steps = [
    /worker-1 acquired jobs\/cleanup with a 1 s lease/,
    /worker-1's lease expired after \d\.\d\d s/,
    /worker-2 acquired jobs\/cleanup/,
    /worker-1 wakes up; its release is refused/,
    /cuts worker-2's network connection/,
    /worker-2 lock\.signal aborted: LeaseLostError/,
    /worker-3 acquired jobs\/cleanup/,
  ].map((p) => indexOf(lease, p));
  assert.deepEqual(steps, [...steps].sort((a, b) => a - b));
  const expiredAfter = Number(/lease expired after (\d\.\d\d) s/.exec(out)?.[1]);
  assert.ok(expiredAfter >= 0.9 && expiredAfter < 3, `expired after ${expiredAfter} s`);
}

describe("dflock demo", () => {
  test("runs every scene in-process, exits 0 in under 15 s", async () => {
    const io = fakeIo({}, {}, { program: "npx dflock", commands: { serve: "npm run serve --" } });
    const start = performance.now();
    const code = await runDemo([], io);
    const seconds = (performance.now() - start) / 1000;
    assert.equal(io.err, "");
    assert.equal(code, 0);
    assert.ok(seconds < 15, `took ${seconds} s`);
    checkTimeline(io.out);
    // The hint prefers a package script that runs `serve` (as under `npm start`).
    assert.match(io.out, /Done in \d+\.\d s\. Next: npm run serve -- --help\n$/);
  });

  test("--help prints usage on stdout and exits 0", async () => {
    for (const flag of ["--help", "-h"]) {
      const io = fakeIo();
      assert.equal(await runDemo([flag], io), 0);
      assert.equal(io.out, DEMO_USAGE);
      assert.equal(io.err, "");
    }
  });

  test("unknown flags and arguments: the problem and a pointer to --help, exit 2", async () => {
    for (const args of [["--bogus"], ["extra"], ["--port", "1"]]) {
      const io = fakeIo({}, {}, { program: "npx dflock" });
      assert.equal(await runDemo(args, io), 2);
      assert.equal(io.out, "");
      const what = args[0]?.startsWith("-") ? "unknown flag" : "unexpected argument";
      assert.equal(
        io.err,
        `dflock demo: ${what} ${
          JSON.stringify(args[0])
        }\nRun "npx dflock demo --help" for usage.\n`,
      );
    }
  });

  test("`dflock demo` as a real process", async () => {
    const result = await runCli(["demo"], { timeoutMs: 30_000 });
    assert.equal(result.stderr, "");
    assert.equal(result.code, 0);
    checkTimeline(result.stdout);
  });
});
