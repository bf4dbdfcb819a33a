/**
 * Connections the client resets before the server accepts them must not delay the next client.
 * Deno's accept fails with `NotConnected` for each of them; the Deno adapter once backed off up
 * to 1 s per failure (50 resets: a new client waited 42 s). Runs the project's server on each
 * runtime's adapter (and on Bun also the `node:net` one), over real sockets on 127.0.0.1.
 *
 * @module
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { startTestServer } from "../_helpers/server.ts";
import { acceptErrorAction } from "../../src/transport/_errors.ts";
import { detectRuntime, getAdapter } from "../../src/transport/auto.ts";
import { openChannel } from "../../src/transport/channel.ts";
import { nodeAdapter } from "../../src/transport/node.ts";
import type { TransportAdapter } from "../../src/transport/types.ts";

const HOST = "127.0.0.1";
const RESETS = 200;

/**
 * A Node child that opens `count` connections to `port` and resets each (RST, via
 * `socket.resetAndDestroy()`) as soon as it is connected, then prints how many it reset.
 */
const RESETTER = `
const net = require("node:net");
const [port, count] = [Number(process.argv[1]), Number(process.argv[2])];
let reset = 0, closed = 0;
for (let i = 0; i < count; i++) {
  const s = net.connect({ host: "127.0.0.1", port });
  s.on("connect", () => { s.resetAndDestroy(); reset++; });
  s.on("error", () => {});
  s.on("close", () => { if (++closed === count) { process.stdout.write(String(reset)); process.exit(0); } });
}
`;

/**
 * Resets `count` connections to `port` before this process can accept any: the child runs with
 * `spawnSync`, so this process's event loop (and with it every accept of the server under test)
 * is blocked until all of them are connected and reset. The listen backlog (511 on all three
 * runtimes) holds them meanwhile.
 *
 * @returns How many connections the child reset, or `undefined` when there is no `node` to run.
 */
function resetBeforeAccept(port: number, count: number): number | undefined {
  const result = spawnSync("node", ["-e", RESETTER, String(port), String(count)], {
    encoding: "utf8",
    timeout: 30_000,
  });
  if (result.error !== undefined && (result.error as { code?: string }).code === "ENOENT") {
    return undefined;
  }
  assert.equal(result.status, 0, `resetter failed: ${result.stderr}`);
  return Number(result.stdout);
}

/** Sends one lock request on a fresh connection; resolves with the answer line. */
async function lockOnce(adapter: TransportAdapter, port: number, key: string): Promise<string> {
  const transport = await adapter.connect({ hostname: HOST, port });
  try {
    const channel = openChannel(transport);
    await channel.write(new TextEncoder().encode(`l\n${key}\n0\n`));
    let text = "";
    for (let reads = 0; !text.includes("\n") && reads < 100; reads++) {
      const chunk = await channel.read();
      if (chunk === null) break;
      text += new TextDecoder().decode(chunk);
    }
    return text;
  } finally {
    await transport.close();
  }
}

/** Rejects when `promise` has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The adapters to check, with the time a new client may wait: the acceptance bound of 100 ms
 * for the runtime's own adapter. On Bun the `node:net` adapter is checked too, against a looser
 * bound: Bun's `node:net` alone needs 40-70 ms to deliver 200 reset connections (and their
 * errors) before the next one, so 100 ms would measure Bun, not the adapter; 1 s still catches
 * any back-off per reset.
 */
const adapters: [string, () => Promise<TransportAdapter>, number][] = [
  [`${detectRuntime()}'s own adapter`, getAdapter, 100],
];
if (detectRuntime() === "bun") {
  adapters.push(["nodeAdapter on Bun", () => Promise.resolve(nodeAdapter), 1_000]);
}

describe("connections reset before they are accepted", () => {
  for (const [name, load, limitMs] of adapters) {
    test(`${name}: after ${RESETS} of them a new client is answered within ${limitMs} ms`, async (t) => {
      const adapter = await load();
      const server = await startTestServer({ transport: adapter });
      try {
        const port = server.addr.port;
        // Warm-up outside the timed window: the server answers at all.
        assert.match(await within(lockOnce(adapter, port, "warm-up"), 5_000, "warm-up"), /^ok /);
        const reset = resetBeforeAccept(port, RESETS);
        if (reset === undefined) {
          t.skip("no system node to make the resets");
          return;
        }
        assert.equal(reset, RESETS, "connections the child reset");
        const started = performance.now();
        const answer = await within(lockOnce(adapter, port, "after-resets"), 5_000, "new client");
        const elapsed = performance.now() - started;
        assert.match(answer, /^ok /);
        assert.ok(
          elapsed < limitMs,
          `answered after ${elapsed.toFixed(1)} ms, expected < ${limitMs} ms`,
        );
        // The server is still fine afterwards.
        assert.match(await within(lockOnce(adapter, port, "later"), 5_000, "later"), /^ok /);
      } finally {
        await server.close({ force: true });
      }
    });
  }
});

describe("acceptErrorAction()", () => {
  test("skips errors about one connection at once", () => {
    const deno = (name: string, code?: string) =>
      Object.assign(new Error(name), { name, ...(code === undefined ? {} : { code }) });
    // What Deno throws for a connection reset before it was accepted (os error 107).
    assert.equal(acceptErrorAction(deno("NotConnected", "ENOTCONN")), "skip");
    assert.equal(acceptErrorAction(deno("ConnectionReset")), "skip");
    assert.equal(acceptErrorAction(deno("ConnectionAborted")), "skip");
    assert.equal(acceptErrorAction({ code: "ECONNABORTED" }), "skip");
    assert.equal(acceptErrorAction({ code: "EPROTO" }), "skip");
  });

  test("backs off for exhausted resources and unknown errors; stops on a closed listener", () => {
    assert.equal(acceptErrorAction({ code: "EMFILE", message: "Too many open files" }), "backoff");
    assert.equal(acceptErrorAction({ code: "ENFILE" }), "backoff");
    assert.equal(acceptErrorAction(new Error("something else")), "backoff");
    assert.equal(acceptErrorAction({ name: "BadResource" }), "closed");
    assert.equal(acceptErrorAction({ name: "Interrupted" }), "closed");
  });
});
