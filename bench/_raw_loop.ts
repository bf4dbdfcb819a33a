/**
 * The raw socket loop: the client benchmark's baseline. The same acquire+release requests the
 * low-level API sends, written as pre-encoded bytes over the raw transport
 * (`src/transport/auto.ts` `connect`, read and written through its `ByteChannel`, the cheapest
 * path the transport offers), with a minimal newline scan on the replies and no
 * client library at all: no request encoding, no reply parsing beyond the status and the
 * token bytes, no promises per request other than the reads.
 *
 * The acquire request `l\n<key>\n0\n` is encoded once per worker; the release request
 * `r\n<key>\n<token>\n` is a buffer encoded once whose token bytes are overwritten in place
 * with the bytes copied from each `ok <token> <lease>` reply.
 *
 * @module
 */

import { openChannel } from "../src/transport/channel.ts";
import type { ByteChannel, Transport } from "../src/transport/types.ts";

const encoder = new TextEncoder();
const LF = 0x0a;
const SPACE = 0x20;
const O = 0x6f;
const K = 0x6b;
/** Token length of dflockd v1.10 and newer (32 hex digits). */
const TOKEN_BYTES = 32;

/** Shared stop flag of one run (set by the time limit). */
export interface StopState {
  /** Workers stop before their next round once set. */
  stopped: boolean;
}

/**
 * One worker of the raw loop on its own transport and key.
 *
 * @example
 * ```ts ignore
 * const w = new RawLoopWorker(transport, "bench-1", 500, { stopped: false });
 * await w.run();
 * console.log(w.count, w.latencies[0]);
 * ```
 */
export class RawLoopWorker {
  /** Latency of every completed pair in milliseconds (`count` entries are valid). */
  readonly latencies: Float64Array;
  /** Completed acquire+release pairs. */
  count = 0;
  #transport: Transport | undefined;
  #acquire: Uint8Array;
  #release: Uint8Array;
  #tokenAt: number;
  #key: string;
  #rounds: number;
  #state: StopState;
  #io: ByteChannel | undefined;
  #writeError: unknown = undefined;
  /** Unconsumed received bytes (`undefined` when none) and the read position in them. */
  #buf: Uint8Array | undefined = undefined;
  #pos = 0;
  /** The last line read: `#line[#lineStart..#lineEnd)` (without the `\n`). */
  #line: Uint8Array = new Uint8Array(0);
  #lineStart = 0;
  #lineEnd = 0;

  /**
   * Prepares the worker; nothing is sent until {@linkcode RawLoopWorker.run}.
   *
   * @param transport An open transport to the server for {@linkcode RawLoopWorker.run} (the
   *   worker owns its channel); `undefined` for {@linkcode RawLoopWorker.runPerConnection}.
   * @param key The worker's own key (ASCII).
   * @param rounds Acquire+release pairs to run.
   * @param state Shared stop flag.
   */
  constructor(transport: Transport | undefined, key: string, rounds: number, state: StopState) {
    this.#transport = transport;
    this.#key = key;
    this.#rounds = rounds;
    this.#state = state;
    this.#acquire = encoder.encode(`l\n${key}\n0\n`);
    this.#release = encoder.encode(`r\n${key}\n${"0".repeat(TOKEN_BYTES)}\n`);
    this.#tokenAt = this.#release.length - 1 - TOKEN_BYTES;
    this.latencies = new Float64Array(rounds);
  }

  /**
   * Runs the rounds on the constructor's transport (or until the stop flag is set).
   *
   * @returns Resolves when done.
   * @throws {Error} On an unexpected reply or a closed connection.
   */
  async run(): Promise<void> {
    if (this.#transport === undefined) throw new TypeError("no transport");
    this.#attach(this.#transport);
    for (let i = 0; i < this.#rounds && !this.#state.stopped; i++) {
      const t0 = performance.now();
      await this.#pair();
      this.latencies[this.count++] = performance.now() - t0;
    }
  }

  /**
   * Runs the rounds with a new transport per round, like a lock object with its own
   * connection: connect, one acquire+release pair, close (all inside the measured latency).
   * The constructor's transport is not used.
   *
   * @param open Opens a transport to the server.
   * @returns Resolves when done.
   * @throws {Error} On an unexpected reply, a closed connection or a failed connect.
   */
  async runPerConnection(open: () => Promise<Transport>): Promise<void> {
    for (let i = 0; i < this.#rounds && !this.#state.stopped; i++) {
      const t0 = performance.now();
      const transport = await open();
      try {
        this.#attach(transport);
        await this.#pair();
      } finally {
        await transport.close();
      }
      this.latencies[this.count++] = performance.now() - t0;
    }
  }

  #attach(transport: Transport): void {
    this.#io = openChannel(transport);
    this.#buf = undefined;
    this.#pos = 0;
  }

  /** One acquire+release pair. */
  async #pair(): Promise<void> {
    this.#send(this.#acquire);
    await this.#readLine();
    this.#send(this.#releaseFromGrant());
    await this.#readLine();
    if (this.#lineEnd - this.#lineStart !== 2 || !this.#lineIsOk()) {
      throw new Error(`release answered ${this.#lineText()}`);
    }
  }

  /** The release request for the token in the current `ok <token> <lease>` line. */
  #releaseFromGrant(): Uint8Array {
    const line = this.#line;
    const start = this.#lineStart + 3;
    if (!this.#lineIsOk() || line[start - 1] !== SPACE) {
      throw new Error(`acquire answered ${this.#lineText()}`);
    }
    let end = line.indexOf(SPACE, start);
    if (end < 0 || end > this.#lineEnd) end = this.#lineEnd;
    if (end - start === TOKEN_BYTES) {
      this.#release.set(line.subarray(start, end), this.#tokenAt);
      return this.#release;
    }
    // Another token length (not dflockd's): encode this one release separately.
    const token = String.fromCharCode(...line.subarray(start, end));
    return encoder.encode(`r\n${this.#key}\n${token}\n`);
  }

  #lineIsOk(): boolean {
    return this.#line[this.#lineStart] === O && this.#line[this.#lineStart + 1] === K;
  }

  #lineText(): string {
    return JSON.stringify(
      String.fromCharCode(...this.#line.subarray(this.#lineStart, this.#lineEnd)),
    );
  }

  /** Writes without awaiting: the reply's arrival proves the write went out. */
  #send(bytes: Uint8Array): void {
    this.#io!.write(bytes).catch((e: unknown) => {
      this.#writeError ??= e;
    });
  }

  /** Reads up to the next `\n` (bounded: every iteration consumes a chunk or ends). */
  async #readLine(): Promise<void> {
    for (;;) {
      const buf = this.#buf;
      if (buf !== undefined) {
        const nl = buf.indexOf(LF, this.#pos);
        if (nl >= 0) {
          this.#line = buf;
          this.#lineStart = this.#pos;
          this.#lineEnd = nl;
          this.#pos = nl + 1;
          if (this.#pos === buf.length) this.#buf = undefined;
          return;
        }
      }
      const value = await this.#io!.read();
      if (value === null) {
        throw new Error("server closed the connection", { cause: this.#writeError });
      }
      if (buf === undefined) {
        this.#buf = value;
        this.#pos = 0;
      } else {
        // A line split over chunks: keep the unread rest and append.
        const rest = buf.subarray(this.#pos);
        const joined = new Uint8Array(rest.length + value.length);
        joined.set(rest, 0);
        joined.set(value, rest.length);
        this.#buf = joined;
        this.#pos = 0;
      }
    }
  }
}
