import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { formatStats, parseStats } from "../../src/protocol/stats.ts";
import { ProtocolError } from "../../src/errors.ts";
import type { ServerStats } from "../../src/protocol/stats.ts";
import { goJsonFloat, goJsonInt, goJsonString } from "../../src/protocol/stats_format.ts";
import { decodeUtf8, encodeUtf8 } from "../../src/protocol/utf8.ts";

describe("goJsonFloat (Go float64 in encoding/json)", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [-0, "-0"],
    [1, "1"],
    [33, "33"],
    [31.99, "31.99"],
    [4.2, "4.2"],
    [0.1 + 0.2, "0.30000000000000004"],
    [0.000001, "0.000001"],
    [0.0000012, "0.0000012"],
    [5e-7, "5e-7"],
    [9.99e-7, "9.99e-7"],
    [1.5e-10, "1.5e-10"],
    [1e-100, "1e-100"],
    [5e-324, "5e-324"],
    [123456789, "123456789"],
    [9223372036, "9223372036"],
    [1e20, "100000000000000000000"],
    [123456789012345680000, "123456789012345680000"],
    [1e21, "1e+21"],
    [1.5e300, "1.5e+300"],
    [-2.5, "-2.5"],
  ];
  for (const [x, s] of cases) {
    test(`${s}`, () => assert.equal(goJsonFloat(x), s));
  }
  test("non-finite values are refused", () => {
    assert.throws(() => goJsonFloat(NaN), RangeError);
    assert.throws(() => goJsonFloat(Infinity), RangeError);
  });
});

describe("goJsonInt", () => {
  test("plain digits", () => {
    assert.equal(goJsonInt(0), "0");
    assert.equal(goJsonInt(1024), "1024");
    assert.equal(goJsonInt(-3), "-3");
    assert.equal(goJsonInt(1e21), "1000000000000000000000");
    assert.throws(() => goJsonInt(1.5), RangeError);
  });
  test("a bigint is written digit for digit", () => {
    assert.equal(goJsonInt(9223372036854775807n), "9223372036854775807");
    assert.equal(goJsonInt(9007199254740993n), "9007199254740993");
    assert.equal(goJsonInt(-9223372036854775808n), "-9223372036854775808");
  });
});

describe("goJsonString (Go JSON escaping of byte strings)", () => {
  const cases: [string, string, string][] = [
    ["plain", "job", '"job"'],
    ["quote and backslash", 'a"b\\c', '"a\\"b\\\\c"'],
    ["html", "<a>&b", '"\\u003ca\\u003e\\u0026b"'],
    ["short escapes", "\n\r\t", '"\\n\\r\\t"'],
    // Go 1.19 (the reference build) has no short form for backspace and form feed.
    ["backspace and form feed", "a\bb\fc", '"a\\u0008b\\u000cc"'],
    ["other controls", "\x00\x01\x0b\x1f", '"\\u0000\\u0001\\u000b\\u001f"'],
    ["DEL is raw", "\x7f", '"\x7f"'],
    ["raw multibyte", encodeUtf8("ключ é 😀 \u00a0"), `"${encodeUtf8("ключ é 😀 \u00a0")}"`],
    ["U+2028/2029", encodeUtf8("a\u2028b\u2029c"), '"a\\u2028b\\u2029c"'],
    ["lone invalid byte", "a\xffb", '"a\\ufffdb"'],
    ["continuation without lead", "\x80", '"\\ufffd"'],
    ["truncated sequence: one per byte", "\xe2\x80", '"\\ufffd\\ufffd"'],
    ["truncated before ASCII", "\xe2\x80x", '"\\ufffd\\ufffdx"'],
    ["overlong encoding", "\xc0\xaf", '"\\ufffd\\ufffd"'],
    ["surrogate encoding", "\xed\xa0\x80", '"\\ufffd\\ufffd\\ufffd"'],
    ["beyond U+10FFFF", "\xf4\x90\x80\x80", '"\\ufffd\\ufffd\\ufffd\\ufffd"'],
    ["valid U+FFFD stays raw", "\xef\xbf\xbd", '"\xef\xbf\xbd"'],
    ["empty", "", '""'],
  ];
  for (const [name, input, want] of cases) {
    test(name, () => assert.equal(goJsonString(input), want));
  }
  test("output decodes as JSON to the key (valid UTF-8 input)", () => {
    const key = encodeUtf8('a<b>&"\\\n\u2028ключ');
    assert.equal(JSON.parse(decodeUtf8(goJsonString(key))), decodeUtf8(key));
  });
});

describe("formatStats", () => {
  test("empty arrays are []", () => {
    const s: ServerStats = {
      connections: 1,
      locks: [],
      semaphores: [],
      idleLocks: [],
      idleSemaphores: [],
    };
    assert.equal(
      formatStats(s),
      '{"connections":1,"locks":[],"semaphores":[],"idle_locks":[],"idle_semaphores":[]}',
    );
  });
  test("docs/protocol.md 7 example, field order", () => {
    const s: ServerStats = {
      connections: 2,
      locks: [{ key: "job", ownerConnId: 1, leaseExpiresInS: 31.99, waiters: 1 }],
      semaphores: [{ key: "pool", limit: 3, holders: 2, waiters: 0 }],
      idleLocks: [{ key: "old", idleS: 4.2 }],
      idleSemaphores: [],
    };
    assert.equal(
      formatStats(s),
      '{"connections":2,"locks":[{"key":"job","owner_conn_id":1,"lease_expires_in_s":31.99,' +
        '"waiters":1}],"semaphores":[{"key":"pool","limit":3,"holders":2,"waiters":0}],' +
        '"idle_locks":[{"key":"old","idle_s":4.2}],"idle_semaphores":[]}',
    );
  });
  test("several entries, escaping, exponent numbers", () => {
    const s: ServerStats = {
      connections: 0,
      locks: [
        { key: "a<b", ownerConnId: 0, leaseExpiresInS: 0, waiters: 2 },
        { key: "\xff", ownerConnId: 7, leaseExpiresInS: 5e-7, waiters: 0 },
      ],
      semaphores: [],
      idleLocks: [],
      idleSemaphores: [{ key: encodeUtf8("é"), idleS: 60.000001 }, { key: "s2", idleS: 0 }],
    };
    const out = formatStats(s);
    assert.equal(
      out,
      '{"connections":0,"locks":[{"key":"a\\u003cb","owner_conn_id":0,"lease_expires_in_s":0,' +
        '"waiters":2},{"key":"\\ufffd","owner_conn_id":7,"lease_expires_in_s":5e-7,' +
        '"waiters":0}],"semaphores":[],"idle_locks":[],"idle_semaphores":[{"key":"\xc3\xa9",' +
        '"idle_s":60.000001},{"key":"s2","idle_s":0}]}',
    );
    const parsed = JSON.parse(decodeUtf8(out));
    assert.equal(parsed.idle_semaphores[0].key, "é");
    assert.equal(parsed.locks[1].lease_expires_in_s, 5e-7);
  });
  test("a limit beyond 2^53 is printed exactly, not as its nearest double", () => {
    const s: ServerStats = {
      connections: 1,
      locks: [],
      semaphores: [{ key: "big", limit: 9223372036854775807n, holders: 1, waiters: 0 }],
      idleLocks: [],
      idleSemaphores: [],
    };
    assert.equal(
      formatStats(s),
      '{"connections":1,"locks":[],"semaphores":[{"key":"big","limit":9223372036854775807,' +
        '"holders":1,"waiters":0}],"idle_locks":[],"idle_semaphores":[]}',
    );
  });
});

describe("parseStats (the client's reading of formatStats)", () => {
  test("round trip: every field of every entry comes back under its model name", () => {
    const s: ServerStats = {
      connections: 3,
      locks: [{ key: "job", ownerConnId: 1, leaseExpiresInS: 31.99, waiters: 1 }],
      semaphores: [{ key: "pool", limit: 3, holders: 2, waiters: 4 }],
      idleLocks: [{ key: "old", idleS: 4.2 }],
      idleSemaphores: [{ key: encodeUtf8("é"), idleS: 0.5 }],
    };
    const parsed = parseStats(JSON.parse(decodeUtf8(formatStats(s))));
    assert.deepEqual(parsed, { ...s, idleSemaphores: [{ key: "é", idleS: 0.5 }] });
  });
  test("missing or null arrays are empty; unknown fields are ignored", () => {
    assert.deepEqual(parseStats({ connections: 0, locks: null, extra: true }), {
      connections: 0,
      locks: [],
      semaphores: [],
      idleLocks: [],
      idleSemaphores: [],
    });
  });
  test("a field of the wrong type is a ProtocolError naming it", () => {
    assert.throws(
      () => parseStats({ connections: 1, locks: [{ key: "k", owner_conn_id: "1" }] }),
      (e: unknown) =>
        e instanceof ProtocolError && /locks\[0\]\.owner_conn_id is not a number/.test(e.message),
    );
    assert.throws(() => parseStats({ connections: 1, semaphores: {} }), ProtocolError);
    assert.throws(() => parseStats({}), /stats\.connections is not a number/);
  });
});
