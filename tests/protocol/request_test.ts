import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { isValidKey, parseRequest } from "../../src/protocol/request.ts";
import type { InvalidReason, Request } from "../../src/protocol/request.ts";
import { encodeUtf8 } from "../../src/protocol/utf8.ts";

type Case = [cmd: string, key: string, arg: string, expected: Request | InvalidReason];

/**
 * 9223372037 s as Go's wrapped int64 nanoseconds (9223372037e9 - 2^64 = -9223372036709551616),
 * in ms: the whole seconds and the rest, added as `secondsToMs` does.
 */
const NEG_WRAP = -9223372036000 + -709.551616;

const T = "0123456789abcdef0123456789abcdef";
const D = undefined;

// Inputs and outcomes from conformance/scenarios/errors-*.json, framing-*.json and
// docs/protocol.md sections 3 and 4.
const CASES: Case[] = [
  // errors-unknown-command-keeps-connection
  ["bogus", "k", "0", "unknown_command"],
  ["L", "k", "0", "unknown_command"],
  ["", "k", "0", "unknown_command"],
  ["lock", "k", "0", "unknown_command"],
  ["l ", "k", "0", "unknown_command"],
  [" l", "k", "0", "unknown_command"],
  ["STATS", "_", "", "unknown_command"],
  ["barrier", "_", "", "unknown_command"],
  ["listen", "k", "", "unknown_command"],
  ["l", "k", "0", { type: "acquire", key: "k", timeoutMs: 0, limit: 1, leaseMs: D }],
  // errors-argument-count
  ["l", "k", "", "bad_field_count"],
  ["l", "k", "1 2 3", "bad_field_count"],
  ["w", "k", "", "bad_field_count"],
  ["w", "k", " \t ", "bad_field_count"],
  ["sl", "k", "0", "bad_field_count"],
  ["sl", "k", "0 2 3 4", "bad_field_count"],
  ["se", "k", "", "bad_field_count"],
  ["se", "k", "2 3 4", "bad_field_count"],
  ["sw", "k", "", "bad_field_count"],
  ["n", "k", "tok 5 6", "bad_field_count"],
  ["sn", "k", "tok 5 6", "bad_field_count"],
  ["n", "k", "", "bad_field_count"],
  // errors-empty-token
  ["r", "k", "", "bad_token"],
  ["r", "k", "   ", "bad_token"],
  ["sr", "k", "\t", "bad_token"],
  ["sn", "k", "  ", "bad_field_count"],
  ["r", "k", ` ${T} `, { type: "release", key: "k", token: T }],
  ["r", "k", "tok extra", { type: "release", key: "k", token: "tok extra" }],
  ["sr", "k", encodeUtf8("\u00a0tok\u3000"), { type: "release", key: "k", token: "tok" }],
  // errors-integer-parsing
  ["l", "k1", "abc", "bad_number"],
  ["l", "k1", "1.5", "bad_number"],
  ["l", "k1", "0x10", "bad_number"],
  ["l", "k1", "1_0", "bad_number"],
  ["l", "k1", "1e3", "bad_number"],
  ["l", "k1", "99999999999999999999", "bad_number"],
  ["l", "k1", "5 abc", "bad_number"],
  ["l", "k1", "+5", { type: "acquire", key: "k1", timeoutMs: 5000, limit: 1, leaseMs: D }],
  ["l", "k2", "05 007", { type: "acquire", key: "k2", timeoutMs: 5000, limit: 1, leaseMs: 7000 }],
  ["l", "k3", "-0", { type: "acquire", key: "k3", timeoutMs: 0, limit: 1, leaseMs: D }],
  [
    "l",
    "k4",
    " \t 3 \t 4 ",
    { type: "acquire", key: "k4", timeoutMs: 3000, limit: 1, leaseMs: 4000 },
  ],
  ["l", "k", encodeUtf8("3\u00854"), {
    type: "acquire",
    key: "k",
    timeoutMs: 3000,
    limit: 1,
    leaseMs: 4000,
  }],
  ["l", "k", encodeUtf8("3\ufeff4"), "bad_number"],
  // errors-invalid-key
  ["l", "", "0", "bad_key"],
  ["l", "k k", "0", "bad_key"],
  ["l", "k\tk", "0", "bad_key"],
  ["l", "k\rk", "0", "bad_key"],
  ["l", "k\nk", "0", "bad_key"],
  ["e", " ", "", "bad_key"],
  ["r", "", "tok", "bad_key"],
  ["w", "", "1", "bad_key"],
  ["sl", "", "0 2", "bad_key"],
  ["n", "", "", "bad_key"],
  ["l", "", "", "bad_key"],
  [
    "l",
    encodeUtf8("k\u00a0\v\x00é"),
    "0",
    { type: "acquire", key: encodeUtf8("k\u00a0\v\x00é"), timeoutMs: 0, limit: 1, leaseMs: D },
  ],
  ["l", "\xff\xfe", "0", { type: "acquire", key: "\xff\xfe", timeoutMs: 0, limit: 1, leaseMs: D }],
  // errors-lease-must-be-positive
  ["l", "k", "5 0", "bad_lease"],
  ["l", "k", "5 -1", "bad_lease"],
  ["e", "k", "0", "bad_lease"],
  ["e", "k", "-3", "bad_lease"],
  ["sl", "s", "0 2 0", "bad_lease"],
  ["se", "s", "2 0", "bad_lease"],
  ["l", "k", "0 9", { type: "acquire", key: "k", timeoutMs: 0, limit: 1, leaseMs: 9000 }],
  ["n", "k", `${T} 0`, "bad_lease"],
  ["n", "k", `${T} -5`, "bad_lease"],
  ["sn", "k", `${T} 0`, "bad_lease"],
  ["n", "k", `${T} x`, "bad_number"],
  ["n", "k", T, { type: "renew", key: "k", token: T, leaseMs: D }],
  ["sn", "k", ` ${T}  40 `, { type: "renew", key: "k", token: T, leaseMs: 40000 }],
  // errors-negative-timeout
  ["l", "k", "-1", "bad_timeout"],
  ["sl", "k", "-1 2", "bad_timeout"],
  ["w", "k", "-1", "bad_timeout"],
  ["sw", "s", "-5", "bad_timeout"],
  ["w", "k", "0", { type: "wait", key: "k", timeoutMs: 0 }],
  ["w", "k", " 7 ", { type: "wait", key: "k", timeoutMs: 7000 }],
  ["w", "k", "1 2", "bad_number"],
  ["sw", "k", "x", "bad_number"],
  // order: timeout before limit before lease
  ["sl", "k", "-1 0 0", "bad_timeout"],
  ["sl", "k", "x 0 0", "bad_number"],
  ["sl", "k", "0 0 x", "bad_limit"],
  ["sl", "k", "0 x 0", "bad_number"],
  ["l", "k", "-1 x", "bad_timeout"],
  ["l", "k", "x -1", "bad_number"],
  ["se", "k", "0 x", "bad_limit"],
  // errors-semaphore-limit
  ["sl", "s", "0 0", "bad_limit"],
  ["sl", "s", "0 -1", "bad_limit"],
  ["sl", "s", "0 x", "bad_number"],
  ["se", "s", "0", "bad_limit"],
  ["se", "s", "-2", "bad_limit"],
  ["se", "s", "two", "bad_number"],
  ["sl", "s", "10 3", { type: "acquire", key: "s", timeoutMs: 10000, limit: 3, leaseMs: D }],
  ["sl", "s", "0 3 60", { type: "acquire", key: "s", timeoutMs: 0, limit: 3, leaseMs: 60000 }],
  ["se", "s", "2", { type: "enqueue", key: "s", limit: 2, leaseMs: D }],
  ["se", "s", "2 5", { type: "enqueue", key: "s", limit: 2, leaseMs: 5000 }],
  // e: whole trimmed line is one integer or empty
  ["e", "k", "", { type: "enqueue", key: "k", limit: 1, leaseMs: D }],
  ["e", "k", "  ", { type: "enqueue", key: "k", limit: 1, leaseMs: D }],
  ["e", "k", " 7 ", { type: "enqueue", key: "k", limit: 1, leaseMs: 7000 }],
  ["e", "k", "7 8", "bad_number"],
  ["e", "k", "x", "bad_number"],
  // stats / auth / ping ignore the key line
  ["stats", "", "", { type: "stats" }],
  ["stats", "a b", "junk here", { type: "stats" }],
  ["auth", "", " secret \t", { type: "auth", secret: "secret" }],
  ["auth", "k k", "", { type: "auth", secret: "" }],
  ["auth", "_", "a b", { type: "auth", secret: "a b" }],
  ["ping", "", "", { type: "ping" }],
  ["ping", "a b", "x y", { type: "ping" }],
  // framing-crlf-line-endings (CRs already stripped by the decoder)
  ["l", "k1", "5 7", { type: "acquire", key: "k1", timeoutMs: 5000, limit: 1, leaseMs: 7000 }],
  // seconds boundary (docs/protocol.md 3.4)
  [
    "l",
    "k",
    "0 9223372036",
    { type: "acquire", key: "k", timeoutMs: 0, limit: 1, leaseMs: 9223372036000 },
  ],
  ["l", "k", "0 9223372037", "bad_lease"],
  ["sl", "k", "0 2 9223372037", "bad_lease"],
  ["se", "k", "2 9223372037", "bad_lease"],
  ["n", "k", "t 9223372037", "bad_lease"],
  ["sn", "k", "t 9223372037", "bad_lease"],
  [
    "l",
    "k",
    "0 18446744074",
    { type: "acquire", key: "k", timeoutMs: 0, limit: 1, leaseMs: 290.448384 },
  ],
  [
    "e",
    "k",
    "9223372037",
    { type: "enqueue", key: "k", limit: 1, leaseMs: NEG_WRAP },
  ],
  ["l", "k", "9223372037", { type: "acquire", key: "k", timeoutMs: 0, limit: 1, leaseMs: D }],
  [
    "l",
    "k",
    "9223372036",
    { type: "acquire", key: "k", timeoutMs: 9223372036000, limit: 1, leaseMs: D },
  ],
  ["w", "k", "18446744074", { type: "wait", key: "k", timeoutMs: 290.448384 }],
  ["w", "k", "9223372037", { type: "wait", key: "k", timeoutMs: 0 }],
];

describe("parseRequest", () => {
  for (const [cmd, key, arg, expected] of CASES) {
    const name = JSON.stringify([cmd, key, arg]);
    test(name, () => {
      const want: Request = typeof expected === "string"
        ? { type: "invalid", reason: expected }
        : expected;
      assert.deepEqual(parseRequest(cmd, key, arg), want);
    });
  }

  test("results of different calls are independent objects where mutable", () => {
    const a = parseRequest("l", "k", "0");
    const b = parseRequest("l", "k", "0");
    assert.notEqual(a, b);
  });
});

describe("isValidKey", () => {
  test("rules", () => {
    assert.equal(isValidKey("k"), true);
    assert.equal(isValidKey("\x00"), true);
    assert.equal(isValidKey("\v"), true);
    assert.equal(isValidKey(""), false);
    for (const bad of [" ", "\t", "\r", "\n"]) assert.equal(isValidKey(`a${bad}b`), false);
  });
});

describe("exact int64 limits and wrapped lease reports", () => {
  test("limits beyond 2^53 stay exact bigints; safe ones stay numbers", () => {
    const big = parseRequest("sl", "k", "0 9007199254740993");
    assert.equal(big.type === "acquire" && big.limit, 9007199254740993n);
    const near = parseRequest("sl", "k", "0 9007199254740992");
    assert.equal(near.type === "acquire" && near.limit, 9007199254740992n);
    const max = parseRequest("se", "k", "9223372036854775807");
    assert.equal(max.type === "enqueue" && max.limit, 9223372036854775807n);
    const padded = parseRequest("se", "k", "+009007199254740993");
    assert.equal(padded.type === "enqueue" && padded.limit, 9007199254740993n);
    const safe = parseRequest("sl", "k", "0 9007199254740991");
    assert.equal(safe.type === "acquire" && safe.limit, 9007199254740991);
    assert.equal(parseRequest("sl", "k", "0 9223372036854775808").type, "invalid");
  });
});
