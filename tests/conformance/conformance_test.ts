/**
 * Runs every golden scenario (`scenarios/`, recorded from the Go server) and every derived one
 * (`scenarios/derived/`, written by hand from the Go source) against dflock's own server, one
 * test per scenario.
 *
 * None of the three runners runs tests of one file concurrently (deno test and bun test ignore
 * node:test's `concurrency`), so the scenarios run in a background pool of
 * `DFLOCK_CONFORMANCE_JOBS` (default 6), each with its own server and port, started when the
 * first test runs; each test only awaits its own scenario's result.
 *
 * `DFLOCK_CONFORMANCE_GO=/path/to/dflockd` runs the same scenarios against that executable
 * instead (the reference Go server built by `shared/reference/build.sh`): the way to check a
 * derived scenario against the real thing.
 */

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { loadScenarios, runScenario, type Scenario } from "./replayer.ts";

const scenarios = loadScenarios();
const derived = loadScenarios(undefined, "scenarios/derived");
const jobs = Math.max(1, Number(process.env.DFLOCK_CONFORMANCE_JOBS ?? "") || 6);
const only = process.env.DFLOCK_CONFORMANCE_ONLY;
const mode = process.env.DFLOCK_CONFORMANCE_MODE === "process" ? "process" : undefined;
const external = process.env.DFLOCK_CONFORMANCE_GO || undefined;
const pick = (list: Scenario[]): Scenario[] =>
  only === undefined || only === ""
    ? list
    : list.filter((s) => only.split(",").some((part) => s.name.includes(part.trim())));
const selected = [...pick(scenarios), ...pick(derived)];
const selectedDerived = new Set(pick(derived));

type Outcome = { ok: true } | { ok: false; error: unknown };

let results: Map<string, Promise<Outcome>> | undefined;

function runtimeName(): string {
  if (external !== undefined) return external;
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  if (g.Deno !== undefined) return "deno";
  if (g.Bun !== undefined) return "bun";
  return `node ${process.version}`;
}

/** Starts all scenarios in a bounded pool (once); outcomes never reject. */
function startAll(): Map<string, Promise<Outcome>> {
  if (results !== undefined) return results;
  const started = new Map<string, Promise<Outcome>>();
  const resolvers = new Map<string, (o: Outcome) => void>();
  for (const s of selected) {
    started.set(s.name, new Promise<Outcome>((resolve) => resolvers.set(s.name, resolve)));
  }
  const queue: Scenario[] = [...selected];
  const worker = async (): Promise<void> => {
    for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
      let outcome: Outcome;
      try {
        await runScenario(s, { mode, external });
        outcome = { ok: true };
      } catch (error) {
        outcome = { ok: false, error };
      }
      resolvers.get(s.name)?.(outcome);
    }
  };
  for (let i = 0; i < Math.min(jobs, queue.length); i++) void worker();
  results = started;
  return started;
}

let passed = 0;

function scenarioTest(s: Scenario): void {
  test(s.name, { timeout: 120_000 }, async () => {
    const outcome = await startAll().get(s.name);
    if (outcome === undefined) assert.fail(`no result for ${s.name}`);
    if (!outcome.ok) throw outcome.error;
    passed++;
  });
}

describe("conformance", () => {
  test("all scenario files are present", () => {
    assert.equal(scenarios.length, 84);
    assert.equal(derived.length, 9);
    const names = new Set<string>();
    for (const s of [...scenarios, ...derived]) {
      assert.ok(s.steps !== undefined || s.startup_failure !== undefined);
      assert.ok(!names.has(s.name), `duplicate scenario name ${s.name}`);
      names.add(s.name);
    }
  });

  for (const s of selected) if (!selectedDerived.has(s)) scenarioTest(s);

  describe("derived from the Go source", () => {
    for (const s of selected) if (selectedDerived.has(s)) scenarioTest(s);
  });

  after(() => {
    console.log(`conformance: ${passed}/${selected.length} passed on ${runtimeName()}`);
  });
});
