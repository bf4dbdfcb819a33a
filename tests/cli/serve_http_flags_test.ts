/**
 * `dflock serve --http-port / --http-host`: the Go dflockd's names, variables, precedence and
 * messages, the mapping to `ServerOptions.http`, the startup log, the help texts, and one end
 * to end run that asks the HTTP listener for `/health`.
 *
 * @module
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { runServe, type ServerHandle } from "../../src/cli/serve.ts";
import { main } from "../../src/cli/main.ts";
import {
  describeNonDefaults,
  parseServerArgs,
  type ResolvedConfig,
  type ServerConfigResult,
  serverHelp,
  toServerOptions,
} from "../../src/cli/serve_config.ts";
import { SERVER_DEFAULTS, type ServerOptions } from "../../src/server/options.ts";
import { runCli } from "../_helpers/cli_process.ts";
import { closedPort, startDflock } from "./_client_process.ts";
import { fakeIo } from "./_fake_io.ts";

type Env = Record<string, string | undefined>;

const noFiles = (path: string): Promise<string> => Promise.reject(new Error(`ENOENT: ${path}`));

async function resolve(argv: string[], env: Env = {}): Promise<ServerConfigResult> {
  return await parseServerArgs(argv, env, noFiles);
}

async function options(argv: string[], env: Env = {}) {
  const result = await resolve(argv, env);
  assert.equal(result.kind, "options", result.kind === "error" ? result.message : "");
  return result as Extract<ServerConfigResult, { kind: "options" }>;
}

async function refused(argv: string[], env: Env = {}) {
  const result = await resolve(argv, env);
  assert.equal(result.kind, "error", `expected ${argv.join(" ")} to be refused`);
  return result as Extract<ServerConfigResult, { kind: "error" }>;
}

const DEFAULTS: ResolvedConfig = {
  ...SERVER_DEFAULTS,
  tlsCert: "",
  tlsKey: "",
  authToken: "",
  httpPort: 0,
  httpHost: "",
};

/**
 * A fake server that logs what the real one logs at start (`listening on`, then
 * `http listening on` when `http` is set), records its options and stops on close().
 */
function loggingServer(port = 5555) {
  const calls: ServerOptions[] = [];
  let finish!: () => void;
  const closed = new Promise<void>((done) => (finish = done));
  const handle: ServerHandle = {
    addr: { hostname: "127.0.0.1", port },
    close() {
      finish();
      return closed;
    },
    closed,
  };
  return {
    calls,
    start: (o: ServerOptions): Promise<ServerHandle> => {
      calls.push(o);
      if (o.http !== undefined) o.log?.(`http listening on ${o.http.host}:${o.http.port}`);
      o.log?.(`listening on 127.0.0.1:${port}`);
      return Promise.resolve(handle);
    },
  };
}

describe("--http-port / --http-host parsing", () => {
  test("default: off, and the host empty (meaning --host)", async () => {
    const r = await options([]);
    assert.equal(r.options.httpPort, 0);
    assert.equal(r.options.httpHost, "");
    assert.deepEqual(r.options, DEFAULTS);
  });

  test("the flags, in every Go spelling", async () => {
    for (
      const argv of [
        ["--http-port", "6389", "--http-host", "0.0.0.0"],
        ["-http-port=6389", "-http-host=0.0.0.0"],
        ["--http-port=0x18f5", "--http-host", "0.0.0.0"],
      ]
    ) {
      const r = await options(argv);
      assert.equal(r.options.httpPort, 6389, argv.join(" "));
      assert.equal(r.options.httpHost, "0.0.0.0", argv.join(" "));
      assert.deepEqual(r.warnings, []);
    }
  });

  test("the variables DFLOCKD_HTTP_PORT and DFLOCKD_HTTP_HOST", async () => {
    const r = await options([], { DFLOCKD_HTTP_PORT: "6390", DFLOCKD_HTTP_HOST: "::1" });
    assert.equal(r.options.httpPort, 6390);
    assert.equal(r.options.httpHost, "::1");
    assert.deepEqual(r.warnings, []);
  });

  test("a flag beats its variable, even an explicit 0 or empty value", async () => {
    const env = { DFLOCKD_HTTP_PORT: "6390", DFLOCKD_HTTP_HOST: "10.0.0.1" };
    const both = await options(["--http-port", "6391", "--http-host", "127.0.0.2"], env);
    assert.equal(both.options.httpPort, 6391);
    assert.equal(both.options.httpHost, "127.0.0.2");
    const off = await options(["--http-port=0"], env);
    assert.equal(off.options.httpPort, 0, "--http-port 0 turns off what the variable turned on");
    const empty = await options(["--http-host="], env);
    assert.equal(empty.options.httpPort, 6390);
    assert.equal(empty.options.httpHost, "", "an explicit empty flag means --host again");
  });

  test("empty variables count as unset; a bad number is ignored with a warning", async () => {
    const empty = await options([], { DFLOCKD_HTTP_PORT: "", DFLOCKD_HTTP_HOST: "" });
    assert.deepEqual(empty.options, DEFAULTS);
    assert.deepEqual(empty.warnings, []);
    const bad = await options([], { DFLOCKD_HTTP_PORT: "63x" });
    assert.equal(bad.options.httpPort, 0);
    assert.deepEqual(bad.warnings, ['ignoring DFLOCKD_HTTP_PORT="63x": not an integer']);
  });

  test("--http-host without --http-port: ignored, as in Go, with a warning", async () => {
    const flag = await options(["--http-host", "0.0.0.0"]);
    assert.deepEqual(flag.warnings, [
      'ignoring --http-host "0.0.0.0": the HTTP listener is off (turn it on with --http-port)',
    ]);
    const env = await options([], { DFLOCKD_HTTP_HOST: "0.0.0.0" });
    assert.deepEqual(env.warnings, [
      'ignoring DFLOCKD_HTTP_HOST="0.0.0.0": the HTTP listener is off (turn it on with --http-port)',
    ]);
    assert.deepEqual((await options(["--http-host", "h", "--http-port", "1"])).warnings, []);
  });

  test("a bad flag value is Go's flag error", async () => {
    const r = await refused(["--http-port", "web"]);
    assert.equal(r.message, 'invalid value "web" for flag -http-port: parse error');
    assert.equal(r.usage, true);
    assert.equal((await refused(["--http-port"])).message, "flag needs an argument: -http-port");
  });
});

describe("--http-port validation (the Go messages)", () => {
  test("out of range", async () => {
    for (
      const [argv, got] of [[["--http-port", "65536"], 65536], [["--http-port=-1"], -1]] as const
    ) {
      const r = await refused([...argv]);
      assert.equal(r.message, `configuration error: --http-port must be 0-65535 (got ${got})`);
      assert.equal(r.usage, true);
    }
    const env = await refused([], { DFLOCKD_HTTP_PORT: "70000" });
    assert.equal(
      env.message,
      "configuration error: --http-port must be 0-65535 (got 70000), set by DFLOCKD_HTTP_PORT",
    );
  });

  test("boundaries are accepted", async () => {
    assert.equal((await options(["--http-port", "65535"])).options.httpPort, 65535);
    assert.equal((await options(["--http-port", "1"])).options.httpPort, 1);
  });

  test("must differ from --port, also from the default port", async () => {
    const r = await refused(["--port", "7000", "--http-port", "7000"]);
    assert.equal(r.message, "configuration error: --http-port (7000) must differ from --port");
    assert.equal(r.usage, true);
    const d = await refused(["--http-port", "6388"]);
    assert.equal(d.message, "configuration error: --http-port (6388) must differ from --port");
    const env = await refused([], { DFLOCKD_PORT: "7000", DFLOCKD_HTTP_PORT: "7000" });
    assert.equal(
      env.message,
      "configuration error: --http-port (7000) must differ from --port, " +
        "set by DFLOCKD_HTTP_PORT and DFLOCKD_PORT",
    );
    const one = await refused(["--port", "7000"], { DFLOCKD_HTTP_PORT: "7000" });
    assert.match(one.message, /must differ from --port, set by DFLOCKD_HTTP_PORT$/);
  });

  test("0 is off on the command line, so --port 0 --http-port 0 is no clash", async () => {
    const r = await options(["--port", "0", "--http-port", "0"]);
    assert.equal(r.options.port, 0);
    assert.equal(r.options.httpPort, 0);
    assert.equal((await options(["--port", "0", "--http-port", "7001"])).options.httpPort, 7001);
  });

  test("checked after the other numeric settings, as in Go", async () => {
    const r = await refused(["--http-port", "70000", "--max-locks", "0", "--port", "70000"]);
    assert.equal(r.message, "configuration error: --max-locks must be > 0 (got 0)");
    const p = await refused(["--http-port", "70000", "--port", "70000"]);
    assert.equal(p.message, "configuration error: --port must be between 0 and 65535 (got 70000)");
  });

  test("runServe: one error line, a pointer to --help, exit 1, nothing started", async () => {
    const cases: [string[], Env, string][] = [
      [["--http-port", "65536"], {}, "--http-port must be 0-65535 (got 65536)"],
      [["--port", "7000", "--http-port", "7000"], {}, "--http-port (7000) must differ from --port"],
      [
        [],
        { DFLOCKD_HTTP_PORT: "-2" },
        "--http-port must be 0-65535 (got -2), set by DFLOCKD_HTTP_PORT",
      ],
    ];
    for (const [argv, env, message] of cases) {
      const io = fakeIo(env as Record<string, string>);
      const server = loggingServer();
      assert.equal(await runServe(argv, io, server.start), 1, message);
      assert.equal(
        io.err,
        `dflock serve: configuration error: ${message}\nRun "dflock serve --help" for usage.\n`,
      );
      assert.equal(server.calls.length, 0);
    }
  });

  test("as a process: exit status 1 and the Go message", async () => {
    const range = await runCli(["serve", "--port", "0", "--http-port", "99999"]);
    assert.equal(range.code, 1);
    assert.match(range.stderr, /configuration error: --http-port must be 0-65535 \(got 99999\)\n/);
    const clash = await runCli(["serve", "--port", "7123"], { env: { DFLOCKD_HTTP_PORT: "7123" } });
    assert.equal(clash.code, 1);
    assert.match(
      clash.stderr,
      /configuration error: --http-port \(7123\) must differ from --port, set by DFLOCKD_HTTP_PORT\n/,
    );
  });
});

describe("mapping to ServerOptions.http", () => {
  test("off: no http option at all", () => {
    assert.equal("http" in toServerOptions(DEFAULTS), false);
    const hostOnly = toServerOptions({ ...DEFAULTS, httpHost: "0.0.0.0" });
    assert.equal("http" in hostOnly, false);
  });

  test("on: the port, and --http-host or else --host", () => {
    assert.deepEqual(
      toServerOptions({ ...DEFAULTS, host: "0.0.0.0", httpPort: 6389 }).http,
      { port: 6389, host: "0.0.0.0" },
    );
    assert.deepEqual(
      toServerOptions({ ...DEFAULTS, host: "0.0.0.0", httpPort: 6389, httpHost: "127.0.0.2" })
        .http,
      { port: 6389, host: "127.0.0.2" },
    );
    const o = toServerOptions({ ...DEFAULTS, httpPort: 6389 }) as Record<string, unknown>;
    assert.equal("httpPort" in o, false, "no stray command-line keys");
    assert.equal("httpHost" in o, false, "no stray command-line keys");
  });

  test("runServe passes http to the server, with --http-host defaulting to --host", async () => {
    const cases: [string[], Env, ServerOptions["http"]][] = [
      [["--host", "127.0.0.3", "--http-port", "6389"], {}, { port: 6389, host: "127.0.0.3" }],
      [["--http-port", "6389"], {}, { port: 6389, host: "127.0.0.1" }],
      [[], { DFLOCKD_HTTP_PORT: "6390", DFLOCKD_HOST: "::1" }, { port: 6390, host: "::1" }],
      [["--http-port", "6389", "--http-host", "::1"], {}, { port: 6389, host: "::1" }],
      [[], {}, undefined],
    ];
    for (const [argv, env, http] of cases) {
      const io = fakeIo(env as Record<string, string>);
      const server = loggingServer();
      const code = runServe(argv, io, server.start);
      await io.waitForErr((err) => err.includes("listening on 127.0.0.1:5555"));
      io.raise("SIGTERM");
      assert.equal(await code, 0);
      assert.deepEqual(server.calls[0]?.http, http, argv.join(" "));
    }
  });
});

describe("startup log", () => {
  test("describeNonDefaults names the HTTP settings when on, in flag order", () => {
    assert.deepEqual(describeNonDefaults({ ...DEFAULTS, httpPort: 6389 }), ["http-port=6389"]);
    assert.deepEqual(
      describeNonDefaults({
        ...DEFAULTS,
        maxLocks: 5,
        tlsCert: "c",
        tlsKey: "k",
        httpPort: 6389,
        httpHost: "0.0.0.0",
        debug: true,
        authToken: "s",
      }),
      ["max-locks=5", "http-port=6389", "http-host=0.0.0.0", "debug=true", "tls=on", "auth=on"],
    );
    assert.deepEqual(
      describeNonDefaults({ ...DEFAULTS, httpHost: "0.0.0.0" }),
      [],
      "--http-host is not listed while the listener is off",
    );
  });

  test("the TCP line first, then the server's own HTTP line, each once", async () => {
    const io = fakeIo();
    const server = loggingServer(5555);
    const code = runServe(["--http-port", "6389", "--port", "5555"], io, server.start);
    await io.waitForErr((err) => err.includes("http listening on"));
    io.raise("SIGTERM");
    assert.equal(await code, 0);
    const lines = io.err.split("\n");
    assert.deepEqual(lines.slice(0, 2), [
      "dflock: listening on 127.0.0.1:5555 (http-port=6389)",
      "dflock: http listening on 127.0.0.1:6389",
    ]);
    assert.equal(io.err.split("listening on").length - 1, 2, "no line printed twice");
  });

  test("lines the server logs before a failed start are still shown, before the error", async () => {
    const io = fakeIo();
    const code = await runServe(["--http-port", "6389"], io, (o) => {
      o.log?.("http listen failed: address in use");
      return Promise.reject(new Error("cannot listen on 127.0.0.1:6389"));
    });
    assert.equal(code, 1);
    assert.equal(
      io.err,
      "dflock: http listen failed: address in use\n" +
        "dflock: server error: cannot listen on 127.0.0.1:6389\n",
    );
  });
});

describe("help texts", () => {
  test("serve --help lists both flags with Go's usage and their variables", async () => {
    const io = fakeIo();
    assert.equal(await runServe(["--help"], io, loggingServer().start), 0);
    assert.ok(
      io.out.includes(
        "  -http-host string\n    \tHTTP API bind address (defaults to --host) [$DFLOCKD_HTTP_HOST]\n",
      ),
      io.out,
    );
    assert.ok(
      io.out.includes(
        "  -http-port int\n    \tHTTP API listen port (0 = disabled) [$DFLOCKD_HTTP_PORT]\n",
      ),
      io.out,
    );
  });

  test("serve --help says what the HTTP listener serves and what the token guards", () => {
    const help = serverHelp("dflock serve").replace(/\s+/g, " ");
    for (const path of ["/health", "/ready", "/metrics", "/v1/stats"]) {
      assert.ok(help.includes(path), path);
    }
    assert.match(help, /live dashboard at \//);
    assert.match(
      help,
      /every path but \/health, \/ready and the dashboard page itself needs the header "Authorization: Bearer TOKEN"/,
    );
  });

  test("stats --help points to the dashboard", async () => {
    const io = fakeIo();
    assert.equal(await main(["stats", "--help"], { io }), 0);
    assert.ok(
      io.out.replace(/\s+/g, " ").includes(
        "For a live view in a browser, start the server with --http-port and open " +
          "http://HOST:PORT/",
      ),
      io.out,
    );
    assert.equal(io.err, "");
  });
});

describe("dflock serve --http-port as a process", () => {
  test("GET /health answers 200 once the server listens", async () => {
    const httpPort = await closedPort();
    const args = ["serve", "--host", "127.0.0.1", "--port", "0", "--http-port", String(httpPort)];
    const cli = startDflock(args);
    try {
      const httpLine = `dflock: http listening on 127.0.0.1:${httpPort}\n`;
      await cli.waitFor("the HTTP listening line", (_out, err) => err.includes(httpLine));
      const tcp = /^dflock: listening on 127\.0\.0\.1:(\d+) \(http-port=(\d+)\)\n/.exec(
        cli.stderr(),
      );
      assert.ok(tcp, `the TCP listening line comes first: ${cli.stderr()}`);
      assert.notEqual(Number(tcp[1]), httpPort);
      assert.equal(Number(tcp[2]), httpPort);
      const response = await fetch(`http://127.0.0.1:${httpPort}/health`, {
        signal: AbortSignal.timeout(10_000),
      });
      await response.text();
      assert.equal(response.status, 200);
      cli.signal("SIGTERM");
      assert.deepEqual(await cli.finish(), { code: 0, signal: null });
      assert.equal(cli.stderr().split("http listening on").length - 1, 1, cli.stderr());
    } finally {
      cli.signal("SIGKILL");
      await cli.exited;
    }
  });
});
