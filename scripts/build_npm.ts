/**
 * Builds the npm package in `npm/` from the Deno sources, doing what dnt would:
 *
 * 1. compiles `mod.ts`, `src/` and `tests/` with `tsc -p tsconfig.npm.json` into `npm/esm/`
 *    (ES modules + `.d.ts`; `.ts` import specifiers rewritten to `.js`);
 * 2. writes `npm/package.json` from `deno.json` (name `dflock`, version, `exports` with types
 *    for every subpath, `bin`, `engines`, `files`), and checks that its exports match
 *    `deno.json`'s;
 * 3. copies README.md and LICENSE;
 * 4. runs the test suite with `node --test` against the build (skip with `--no-test`).
 *
 * Usage: `deno run -A scripts/build_npm.ts [version] [--no-test]`. Uses only `node:` builtins,
 * so Bun can run it as well.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "npm");
const esmDir = join(outDir, "esm");

interface DenoJson {
  name: string;
  version: string;
  license: string;
  exports: Record<string, string>;
}

function run(command: string, args: string[]): void {
  console.log(`$ ${command} ${args.join(" ")}`);
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit" });
  if (result.status !== 0) {
    throw new Error(`${command} exited with ${result.status ?? result.signal}`);
  }
}

/** `./src/server/mod.ts` -> `./esm/src/server/mod` (no extension). */
function builtPath(source: string): string {
  return "./esm/" + source.replace(/^\.\//, "").replace(/\.ts$/, "");
}

/** The subpath name npm users import: `.` stays, `./cli` stays. */
function packageExports(denoExports: Record<string, string>): Record<string, unknown> {
  const exports: Record<string, unknown> = {};
  for (const [subpath, source] of Object.entries(denoExports)) {
    const base = builtPath(source);
    exports[subpath] = { types: `${base}.d.ts`, default: `${base}.js` };
  }
  exports["./package.json"] = "./package.json";
  return exports;
}

/** Every built file an export needs must exist. */
function checkExports(denoExports: Record<string, string>, pkg: Record<string, unknown>): void {
  const built = pkg.exports as Record<string, { types: string; default: string } | string>;
  const npmSubpaths = Object.keys(built).filter((k) => k !== "./package.json").sort();
  const denoSubpaths = Object.keys(denoExports).sort();
  if (JSON.stringify(npmSubpaths) !== JSON.stringify(denoSubpaths)) {
    throw new Error(`npm exports ${npmSubpaths} differ from deno.json exports ${denoSubpaths}`);
  }
  for (const subpath of npmSubpaths) {
    const entry = built[subpath] as { types: string; default: string };
    for (const file of [entry.types, entry.default]) {
      if (!existsSync(join(outDir, file))) {
        throw new Error(`export ${subpath}: ${file} was not built`);
      }
    }
  }
}

function findTests(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith("_test.js")) found.push(relative(root, path));
  }
  return found.sort();
}

function main(args: string[]): void {
  const deno = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")) as DenoJson;
  const version = args.find((a) => !a.startsWith("--")) ?? deno.version;
  const skipTests = args.includes("--no-test");

  rmSync(outDir, { recursive: true, force: true });
  run(join(root, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.npm.json"]);

  const cli = deno.exports["./cli"];
  const pkg: Record<string, unknown> = {
    name: "dflock",
    version,
    description:
      "Distributed locks and semaphores for Deno, Bun and Node over the dflockd protocol, " +
      "with an embeddable wire-compatible dflockd server",
    license: deno.license,
    repository: { type: "git", url: "git+https://github.com/dflock/dflock.git" },
    keywords: ["lock", "distributed-lock", "mutex", "semaphore", "dflockd", "lease", "deno", "bun"],
    type: "module",
    main: "./esm/mod.js",
    types: "./esm/mod.d.ts",
    exports: packageExports(deno.exports),
    bin: cli ? { dflock: `${builtPath(cli)}.js` } : undefined,
    engines: { node: ">=20" },
    sideEffects: false,
    files: ["esm/mod.js", "esm/mod.d.ts", "esm/src/", "README.md", "LICENSE"],
  };
  checkExports(deno.exports, pkg);
  writeFileSync(join(outDir, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
  for (const file of ["README.md", "LICENSE"]) {
    if (existsSync(join(root, file))) cpSync(join(root, file), join(outDir, file));
  }
  console.log(`built ${pkg.name}@${version} in ${relative(root, outDir)}/`);

  // Test data the compiled tests read next to themselves.
  for (const dir of ["conformance/scenarios", "conformance/fixtures", "transport/fixtures"]) {
    cpSync(join(root, "tests", dir), join(esmDir, "tests", dir), { recursive: true });
  }

  if (!skipTests) {
    const tests = findTests(join(esmDir, "tests"));
    run("node", ["--test", ...tests]);
  }
}

main(process.argv.slice(2));
