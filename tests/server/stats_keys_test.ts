import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { withServer } from "../_helpers/server.ts";
import { connect } from "../../src/client/connection.ts";
import { acquire, release, semAcquire, semRelease, stats } from "../../src/client/low_level.ts";
import type { ServerStats } from "../../src/protocol/stats.ts";
import { ProtocolClient } from "./_protocol_client.ts";

/** Multi-byte keys: 2-byte (Cyrillic, Latin-1 range), 3-byte (CJK) and 4-byte (emoji) UTF-8. */
const KEYS = {
  heldLock: "ключ",
  heldSemaphore: "信号量-🚦",
  idleLock: "锁🔒",
  idleSemaphore: "sémaphore-ü",
};

/** The key sets of a snapshot, by category, sorted (entries come in no particular order). */
function keySets(s: ServerStats): Record<string, string[]> {
  return {
    locks: s.locks.map((l) => l.key).sort(),
    semaphores: s.semaphores.map((l) => l.key).sort(),
    idleLocks: s.idleLocks.map((l) => l.key).sort(),
    idleSemaphores: s.idleSemaphores.map((l) => l.key).sort(),
  };
}

describe("Server.stats(): keys as text", () => {
  test("multi-byte keys of locks, semaphores and idle keys match the wire stats", async () => {
    await withServer({}, async (server) => {
      await using conn = await connect({ port: server.addr.port });
      await acquire(conn, KEYS.heldLock, 0);
      await semAcquire(conn, KEYS.heldSemaphore, 0, 3);
      const idle = await acquire(conn, KEYS.idleLock, 0);
      await release(conn, KEYS.idleLock, idle.token);
      const idleSem = await semAcquire(conn, KEYS.idleSemaphore, 0, 2);
      await semRelease(conn, KEYS.idleSemaphore, idleSem.token);

      const expected = {
        locks: [KEYS.heldLock],
        semaphores: [KEYS.heldSemaphore],
        idleLocks: [KEYS.idleLock],
        idleSemaphores: [KEYS.idleSemaphore],
      };
      const inProcess = server.stats();
      const wire = await stats(conn);
      assert.deepEqual(keySets(inProcess), expected, "server.stats() has the real keys");
      assert.deepEqual(keySets(wire), expected, "the wire stats has the real keys");

      // The other fields agree too.
      assert.equal(inProcess.locks[0]!.ownerConnId, wire.locks[0]!.ownerConnId);
      assert.equal(inProcess.semaphores[0]!.limit, 3);
      assert.equal(inProcess.semaphores[0]!.holders, 1);
      assert.equal(wire.semaphores[0]!.holders, 1);

      // What the demo and tests do with the snapshot: find an entry by its key.
      assert.ok(server.stats().locks.find((l) => l.key === KEYS.heldLock));
    });
  });

  test("a key that is not valid UTF-8 shows U+FFFD in both", async () => {
    await withServer({}, async (server) => {
      const raw = await ProtocolClient.connect(server.addr.port);
      try {
        // Bytes 0xff 'k' 0xc3 (a lone lead byte): sent as latin1, one byte per char.
        assert.match(await raw.request("l", "\xffk\xc3", "0"), /^ok /);
        const inProcess = server.stats();
        assert.deepEqual(inProcess.locks.map((l) => l.key), ["\ufffdk\ufffd"]);
        await using conn = await connect({ port: server.addr.port });
        const wire = await stats(conn);
        assert.deepEqual(wire.locks.map((l) => l.key), ["\ufffdk\ufffd"]);
      } finally {
        raw.close();
      }
    });
  });

  test("the wire answer still carries the UTF-8 bytes of the key", async () => {
    await withServer({}, async (server) => {
      const raw = await ProtocolClient.connect(server.addr.port);
      try {
        // "ключ" as its UTF-8 bytes (the line client sends and reads latin1).
        const bytes = String.fromCharCode(...new TextEncoder().encode(KEYS.heldLock));
        assert.match(await raw.request("l", bytes, "0"), /^ok /);
        const line = await raw.request("stats", "_", "");
        assert.ok(line.includes(`"key":"${bytes}"`), `raw UTF-8 key in ${JSON.stringify(line)}`);
        assert.deepEqual(server.stats().locks.map((l) => l.key), [KEYS.heldLock]);
      } finally {
        raw.close();
      }
    });
  });
});
