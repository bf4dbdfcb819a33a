import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  acquiredLine,
  ERROR_AUTH_LINE,
  ERROR_LINE,
  OK_LINE,
  okGrantLine,
  QUEUED_LINE,
  renewOkLine,
  statsOkLine,
  statusLine,
  TIMEOUT_LINE,
} from "../../src/protocol/response.ts";
import { STATUS } from "../../src/protocol/commands.ts";

const T = "0123456789abcdef0123456789abcdef";

describe("response lines", () => {
  test("fixed lines", () => {
    assert.equal(OK_LINE, "ok\n");
    assert.equal(QUEUED_LINE, "queued\n");
    assert.equal(TIMEOUT_LINE, "timeout\n");
    assert.equal(ERROR_LINE, "error\n");
    assert.equal(ERROR_AUTH_LINE, "error_auth\n");
  });
  test("every status has its bare line", () => {
    for (const s of Object.values(STATUS)) assert.equal(statusLine(s), `${s}\n`);
    assert.equal(statusLine(STATUS.errorMaxLocks), "error_max_locks\n");
  });
  test("grants, renew, stats", () => {
    assert.equal(okGrantLine(T, 33), `ok ${T} 33\n`);
    assert.equal(acquiredLine(T, 5), `acquired ${T} 5\n`);
    assert.equal(acquiredLine(T, -9223372036), `acquired ${T} -9223372036\n`);
    assert.equal(okGrantLine(T, 9223372036), `ok ${T} 9223372036\n`);
    assert.equal(renewOkLine(40), "ok 40\n");
    assert.equal(renewOkLine(0), "ok 0\n");
    assert.equal(statsOkLine('{"connections":1}'), 'ok {"connections":1}\n');
  });
});
