/**
 * Nothing keeps a finished script alive: a script that released its locks (or whose acquire
 * returned false) exits at once, on the runtime running the tests, although its client and
 * its pooled connections were never closed.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DflockClient } from "../../mod.ts";
import { withServer } from "./_lease_helpers.ts";
import { type ChildResult, runChildScript } from "../_helpers/child_script.ts";

interface Exit extends ChildResult {
  /** Milliseconds from the child's "done" line to its exit. */
  afterDoneMs: number;
}

/** Runs `_exit_child.ts` on the current runtime and times its exit after "done". */
async function runChild(mode: string, address: string): Promise<Exit> {
  let doneAt = Infinity;
  const r = await runChildScript(
    new URL("./_exit_child.ts", import.meta.url),
    [mode, address],
    {
      onStdout: (_child, stdout) => {
        if (doneAt === Infinity && stdout.includes("done")) doneAt = performance.now();
      },
      timeoutMs: 30_000,
    },
  );
  return { ...r, afterDoneMs: performance.now() - doneAt };
}

describe("a finished script exits", () => {
  for (const mode of ["client", "standalone", "lockapi"]) {
    test(`within 1 s of its last release (${mode}), its connections never closed`, async () => {
      await withServer({}, async (server, address) => {
        const r = await runChild(mode, address);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(r.afterDoneMs < 1000, `exited ${r.afterDoneMs.toFixed(0)} ms after "done"`);
        if (mode === "client") {
          // It did pool: one shared connection and one idle waiter connection.
          assert.match(r.stdout, /"open":2/);
          assert.match(r.stdout, /"opened":2/);
        }
        assert.equal(server.stats().locks.filter((l) => l.key.startsWith("exit:")).length, 0);
      });
    });
  }

  test("at once when acquire() returned false", async () => {
    await withServer({}, async (_server, address) => {
      await using client = new DflockClient({ servers: [address] });
      await using _held = await client.acquireLock("exit:held");
      const r = await runChild("false", address);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.afterDoneMs < 1000, `exited ${r.afterDoneMs.toFixed(0)} ms after "done"`);
    });
  });
});
