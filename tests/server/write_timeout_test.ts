/**
 * The server's write timeout cuts a client that never reads within the setting plus a small
 * margin, on every runtime, whatever else the connection's deadline timer was armed for.
 *
 * @module
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { withServer } from "../_helpers/server.ts";
import { ProtocolClient } from "./_protocol_client.ts";

/** Locks the hog holds: with these names one `stats` answer is about 200 KB. */
const KEYS = 2000;
const WRITE_TIMEOUT_S = 1;
const MARGIN_MS = 500;

const key = (i: number): string => `write-timeout-key-with-a-long-name-to-make-stats-big-${i}`;

describe("write timeout", () => {
  test("a client that never reads is cut within the write timeout + 0.5 s", async () => {
    const closedAt = new Map<number, number>();
    let closed: (() => void) | null = null;
    const log = (line: string): void => {
      const m = /^connection (\d+) closed/.exec(line);
      if (m === null) return;
      closedAt.set(Number(m[1]), performance.now());
      closed?.();
    };
    // readTimeout 1.8 s: the hog's read deadline falls between its first write deadline and one
    // write timeout after it, where a deadline timer allowed to fire late used to sit.
    const options = { writeTimeout: WRITE_TIMEOUT_S, readTimeout: 1.8, maxLocks: 10_000 };
    await withServer({ ...options, debug: true, log }, async (server) => {
      // Set-up, outside the timed window: the hog holds the locks (so `stats` answers are big),
      // and the witness waits in the queue of one of them.
      const hog = await ProtocolClient.connect(server.addr.port);
      let witness: ProtocolClient | undefined;
      try {
        let batch = "";
        for (let i = 0; i < KEYS; i++) batch += `l\n${key(i)}\n0 60\n`;
        hog.sendRaw(batch);
        for (let i = 0; i < KEYS; i++) assert.match(await hog.line(10_000), /^ok /);
        witness = await ProtocolClient.connect(server.addr.port);
        assert.equal(await witness.request("e", key(0), ""), "queued");
        witness.send("w", key(0), "30");
        // A last request answered just before the flood arms the hog's read deadline now.
        assert.match(await hog.request("stats", "_", ""), /^ok /);

        hog.pause(); // never reads again
        hog.sendRaw("stats\n_\n\n".repeat(300)); // ~60 MB of answers; the buffers hold a few
        // The server's first blocked write comes after this instant (same clock: in process).
        const sent = performance.now();
        const granted = await witness.line(10_000);
        const cut = performance.now() - sent;
        assert.match(
          granted,
          /^ok [0-9a-f]{32} /,
          "the cut released the hog's lock to the witness",
        );
        assert.ok(
          cut >= WRITE_TIMEOUT_S * 1000 - 5,
          `cut ${cut.toFixed(0)} ms after the flood, before the write timeout`,
        );
        assert.ok(
          cut <= WRITE_TIMEOUT_S * 1000 + MARGIN_MS,
          `cut ${cut.toFixed(0)} ms after the flood; allowed ${WRITE_TIMEOUT_S * 1000} + ` +
            `${MARGIN_MS} ms`,
        );
        // The hog's socket is closed as well (connection 1: accepted before the witness).
        if (!closedAt.has(1)) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 10_000);
            closed = () => {
              if (!closedAt.has(1)) return;
              clearTimeout(timer);
              resolve();
            };
          });
        }
        const hogClosed = closedAt.get(1);
        assert.ok(hogClosed !== undefined, "the server closed the hog's socket");
        assert.ok(
          hogClosed - sent <= WRITE_TIMEOUT_S * 1000 + MARGIN_MS,
          `the hog's socket closed ${(hogClosed - sent).toFixed(0)} ms after the flood`,
        );
      } finally {
        hog.close();
        witness?.close();
      }
    });
  });
});
