/**
 * The narrowest `deno run` permissions of each command, as the help texts and the README give
 * them: a real Deno process started with exactly those flags against a real server. Runs on
 * every runtime (Bun and Node start the checkout's Deno from node_modules/.bin).
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { acquire, connect } from "../../mod.ts";
import { startTestServer } from "../_helpers/server.ts";
import type { CliCommand } from "../_helpers/cli_process.ts";
import { startDflock } from "./_client_process.ts";
import { denoBinary, repoRoot } from "./_repo.ts";

const deno = denoBinary();
const skip = deno === undefined ? "no Deno executable (node_modules/.bin/deno)" : false;

/** `deno run <flags> src/cli/main.ts`, from the checkout's root. */
function denoCli(flags: string[]): CliCommand {
  return { command: deno ?? "deno", args: ["run", ...flags, join(repoRoot(), "src/cli/main.ts")] };
}

/** Starts the CLI under Deno with `flags`, in the checkout's root. */
function start(flags: string[], args: string[], env: Record<string, string> = {}) {
  return startDflock(args, env, { command: denoCli(flags), cwd: repoRoot() });
}

describe("dflock on Deno with the narrowest permissions", { skip }, () => {
  test("serve: --allow-net=127.0.0.1 --allow-env=DFLOCKD_*", async () => {
    const cli = start(
      ["--allow-net=127.0.0.1", "--allow-env=DFLOCKD_*"],
      ["serve", "--port", "0"],
      { DFLOCKD_DEFAULT_LEASE_TTL_S: "44" },
    );
    try {
      await cli.waitFor("the listening line", (_out, err) => /listening on [\d.]+:\d+/.test(err));
      const port = Number(/listening on [\d.]+:(\d+)/.exec(cli.stderr())?.[1]);
      const conn = await connect({ port });
      try {
        // The lease comes from DFLOCKD_DEFAULT_LEASE_TTL_S: the environment was readable.
        assert.equal((await acquire(conn, "k", 0)).lease, 44);
      } finally {
        await conn.close();
      }
      cli.signal("SIGTERM");
      assert.deepEqual(await cli.finish(), { code: 0, signal: null }, cli.stderr());
      assert.doesNotMatch(cli.stderr(), /NotCapable|Requires .* access/);
    } finally {
      cli.signal("SIGKILL");
      await cli.exited;
    }
  });

  test("serve without --allow-env: a clear error naming the flag, exit 1", async () => {
    const cli = start(["--allow-net=127.0.0.1"], ["serve", "--port", "0"]);
    assert.equal((await cli.finish()).code, 1);
    assert.match(
      cli.stderr(),
      /^dflock serve: cannot read the environment variable DFLOCKD_\w+: Deno was started without --allow-env=DFLOCKD_\w+; add it to the deno run flags\n$/,
    );
  });

  test("stats, ping and run: --allow-net=HOST:PORT --allow-env=DFLOCKD_AUTH_TOKEN (run: --allow-run=CMD)", async () => {
    const server = await startTestServer({ authToken: "s3cret" });
    try {
      const address = `127.0.0.1:${server.addr.port}`;
      const flags = [`--allow-net=${address}`, "--allow-env=DFLOCKD_AUTH_TOKEN"];
      const env = { DFLOCKD_AUTH_TOKEN: "s3cret", OTHER_VARIABLE: "inherited" };

      const stats = start(flags, ["stats", "--json", "--server", address], env);
      assert.equal((await stats.finish()).code, 0, stats.stderr());
      assert.equal(JSON.parse(stats.stdout()).connections, 1);

      const ping = start(flags, ["ping", "--server", address], env);
      assert.equal((await ping.finish()).code, 0, ping.stderr());
      assert.match(ping.stdout(), /^127\.0\.0\.1:\d+: ok, \d+\.\d ms\n$/);

      // The command inherits the environment without --allow-env for it.
      const run = start(
        [...flags, "--allow-run=sh"],
        [
          "run",
          "--key",
          "k",
          "--server",
          address,
          "--",
          "sh",
          "-c",
          'echo "ran $OTHER_VARIABLE"; exit 3',
        ],
        env,
      );
      assert.equal((await run.finish()).code, 3, run.stderr());
      assert.equal(run.stdout(), "ran inherited\n");
      assert.equal(run.stderr(), "");
      assert.deepEqual(server.stats().locks, []);
    } finally {
      await server.close();
    }
  });

  test("without --allow-env: --auth-token works, the variable is asked for by name", async () => {
    const server = await startTestServer();
    try {
      const address = `127.0.0.1:${server.addr.port}`;
      const flags = [`--allow-net=${address}`];
      const denied = start(flags, ["stats", "--server", address]);
      assert.equal((await denied.finish()).code, 1);
      assert.equal(
        denied.stderr(),
        "dflock stats: cannot read the environment variable DFLOCKD_AUTH_TOKEN: Deno was started " +
          "without --allow-env=DFLOCKD_AUTH_TOKEN; add it to the deno run flags, or pass " +
          "--auth-token\n",
      );
      const unauthServer = await startTestServer({ authToken: "t" });
      try {
        const other = `127.0.0.1:${unauthServer.addr.port}`;
        const ping = start([`--allow-net=${other}`], [
          "ping",
          "--auth-token",
          "t",
          "--server",
          other,
        ]);
        assert.equal((await ping.finish()).code, 0, ping.stderr());
      } finally {
        await unauthServer.close();
      }
    } finally {
      await server.close();
    }
  });

  test("no permissions at all: usage errors and help still work (optional lookups never fail)", async () => {
    const bad = start([], ["stats", "--bogus"], { npm_lifecycle_event: "start" });
    assert.equal((await bad.finish()).code, 2);
    assert.match(
      bad.stderr(),
      /^dflock stats: unknown flag --bogus\nRun "[^"]+ stats --help" for usage\.\n$/,
    );
    const help = start([], ["run", "--help"]);
    assert.equal((await help.finish()).code, 0, help.stderr());
    assert.match(help.stdout(), /--allow-run=CMD/);
    const none = start([], []);
    assert.equal((await none.finish()).code, 2);
    assert.match(none.stderr(), /^dflock: missing command/);
  });

  test("run without --allow-run: exit 126 with Deno's reason, the lock released", async () => {
    const server = await startTestServer();
    try {
      const address = `127.0.0.1:${server.addr.port}`;
      const run = start(
        [`--allow-net=${address}`, "--allow-env=DFLOCKD_AUTH_TOKEN"],
        ["run", "--key", "k", "--server", address, "--", "sh", "-c", "echo ran"],
      );
      assert.equal((await run.finish()).code, 126);
      assert.match(run.stderr(), /^dflock run: cannot run sh: [^\n]*--allow-run[^\n]*\n$/);
      assert.equal(run.stdout(), "");
      assert.deepEqual(server.stats().locks, []);
    } finally {
      await server.close();
    }
  });
});
