import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { openChannel } from "../../src/transport/channel.ts";
import { detectRuntime } from "../../src/transport/auto.ts";
import { denoAdapter } from "../../src/transport/deno.ts";
import { transportSuite, withPair } from "./_suite.ts";

// Deno's TLS client (rustls) rejects a CA:TRUE certificate used as a server certificate.
transportSuite("denoAdapter", denoAdapter, {
  skip: detectRuntime() !== "deno",
  acceptsCaAsLeaf: false,
});

describe("denoAdapter: small reads", { skip: detectRuntime() !== "deno" }, () => {
  test("are slices of one shared buffer, each left as it was read", async () => {
    await withPair(denoAdapter, async (client, accepted) => {
      const server = openChannel(accepted);
      const io = openChannel(client);
      const chunks: Uint8Array[] = [];
      const sent: string[] = [];
      for (let i = 0; i < 20; i++) {
        const text = `request ${i} ${"x".repeat(i)}\n`;
        sent.push(text);
        await io.write(new TextEncoder().encode(text));
        chunks.push((await server.read())!);
      }
      // Every chunk still holds what was read into it after all the reads that followed.
      assert.deepEqual(chunks.map((c) => new TextDecoder().decode(c)), sent);
      // Without copying each into an array of its own (see `_chunk_slab.ts`).
      assert.ok(
        chunks.some((c, i) => i > 0 && c.buffer === chunks[i - 1]!.buffer),
        "every small chunk has a buffer of its own",
      );
    });
  });
});
