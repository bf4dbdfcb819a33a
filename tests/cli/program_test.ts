import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { describeProgram, type Launch } from "../../src/cli/_program.ts";
import { commandLine, processIo } from "../../src/cli/io.ts";
import { fakeIo } from "./_fake_io.ts";
import { startDflock } from "./_client_process.ts";
import { repoRoot } from "./_repo.ts";

/** A checkout at /p run with deno on the PATH; `over` changes any part. */
function launch(over: Partial<Launch> = {}): Launch {
  return {
    runtime: "deno",
    execPath: "/usr/local/bin/deno",
    execOnPath: true,
    script: "/p/src/cli/main.ts",
    scriptOnPath: false,
    cwd: "/p",
    env: {},
    ...over,
  };
}

/** Runs a command line with `sh -c` (as a user would type it), like startDflock's env. */
function shell(
  line: string,
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("DFLOCK") && !name.startsWith("npm_")) {
      env[name] = value;
    }
  }
  const child = spawn("sh", ["-c", line], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${line} did not finish within 60 s:\n${stderr}`));
    }, 60_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("how dflock names itself in hints", () => {
  test("a checkout: the runtime, its flags and the script relative to the working directory", () => {
    assert.equal(describeProgram(launch()).program, "deno run -A src/cli/main.ts");
    assert.equal(describeProgram(launch({ cwd: "/p/src" })).program, "deno run -A cli/main.ts");
    assert.equal(
      describeProgram(launch({ cwd: "/elsewhere" })).program,
      "deno run -A /p/src/cli/main.ts",
    );
    assert.equal(
      describeProgram(launch({ runtime: "bun", execPath: "/home/me/.bun/bin/bun" })).program,
      "bun src/cli/main.ts",
    );
    assert.equal(
      describeProgram(
        launch({
          runtime: "node",
          execPath: "/usr/bin/node",
          script: "/p/npm/esm/src/cli/main.js",
        }),
      ).program,
      "node npm/esm/src/cli/main.js",
    );
  });

  test("a runtime from the project's node_modules (npm ci) runs through npx", () => {
    const local = { execPath: "/p/node_modules/deno/deno", execOnPath: false };
    assert.equal(describeProgram(launch(local)).program, "npx deno run -A src/cli/main.ts");
    assert.equal(
      describeProgram(launch({ ...local, cwd: "/p/docs" })).program,
      "npx deno run -A /p/src/cli/main.ts",
    );
    const bun = { runtime: "bun" as const, execPath: "/p/node_modules/bun/bin/bun.exe" };
    assert.equal(
      describeProgram(launch({ ...bun, execOnPath: false })).program,
      "npx bun src/cli/main.ts",
    );
    // Outside the project npx would not find it: the executable's own path.
    assert.equal(
      describeProgram(launch({ ...local, script: "/q/main.ts", cwd: "/q" })).program,
      "/p/node_modules/deno/deno run -A main.ts",
    );
  });

  test("a runtime that is not on the PATH is named by its path; an unknown PATH by its name", () => {
    const off = { execPath: "/opt/deno-2/deno", execOnPath: false };
    assert.equal(describeProgram(launch(off)).program, "/opt/deno-2/deno run -A src/cli/main.ts");
    assert.equal(
      describeProgram(launch({ ...off, execOnPath: undefined })).program,
      "deno run -A src/cli/main.ts",
    );
    assert.equal(
      describeProgram(launch({ execPath: "/opt/my deno/deno", execOnPath: false })).program,
      "'/opt/my deno/deno' run -A src/cli/main.ts",
    );
  });

  test("the npm bin: dflock on the PATH, its path otherwise, npx and bunx as such", () => {
    const bin = { runtime: "node" as const, execPath: "/usr/bin/node" };
    assert.equal(
      describeProgram(launch({ ...bin, script: "/usr/local/bin/dflock", scriptOnPath: true }))
        .program,
      "dflock",
    );
    assert.equal(
      describeProgram(
        launch({ ...bin, script: "/p/node_modules/.bin/dflock", scriptOnPath: false }),
      )
        .program,
      "node_modules/.bin/dflock",
    );
    assert.equal(
      describeProgram(launch({ ...bin, script: "/p/dflock", scriptOnPath: false })).program,
      "./dflock",
    );
    const cached = "/root/.npm/_npx/1a2b/node_modules/.bin/dflock";
    assert.equal(
      describeProgram(
        launch({
          ...bin,
          script: cached,
          scriptOnPath: false,
          env: { npm_lifecycle_event: "npx" },
        }),
      ).program,
      "npx dflock",
    );
    assert.equal(
      describeProgram(
        launch({
          ...bin,
          script: cached,
          scriptOnPath: false,
          env: { npm_lifecycle_event: "bunx" },
        }),
      ).program,
      "bunx dflock",
    );
  });

  test("another program calling main() gets plain dflock, not its own command line", () => {
    assert.equal(describeProgram(launch({ script: "/p/tools/app.ts" })).program, "dflock");
    assert.equal(describeProgram(launch({ script: undefined })).program, "dflock");
  });

  test("deno run jsr:@dflock/dflock/cli names the JSR module", () => {
    const script = "https://jsr.io/@dflock/dflock/0.1.0/src/cli/main.ts";
    assert.equal(describeProgram(launch({ script })).program, "deno run -A jsr:@dflock/dflock/cli");
  });

  test("npm start: the package scripts that run a subcommand, paths from INIT_CWD", () => {
    const scripts = {
      start: "deno run -A src/cli/main.ts demo",
      test: "bash scripts/test.sh",
      serve: "deno run -A src/cli/main.ts serve",
      "serve:tls": "deno run -A src/cli/main.ts serve --tls-cert c.pem",
      build: "deno run -A scripts/build_npm.ts",
    };
    const started = launch({
      execPath: "/p/node_modules/deno/deno",
      execOnPath: false,
      env: {
        npm_lifecycle_event: "start",
        npm_config_user_agent: "npm/10.8.2 node/v20.19.0 linux x64 workspaces/false",
        INIT_CWD: "/p/src",
      },
      scripts,
    });
    const found = describeProgram(started);
    assert.deepEqual(found.commands, { demo: "npm start --", serve: "npm run serve --" });
    assert.equal(found.program, "npx deno run -A cli/main.ts");
    // npm puts node_modules/.bin on the script's PATH, not on the user's.
    assert.equal(describeProgram({ ...started, execOnPath: true }).program, found.program);
    const io = fakeIo({}, {}, { program: found.program, commands: found.commands });
    assert.equal(commandLine(io, "serve"), "npm run serve --");
    assert.equal(commandLine(io, "stats"), "npx deno run -A cli/main.ts stats");

    // bun run start: bun's own runner; the user's directory is npm_config_local_prefix.
    const bun = describeProgram({
      ...started,
      env: {
        npm_lifecycle_event: "start",
        npm_config_user_agent: "bun/1.4.5 npm/? node/v24.3.0 linux x64",
        npm_config_local_prefix: "/p",
      },
    });
    assert.deepEqual(bun.commands, { demo: "bun run start --", serve: "bun run serve --" });
    assert.equal(bun.program, "bunx deno run -A src/cli/main.ts");

    // A script that is not ours, or no scripts: no commands.
    assert.deepEqual(describeProgram({ ...started, scripts: { start: "node x.js" } }).commands, {});
    assert.deepEqual(describeProgram({ ...started, scripts: undefined }).commands, {});

    // Started further down by another script (a test run by `npm test`): npm's variables are
    // inherited, but the paths are relative to our own working directory, not to INIT_CWD.
    const grandchild = describeProgram({
      ...started,
      env: { ...started.env, npm_lifecycle_event: "test", INIT_CWD: "/p" },
      cwd: "/p/src",
    });
    assert.deepEqual(grandchild.commands, {});
    assert.equal(grandchild.program, "npx deno run -A cli/main.ts");
  });

  test("commandLine without a program is plain dflock", () => {
    assert.equal(commandLine(fakeIo(), "serve"), "dflock serve");
    assert.equal(commandLine(fakeIo({}, {}, { program: "npx dflock" }), "ping"), "npx dflock ping");
  });

  test("processIo().env reads single variables and lists none", () => {
    const name = "DFLOCK_PROGRAM_TEST_VAR";
    process.env[name] = "v1";
    try {
      const env = processIo().env;
      assert.equal(env[name], "v1");
      assert.equal(name in env, true);
      assert.equal(env.DFLOCK_PROGRAM_TEST_UNSET, undefined);
      assert.deepEqual(Object.keys(env), []);
      // Protocol probes are not variable lookups.
      assert.equal((env as Record<string, unknown>).then, undefined);
      assert.equal(JSON.stringify(env), "{}");
    } finally {
      delete process.env[name];
    }
  });

  test("the demo's last hint works where the demo was started", async () => {
    const root = repoRoot();
    const demo = startDflock(["demo"], {}, { cwd: root });
    const exit = await demo.finish(40_000);
    assert.equal(exit.code, 0, demo.stderr());
    const hint = /Next: (.+)\n$/.exec(demo.stdout())?.[1];
    assert.ok(hint !== undefined, demo.stdout());
    assert.match(hint, / serve --help$/);
    assert.doesNotMatch(hint, /^dflock /, "a checkout has no dflock command");
    const r = await shell(hint, root);
    assert.equal(r.code, 0, `${hint}\n${r.stderr}`);
    assert.match(r.stdout, /^Usage: .*serve/, hint);
  });

  test("a usage error's hint works from a subdirectory", async () => {
    const dir = join(repoRoot(), "src");
    const bad = startDflock(["stats", "--bogus"], {}, { cwd: dir });
    assert.equal((await bad.finish()).code, 2);
    const hint = /^Run "(.+)" for usage\.\n$/m.exec(bad.stderr())?.[1];
    assert.ok(hint !== undefined, bad.stderr());
    assert.match(hint, / stats --help$/);
    const r = await shell(hint, dir);
    assert.equal(r.code, 0, `${hint}\n${r.stderr}`);
    assert.match(r.stdout, /^Usage: dflock stats/, hint);
  });

  test("npm start: the demo's hint is the package's serve script, and it works", async (t) => {
    const root = repoRoot();
    const which = await shell("command -v npm", root);
    if (which.code !== 0) {
      t.skip("npm is not installed");
      return;
    }
    const start = await shell("npm start --silent", root);
    assert.equal(start.code, 0, start.stderr);
    const hint = /Next: (.+)\n$/.exec(start.stdout)?.[1];
    assert.equal(hint, "npm run serve -- --help", start.stdout);
    const r = await shell(`${hint}`, join(root, "src"));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: .*serve/m);
  });

  test("the installed npm bin: hints name node_modules/.bin/dflock, and npx dflock under npx", async (t) => {
    // Only the compiled tests sit inside the built package (npm/esm/tests/cli/).
    const pkg = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
    const bin = join(pkg, "esm", "src", "cli", "main.js");
    if (!import.meta.url.endsWith(".js") || !existsSync(bin)) {
      t.skip("needs the npm build (node --test npm/esm/tests/...)");
      return;
    }
    const project = mkdtempSync(join(tmpdir(), "dflock-bin-"));
    try {
      writeFileSync(join(project, "package.json"), '{"name":"consumer","version":"1.0.0"}\n');
      mkdirSync(join(project, "node_modules", ".bin"), { recursive: true });
      symlinkSync(pkg, join(project, "node_modules", "dflock"));
      symlinkSync("../dflock/esm/src/cli/main.js", join(project, "node_modules", ".bin", "dflock"));
      for (
        const [start, expected] of [
          ["node_modules/.bin/dflock stats --bogus", "node_modules/.bin/dflock stats --help"],
          ["npx --no-install dflock stats --bogus", "npx dflock stats --help"],
        ] as const
      ) {
        const bad = await shell(start, project);
        assert.equal(bad.code, 2, bad.stderr);
        const hint = /^Run "(.+)" for usage\.\n$/m.exec(bad.stderr)?.[1];
        assert.equal(hint, expected, bad.stderr);
        const r = await shell(hint ?? "", project);
        assert.equal(r.code, 0, `${hint}\n${r.stderr}`);
        assert.match(r.stdout, /^Usage: dflock stats/, hint);
      }
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });
});
