/**
 * The server settings table (src/server/settings.ts) and what is derived from it: the
 * defaults, `resolveServerOptions`, the validation order and the one startup check shared with
 * `dflock serve`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SERVER_DEFAULTS } from "../../src/server/options.ts";
import { resolveServerOptions } from "../../src/server/server.ts";
import { checkStartup, findSettingViolation, SERVER_SETTINGS } from "../../src/server/settings.ts";

describe("SERVER_SETTINGS", () => {
  test("keys, flags and variables are unique and follow one spelling", () => {
    const keys = SERVER_SETTINGS.map((s) => s.key);
    const flags = SERVER_SETTINGS.map((s) => s.flag);
    const envs = SERVER_SETTINGS.map((s) => s.env);
    assert.equal(new Set(keys).size, keys.length);
    assert.equal(new Set(flags).size, flags.length);
    assert.equal(new Set(envs).size, envs.length);
    for (const s of SERVER_SETTINGS) {
      // maxLocks <-> max-locks
      assert.equal(s.flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()), s.key);
      assert.match(s.env, /^DFLOCKD_[A-Z_]+$/);
      assert.ok(s.usage.length > 0, s.key);
    }
  });

  test("the defaults are the Go server's, taken from the table", () => {
    assert.deepEqual({ ...SERVER_DEFAULTS }, {
      host: "127.0.0.1",
      port: 6388,
      defaultLeaseTtl: 33,
      leaseSweepInterval: 1,
      gcInterval: 5,
      gcMaxIdle: 60,
      maxLocks: 1024,
      maxConnections: 0,
      maxWaiters: 0,
      readTimeout: 23,
      writeTimeout: 5,
      shutdownTimeout: 30,
      autoReleaseOnDisconnect: true,
      debug: false,
    });
  });

  test("resolveServerOptions fills every table setting of ServerOptions", () => {
    const resolved = resolveServerOptions({}) as unknown as Record<string, unknown>;
    for (const s of SERVER_SETTINGS) {
      if ("cliOnly" in s) {
        assert.ok(!(s.key in resolved), s.key);
        continue;
      }
      assert.ok(s.key in resolved, s.key);
      assert.equal(resolved[s.key], s.default, s.key);
    }
    // Empty strings count as unset, other values are kept.
    const given = resolveServerOptions({ tlsCert: "", authToken: "", host: "::1", port: 0 });
    assert.equal(given.tlsCert, undefined);
    assert.equal(given.authToken, undefined);
    assert.equal(given.host, "::1");
    assert.equal(given.port, 0);
  });

  test("every numeric setting is validated, in the Go server's order", () => {
    const goOrder = [
      "max-locks",
      "default-lease-ttl",
      "lease-sweep-interval",
      "gc-interval",
      "read-timeout",
      "write-timeout",
      "shutdown-timeout",
      "port",
      "max-connections",
      "max-waiters",
      "gc-max-idle",
    ];
    // Every value invalid; fix the one reported and the next one in Go's order comes up.
    const values: Record<string, unknown> = {};
    for (const s of SERVER_SETTINGS) if ("rule" in s) values[s.key] = -1;
    const reported: string[] = [];
    for (let i = 0; i <= goOrder.length; i++) {
      const violation = findSettingViolation(values as never);
      if (violation === undefined) break;
      reported.push(violation.flag);
      assert.equal(violation.message.startsWith(`--${violation.flag} must be `), true);
      values[violation.key] = 1;
    }
    assert.deepEqual(reported, goOrder);
    assert.throws(() => resolveServerOptions({ gcMaxIdle: -1 }), {
      name: "RangeError",
      message: "--gc-max-idle must be > 0 (got -1)",
    });
  });

  test("one startup check for serve() and dflock serve", () => {
    const go = "both --tls-cert and --tls-key must be provided together";
    assert.equal(checkStartup({ tlsCert: "c.pem" }), go);
    assert.equal(checkStartup({ tlsCert: "", tlsKey: "k.pem" }), go);
    assert.equal(checkStartup({ tlsCert: "c.pem", tlsKey: "k.pem" }), undefined);
    assert.equal(checkStartup({ tlsCert: "", tlsKey: undefined }), undefined);
    assert.throws(() => resolveServerOptions({ tlsKey: "k.pem" }), {
      name: "TypeError",
      message: go,
    });
    // PEM text makes the paths irrelevant, as before.
    assert.doesNotThrow(() =>
      resolveServerOptions({ tlsKey: "k.pem", tls: { cert: "c", key: "k" } })
    );
  });
});
