import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { checkAgainstModel, goAtoi, goFields, goTrim, judge, toNanos } from "./request_model.ts";

const T = "0123456789abcdef0123456789abcdef";
const t = (command: string, key: string, arg: string) => ({ command, key, arg });

describe("Go helpers", () => {
  test("Fields and TrimSpace use Go's white space on UTF-8 bytes", () => {
    assert.deepEqual(goFields(" 1\t2\xc2\xa03\xe3\x80\x804\xc2\x85 "), ["1", "2", "3", "4"]);
    assert.deepEqual(goFields("1\xef\xbb\xbf2"), ["1\xef\xbb\xbf2"]); // U+FEFF is not space
    assert.deepEqual(goFields("1\xc2\xc2\xa02"), ["1\xc2", "2"]);
    assert.equal(goTrim(" \xe2\x80\x8a7\xc2\xa0\r"), "7");
    assert.equal(goTrim("\xc2"), "\xc2");
    assert.equal(goTrim("\x0b\x0c"), "");
  });

  test("Atoi and the nanosecond wrap", () => {
    assert.equal(goAtoi("007"), 7n);
    assert.equal(goAtoi("-0"), 0n);
    assert.equal(goAtoi("+5"), 5n);
    assert.equal(goAtoi("9223372036854775807"), 9223372036854775807n);
    for (
      const bad of ["", "+", "5x", "1.5", "0x10", "1_0", "1e3", "9223372036854775808", "\xd9\xa5"]
    ) {
      assert.equal(goAtoi(bad), undefined, bad);
    }
    assert.ok(toNanos(9223372036n) > 0n);
    assert.ok(toNanos(9223372037n) < 0n);
    assert.equal(toNanos(18446744074n), 290448384n);
  });
});

describe("judge", () => {
  test("examples from docs/protocol.md sections 3 and 4", () => {
    assert.equal(judge(t("l ", "k", "0"), 33).parse, "invalid");
    assert.equal(judge(t("l", "a b", "0"), 33).parse, "invalid");
    assert.equal(judge(t("l", "\xff\x00\x0b", "0"), 33).parse, "valid");
    assert.deepEqual(judge(t("l", "k", "10"), 33), { parse: "valid", lease: "33" });
    assert.deepEqual(judge(t("l", "k", "0 9223372036"), 33), {
      parse: "valid",
      lease: "9223372036",
    });
    assert.equal(judge(t("l", "k", "0 9223372037"), 33).parse, "invalid");
    assert.deepEqual(judge(t("l", "k", "0 18446744074"), 33), { parse: "valid", lease: "33" });
    assert.equal(judge(t("l", "k", "-1"), 33).parse, "invalid");
    assert.equal(judge(t("l", "k", "99999999999"), 33).parse, "valid");
    assert.equal(judge(t("sl", "k", "0 0"), 33).parse, "invalid");
    assert.deepEqual(judge(t("e", "k", "9223372037"), 33), {
      parse: "valid",
      lease: "-9223372036",
    });
    assert.equal(judge(t("e", "k", "7 8"), 33).parse, "invalid");
    assert.deepEqual(judge(t("e", "k", ""), 33), { parse: "valid", lease: "33" });
    assert.equal(judge(t("se", "k", "2 0"), 33).parse, "invalid");
    assert.equal(judge(t("w", "k", ""), 33).parse, "invalid");
    assert.equal(judge(t("w", "k", " 3 "), 33).parse, "valid");
    assert.equal(judge(t("r", "k", " \t"), 33).parse, "invalid");
    assert.equal(judge(t("r", "k", "tok extra"), 33).parse, "valid");
    assert.deepEqual(judge(t("n", "k", "tok"), 33), { parse: "valid", lease: "33" });
    assert.equal(judge(t("n", "k", "tok 0"), 33).parse, "invalid");
    assert.equal(judge(t("stats", "any key", "x y"), 33).parse, "valid");
    assert.equal(judge(t("auth", "", "s"), 33).parse, "invalid");
    assert.equal(judge(t("", "k", "0"), 33).parse, "invalid");
  });

  test("checkAgainstModel", () => {
    assert.equal(checkAgainstModel(t("l", "k", "0 5"), `ok ${T} 5`, 2), undefined);
    assert.ok(checkAgainstModel(t("l", "k", "0 5"), `ok ${T} 2`, 2));
    assert.ok(checkAgainstModel(t("l", "k", "0 5"), "error", 2));
    assert.ok(checkAgainstModel(t("l", "k", "x"), "timeout", 2));
    assert.equal(checkAgainstModel(t("n", "k", T), "ok 2", 2), undefined);
    assert.equal(checkAgainstModel(t("n", "k", T), "error", 2), undefined);
    assert.equal(checkAgainstModel(t("w", "k", "0"), `ok ${T} 9`, 2), undefined);
  });
});
