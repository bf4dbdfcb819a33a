import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Prng } from "./prng.ts";
import { FrameGenerator, FUZZ_COMMANDS, WITNESS_PREFIX } from "./frames.ts";
import { assess, blockRisk, ServerView } from "./server_view.ts";
import { checkResponse, checkStatsBody, escapeBytes, LEGAL_STATUS_LINE } from "./responses.ts";

const TOKEN = "0123456789abcdef0123456789abcdef";

describe("Prng", () => {
  test("equal seeds give equal sequences, different seeds differ", () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const c = new Prng(43);
    const sa = Array.from({ length: 50 }, () => a.uint32());
    const sb = Array.from({ length: 50 }, () => b.uint32());
    const sc = Array.from({ length: 50 }, () => c.uint32());
    assert.deepEqual(sa, sb);
    assert.notDeepEqual(sa, sc);
  });

  test("int and range stay in bounds and cover them", () => {
    const p = new Prng(7);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = p.range(3, 9);
      assert.ok(v >= 3 && v <= 9);
      seen.add(v);
      const f = p.next();
      assert.ok(f >= 0 && f < 1);
    }
    assert.equal(seen.size, 7);
  });
});

describe("ServerView", () => {
  test("splits requests into triples and strips trailing CRs only", () => {
    const v = new ServerView();
    const r = v.feed("l\r\r\nk\rx\n0 1\r\nstats\n\n");
    assert.deepEqual(r.requests, [{ command: "l", key: "k\rx", arg: "0 1" }]);
    assert.equal(r.closes, false);
    assert.equal(v.atBoundary, false);
    assert.deepEqual(v.feed("\n").requests, [{ command: "stats", key: "", arg: "" }]);
    assert.equal(v.atBoundary, true);
  });

  test("256 bytes is legal, the 257th byte (a CR counts) makes the line too long", () => {
    const ok = new ServerView();
    assert.equal(ok.feed("e\n" + "k".repeat(256) + "\n\n").requests.length, 1);
    const cr = new ServerView();
    assert.equal(cr.feed("e\n" + "k".repeat(255) + "\r\n\n").requests[0]?.key, "k".repeat(255));
    const long = new ServerView();
    const r = long.feed("stats\n\n\ne\n" + "k".repeat(256) + "\r\n\nstats\n\n\n");
    assert.equal(r.requests.length, 1);
    assert.equal(r.closes, true);
    assert.equal(long.closed, true);
  });

  test("an over-long line without its end keeps discarding across writes", () => {
    const v = new ServerView();
    const r1 = v.feed("x".repeat(300));
    assert.deepEqual(r1, { requests: [], closes: false });
    assert.equal(v.discarding, true);
    const r2 = v.feed("still junk l\nk\n0\n");
    assert.deepEqual(r2, { requests: [], closes: true });
  });

  test("completion finishes the pending request from any state", () => {
    for (const start of ["", "l", "l\n", "l\nk", "l\nk\n", "l\nk\n0", "x".repeat(400)]) {
      const v = new ServerView();
      v.feed(start);
      const r = v.feed(v.completion());
      assert.ok(v.atBoundary || v.closed, JSON.stringify(start));
      assert.ok(r.requests.length + (r.closes ? 1 : 0) <= 1);
    }
  });
});

describe("blockRisk and assess", () => {
  test("only the timeout of l/sl/w/sw counts", () => {
    assert.equal(blockRisk({ command: "l", key: "k", arg: "0 5" }), "none");
    assert.equal(blockRisk({ command: "sl", key: "k", arg: "001 3 9" }), "slow");
    assert.equal(blockRisk({ command: "w", key: "k", arg: "+2" }), "long");
    assert.equal(blockRisk({ command: "l", key: "k", arg: "\xc2\xa099" }), "long");
    assert.equal(blockRisk({ command: "e", key: "k", arg: "99" }), "none");
    assert.equal(blockRisk({ command: "l", key: "k", arg: "x" }), "none");
  });

  test("a long timeout, a witness key, a slow timeout over the budget or a partial line that could complete into one is not ok", () => {
    const v = new ServerView();
    assert.equal(assess(v, "l\nk\n0\n", 0, WITNESS_PREFIX).ok, true);
    assert.equal(assess(v, "l\nk\n5\n", 9, WITNESS_PREFIX).ok, false);
    assert.equal(assess(v, "l\nwitness-a\n0\n", 9, WITNESS_PREFIX).ok, false);
    assert.equal(assess(v, "l\nk\n1\n", 0, WITNESS_PREFIX).ok, false);
    assert.deepEqual(assess(v, "l\nk\n1\n", 1, WITNESS_PREFIX), { ok: true, slow: 1 });
    // The frame alone is harmless, but completing it would send timeout 7.
    assert.equal(assess(v, "l\nk\n7", 9, WITNESS_PREFIX).ok, false);
  });
});

describe("FrameGenerator", () => {
  test("is deterministic for a seed", () => {
    const a = new FrameGenerator(new Prng(99));
    const b = new FrameGenerator(new Prng(99));
    for (let i = 0; i < 200; i++) {
      assert.deepEqual(a.frame(new ServerView(), 2), b.frame(new ServerView(), 2));
    }
  });

  test("a long stream of frames is always safe and covers every kind and command", () => {
    const gen = new FrameGenerator(new Prng(1234));
    let view = new ServerView();
    let slowLeft = 5;
    const commands = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const f = gen.frame(view, slowLeft);
      for (let j = 0; j < f.bytes.length; j++) assert.ok(f.bytes.charCodeAt(j) < 256);
      const verdict = assess(view, f.bytes, slowLeft, WITNESS_PREFIX);
      assert.equal(verdict.ok, true, escapeBytes(f.bytes));
      slowLeft -= verdict.slow;
      for (const t of view.feed(f.bytes).requests) commands.add(t.command);
      if (view.closed) view = new ServerView();
    }
    assert.ok(slowLeft >= 0);
    for (const c of FUZZ_COMMANDS) assert.ok(commands.has(c), `command ${c} never sent`);
    for (const k of ["single", "batch", "flood", "mutated", "random", "overlong", "missing"]) {
      assert.ok((gen.kinds.get(k) ?? 0) > 0, `kind ${k} never made`);
    }
  });

  test("uses tokens it learned", () => {
    const gen = new FrameGenerator(new Prng(5), { poolSize: 1 });
    gen.learn("fz0", `ok ${TOKEN} 2`);
    let seen = false;
    for (let i = 0; i < 300 && !seen; i++) seen = gen.request("r").includes(TOKEN);
    assert.ok(seen);
  });
});

describe("response oracle", () => {
  const req = (
    command: string,
    key = "k",
    arg = "",
  ): { command: string; key: string; arg: string } => ({
    command,
    key,
    arg,
  });

  test("the legal status lines", () => {
    for (
      const line of [
        "ok",
        `ok ${TOKEN} 33`,
        `ok ${TOKEN} -9223372036`,
        "ok 2",
        'ok {"connections":1}',
        `acquired ${TOKEN} 2`,
        "queued",
        "timeout",
        "error",
        "error_max_locks",
        "error_max_waiters",
        "error_limit_mismatch",
        "error_not_enqueued",
        "error_already_enqueued",
        "error_lease_expired",
      ]
    ) assert.ok(LEGAL_STATUS_LINE.test(line), line);
    for (
      const line of [
        "",
        "OK",
        "ok ",
        "ok\r",
        `ok ${TOKEN.toUpperCase()} 2`,
        "error_auth",
        "queued 1",
      ]
    ) assert.ok(!LEGAL_STATUS_LINE.test(line), line);
  });

  test("answers must fit the request", () => {
    assert.equal(checkResponse(req("l", "k", "0"), `ok ${TOKEN} 2`), undefined);
    assert.equal(checkResponse(req("e"), "queued"), undefined);
    assert.equal(checkResponse(req("n"), "ok 2"), undefined);
    assert.equal(checkResponse(req("ping"), "error"), undefined);
    assert.ok(checkResponse(req("r"), "ok 2"));
    assert.ok(checkResponse(req("l"), "queued"));
    assert.ok(checkResponse(req("bogus"), "ok"));
    assert.ok(checkResponse(req("l", "a b", "0"), `ok ${TOKEN} 2`));
    assert.ok(checkResponse(req("l", "", "0"), "timeout"));
    assert.ok(checkResponse(req("r"), "ok\r"));
    assert.ok(checkResponse(req("auth"), "ok"));
  });

  test("stats bodies must be valid UTF-8 JSON with the five fields in order", () => {
    const good = '{"connections":1,"locks":[],"semaphores":[],"idle_locks":[],' +
      '"idle_semaphores":[{"key":"\xc3\xa9","idle_s":1}]}';
    assert.equal(checkStatsBody(good), undefined);
    assert.equal(checkResponse(req("stats"), "ok " + good), undefined);
    assert.ok(checkStatsBody(good.replace("\xc3\xa9", "\xff")));
    assert.ok(checkStatsBody('{"connections":1}'));
    assert.ok(checkStatsBody("{nope"));
    assert.ok(checkResponse(req("stats"), "ok 1"));
  });

  test("escapeBytes shows control and high bytes", () => {
    assert.equal(escapeBytes('a\n\r\t\x00\xff\\"'), 'a\\n\\r\\t\\x00\\xff\\\\\\"');
  });
});
