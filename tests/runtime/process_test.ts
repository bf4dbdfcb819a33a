import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import { readTextFile } from "../../src/runtime/files.ts";
import { args, env, envAll } from "../../src/runtime/process.ts";
import { type ChildResult, runChildScript } from "../_helpers/child_script.ts";

describe("process facilities", () => {
  test("args() returns a fresh array of strings", () => {
    const first = args();
    assert.ok(Array.isArray(first));
    for (const arg of first) assert.equal(typeof arg, "string");
    first.push("mutated");
    assert.notEqual(args().at(-1), "mutated");
  });

  test("env() and envAll() read the environment", () => {
    const name = "DFLOCK_TRANSPORT_TEST_VAR";
    process.env[name] = "value 1";
    try {
      assert.equal(env(name), "value 1");
      assert.equal(envAll()[name], "value 1");
      assert.equal(env("DFLOCK_TRANSPORT_TEST_UNSET"), undefined);
    } finally {
      delete process.env[name];
    }
    assert.equal(env(name), undefined);
  });

  test("readTextFile() reads UTF-8 text", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dflock-"));
    try {
      const path = join(dir, "token.txt");
      writeFileSync(path, "s3cr\u00e9t\n");
      assert.equal(await readTextFile(path), "s3cr\u00e9t\n");
      await assert.rejects(readTextFile(join(dir, "missing.txt")));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a child process sees its arguments, writes stdout/stderr and exits with a code", async () => {
    const result = await runChild(["io", "b c"]);
    assert.equal(result.stdout, '["io","b c"]\n');
    assert.equal(result.stderr, "to stderr\n");
    assert.equal(result.code, 3);
  });

  test("onSignal() runs the handler on SIGTERM in a child process", async () => {
    let sent = false;
    const result = await runChild(["signal"], (child, stdout) => {
      if (!sent && stdout.includes("ready")) {
        sent = true;
        // process.kill, not child.kill: Deno then reports the signal instead of the exit code.
        if (child.pid !== undefined) process.kill(child.pid, "SIGTERM");
      }
    });
    assert.equal(result.stdout, "ready\ngot SIGTERM\n");
    assert.equal(result.code, 4);
  });
});

/** Runs `_process_child.ts` on the current runtime (its compiled `.js` on Node). */
function runChild(
  childArgs: string[],
  onStdout?: (child: ChildProcess, stdout: string) => void,
): Promise<ChildResult> {
  return runChildScript(new URL("./_process_child.ts", import.meta.url), childArgs, { onStdout });
}
