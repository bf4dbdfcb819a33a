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
 * 5. copies the test data next to the compiled tests, so `node --test npm/esm/tests/...` works;
 * 6. with `--test`, runs the whole test suite with `node --test` against the build (about
 *    2.5 minutes; `scripts/test.sh` does this);
 * 7. with `--pack`, runs `npm pack` and writes `dflock-<version>.tgz` to the checkout's root.
 *    The last line printed is then the absolute path of that file, for
 *    `npm install /path/to/dflock-<version>.tgz` or `bun add /path/to/dflock-<version>.tgz` in
 *    another project (`npm run pack` does this).
 *
 * Usage: `deno run -A scripts/build_npm.ts [version] [--test] [--pack]`. Without flags it only
 * builds and checks. Uses only `node:` builtins, so Bun can run it as well.
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

/** What the command line asks for. */
interface BuildArgs {
  /** The package version; deno.json's when not given. */
  version: string | undefined;
  /** Run the test suite against the build. */
  test: boolean;
  /** Write the package tarball to the checkout's root. */
  pack: boolean;
}

const USAGE = "usage: deno run -A scripts/build_npm.ts [version] [--test] [--pack]";

/** A bad command line: printed without a stack trace, exit status 2. */
class UsageError extends Error {
  override name = "UsageError";
}

/** Parses the arguments; unknown flags are an error that names the accepted ones. */
function parseArgs(args: readonly string[]): BuildArgs {
  const parsed: BuildArgs = { version: undefined, test: false, pack: false };
  for (const arg of args) {
    if (arg === "--test") parsed.test = true;
    else if (arg === "--pack") parsed.pack = true;
    // The build no longer runs the tests by default; the old opt-out is accepted and does nothing.
    else if (arg === "--no-test") continue;
    else if (arg.startsWith("-")) {
      throw new UsageError(
        `unknown flag ${arg}\n${USAGE}\n  --test  run the Node test suite ` +
          `on the build\n  --pack  write dflock-<version>.tgz to the checkout's root`,
      );
    } else if (parsed.version !== undefined) {
      throw new UsageError(`more than one version given (${parsed.version}, ${arg})\n${USAGE}`);
    } else if (!/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/.test(arg)) {
      throw new UsageError(`version ${JSON.stringify(arg)} is not a semver like 1.2.3\n${USAGE}`);
    } else parsed.version = arg;
  }
  return parsed;
}

/**
 * Runs `npm pack` in `npm/`, writing the tarball to the checkout's root.
 *
 * @returns The tarball's absolute path.
 */
function pack(): string {
  console.log(`$ npm pack --pack-destination ${root} (in npm/)`);
  const result = spawnSync(
    "npm",
    ["pack", "--json", "--ignore-scripts", "--pack-destination", root],
    { cwd: outDir, encoding: "utf8", shell: process.platform === "win32" },
  );
  if (result.status !== 0) {
    throw new Error(`npm pack exited with ${result.status ?? result.signal}:\n${result.stderr}`);
  }
  const report = JSON.parse(result.stdout) as { filename: string }[];
  const filename = report[0]?.filename;
  if (filename === undefined) throw new Error("npm pack reported no package");
  const tarball = join(root, filename);
  if (!existsSync(tarball)) {
    throw new Error(`npm pack reported ${filename}, but ${tarball} is missing`);
  }
  return tarball;
}

function main(argv: string[]): void {
  const args = parseArgs(argv);
  const deno = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")) as DenoJson;
  const version = args.version ?? deno.version;

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

  if (args.test) {
    const tests = findTests(join(esmDir, "tests"));
    run("node", ["--test", ...tests]);
  }

  if (args.pack) {
    const tarball = pack();
    console.log(`packed ${pkg.name}@${version}; install it in another project with`);
    console.log(`  npm install ${tarball}    (or: bun add ${tarball})`);
    // Last, alone on its line, for scripts: `npm run --silent pack | tail -n 1`.
    console.log(tarball);
  }
}

try {
  main(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(`build_npm: ${error.message}`);
  process.exit(2);
}
