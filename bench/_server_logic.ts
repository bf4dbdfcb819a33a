/**
 * The server's own cost per request, without sockets (see `server_logic.ts`): the real server
 * (`startServer`) on an in-memory listener whose connections are driven by peers in the same
 * process.
 *
 * @module
 */

import process from "node:process";
import { startServer } from "../src/server/server.ts";
import { AcceptQueue } from "../src/transport/_accept_queue.ts";
import { type Conn, DONE, listenerOf } from "../src/transport/_conn.ts";
import type { NetAddr } from "../src/transport/types.ts";

const encoder = new TextEncoder();
const ADDR: NetAddr = { hostname: "127.0.0.1", port: 0 };

/**
 * One in-memory connection: the server reads what the client side would send (a request each
 * time the last answer has arrived) and writes its answers straight to it. The peer never
 * pipelines, so each write is the answer to one request.
 */
class Peer implements Conn {
  readonly remoteAddr: NetAddr = ADDR;
  readonly closed: Promise<void>;
  #markClosed: () => void = () => {};
  readonly #acquire: Uint8Array;
  /** `r\n<key>\n<token>\n`, the token's 32 bytes filled in from each grant. */
  readonly #release: Uint8Array;
  readonly #tokenAt: number;
  #pairsLeft: number;
  #awaitingGrant = true;
  #pendingRead: ((chunk: Uint8Array | null) => void) | null = null;
  #next: Uint8Array | null;
  readonly #done: (err?: Error) => void;

  /** @param done Called once: after the last pair, or with the reason the peer gave up. */
  constructor(key: string, pairs: number, done: (err?: Error) => void) {
    this.#acquire = encoder.encode(`l\n${key}\n5 30\n`);
    this.#release = encoder.encode(`r\n${key}\n${"0".repeat(32)}\n`);
    this.#tokenAt = this.#release.length - 33;
    this.#pairsLeft = pairs;
    this.#next = this.#acquire;
    this.#done = done;
    this.closed = new Promise((resolve) => this.#markClosed = resolve);
  }

  write(bytes: Uint8Array): Promise<void> {
    this.#answered(bytes);
    return DONE;
  }

  closeWrite(): Promise<void> {
    return DONE;
  }

  close(): Promise<void> {
    this.end();
    return this.closed;
  }

  read(): Promise<Uint8Array | null> {
    const next = this.#next;
    if (next !== null) {
      this.#next = null;
      return Promise.resolve(next);
    }
    return new Promise((resolve) => this.#pendingRead = resolve);
  }

  /** The server's answer: the next request follows (an acquire's token makes the release). */
  #answered(bytes: Uint8Array): void {
    if (bytes[0] !== 0x6f /* o */) {
      this.#done(new Error(`unexpected answer: ${decode(bytes)}`));
      return;
    }
    let request: Uint8Array | null;
    if (this.#awaitingGrant) {
      // `ok <token> <lease>`: a fresh copy of the release, as a client would send.
      request = this.#release.slice();
      request.set(bytes.subarray(3, 35), this.#tokenAt);
    } else if (--this.#pairsLeft > 0) {
      request = this.#acquire;
    } else {
      request = null;
    }
    this.#awaitingGrant = !this.#awaitingGrant;
    if (request === null) {
      this.#done();
      return;
    }
    const pending = this.#pendingRead;
    if (pending !== null) {
      this.#pendingRead = null;
      pending(request);
    } else {
      this.#next = request;
    }
  }

  /** Ends the connection (the server sees EOF). */
  end(): void {
    const pending = this.#pendingRead;
    this.#pendingRead = null;
    this.#next = null;
    pending?.(null);
    this.#markClosed();
  }
}

function decode(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

/** One run of {@linkcode measureServerLogic}. */
export interface ServerLogicRun {
  /** Acquire+release pairs answered. */
  pairs: number;
  /** Wall-clock time, milliseconds. */
  wallMs: number;
  /** The process's CPU time (user + system), microseconds. */
  cpuUs: number;
}

/**
 * Serves `connections` in-memory peers, each running `rounds` acquire+release pairs, on a new
 * server, and measures the process's CPU time until the last pair is answered.
 *
 * @param oneKey All peers contend for one key (FIFO hand-over) instead of one key each.
 * @throws {Error} When the server answers anything but `ok`.
 */
export async function measureServerLogic(
  connections: number,
  rounds: number,
  oneKey = false,
): Promise<ServerLogicRun> {
  let left = connections;
  let failure: Error | undefined;
  let allDone: () => void = () => {};
  const finished = new Promise<void>((resolve) => allDone = resolve);
  const peers: Peer[] = [];
  for (let i = 0; i < connections; i++) {
    const done = (err?: Error): void => {
      failure ??= err;
      if (--left === 0 || err !== undefined) allDone();
    };
    peers.push(new Peer(oneKey ? "logic-key" : `logic-${i}`, rounds, done));
  }
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const queue = new AcceptQueue().bound(ADDR, () => {});
  for (const peer of peers) queue.push(peer);
  const server = startServer(listenerOf(queue));
  await finished;
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  for (const peer of peers) peer.end();
  await server.close();
  if (failure !== undefined) throw failure;
  return { pairs: connections * rounds, wallMs, cpuUs: cpu.user + cpu.system };
}
