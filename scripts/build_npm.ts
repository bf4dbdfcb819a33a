/**
 * Builds the npm package in `npm/` from the Deno sources, doing what dnt would:
 *
 * 1. compiles `mod.ts`, `src/` and `tests/` with `tsc -p tsconfig.npm.json` into `npm/esm/`
 *    (ES modules + `.d.ts`; `.ts` import specifiers rewritten to `.js`);
 * 2. writes `npm/package.json` from `deno.json` (name `dflock`, version, `exports` with types
 *    for every subpath, `bin`, `engines`, `files`), and checks that its exports match
 *    `deno.json`'s;
 * 3. copies README.md and LICENSE, and gives the `bin` script a `#!/usr/bin/env node` line and
 *    the executable bit;
 * 4. runs `npm pack --dry-run --json` and fails if the packed file list holds anything a user
 *    does not need (tests, benchmarks, source maps, TypeScript sources, test data) or misses a
 *    needed file (every export target, the bin target, README.md, LICENSE, package.json), or if a
 *    packed module imports a relative path that is not packed; prints the file count and size;
 * 5. runs the test suite with `node --test` against the build (skip with `--no-test`).
 *
 * Usage: `deno run -A scripts/build_npm.ts [version] [--no-test]`. Uses only `node:` builtins,
 * so Bun can run it as well.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, posix, relative } from "node:path";
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

/** Makes the `bin` target runnable as a command: a node shebang and the executable bit. */
function makeExecutable(file: string): void {
  const text = readFileSync(file, "utf8");
  if (!text.startsWith("#!")) writeFileSync(file, `#!/usr/bin/env node\n${text}`);
  chmodSync(file, 0o755);
}

/** Files in the npm package that a user never needs. */
const UNWANTED: readonly RegExp[] = [
  /(^|\/)tests?\//,
  /(^|\/)bench\//,
  /(^|\/)scripts\//,
  /(^|\/)scenarios\//,
  /(^|\/)fixtures\//,
  /(^|\/)\.test-output(\/|$)/,
  /_test\.(js|d\.ts)$/,
  /\.map$/,
  /(?<!\.d)\.ts$/,
  /(^|\/)(deno\.json|deno\.lock|tsconfig[^/]*\.json|package-lock\.json)$/,
];

interface PackedFile {
  path: string;
  size: number;
  mode: number;
}

/** Relative module specifiers in a built `.js` or `.d.ts` file, outside comments. */
function relativeImports(text: string): string[] {
  const found: string[] = [];
  // JSDoc examples mention `.ts` modules; only the code counts.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["'](\.{1,2}\/[^"']+)["']/g;
  for (const match of code.matchAll(pattern)) found.push(match[1]!);
  return found;
}

/**
 * Runs `npm pack --dry-run --json` in `npm/` and checks the packed file list against what the
 * package needs.
 */
function checkPackedFiles(pkg: Record<string, unknown>): void {
  console.log("$ npm pack --dry-run --json (in npm/)");
  const result = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    cwd: outDir,
    encoding: "utf8",
    shell: process.platform === "win32",
  });
  if (result.status !== 0) {
    throw new Error(
      `npm pack --dry-run exited with ${result.status ?? result.signal}:\n` +
        result.stderr,
    );
  }
  const report = JSON.parse(result.stdout) as {
    files: PackedFile[];
    entryCount: number;
    size: number;
    unpackedSize: number;
  }[];
  const packed = report[0];
  if (packed === undefined) throw new Error("npm pack --dry-run reported no package");
  const paths = new Set(packed.files.map((f) => f.path));
  const problems: string[] = [];

  for (const path of paths) {
    if (UNWANTED.some((re) => re.test(path))) problems.push(`packed but not needed: ${path}`);
  }

  const needed = ["package.json", "README.md", "LICENSE"];
  const exports = pkg.exports as Record<string, { types: string; default: string } | string>;
  for (const entry of Object.values(exports)) {
    if (typeof entry === "string") needed.push(entry);
    else needed.push(entry.types, entry.default);
  }
  const bin = pkg.bin as Record<string, string> | undefined;
  for (const target of Object.values(bin ?? {})) needed.push(target);
  for (const file of needed) {
    const path = file.replace(/^\.\//, "");
    if (!paths.has(path)) problems.push(`needed but not packed: ${path}`);
  }
  for (const target of Object.values(bin ?? {})) {
    const path = target.replace(/^\.\//, "");
    const mode = packed.files.find((f) => f.path === path)?.mode ?? 0;
    if ((mode & 0o111) === 0) problems.push(`bin target not executable: ${path}`);
  }

  // Every relative import of a packed module must be packed too.
  for (const path of paths) {
    if (!path.endsWith(".js") && !path.endsWith(".d.ts")) continue;
    const text = readFileSync(join(outDir, path), "utf8");
    for (const specifier of relativeImports(text)) {
      let target = posix.join(posix.dirname(path), specifier);
      // Declarations keep `.ts` specifiers, which TypeScript resolves to the `.d.ts`.
      if (path.endsWith(".d.ts")) target = target.replace(/(?<!\.d)\.[jt]s$/, ".d.ts");
      if (!paths.has(target)) problems.push(`${path} imports ${specifier}, which is not packed`);
    }
  }

  if (problems.length > 0) {
    throw new Error(`npm package file list is wrong:\n  ${problems.join("\n  ")}`);
  }
  const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
  console.log(
    `npm pack: ${packed.entryCount} files, ${kib(packed.size)} packed, ` +
      `${kib(packed.unpackedSize)} unpacked; all ${needed.length} needed files present`,
  );
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
  for (const target of Object.values((pkg.bin ?? {}) as Record<string, string>)) {
    makeExecutable(join(outDir, target));
  }
  checkPackedFiles(pkg);
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
