import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  compilePattern,
  matchLine,
  matchStatsLine,
  matchTemplate,
  newBindings,
  substituteTokens,
} from "./matcher.ts";

const T1 = "0123456789abcdef0123456789abcdef";
const T2 = "fedcba9876543210fedcba9876543210";

describe("expect patterns", () => {
  test("literal text must match the whole line", () => {
    const b = newBindings();
    assert.equal(matchLine("ok", "ok", b), null);
    assert.notEqual(matchLine("ok", "ok ", b), null);
    assert.notEqual(matchLine("ok", "ok\r", b), null);
    assert.notEqual(matchLine("ok", "xok", b), null);
    assert.notEqual(matchLine("error", "error_auth", b), null);
  });

  test("regex metacharacters and stray braces are literal", () => {
    const b = newBindings();
    const raw = 'ok {"connections":1,"locks":[],"semaphores":[]}';
    assert.equal(matchLine(raw, raw, b), null);
    assert.notEqual(matchLine(raw, 'ok {"connections":2,"locks":[],"semaphores":[]}', b), null);
    assert.equal(matchLine("a.b*c", "a.b*c", b), null);
    assert.notEqual(matchLine("a.b*c", "axbbbc", b), null);
    assert.equal(compilePattern(raw).slots.length, 0);
  });

  test("{token} and {token:X}: 32 lowercase hex digits", () => {
    const b = newBindings();
    assert.equal(matchLine("ok {token} 33", `ok ${T1} 33`, b), null);
    assert.notEqual(matchLine("ok {token} 33", `ok ${T1.toUpperCase()} 33`, b), null);
    assert.notEqual(matchLine("ok {token} 33", `ok ${T1.slice(1)} 33`, b), null);
    assert.notEqual(matchLine("ok {token} 33", `ok ${T1}0 33`, b), null);
    assert.equal(b.tokens.size, 0);
  });

  test("a token name binds on first use and must repeat the same value", () => {
    const b = newBindings();
    assert.equal(matchLine("ok {token:A} 33", `ok ${T1} 33`, b), null);
    assert.equal(b.tokens.get("A"), T1);
    assert.equal(matchLine("ok {token:A} 33", `ok ${T1} 33`, b), null);
    assert.match(matchLine("ok {token:A} 33", `ok ${T2} 33`, b) ?? "", /bound to/);
  });

  test("two names may not bind the same value", () => {
    const b = newBindings();
    assert.equal(matchLine("{token:A}", T1, b), null);
    assert.match(matchLine("{token:B}", T1, b) ?? "", /already bound to A/);
    assert.equal(b.tokens.has("B"), false);
    assert.equal(matchLine("{token:B}", T2, b), null);
  });

  test("a failed line match leaves bindings untouched", () => {
    const b = newBindings();
    assert.notEqual(matchLine("{token:A} {int:1..2}", `${T1} 5`, b), null);
    assert.equal(b.tokens.size, 0);
    assert.notEqual(matchLine("{token:A} {token:A}", `${T1} ${T2}`, b), null);
    assert.equal(b.tokens.size, 0);
  });

  test("{int} and {int:LO..HI}", () => {
    const b = newBindings();
    assert.equal(matchLine("ok {int}", "ok 42", b), null);
    assert.equal(matchLine("ok {int}", "ok -42", b), null);
    assert.notEqual(matchLine("ok {int}", "ok 4.2", b), null);
    assert.notEqual(matchLine("ok {int}", "ok ", b), null);
    assert.equal(matchLine("ok {int:25..33}", "ok 25", b), null);
    assert.equal(matchLine("ok {int:25..33}", "ok 33", b), null);
    assert.match(matchLine("ok {int:25..33}", "ok 34", b) ?? "", /outside/);
    assert.equal(matchLine("{int:-5..-1}", "-3", b), null);
  });

  test("{num} and {num:LO..HI} take JSON numbers", () => {
    const b = newBindings();
    assert.equal(matchLine("{num}", "1.5", b), null);
    assert.equal(matchLine("{num}", "-0.25e3", b), null);
    assert.notEqual(matchLine("{num}", "01", b), null);
    assert.notEqual(matchLine("{num}", ".5", b), null);
    assert.equal(matchLine("{num:0..10}", "9.99", b), null);
    assert.notEqual(matchLine("{num:0..10}", "10.01", b), null);
    assert.equal(matchLine("{num:1.5..2.5}", "2", b), null);
  });

  test("{id:X} binds non-negative integers like tokens", () => {
    const b = newBindings();
    assert.equal(matchLine("{id:a}", "3", b), null);
    assert.equal(b.ids.get("a"), "3");
    assert.notEqual(matchLine("{id:a}", "4", b), null);
    assert.notEqual(matchLine("{id:b}", "3", b), null);
    assert.notEqual(matchLine("{id:b}", "-4", b), null);
    assert.equal(matchLine("{id:b}", "4", b), null);
  });

  test("token and id tables are separate", () => {
    const b = newBindings();
    b.ids.set("A", "5");
    assert.equal(matchLine("{token:A}", T1, b), null);
  });

  test("{any} matches any text, including empty", () => {
    const b = newBindings();
    assert.equal(matchLine("ok {any}", 'ok {"x":1}', b), null);
    assert.equal(matchLine("ok {any}", "ok ", b), null);
    assert.notEqual(matchLine("ok {any}", "ok", b), null);
  });
});

describe("stats templates", () => {
  const lock = (key: string, id: string, waiters: number): Record<string, unknown> => ({
    key,
    owner_conn_id: id,
    lease_expires_in_s: "{num:25..33}",
    waiters,
  });

  test("objects need exactly the same keys", () => {
    const b = newBindings();
    assert.equal(matchTemplate({ a: 1, b: "x" }, { b: "x", a: 1 }, b), null);
    assert.match(matchTemplate({ a: 1 }, { a: 1, b: 2 }, b) ?? "", /expected keys/);
    assert.match(matchTemplate({ a: 1, b: 2 }, { a: 1 }, b) ?? "", /expected keys/);
    assert.notEqual(matchTemplate({ a: 1 }, [1], b), null);
  });

  test("numbers, booleans and null must be equal", () => {
    const b = newBindings();
    assert.equal(matchTemplate([1, true, null], [null, 1, true], b), null);
    assert.notEqual(matchTemplate(2, 3, b), null);
    assert.notEqual(matchTemplate(false, 0, b), null);
    assert.notEqual(matchTemplate(null, 0, b), null);
    assert.notEqual(matchTemplate(1, "1", b), null);
  });

  test("number placeholders match JSON numbers only", () => {
    const b = newBindings();
    assert.equal(matchTemplate("{num:0..10}", 3.5, b), null);
    assert.notEqual(matchTemplate("{num:0..10}", 11, b), null);
    assert.notEqual(matchTemplate("{num:0..10}", "3", b), null);
    assert.equal(matchTemplate("{int}", 3, b), null);
    assert.notEqual(matchTemplate("{int}", 3.5, b), null);
    assert.notEqual(matchTemplate("{id:a}", 1.5, b), null);
    assert.notEqual(matchTemplate("{id:a}", -1, b), null);
    assert.equal(matchTemplate("{id:a}", 7, b), null);
    assert.equal(b.ids.get("a"), "7");
  });

  test("{any} matches any value; other strings are patterns over strings", () => {
    const b = newBindings();
    assert.equal(matchTemplate("{any}", [1, { x: null }], b), null);
    assert.equal(matchTemplate("k-{int}", "k-12", b), null);
    assert.notEqual(matchTemplate("k", "kk", b), null);
    assert.notEqual(matchTemplate("k", 1, b), null);
    assert.equal(matchTemplate("{token:A}", T1, b), null);
    assert.equal(b.tokens.get("A"), T1);
  });

  test("arrays pair elements in any order", () => {
    const b = newBindings();
    const t = [lock("k1", "{id:b}", 0), lock("k2", "{id:d}", 0)];
    const v = [
      { key: "k2", owner_conn_id: 4, lease_expires_in_s: 32.9, waiters: 0 },
      { key: "k1", owner_conn_id: 2, lease_expires_in_s: 32.9, waiters: 0 },
    ];
    assert.equal(matchTemplate(t, v, b), null);
    assert.equal(b.ids.get("b"), "2");
    assert.equal(b.ids.get("d"), "4");
  });

  test("arrays need the same length", () => {
    const b = newBindings();
    assert.match(matchTemplate([1, 2], [1, 2, 2], b) ?? "", /expected 2 elements/);
    assert.notEqual(matchTemplate([], [1], b), null);
    assert.equal(matchTemplate([], [], b), null);
  });

  test("array pairing backtracks and rolls back bindings of failed pairings", () => {
    const b = newBindings();
    // The first template element would bind x to 1 against the first value element, which
    // then leaves the second template element ({id:x} with waiters 5) without a partner.
    const t = [
      { id: "{id:x}", w: "{int}" },
      { id: "{id:y}", w: 5 },
    ];
    const v = [{ id: 1, w: 5 }, { id: 2, w: 9 }];
    assert.equal(matchTemplate(t, v, b), null);
    assert.equal(b.ids.get("x"), "2");
    assert.equal(b.ids.get("y"), "1");
  });

  test("a failed template match commits no bindings", () => {
    const b = newBindings();
    assert.notEqual(matchTemplate([{ id: "{id:x}", n: 1 }], [{ id: 3, n: 2 }], b), null);
    assert.equal(b.ids.size, 0);
    assert.notEqual(matchTemplate({ a: "{id:x}", b: "{id:y}" }, { a: 3, b: 3 }, b), null);
    assert.equal(b.ids.size, 0);
  });

  test("bindings from earlier steps constrain templates", () => {
    const b = newBindings();
    assert.equal(matchLine("{id:a}", "1", b), null);
    assert.notEqual(
      matchTemplate([lock("k", "{id:a}", 0)], [{
        key: "k",
        owner_conn_id: 2,
        lease_expires_in_s: 30,
        waiters: 0,
      }], b),
      null,
    );
  });

  test("stats lines need 'ok ' and valid JSON", () => {
    const b = newBindings();
    const t = { connections: 1, locks: [] };
    assert.equal(matchStatsLine(t, 'ok {"connections":1,"locks":[]}', b), null);
    assert.match(matchStatsLine(t, '{"connections":1,"locks":[]}', b) ?? "", /ok /);
    assert.match(matchStatsLine(t, "ok {", b) ?? "", /invalid JSON/);
    assert.match(matchStatsLine(t, 'ok {"connections":1,"locks":null}', b) ?? "", /array/);
  });

  test("unicode keys compare as text", () => {
    const b = newBindings();
    assert.equal(matchTemplate({ key: "ééé" }, JSON.parse('{"key":"\\u00e9éé"}'), b), null);
  });
});

describe("token substitution", () => {
  test("replaces bound tokens and leaves other text alone", () => {
    const b = newBindings();
    b.tokens.set("A", T1);
    assert.equal(substituteTokens("{token:A} 5", b), `${T1} 5`);
    assert.equal(substituteTokens("r\nk\n{token:A}\n{int}\n", b), `r\nk\n${T1}\n{int}\n`);
    assert.equal(substituteTokens("{token}", b), "{token}");
  });

  test("an unbound token is an error", () => {
    assert.throws(() => substituteTokens("{token:Z}", newBindings()), /not bound/);
  });
});
