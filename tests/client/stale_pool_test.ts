/**
 * A pooled connection the server gave up on while it sat idle (its read timeout: `error`, then
 * the close) must not fail the next lock that takes it: the client tries once more on a new
 * connection. The race is made certain by a client transport that holds back what the server
 * sends on the pooled connections until the client writes again, so the server's `error`
 * arrives as the answer to the next request, as it does when the two cross on the wire.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DflockClient } from "../../mod.ts";
import { getAdapter } from "../../src/transport/auto.ts";
import type { ConnectOptions, Transport, TransportAdapter } from "../../src/transport/types.ts";
import { eventually, waitersOf, withServer } from "./_lease_helpers.ts";

/** A client adapter whose connections can be made deaf until they next write. */
class DeafeningAdapter {
  readonly adapter: TransportAdapter;
  readonly #open = new Set<{ deafen(): void }>();

  constructor(base: TransportAdapter) {
    this.adapter = {
      runtime: base.runtime,
      listen: (o) => base.listen(o),
      connect: async (o: ConnectOptions): Promise<Transport> => {
        const inner = await base.connect(o);
        let gate: Promise<void> | undefined;
        let open: (() => void) | undefined;
        const handle = {
          deafen(): void {
            gate ??= new Promise((resolve) => open = resolve);
          },
        };
        this.#open.add(handle);
        const writer = inner.writable.getWriter();
        writer.closed.catch(() => {});
        return {
          closed: inner.closed,
          remoteAddr: inner.remoteAddr,
          close: () => inner.close(),
          readable: inner.readable.pipeThrough(
            new TransformStream<Uint8Array, Uint8Array>({
              async transform(chunk, controller): Promise<void> {
                if (gate !== undefined) await gate;
                controller.enqueue(chunk);
              },
              async flush(): Promise<void> {
                if (gate !== undefined) await gate;
              },
            }),
          ),
          writable: new WritableStream<Uint8Array>({
            async write(chunk): Promise<void> {
              await writer.write(chunk);
              // What was held back arrives after the request: the crossing on the wire.
              open?.();
              gate = open = undefined;
            },
            close: () => writer.close(),
            abort: (reason) => writer.abort(reason),
          }),
        };
      },
    };
  }

  /** Holds back what the server sends on every connection open now, until it next writes. */
  deafen(): void {
    for (const c of this.#open) c.deafen();
  }
}

describe("a pooled connection the server gave up on", () => {
  for (const call of ["acquire", "enqueue"] as const) {
    test(`is replaced when a waiting ${call} takes it`, async () => {
      await withServer({ readTimeout: 1 }, async (server, address) => {
        const deaf = new DeafeningAdapter(await getAdapter());
        // The holder's client pings often enough to outlive the 1 s read timeout.
        await using other = new DflockClient({ servers: [address], keepaliveIntervalMs: 200 });
        await using client = new DflockClient({
          servers: [address],
          transport: deaf.adapter,
          idleTimeoutMs: 60_000,
        });
        // One exclusive connection in the pool, used once.
        const first = client.lock("warm");
        assert.equal(await first.enqueue(), "acquired");
        await first.release();
        assert.equal(client.stats().servers[0]!.idle, 1);
        const holder = await other.acquireLock("k");
        deaf.deafen();
        await eventually(() => server.stats().connections === 1, "the server closed the idle ones");
        assert.equal(client.stats().servers[0]!.idle, 1, "the client has not noticed");
        const lock = client.lock("k", { acquireTimeoutS: 10 });
        const outcome = call === "acquire" ? lock.acquire() : lock.enqueue();
        await eventually(() => waitersOf(server, "k") === 1, "queued on a new connection");
        await holder.release();
        if (call === "enqueue") {
          assert.equal(await outcome, "queued");
          assert.equal(await lock.wait(5), true);
        } else {
          assert.equal(await outcome, true);
        }
        await lock.release();
        // The stale one and its replacement; an acquire tried the shared connection first.
        const opened = call === "acquire" ? 3 : 2;
        assert.equal(client.stats().servers[0]!.opened, opened);
      });
    });
  }
});
