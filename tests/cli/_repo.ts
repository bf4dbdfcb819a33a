/**
 * Test helper: the checkout's root directory (the one with deno.json and src/cli/main.ts), from
 * the tests' sources and from their compiled copy under npm/esm/tests/, and the Deno binary
 * (this one under Deno, else the checkout's node_modules/.bin/deno).
 *
 * @module
 */

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { detectRuntime } from "../../src/transport/auto.ts";

/**
 * The checkout's root: the nearest ancestor of this file with deno.json and src/cli/main.ts.
 *
 * @returns The absolute path.
 */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 12; i++) {
    if (existsSync(join(dir, "deno.json")) && existsSync(join(dir, "src", "cli", "main.ts"))) {
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`no checkout root above ${fileURLToPath(import.meta.url)}`);
}

/**
 * A Deno executable: the running one under Deno, else the checkout's devDependency.
 *
 * @returns Its path, or `undefined` when there is none.
 */
export function denoBinary(): string | undefined {
  if (detectRuntime() === "deno") return process.execPath;
  const path = join(repoRoot(), "node_modules", ".bin", "deno");
  return existsSync(path) ? path : undefined;
}
