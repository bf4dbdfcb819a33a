/**
 * The demo's fourth scene: leases. A worker that stops renewing loses its lock when the lease
 * runs out, and a worker whose connection dies sees `lock.signal` abort with
 * `LeaseLostError` while the server hands the lock to the next in line.
 *
 * @module
 */

import { connect as connectTransport, detectRuntime, listen } from "../transport/auto.ts";
import type { Transport, TransportAdapter } from "../transport/types.ts";
import { connect } from "../client/connection.ts";
import { acquire, release } from "../client/low_level.ts";
import { DistributedLock } from "../lock.ts";
import { DflockError, LeaseLostError } from "../errors.ts";
import type { DemoContext } from "./_demo_scenes.ts";
import { fenceNote, lockStats } from "./_demo_scenes.ts";
import { until } from "./_demo_timeline.ts";

/** A transport adapter whose connections the demo can cut, like a network failure. */
interface CuttableAdapter extends TransportAdapter {
  /** Closes every connection this adapter opened. */
  cut(): Promise<void>;
}

function cuttableAdapter(): CuttableAdapter {
  const open = new Set<Transport>();
  return {
    runtime: detectRuntime(),
    async connect(options) {
      const transport = await connectTransport(options);
      open.add(transport);
      void transport.closed.finally(() => open.delete(transport)).catch(() => {});
      return transport;
    },
    listen,
    async cut() {
      await Promise.all([...open].map((tr) => tr.close().catch(() => {})));
    },
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Scene 4: a stalled worker's lease expires; a dead connection aborts `lock.signal`.
 *
 * @param ctx Printer and server (its lease sweep should run often, e.g. every 0.1 s).
 * @returns Resolves once every worker is done.
 * @throws {Error} When the server does not behave as described.
 */
export async function leaseScene(ctx: DemoContext): Promise<void> {
  const { t, server, address } = ctx;
  const key = "jobs/cleanup";
  t.heading(`4. Leases: a stalled worker loses ${key}; a dead connection aborts lock.signal`);
  const [host = "127.0.0.1", port = "0"] = address.split(":");
  const raw = await connect({ host, port: Number(port) });
  const adapter = cuttableAdapter();
  const second = new DistributedLock({
    key,
    servers: [address],
    leaseTtlS: 2,
    transport: adapter,
  });
  const third = new DistributedLock({ key, servers: [address], leaseTtlS: 2 });
  let secondRun: Promise<boolean> | undefined;
  let thirdRun: Promise<boolean> | undefined;
  try {
    // worker-1 speaks the protocol directly: acquire with a 1 s lease, then never renew.
    const grant = await acquire(raw, key, 5, { leaseTtlS: 1 });
    const since = t.elapsedMs;
    t.log("worker-1", `acquired ${key} with a ${grant.lease} s lease, then stalls (no renewals)`);
    secondRun = second.acquire();
    await until(() => (lockStats(server, key)?.waiters ?? 0) >= 1, "worker-2 to queue");
    t.log("worker-2", `queued for ${key} (renews its own lease in the background once held)`);
    if (!await secondRun) throw new Error(`worker-2 was not granted ${key}`);
    const after = ((t.elapsedMs - since) / 1000).toFixed(2);
    t.log("server", `worker-1's lease expired after ${after} s; ${key} goes to the next in line`);
    t.log("worker-2", `acquired ${key}${fenceNote(second.fence)}`);
    try {
      await release(raw, key, grant.token);
      t.log("worker-1", `wakes up; release unexpectedly accepted`);
    } catch (error) {
      const status = error instanceof DflockError ? ` (server status "${error.code}")` : "";
      t.log("worker-1", `wakes up; its release is refused${status}: the lease is gone`);
    }
    raw.destroy();

    const aborted = new Promise<unknown>((resolve) => {
      second.signal.addEventListener("abort", () => resolve(second.signal.reason), { once: true });
    });
    thirdRun = third.acquire();
    await until(() => (lockStats(server, key)?.waiters ?? 0) >= 1, "worker-3 to queue");
    t.log("worker-3", `queued for ${key}`);
    t.log("demo", `cuts worker-2's network connection`);
    await adapter.cut();
    const reason = await aborted;
    t.log("worker-2", `lock.signal aborted: ${describe(reason)}`);
    if (!(reason instanceof LeaseLostError)) throw new Error("expected a LeaseLostError");
    if (!await thirdRun) throw new Error(`worker-3 was not granted ${key}`);
    t.log(
      "worker-3",
      `acquired ${key}${fenceNote(third.fence)} (the server freed it on disconnect)`,
    );
    await third.release();
    t.log("worker-3", `released ${key}`);
  } finally {
    raw.destroy();
    await Promise.all([second.close(), third.close()]);
    await Promise.all([secondRun?.catch(() => {}), thirdRun?.catch(() => {})]);
  }
}
