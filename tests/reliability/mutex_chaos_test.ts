/**
 * Issue 7: mutual exclusion under faults. Locks and a semaphore of 3 on shared keys, several
 * workers per process plus child processes, while connections are closed on both sides,
 * holders freeze past their lease and a child is killed mid-hold; `_checker.ts` then proves
 * the safety properties from the record. `DFLOCK_RELIABILITY_LONG=1` runs 1 000 000 sections
 * in batches and prints a summary.
 *
 * @module
 */

import assert from "node:assert/strict";
import process from "node:process";
import { describe, test } from "node:test";
import { checkHistory } from "./_checker.ts";
import { runBatch } from "./mutex_workload.ts";
import type { BatchConfig } from "./mutex_workload.ts";

const LONG = process.env.DFLOCK_RELIABILITY_LONG === "1";
const PAUSE_TOLERANCE_MS = 25;

const CI: Omit<BatchConfig, "seed"> = {
  perWorker: 115,
  perChild: 100,
  dropsPerKey: 2,
  pausesPerKey: 2,
  fifoRounds: 4,
  children: 2,
};

const LONG_BATCH: Omit<BatchConfig, "seed"> = {
  perWorker: 2_500,
  perChild: 2_000,
  dropsPerKey: 20,
  pausesPerKey: 2,
  fifoRounds: 20,
  children: 2,
};

describe("mutual exclusion under faults", () => {
  test(
    LONG ? "long run: 1 000 000 critical sections" : "about 2 000 critical sections",
    async () => {
      const target = LONG ? 1_000_000 : 1;
      const totals = { sections: 0, batches: 0, kills: 0, timeouts: 0, fifo: 0 };
      const faults: Record<string, number> = {};
      let violations = 0;
      let minPauseMargin = Infinity;
      let maxNotice = 0;
      let maxLag = 0;
      let unexpected = 0;
      const seed0 = Number(process.env.DFLOCK_RELIABILITY_SEED ?? Date.now() % 1_000_000);
      const started = performance.now();
      for (let b = 0; totals.sections < target && b < 10_000; b++) {
        const seed = seed0 + b;
        const r = await runBatch({ ...(LONG ? LONG_BATCH : CI), seed });
        // A paused holder's signal must abort before the next holder enters; 25 ms of slack
        // covers timer lateness on a loaded machine (the margin itself is reported).
        const { violations: found, summary } = checkHistory(r.history, {
          pauseToleranceMs: PAUSE_TOLERANCE_MS,
        });
        totals.sections += summary.sections;
        totals.batches++;
        totals.kills += r.kills;
        totals.timeouts += r.timeouts;
        totals.fifo += summary.fifoRounds;
        for (const [k, n] of Object.entries(summary.faults)) faults[k] = (faults[k] ?? 0) + n;
        violations += found.length;
        unexpected += summary.unexpectedLosses;
        if (summary.minPauseMarginMs !== undefined) {
          minPauseMargin = Math.min(minPauseMargin, summary.minPauseMarginMs);
        }
        maxNotice = Math.max(maxNotice, summary.maxNoticeMs ?? 0);
        maxLag = Math.max(maxLag, summary.maxReceiptLagMs ?? 0);
        if (found.length > 0 || LONG || process.env.DFLOCK_RELIABILITY_VERBOSE === "1") {
          console.log(
            `batch ${b} seed ${seed}: ${summary.sections} sections in ${
              r.elapsedMs.toFixed(0)
            } ms, faults ${JSON.stringify(summary.faults)}, pause margin ${
              summary.minPauseMarginMs?.toFixed(1)
            } ms, grant lag ${summary.maxReceiptLagMs?.toFixed(1)} ms, max concurrent ${
              JSON.stringify(summary.maxConcurrent)
            }, clock uncertainty ${r.clockUncertaintyMs.toFixed(2)} ms, violations ${found.length}`,
          );
          for (const v of found.slice(0, 20)) console.log(`  VIOLATION ${v}`);
        }
        assert.deepEqual(found, [], `seed ${seed}`);
        // The faults really happened and the workload really ran.
        assert.ok(summary.sections >= (LONG ? 30_000 : 1_900), `${summary.sections} sections`);
        assert.equal(r.kills, 1);
        assert.equal(r.timeouts, 0);
        assert.equal(summary.maxConcurrent.S0, 3, "the semaphore was never full");
        assert.equal(summary.maxConcurrent.L0, 1);
        assert.ok((summary.faults.pause ?? 0) >= 6);
        assert.ok((summary.faults["server-drop"] ?? 0) >= 8);
        assert.ok((summary.faults["client-close"] ?? 0) >= 8);
        assert.equal(summary.faults.kill, 1);
      }
      const summaryLine = `reliability: ${totals.sections} sections in ${totals.batches} batches, ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s; faults ${
        JSON.stringify(faults)
      }; FIFO rounds ${totals.fifo}; unexpected lease losses ${unexpected}; min pause margin ${
        minPauseMargin.toFixed(1)
      } ms; max grant-to-receipt lag ${maxLag.toFixed(1)} ms; max drop-to-abort ${
        maxNotice.toFixed(1)
      } ms; violations: ${violations}`;
      if (LONG || process.env.DFLOCK_RELIABILITY_VERBOSE === "1") console.log(summaryLine);
      assert.equal(violations, 0);
    },
  );
});
