import assert from "node:assert/strict";
import process from "node:process";
import { describe, test } from "node:test";
import { keepYoungGenerationSmall } from "../../src/runtime/heap.ts";
import { detectRuntime } from "../../src/transport/auto.ts";
import { runChildScript } from "../_helpers/child_script.ts";

const CHILD = new URL("./_heap_child.ts", import.meta.url);
const MiB = 1024 * 1024;

async function youngGeneration(mode: "apply" | "control"): Promise<{
  applied: boolean;
  newSpace: number;
}> {
  const r = await runChildScript(CHILD, [mode]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

describe("keepYoungGenerationSmall (the dflock serve command's heap setting)", () => {
  test("on Node the young generation stays at its initial size while objects pile up", {
    skip: detectRuntime() !== "node" && "a Node setting",
  }, async () => {
    const control = await youngGeneration("control");
    assert.equal(control.applied, false);
    assert.ok(control.newSpace > 8 * MiB, `without it V8 grows it (${control.newSpace} bytes)`);
    const kept = await youngGeneration("apply");
    assert.equal(kept.applied, true);
    assert.ok(kept.newSpace <= 4 * MiB, `young generation ${kept.newSpace} bytes`);
  });

  test("on Node a semi-space size the user chose in NODE_OPTIONS is left alone", {
    skip: detectRuntime() !== "node" && "a Node setting",
  }, async () => {
    const before = process.env.NODE_OPTIONS;
    process.env.NODE_OPTIONS = "--max-semi-space-size=32";
    try {
      const r = await youngGeneration("apply");
      assert.equal(r.applied, false);
      assert.ok(r.newSpace > 8 * MiB, `the user's setting holds (${r.newSpace} bytes)`);
    } finally {
      if (before === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = before;
    }
  });

  test("on Deno and Bun nothing is changed", {
    skip: detectRuntime() === "node" && "Deno and Bun only",
  }, async () => {
    assert.equal(await keepYoungGenerationSmall(), false);
  });
});
