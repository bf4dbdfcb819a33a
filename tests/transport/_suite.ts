/**
 * The behaviour every transport adapter must share, as one suite run per adapter
 * (`deno_test.ts`, `bun_test.ts`, `node_test.ts`). Real sockets on 127.0.0.1, port 0.
 *
 * @module
 */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { ConnectionError } from "../../src/errors.ts";
import { openChannel } from "../../src/transport/channel.ts";
import type {
  ByteChannel,
  Listener,
  Transport,
  TransportAdapter,
} from "../../src/transport/types.ts";

const HOST = "127.0.0.1";

/** Finds `tests/<dir>/` next to this file, or in the source tree when run from a compiled copy. */
function fixtureDir(dir: string): URL {
  for (const up of ["../", "../../../../tests/"]) {
    const url = new URL(`${up}${dir}/`, import.meta.url);
    if (existsSync(new URL("cert.pem", url))) return url;
  }
  throw new Error(`Cannot find the fixtures in tests/${dir}`);
}

const FIXTURES = fixtureDir("transport/fixtures");
/** A self-signed leaf certificate (CA:FALSE; CN=localhost, SAN 127.0.0.1). */
const CERT = readFileSync(new URL("cert.pem", FIXTURES), "utf8");
const KEY = readFileSync(new URL("key.pem", FIXTURES), "utf8");
const CONFORMANCE = fixtureDir("conformance/fixtures");

/** A Node TLS client pinned to one protocol version; prints the negotiated one or the error. */
const VERSION_PROBE = `
const tls = require("node:tls");
const [port, version] = [Number(process.argv[1]), process.argv[2]];
const s = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false,
  minVersion: version, maxVersion: version, ciphers: "DEFAULT@SECLEVEL=0" });
s.on("secureConnect", () => { process.stdout.write("ok " + s.getProtocol()); s.destroy(); });
s.on("error", (e) => process.stdout.write("error " + (e.code || e.message)));
`;

/** Runs {@linkcode VERSION_PROBE} with the system `node`; undefined when node is missing. */
function probeTlsVersion(port: number, version: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(
      "node",
      ["-e", VERSION_PROBE, String(port), version],
      { timeout: 10_000 },
      (err, stdout) => resolve(err !== null && stdout === "" ? undefined : stdout),
    );
  });
}

/** Deterministic xorshift32. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function randomBytes(size: number, seed: number): Uint8Array {
  const next = prng(seed);
  const out = new Uint8Array(size);
  const words = new Uint32Array(out.buffer, 0, size >>> 2);
  for (let i = 0; i < words.length; i++) words[i] = next();
  for (let i = words.length * 4; i < size; i++) out[i] = next() & 0xff;
  return out;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves to `"pending"` when `promise` has not settled within `ms`. */
async function settlesWithin<T>(promise: Promise<T>, ms: number): Promise<"settled" | "pending"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"pending">((resolve) => timer = setTimeout(resolve, ms, "pending"));
  try {
    return await Promise.race([promise.then(() => "settled" as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Iterates a readable with a reader (the DOM lib in tsconfig lacks async iteration). */
async function* chunksOf(readable: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = readable.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

async function readAll(transport: Transport): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of chunksOf(transport.readable)) {
    chunks.push(chunk);
    size += chunk.byteLength;
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

async function write(transport: Transport, data: Uint8Array | string): Promise<void> {
  const writer = transport.writable.getWriter();
  try {
    await writer.write(typeof data === "string" ? new TextEncoder().encode(data) : data);
  } finally {
    writer.releaseLock();
  }
}

/** Echoes every accepted connection (half-close included) until the listener closes. */
function serveEcho(listener: Listener): Promise<void> {
  const conns: Promise<void>[] = [];
  return (async () => {
    for await (const conn of listener) {
      conns.push(
        conn.readable.pipeTo(conn.writable).catch(() => {}).finally(() => conn.close()),
      );
    }
    await Promise.all(conns);
  })();
}

function assertSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  assert.equal(actual.byteLength, expected.byteLength);
  for (let i = 0; i < expected.byteLength; i++) {
    if (actual[i] !== expected[i]) assert.fail(`byte ${i} differs: ${actual[i]} != ${expected[i]}`);
  }
}

/** Sends `data` in random chunk sizes (1 B .. 64 KiB) while reading the echo slowly at times. */
async function echoRoundTrip(client: Transport, data: Uint8Array, seed: number): Promise<void> {
  const next = prng(seed);
  const sending = (async () => {
    const writer = client.writable.getWriter();
    let offset = 0;
    while (offset < data.byteLength) {
      const size = Math.min(1 + (next() % 65536), data.byteLength - offset);
      await writer.write(data.subarray(offset, offset + size));
      offset += size;
    }
    await writer.close();
  })();
  const received = new Uint8Array(data.byteLength);
  let offset = 0;
  let reads = 0;
  for await (const chunk of chunksOf(client.readable)) {
    assert.ok(offset + chunk.byteLength <= received.byteLength, "more bytes than sent");
    received.set(chunk, offset);
    offset += chunk.byteLength;
    reads++;
    if (reads % 37 === 0) await delay(reads % 111 === 0 ? 30 : 2);
  }
  await sending;
  assert.equal(offset, data.byteLength, "bytes echoed");
  assertSameBytes(received, data);
}

/** Reads a channel to its end. */
async function readChannel(channel: ByteChannel): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let reads = 0; reads < 1_000_000; reads++) {
    const chunk = await channel.read();
    if (chunk === null) break;
    chunks.push(chunk);
    size += chunk.byteLength;
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Echoes every accepted connection through its channel until the peer's EOF. */
function serveChannelEcho(listener: Listener): Promise<void> {
  const conns: Promise<void>[] = [];
  return (async () => {
    for await (const conn of listener) {
      const io = openChannel(conn);
      conns.push((async () => {
        try {
          for (let reads = 0; reads < 1_000_000; reads++) {
            const chunk = await io.read();
            if (chunk === null) break;
            await io.write(chunk);
          }
        } catch {
          // The peer went away.
        } finally {
          await conn.close();
        }
      })());
    }
    await Promise.all(conns);
  })();
}

/**
 * Sends the bytes 0-255 as a byte string with `writeByteString`, between two plain writes and
 * without waiting for any of them.
 *
 * @param out The sending side's channel; it must have `writeByteString`.
 * @returns The writes, settled together (a rejection is also reported when awaited later), and
 *   the bytes the peer must get, in order.
 */
function sendByteString(out: ByteChannel): { sent: Promise<unknown>; expected: number[] } {
  assert.ok(out.writeByteString !== undefined, "this channel should have writeByteString");
  const codes = Array.from({ length: 256 }, (_, i) => i);
  const sent = Promise.all([
    out.write(Uint8Array.of(1, 2)),
    out.writeByteString(String.fromCharCode(...codes)),
    out.write(Uint8Array.of(3)),
  ]);
  sent.catch(() => {}); // awaited by the caller, after reading
  return { sent, expected: [1, 2, ...codes, 3] };
}

/** Reads until `expected.length` bytes (or EOF) and requires exactly `expected`. */
async function receiveBytes(input: ByteChannel, expected: number[]): Promise<void> {
  const got: number[] = [];
  for (let reads = 0; got.length < expected.length && reads < 1000; reads++) {
    const chunk = await input.read();
    if (chunk === null) break;
    got.push(...chunk);
  }
  assert.deepEqual(got, expected);
}

/** Reads `total` bytes and requires byte `at` to be `expectedAt(at)` for each. */
async function receivePattern(
  input: ByteChannel,
  total: number,
  expectedAt: (at: number) => number,
): Promise<void> {
  let received = 0;
  for (let reads = 0; received < total && reads < 1_000_000; reads++) {
    const chunk = await input.read();
    assert.ok(chunk !== null, `EOF after ${received} bytes`);
    for (let j = 0; j < chunk.byteLength; j++) {
      const want = expectedAt(received + j);
      if (chunk[j] !== want) assert.fail(`byte ${received + j} is ${chunk[j]}, expected ${want}`);
    }
    received += chunk.byteLength;
  }
  assert.equal(received, total);
}

/**
 * Listens on a free port, connects one client and accepts it, runs `fn`, then closes the
 * client, the accepted side and the listener.
 */
export async function withPair(
  adapter: TransportAdapter,
  fn: (client: Transport, server: Transport) => Promise<void>,
): Promise<void> {
  const listener = await adapter.listen({ hostname: HOST, port: 0 });
  try {
    const accepted = listener[Symbol.asyncIterator]().next();
    const client = await adapter.connect({ hostname: HOST, port: listener.addr.port });
    const server = (await accepted).value as Transport;
    try {
      await fn(client, server);
    } finally {
      await client.close();
      await server.close();
    }
  } finally {
    await listener.close();
  }
}

/**
 * Like {@linkcode withPair}, over TLS with the fixture certificate (the client trusts it through
 * `caCerts`). The accepted side starts its handshake on its first read or write, and the client's
 * connect waits for the handshake: `first(server)` runs before the client is awaited, and must
 * write. Its result is passed on to `fn`.
 */
async function withTlsPair<T>(
  adapter: TransportAdapter,
  first: (server: Transport) => T,
  fn: (client: Transport, server: Transport, firstResult: T) => Promise<void>,
): Promise<void> {
  const listener = await adapter.listen({ hostname: HOST, port: 0, tls: { cert: CERT, key: KEY } });
  try {
    const accepted = listener[Symbol.asyncIterator]().next();
    const connecting = adapter.connect({
      hostname: HOST,
      port: listener.addr.port,
      tls: { caCerts: [CERT] },
    });
    const server = (await accepted).value as Transport;
    try {
      let firstResult: T;
      try {
        firstResult = first(server);
      } catch (err) {
        // The handshake never starts: the client's connect fails when the server closes.
        await server.close();
        await connecting.then((client) => client.close(), () => {});
        throw err;
      }
      const client = await connecting;
      try {
        await fn(client, server, firstResult);
      } finally {
        await client.close();
      }
    } finally {
      await server.close();
    }
  } finally {
    await listener.close();
  }
}

/**
 * Writes 64 KiB chunks (at most 256 MiB) until a write stays pending for 200 ms: the peer is not
 * reading and backpressure holds the writer. Fails when no write ever blocks.
 *
 * @returns The bytes handed to `write` and the pending write.
 */
async function writeUntilBlocked(
  write: (chunk: Uint8Array) => Promise<void>,
  seed: number,
  chunkBytes = 64 * 1024,
): Promise<{ sent: number; blocked: Promise<void> }> {
  const chunk = randomBytes(chunkBytes, seed);
  let sent = 0;
  while (sent < 256 * 1024 * 1024) {
    const pending = write(chunk);
    sent += chunk.byteLength;
    if (await settlesWithin(pending, 200) === "pending") return { sent, blocked: pending };
  }
  assert.fail(`no backpressure after ${sent} bytes`);
}

/**
 * Writes through `from`'s channel until a write blocks (`to` reads nothing yet), then reads
 * through `to`'s channel until every byte written has arrived.
 */
async function blockThenDrain(from: Transport, to: Transport, seed: number): Promise<void> {
  const out = openChannel(from);
  const input = openChannel(to);
  const { sent, blocked } = await writeUntilBlocked((chunk) => out.write(chunk), seed);
  let received = 0;
  for (let reads = 0; received < sent && reads < 1_000_000; reads++) {
    const got = await input.read();
    assert.ok(got !== null, `EOF after ${received} bytes`);
    received += got.byteLength;
  }
  await blocked;
  assert.equal(received, sent);
}

/** Options for {@linkcode transportSuite}. */
export interface SuiteOptions {
  /** Skip the whole suite (adapter not for this runtime). */
  skip: boolean;
  /** Whether the adapter's TLS client accepts the conformance fixture (a CA:TRUE self-signed cert). */
  acceptsCaAsLeaf: boolean;
}

/**
 * Registers the shared adapter suite.
 *
 * @param name Suite name, e.g. `denoAdapter`.
 * @param adapter The adapter under test.
 * @param options Skip flags.
 */
export function transportSuite(
  name: string,
  adapter: TransportAdapter,
  options: SuiteOptions,
): void {
  const tlsListen = { hostname: HOST, port: 0, tls: { cert: CERT, key: KEY } };

  describe(name, { skip: options.skip }, () => {
    test("listen() reports the real port when 0 is asked for", async () => {
      const listener = await adapter.listen({ hostname: HOST, port: 0 });
      try {
        assert.equal(listener.addr.hostname, HOST);
        assert.ok(listener.addr.port > 0 && listener.addr.port < 65536);
      } finally {
        await listener.close();
      }
    });

    test("echoes 8 MiB in random chunks byte-exactly with a slow reader", async () => {
      const listener = await adapter.listen({ hostname: HOST, port: 0 });
      const serving = serveEcho(listener);
      try {
        const client = await adapter.connect({ hostname: HOST, port: listener.addr.port });
        try {
          assert.equal(client.remoteAddr.port, listener.addr.port);
          await echoRoundTrip(client, randomBytes(8 * 1024 * 1024, 0x5eed), 42);
        } finally {
          await client.close();
        }
      } finally {
        await listener.close();
        await serving;
      }
    });

    test("writes block while the peer does not read, then all bytes arrive", async () => {
      await withPair(adapter, async (client, server) => {
        const writer = client.writable.getWriter();
        const { sent, blocked } = await writeUntilBlocked((chunk) => writer.write(chunk), 7);
        const closing = blocked.then(() => writer.close());
        const received = await readAll(server);
        await closing;
        assert.equal(received.byteLength, sent);
      });
    });

    test("writable.close() half-closes: the peer sees EOF and can still reply", async () => {
      const listener = await adapter.listen({ hostname: HOST, port: 0 });
      const serving = (async () => {
        for await (const conn of listener) {
          try {
            const request = new TextDecoder().decode(await readAll(conn));
            await write(conn, `got ${request}`);
            await conn.writable.close();
            await conn.closed;
          } finally {
            await conn.close();
          }
          return;
        }
      })();
      try {
        const client = await adapter.connect({ hostname: HOST, port: listener.addr.port });
        try {
          await write(client, "hello");
          await client.writable.close();
          const reply = new TextDecoder().decode(await readAll(client));
          assert.equal(reply, "got hello");
          // Both directions finished: closed resolves without calling close().
          await client.closed;
        } finally {
          await client.close();
        }
        await serving;
      } finally {
        await listener.close();
      }
    });

    test("close() is idempotent and the peer sees EOF", async () => {
      await withPair(adapter, async (client, server) => {
        await write(client, "x");
        const first = client.close();
        const second = client.close();
        await Promise.all([first, second, client.close()]);
        await client.closed;
        assert.deepEqual([...await readAll(server)], [0x78]);
        await assert.rejects(write(client, "y"), ConnectionError);
        const reader = client.readable.getReader();
        assert.equal((await reader.read()).done, true);
        reader.releaseLock();
      });
    });

    test("closed resolves when the peer resets the connection", async () => {
      await withPair(adapter, async (client, server) => {
        // Unread bytes in the server's kernel buffer make its close() send a reset.
        const writer = client.writable.getWriter();
        const writes: Promise<void>[] = [];
        const chunk = new Uint8Array(64 * 1024);
        for (let i = 0; i < 64; i++) writes.push(writer.write(chunk).catch(() => {}));
        await delay(50);
        await server.close();
        const reading = (async () => {
          try {
            await readAll(client);
            return "ended";
          } catch (err) {
            assert.ok(err instanceof ConnectionError, `unexpected ${err}`);
            return "errored";
          }
        })();
        await client.closed;
        assert.ok(["ended", "errored"].includes(await reading));
        await Promise.all(writes);
      });
    });

    test("channel: echoes 4 MiB byte-exactly both ways with a slow reader", async () => {
      const listener = await adapter.listen({ hostname: HOST, port: 0 });
      const serving = serveChannelEcho(listener);
      try {
        const client = await adapter.connect({ hostname: HOST, port: listener.addr.port });
        const io = openChannel(client);
        try {
          const data = randomBytes(4 * 1024 * 1024, 0xc4a7);
          const next = prng(9);
          const sending = (async () => {
            let offset = 0;
            while (offset < data.byteLength) {
              const size = Math.min(1 + (next() % 65536), data.byteLength - offset);
              await io.write(data.subarray(offset, offset + size));
              offset += size;
            }
          })();
          const received = new Uint8Array(data.byteLength);
          let offset = 0;
          for (let reads = 1; offset < data.byteLength && reads < 1_000_000; reads++) {
            const chunk = await io.read();
            assert.ok(chunk !== null, `EOF after ${offset} bytes`);
            assert.ok(offset + chunk.byteLength <= received.byteLength, "more bytes than sent");
            received.set(chunk, offset);
            offset += chunk.byteLength;
            if (reads % 37 === 0) await delay(reads % 111 === 0 ? 30 : 2);
          }
          await sending;
          assertSameBytes(received, data);
        } finally {
          await client.close();
        }
      } finally {
        await listener.close();
        await serving;
      }
    });

    test("channel: a connected side that does not read stops reading the socket (the peer's writes block)", async () => {
      // The mirror of the test below: the connecting side buffers at most its read queue's
      // limit and then pauses its socket (on Node through `onread` returning false), so the
      // accepted side's writes block; reading then takes every byte.
      await withPair(adapter, (client, server) => blockThenDrain(server, client, 13));
    });

    test("channel: writes block while the peer does not read, then all bytes arrive", async () => {
      await withPair(adapter, (client, server) => blockThenDrain(client, server, 11));
    });

    test("channel: EOF and local close read as null; writes after close reject", async () => {
      await withPair(adapter, async (client, server) => {
        const io = openChannel(client);
        const serverIo = openChannel(server);
        await io.write(new TextEncoder().encode("ab"));
        const pendingRead = io.read();
        const closing = client.close();
        assert.equal(await pendingRead, null, "a read pending at close() resolves null");
        await closing;
        assert.equal(await io.read(), null);
        await assert.rejects(io.write(new Uint8Array([1])), ConnectionError);
        // The peer gets the bytes, then EOF as null.
        assert.deepEqual([...await readChannel(serverIo)], [0x61, 0x62]);
        assert.equal(await serverIo.read(), null);
      });
    });

    test("channel: closeWrite half-closes (the adapter's channel, and one over web streams)", async () => {
      for (const overStreams of [false, true]) {
        await withPair(adapter, async (client, server) => {
          // A transport of one's own has only the streams: openChannel goes through them.
          const io = openChannel(
            overStreams
              ? {
                readable: client.readable,
                writable: client.writable,
                closed: client.closed,
                remoteAddr: client.remoteAddr,
                close: () => client.close(),
              }
              : client,
          );
          assert.ok(io.closeWrite !== undefined);
          const serverIo = openChannel(server);
          await io.write(new TextEncoder().encode("hi"));
          await io.closeWrite();
          assert.equal(new TextDecoder().decode(await readChannel(serverIo)), "hi");
          assert.equal(await serverIo.read(), null, "the peer sees EOF");
          await serverIo.write(new TextEncoder().encode("back"));
          assert.equal(new TextDecoder().decode((await io.read())!), "back", "and still replies");
        });
      }
    });

    test("channel: a second read while one is pending rejects with TypeError", async () => {
      await withPair(adapter, async (client, server) => {
        const io = openChannel(client);
        const first = io.read();
        await assert.rejects(io.read(), (err) => {
          assert.ok(err instanceof TypeError, `unexpected ${err}`);
          assert.match(err.message, /still pending; await it before reading again/);
          return true;
        });
        await openChannel(server).write(new TextEncoder().encode("z"));
        const got = await first;
        assert.ok(got !== null);
        assert.equal(new TextDecoder().decode(got), "z", "the first read is unharmed");
        // The refused read left nothing behind: the next read gets the next bytes.
        await openChannel(server).write(new TextEncoder().encode("y"));
        assert.equal(new TextDecoder().decode((await io.read())!), "y");
      });
    });

    test("channel: a chunk handed out is not changed by later reads", async () => {
      await withPair(adapter, async (client, server) => {
        const io = openChannel(client);
        const serverIo = openChannel(server);
        const chunks: Uint8Array[] = [];
        for (let i = 0; i < 8; i++) {
          // One distinct byte per round, sent only after the previous chunk was read, so every
          // read fills the same adapter buffer (if it had one) with new bytes.
          await serverIo.write(new Uint8Array(100).fill(0x41 + i));
          const chunk = await io.read();
          assert.ok(chunk !== null);
          chunks.push(chunk);
        }
        chunks.forEach((chunk, i) => {
          assert.equal(chunk.byteLength, 100);
          assert.ok(chunk.every((byte) => byte === 0x41 + i), `chunk ${i} was overwritten`);
        });
      });
    });

    test("channel: writeByteString sends one byte per char, in order with write", {
      // The Node adapter's channels have it (the server's answers use it); the others may not.
      skip: adapter.runtime !== "node",
      timeout: 10_000,
    }, async () => {
      await withPair(adapter, async (client, server) => {
        const clientIo = openChannel(client);
        const serverIo = openChannel(server);
        for (const [from, to] of [[serverIo, clientIo], [clientIo, serverIo]]) {
          const { sent, expected } = sendByteString(from!);
          await receiveBytes(to!, expected);
          await sent;
        }
      });
    });

    test("channel: concurrent writes under backpressure arrive whole and in order", async () => {
      await withPair(adapter, async (client, server) => {
        const io = openChannel(client);
        // 256 writes of 64 KiB without waiting, while the peer does not read yet: most wait for
        // the socket to drain. Block i is filled with i % 256.
        const blocks = 256;
        const size = 64 * 1024;
        const writes = Array.from(
          { length: blocks },
          (_, i) => io.write(new Uint8Array(size).fill(i)),
        );
        await receivePattern(
          openChannel(server),
          blocks * size,
          (at) => Math.floor(at / size) % 256,
        );
        assert.equal(await settlesWithin(Promise.all(writes), 10_000), "settled", "every write");
      });
    });

    test("channel: a write larger than the socket takes at once, and the writes queued behind it, arrive whole and in order", async () => {
      await withPair(adapter, async (client, server) => {
        const io = openChannel(client);
        // The first write starts with nothing in flight and is far larger than the kernel
        // takes in one go (the runtime writes it in parts); the small ones queue behind it.
        const big = 16 * 1024 * 1024;
        const small = 1000;
        const writes = [io.write(new Uint8Array(big).fill(0xaa))];
        for (let i = 0; i < 16; i++) writes.push(io.write(new Uint8Array(small).fill(i)));
        const expectedAt = (at: number): number => at < big ? 0xaa : Math.floor((at - big) / small);
        await receivePattern(openChannel(server), big + 16 * small, expectedAt);
        assert.equal(await settlesWithin(Promise.all(writes), 10_000), "settled", "every write");
      });
    });

    test("channel: writes to a peer that reset the connection reject with ConnectionError, and it closes", async () => {
      // The write in flight when the peer goes is larger than the socket takes at once (the
      // rest fails), or small enough to go whole (a later write fails).
      for (const size of [4 * 1024 * 1024, 1024]) {
        await withPair(adapter, async (client, server) => {
          const io = openChannel(client);
          const serverIo = openChannel(server);
          const inFlight = io.write(new Uint8Array(size));
          inFlight.catch(() => {}); // checked below
          assert.ok((await serverIo.read()) !== null);
          // Bytes unread, or arriving after the close, make the peer reset the connection.
          await server.close();
          const failures: unknown[] = [];
          await inFlight.catch((err) => failures.push(err));
          const chunk = new Uint8Array(64 * 1024);
          const deadline = Date.now() + 10_000;
          for (let i = 0; failures.length === 0 && i < 10_000 && Date.now() < deadline; i++) {
            await io.write(chunk).catch((err) => failures.push(err));
          }
          assert.equal(failures.length, 1, `a write rejected (in flight: ${size} bytes)`);
          assert.ok(failures[0] instanceof ConnectionError, `unexpected ${failures[0]}`);
          assert.equal(await settlesWithin(client.closed, 10_000), "settled", "closed");
          await assert.rejects(io.write(Uint8Array.of(1)), ConnectionError);
        });
      }
    });

    test("channel: close() while a write waits for the peer rejects it with ConnectionError", async () => {
      // The pending write is one the runtime took part of (64 KiB), or one it has taken nothing
      // of yet (1 KiB, once the buffers are full to the last kilobyte).
      for (const chunkBytes of [64 * 1024, 1024]) {
        await withPair(adapter, async (client) => {
          const io = openChannel(client);
          // The peer reads nothing: a write stays pending once the socket buffers are full.
          const { blocked } = await writeUntilBlocked((chunk) => io.write(chunk), 21, chunkBytes);
          const outcome = blocked.then(() => "written", (err: unknown) => err);
          await client.close();
          assert.equal(await settlesWithin(outcome, 10_000), "settled", "the pending write");
          const err = await outcome;
          assert.ok(err instanceof ConnectionError, `unexpected ${String(err)} (${chunkBytes})`);
        });
      }
    });

    test("channel: excludes the web streams (and the other way round)", async () => {
      await withPair(adapter, (client, server) => {
        openChannel(client);
        assert.throws(() => client.readable.getReader(), TypeError);
        assert.throws(() => client.writable.getWriter(), TypeError);
        const reader = server.readable.getReader();
        reader.releaseLock();
        assert.throws(() => openChannel(server), TypeError);
        return Promise.resolve();
      });
    });

    test("openChannel() works over the web streams of a transport without channel()", async () => {
      const listener = await adapter.listen({ hostname: HOST, port: 0 });
      const serving = serveChannelEcho(listener);
      try {
        const inner = await adapter.connect({ hostname: HOST, port: listener.addr.port });
        const plain: Transport = {
          readable: inner.readable,
          writable: inner.writable,
          closed: inner.closed,
          remoteAddr: inner.remoteAddr,
          close: () => inner.close(),
        };
        const io = openChannel(plain);
        try {
          // One read at a time here too.
          const first = io.read();
          await assert.rejects(io.read(), TypeError);
          await io.write(new TextEncoder().encode("ping"));
          const firstChunk = await first;
          assert.ok(firstChunk !== null);
          let text = new TextDecoder().decode(firstChunk);
          for (let reads = 0; text.length < 4 && reads < 100; reads++) {
            const chunk = await io.read();
            assert.ok(chunk !== null);
            text += new TextDecoder().decode(chunk);
          }
          assert.equal(text, "ping");
        } finally {
          await plain.close();
        }
        assert.equal(await io.read(), null);
      } finally {
        await listener.close();
        await serving;
      }
    });

    test("connect() rejects with ConnectionError when refused", async () => {
      const listener = await adapter.listen({ hostname: HOST, port: 0 });
      const port = listener.addr.port;
      await listener.close();
      const err = await adapter.connect({ hostname: HOST, port }).then(
        () => assert.fail("connected to a closed port"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ConnectionError);
      assert.ok(err.cause !== undefined);
      assert.equal(err.message, `Cannot connect to ${HOST}:${port}: connection refused`);
    });

    test("connect() rejects with the reason of an already-aborted signal", async () => {
      const reason = new Error("stop");
      await assert.rejects(
        adapter.connect({ hostname: HOST, port: 9, signal: AbortSignal.abort(reason) }),
        (err) => err === reason,
      );
    });

    test("connect() rejects with signal.reason when aborted while connecting", async () => {
      const listener = await adapter.listen({ hostname: HOST, port: 0 });
      const serving = serveEcho(listener);
      try {
        const controller = new AbortController();
        const reason = new Error("changed my mind");
        const pending = adapter.connect({
          hostname: HOST,
          port: listener.addr.port,
          signal: controller.signal,
        });
        controller.abort(reason);
        await assert.rejects(pending, (err) => err === reason);
        // The listener is unaffected: a later connection works.
        const client = await adapter.connect({ hostname: HOST, port: listener.addr.port });
        try {
          await client.writable.close();
          assert.equal((await readAll(client)).byteLength, 0);
        } finally {
          await client.close();
        }
      } finally {
        await listener.close();
        await serving;
      }
    });

    test("connect() times out with ConnectionError when the TLS handshake stalls", async () => {
      // A plain listener that never answers: the TLS client waits for a ServerHello forever.
      const listener = await adapter.listen({ hostname: HOST, port: 0 });
      const held: Transport[] = [];
      const holding = (async () => {
        for await (const conn of listener) held.push(conn);
      })();
      try {
        const started = performance.now();
        const err = await adapter.connect({
          hostname: HOST,
          port: listener.addr.port,
          tls: { caCerts: [CERT] },
          timeoutMs: 150,
        }).then(() => assert.fail("handshake completed"), (e: unknown) => e);
        assert.ok(err instanceof ConnectionError, `unexpected ${err}`);
        assert.match(err.message, /timed out after 150 ms/);
        assert.ok(performance.now() - started >= 140);
      } finally {
        await listener.close();
        await holding;
        await Promise.all(held.map((conn) => conn.close()));
      }
    });

    test("listener.close() is idempotent, ends iteration and refuses new connects", async () => {
      const listener = await adapter.listen({ hostname: HOST, port: 0 });
      const iterator = listener[Symbol.asyncIterator]();
      const accepted = iterator.next();
      const client = await adapter.connect({ hostname: HOST, port: listener.addr.port });
      const server = (await accepted).value as Transport;
      try {
        const ended = iterator.next();
        await Promise.all([listener.close(), listener.close()]);
        assert.equal((await ended).done, true);
        await assert.rejects(
          adapter.connect({ hostname: HOST, port: listener.addr.port }),
          ConnectionError,
        );
        // The accepted connection still works.
        await write(client, "still here");
        await client.writable.close();
        assert.equal(new TextDecoder().decode(await readAll(server)), "still here");
      } finally {
        await client.close();
        await server.close();
      }
    });

    test("listen() rejects with ConnectionError when the address is in use", async () => {
      const listener = await adapter.listen({ hostname: HOST, port: 0 });
      try {
        await assert.rejects(
          adapter.listen({ hostname: HOST, port: listener.addr.port }),
          (err) =>
            err instanceof ConnectionError && err.cause !== undefined &&
            err.message ===
              `Cannot listen on ${HOST}:${listener.addr.port}: address already in use`,
        );
      } finally {
        await listener.close();
      }
    });

    test("listen() rejects with ConnectionError on a bad PEM", async () => {
      await assert.rejects(
        adapter.listen({ hostname: HOST, port: 0, tls: { cert: "junk", key: "junk" } }),
        ConnectionError,
      );
    });

    test("connect() rejects bad arguments with TypeError / RangeError", async () => {
      await assert.rejects(adapter.connect({ hostname: "", port: 1 }), TypeError);
      await assert.rejects(adapter.connect({ hostname: HOST, port: 70000 }), RangeError);
      await assert.rejects(
        adapter.connect({ hostname: HOST, port: 1, timeoutMs: -1 }),
        RangeError,
      );
    });

    test("TLS: echoes 1 MiB with the fixture certificate trusted via caCerts", async () => {
      const listener = await adapter.listen(tlsListen);
      const serving = serveEcho(listener);
      try {
        const client = await adapter.connect({
          hostname: HOST,
          port: listener.addr.port,
          tls: { caCerts: [CERT] },
        });
        try {
          await echoRoundTrip(client, randomBytes(1024 * 1024, 0xc0ffee), 3);
        } finally {
          await client.close();
        }
      } finally {
        await listener.close();
        await serving;
      }
    });

    test("TLS: an accepted connection's writeByteString sends one byte per char", {
      timeout: 10_000,
    }, async () => {
      // Every adapter listens for TLS with Node's sockets (see listenDeno and listenBun).
      const first = (server: Transport) => sendByteString(openChannel(server));
      await withTlsPair(adapter, first, async (client, _server, { sent, expected }) => {
        await receiveBytes(openChannel(client), expected);
        await sent;
      });
    });

    test("TLS: close() does not wait for a peer that keeps its side open", {
      timeout: 10_000,
    }, async () => {
      const first = (server: Transport) => {
        const io = openChannel(server);
        const sent = io.write(Uint8Array.of(1));
        sent.catch(() => {}); // awaited below, after reading
        return { io, sent };
      };
      await withTlsPair(adapter, first, async (client, _server, { io, sent }) => {
        assert.deepEqual([...(await openChannel(client).read())!], [1]);
        await sent;
        const started = Date.now();
        await client.close();
        // Bun's TLS end() waited 12 s here for the peer to close.
        assert.ok(Date.now() - started < 2_000, `close() took ${Date.now() - started} ms`);
        assert.equal(await io.read(), null);
      });
    });

    test("TLS: connect() rejects an untrusted certificate with ConnectionError", async () => {
      const listener = await adapter.listen(tlsListen);
      const serving = serveEcho(listener);
      try {
        await assert.rejects(
          adapter.connect({ hostname: HOST, port: listener.addr.port, tls: {} }),
          (err) => err instanceof ConnectionError && err.cause !== undefined,
        );
      } finally {
        await listener.close();
        await serving;
      }
    });

    test("TLS: a plain-text client fails alone and later TLS clients still work", async () => {
      const listener = await adapter.listen(tlsListen);
      const serving = serveEcho(listener);
      try {
        const plain = await adapter.connect({ hostname: HOST, port: listener.addr.port });
        try {
          await write(plain, "l\nsome-key\n10\n".repeat(50));
          // The server drops the connection: the readable ends or errors.
          await readAll(plain).catch(() => new Uint8Array());
        } finally {
          await plain.close();
        }
        const client = await adapter.connect({
          hostname: HOST,
          port: listener.addr.port,
          tls: { caCerts: [CERT] },
        });
        try {
          await write(client, "ping");
          await client.writable.close();
          assert.equal(new TextDecoder().decode(await readAll(client)), "ping");
        } finally {
          await client.close();
        }
      } finally {
        await listener.close();
        await serving;
      }
    });

    test("TLS: the listener refuses TLS 1.1 and accepts TLS 1.2", async (t) => {
      const listener = await adapter.listen(tlsListen);
      const serving = serveEcho(listener);
      try {
        const modern = await probeTlsVersion(listener.addr.port, "TLSv1.2");
        if (modern === undefined) {
          t.skip("no system node to act as a TLS 1.1 client");
          return;
        }
        assert.equal(modern, "ok TLSv1.2");
        const old = await probeTlsVersion(listener.addr.port, "TLSv1.1");
        assert.match(old ?? "", /^error /);
        // The listener survived the refused handshake.
        assert.equal(await probeTlsVersion(listener.addr.port, "TLSv1.3"), "ok TLSv1.3");
      } finally {
        await listener.close();
        await serving;
      }
    });

    test(
      "TLS: trusts the conformance fixture (self-signed CA:TRUE certificate)",
      { skip: !options.acceptsCaAsLeaf },
      async () => {
        const cert = readFileSync(new URL("cert.pem", CONFORMANCE), "utf8");
        const key = readFileSync(new URL("key.pem", CONFORMANCE), "utf8");
        const listener = await adapter.listen({ hostname: HOST, port: 0, tls: { cert, key } });
        const serving = serveEcho(listener);
        try {
          const client = await adapter.connect({
            hostname: HOST,
            port: listener.addr.port,
            tls: { caCerts: [cert] },
          });
          try {
            await write(client, "conformance");
            await client.writable.close();
            assert.equal(new TextDecoder().decode(await readAll(client)), "conformance");
          } finally {
            await client.close();
          }
        } finally {
          await listener.close();
          await serving;
        }
      },
    );
  });
}
