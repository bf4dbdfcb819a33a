import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { detectRuntime } from "../../src/transport/auto.ts";
import { runChildScript } from "../_helpers/child_script.ts";

const CHILD = new URL("./_first_close_child.ts", import.meta.url);

describe('the first connection to close (docs/performance.md, "The first close")', () => {
  test("leaves the optimized request path of the client, server and transport in place", {
    skip: detectRuntime() === "bun" && "a V8 behaviour (Bun runs JavaScriptCore)",
  }, async () => {
    const r = await runChildScript(CHILD, [], { v8Flags: ["--allow-natives-syntax"] });
    assert.equal(r.code, 0, r.stderr);
    const { bits, before, after, gone } = JSON.parse(r.stdout);
    assert.ok(bits !== 0, "the child found V8's optimized-code status bits");
    assert.equal(gone, true, "the server saw the other connection go");
    for (const [name, optimized] of Object.entries(before)) {
      assert.equal(optimized, true, `${name} was optimized before the close`);
    }
    assert.deepEqual(after, before, "every function still optimized after the close");
  });
});
