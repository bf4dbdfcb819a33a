/**
 * Keeps the documentation honest: the README's set-up commands and pinned versions, the import
 * map its examples are type-checked with, and the changelog's version.
 *
 * @module
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { repoRoot } from "../cli/_repo.ts";

const root = repoRoot();
const read = (path: string): string => readFileSync(join(root, path), "utf8");
const readme = read("README.md");

describe("README", () => {
  test("gives the two set-up commands exactly", () => {
    assert.match(readme, /^npm ci && npm start$/m);
    assert.match(readme, /^npm ci && npm test$/m);
    const pkg = JSON.parse(read("package.json")) as { scripts: Record<string, string> };
    assert.match(pkg.scripts["start"] ?? "", / demo$/);
    assert.equal(pkg.scripts["test"], "bash scripts/test.sh");
  });

  test("names the toolchain versions pinned in package.json", () => {
    const pkg = JSON.parse(read("package.json")) as { devDependencies: Record<string, string> };
    for (const tool of ["deno", "bun"]) {
      const version = pkg.devDependencies[tool];
      assert.ok(version, `${tool} is not pinned`);
      assert.ok(readme.includes(`\`${tool}\` ${version}`), `README lacks "${tool} ${version}"`);
    }
  });

  test("names every dflock subcommand the CLI offers", () => {
    for (const command of ["serve", "stats", "run", "ping", "demo", "version"]) {
      assert.ok(readme.includes(`\`dflock ${command}`), `README lacks dflock ${command}`);
    }
  });

  test("shows the example Node + TypeScript project's tsconfig.json as it is", () => {
    const blocks = [...readme.matchAll(/^```json\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? "");
    const shown = blocks.map((b) => JSON.parse(b) as Record<string, unknown>)
      .find((b) => "compilerOptions" in b);
    assert.ok(shown, "README has no tsconfig.json block");
    const example = JSON.parse(read("examples/node-typescript/tsconfig.json"));
    assert.deepEqual(shown, example);
  });

  test("keeps TypeScript examples checkable (no `ts ignore` fences)", () => {
    const fences = readme.match(/^```ts.*$/gm) ?? [];
    assert.ok(fences.length >= 8, `only ${fences.length} TypeScript examples`);
    assert.deepEqual(fences.filter((f) => f !== "```ts"), []);
  });
});

describe("README import map", () => {
  test("maps the npm name of every deno.json export to its source file", () => {
    const deno = JSON.parse(read("deno.json")) as { exports: Record<string, string> };
    const mapPath = "tests/docs/readme_import_map.json";
    const map = JSON.parse(read(mapPath)) as { imports: Record<string, string> };
    const expected: Record<string, string> = {};
    for (const [subpath, source] of Object.entries(deno.exports)) {
      expected[subpath === "." ? "dflock" : `dflock/${subpath.slice(2)}`] = resolve(root, source);
    }
    const actual: Record<string, string> = {};
    for (const [specifier, target] of Object.entries(map.imports)) {
      actual[specifier] = resolve(root, dirname(mapPath), target);
    }
    assert.deepEqual(actual, expected);
  });
});

describe("CHANGELOG", () => {
  test("has an Unreleased section naming deno.json's version", () => {
    const changelog = read("CHANGELOG.md");
    const deno = JSON.parse(read("deno.json")) as { version: string };
    assert.match(changelog, /^## \[Unreleased\]$/m);
    assert.ok(
      changelog.includes(`released as ${deno.version}`) ||
        changelog.includes(`## [${deno.version}]`),
      `CHANGELOG does not mention ${deno.version}`,
    );
  });
});
