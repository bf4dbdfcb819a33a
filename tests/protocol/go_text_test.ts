import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { atoi, fields, secondsToMs, trimSpace } from "../../src/protocol/go_text.ts";
import { encodeUtf8 } from "../../src/protocol/utf8.ts";

/** Text to byte string. */
const b = encodeUtf8;

/** 9223372037 s as Go's wrapped int64 nanoseconds (9223372037e9 - 2^64), in ms. */
const NEG_WRAP = Number(9223372037n * 1000000000n - 2n ** 64n) / 1e6;

describe("atoi (strconv.Atoi)", () => {
  const ok: [string, number | bigint][] = [
    ["0", 0],
    ["5", 5],
    ["+5", 5],
    ["-5", -5],
    ["007", 7],
    ["-0", 0],
    ["+0", 0],
    ["123456789012345", 123456789012345],
    ["9007199254740991", 9007199254740991],
    ["9007199254740992", 9007199254740992n],
    ["-9007199254740992", -9007199254740992n],
    ["9223372036", 9223372036],
    ["9223372037", 9223372037],
    ["18446744074", 18446744074],
    ["9223372036854775807", 9223372036854775807n],
    ["-9223372036854775808", -9223372036854775808n],
    ["+9223372036854775807", 9223372036854775807n],
    ["00000000000000000000000000005", 5],
  ];
  for (const [s, v] of ok) {
    test(`accepts ${JSON.stringify(s)}`, () => {
      const got = atoi(s);
      assert.equal(got, v);
      assert.ok(!Object.is(got, -0));
    });
  }
  const bad = [
    "",
    "+",
    "-",
    "+-5",
    "--5",
    " 5",
    "5 ",
    "5x",
    "abc",
    "1.5",
    "0x10",
    "1_0",
    "1e3",
    "٣",
    b("５"),
    "99999999999999999999",
    "9223372036854775808",
    "-9223372036854775809",
    "1234567890123456x",
  ];
  for (const s of bad) {
    test(`rejects ${JSON.stringify(s)}`, () => {
      assert.equal(atoi(s), undefined);
    });
  }
});

describe("secondsToMs (int64 nanosecond wrap)", () => {
  const cases: [number | bigint, number][] = [
    [0, 0],
    [1, 1000],
    [33, 33000],
    [-1, -1000],
    [9223372036, 9223372036000],
    [-9223372036, -9223372036000],
    // 9223372037e9 - 2^64 ns
    [9223372037, NEG_WRAP],
    // 18446744074e9 - 2^64 ns = 290448384 ns
    [18446744074, 290.448384],
    [9223372036854775807n, Number(BigInt.asIntN(64, 9223372036854775807n * 1000000000n)) / 1e6],
  ];
  for (const [s, ms] of cases) {
    test(`${s} s`, () => {
      assert.equal(secondsToMs(s), ms);
    });
  }
  test("sign follows the Go duration", () => {
    assert.ok(Math.abs(secondsToMs(9223372037) - -9223372036709.551616) < 0.01);
    assert.ok(secondsToMs(9223372037) < 0);
    assert.ok(secondsToMs(18446744074) > 0 && secondsToMs(18446744074) < 1000);
    // 2^55 s * 1e9 is a multiple of 2^64: exactly zero.
    assert.equal(secondsToMs(36028797018963968n), 0);
  });
});

describe("trimSpace / fields (unicode.IsSpace)", () => {
  const spaces = [
    "\t",
    "\n",
    "\v",
    "\f",
    "\r",
    " ",
    "\u0085",
    "\u00a0",
    "\u1680",
    "\u2000",
    "\u2005",
    "\u200a",
    "\u2028",
    "\u2029",
    "\u202f",
    "\u205f",
    "\u3000",
  ];
  for (const sp of spaces) {
    const esc = sp.charCodeAt(0).toString(16).padStart(4, "0");
    test(`U+${esc} is space`, () => {
      const s = b(`${sp}${sp}a${sp}b${sp}`);
      assert.equal(trimSpace(s), b(`a${sp}b`));
      assert.deepEqual(fields(s), ["a", "b"]);
    });
  }
  const notSpaces = ["\ufeff", "\u200b", "\u180e", "\u0000", "\u001c", "\u00ad", "x"];
  for (const ns of notSpaces) {
    const esc = ns.charCodeAt(0).toString(16).padStart(4, "0");
    test(`U+${esc} is not space`, () => {
      const s = b(` ${ns} `);
      assert.equal(trimSpace(s), b(ns));
      assert.deepEqual(fields(s), [b(ns)]);
    });
  }
  test("partial or invalid encodings are not spaces", () => {
    assert.deepEqual(fields("\xc2 \xa0"), ["\xc2", "\xa0"]);
    assert.equal(trimSpace("\xe2\x80"), "\xe2\x80");
    assert.equal(trimSpace("\x80\x80\xa8"), "\x80\x80\xa8");
    assert.deepEqual(fields("a\xe2\x80\xa8\xa8b"), ["a", "\xa8b"]);
  });
  test("fields edge cases", () => {
    assert.deepEqual(fields(""), []);
    assert.deepEqual(fields(" \t "), []);
    assert.deepEqual(fields(" \t 3 \t 4 "), ["3", "4"]);
    assert.deepEqual(fields("05 007"), ["05", "007"]);
    assert.equal(trimSpace(""), "");
    assert.equal(trimSpace("   "), "");
    assert.equal(trimSpace("a b"), "a b");
  });
});
