import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  checkStartup,
  describeNonDefaults,
  goTrimSpace,
  parseEnvBool,
  parseEnvInt,
  parseServerArgs,
  type ResolvedConfig,
  type ServerConfigResult,
  serverUsage,
  toServerOptions,
} from "../../src/server/config.ts";
import { SERVER_DEFAULTS } from "../../src/server/options.ts";

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
  assert.equal(result.kind, "options", result.kind === "exit" ? result.stderr : "");
  return result as Extract<ServerConfigResult, { kind: "options" }>;
}

async function exit(argv: string[], env: Env = {}, fs: Record<string, string> = {}) {
  const result = await resolve(argv, env, fs);
  assert.equal(result.kind, "exit", "expected the configuration to be refused");
  return result as Extract<ServerConfigResult, { kind: "exit" }>;
}

const DEFAULT_CONFIG: ResolvedConfig = {
  ...SERVER_DEFAULTS,
  tlsCert: "",
  tlsKey: "",
  authToken: "",
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
      debug: true,
    });
  });

  test("integer flags take Go base prefixes and underscores", async () => {
    const r = await options(["--port", "0x10", "--max-locks=1_000", "--max-waiters", "010"]);
    assert.equal(r.options.port, 16);
    assert.equal(r.options.maxLocks, 1000);
    assert.equal(r.options.maxWaiters, 8);
  });

  test("--flag false does not work: false stops parsing", async () => {
    const r = await options(["--auto-release-on-disconnect", "false", "--max-locks", "0"]);
    assert.equal(r.options.autoReleaseOnDisconnect, true);
    assert.equal(r.options.maxLocks, 1024, "flags after the positional argument are ignored");
  });

  test("parsing stops at -- and at the first non-flag", async () => {
    assert.equal((await options(["--port", "1", "--", "--port", "x"])).options.port, 1);
    assert.equal((await options(["extra", "--port", "x"])).options.port, 6388);
  });
});

describe("command-line errors", () => {
  test("unknown flag: Go's message, usage, exit 1", async () => {
    const r = await exit(["--nope"]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.startsWith("flag provided but not defined: -nope\nUsage of dflockd:\n"));
    assert.ok(r.stderr.includes("  -max-locks int\n"));
    assert.ok(r.stderr.endsWith("configuration error: flag provided but not defined: -nope\n"));
  });

  test("--no-auto-release-on-disconnect does not exist", async () => {
    const r = await exit(["--no-auto-release-on-disconnect"]);
    assert.match(r.stderr, /flag provided but not defined: -no-auto-release-on-disconnect/);
  });

  test("unparsable values", async () => {
    const a = await exit(["--port", "abc"]);
    assert.equal(a.code, 1);
    assert.match(a.stderr, /^invalid value "abc" for flag -port: parse error\nUsage of dflockd:/);
    const b = await exit(["--debug=yes"]);
    assert.match(b.stderr, /^invalid boolean value "yes" for -debug: parse error\n/);
    const c = await exit(["--max-locks"]);
    assert.match(c.stderr, /^flag needs an argument: -max-locks\n/);
  });

  test("-h / --help: usage and exit 1", async () => {
    for (const h of ["-h", "--help", "-help"]) {
      const r = await exit([h]);
      assert.equal(r.code, 1);
      assert.ok(r.stderr.startsWith("Usage of dflockd:\n"), h);
      assert.ok(r.stderr.includes('  -host string\n    \tBind address (default "127.0.0.1")\n'));
      assert.ok(r.stderr.includes("  -auto-release-on-disconnect\n"));
    }
  });

  test("the usage lists every flag of PROTOCOL.md 12.1 sorted by name", () => {
    const names = [...serverUsage().matchAll(/^ {2}-([a-z-]+)/gm)].map((m) => m[1]);
    assert.deepEqual(names, [
      "auth-token",
      "auth-token-file",
      "auto-release-on-disconnect",
      "debug",
      "default-lease-ttl",
      "gc-interval",
      "gc-max-idle",
      "host",
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
  });

  test("empty variables count as unset", async () => {
    const r = await options([], { DFLOCKD_HOST: "", DFLOCKD_MAX_LOCKS: "", DFLOCKD_DEBUG: "" });
    assert.deepEqual(r.options, DEFAULT_CONFIG);
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

  test("environment values are validated like flags", async () => {
    const r = await exit([], { DFLOCKD_MAX_LOCKS: "0" });
    assert.equal(r.stderr, "configuration error: --max-locks must be > 0 (got 0)\n");
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
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^configuration error: .*auth token file "\/missing".*\n$/);
    const e = await exit([], { DFLOCKD_AUTH_TOKEN_FILE: "/missing" }, fs);
    assert.match(e.stderr, /auth token file/);
  });

  test("Go's TrimSpace", () => {
    assert.equal(goTrimSpace("\u00a0\u2003 a b\u3000\v\f\x85"), "a b");
    assert.equal(goTrimSpace("\ufeffa"), "\ufeffa");
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
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `configuration error: ${message}\n`);
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
    assert.equal(r.stderr, "configuration error: --max-locks must be > 0 (got 0)\n");
    const r2 = await exit(["--gc-max-idle", "0", "--port", "70000", "--write-timeout", "-1"]);
    assert.equal(r2.stderr, "configuration error: --write-timeout must be >= 0 (got -1)\n");
    const r3 = await exit(["--gc-max-idle", "0", "--max-waiters", "-1"]);
    assert.equal(r3.stderr, "configuration error: --max-waiters must be >= 0 (got -1)\n");
  });
});

describe("--version", () => {
  test("is reported after validation", async () => {
    const r = await options(["--version"]);
    assert.equal(r.version, true);
    const bad = await exit(["--version", "--max-locks", "0"]);
    assert.match(bad.stderr, /max-locks/);
    assert.equal((await options(["--version=false"])).version, false);
  });

  test("comes before the TLS startup check", async () => {
    const r = await options(["--version", "--tls-cert", "c.pem"]);
    assert.equal(r.version, true);
    assert.match(checkStartup(r.options) ?? "", /tls-cert/);
  });
});

describe("startup checks and mapping", () => {
  test("TLS needs both files", () => {
    assert.equal(checkStartup(DEFAULT_CONFIG), undefined);
    assert.equal(checkStartup({ ...DEFAULT_CONFIG, tlsCert: "c", tlsKey: "k" }), undefined);
    assert.match(checkStartup({ ...DEFAULT_CONFIG, tlsCert: "c" }) ?? "", /tls/);
    assert.match(checkStartup({ ...DEFAULT_CONFIG, tlsKey: "k" }) ?? "", /tls/);
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
