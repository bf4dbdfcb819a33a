import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  byteRangeToByteString,
  bytesToByteString,
  byteStringToBytes,
  decodeUtf8,
  encodeUtf8,
  utf8Bytes,
  utf8Length,
} from "../../src/protocol/utf8.ts";
import { COMMAND, isCommand, isStatus, STATUS } from "../../src/protocol/commands.ts";

describe("utf8", () => {
  const texts = ["", "abc", "é", "ключ", "€", "😀", "a\u2028b", "\ufffd", "\u0000\u007f\u0080"];
  for (const t of texts) {
    test(`round trip ${JSON.stringify(t)}`, () => {
      const bytes = utf8Bytes(t);
      assert.deepEqual(bytes, new TextEncoder().encode(t));
      assert.equal(utf8Length(t), bytes.length);
      assert.equal(encodeUtf8(t), bytesToByteString(bytes));
      assert.equal(decodeUtf8(encodeUtf8(t)), t);
    });
  }
  test("lone surrogates encode as U+FFFD", () => {
    assert.deepEqual(utf8Bytes("\ud800x"), Uint8Array.of(0xef, 0xbf, 0xbd, 0x78));
    assert.equal(utf8Length("\udc00"), 3);
  });
  test("invalid input decodes like TextDecoder", () => {
    const inputs = [
      "\xff",
      "\x80",
      "\xe2\x80",
      "\xe2\x80x",
      "\xc0\xaf",
      "\xed\xa0\x80",
      "\xf4\x90\x80\x80",
      "\xf0\x9f\x98",
      "a\xc3",
      "\xe0\x80\x80",
    ];
    const td = new TextDecoder();
    for (const s of inputs) assert.equal(decodeUtf8(s), td.decode(byteStringToBytes(s)), s);
  });
  test("long input (chunked conversion)", () => {
    const t = "ключ😀".repeat(5000);
    assert.equal(decodeUtf8(encodeUtf8(t)), t);
    const bytes = new Uint8Array(100_000).map((_, i) => i & 0xff);
    assert.deepEqual(byteStringToBytes(bytesToByteString(bytes)), bytes);
  });
  test("byteRangeToByteString matches bytesToByteString of the subarray, short and long", () => {
    const bytes = new Uint8Array(600).map((_, i) => (i * 7) & 0xff);
    const ranges: [number, number][] = [[0, 0], [3, 4], [10, 138], [10, 139], [1, 600], [599, 600]];
    for (const [start, end] of ranges) {
      assert.equal(
        byteRangeToByteString(bytes, start, end),
        bytesToByteString(bytes.subarray(start, end)),
        `${start}..${end}`,
      );
    }
    // The reused scratch array must not leak characters from a longer earlier call.
    assert.equal(byteRangeToByteString(bytes, 0, 100).length, 100);
    assert.equal(byteRangeToByteString(bytes, 5, 7), bytesToByteString(bytes.subarray(5, 7)));
  });
  test("byteRangeToByteString keeps every byte value in one- and two-byte ranges", () => {
    const all = new Uint8Array(258).map((_, i) => (i * 131) & 0xff);
    for (let i = 0; i + 2 <= all.length; i++) {
      const one = byteRangeToByteString(all, i, i + 1);
      assert.equal(one.length, 1);
      assert.equal(one.charCodeAt(0), all[i], `byte ${all[i]}`);
      const two = byteRangeToByteString(all, i, i + 2);
      assert.deepEqual([two.length, two.charCodeAt(0), two.charCodeAt(1)], [2, all[i], all[i + 1]]);
    }
  });
});

describe("commands", () => {
  test("tables", () => {
    assert.deepEqual(Object.values(COMMAND).sort(), [
      "auth",
      "e",
      "l",
      "n",
      "ping",
      "r",
      "se",
      "sl",
      "sn",
      "sr",
      "stats",
      "sw",
      "w",
    ]);
    assert.equal(Object.values(STATUS).length, 14);
    assert.ok(isCommand("sl"));
    assert.ok(!isCommand("L"));
    assert.ok(isStatus("error_draining"));
    assert.ok(!isStatus("error_foo"));
  });
});
