import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  encodeRequest,
  joinRequests,
  MAX_KEY_BYTES,
  validateKey,
  validateSeconds,
} from "../../src/protocol/encode.ts";
import { COMMAND_SHAPE, parseReply } from "../../src/protocol/reply.ts";
import type { Reply, ReplyShape } from "../../src/protocol/reply.ts";
import { COMMAND, STATUS } from "../../src/protocol/commands.ts";
import { crc32, stableHashShard } from "../../src/protocol/crc32.ts";
import { fenceFromToken } from "../../src/protocol/fence.ts";
import { utf8Bytes } from "../../src/protocol/utf8.ts";

const T = "0123456789abcdef0123456789abcdef";

describe("encodeRequest", () => {
  test("cmd\\nkey\\narg\\n as UTF-8", () => {
    assert.deepEqual(encodeRequest("l", "k", "10 5"), utf8Bytes("l\nk\n10 5\n"));
    assert.deepEqual(encodeRequest("e", "ключ", ""), utf8Bytes("e\nключ\n\n"));
    assert.deepEqual(encodeRequest("stats", "_", ""), utf8Bytes("stats\n_\n\n"));
    assert.deepEqual(
      encodeRequest("l", "😀", "0"),
      Uint8Array.of(
        0x6c,
        0x0a,
        0xf0,
        0x9f,
        0x98,
        0x80,
        0x0a,
        0x30,
        0x0a,
      ),
    );
  });
  test("a line feed inside a part is refused", () => {
    assert.throws(() => encodeRequest("l", "a\nb", "0"), TypeError);
    assert.throws(() => encodeRequest("auth", "_", "x\ny"), TypeError);
  });
  test("requests share large buffers and never overwrite each other", () => {
    // Enough requests to fill more than one shared buffer; each keeps its own bytes.
    const made: [string, Uint8Array][] = [];
    for (let i = 0; i < 5_000; i++) {
      const key = `key-${i}`;
      made.push([key, encodeRequest("l", key, "10")]);
    }
    for (const [key, bytes] of made) assert.deepEqual(bytes, utf8Bytes(`l\n${key}\n10\n`));
    const [a, b] = [made[0]![1], made[1]![1]];
    assert.equal(a.buffer, b.buffer, "consecutive requests share a buffer");
    assert.ok(a.buffer.byteLength > a.byteLength);
    assert.notEqual(made[0]![1].buffer, made[4_999]![1].buffer, "a full buffer is replaced");
    const big = "k".repeat(10_000);
    assert.deepEqual(encodeRequest("l", big, "0"), utf8Bytes(`l\n${big}\n0\n`));
  });
  test("joinRequests puts pipelined requests into one write", () => {
    const parts = [encodeRequest("l", "a", "0"), encodeRequest("r", "a", T)];
    const joined = joinRequests(parts, parts[0]!.byteLength + parts[1]!.byteLength);
    assert.deepEqual(joined, utf8Bytes(`l\na\n0\nr\na\n${T}\n`));
    assert.deepEqual(parts[0], utf8Bytes("l\na\n0\n"), "the parts are unchanged");
  });
});

describe("validateKey", () => {
  test("a key of 1 to 256 UTF-8 bytes with no space, tab, CR or LF comes back unchanged", () => {
    for (const k of ["k", "job-2", "ключ", "a\u00a0b", "x".repeat(256), "é".repeat(128)]) {
      assert.equal(validateKey(k), k);
    }
  });
  test("TypeError for wrong type, empty, space, tab, CR, LF", () => {
    for (const k of [undefined, 5, null, "", " ", "a b", "a\tb", "a\rb", "a\nb"]) {
      assert.throws(() => validateKey(k), TypeError, String(k));
    }
  });
  test("RangeError above 256 UTF-8 bytes", () => {
    assert.equal(MAX_KEY_BYTES, 256);
    assert.throws(() => validateKey("x".repeat(257)), RangeError);
    assert.throws(() => validateKey("é".repeat(128) + "x"), RangeError);
  });
});

describe("validateSeconds", () => {
  test("whole seconds from min (default 0) to 9223372036 come back unchanged", () => {
    assert.equal(validateSeconds(0), 0);
    assert.equal(validateSeconds(9223372036), 9223372036);
    assert.equal(validateSeconds(1, { min: 1 }), 1);
  });
  test("a string is a TypeError; -1, 1.5, NaN, Infinity, 9223372037 are RangeErrors; below min names the option", () => {
    assert.throws(() => validateSeconds("5"), TypeError);
    for (const n of [-1, 1.5, NaN, Infinity, 9223372037]) {
      assert.throws(() => validateSeconds(n), RangeError, String(n));
    }
    assert.throws(() => validateSeconds(0, { min: 1, name: "lease" }), /lease/);
  });
});

type ReplyCase = [shape: ReplyShape, line: string, expected: Reply];

const M = (line: string): Reply => ({ status: "malformed", line });

const REPLY_CASES: ReplyCase[] = [
  ["grant", `ok ${T} 33`, { status: "ok", token: T, leaseS: 33 }],
  ["grant", `ok ${T} 9223372036`, { status: "ok", token: T, leaseS: 9223372036 }],
  ["grant", `ok  ${T}  7\r`, { status: "ok", token: T, leaseS: 7 }],
  ["grant", "timeout", { status: "timeout" }],
  ["grant", ` ok\t${T}\v7 \r`, { status: "ok", token: T, leaseS: 7 }],
  ["grant", `ok ${T} +5`, { status: "ok", token: T, leaseS: 5 }],
  ["grant", `ok ${T} -5`, { status: "ok", token: T, leaseS: -5 }],
  ["grant", `ok ${T} 9007199254740991`, { status: "ok", token: T, leaseS: 9007199254740991 }],
  ["grant", `ok ${T} 9007199254740993`, M(`ok ${T} 9007199254740993`)],
  ["grant", `ok ${T} -`, M(`ok ${T} -`)],
  ["grant", `ok ${T}0 5`, M(`ok ${T}0 5`)],
  ["grant", `okay ${T} 5`, M(`okay ${T} 5`)],
  ["grant", "timeout\r", { status: "timeout" }],
  ["grant", "timeouts", M("timeouts")],
  ["grant", `ok ${T}`, M(`ok ${T}`)],
  ["grant", `ok ${T} 33 1`, M(`ok ${T} 33 1`)],
  ["grant", `ok ${T} x`, M(`ok ${T} x`)],
  ["grant", `ok ${T} 1.5`, M(`ok ${T} 1.5`)],
  ["grant", `ok ${T.toUpperCase()} 33`, M(`ok ${T.toUpperCase()} 33`)],
  ["grant", "ok abc 33", M("ok abc 33")],
  ["grant", "ok", M("ok")],
  ["grant", "queued", M("queued")],
  ["grant", `acquired ${T} 33`, M(`acquired ${T} 33`)],
  ["grant", "timeout now", M("timeout now")],
  ["enqueue", `acquired ${T} 5`, { status: "acquired", token: T, leaseS: 5 }],
  ["enqueue", `acquired ${T} -9223372036`, {
    status: "acquired",
    token: T,
    leaseS: -9223372036,
  }],
  ["enqueue", "queued", { status: "queued" }],
  ["enqueue", `ok ${T} 5`, M(`ok ${T} 5`)],
  ["enqueue", "timeout", M("timeout")],
  ["renew", "ok 33", { status: "ok", leaseS: 33 }],
  ["renew", "ok 0", { status: "ok", leaseS: 0 }],
  ["renew", "ok", M("ok")],
  ["renew", "ok 33 1", M("ok 33 1")],
  ["renew", "ok x", M("ok x")],
  ["plain", "ok", { status: "ok" }],
  ["plain", "ok 1", M("ok 1")],
  ["plain", "", M("")],
  ["plain", "OK", M("OK")],
  ["plain", "bogus", M("bogus")],
  ["stats", 'ok {"connections":1,"locks":[]}', {
    status: "ok",
    stats: { connections: 1, locks: [] },
  }],
  ["stats", 'ok {"key":"a b"}', { status: "ok", stats: { key: "a b" } }],
  ["stats", "ok {bad", M("ok {bad")],
  ["stats", "ok [1]", M("ok [1]")],
  ["stats", "ok", M("ok")],
  ["stats", 'ok \t {"connections":2} ', { status: "ok", stats: { connections: 2 } }],
  ["stats", 'okay {"connections":2}', M('okay {"connections":2}')],
  ["plain", "  ok\r", { status: "ok" }],
  ["plain", "error_max_locks\r", { status: "error_max_locks", line: "error_max_locks\r" }],
  ["renew", "ok\t+40", { status: "ok", leaseS: 40 }],
  ["renew", "ok 1234567890123456", { status: "ok", leaseS: 1234567890123456 }],
  ["grant", "error_not_leader", {
    status: "error_not_leader",
    leader: undefined,
    line: "error_not_leader",
  }],
  ["plain", "error_not_leader 10.0.0.2:6388", {
    status: "error_not_leader",
    leader: "10.0.0.2:6388",
    line: "error_not_leader 10.0.0.2:6388",
  }],
  ["plain", "error_not_leader a b", M("error_not_leader a b")],
  ["plain", "error_max_locks extra", M("error_max_locks extra")],
  ["grant", "error_some_future_status", {
    status: "error",
    line: "error_some_future_status",
  }],
];

const ERRORS = [
  STATUS.error,
  STATUS.errorAuth,
  STATUS.errorMaxLocks,
  STATUS.errorMaxWaiters,
  STATUS.errorLimitMismatch,
  STATUS.errorNotEnqueued,
  STATUS.errorAlreadyEnqueued,
  STATUS.errorLeaseExpired,
  STATUS.errorDraining,
];
for (const shape of ["grant", "enqueue", "renew", "plain", "stats"] as const) {
  for (const e of ERRORS) REPLY_CASES.push([shape, e, { status: e, line: e }]);
}

describe("parseReply", () => {
  for (const [shape, line, expected] of REPLY_CASES) {
    test(`${shape}: ${JSON.stringify(line)}`, () => {
      assert.deepEqual(parseReply(line, shape), expected);
    });
  }
  test("COMMAND_SHAPE covers every command", () => {
    for (const c of Object.values(COMMAND)) assert.ok(COMMAND_SHAPE[c] !== undefined, c);
    assert.equal(COMMAND_SHAPE[COMMAND.semWait], "grant");
    assert.equal(COMMAND_SHAPE[COMMAND.semEnqueue], "enqueue");
    assert.equal(COMMAND_SHAPE[COMMAND.semRenew], "renew");
    assert.equal(COMMAND_SHAPE[COMMAND.ping], "plain");
  });
  test("prototype names are not statuses", () => {
    assert.deepEqual(parseReply("constructor", "plain"), M("constructor"));
    assert.deepEqual(parseReply("__proto__", "grant"), M("__proto__"));
  });
});

describe("crc32 / stableHashShard (docs/protocol.md 13.2)", () => {
  const vectors: [string, number, number, number][] = [
    ["123456789", 0xcbf43926, 2, 2],
    ["a", 0xe8b7be43, 0, 3],
    ["b", 0x71beeff9, 2, 1],
    ["job-2", 0xd54b6b85, 0, 1],
    ["my-key", 0xd6e33ac1, 2, 1],
    ["ключ", 0x0caf961a, 0, 2],
  ];
  for (const [key, crc, mod3, mod4] of vectors) {
    test(key, () => {
      assert.equal(crc32(utf8Bytes(key)), crc);
      assert.equal(stableHashShard(key, 3), mod3);
      assert.equal(stableHashShard(key, 4), mod4);
      assert.equal(stableHashShard(key, 1), 0);
    });
  }
  test("empty input", () => assert.equal(crc32(new Uint8Array(0)), 0));
  test("n must be a positive integer", () => {
    for (const n of [0, -1, 1.5, NaN]) assert.throws(() => stableHashShard("k", n), RangeError);
  });
});

describe("fenceFromToken", () => {
  test("first 16 hex digits, big-endian", () => {
    assert.equal(fenceFromToken(T), 0x0123456789abcdefn);
    assert.equal(fenceFromToken("ffffffffffffffff" + "0".repeat(16)), 2n ** 64n - 1n);
    assert.equal(fenceFromToken("0".repeat(32)), 0n);
    assert.equal(fenceFromToken("ABCDEF0123456789" + "0".repeat(16)), 0xabcdef0123456789n);
  });
  test("undefined unless exactly 32 hex digits", () => {
    for (const t of ["", T.slice(1), T + "0", "g" + T.slice(1), ` ${T.slice(1)}`]) {
      assert.equal(fenceFromToken(t), undefined, t);
    }
  });
});
