import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  describeNonDefaults,
  parseEnvBool,
  parseEnvInt,
  parseServerArgs,
  type ResolvedConfig,
  SERVER_FLAGS,
  type ServerConfigResult,
  serverHelp,
  toServerOptions,
} from "../../src/cli/serve_config.ts";
import { SERVER_DEFAULTS } from "../../src/server/options.ts";
import { checkStartup, SERVER_SETTINGS } from "../../src/server/settings.ts";

type Env = Record<string, string | undefined>;

/** A fake file system: unknown paths reject like a missing file. */
function files(map: Record<string, string> = {}): (path: string) => Promise<string> {
  return (path) => {
    const text = map[path];
    return text === undefined
      ? Promise.reject(new Error(`open ${path}: no such file or directory`))
      : Promise.resolve(text);
  };
}

async function resolve(
  argv: string[],
  env: Env = {},
  fs: Record<string, string> = {},
): Promise<ServerConfigResult> {
  return await parseServerArgs(argv, env, files(fs));
}

async function options(argv: string[], env: Env = {}, fs: Record<string, string> = {}) {
  const result = await resolve(argv, env, fs);
  assert.equal(result.kind, "options", result.kind === "error" ? result.message : "");
  return result as Extract<ServerConfigResult, { kind: "options" }>;
}

async function exit(argv: string[], env: Env = {}, fs: Record<string, string> = {}) {
  const result = await resolve(argv, env, fs);
  assert.equal(result.kind, "error", "expected the configuration to be refused");
  return result as Extract<ServerConfigResult, { kind: "error" }>;
}

const DEFAULT_CONFIG: ResolvedConfig = {
  ...SERVER_DEFAULTS,
  tlsCert: "",
  tlsKey: "",
  authToken: "",
  httpPort: 0,
  httpHost: "",
};

describe("defaults", () => {
  test("no flags, no environment: the Go defaults", async () => {
    const r = await options([]);
    assert.deepEqual(r.options, DEFAULT_CONFIG);
    assert.equal(r.version, false);
  });

  test("unrelated environment variables are ignored", async () => {
    const r = await options([], { PATH: "/bin", DFLOCKD_NOPE: "1" });
    assert.deepEqual(r.options, DEFAULT_CONFIG);
  });
});

describe("flags", () => {
  test("every flag sets its setting", async () => {
    const r = await options([
      "--host=0.0.0.0",
      "-port",
      "7000",
      "--default-lease-ttl",
      "44",
      "--lease-sweep-interval=2",
      "--gc-interval",
      "6",
      "--gc-max-idle",
      "61",
      "--max-locks",
      "5",
      "--max-connections",
      "7",
      "--max-waiters",
      "8",
      "--read-timeout",
      "9",
      "--write-timeout",
      "0",
      "--shutdown-timeout",
      "0",
      "--auto-release-on-disconnect=false",
      "--tls-cert",
      "c.pem",
      "--tls-key",
      "k.pem",
      "--auth-token",
      "s3cret",
      "--http-port",
      "6389",
      "--http-host",
      "0.0.0.1",
      "--debug",
    ]);
    assert.deepEqual(r.options, {
      host: "0.0.0.0",
      port: 7000,
      defaultLeaseTtl: 44,
      leaseSweepInterval: 2,
      gcInterval: 6,
      gcMaxIdle: 61,
      maxLocks: 5,
      maxConnections: 7,
      maxWaiters: 8,
      readTimeout: 9,
      writeTimeout: 0,
      shutdownTimeout: 0,
      autoReleaseOnDisconnect: false,
      tlsCert: "c.pem",
      tlsKey: "k.pem",
      authToken: "s3cret",
      httpPort: 6389,
      httpHost: "0.0.0.1",
      debug: true,
    });
  });

  test("integer flags take Go base prefixes and underscores", async () => {
    const r = await options(["--port", "0x10", "--max-locks=1_000", "--max-waiters", "010"]);
    assert.equal(r.options.port, 16);
    assert.equal(r.options.maxLocks, 1000);
    assert.equal(r.options.maxWaiters, 8);
  });

  test("--flag false does not work: false stops parsing, with a warning", async () => {
    const r = await options(["--auto-release-on-disconnect", "false", "--max-locks", "0"]);
    assert.equal(r.options.autoReleaseOnDisconnect, true);
    assert.equal(r.options.maxLocks, 1024, "flags after the positional argument are ignored");
    assert.deepEqual(r.warnings, [
      'ignoring argument "false" and everything after it (boolean flags are written ' +
      "--auto-release-on-disconnect=false)",
    ]);
  });

  test("parsing stops at -- and at the first non-flag, with a warning", async () => {
    const a = await options(["--port", "1", "--", "--port", "x"]);
    assert.equal(a.options.port, 1);
    assert.deepEqual(a.warnings, ['ignoring argument "--port" and everything after it']);
    const b = await options(["extra", "--port", "x"]);
    assert.equal(b.options.port, 6388);
    assert.deepEqual(b.warnings, ['ignoring argument "extra" and everything after it']);
    const c = await options(["--debug", "off"]);
    assert.deepEqual(c.warnings, [
      'ignoring argument "off" (boolean flags are written --debug=false)',
    ]);
    const d = await options(["--debug", "1"]);
    assert.deepEqual(d.warnings, ['ignoring argument "1" (boolean flags are written --debug=1)']);
    assert.deepEqual((await options(["--port", "1", "--"])).warnings, [], "a final -- is fine");
    assert.deepEqual((await options(["--debug"])).warnings, []);
  });
});

describe("command-line errors", () => {
  test("unknown flag: Go's message alone, a usage error", async () => {
    const r = await exit(["--nope"]);
    assert.equal(r.message, "flag provided but not defined: -nope");
    assert.equal(r.usage, true);
    assert.deepEqual(r.warnings, []);
  });

  test("--no-auto-release-on-disconnect does not exist", async () => {
    const r = await exit(["--no-auto-release-on-disconnect"]);
    assert.equal(r.message, "flag provided but not defined: -no-auto-release-on-disconnect");
  });

  test("unparsable values", async () => {
    const a = await exit(["--port", "abc"]);
    assert.equal(a.message, 'invalid value "abc" for flag -port: parse error');
    assert.equal(a.usage, true);
    const b = await exit(["--debug=yes"]);
    assert.equal(b.message, 'invalid boolean value "yes" for -debug: parse error');
    const c = await exit(["--max-locks"]);
    assert.equal(c.message, "flag needs an argument: -max-locks");
  });

  test("-h / -help / --help ask for help (even after other flags)", async () => {
    for (const argv of [["-h"], ["--help"], ["-help"], ["--port", "1", "-h"]]) {
      assert.deepEqual(await resolve(argv), { kind: "help" }, argv.join(" "));
    }
  });
});

describe("help", () => {
  const help = serverHelp("dflock serve");

  test("lists every flag of docs/protocol.md 12.1 sorted by name, in Go's layout", () => {
    const names = [...help.matchAll(/^ {2}-([a-z-]+)/gm)].map((m) => m[1]);
    assert.deepEqual(names, [
      "auth-token",
      "auth-token-file",
      "auto-release-on-disconnect",
      "debug",
      "default-lease-ttl",
      "gc-interval",
      "gc-max-idle",
      "host",
      "http-host",
      "http-port",
      "lease-sweep-interval",
      "max-connections",
      "max-locks",
      "max-waiters",
      "port",
      "read-timeout",
      "shutdown-timeout",
      "tls-cert",
      "tls-key",
      "version",
      "write-timeout",
    ]);
    assert.ok(
      help.includes('  -host string\n    \tBind address (default "127.0.0.1") [$DFLOCKD_HOST]\n'),
    );
    assert.ok(
      help.includes(
        "  -auto-release-on-disconnect\n    \tRelease locks when a client disconnects " +
          "(default true) [$DFLOCKD_AUTO_RELEASE_ON_DISCONNECT]\n",
      ),
    );
  });

  test("every flag but --version names the variable that parseServerArgs reads", async () => {
    for (const spec of SERVER_FLAGS) {
      if (spec.name === "version") {
        assert.equal(spec.env, undefined);
        continue;
      }
      const env = spec.env ?? (spec.name === "auth-token" ? "DFLOCKD_AUTH_TOKEN" : undefined);
      assert.ok(env, spec.name);
      assert.ok(help.includes(`[$${env}`), spec.name);
      if (spec.kind === "string" && spec.name !== "auth-token-file") {
        // The variable named in the help really sets the setting.
        const r = await options([], { [env]: "x.pem" });
        const key = spec.name.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
        assert.equal((r.options as unknown as Record<string, unknown>)[key], "x.pem", env);
      }
    }
  });

  test("the usage line names the command as given", () => {
    assert.match(serverHelp("npx dflock serve"), /^Usage: npx dflock serve \[flags\]\n/);
    assert.match(serverHelp("npm run serve --"), /^Usage: npm run serve -- \[flags\]\n/);
  });
});

describe("environment", () => {
  test("every variable of the table sets its setting", async () => {
    const r = await options([], {
      DFLOCKD_HOST: "0.0.0.0",
      DFLOCKD_PORT: "7001",
      DFLOCKD_DEFAULT_LEASE_TTL_S: "44",
      DFLOCKD_LEASE_SWEEP_INTERVAL_S: "3",
      DFLOCKD_GC_LOOP_SLEEP: "4",
      DFLOCKD_GC_MAX_UNUSED_TIME: "5",
      DFLOCKD_MAX_LOCKS: "6",
      DFLOCKD_MAX_CONNECTIONS: "7",
      DFLOCKD_MAX_WAITERS: "8",
      DFLOCKD_READ_TIMEOUT_S: "9",
      DFLOCKD_WRITE_TIMEOUT_S: "10",
      DFLOCKD_SHUTDOWN_TIMEOUT_S: "11",
      DFLOCKD_AUTO_RELEASE_ON_DISCONNECT: "no",
      DFLOCKD_TLS_CERT: "c.pem",
      DFLOCKD_TLS_KEY: "k.pem",
      DFLOCKD_AUTH_TOKEN: "tok",
      DFLOCKD_HTTP_PORT: "12",
      DFLOCKD_HTTP_HOST: "::1",
      DFLOCKD_DEBUG: "YES",
    });
    assert.deepEqual(r.options, {
      host: "0.0.0.0",
      port: 7001,
      defaultLeaseTtl: 44,
      leaseSweepInterval: 3,
      gcInterval: 4,
      gcMaxIdle: 5,
      maxLocks: 6,
      maxConnections: 7,
      maxWaiters: 8,
      readTimeout: 9,
      writeTimeout: 10,
      shutdownTimeout: 11,
      autoReleaseOnDisconnect: false,
      tlsCert: "c.pem",
      tlsKey: "k.pem",
      authToken: "tok",
      httpPort: 12,
      httpHost: "::1",
      debug: true,
    });
  });

  test("unparsable integers and booleans are ignored (config-bad-env-ignored)", async () => {
    const r = await options([], {
      DFLOCKD_DEFAULT_LEASE_TTL_S: "abc",
      DFLOCKD_MAX_LOCKS: " 1",
      DFLOCKD_AUTO_RELEASE_ON_DISCONNECT: "maybe",
      DFLOCKD_PORT: "0x10",
      DFLOCKD_MAX_WAITERS: "1_0",
      DFLOCKD_READ_TIMEOUT_S: "99999999999999999999",
      DFLOCKD_DEBUG: "t",
    });
    assert.deepEqual(r.options, DEFAULT_CONFIG);
    const bool = "not a boolean (use 1, yes, true, 0, no or false, in any letter case)";
    assert.deepEqual(r.warnings, [
      'ignoring DFLOCKD_PORT="0x10": not an integer',
      'ignoring DFLOCKD_DEFAULT_LEASE_TTL_S="abc": not an integer',
      'ignoring DFLOCKD_MAX_LOCKS=" 1": not an integer',
      'ignoring DFLOCKD_MAX_WAITERS="1_0": not an integer',
      'ignoring DFLOCKD_READ_TIMEOUT_S="99999999999999999999": integer out of range',
      `ignoring DFLOCKD_AUTO_RELEASE_ON_DISCONNECT="maybe": ${bool}`,
      `ignoring DFLOCKD_DEBUG="t": ${bool}`,
    ]);
  });

  test("valid variables give no warnings", async () => {
    const r = await options([], { DFLOCKD_PORT: "7001", DFLOCKD_DEBUG: "Yes", DFLOCKD_HOST: "h" });
    assert.deepEqual(r.warnings, []);
  });

  test("empty variables count as unset", async () => {
    const r = await options([], { DFLOCKD_HOST: "", DFLOCKD_MAX_LOCKS: "", DFLOCKD_DEBUG: "" });
    assert.deepEqual(r.options, DEFAULT_CONFIG);
    assert.deepEqual(r.warnings, []);
  });

  test("lenient parsers", () => {
    assert.equal(parseEnvInt("+7"), 7);
    assert.equal(parseEnvInt("-3"), -3);
    assert.equal(parseEnvInt("007"), 7);
    assert.equal(parseEnvInt("7 "), undefined);
    assert.equal(parseEnvInt("1e3"), undefined);
    for (const t of ["1", "yes", "YES", "True", "tRuE"]) assert.equal(parseEnvBool(t), true, t);
    for (const f of ["0", "no", "No", "FALSE"]) assert.equal(parseEnvBool(f), false, f);
    for (const x of ["t", "f", "on", "off", " 1", "2"]) assert.equal(parseEnvBool(x), undefined);
  });

  test("environment values are validated like flags, and name their variable", async () => {
    const r = await exit([], { DFLOCKD_MAX_LOCKS: "0" });
    assert.equal(
      r.message,
      "configuration error: --max-locks must be > 0 (got 0), set by DFLOCKD_MAX_LOCKS",
    );
    assert.equal(r.usage, true);
    const flag = await exit(["--max-locks", "0"], { DFLOCKD_MAX_LOCKS: "5" });
    assert.equal(flag.message, "configuration error: --max-locks must be > 0 (got 0)");
  });

  test("warnings come with a later error too", async () => {
    const r = await exit([], { DFLOCKD_PORT: "x", DFLOCKD_MAX_LOCKS: "0" });
    assert.deepEqual(r.warnings, ['ignoring DFLOCKD_PORT="x": not an integer']);
  });
});

describe("precedence", () => {
  test("a flag beats the environment (config-flag-beats-env)", async () => {
    const r = await options(["--default-lease-ttl", "55"], { DFLOCKD_DEFAULT_LEASE_TTL_S: "44" });
    assert.equal(r.options.defaultLeaseTtl, 55);
  });

  test("an explicit flag equal to the default still beats the environment", async () => {
    const r = await options(["--max-locks=1024", "--debug=false", "--host", ""], {
      DFLOCKD_MAX_LOCKS: "3",
      DFLOCKD_DEBUG: "1",
      DFLOCKD_HOST: "0.0.0.0",
    });
    assert.equal(r.options.maxLocks, 1024);
    assert.equal(r.options.debug, false);
    assert.equal(r.options.host, "");
  });

  test("boolean flag beats the environment", async () => {
    const r = await options(["--auto-release-on-disconnect"], {
      DFLOCKD_AUTO_RELEASE_ON_DISCONNECT: "0",
    });
    assert.equal(r.options.autoReleaseOnDisconnect, true);
  });
});

describe("auth token", () => {
  const fs = { "/a.txt": "  file-a \n\n", "/b.txt": "\tfile-b\r\n", "/blank.txt": " \n" };

  test("DFLOCKD_AUTH_TOKEN beats --auth-token and the files (quirk)", async () => {
    const r = await options(["--auth-token", "flag", "--auth-token-file", "/a.txt"], {
      DFLOCKD_AUTH_TOKEN: "env",
      DFLOCKD_AUTH_TOKEN_FILE: "/b.txt",
    }, fs);
    assert.equal(r.options.authToken, "env");
  });

  test("--auth-token beats both files", async () => {
    const r = await options(["--auth-token", "flag", "--auth-token-file", "/a.txt"], {
      DFLOCKD_AUTH_TOKEN_FILE: "/b.txt",
    }, fs);
    assert.equal(r.options.authToken, "flag");
  });

  test("--auth-token-file beats DFLOCKD_AUTH_TOKEN_FILE; content is trimmed", async () => {
    const r = await options(["--auth-token-file", "/a.txt"], {
      DFLOCKD_AUTH_TOKEN_FILE: "/b.txt",
    }, fs);
    assert.equal(r.options.authToken, "file-a");
  });

  test("DFLOCKD_AUTH_TOKEN_FILE is the last resort", async () => {
    const r = await options([], { DFLOCKD_AUTH_TOKEN_FILE: "/b.txt" }, fs);
    assert.equal(r.options.authToken, "file-b");
  });

  test("empty sources are skipped", async () => {
    const r = await options(["--auth-token="], {
      DFLOCKD_AUTH_TOKEN: "",
      DFLOCKD_AUTH_TOKEN_FILE: "/b.txt",
    }, fs);
    assert.equal(r.options.authToken, "file-b");
  });

  test("later sources are not read: an unreadable later file is no error", async () => {
    const r = await options(["--auth-token", "flag", "--auth-token-file", "/missing"], {
      DFLOCKD_AUTH_TOKEN_FILE: "/missing-too",
    }, fs);
    assert.equal(r.options.authToken, "flag");
  });

  test("a token given directly is not trimmed", async () => {
    assert.equal((await options(["--auth-token", " x "])).options.authToken, " x ");
    assert.equal((await options([], { DFLOCKD_AUTH_TOKEN: " y" })).options.authToken, " y");
  });

  test("a file holding only white space gives no token", async () => {
    const r = await options(["--auth-token-file", "/blank.txt"], {}, fs);
    assert.equal(r.options.authToken, "");
  });

  test("an unreadable token file is a startup error, checked before validation", async () => {
    const r = await exit(["--auth-token-file", "/missing", "--max-locks", "0"], {}, fs);
    assert.match(r.message, /^configuration error: cannot read auth token file "\/missing": /);
    assert.equal(r.usage, false, "no pointer to --help: the file is at fault");
    const e = await exit([], { DFLOCKD_AUTH_TOKEN_FILE: "/missing" }, fs);
    assert.match(e.message, /auth token file/);
  });

  test("a token file is trimmed with Go's TrimSpace", async () => {
    const fs = { "/u": "\u00a0\u2003 a b\u3000\v\f\x85", "/bom": "\ufeffa" };
    assert.equal((await options(["--auth-token-file", "/u"], {}, fs)).options.authToken, "a b");
    assert.equal(
      (await options(["--auth-token-file", "/bom"], {}, fs)).options.authToken,
      "\ufeffa",
    );
  });
});

describe("validation", () => {
  const cases: [string[], string][] = [
    [["--max-locks", "0"], "--max-locks must be > 0 (got 0)"],
    [["--default-lease-ttl", "0"], "--default-lease-ttl must be > 0 (got 0)"],
    [["--lease-sweep-interval", "-1"], "--lease-sweep-interval must be > 0 (got -1)"],
    [["--gc-interval", "0"], "--gc-interval must be > 0 (got 0)"],
    [["--read-timeout", "0"], "--read-timeout must be > 0 (got 0)"],
    [["--write-timeout", "-1"], "--write-timeout must be >= 0 (got -1)"],
    [["--shutdown-timeout", "-5"], "--shutdown-timeout must be >= 0 (got -5)"],
    [["--port", "65536"], "--port must be between 0 and 65535 (got 65536)"],
    [["--port", "-1"], "--port must be between 0 and 65535 (got -1)"],
    [["--max-connections", "-1"], "--max-connections must be >= 0 (got -1)"],
    [["--max-waiters", "-1"], "--max-waiters must be >= 0 (got -1)"],
    [["--gc-max-idle", "0"], "--gc-max-idle must be > 0 (got 0)"],
  ];

  for (const [argv, message] of cases) {
    test(message, async () => {
      const r = await exit(argv);
      assert.equal(r.message, `configuration error: ${message}`);
      assert.equal(r.usage, true);
    });
  }

  test("boundary values are accepted", async () => {
    const r = await options([
      "--port=65535",
      "--write-timeout=0",
      "--shutdown-timeout=0",
      "--max-connections=0",
      "--max-waiters=0",
      "--max-locks=1",
      "--gc-max-idle=1",
    ]);
    assert.equal(r.options.port, 65535);
  });

  test("the first violation in Go's order is reported", async () => {
    // Every violation at once, given in reverse rule order.
    const argv: string[] = [];
    for (let i = cases.length - 1; i >= 0; i--) argv.push(...(cases[i]?.[0] ?? []));
    const r = await exit(argv);
    assert.equal(r.message, "configuration error: --max-locks must be > 0 (got 0)");
    const r2 = await exit(["--gc-max-idle", "0", "--port", "70000", "--write-timeout", "-1"]);
    assert.equal(r2.message, "configuration error: --write-timeout must be >= 0 (got -1)");
    const r3 = await exit(["--gc-max-idle", "0", "--max-waiters", "-1"]);
    assert.equal(r3.message, "configuration error: --max-waiters must be >= 0 (got -1)");
  });
});

describe("--version", () => {
  test("is reported after validation", async () => {
    const r = await options(["--version"]);
    assert.equal(r.version, true);
    const bad = await exit(["--version", "--max-locks", "0"]);
    assert.match(bad.message, /max-locks/);
    assert.equal((await options(["--version=false"])).version, false);
  });

  test("comes before the TLS startup check", async () => {
    const r = await options(["--version", "--tls-cert", "c.pem"]);
    assert.equal(r.version, true);
    assert.equal(
      checkStartup(r.options),
      "both --tls-cert and --tls-key must be provided together",
    );
  });
});

describe("startup checks and mapping", () => {
  test("TLS needs both files", () => {
    assert.equal(checkStartup(DEFAULT_CONFIG), undefined);
    assert.equal(checkStartup({ ...DEFAULT_CONFIG, tlsCert: "c", tlsKey: "k" }), undefined);
    const go = "both --tls-cert and --tls-key must be provided together";
    assert.equal(checkStartup({ ...DEFAULT_CONFIG, tlsCert: "c" }), go);
    assert.equal(checkStartup({ ...DEFAULT_CONFIG, tlsKey: "k" }), go);
  });

  test("toServerOptions leaves unset strings out", () => {
    const o = toServerOptions(DEFAULT_CONFIG);
    assert.equal("tlsCert" in o, false);
    assert.equal("authToken" in o, false);
    assert.equal(o.maxLocks, 1024);
    const t = toServerOptions({ ...DEFAULT_CONFIG, tlsCert: "c", tlsKey: "k", authToken: "s" });
    assert.equal(t.tlsCert, "c");
    assert.equal(t.tlsKey, "k");
    assert.equal(t.authToken, "s");
  });

  test("the flags are the settings table's, plus --version", () => {
    assert.deepEqual(
      SERVER_FLAGS.map((spec) => spec.name),
      [...SERVER_SETTINGS.map((setting) => setting.flag), "version"],
    );
    for (const setting of SERVER_SETTINGS) {
      const spec = SERVER_FLAGS.find((flag) => flag.name === setting.flag)!;
      assert.equal(spec.kind, setting.kind, setting.flag);
      assert.ok(spec.usage.startsWith(setting.usage), setting.flag);
      const beats = "envBeatsFlag" in setting;
      assert.equal(spec.env, beats ? undefined : setting.env, setting.flag);
      if (beats) assert.match(spec.usage, new RegExp(`\\$${setting.env}, which beats this flag`));
    }
  });

  test("describeNonDefaults names every changed setting that the log line shows", () => {
    const changed: Record<string, unknown> = { ...DEFAULT_CONFIG, httpPort: 9999 };
    const expected: string[] = [];
    for (const setting of SERVER_SETTINGS) {
      if ("logged" in setting || setting.key === "httpPort") continue;
      const value = setting.kind === "bool"
        ? !setting.default
        : setting.kind === "int"
        ? 7
        : "h.example";
      changed[setting.key] = value;
      expected.push(`${setting.flag}=${value}`);
    }
    expected.splice(expected.indexOf("http-host=h.example"), 0, "http-port=9999");
    assert.deepEqual(describeNonDefaults(changed as unknown as ResolvedConfig), expected);
  });

  test("describeNonDefaults hides the token", () => {
    assert.deepEqual(describeNonDefaults(DEFAULT_CONFIG), []);
    assert.deepEqual(
      describeNonDefaults({
        ...DEFAULT_CONFIG,
        port: 1,
        maxLocks: 2,
        autoReleaseOnDisconnect: false,
        authToken: "secret",
        tlsCert: "c",
        tlsKey: "k",
      }),
      ["max-locks=2", "auto-release-on-disconnect=false", "tls=on", "auth=on"],
    );
  });
});
