/**
 * Pinning `transport/deno` or `transport/bun` loads no `node:` module unless TLS listening is
 * used (then the `node:net` / `node:tls` listener is loaded with a dynamic `import()`), the
 * embeddable server and the client never load `node:child_process` (only the CLI's `run` does),
 * and on Deno the embedded server loads no `node:` module at all.
 *
 * Checked three ways: the static import graph of the sources, walked here on every runtime;
 * the same graph as Deno resolves it (`deno info --json`); and at run time, in child
 * processes where every `node:` module is replaced by one that throws (a Deno import map, and on
 * Node a module resolution hook over the npm build). Bun offers no hook that sees its `node:`
 * modules, so on Bun only the static checks apply.
 *
 * @module
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { denoBinary, repoRoot } from "../cli/_repo.ts";

/** `import` / `export ... from` at the start of a line; group 1: `type`, group 2: specifier. */
const STATIC_FROM =
  /^(?:import|export)\s+(type\s+)?(?:[\w$]+\s*,\s*)?(?:\{[^}]*\}|\*(?:\s+as\s+[\w$]+)?|[\w$]+)\s*from\s*["']([^"']+)["']/gm;
/** `import "specifier";` (for its side effects). */
const STATIC_BARE = /^import\s*["']([^"']+)["']/gm;
/** Comments that start a line (all of this code base's comments that could hold an import). */
const LINE_COMMENTS = /^[ \t]*(?:\/\*[\s\S]*?\*\/|\/\/[^\n]*)/gm;

/**
 * The modules a source file loads when it is evaluated: its static imports and re-exports,
 * without `import type` / `export type` (erased) and without dynamic `import()`.
 */
function staticImports(source: string): string[] {
  const code = source.replace(LINE_COMMENTS, "");
  const found: string[] = [];
  for (const match of code.matchAll(STATIC_FROM)) {
    if (match[1] === undefined) found.push(match[2]!);
  }
  for (const match of code.matchAll(STATIC_BARE)) found.push(match[1]!);
  return found;
}

/**
 * Walks the static import graph from `entry` (a path relative to the checkout).
 *
 * @returns The files reached and the non-relative specifiers (`node:...`) they import, each
 *   with the file that imports it.
 */
function staticGraph(entry: string): { files: Set<string>; external: Map<string, string> } {
  const root = pathToFileURL(`${repoRoot()}/`);
  const files = new Set<string>();
  const external = new Map<string, string>();
  const queue = [new URL(entry, root).href];
  for (let i = 0; i < queue.length && i < 10_000; i++) {
    const url = queue[i]!;
    if (files.has(url)) continue;
    files.add(url);
    for (const specifier of staticImports(readFileSync(new URL(url), "utf8"))) {
      if (specifier.startsWith(".")) queue.push(new URL(specifier, url).href);
      else if (!external.has(specifier)) external.set(specifier, url.slice(root.href.length));
    }
  }
  return {
    files: new Set([...files].map((url) => url.slice(root.href.length))),
    external,
  };
}

function nodeModules(external: Map<string, string>): string[] {
  return [...external].filter(([specifier]) => specifier.startsWith("node:")).map(
    ([specifier, from]) => `${specifier} (imported by ${from})`,
  );
}

/** Runs a command; resolves with its exit status and output. */
function run(
  command: string,
  args: string[],
  cwd?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, timeout: 60_000, encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A throwaway directory for child-process scripts; removed after `fn`. */
async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "dflock-imports-"));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const POISON = 'throw new Error("poisoned: a node: module was loaded");\n';

/** Every `node:` specifier a program could import. */
function nodeSpecifiers(): string[] {
  return builtinModules.filter((name) => !name.startsWith("node:")).map((name) => `node:${name}`);
}

describe("static import graph", () => {
  for (const adapter of ["deno", "bun"]) {
    test(`src/transport/${adapter}.ts loads no node: module`, () => {
      const { files, external } = staticGraph(`src/transport/${adapter}.ts`);
      // The walk reached the shared transport code it builds on.
      assert.ok(files.has("src/transport/_conn.ts"), [...files].join(", "));
      assert.deepEqual(nodeModules(external), []);
      assert.ok(!files.has("src/transport/_node_socket.ts"), "the node: listener is static");
      assert.ok(!files.has("src/transport/node.ts"), "the Node adapter is imported statically");
    });
  }

  test("the walk finds the node: modules of the Node adapter (the check is not blind)", () => {
    const found = nodeModules(staticGraph("src/transport/node.ts").external).join("\n");
    assert.match(found, /^node:net /m);
    assert.match(found, /^node:tls /m);
  });

  for (const entry of ["src/server/mod.ts", "mod.ts"]) {
    test(`${entry} loads no node: module (the Node adapter only with a dynamic import)`, () => {
      const { files, external } = staticGraph(entry);
      assert.ok(files.size > 5, `only ${files.size} files reached`);
      assert.deepEqual(nodeModules(external), []);
    });
  }

  test("the CLI does load node:child_process (for `dflock run`; the check is not blind)", () => {
    assert.equal(
      staticGraph("src/cli/main.ts").external.get("node:child_process"),
      "src/runtime/child.ts",
    );
  });
});

describe("import graph as Deno resolves it (deno info)", () => {
  for (const adapter of ["deno", "bun"]) {
    test(`src/transport/${adapter}.ts: node: modules only behind a dynamic import`, async (t) => {
      const deno = denoBinary();
      if (deno === undefined) {
        t.skip("no Deno binary");
        return;
      }
      const entry = join(repoRoot(), "src", "transport", `${adapter}.ts`);
      const result = await run(deno, ["info", "--json", "--no-config", entry], repoRoot());
      assert.equal(result.code, 0, result.stderr);
      interface Dependency {
        specifier: string;
        code?: { specifier?: string };
        isDynamic?: boolean;
      }
      const graph = JSON.parse(result.stdout) as {
        roots: string[];
        modules: { specifier: string; dependencies?: Dependency[] }[];
      };
      const modules = new Map(graph.modules.map((m) => [m.specifier, m]));
      /** Modules reached from the root, following code imports (dynamic ones only if asked). */
      const reach = (dynamic: boolean): Set<string> => {
        const seen = new Set<string>();
        const queue = [...graph.roots];
        for (let i = 0; i < queue.length && i < 10_000; i++) {
          const specifier = queue[i]!;
          if (seen.has(specifier)) continue;
          seen.add(specifier);
          for (const dep of modules.get(specifier)?.dependencies ?? []) {
            const target = dep.code?.specifier;
            if (target !== undefined && (dynamic || dep.isDynamic !== true)) queue.push(target);
          }
        }
        return seen;
      };
      const isNode = (specifier: string): boolean => specifier.startsWith("node:");
      assert.deepEqual([...reach(false)].filter(isNode), []);
      // With the dynamic import followed, the TLS listener's node:tls is there.
      assert.ok(reach(true).has("node:tls"), "node:tls behind the dynamic import");
    });
  }
});

describe("run time: every node: module replaced by one that throws", () => {
  test("Deno: the Deno adapter serves plain TCP; only TLS listening loads node:", async (t) => {
    const deno = denoBinary();
    if (deno === undefined) {
      t.skip("no Deno binary");
      return;
    }
    await withTempDir(async (dir) => {
      writeFileSync(join(dir, "poison.js"), POISON);
      const imports = Object.fromEntries(nodeSpecifiers().map((s) => [s, "./poison.js"]));
      writeFileSync(join(dir, "import_map.json"), JSON.stringify({ imports }));
      writeFileSync(
        join(dir, "child.js"),
        `
const { denoAdapter } = await import(Deno.args[0]);
const listener = await denoAdapter.listen({ hostname: "127.0.0.1", port: 0 });
const accepted = listener[Symbol.asyncIterator]().next();
const client = await denoAdapter.connect({ hostname: "127.0.0.1", port: listener.addr.port });
const server = (await accepted).value;
const writer = client.writable.getWriter();
await writer.write(new TextEncoder().encode("ping"));
writer.releaseLock();
const { value } = await server.readable.getReader().read();
console.log("plain: " + new TextDecoder().decode(value));
await client.close();
await server.close();
await listener.close();
const tls = { cert: Deno.readTextFileSync(Deno.args[1]), key: Deno.readTextFileSync(Deno.args[2]) };
try {
  const secure = await denoAdapter.listen({ hostname: "127.0.0.1", port: 0, tls });
  console.log("tls: listening");
  await secure.close();
} catch (err) {
  console.log("tls: " + err.message);
}
`,
      );
      const fixtures = join(repoRoot(), "tests", "transport", "fixtures");
      const result = await run(deno, [
        "run",
        "--no-config",
        "--no-lock",
        "--import-map=import_map.json",
        "--allow-net=127.0.0.1",
        "--allow-read",
        "child.js",
        pathToFileURL(join(repoRoot(), "src", "transport", "deno.ts")).href,
        join(fixtures, "cert.pem"),
        join(fixtures, "key.pem"),
      ], dir);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(
        result.stdout,
        "plain: ping\ntls: poisoned: a node: module was loaded\n",
        result.stderr,
      );
    });
  });

  test("Deno: the embedded server (default logger, a token file) loads no node: module", async (t) => {
    // On Deno any node: module brings in its Node compatibility layer: about 12 MiB of memory.
    const deno = denoBinary();
    if (deno === undefined) {
      t.skip("no Deno binary");
      return;
    }
    await withTempDir(async (dir) => {
      writeFileSync(join(dir, "poison.js"), POISON);
      const imports = Object.fromEntries(nodeSpecifiers().map((s) => [s, "./poison.js"]));
      writeFileSync(join(dir, "import_map.json"), JSON.stringify({ imports }));
      writeFileSync(join(dir, "token.txt"), "s3cret\n");
      writeFileSync(
        join(dir, "child.js"),
        `
const { serve } = await import(Deno.args[0]);
const { connect, openChannel } = await import(Deno.args[1]);
const server = await serve({ host: "127.0.0.1", port: 0, authTokenFile: "token.txt" });
const transport = await connect({ hostname: "127.0.0.1", port: server.addr.port });
const channel = openChannel(transport);
await channel.write(new TextEncoder().encode("auth\\n_\\ns3cret\\nl\\nk\\n0\\n"));
let text = "";
while (text.split("\\n").length < 3) text += new TextDecoder().decode(await channel.read());
console.log("server: " + text.split("\\n").map((line) => line.split(" ")[0]).join(" "));
await transport.close();
await server.close();
`,
      );
      const result = await run(deno, [
        "run",
        "--no-config",
        "--no-lock",
        "--import-map=import_map.json",
        "--allow-net=127.0.0.1",
        "--allow-read",
        "child.js",
        pathToFileURL(join(repoRoot(), "src", "server", "mod.ts")).href,
        pathToFileURL(join(repoRoot(), "src", "transport", "mod.ts")).href,
      ], dir);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "server: ok ok \n", result.stderr);
    });
  });

  test("Node (npm build): transport/deno and transport/bun load; TLS listening loads node:", async (t) => {
    const built = (name: string): URL => new URL(`../../src/transport/${name}.js`, import.meta.url);
    if (!existsSync(built("deno")) || !existsSync(built("bun"))) {
      t.skip("runs on Node, over the npm build");
      return;
    }
    await withTempDir(async (dir) => {
      writeFileSync(
        join(dir, "hooks.mjs"),
        `export async function resolve(specifier, context, next) {
  if (specifier.startsWith("node:")) throw new Error("poisoned: " + specifier + " was loaded");
  return next(specifier, context);
}
`,
      );
      writeFileSync(
        join(dir, "register.mjs"),
        `import { register } from "node:module";
register("./hooks.mjs", import.meta.url);
`,
      );
      writeFileSync(
        join(dir, "child.mjs"),
        `
const { denoAdapter } = await import(process.argv[2]);
const { bunAdapter } = await import(process.argv[3]);
console.log("imported: " + denoAdapter.runtime + " " + bunAdapter.runtime);
const tls = { cert: "-----BEGIN CERTIFICATE-----", key: "-----BEGIN PRIVATE KEY-----" };
try {
  await bunAdapter.listen({ hostname: "127.0.0.1", port: 0, tls });
  console.log("tls: listening");
} catch (err) {
  console.log("tls: " + err.message);
}
`,
      );
      const result = await run(process.execPath, [
        "--import",
        pathToFileURL(join(dir, "register.mjs")).href,
        join(dir, "child.mjs"),
        built("deno").href,
        built("bun").href,
      ], dir);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(
        result.stdout,
        "imported: deno bun\ntls: poisoned: node:net was loaded\n",
        result.stderr,
      );
    });
  });
});
