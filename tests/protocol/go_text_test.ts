import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  atoi,
  durationSeconds,
  fields,
  leaseSecondsToMs,
  secondsToMs,
  trimSpace,
} from "../../src/protocol/go_text.ts";
import { goJsonFloat } from "../../src/protocol/stats_format.ts";
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
    test(`${JSON.stringify(s)} is ${v}`, () => {
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
    test(`${JSON.stringify(s)} is not an int64 (undefined)`, () => {
      assert.equal(atoi(s), undefined);
    });
  }
});

describe("secondsToMs (int64 nanosecond wrap)", () => {
  const exact: [number, number][] = [
    [0, 0],
    [1, 1000],
    [33, 33000],
    [-1, -1000],
    [9223372036, 9223372036000],
    [-9223372036, -9223372036000],
  ];
  for (const [s, ms] of exact) {
    test(`${s} s is exactly ${ms} ms`, () => {
      assert.equal(secondsToMs(s), ms);
      assert.equal(leaseSecondsToMs(s), ms);
    });
  }
  const wrapped: [number | bigint, number][] = [
    // 9223372037e9 - 2^64 ns
    [9223372037, NEG_WRAP],
    // 18446744074e9 - 2^64 ns = 290448384 ns
    [18446744074, 290.448384],
    [9223372036854775807n, Number(BigInt.asIntN(64, 9223372036854775807n * 1000000000n)) / 1e6],
  ];
  for (const [s, ms] of wrapped) {
    test(`${s} s wraps to about ${ms} ms`, () => {
      assert.ok(Math.abs(secondsToMs(s) - ms) < 0.01, `${secondsToMs(s)}`);
      assert.ok(Math.abs(leaseSecondsToMs(s) - ms) < 0.01, `${leaseSecondsToMs(s)}`);
    });
  }
  test("sign follows the Go duration", () => {
    assert.ok(secondsToMs(9223372037) < 0);
    assert.ok(secondsToMs(18446744074) > 0 && secondsToMs(18446744074) < 1000);
    // 2^55 s * 1e9 is a multiple of 2^64: exactly zero.
    assert.equal(secondsToMs(36028797018963968n), 0);
    assert.equal(leaseSecondsToMs(36028797018963968n), 0);
  });
});

/** Go's wrapped duration of `s` seconds, in int64 nanoseconds. */
function goNanos(s: bigint): bigint {
  return BigInt.asIntN(64, s * 1_000_000_000n);
}

/** Go's `int64(d / time.Second)`: the integer quotient (truncated toward zero). */
function goQuotient(ns: bigint): number {
  return Number(ns / 1_000_000_000n);
}

/** Go's `int(d.Seconds())`: float64(d/Second) + float64(d%Second)/1e9, then truncated. */
function goSecondsFloat(ns: bigint): number {
  return Math.trunc(Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9);
}

/** The smallest s >= 0 whose wrapped nanoseconds are `ns` (`ns` must be a multiple of 512). */
function secondsFor(ns: bigint): bigint {
  // s * 1e9 = s * 1953125 * 2^9 (mod 2^64), so s = (ns / 2^9) * 1953125^-1 (mod 2^55).
  const m = 1n << 55n;
  let [r0, r1, t0, t1] = [m, 1953125n, 0n, 1n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  const inverse = ((t0 % m) + m) % m;
  return ((BigInt.asUintN(64, ns) / 512n) * inverse) % m;
}

describe("wrapped leases report Go's whole seconds exactly", () => {
  // Wrapped durations just below a whole second, where float rounding bites: 999999488 ns is
  // the largest fraction a wrapped duration can have (it is a multiple of 512 ns).
  const corners = [
    9000000000n * 1_000_000_000n + 999_999_488n,
    8589934592n * 1_000_000_000n + 999_999_488n,
    5000000000n * 1_000_000_000n + 999_999_488n,
    999_999_488n,
    1_999_999_488n,
    512n,
    -512n,
    -(9000000000n * 1_000_000_000n + 999_999_488n),
    -999_999_488n,
  ];
  const cases: bigint[] = corners.map(secondsFor);
  cases.push(9223372037n, 18446744074n, 18446744075n, 36028797018963968n);
  cases.push(9223372036854775807n, -9223372036854775808n, 15817298833210772n);
  // A deterministic spread over the whole int64 range (xorshift).
  let x = 0x9e3779b97f4a7c15n;
  for (let i = 0; i < 2000; i++) {
    x ^= BigInt.asUintN(64, x << 13n);
    x ^= x >> 7n;
    x ^= BigInt.asUintN(64, x << 17n);
    cases.push(BigInt.asIntN(64, x));
  }

  test("the constructed corners are what they claim", () => {
    assert.equal(goNanos(secondsFor(corners[0]!)), corners[0]);
    // The two formulas disagree there, so both code paths are exercised.
    assert.equal(goQuotient(corners[0]!), 9000000000);
    assert.equal(goSecondsFloat(corners[0]!), 9000000001);
    assert.equal(goSecondsFloat(corners[1]!), 8589934593);
  });

  test("secondsToMs: Math.trunc(ms / 1000) is Go's d / time.Second", () => {
    for (const s of cases) {
      const ns = goNanos(s);
      const ms = secondsToMs(s);
      assert.equal(Math.trunc(ms / 1000) + 0, goQuotient(ns), `s=${s}`); // +0: no -0
      assert.equal(Math.sign(ms), Number(ns > 0n) - Number(ns < 0n), `sign, s=${s}`);
      assert.ok(Math.abs(ms - Number(ns) / 1e6) <= 1, `close to the duration, s=${s}`);
    }
  });

  test("leaseSecondsToMs: Math.trunc(ms / 1000) is Go's int(d.Seconds())", () => {
    for (const s of cases) {
      const ns = goNanos(s);
      const ms = leaseSecondsToMs(s);
      assert.equal(Math.trunc(ms / 1000) + 0, goSecondsFloat(ns) + 0, `s=${s}`);
      assert.equal(Math.sign(ms), Number(ns > 0n) - Number(ns < 0n), `sign, s=${s}`);
      assert.ok(Math.abs(ms - Number(ns) / 1e6) <= 1, `close to the duration, s=${s}`);
    }
  });

  test("the same for values given as numbers (atoi's result below 2^53)", () => {
    for (const s of cases) {
      if (s > 9007199254740991n || s < -9007199254740991n) continue;
      assert.equal(secondsToMs(Number(s)), secondsToMs(s));
      assert.equal(leaseSecondsToMs(Number(s)), leaseSecondsToMs(s));
    }
  });
});

describe("durationSeconds (Duration.Seconds() as encoding/json writes it)", () => {
  // time.Duration(ns).Seconds() through encoding/json, printed by Go 1.19. A millisecond double
  // carries whole nanoseconds up to about 26 days; beyond that the text may differ from Go's in
  // its last digit (2^53 - 1 ns: Go 9007199.25474099, dflock 9007199.254740993).
  const fromGo: [bigint, string][] = [
    [0n, "0"],
    [1n, "1e-9"],
    [999n, "9.99e-7"],
    [1000n, "0.000001"],
    [123456789n, "0.123456789"],
    [999999999n, "0.999999999"],
    [1000000000n, "1"],
    [1999920602n, "1.999920602"],
    [2999858929n, "2.999858929"],
    [32999943476n, "32.999943476"],
    [300000000000n, "300"],
    [86400000000001n, "86400.000000001"],
    [1999999999999999n, "1999999.999999999"],
    [8640000000000001n, "8640000.000000002"],
    [4611686018427387904n, "4611686018.427388"],
    [9223372036854775807n, "9223372036.854776"],
  ];

  test("the same text as Go for the same nanoseconds", () => {
    for (const [ns, go] of fromGo) {
      const ms = Number(ns / 1000000n) + Number(ns % 1000000n) / 1e6;
      assert.equal(goJsonFloat(durationSeconds(ms)), go, `${ns} ns`);
    }
  });

  test("not the float noise of a clock difference / 1000", () => {
    // A lease of 1999.920602 ms read off two clock readings, as the server does.
    const expiry = 5000.123456 + 1999.920602;
    const left = expiry - 5000.123456;
    assert.equal(String(left / 1000), "1.9999206020000002");
    assert.equal(goJsonFloat(durationSeconds(left)), "1.999920602");
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
