/**
 * The RSS churn probe's parts (`bench/_rss_churn.ts`, `bench/_rss_server.ts`) at toy size: the
 * probe child serves, reports its memory and forces a full GC on the current runtime, and the
 * churn rounds run against it. No memory figure is asserted.
 *
 * @module
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { memServerCommand, runChurn, startMemServer } from "../../bench/_rss_churn.ts";
import { defaultBins, repoRoot } from "../../bench/_vs_go.ts";
import { connect, stats } from "../../mod.ts";
import { detectRuntime } from "../../src/transport/auto.ts";

describe("rss churn probe parts", () => {
  test("the probe child reports memory, forces a GC, and the churn rounds run against it", async () => {
    const root = repoRoot();
    const server = await startMemServer(
      memServerCommand(detectRuntime(), root, defaultBins(root)),
      root,
      60_000,
    );
    try {
      const before = await server.mem();
      assert.equal(before.gc, false);
      assert.ok(before.rss > 0 && before.heapUsed > 0, JSON.stringify(before));
      const r = await runChurn(server, {
        rounds: 2,
        holds: 20,
        loadConnections: 2,
        loadRounds: 5,
        settleMs: 10,
        timeLimitMs: 30_000,
      });
      assert.equal(r.peak.length, 2);
      assert.equal(r.after.length, 2);
      assert.ok([r.idle, ...r.peak, ...r.after, r.gcSettled].every((m) => m.rss > 0));
      assert.equal(r.gc.gc, true, "a full GC can be forced on this runtime");
      // The churn's keys are in the server's table (the rounds really ran against it).
      const conn = await connect({ port: server.port });
      try {
        const s = await stats(conn);
        assert.equal(s.locks.length, 0, "every lock of the rounds was released");
        const idle = new Set(s.idleLocks.map((k) => k.key));
        assert.ok(idle.has("churn-19") && idle.has("churn-load-1"), "the rounds' keys, now idle");
      } finally {
        await conn.close();
      }
    } finally {
      await server.stop();
    }
  });
});
