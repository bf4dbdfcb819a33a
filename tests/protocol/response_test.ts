import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  acquiredReply,
  grantedReply,
  renewedReply,
  statsReply,
} from "../../src/protocol/response.ts";
import { parseRequest } from "../../src/protocol/request.ts";
import { parseReply } from "../../src/protocol/reply.ts";

const T = "0123456789abcdef0123456789abcdef";
/** The server default in these tests: 33 s. */
const DEF_MS = 33000;
const DEF_S = 33;

/**
 * 9223372037 s as Go's wrapped int64 nanoseconds (9223372037e9 - 2^64 = -9223372036709551616),
 * in ms, as `secondsToMs` gives it.
 */
const NEG_WRAP = -9223372036000 + -709.551616;

describe("reply text", () => {
  test("grants, renew, stats; no newline (the connection adds it)", () => {
    assert.equal(grantedReply(T, 33000, DEF_S), `ok ${T} 33`);
    assert.equal(acquiredReply(T, 5000, DEF_S), `acquired ${T} 5`);
    assert.equal(acquiredReply(T, NEG_WRAP, DEF_S), `acquired ${T} -9223372036`);
    assert.equal(grantedReply(T, 9223372036000, DEF_S), `ok ${T} 9223372036`);
    assert.equal(renewedReply(40000), "ok 40");
    assert.equal(renewedReply(290.448384), "ok 0");
    assert.equal(statsReply('{"connections":1}'), 'ok {"connections":1}');
  });
  test("the client's parser reads back what the server writes", () => {
    assert.deepEqual(parseReply(grantedReply(T, 7000, DEF_S), "grant"), {
      status: "ok",
      token: T,
      leaseS: 7,
    });
    assert.deepEqual(parseReply(acquiredReply(T, NEG_WRAP, DEF_S), "enqueue"), {
      status: "acquired",
      token: T,
      leaseS: -9223372036,
    });
    assert.deepEqual(parseReply(renewedReply(40000), "renew"), { status: "ok", leaseS: 40 });
    assert.deepEqual(parseReply(statsReply('{"connections":1}'), "stats"), {
      status: "ok",
      stats: { connections: 1 },
    });
  });
});

describe("the reported grant lease (docs/protocol.md 4.2, quirk)", () => {
  const cases: [number, number][] = [
    [DEF_MS, 33],
    [5000, 5],
    [9223372036000, 9223372036],
    [290.448384, 33],
    [999, 33],
    [1000, 1],
    [1999, 1],
    [NEG_WRAP, -9223372036],
    [-500, 33],
    [0, 33],
  ];
  for (const [ms, s] of cases) {
    test(`${ms} ms -> ${s}`, () => {
      assert.equal(grantedReply(T, ms, DEF_S), `ok ${T} ${s}`);
      assert.equal(acquiredReply(T, ms, DEF_S), `acquired ${T} ${s}`);
    });
  }
  test("from parsed requests", () => {
    const e = parseRequest("e", "k", "9223372037");
    assert.ok(e.type === "enqueue", e.type);
    assert.equal(acquiredReply(T, e.leaseMs ?? DEF_MS, DEF_S), `acquired ${T} -9223372036`);
    const l = parseRequest("l", "k", "0 18446744074");
    assert.ok(l.type === "acquire", l.type);
    assert.equal(grantedReply(T, l.leaseMs ?? 5000, 5), `ok ${T} 5`);
  });

  // 15817298833210772 s wraps to 9000000000.999999488 s, 15817298423145364 s to
  // 8589934592.999999488 s and 20211498185753196 s to -9000000000.999999488 s. Go reports
  // int(d.Seconds()) for l, sl and n (a float64 sum that rounds up at 2^33 s and above) and
  // d / time.Second for e and se; the reference server answers exactly these numbers.
  const reports: [string, string, string, number][] = [
    ["l", "k", "0 15817298833210772", 9000000001],
    ["l", "k", "0 15817298423145364", 8589934593],
    ["sl", "k", "0 2 15817298423145364", 8589934593],
    ["e", "k", "15817298833210772", 9000000000],
    ["e", "k", "15817298423145364", 8589934592],
    ["se", "k", "2 15817298423145364", 8589934592],
    ["e", "k", "20211498185753196", -9000000000],
    ["e", "k", "36028797018963968", 33],
  ];
  for (const [cmd, key, arg, want] of reports) {
    test(`${cmd} ${arg} reports ${want}`, () => {
      const r = parseRequest(cmd, key, arg);
      assert.ok(r.type === "acquire" || r.type === "enqueue", r.type);
      const reply = r.type === "acquire" ? grantedReply : acquiredReply;
      assert.equal(reply(T, r.leaseMs ?? DEF_MS, DEF_S).split(" ")[2], String(want));
    });
  }
  test("renew reports int(d.Seconds()) too", () => {
    const r = parseRequest("n", "k", `${T} 15817298423145364`);
    assert.ok(r.type === "renew");
    assert.equal(renewedReply(r.leaseMs ?? DEF_MS), "ok 8589934593");
    const s = parseRequest("sn", "k", `${T} 15817298833210772`);
    assert.ok(s.type === "renew");
    assert.equal(renewedReply(s.leaseMs ?? DEF_MS), "ok 9000000001");
    const d = parseRequest("n", "k", T);
    assert.ok(d.type === "renew");
    assert.equal(renewedReply(d.leaseMs ?? DEF_MS), "ok 33");
  });
});
