import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { main } from "../../src/cli/main.ts";
import { DFLOCKD_COMPAT, VERSION, versionLine } from "../../src/cli/version.ts";
import { runtimeDescription } from "../../src/runtime/process.ts";
import { runCli } from "../_helpers/cli_process.ts";
import { fakeIo } from "./_fake_io.ts";
import { repoRoot } from "./_repo.ts";

/**
 * The runtime running this test and its version, read from each runtime's own global rather than
 * from `process.versions` (which the code under test reads, and where Deno and Bun also report
 * a Node version).
 */
function expectedRuntime(): string {
  const g = globalThis as {
    Deno?: { version: { deno: string } };
    Bun?: { version: string };
  };
  if (g.Deno !== undefined) return `Deno ${g.Deno.version.deno}`;
  if (g.Bun !== undefined) return `Bun ${g.Bun.version}`;
  return `Node ${process.version.replace(/^v/, "")}`;
}

const expectedLine = (): string =>
  `dflock ${VERSION} (${expectedRuntime()}; dflockd ${DFLOCKD_COMPAT} compatible)\n`;

describe("dflock version", () => {
  test("names the runtime that runs it, with that runtime's version", () => {
    assert.match(runtimeDescription(), /^(Deno|Bun|Node) \d+\.\d+\.\d+/);
    assert.equal(runtimeDescription(), expectedRuntime());
    assert.equal(versionLine(), expectedLine());
  });

  test("VERSION is deno.json's version", () => {
    const deno = JSON.parse(
      readFileSync(join(repoRoot(), "deno.json"), "utf8"),
    ) as {
      version: string;
    };
    assert.equal(VERSION, deno.version);
  });

  test("version, --version, -version and serve --version print the line, exit 0", async () => {
    for (
      const argv of [["version"], ["--version"], ["-version"], [
        "serve",
        "--version",
      ]]
    ) {
      const io = fakeIo();
      assert.equal(await main(argv, { io }), 0, argv.join(" "));
      assert.equal(io.out, expectedLine(), argv.join(" "));
      assert.equal(io.err, "", argv.join(" "));
    }
  });

  test("a real dflock process prints its runtime", async () => {
    // The CLI runs on the same runtime binary as this test.
    const result = await runCli(["version"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, expectedLine());
    assert.equal(result.stderr, "");
  });
});
