import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  CLIENT_MAX_LINE_BYTES,
  LINE_TOO_LONG,
  LineDecoder,
  SERVER_MAX_LINE_BYTES,
} from "../../src/protocol/line_decoder.ts";
import { byteStringToBytes, encodeUtf8, utf8Bytes } from "../../src/protocol/utf8.ts";

type Out = string | typeof LINE_TOO_LONG;

/** Pushes each chunk and drains every complete line after each push. */
function run(dec: LineDecoder, chunks: Uint8Array[]): Out[] {
  const out: Out[] = [];
  for (const c of chunks) {
    dec.push(c);
    out.push(...drain(dec));
  }
  return out;
}

/** Takes every complete line. */
function drain(dec: LineDecoder): Out[] {
  const out: Out[] = [];
  for (let guard = 0; guard < 100_000; guard++) {
    const line = dec.nextLine();
    if (line === null) break;
    out.push(line);
  }
  return out;
}

function splitAt(bytes: Uint8Array, ...cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of cuts) {
    out.push(bytes.slice(prev, c));
    prev = c;
  }
  out.push(bytes.slice(prev));
  return out;
}

function oneByteAtATime(bytes: Uint8Array): Uint8Array[] {
  return Array.from(bytes, (b) => Uint8Array.of(b));
}

const MULTI_INPUT = utf8Bytes("l\nkéy\n5 7\r\nr\r\r\nk\u2028\n tok \nstats\n_\n\n");
const MULTI_EXPECTED = [
  "l",
  encodeUtf8("kéy"),
  "5 7",
  "r",
  encodeUtf8("k\u2028"),
  " tok ",
  "stats",
  "_",
  "",
];

describe("LineDecoder", () => {
  test("whole input in one chunk", () => {
    assert.deepEqual(run(new LineDecoder(256), [MULTI_INPUT]), MULTI_EXPECTED);
  });

  test("fed one byte at a time", () => {
    const dec = new LineDecoder(256);
    assert.deepEqual(run(dec, oneByteAtATime(MULTI_INPUT)), MULTI_EXPECTED);
    assert.equal(dec.buffered, 0);
  });

  test("split at every index (two chunks) and every pair of indexes (three chunks)", () => {
    for (let i = 0; i <= MULTI_INPUT.length; i++) {
      assert.deepEqual(run(new LineDecoder(256), splitAt(MULTI_INPUT, i)), MULTI_EXPECTED, `${i}`);
      for (let j = i; j <= MULTI_INPUT.length; j += 3) {
        assert.deepEqual(
          run(new LineDecoder(256), splitAt(MULTI_INPUT, i, j)),
          MULTI_EXPECTED,
          `${i},${j}`,
        );
      }
    }
  });

  test("a multi-byte character split across chunks stays intact", () => {
    const bytes = utf8Bytes("ключ€😀\n");
    for (let i = 1; i < bytes.length - 1; i++) {
      const out = run(new LineDecoder(256), splitAt(bytes, i));
      assert.deepEqual(out, [encodeUtf8("ключ€😀")]);
    }
  });

  test("all trailing CRs are stripped, inner CRs stay", () => {
    const input = byteStringToBytes("k\r\r\na\rb\r\n\r\n\r\r\r\nx\n");
    assert.deepEqual(run(new LineDecoder(256), [input]), ["k", "a\rb", "", "", "x"]);
    assert.deepEqual(run(new LineDecoder(256), oneByteAtATime(input)), [
      "k",
      "a\rb",
      "",
      "",
      "x",
    ]);
  });

  test("returns null until the newline arrives; buffered counts held bytes", () => {
    const dec = new LineDecoder(256);
    dec.push(byteStringToBytes("abc"));
    assert.equal(dec.nextLine(), null);
    assert.equal(dec.buffered, 3);
    dec.push(byteStringToBytes("de\nfg"));
    assert.equal(dec.buffered, 8);
    assert.equal(dec.nextLine(), "abcde");
    assert.equal(dec.buffered, 2);
    assert.equal(dec.nextLine(), null);
    dec.push(new Uint8Array(0));
    assert.equal(dec.nextLine(), null);
    dec.push(byteStringToBytes("\n"));
    assert.equal(dec.nextLine(), "fg");
    assert.equal(dec.buffered, 0);
  });

  const A256 = "a".repeat(256);
  const cases: { name: string; input: string; expected: Out[] }[] = [
    { name: "exactly 256 bytes", input: `${A256}\nnext\n`, expected: [A256, "next"] },
    {
      name: "255 bytes + CR (256 before LF) is fine",
      input: `${"a".repeat(255)}\r\nn\n`,
      expected: ["a".repeat(255), "n"],
    },
    { name: "257 bytes", input: `${A256}b\nnext\n`, expected: [LINE_TOO_LONG, "next"] },
    {
      name: "256 bytes + CRLF is too long",
      input: `${A256}\r\nnext\n`,
      expected: [LINE_TOO_LONG, "next"],
    },
    {
      name: "128 two-byte chars (256 bytes) ok, one more byte too long",
      input: `${encodeUtf8("é".repeat(128))}\n${encodeUtf8("é".repeat(128))}x\nz\n`,
      expected: [encodeUtf8("é".repeat(128)), LINE_TOO_LONG, "z"],
    },
    {
      name: "very long line followed by more data",
      input: `l\n${"x".repeat(5000)}\nk\n0\n`,
      expected: ["l", LINE_TOO_LONG, "k", "0"],
    },
    {
      name: "two over-long lines in a row",
      input: `${"x".repeat(300)}\n${"y".repeat(257)}\n\n`,
      expected: [LINE_TOO_LONG, LINE_TOO_LONG, ""],
    },
  ];
  for (const c of cases) {
    test(`cap 256: ${c.name}`, () => {
      const bytes = byteStringToBytes(c.input);
      assert.deepEqual(run(new LineDecoder(SERVER_MAX_LINE_BYTES), [bytes]), c.expected);
      assert.deepEqual(
        run(new LineDecoder(SERVER_MAX_LINE_BYTES), oneByteAtATime(bytes)),
        c.expected,
      );
      for (let i = 0; i <= bytes.length; i += 7) {
        assert.deepEqual(
          run(new LineDecoder(SERVER_MAX_LINE_BYTES), splitAt(bytes, i)),
          c.expected,
          `split at ${i}`,
        );
      }
    });
  }

  test("over-long line: inLongLine until its newline, memory stays bounded", () => {
    const dec = new LineDecoder(256);
    dec.push(byteStringToBytes("x".repeat(200)));
    assert.equal(dec.nextLine(), null);
    assert.equal(dec.inLongLine, false);
    dec.push(byteStringToBytes("x".repeat(57)));
    assert.equal(dec.nextLine(), null);
    assert.equal(dec.inLongLine, true);
    for (let i = 0; i < 100; i++) {
      dec.push(new Uint8Array(10_000).fill(0x78));
      assert.equal(dec.nextLine(), null);
      assert.ok(dec.buffered <= 256, `buffered ${dec.buffered}`);
    }
    assert.equal(dec.inLongLine, true);
    dec.push(byteStringToBytes("xx\nok\n"));
    assert.equal(dec.nextLine(), LINE_TOO_LONG);
    assert.equal(dec.inLongLine, false);
    assert.equal(dec.nextLine(), "ok");
    assert.equal(dec.nextLine(), null);
    assert.equal(dec.buffered, 0);
  });

  test("257th byte that is a newline is not too long", () => {
    const dec = new LineDecoder(256);
    dec.push(byteStringToBytes(A256));
    assert.equal(dec.nextLine(), null);
    assert.equal(dec.inLongLine, false);
    dec.push(byteStringToBytes("\n"));
    assert.equal(dec.nextLine(), A256);
  });

  test("client cap 1 MiB: a long stats line in many chunks", () => {
    const body = "ok " + "z".repeat(CLIENT_MAX_LINE_BYTES - 3);
    const bytes = byteStringToBytes(body + "\nok\n");
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += 65536) chunks.push(bytes.subarray(i, i + 65536));
    const out = run(new LineDecoder(CLIENT_MAX_LINE_BYTES), chunks);
    assert.equal(out.length, 2);
    assert.equal(out[0], body);
    assert.equal(out[1], "ok");
    const tooLong = byteStringToBytes(body + "!\nok\n");
    assert.deepEqual(run(new LineDecoder(CLIENT_MAX_LINE_BYTES), [tooLong]), [
      LINE_TOO_LONG,
      "ok",
    ]);
  });

  test("many lines in many chunks (chunk list compaction)", () => {
    const dec = new LineDecoder(16);
    const got: Out[] = [];
    for (let i = 0; i < 500; i++) {
      dec.push(byteStringToBytes(`${i}`));
      dec.push(byteStringToBytes("\n"));
      if (i % 3 === 0) got.push(...drain(dec));
      else {
        for (let g = 0; g < 10; g++) {
          const l = dec.nextLine();
          if (l === null) break;
          got.push(l);
        }
      }
    }
    assert.deepEqual(got, Array.from({ length: 500 }, (_, i) => `${i}`));
    assert.equal(dec.buffered, 0);
  });

  test("many pending chunks drained at once", () => {
    const dec = new LineDecoder(16);
    for (let i = 0; i < 300; i++) {
      dec.push(byteStringToBytes(`${i}`));
      dec.push(byteStringToBytes("\r\n"));
    }
    assert.deepEqual(drain(dec), Array.from({ length: 300 }, (_, i) => `${i}`));
    assert.equal(dec.buffered, 0);
    dec.push(byteStringToBytes("tail\n"));
    assert.equal(dec.nextLine(), "tail");
  });

  test("a cap of 0 or 1.5 bytes is a RangeError", () => {
    assert.throws(() => new LineDecoder(0), RangeError);
    assert.throws(() => new LineDecoder(1.5), RangeError);
  });
});
