import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { connect, detectRuntime, getAdapter, listen } from "../../src/transport/auto.ts";
import { describeError, formatAddr } from "../../src/transport/_errors.ts";

describe("detectRuntime()", () => {
  test("names the running runtime", () => {
    const expected = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
    assert.equal(detectRuntime(), expected);
  });
});

describe("getAdapter()", () => {
  test("loads the running runtime's adapter once", async () => {
    const first = await getAdapter();
    assert.equal(first.runtime, detectRuntime());
    assert.equal(await getAdapter(), first);
  });
});

describe("connect() / listen()", () => {
  test("round-trip bytes through the detected adapter", async () => {
    const listener = await listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const accepted = listener[Symbol.asyncIterator]().next();
      const client = await connect({ hostname: "127.0.0.1", port: listener.addr.port });
      const server = (await accepted).value;
      assert.ok(server !== undefined);
      try {
        const writer = client.writable.getWriter();
        await writer.write(new Uint8Array([1, 2, 3]));
        await writer.close();
        const reader = server.readable.getReader();
        const got: number[] = [];
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          got.push(...value);
        }
        assert.deepEqual(got, [1, 2, 3]);
      } finally {
        await client.close();
        await server.close();
      }
    } finally {
      await listener.close();
    }
  });

  test("connect() rejects with the reason of an aborted signal", async () => {
    const reason = new Error("stop");
    await assert.rejects(
      connect({ hostname: "127.0.0.1", port: 9, signal: AbortSignal.abort(reason) }),
      (err) => err === reason,
    );
  });
});

describe("transport error helpers", () => {
  test("formatAddr() brackets IPv6 literals", () => {
    assert.equal(formatAddr({ hostname: "127.0.0.1", port: 80 }), "127.0.0.1:80");
    assert.equal(formatAddr({ hostname: "::1", port: 80 }), "[::1]:80");
  });

  test("describeError() maps Node codes and Deno names, else keeps the message", () => {
    assert.equal(describeError({ code: "ECONNRESET" }), "connection reset by peer");
    assert.equal(describeError({ name: "AddrInUse", message: "x" }), "address already in use");
    assert.equal(describeError(new Error("odd failure")), "odd failure");
    assert.equal(describeError("text"), "text");
  });
});
