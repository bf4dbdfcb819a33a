/**
 * Layering: nothing under src/server/ imports from src/cli/ (statically, as a type, or with a
 * dynamic `import()`), so that the embeddable server never depends on command-line code.
 *
 * @module
 */

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { describe, test } from "node:test";
import { repoRoot } from "../cli/_repo.ts";

/** Every module specifier in `source`: `from "x"`, `import "x"` and `import("x")`. */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g;

/** The `.ts` files under `dir`, recursively (at most 1,000). */
function sourceFiles(dir: string): string[] {
  const found: string[] = [];
  const queue = [dir];
  for (let i = 0; i < queue.length && found.length < 1000; i++) {
    for (const entry of readdirSync(queue[i]!, { withFileTypes: true })) {
      const path = join(queue[i]!, entry.name);
      if (entry.isDirectory()) queue.push(path);
      else if (entry.name.endsWith(".ts")) found.push(path);
    }
  }
  return found;
}

/**
 * The imports of `source` (the file at `path`) that resolve into `forbidden`.
 *
 * @returns Each as `specifier`.
 */
function importsInto(source: string, path: string, forbidden: string): string[] {
  const out: string[] = [];
  for (const match of source.matchAll(SPECIFIER)) {
    const specifier = match[1]!;
    if (!specifier.startsWith(".")) continue;
    const target = resolve(dirname(path), specifier);
    if (target === forbidden || target.startsWith(forbidden + sep)) out.push(specifier);
  }
  return out;
}

describe("layers", () => {
  const root = repoRoot();
  const server = join(root, "src", "server");
  const cli = join(root, "src", "cli");

  test("the check sees value, type and dynamic imports of src/cli/", () => {
    const path = join(server, "example.ts");
    const source = [
      'import { parseGoFlags } from "../cli/go_flag.ts";',
      'import type { CliIo } from "../cli/io.ts";',
      'const m = await import("../cli/main.ts");',
      'export { x } from "./settings.ts";',
      'import "../protocol/stats.ts";',
    ].join("\n");
    assert.deepEqual(importsInto(source, path, cli), [
      "../cli/go_flag.ts",
      "../cli/io.ts",
      "../cli/main.ts",
    ]);
  });

  test("nothing under src/server/ imports from src/cli/", () => {
    const files = sourceFiles(server);
    const names = files.map((file) => relative(root, file).split(sep).join("/"));
    assert.ok(names.includes("src/server/settings.ts"), names.join(", "));
    assert.ok(names.includes("src/server/server.ts"), names.join(", "));
    const offending = files.flatMap((file) =>
      importsInto(readFileSync(file, "utf8"), file, cli).map((specifier) =>
        `${relative(root, file)}: ${specifier}`
      )
    );
    assert.deepEqual(offending, []);
  });
});
