/**
 * Checks the npm package the way someone outside this repository uses it, from a fresh build:
 *
 * 1. `npm run --silent pack` builds `npm/` and writes `dflock-<version>.tgz`; its last line must be
 *    the tarball's absolute path.
 * 2. `examples/node-typescript/` is copied into a temporary folder, its `dflock` dependency is
 *    pointed at the tarball (as `npm install /path/to/dflock-<version>.tgz` would record it), and
 *    `npm ci --offline` installs the tarball plus the example's devDependencies (TypeScript and
 *    `@types/node`, pinned to this repository's versions, so `npm ci` here already cached them;
 *    without a cache it falls back to `--prefer-offline`). The lockfile for that is written from
 *    this repository's `package-lock.json`.
 * 3. `tsc` compiles the example (strict, no `skipLibCheck`, so dflock's `.d.ts` are checked too),
 *    and `node dist/main.js` must print what the example promises. Bun (`bun main.ts`) and Deno
 *    (`deno run -A main.ts`, reading the same `node_modules`) run the TypeScript source unchanged.
 * 4. Type-check variants that pin down what a consumer needs, run side by side:
 *    - without `@types/node` (`"types": []`): fails, and the only errors are missing globals, of
 *      which dflock's `.d.ts` need just `AbortSignal`, `ReadableStream` and `WritableStream`;
 *    - with `lib: ["DOM"]` instead of `@types/node`: compiles;
 *    - a CommonJS file (`.cts`) importing `dflock` and `dflock/server` inside an async function:
 *      compiles to `require()`, and runs on Node when Node can `require()` ES modules (20.19+,
 *      22.12+); otherwise it must fail with `ERR_REQUIRE_ESM`;
 *    - the example's top-level `await` in a CommonJS file: fails with TS1309 only.
 * 5. The installed `dflock` command: `npx dflock version` and `node_modules/.bin/dflock version`
 *    name Node, `bunx --bun dflock version` names Bun, `deno run -A node_modules/.bin/dflock
 *    version` names Deno; `bunx --bun dflock serve -port 0` serves and `dflock stats --json` (on
 *    Node) reads its stats; SIGTERM stops it with status 0.
 * 6. A Bun project: `bun add /path/to/dflock-<version>.tgz`, then `bun main.ts`.
 *
 * Usage: `deno run -A scripts/check_consumer.ts [--keep]` (`npm run check:consumer`). `--keep`
 * leaves the temporary folder in place and prints its path. Every child process has a time
 * limit. Exits 1 on the first failed check, with what was expected and what came out.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, isAbsolute, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "node_modules", ".bin");
const exampleDir = join(root, "examples", "node-typescript");

/** A check that did not hold: printed without a stack trace. */
class CheckError extends Error {
  override name = "CheckError";
}

/** What a finished child process left. */
interface Finished {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Options for {@linkcode exec} and {@linkcode start}. */
interface ExecOptions {
  /** Working directory. */
  cwd: string;
  /** Kill the process after this many milliseconds. @default {60000} */
  timeoutMs?: number;
}

/** Environment for every child: the repository's toolchain first on PATH, npm kept quiet. */
function childEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("DFLOCK")) env[name] = value;
  }
  env["PATH"] = `${bin}:${env["PATH"] ?? ""}`;
  env["npm_config_update_notifier"] = "false";
  env["npm_config_fund"] = "false";
  env["npm_config_audit"] = "false";
  env["NO_COLOR"] = "1";
  return env;
}

/** A started child process with its output so far and its end. */
interface Started {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  finished: Promise<Finished>;
}

/** Children still running, killed if the check fails while they run. */
const live = new Set<ChildProcess>();

/** Starts `command args` with piped output; it is killed when it outlives `timeoutMs`. */
function start(command: string, args: readonly string[], options: ExecOptions): Started {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: childEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  child.once("close", () => live.delete(child));
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8");
  child.stderr?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => (stdout += chunk));
  child.stderr?.on("data", (chunk: string) => (stderr += chunk));
  const timeoutMs = options.timeoutMs ?? 60_000;
  const finished = new Promise<Finished>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new CheckError(
          `${command} ${args.join(" ")} did not finish within ${timeoutMs} ms\n` +
            `stdout:\n${stdout}\nstderr:\n${stderr}`,
        ),
      );
    }, timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new CheckError(`cannot start ${command}: ${error.message}`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, stdout: () => stdout, stderr: () => stderr, finished };
}

/** Runs `command args` to the end. */
function exec(command: string, args: readonly string[], options: ExecOptions): Promise<Finished> {
  return start(command, args, options).finished;
}

/** Describes a finished command for an error message. */
function describe(what: string, result: Finished): string {
  return `${what} exited with ${result.code ?? result.signal}\n` +
    `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
}

/** Runs a command that must exit 0. */
async function execOk(
  what: string,
  command: string,
  args: readonly string[],
  options: ExecOptions,
): Promise<Finished> {
  const result = await exec(command, args, options);
  if (result.code !== 0) throw new CheckError(describe(what, result));
  return result;
}

/** Fails unless `text` matches every pattern. */
function expectLines(what: string, text: string, patterns: readonly RegExp[]): void {
  const missing = patterns.filter((p) => !p.test(text));
  if (missing.length > 0) {
    throw new CheckError(`${what}: output lacks ${missing.join(", ")}; it was:\n${text}`);
  }
}

let checks = 0;

/** Runs one numbered step, printing its name and duration. */
async function step<T>(name: string, body: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await body();
  checks++;
  console.log(`ok  ${name} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  return result;
}

interface LockEntry {
  version: string;
  resolved?: string;
  integrity?: string;
  license?: string;
  bin?: Record<string, string>;
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
}

interface PackageJson {
  name?: string;
  version?: string;
  type?: string;
  bin?: Record<string, string>;
  engines?: Record<string, string>;
  license?: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, "utf8")) as T;

/**
 * The consumer's lockfile: the tarball plus the devDependencies and what they depend on, with
 * the versions, URLs and integrities of this repository's lockfile, so `npm ci --offline`
 * finds every tarball in the cache that `npm ci` filled here.
 */
function consumerLockfile(
  consumer: PackageJson,
  tarball: string,
  packed: PackageJson,
): Record<string, unknown> {
  const repoLock = readJson<{ packages: Record<string, LockEntry> }>(
    join(root, "package-lock.json"),
  );
  const packages: Record<string, unknown> = {
    "": {
      name: consumer.name,
      dependencies: consumer.dependencies,
      devDependencies: consumer.devDependencies,
    },
    "node_modules/dflock": {
      version: packed.version,
      resolved: `file:${basename(tarball)}`,
      integrity: "sha512-" +
        createHash("sha512").update(readFileSync(tarball)).digest("base64"),
      license: packed.license,
      bin: packed.bin,
      engines: packed.engines,
    },
  };
  const pending = Object.entries(consumer.devDependencies ?? {});
  // Bounded: each name is visited once and the lockfile is finite.
  for (let i = 0; i < pending.length; i++) {
    const [name, wanted] = pending[i]!;
    const key = `node_modules/${name}`;
    if (key in packages) continue;
    const entry = repoLock.packages[key];
    if (entry === undefined) {
      throw new CheckError(
        `the example needs ${name}@${wanted}, which this repository's package-lock.json does ` +
          `not have; pin it in package.json's devDependencies and run npm install`,
      );
    }
    packages[key] = { ...entry, dev: true };
    for (const dep of Object.entries(entry.dependencies ?? {})) pending.push(dep);
  }
  return { name: consumer.name, lockfileVersion: 3, requires: true, packages };
}

/** Parses `file(line,col): error TSnnnn: message` lines of tsc output. */
function tscErrors(output: string): { file: string; code: string; message: string }[] {
  const errors = [];
  for (const match of output.matchAll(/^(.+?)\(\d+,\d+\): error (TS\d+): (.*)$/gm)) {
    errors.push({ file: match[1]!, code: match[2]!, message: match[3]! });
  }
  return errors;
}

/** The CommonJS consumer: dflock loaded with `require()` from an async function. */
const CJS_MAIN = `// A CommonJS consumer: TypeScript compiles these imports to require().
import { DflockClient } from "dflock";
import { serve } from "dflock/server";

async function main(): Promise<void> {
  await using server = await serve({ host: "127.0.0.1", port: 0, log: () => {} });
  await using client = new DflockClient({ servers: [\`127.0.0.1:\${server.addr.port}\`] });
  await using lock = await client.acquireLock("example/commonjs");
  console.log(\`commonjs: holding \${lock.key}\`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
`;

/** The example's output on any runtime. */
const EXAMPLE_OUTPUT: readonly RegExp[] = [
  /^server: listening on 127\.0\.0\.1:[1-9]\d*$/m,
  /^client: holding example\/nightly, fence \d+$/m,
  /^server: held locks: example\/nightly$/m,
  /^server: held locks after release: none$/m,
  /^done$/m,
];

/** `dflock version` run by `runtime`. */
function versionPattern(version: string, runtime: string): RegExp {
  return new RegExp(`^dflock ${version.replaceAll(".", "\\.")} \\(${runtime} \\d+\\.\\d+\\.\\d+; `);
}

async function main(argv: readonly string[]): Promise<void> {
  const unknown = argv.filter((a) => a !== "--keep");
  if (unknown.length > 0) {
    throw new CheckError(
      `unknown argument ${unknown[0]}; usage: deno run -A scripts/check_consumer.ts [--keep]`,
    );
  }
  const keep = argv.includes("--keep");
  const started = performance.now();
  const version = readJson<{ version: string }>(join(root, "deno.json")).version;
  const pinned = readJson<PackageJson>(join(root, "package.json")).devDependencies ?? {};

  const tarball = await step("npm run pack prints the tarball's absolute path", async () => {
    const result = await execOk("npm run --silent pack", "npm", ["run", "--silent", "pack"], {
      cwd: root,
      timeoutMs: 120_000,
    });
    const last = result.stdout.trimEnd().split("\n").at(-1) ?? "";
    if (!isAbsolute(last) || basename(last) !== `dflock-${version}.tgz` || !existsSync(last)) {
      throw new CheckError(
        `npm run pack's last line should be the absolute path of dflock-${version}.tgz, ` +
          `but was ${JSON.stringify(last)}`,
      );
    }
    return last;
  });
  const packed = readJson<PackageJson>(join(root, "npm", "package.json"));

  const dir = mkdtempSync(join(tmpdir(), "dflock-consumer-"));
  try {
    await step("the example installs from the tarball", async () => {
      const example = readJson<PackageJson>(join(exampleDir, "package.json"));
      if (example.type !== "module") {
        throw new CheckError(`${exampleDir}/package.json must say "type": "module"`);
      }
      for (const name of ["typescript", "@types/node"]) {
        if (example.devDependencies?.[name] !== pinned[name]) {
          throw new CheckError(
            `the example's devDependency ${name} is ${example.devDependencies?.[name]}, ` +
              `but this repository pins ${pinned[name]}; keep them equal`,
          );
        }
      }
      if (example.dependencies?.["dflock"] === undefined) {
        throw new CheckError("the example's package.json does not depend on dflock");
      }
      for (const name of readdirSync(exampleDir)) {
        if (["node_modules", "dist", "package-lock.json"].includes(name)) continue;
        cpSync(join(exampleDir, name), join(dir, name), { recursive: true });
      }
      cpSync(tarball, join(dir, basename(tarball)));
      const consumer: PackageJson = {
        ...example,
        dependencies: { ...example.dependencies, dflock: `file:${basename(tarball)}` },
      };
      writeFileSync(join(dir, "package.json"), JSON.stringify(consumer, null, 2) + "\n");
      const lock = consumerLockfile(consumer, tarball, packed);
      writeFileSync(join(dir, "package-lock.json"), JSON.stringify(lock, null, 2) + "\n");
      const offline = await exec("npm", ["ci", "--offline", "--loglevel=error"], { cwd: dir });
      if (offline.code !== 0) {
        console.log(
          "    npm ci --offline failed (typescript or @types/node not in npm's cache; " +
            "run npm ci in this repository); trying --prefer-offline",
        );
        await execOk("npm ci --prefer-offline", "npm", ["ci", "--prefer-offline"], { cwd: dir });
      }
      for (const path of ["node_modules/dflock/package.json", "node_modules/.bin/tsc"]) {
        if (!existsSync(join(dir, path))) throw new CheckError(`npm ci did not install ${path}`);
      }
    });

    const tsc = join(dir, "node_modules", "typescript", "bin", "tsc");
    // The type-check variants run while the example compiles: tsc uses one core each.
    const variant = (name: string, options: Record<string, unknown>, files: string[]) => {
      const config = { extends: "./tsconfig.json", compilerOptions: options, files };
      writeFileSync(join(dir, `tsconfig.${name}.json`), JSON.stringify(config, null, 2));
      return exec("node", [tsc, "-p", `tsconfig.${name}.json`], { cwd: dir });
    };
    writeFileSync(join(dir, "require_main.cts"), CJS_MAIN);
    cpSync(join(dir, "main.ts"), join(dir, "top_level_await.cts"));
    const variants = Promise.all([
      variant("no-types", { types: [], noEmit: true }, ["main.ts"]),
      variant(
        "dom",
        { types: [], lib: ["ES2022", "esnext.disposable", "DOM"], noEmit: true },
        ["main.ts"],
      ),
      // Both CommonJS files in one run; each one's errors are told apart by file name.
      variant("cjs", { outDir: "dist-cjs", skipLibCheck: true }, [
        "require_main.cts",
        "top_level_await.cts",
      ]),
    ]);
    variants.catch(() => {}); // awaited below; a failure before then must not go unhandled

    await step("tsc compiles the example; node runs it", async () => {
      await execOk("tsc -p .", "node", [tsc, "-p", "."], { cwd: dir });
      const run = await execOk("node dist/main.js", "node", ["dist/main.js"], {
        cwd: dir,
        timeoutMs: 20_000,
      });
      expectLines("node dist/main.js", run.stdout, EXAMPLE_OUTPUT);
    });

    await step("type-check variants: no @types/node, DOM, CommonJS", async () => {
      const [noTypes, dom, cjs] = await variants;

      // Without @types/node: only missing globals, and dflock's .d.ts need just three.
      const errors = tscErrors(noTypes.stdout);
      if (noTypes.code === 0 || errors.length === 0) {
        throw new CheckError(describe("tsc without @types/node should fail", noTypes));
      }
      const fromDflock = new Map<string, number>();
      for (const error of errors) {
        const name = /^Cannot find name '([^']+)'/.exec(error.message)?.[1];
        if (!["TS2304", "TS2584"].includes(error.code) || name === undefined) {
          throw new CheckError(
            `without @types/node, an unexpected error: ${JSON.stringify(error)}`,
          );
        }
        if (error.file.startsWith("node_modules/dflock/")) {
          fromDflock.set(name, (fromDflock.get(name) ?? 0) + 1);
        } else if (error.file !== "main.ts" || name !== "console") {
          throw new CheckError(
            `without @types/node, an unexpected error: ${JSON.stringify(error)}`,
          );
        }
      }
      const allowed = ["AbortSignal", "ReadableStream", "WritableStream"];
      const extra = [...fromDflock.keys()].filter((n) => !allowed.includes(n));
      if (!fromDflock.has("AbortSignal") || extra.length > 0) {
        throw new CheckError(
          `dflock's .d.ts should need only ${allowed.join(", ")} from @types/node or DOM; ` +
            `they need ${[...fromDflock.keys()].join(", ")}`,
        );
      }
      const counts = [...fromDflock].map(([name, n]) => `${name} ${n}`).join(", ");
      console.log(`    without @types/node: ${errors.length} errors, in dflock's .d.ts ${counts}`);

      if (dom.code !== 0) {
        throw new CheckError(describe("tsc with lib DOM instead of @types/node", dom));
      }
      console.log("    lib DOM instead of @types/node: compiles");

      // TypeScript 5.8+ with module nodenext compiles imports of ES modules in CommonJS files
      // to require(); top-level await stays an error there (TS1309).
      const cjsErrors = tscErrors(cjs.stdout);
      const tlaErrors = cjsErrors.filter((e) => e.file === "top_level_await.cts");
      if (
        cjs.code === 0 || tlaErrors.length === 0 || tlaErrors.length !== cjsErrors.length ||
        tlaErrors.some((e) => e.code !== "TS1309")
      ) {
        throw new CheckError(
          describe(
            "tsc of the CommonJS files: require_main.cts should compile and " +
              "top_level_await.cts fail with TS1309 only",
            cjs,
          ),
        );
      }
      console.log(`    top-level await in CommonJS: ${tlaErrors.length} x TS1309`);
      const emitted = readFileSync(join(dir, "dist-cjs", "require_main.cjs"), "utf8");
      expectLines("dist-cjs/require_main.cjs", emitted, [
        /require\("dflock"\)/,
        /require\("dflock\/server"\)/,
      ]);
      const features = await execOk("node -p", "node", ["-p", "process.features.require_module"], {
        cwd: dir,
      });
      const nodeVersion = await execOk("node -v", "node", ["-v"], { cwd: dir });
      const run = await exec("node", ["dist-cjs/require_main.cjs"], {
        cwd: dir,
        timeoutMs: 20_000,
      });
      if (features.stdout.trim() === "true") {
        if (run.code !== 0) throw new CheckError(describe("node dist-cjs/require_main.cjs", run));
        expectLines("require_main.cjs", run.stdout, [/^commonjs: holding example\/commonjs$/m]);
        console.log(`    CommonJS require("dflock") on Node ${nodeVersion.stdout.trim()}: works`);
      } else {
        expectLines("require_main.cjs on a Node without require(esm)", run.stderr, [
          /ERR_REQUIRE_ESM/,
        ]);
        console.log(
          `    CommonJS require("dflock") on Node ${nodeVersion.stdout.trim()}: ` +
            "ERR_REQUIRE_ESM, as expected without require(esm)",
        );
      }
    });

    await step("Bun and Deno run the example's main.ts", async () => {
      const bunRun = await execOk("bun main.ts", join(bin, "bun"), ["main.ts"], {
        cwd: dir,
        timeoutMs: 20_000,
      });
      expectLines("bun main.ts", bunRun.stdout, EXAMPLE_OUTPUT);
      const denoRun = await execOk("deno run -A main.ts", join(bin, "deno"), [
        "run",
        "-A",
        "main.ts",
      ], { cwd: dir, timeoutMs: 30_000 });
      expectLines("deno run -A main.ts", denoRun.stdout, EXAMPLE_OUTPUT);
    });

    await step("the installed dflock command says which runtime runs it", async () => {
      const runs: [string, string, string[], string][] = [
        ["npx dflock version", "npx", ["--no", "dflock", "version"], "Node"],
        [
          "node_modules/.bin/dflock version",
          join(dir, "node_modules", ".bin", "dflock"),
          ["version"],
          "Node",
        ],
        ["bunx --bun dflock version", join(bin, "bunx"), ["--bun", "dflock", "version"], "Bun"],
        [
          "deno run -A node_modules/.bin/dflock version",
          join(bin, "deno"),
          ["run", "-A", "node_modules/.bin/dflock", "version"],
          "Deno",
        ],
      ];
      const results = await Promise.all(
        runs.map(([what, command, args]) => execOk(what, command, args, { cwd: dir })),
      );
      for (const [i, [what, , , runtime]] of runs.entries()) {
        const out = results[i]!.stdout;
        expectLines(what, out, [versionPattern(version, runtime)]);
        console.log(`    ${what}: ${out.trim()}`);
      }
    });

    await step("bunx --bun dflock serve serves; dflock stats reads it", async () => {
      const server = start(join(bin, "bunx"), ["--bun", "dflock", "serve", "-port", "0"], {
        cwd: dir,
        timeoutMs: 30_000,
      });
      try {
        const address = await new Promise<string>((resolve, reject) => {
          const check = (): void => {
            const match = /listening on (127\.0\.0\.1:\d+)/.exec(server.stderr());
            if (match !== null) resolve(match[1]!);
          };
          server.child.stderr?.on("data", check);
          server.finished.then(
            (result) => reject(new CheckError(describe("bunx --bun dflock serve", result))),
            reject,
          );
          check();
        });
        const stats = await execOk("dflock stats --json", join(dir, "node_modules/.bin/dflock"), [
          "stats",
          "--json",
          "--server",
          address,
        ], { cwd: dir, timeoutMs: 20_000 });
        const snapshot = JSON.parse(stats.stdout.trim()) as { connections?: unknown };
        if (typeof snapshot.connections !== "number" || snapshot.connections < 1) {
          throw new CheckError(`dflock stats --json printed ${stats.stdout}`);
        }
        // Not child.kill(): Deno's node:child_process then reports the child as killed by the
        // signal even when it caught it and exited 0.
        if (server.child.pid !== undefined) process.kill(server.child.pid, "SIGTERM");
        const result = await server.finished;
        if (result.code !== 0) throw new CheckError(describe("dflock serve after SIGTERM", result));
        console.log(`    served on ${address}; stats saw ${snapshot.connections} connection(s)`);
      } finally {
        if (server.child.exitCode === null && server.child.signalCode === null) {
          server.child.kill("SIGKILL");
        }
        await server.finished.catch(() => {});
      }
    });

    await step("a Bun project: bun add the tarball, bun main.ts", async () => {
      const bunDir = join(dir, "bun-project");
      mkdirSync(bunDir);
      writeFileSync(
        join(bunDir, "package.json"),
        JSON.stringify({ name: "bun-consumer", private: true, type: "module" }, null, 2),
      );
      cpSync(join(exampleDir, "main.ts"), join(bunDir, "main.ts"));
      await execOk("bun add <tarball>", join(bin, "bun"), ["add", tarball], { cwd: bunDir });
      const run = await execOk("bun main.ts", join(bin, "bun"), ["main.ts"], {
        cwd: bunDir,
        timeoutMs: 20_000,
      });
      expectLines("bun main.ts (bun add)", run.stdout, EXAMPLE_OUTPUT);
    });
  } finally {
    if (keep) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`consumer check: all ${checks} steps passed in ${seconds} s`);
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  for (const child of live) child.kill("SIGKILL");
  if (!(error instanceof CheckError)) throw error;
  console.error(`check_consumer: ${error.message}`);
  process.exit(1);
}
