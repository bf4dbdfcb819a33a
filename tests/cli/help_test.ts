import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { main, USAGE } from "../../src/cli/main.ts";
import { startTestServer } from "../_helpers/server.ts";
import { runCli } from "../_helpers/cli_process.ts";
import { fakeIo } from "./_fake_io.ts";

async function cli(argv: string[], env: Record<string, string> = {}) {
  const io = fakeIo(env);
  const code = await main(argv, { io });
  return { code, out: io.out, err: io.err };
}

describe("dflock help and flag errors", () => {
  test("the top-level help lists every command and the exit-status exception of serve", () => {
    for (const command of ["serve", "stats", "run", "ping", "demo", "version"]) {
      assert.match(USAGE, new RegExp(`^  ${command} `, "m"));
    }
    assert.match(USAGE, /serve, which keeps the Go server's status 1/);
  });

  test("every client subcommand: --help and -h print the usage on stdout, exit 0", async () => {
    for (const command of ["stats", "run", "ping", "demo"]) {
      for (const flag of ["--help", "-h"]) {
        const r = await cli([command, flag]);
        assert.equal(r.code, 0, `${command} ${flag}`);
        assert.match(r.out, new RegExp(`^Usage: dflock ${command}`));
        assert.equal(r.err, "");
      }
    }
  });

  test("bad or missing flags: the problem and one line pointing to --help, exit 2", async () => {
    const cases: [string[], RegExp][] = [
      [["stats", "--bogus"], /^dflock stats: unknown flag --bogus\n/],
      [["stats", "extra"], /^dflock stats: unexpected argument "extra"\n/],
      [["stats", "--server"], /^dflock stats: --server needs a value\n/],
      [["stats", "--server", "nohost"], /^dflock stats: --server: invalid server "nohost"/],
      [["stats", "--json=maybe"], /^dflock stats: --json takes true or false/],
      [["run", "--", "true"], /^dflock run: --key is required\n/],
      [["run", "--key", "k"], /^dflock run: no command given\n/],
      [["run", "--key", "k", "--lease", "abc", "--", "true"], /--lease needs a number/],
      [["run", "--key", "k", "--lease", "0", "--", "true"], /--lease must be at least 1/],
      [["run", "--key", "k", "--semaphore", "1.5", "--", "true"], /--semaphore needs an integer/],
      [["run", "--key", "k", "--timeout", "-1", "--", "true"], /--timeout must be at least 0/],
      [["run", "--key", "has space", "--", "true"], /^dflock run: .*key/i],
      [["run", "-x", "--key", "k", "--", "true"], /^dflock run: unknown flag -x\n/],
      [["ping", "--bogus"], /^dflock ping: unknown flag --bogus\n/],
      [["ping", "extra"], /^dflock ping: unexpected argument "extra"\n/],
      [["ping", "--timeout", "0"], /^dflock ping: --timeout must be more than 0/],
      [["ping", "--server", "nohost"], /^dflock ping: --server: invalid server "nohost"/],
      [["demo", "--bogus"], /^dflock demo: unknown flag "--bogus"\n/],
    ];
    for (const [argv, pattern] of cases) {
      const r = await cli(argv);
      assert.equal(r.code, 2, argv.join(" "));
      assert.match(r.err, pattern, argv.join(" "));
      // Two lines: the problem and where the help is; not the whole usage text.
      const lines = r.err.split("\n");
      assert.equal(lines.length, 3, `${argv.join(" ")}: ${r.err}`);
      assert.equal(lines[1], `Run "dflock ${argv[0]} --help" for usage.`, argv.join(" "));
      assert.doesNotMatch(r.err, /Usage:/, argv.join(" "));
      assert.equal(r.out, "", argv.join(" "));
    }
  });

  test("the help hint names the program the way it was started", async () => {
    const io = fakeIo({}, {}, { program: "npx dflock" });
    assert.equal(await main(["stats", "--bogus"], { io }), 2);
    assert.equal(
      io.err,
      'dflock stats: unknown flag --bogus\nRun "npx dflock stats --help" for usage.\n',
    );
    const top = fakeIo({}, {}, { program: "deno run -A src/cli/main.ts" });
    assert.equal(await main(["frobnicate"], { io: top }), 2);
    assert.equal(
      top.err,
      'dflock: unknown command "frobnicate"\nRun "deno run -A src/cli/main.ts --help" for usage.\n',
    );
  });

  test("stats, run and ping name $DFLOCKD_AUTH_TOKEN in their help, and no other variable", async () => {
    for (const command of ["stats", "run", "ping"]) {
      const r = await cli([command, "--help"]);
      assert.match(
        r.out,
        /--auth-token secret +shared secret sent with auth first \(default: \$DFLOCKD_AUTH_TOKEN\)/,
      );
      assert.doesNotMatch(r.out, /DFLOCK_AUTH_TOKEN/, command);
    }
    assert.match(USAGE, /\$DFLOCKD_AUTH_TOKEN/);
  });

  test("run stops parsing at the command: its flags are not dflock's", async () => {
    const server = await startTestServer();
    try {
      let seen: readonly string[] | undefined;
      const io = fakeIo();
      const code = await main(
        ["run", "--key", "k", "--server", `127.0.0.1:${server.addr.port}`, "sh", "-c", "--bogus"],
        {
          io,
          spawn: (cmd, args) => {
            seen = [cmd, ...args];
            return { pid: 1, exited: Promise.resolve({ code: 4, signal: null }), kill: () => {} };
          },
        },
      );
      assert.equal(io.err, "");
      assert.equal(code, 4);
      assert.deepEqual(seen, ["sh", "-c", "--bogus"]);
      assert.deepEqual(server.stats().locks, []);
    } finally {
      await server.close();
    }
  });

  test("as a process: --help exits 0, a bad flag exits 2, serve keeps Go's 1", async () => {
    const help = await runCli(["run", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: dflock run --key K/);
    const bad = await runCli(["stats", "--nope"]);
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /^dflock stats: unknown flag --nope\nRun ".+ stats --help" for usage\.\n$/,
    );
    const serve = await runCli(["serve", "--nope"]);
    assert.equal(serve.code, 1);
    assert.match(
      serve.stderr,
      /^dflock serve: flag provided but not defined: -nope\nRun ".+ --help" for usage\.\n$/,
    );
    const serveHelp = await runCli(["serve", "--help"]);
    assert.equal(serveHelp.code, 0, serveHelp.stderr);
    assert.match(serveHelp.stdout, /^Usage: .+ \[flags\]\n/);
    assert.match(serveHelp.stdout, /^ {4}\tBind port \(default 6388\) \[\$DFLOCKD_PORT\]$/m);
    assert.equal(serveHelp.stderr, "");
  });
});
