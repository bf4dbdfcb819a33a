import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  formatGoDefaults,
  formatGoUsage,
  type GoFlagSpec,
  parseGoBool,
  parseGoFlags,
  parseGoInt,
} from "../../src/cli/go_flag.ts";

const SPECS: GoFlagSpec[] = [
  { name: "port", kind: "int", usage: "Bind port", defaultValue: 6388 },
  { name: "host", kind: "string", usage: "Bind address", defaultValue: "127.0.0.1" },
  { name: "debug", kind: "bool", usage: "Enable debug logging", defaultValue: false },
  { name: "auto", kind: "bool", usage: "Auto release", defaultValue: true },
  { name: "x", kind: "int", usage: "Short", defaultValue: 0 },
];

describe("parseGoInt (strconv.ParseInt)", () => {
  test("base 0 accepts Go prefixes, octal and underscores", () => {
    assert.equal(parseGoInt("0x10", 0), 16);
    assert.equal(parseGoInt("0X1f", 0), 31);
    assert.equal(parseGoInt("0o17", 0), 15);
    assert.equal(parseGoInt("017", 0), 15);
    assert.equal(parseGoInt("0b101", 0), 5);
    assert.equal(parseGoInt("1_000", 0), 1000);
    assert.equal(parseGoInt("0x_1f", 0), 31);
    assert.equal(parseGoInt("-0x10", 0), -16);
    assert.equal(parseGoInt("+7", 0), 7);
    assert.equal(parseGoInt("0", 0), 0);
    assert.equal(parseGoInt("-0", 0), 0);
  });

  test("base 0 rejects malformed text", () => {
    for (
      const bad of ["", "-", "+", "abc", "1_", "_1", "1__0", "08", "0x", "0b2", " 7", "7 ", "1.5"]
    ) {
      assert.equal(parseGoInt(bad, 0), "parse error", bad);
    }
  });

  test("base 10 (Atoi) is plain decimal", () => {
    assert.equal(parseGoInt("007", 10), 7);
    assert.equal(parseGoInt("-12", 10), -12);
    assert.equal(parseGoInt("+12", 10), 12);
    for (const bad of ["0x10", "1_000", " 7", "7 ", "", "abc"]) {
      assert.equal(parseGoInt(bad, 10), "parse error", bad);
    }
  });

  test("64-bit range", () => {
    assert.equal(parseGoInt("9223372036854775807", 0), 9223372036854775807);
    assert.equal(parseGoInt("-9223372036854775808", 10), -9223372036854775808);
    assert.equal(parseGoInt("9223372036854775808", 0), "value out of range");
    assert.equal(parseGoInt("-9223372036854775809", 10), "value out of range");
    assert.equal(parseGoInt("99999999999999999999999", 10), "value out of range");
  });
});

describe("parseGoBool (strconv.ParseBool)", () => {
  test("1 t T TRUE true True are true, 0 f F FALSE false False are false, anything else undefined", () => {
    for (const t of ["1", "t", "T", "TRUE", "true", "True"]) assert.equal(parseGoBool(t), true);
    for (const f of ["0", "f", "F", "FALSE", "false", "False"]) assert.equal(parseGoBool(f), false);
    for (const bad of ["yes", "no", "tRUE", "", "2", " true"]) {
      assert.equal(parseGoBool(bad), undefined, bad);
    }
  });
});

describe("parseGoFlags", () => {
  const ok = (argv: string[]) => {
    const result = parseGoFlags(SPECS, argv);
    assert.ok(result.ok, result.ok ? "" : result.error);
    return result;
  };
  const fail = (argv: string[]) => {
    const result = parseGoFlags(SPECS, argv);
    assert.ok(!result.ok, "expected a parse failure");
    return result;
  };

  test("one or two dashes, separate or = values", () => {
    assert.equal(ok(["-port", "7000"]).values.get("port"), 7000);
    assert.equal(ok(["--port", "7000"]).values.get("port"), 7000);
    assert.equal(ok(["--port=7000"]).values.get("port"), 7000);
    assert.equal(ok(["-port=0x10"]).values.get("port"), 16);
    assert.equal(ok(["--host", "-weird"]).values.get("host"), "-weird");
    assert.equal(ok(["--host="]).values.get("host"), "");
    assert.equal(ok(["--host=a=b"]).values.get("host"), "a=b");
  });

  test("the last occurrence wins", () => {
    assert.equal(ok(["--port", "1", "--port", "2"]).values.get("port"), 2);
  });

  test("boolean flags", () => {
    assert.equal(ok(["--debug"]).values.get("debug"), true);
    assert.equal(ok(["--auto=false"]).values.get("auto"), false);
    assert.equal(ok(["-debug=T"]).values.get("debug"), true);
    const r = ok(["--auto", "false", "--port", "1"]);
    assert.equal(r.values.get("auto"), true);
    assert.deepEqual(r.rest, ["false", "--port", "1"]);
    assert.equal(r.values.has("port"), false);
  });

  test("boolBeforeRest names a bare boolean flag right before the rest", () => {
    assert.equal(ok(["--auto", "false", "--port", "1"]).boolBeforeRest, "--auto");
    assert.equal(ok(["-debug", "x"]).boolBeforeRest, "-debug");
    assert.equal(ok(["--debug=true", "false"]).boolBeforeRest, undefined, "it had its value");
    assert.equal(ok(["--debug", "--port", "1", "x"]).boolBeforeRest, undefined);
    assert.equal(ok(["--debug", "--", "false"]).boolBeforeRest, undefined, "-- came between");
    assert.equal(ok(["--debug"]).boolBeforeRest, undefined, "no rest");
    assert.equal(ok(["x"]).boolBeforeRest, undefined);
  });

  test("parsing stops at the first non-flag or after --", () => {
    const a = ok(["--port", "1", "serve", "--port", "2"]);
    assert.equal(a.values.get("port"), 1);
    assert.deepEqual(a.rest, ["serve", "--port", "2"]);
    const b = ok(["--", "--port", "2"]);
    assert.equal(b.values.size, 0);
    assert.deepEqual(b.rest, ["--port", "2"]);
    const c = ok(["-", "--port", "2"]);
    assert.deepEqual(c.rest, ["-", "--port", "2"]);
  });

  test("errors use Go's wording", () => {
    assert.equal(fail(["--nope"]).error, "flag provided but not defined: -nope");
    assert.equal(
      fail(["--no-auto"]).error,
      "flag provided but not defined: -no-auto",
    );
    assert.equal(fail(["--port"]).error, "flag needs an argument: -port");
    assert.equal(fail(["--port", "abc"]).error, 'invalid value "abc" for flag -port: parse error');
    assert.equal(fail(["--port="]).error, 'invalid value "" for flag -port: parse error');
    assert.equal(
      fail(["--port", "99999999999999999999"]).error,
      'invalid value "99999999999999999999" for flag -port: value out of range',
    );
    assert.equal(
      fail(["--debug=maybe"]).error,
      'invalid boolean value "maybe" for -debug: parse error',
    );
    assert.equal(fail(["---port"]).error, "bad flag syntax: ---port");
    assert.equal(fail(["-=1"]).error, "bad flag syntax: -=1");
  });

  test("-h, -help, --help request help", () => {
    for (const h of ["-h", "--h", "-help", "--help", "--help=1"]) {
      const r = fail([h]);
      assert.equal(r.ok, false);
      assert.ok(!r.ok && r.help, h);
    }
    assert.ok(!fail(["--nope"]).help);
  });
});

describe("formatGoDefaults", () => {
  test("adds [$NAME] after the default where a spec names its variable", () => {
    assert.equal(
      formatGoDefaults([
        { name: "port", kind: "int", usage: "Bind port", defaultValue: 6388, env: "APP_PORT" },
        { name: "debug", kind: "bool", usage: "Debug", defaultValue: false, env: "APP_DEBUG" },
        { name: "x", kind: "int", usage: "Short", defaultValue: 0 },
      ]),
      [
        "  -debug",
        "    \tDebug [$APP_DEBUG]",
        "  -port int",
        "    \tBind port (default 6388) [$APP_PORT]",
        "  -x int",
        "    \tShort",
        "",
      ].join("\n"),
    );
  });
});

describe("formatGoUsage", () => {
  test("matches Go's PrintDefaults layout", () => {
    assert.equal(
      formatGoUsage("prog", SPECS),
      [
        "Usage of prog:",
        "  -auto",
        "    \tAuto release (default true)",
        "  -debug",
        "    \tEnable debug logging",
        "  -host string",
        '    \tBind address (default "127.0.0.1")',
        "  -port int",
        "    \tBind port (default 6388)",
        "  -x int",
        "    \tShort",
        "",
      ].join("\n"),
    );
  });
});
