/**
 * Nothing keeps a finished script alive: a script that released its locks (or whose acquire
 * returned false) exits at once, on the runtime running the tests, although its client and
 * its pooled connections were never closed.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { DflockClient } from "../../mod.ts";
import { withServer } from "./_lease_helpers.ts";

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Milliseconds from the child's "done" line to its exit. */
  afterDoneMs: number;
}

/** Runs `_exit_child.ts` on the current runtime (its compiled `.js` on Node). */
function runChild(mode: string, address: string): Promise<Exit> {
  const source = fileURLToPath(new URL("./_exit_child.ts", import.meta.url));
  const script = existsSync(source) ? source : source.replace(/\.ts$/, ".js");
  const argv = "Deno" in globalThis ? ["run", "-A", script] : [script];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...argv, mode, address], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    let stdout = "";
    let stderr = "";
    let doneAt = Infinity;
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      stdout += text;
      if (doneAt === Infinity && stdout.includes("done")) doneAt = performance.now();
    });
    child.stderr.setEncoding("utf8").on("data", (text: string) => stderr += text);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, afterDoneMs: performance.now() - doneAt });
    });
  });
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
