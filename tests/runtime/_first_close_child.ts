/**
 * Child of `first_close_test.ts`, run with V8's `--allow-natives-syntax`: optimizes the client's
 * `Connection.prototype.request` and the server's `LockTable.prototype.release` (both serving
 * the same in-process connection), closes a second connection, and prints whether each
 * function was still optimized afterwards: `{"before":{..},"after":{..}}`.
 *
 * A field first written when a connection closes would make V8 discard the optimized code that
 * reads it (docs/performance.md, "The first close").
 *
 * @module
 */

import { acquire, release } from "../../src/client/low_level.ts";
import { connect, Connection } from "../../src/client/connection.ts";
import { serve } from "../../src/server/mod.ts";
import { LockTable } from "../../src/server/lock_table.ts";
import { writeStdout } from "../../src/runtime/process.ts";
import { PushQueue } from "../../src/transport/_push_conn.ts";
import { detectRuntime } from "../../src/transport/auto.ts";
import { eventually } from "../server/_protocol_client.ts";

type Natives = (f: unknown) => number;
// Natives syntax only parses with --allow-natives-syntax, so it lives in Function bodies.
const status = new Function("f", "return %GetOptimizationStatus(f)") as Natives;
const prepare = new Function("f", "%PrepareFunctionForOptimization(f)") as Natives;
const optimizeOnNextCall = new Function("f", "%OptimizeFunctionOnNextCall(f)") as Natives;

/** The status bits that mean "optimized code" in this V8 (their positions vary by version). */
function optimizedBits(): number {
  const probe = (n: number): number => n + 1;
  prepare(probe);
  probe(1);
  const interpreted = status(probe);
  optimizeOnNextCall(probe);
  probe(2);
  return status(probe) & ~interpreted;
}
const OPTIMIZED = optimizedBits();

const watched: Record<string, unknown> = {
  request: Connection.prototype.request,
  release: LockTable.prototype.release,
};
// Node's sockets (both sides here) push into a PushQueue; Deno's are read directly.
if (detectRuntime() === "node") watched.read = PushQueue.prototype.read;

function optimized(): Record<string, boolean> {
  return Object.fromEntries(
    Object.entries(watched).map(([name, f]) => [name, (status(f) & OPTIMIZED) !== 0]),
  );
}

await using server = await serve({ host: "127.0.0.1", port: 0 });
const port = server.addr.port;
await using conn = await connect({ port });
const other = await connect({ port });
await acquire(other, "first-close/other", 0);

const pair = async (): Promise<void> => {
  const { token } = await acquire(conn, "first-close/key", 0);
  await release(conn, "first-close/key", token);
};
for (const f of Object.values(watched)) prepare(f);
for (let i = 0; i < 20; i++) await pair();
for (const f of Object.values(watched)) optimizeOnNextCall(f);
await pair();
const before = optimized();

// The other connection closes (client side, then the server's side of it).
await other.close();
const gone = await eventually(() => server.stats().connections === 1);
const after = optimized();
writeStdout(JSON.stringify({ bits: OPTIMIZED, before, after, gone }) + "\n");
