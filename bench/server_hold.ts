/**
 * Hold generator: opens many connections to a server and has each one acquire its own key
 * and keep holding it, so the server's resident memory per held lock can be measured.
 *
 * Every connection sends `l\n<prefix>-<i>\n0 <lease>\n` and waits for `ok <token> <lease>`
 * (the echo floor's fixed answer passes too). Connections are opened `concurrency` at a time
 * so the listen backlog never overflows. Nothing is released explicitly: closing a
 * connection makes the server release its lock.
 *
 * @module
 */

import { connect as defaultConnect } from "../src/transport/auto.ts";
import { CLIENT_MAX_LINE_BYTES, LINE_TOO_LONG, LineDecoder } from "../src/protocol/line_decoder.ts";
import { openChannel } from "../src/transport/channel.ts";
import type { ByteChannel, Connect, Transport } from "../src/transport/types.ts";
import { percentile } from "./_stats.ts";

/** Options for {@linkcode openHolds}. */
export interface HoldOptions {
  /** Server port on 127.0.0.1. */
  port: number;
  /** Connections to open, each holding one lock. */
  connections: number;
  /** Connections being opened at the same time. @default {256} */
  concurrency?: number;
  /** Key prefix; connection `i` locks `<prefix>-<i>`. @default {"hold"} */
  keyPrefix?: string;
  /** Lease in seconds requested with each acquire. @default {600} */
  leaseSec?: number;
  /** Give up after this many milliseconds. @default {60000} */
  timeLimitMs?: number;
  /** Connector. @default {the current runtime's} */
  connect?: Connect;
}

/** Open connections, each holding one lock, plus how long opening them took. */
export interface Holds {
  /** Connections that hold their lock. */
  readonly held: number;
  /** Wall time to open all connections and acquire all locks, seconds. */
  readonly seconds: number;
  /** Median connect+acquire latency, ms. */
  readonly p50Ms: number;
  /** 99th percentile connect+acquire latency, ms. */
  readonly p99Ms: number;
  /** Closes every connection (the server releases the locks). */
  close(): Promise<void>;
}

const encoder = new TextEncoder();

/**
 * Opens `connections` connections that each acquire and keep one lock.
 *
 * @param options Target, count, concurrency and limits.
 * @returns The open holds; call `close()` when done.
 * @throws {Error} When a connection fails, an acquire is not granted or the time limit passes
 *   (every connection opened so far is closed first).
 */
export async function openHolds(options: HoldOptions): Promise<Holds> {
  const connectFn = options.connect ?? defaultConnect;
  const concurrency = options.concurrency ?? 256;
  const prefix = options.keyPrefix ?? "hold";
  const lease = options.leaseSec ?? 600;
  const timeLimitMs = options.timeLimitMs ?? 60_000;
  const transports: Transport[] = [];
  const latencies = new Float64Array(options.connections);
  const deadline = performance.now() + timeLimitMs;
  let next = 0;
  const closeAll = async (): Promise<void> => {
    const all = transports.splice(0);
    for (let i = 0; i < all.length; i += 1000) {
      await Promise.all(all.slice(i, i + 1000).map((t) => t.close().catch(() => {})));
    }
  };
  const worker = async (): Promise<void> => {
    while (next < options.connections) {
      if (performance.now() > deadline) throw new Error("hold: time limit reached");
      const i = next++;
      const t0 = performance.now();
      const transport = await connectFn({ hostname: "127.0.0.1", port: options.port });
      transports.push(transport);
      const io = openChannel(transport);
      void io.write(encoder.encode(`l\n${prefix}-${i}\n0 ${lease}\n`)).catch(() => {});
      const line = await readLine(io, new LineDecoder(CLIENT_MAX_LINE_BYTES));
      if (!line.startsWith("ok ")) throw new Error(`hold ${i}: acquire answered ${line}`);
      latencies[i] = performance.now() - t0;
    }
  };
  const start = performance.now();
  try {
    await Promise.all(
      Array.from({ length: Math.min(concurrency, options.connections) }, () => worker()),
    );
  } catch (e) {
    await closeAll();
    throw e;
  }
  const seconds = (performance.now() - start) / 1000;
  latencies.sort();
  return {
    held: options.connections,
    seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    close: closeAll,
  };
}

async function readLine(
  io: ByteChannel,
  decoder: LineDecoder,
): Promise<string> {
  for (let reads = 0; reads < 1000; reads++) {
    const line = decoder.nextLine();
    if (line === LINE_TOO_LONG) throw new Error("response line too long");
    if (line !== null) return line;
    const value = await io.read();
    if (value === null) throw new Error("server closed the connection");
    decoder.push(value);
  }
  throw new Error("no complete response line after 1000 reads");
}
