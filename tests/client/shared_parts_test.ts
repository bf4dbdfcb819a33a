/**
 * The parts that locks and semaphores, the client, the LockApi, the server and the CLI share
 * instead of keeping copies: the {@linkcode DistributedLease} base, the limit, auth-token and
 * renew-ratio checks, the address format, Go's TrimSpace on text and the auth token file read.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  acquireLock,
  acquireSemaphore,
  connect,
  DflockClient,
  DflockdLockApi,
  DistributedLease,
  DistributedLock,
  DistributedSemaphore,
  semAcquire,
} from "../../mod.ts";
import { serve } from "../../src/server/mod.ts";
import { auth } from "../../src/client/low_level.ts";
import { trimSpace, trimSpaceText } from "../../src/protocol/go_text.ts";
import { encodeUtf8 } from "../../src/protocol/utf8.ts";
import { readAuthTokenFile } from "../../src/server/auth_token_file.ts";
import { formatAddr } from "../../src/transport/_errors.ts";
import { isHeld, withServer } from "./_lease_helpers.ts";

describe("DistributedLease: one base for locks and semaphores", () => {
  test("both kinds run through code typed on the base, with their own wire commands", async () => {
    await withServer({}, async (server, addr) => {
      await using client = new DflockClient({ servers: [addr] });
      const seen: string[] = [];
      const guarded = (lease: DistributedLease) =>
        lease.withLock((self, signal) => {
          assert.equal(self, lease);
          assert.equal(signal.aborted, false);
          // Held under its own kind: a lock in the server's lock table, a semaphore in its own.
          const stats = server.stats();
          const kind = lease instanceof DistributedSemaphore ? stats.semaphores : stats.locks;
          assert.ok(kind.some((entry) => entry.key === lease.key), `${lease.key} not held`);
          seen.push(`${self.constructor.name} ${self.key} ${typeof self.fence}`);
          return self.token;
        });
      const lock = client.lock("base-lock");
      const sem = client.semaphore("base-sem", 2);
      assert.ok(lock instanceof DistributedLease && sem instanceof DistributedLease);
      assert.match((await guarded(lock))!, /^[0-9a-f]{32}$/);
      assert.match((await guarded(sem))!, /^[0-9a-f]{32}$/);
      assert.deepEqual(seen, [
        "DistributedLock base-lock bigint",
        "DistributedSemaphore base-sem bigint",
      ]);
      assert.equal(isHeld(server, "base-lock"), false);
      assert.equal(server.stats().semaphores.some((entry) => entry.key === "base-sem"), false);
      // The semaphore's limit went out with it: another limit is refused.
      await using other = client.semaphore("base-sem", 3);
      await using holder = client.semaphore("base-sem", 2);
      assert.equal(await holder.acquire(), true);
      await assert.rejects(other.acquire(), { name: "LimitMismatchError" });
    });
  });

  test("the one-call helpers say lock or semaphore on timeout, and reject rather than throw", async () => {
    await withServer({}, async (_server, addr) => {
      await using held = await acquireLock("busy", { servers: [addr] });
      await assert.rejects(
        acquireLock("busy", { servers: [addr], acquireTimeoutS: 0 }),
        { name: "AcquireTimeoutError", message: /^Cannot acquire lock "busy": .*\(0 s\)/ },
      );
      await using slot = await acquireSemaphore("busy-sem", 1, { servers: [addr] });
      await assert.rejects(
        acquireSemaphore("busy-sem", 1, { servers: [addr], acquireTimeoutS: 0 }),
        { name: "AcquireTimeoutError", message: /^Cannot acquire semaphore "busy-sem": / },
      );
      assert.ok(held.token !== undefined && slot.token !== undefined);
      // A bad option is a rejected promise, not a synchronous throw.
      const bad = acquireSemaphore("k", 0, { servers: [addr] });
      await assert.rejects(bad, RangeError);
    });
  });
});

describe("one check each", () => {
  test("limit: the same words from the semaphore and from semAcquire", async () => {
    const message = "limit must be an integer from 1 to 1048576 (got 0)";
    assert.throws(() => new DistributedSemaphore({ key: "k", limit: 0 }), {
      name: "RangeError",
      message,
    });
    await withServer({}, async (server) => {
      await using conn = await connect({ host: "127.0.0.1", port: server.addr.port });
      await assert.rejects(semAcquire(conn, "k", 0, 0), { name: "RangeError", message });
    });
  });

  test("auth token: CR or LF is refused by options, connect() and auth()", async () => {
    const said = /must not contain CR or LF: it is sent as one request line$/;
    assert.throws(() => new DistributedLock({ key: "k", authToken: "a\nb" }), {
      name: "TypeError",
      message: /^authToken must not contain CR or LF/,
    });
    assert.throws(() => new DflockClient({ authToken: "a\rb" }), {
      name: "TypeError",
      message: said,
    });
    await assert.rejects(connect({ port: 1, authToken: "x\r\n" }), {
      name: "TypeError",
      message: said,
    });
    await withServer({}, async (server) => {
      await using conn = await connect({ host: "127.0.0.1", port: server.addr.port });
      await assert.rejects(auth(conn, "a\nb"), { name: "TypeError", message: /^token / });
    });
  });

  test("renewRatio: the same range and words for locks and the LockApi", () => {
    for (const ratio of [0, 1, Number.NaN]) {
      const message = `renewRatio must be between 0 and 1, exclusive (got ${ratio})`;
      assert.throws(() => new DistributedLock({ key: "k", renewRatio: ratio }), {
        name: "RangeError",
        message,
      });
      assert.throws(() => new DflockdLockApi({ renewRatio: ratio }), {
        name: "RangeError",
        message,
      });
    }
  });

  test("addresses: host:port, IPv6 bracketed once", () => {
    assert.equal(formatAddr({ hostname: "127.0.0.1", port: 6388 }), "127.0.0.1:6388");
    assert.equal(formatAddr({ hostname: "::1", port: 6388 }), "[::1]:6388");
    assert.equal(formatAddr({ hostname: "[::1]", port: 6388 }), "[::1]:6388");
    assert.equal(formatAddr({ hostname: "localhost", port: 1 }), "localhost:1");
  });

  test("trimSpaceText is Go's TrimSpace on text: the byte version, decoded", () => {
    assert.equal(trimSpaceText("\u00a0\u2003 a b\u3000\v\f\x85"), "a b");
    assert.equal(trimSpaceText("\ufeffa\ufeff"), "\ufeffa\ufeff");
    assert.equal(trimSpaceText("  é ü\n"), "é ü");
    for (const text of ["", "   ", "\u2028x\u2029", "\u200bx", "a\u0085"]) {
      assert.equal(encodeUtf8(trimSpaceText(text)), trimSpace(encodeUtf8(text)));
    }
  });
});

describe("auth token file", () => {
  test("read once for server and CLI: trimmed the Go way, errors name the path", async () => {
    const dir = await mkdtemp(join(tmpdir(), "dflock-token-"));
    try {
      const file = join(dir, "token");
      await writeFile(file, "\u00a0 s3cret\u2003\n\n");
      assert.equal(await readAuthTokenFile(file), "s3cret");
      assert.equal(await readAuthTokenFile("any", () => Promise.resolve("  t \x85")), "t");
      const missing = join(dir, "missing");
      await assert.rejects(readAuthTokenFile(missing), {
        message: new RegExp(
          `^cannot read auth token file ${JSON.stringify(missing).replace(/\\/g, "\\\\")}: `,
        ),
      });
      await assert.rejects(
        serve({ host: "127.0.0.1", port: 0, log: () => {}, authTokenFile: missing }),
        { message: /^cannot read auth token file / },
      );
      await withServer({ authTokenFile: file }, async (server) => {
        const address = formatAddr(server.addr);
        await using good = new DflockClient({ servers: [address], authToken: "s3cret" });
        await using lock = good.lock("k");
        assert.equal(await lock.acquire(), true);
        await lock.release();
        await using bad = new DflockClient({ servers: [address], authToken: "s3cre" });
        await using refused = bad.lock("k");
        await assert.rejects(refused.acquire(), { name: "AuthError" });
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
