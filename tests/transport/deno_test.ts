import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { openChannel } from "../../src/transport/channel.ts";
import type { ByteChannel } from "../../src/transport/types.ts";
import { detectRuntime } from "../../src/transport/auto.ts";
import { denoAdapter } from "../../src/transport/deno.ts";
import { transportSuite, withPair } from "./_suite.ts";

// Deno's TLS client (rustls) rejects a CA:TRUE certificate used as a server certificate.
transportSuite("denoAdapter", denoAdapter, {
  skip: detectRuntime() !== "deno",
  acceptsCaAsLeaf: false,
});

/** Reads chunks until they hold `n` bytes. */
async function readBytes(channel: ByteChannel, n: number): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for (let got = 0; got < n;) {
    const chunk = await channel.read();
    assert.ok(chunk !== null, "EOF before the bytes sent");
    chunks.push(chunk);
    got += chunk.byteLength;
  }
  return chunks;
}

describe("denoAdapter: small reads", { skip: detectRuntime() !== "deno" }, () => {
  test("are slices of the connection's own buffers, each left as it was read", {
    timeout: 10_000,
  }, async () => {
    await withPair(denoAdapter, async (client, accepted) => {
      await withPair(denoAdapter, async (otherClient, otherAccepted) => {
        const server = openChannel(accepted);
        const other = openChannel(otherAccepted);
        const io = openChannel(client);
        const otherIo = openChannel(otherClient);
        const chunks: Uint8Array[] = [];
        const otherChunks: Uint8Array[] = [];
        const sent: string[] = [];
        // Sizes 10-69 bytes, and one of 300 (longer than a slice may be): several buffers each.
        for (let i = 0; i < 60; i++) {
          const text = `request ${i} ${"x".repeat(i === 30 ? 290 : i)}\n`;
          sent.push(text);
          await io.write(new TextEncoder().encode(text));
          chunks.push(...await readBytes(server, text.length));
          await otherIo.write(new TextEncoder().encode(text));
          otherChunks.push(...await readBytes(other, text.length));
        }
        // Every chunk still holds what was read into it after all the reads that followed.
        const text = (c: Uint8Array): string => new TextDecoder().decode(c);
        // (The long one arrives in two reads, its buffer being 256 bytes: compare the streams.)
        assert.equal(chunks.map(text).join(""), sent.join(""));
        assert.equal(otherChunks.map(text).join(""), sent.join(""));
        // Without copying each into an array of its own (see `_chunk_slab.ts`)...
        assert.ok(
          chunks.some((c, i) => i > 0 && c.buffer === chunks[i - 1]!.buffer),
          "every small chunk has a buffer of its own",
        );
        // ...and without sharing memory with another connection.
        const buffers = new Set(chunks.map((c) => c.buffer));
        assert.ok(otherChunks.every((c) => !buffers.has(c.buffer)), "connections share buffers");
        // A reader that transfers a chunk's buffer away breaks nothing that follows.
        const last = chunks.at(-1)!;
        structuredClone(last.buffer, { transfer: [last.buffer as ArrayBuffer] });
        assert.equal(last.byteLength, 0);
        await io.write(new TextEncoder().encode("after\n"));
        assert.equal(text((await server.read())!), "after\n");
      });
    });
  });
});
