import assert from "node:assert/strict";
import * as net from "node:net";
import { describe, test } from "node:test";
import { openChannel } from "../../src/transport/channel.ts";
import { detectRuntime } from "../../src/transport/auto.ts";
import { nodeAdapter } from "../../src/transport/node.ts";
import { transportSuite, withPair } from "./_suite.ts";

transportSuite("nodeAdapter", nodeAdapter, {
  // Also run under Bun, where node:net / node:tls pass the whole suite. Deno's node:tls
  // compatibility layer does not (a TLS echo stalls), so Deno skips it.
  skip: detectRuntime() === "deno",
  acceptsCaAsLeaf: true,
});

describe("nodeAdapter on Node: sockets read through onread", {
  skip: detectRuntime() !== "node",
}, () => {
  test("neither an accepted nor a connected plain socket pushes its bytes through the stream", {
    timeout: 10_000,
  }, async () => {
    // With `onread` Node hands the bytes to our callback; without it every chunk goes through
    // Readable#push and a `data` event. Count pushes of data on every socket meanwhile.
    const proto = net.Socket.prototype as unknown as { push(chunk: unknown): boolean };
    const push = proto.push;
    let pushed = 0;
    proto.push = function (this: unknown, chunk: unknown, ...rest: unknown[]): boolean {
      if (chunk !== null) pushed++;
      return (push as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    };
    try {
      await withPair(nodeAdapter, async (client, accepted) => {
        const server = openChannel(accepted);
        const writer = client.writable.getWriter();
        const reader = client.readable.getReader();
        const text = new TextDecoder();
        await writer.write(new TextEncoder().encode("ping\n"));
        assert.equal(text.decode((await server.read())!), "ping\n");
        await server.write(new TextEncoder().encode("pong\n"));
        assert.equal(text.decode((await reader.read()).value), "pong\n");
        // The accepted side still sees the peer's EOF, and answers after it (half-close).
        await writer.close();
        assert.equal(await server.read(), null);
        await server.write(new TextEncoder().encode("bye\n"));
        assert.equal(text.decode((await reader.read()).value), "bye\n");
      });
      assert.equal(pushed, 0, "bytes went through Readable#push (`data` events)");
    } finally {
      proto.push = push;
    }
  });
});
