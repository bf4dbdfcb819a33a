import { test } from "node:test";
import assert from "node:assert/strict";
import { DistributedLock } from "../../mod.ts";
import { startTestServer } from "../_helpers/server.ts";
import { closeDefaultClients } from "../../src/client/core.ts";
import { getAdapter } from "../../src/transport/auto.ts";
import type { Transport, TransportAdapter } from "../../src/transport/types.ts";

// Regression: the local lease deadline used to count from when the client READ the grant, so a
// stall between the server's grant and the read made `lock.signal` abort late, after the server
// had already handed the lock to the next holder. It now counts from when the request was sent.
test(
  "DistributedLock: the local lease deadline counts from the request, not from reading the grant",
  {
    timeout: 20_000,
  },
  async () => {
    await using server = await startTestServer({ leaseSweepInterval: 0.01 });
    const servers = [`127.0.0.1:${server.addr.port}`];
    const base = await getAdapter();
    let frozen = false; // a frozen holder: nothing it writes leaves (no renewals)
    const freezable: TransportAdapter = {
      ...base,
      connect: async (options) => {
        const t: Transport = await base.connect(options);
        const writer = t.writable.getWriter();
        return {
          readable: t.readable,
          closed: t.closed,
          remoteAddr: t.remoteAddr,
          close: () => t.close(),
          writable: new WritableStream<Uint8Array>({
            write: async (chunk) => {
              if (!frozen) await writer.write(chunk);
            },
            close: () => writer.close(),
          }),
        };
      },
    };
    const b = new DistributedLock({ key: "k", servers, leaseTtlS: 10 });
    const a = new DistributedLock({ key: "k", servers, leaseTtlS: 1, transport: freezable });
    const c = new DistributedLock({ key: "k", servers, leaseTtlS: 5 });
    try {
      assert.equal(await b.acquire(), true);
      const aAcquired = a.acquire(); // queues behind b
      for (let i = 0; i < 2000 && (server.stats().locks[0]?.waiters ?? 0) < 1; i++) {
        await new Promise((r) => setTimeout(r, 1));
      }
      await b.release(); // the server grants `a` and writes the grant ...
      const busyFrom = performance.now();
      while (performance.now() - busyFrom < 200) {
        // ... while this process is stalled for 200 ms before it can read it
      }
      assert.equal(await aAcquired, true);
      frozen = true; // `a` now stays silent past its 1 s lease
      let abortedAt = Infinity;
      a.signal.addEventListener("abort", () => abortedAt = performance.now());
      assert.equal(await c.acquire(), true); // granted once the server expires `a`
      const cEntered = performance.now();
      for (let i = 0; i < 100 && !a.signal.aborted; i++) {
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.ok(a.signal.aborted, "a's lease loss was reported");
      // Counting from the read, the abort came ~200 ms after c entered; from the send, at most a
      // few scheduling milliseconds apart.
      assert.ok(
        abortedAt - cEntered < 100,
        `a's signal aborted ${(abortedAt - cEntered).toFixed(0)} ms after c entered`,
      );
    } finally {
      await c.close();
      await a.close();
      await b.close();
      await closeDefaultClients();
    }
  },
);
