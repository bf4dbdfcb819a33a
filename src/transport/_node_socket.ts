/**
 * Internal: `node:net` / `node:tls` sockets as the adapter contract of `_conn.ts`, and the
 * listener on them. The Node adapter (`node.ts`) uses it for everything; the Deno and Bun
 * adapters load it (dynamic `import()`) only to listen with TLS.
 *
 * @module
 */

import * as net from "node:net";
import * as tls from "node:tls";
import { AcceptQueue } from "./_accept_queue.ts";
import { DONE, listenerOf } from "./_conn.ts";
import { detectRuntime } from "./auto.ts";
import { checkAddr, formatAddr, toConnectionError } from "./_errors.ts";
import { byteStringToBytes } from "../protocol/utf8.ts";
import { PushConn } from "./_push_conn.ts";
import type { Listener, ListenOptions } from "./types.ts";

/**
 * Whether the runtime's `node:net` / `node:tls` sockets send a `latin1` string's chars as bytes.
 * Deno's TLS sockets send it as UTF-8 (Deno 2.9), so there the string becomes bytes first.
 */
const WRITES_LATIN1 = detectRuntime() !== "deno";

/** How long `close()` waits for Node's write buffer to flush before dropping it. */
const CLOSE_FLUSH_MS = 2000;

/**
 * The buffer every plain socket reads into on Node, client and server side alike (the `onread`
 * option, see {@linkcode readInto}): {@linkcode NodeConn.takeRead} copies the bytes out before
 * the callback returns, so one buffer serves all sockets.
 */
const READ_BUFFER = new Uint8Array(64 * 1024);

/**
 * The property of a socket that names its {@linkcode NodeConn}: the socket's event listeners are
 * functions shared by every connection, which find their connection through it (five closures
 * per connection cost about 300 bytes each at 10 000 connections).
 */
const OWNER: unique symbol = Symbol("dflock NodeConn");
type OwnedSocket = net.Socket & { [OWNER]: NodeConn };

/** A connected Node socket as the adapter's {@linkcode Conn}. */
export class NodeConn extends PushConn {
  #socket: net.Socket;
  /** Server-side TLS not started yet: the context to start it with on first read or write. */
  #lazyTls: tls.SecureContext | undefined;

  /**
   * @param lazyTls When given, `socket` is a paused raw TCP socket of a TLS listener: the
   *   server-side handshake with this context starts on the first read or write, and closing
   *   before that closes the TCP connection without sending a byte.
   * @param noReadPause Never pause the TLS socket (reads are then not flow-controlled).
   */
  constructor(socket: net.Socket, lazyTls?: tls.SecureContext, noReadPause = false) {
    // A plain socket is its own flow control; a TLS one is replaced by its TLSSocket later.
    const flow = lazyTls === undefined ? socket : {
      pause: () => {
        if (!noReadPause) this.#socket.pause();
      },
      resume: () => this.#socket.resume(),
    };
    const remote = { hostname: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 };
    super(remote, flow, lazyTls === undefined ? undefined : () => this.#startTls());
    this.#socket = socket;
    this.#lazyTls = lazyTls;
    if (lazyTls === undefined) {
      this.#listen(socket);
      return;
    }
    // Until the handshake starts only a reset or close of the raw socket matters.
    socket.on("error", () => {
      if (this.#lazyTls !== undefined) this.shutdown();
    });
    socket.on("close", () => {
      if (this.#lazyTls !== undefined) this.#gone();
    });
    if (socket.destroyed) this.#gone();
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.closing) return Promise.reject(this.closedError());
    // Written before the handshake completes, the bytes wait in the TLS socket for it.
    this.#startTls();
    return this.#written(this.#socket.write(bytes));
  }

  /** Node writes a `latin1` string's chars as bytes itself, from C++ (no typed arrays). */
  writeByteString(text: string): Promise<void> {
    if (this.closing) return Promise.reject(this.closedError());
    this.#startTls();
    if (WRITES_LATIN1) return this.#written(this.#socket.write(text, "latin1"));
    return this.#written(this.#socket.write(byteStringToBytes(text)));
  }

  /** Node keeps the order of writes; a write that filled its buffer waits for the drain. */
  #written(accepted: boolean): Promise<void> {
    return accepted ? this.pendingDrain ?? DONE : this.waitForDrain();
  }

  closeWrite(): Promise<void> {
    if (this.closing) return Promise.reject(this.closedError());
    this.#startTls();
    return new Promise<void>((resolve, reject) => {
      this.#socket.end(() => {
        if (this.closing) {
          reject(this.closedError());
          return;
        }
        resolve();
        this.writeEnded();
      });
    });
  }

  unref(): void {
    this.#socket.unref();
  }

  ref(): void {
    this.#socket.ref();
  }

  /** Starts the server-side TLS handshake over the raw socket (first read or write). */
  #startTls(): void {
    const context = this.#lazyTls;
    if (context === undefined || this.closing) return;
    this.#lazyTls = undefined;
    const secure = new tls.TLSSocket(this.#socket, { isServer: true, secureContext: context });
    this.#socket = secure;
    this.#listen(secure);
  }

  /** Wires the socket's events to the reader, the writers and `closed`. */
  #listen(socket: net.Socket): void {
    (socket as OwnedSocket)[OWNER] = this;
    socket.on("data", NodeConn.#onData);
    socket.on("drain", NodeConn.#onDrain);
    socket.on("end", NodeConn.#onEnd);
    socket.on("error", NodeConn.#onError);
    socket.on("close", NodeConn.#onClose);
    if (socket.destroyed) this.#gone();
  }

  /**
   * Takes bytes Node read into a buffer it reuses (the `onread` option, see
   * {@linkcode readInto}): copies them to the reader.
   *
   * @returns `false` to pause the socket (too many bytes wait), as `onread` expects.
   */
  takeRead(n: number, buf: Uint8Array): boolean {
    this.input.push(buf.slice(0, n));
    return !this.input.paused;
  }

  // The socket's listeners: Node calls them with the socket as `this`.

  static #onData(this: OwnedSocket, chunk: Buffer): void {
    // Hand out plain Uint8Arrays: Buffer#slice shares memory, Uint8Array#slice copies.
    this[OWNER].input.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }

  static #onDrain(this: OwnedSocket): void {
    this[OWNER].drained();
  }

  static #onEnd(this: OwnedSocket): void {
    this[OWNER].peerEnded();
  }

  static #onError(this: OwnedSocket, err: Error): void {
    this[OWNER].failed(err);
  }

  static #onClose(this: OwnedSocket): void {
    this[OWNER].#gone();
  }

  /** The socket is closed. */
  #gone(): void {
    this.shutdown();
    this.markClosed();
  }

  /** Flushes Node's write buffer (bounded) unless the peer stopped reading, then destroys. */
  protected release(stuck: boolean): void {
    const socket = this.#socket;
    if (socket.destroyed) return;
    if (stuck || socket.writableLength === 0 || !socket.writable) {
      socket.destroy();
      return;
    }
    // Bytes a resolved write() handed to Node but not yet to the OS: send them first.
    const timer = setTimeout(() => socket.destroy(), CLOSE_FLUSH_MS);
    socket.once("close", () => clearTimeout(timer));
    socket.end(() => socket.destroy());
  }
}

/**
 * Binds a TCP or TLS listener with `net.createServer` (see `listenNode` in `node.ts`).
 *
 * @param noReadPause With TLS: never pause accepted TLS sockets (for Deno, whose `node:tls`
 *   loses the peer's EOF when it arrives while a `TLSSocket` is paused).
 * @throws {ConnectionError} When binding fails (address in use, bad certificate).
 */
export async function listenSockets(
  options: ListenOptions,
  noReadPause = false,
): Promise<Listener> {
  const { hostname, port, tls: tlsOptions } = options;
  checkAddr(hostname, port);
  const action = `Cannot listen on ${formatAddr({ hostname, port })}`;
  const queue = new AcceptQueue();
  let context: tls.SecureContext | undefined;
  let server: net.Server;
  try {
    if (tlsOptions !== undefined) {
      context = tls.createSecureContext({
        cert: tlsOptions.cert,
        key: tlsOptions.key,
        minVersion: "TLSv1.2",
      });
      checkPem(tlsOptions);
    }
    // On Node a plain connection is accepted paused, and its handle moves to a socket that
    // reads through `onread` (see `adoptReadingIntoBuffer`).
    const adopt = context === undefined && detectRuntime() === "node";
    server = net.createServer(
      { allowHalfOpen: true, noDelay: true, pauseOnConnect: context !== undefined || adopt },
      (socket: net.Socket): void => {
        // A connection the client reset before it was accepted has no peer any more (its
        // address reads ENOTCONN; Deno's accept fails on it): drop it here, at no cost to the
        // connections behind it, rather than serve it until its first read fails.
        if (socket.destroyed || socket.remoteAddress === undefined) {
          socket.destroy();
          return;
        }
        socket.setNoDelay(true);
        const adopted = adopt ? adoptReadingIntoBuffer(socket) : undefined;
        if (adopt && adopted === undefined) socket.resume();
        queue.push(adopted ?? new NodeConn(socket, context, noReadPause));
      },
    );
  } catch (err) {
    throw toConnectionError(action, err);
  }
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(toConnectionError(action, err));
    server.once("error", onError);
    server.listen({ host: hostname, port }, () => {
      server.off("error", onError);
      resolve();
    });
  });
  // Later server errors (e.g. EMFILE on accept) must not crash the process.
  server.on("error", () => {});
  const bound = server.address();
  const addr = typeof bound === "object" && bound !== null
    ? { hostname: bound.address, port: bound.port }
    : { hostname, port };
  return listenerOf(queue.bound(addr, () => server.close(() => {})));
}

/**
 * The `onread` option that hands a socket's bytes to a {@linkcode NodeConn}, through the one
 * shared {@linkcode READ_BUFFER}: Node reads into it and calls back, without the stream machinery
 * of `data` events (a `Buffer` and a `push` per read, a `nextTick` per event). Node starts reading
 * asynchronously, so `conn` is called only after the socket's `NodeConn` exists.
 */
export function readInto(conn: () => NodeConn): net.OnReadOpts {
  return { buffer: READ_BUFFER, callback: (n, buf) => conn().takeRead(n, buf) };
}

/** What an accepted socket's private handle must offer to move to another `net.Socket`. */
type HandleHolder = net.Socket & { _handle?: { readStart?: unknown } | null };

/**
 * Serves an accepted, paused plain socket through a new `net.Socket` that reads with
 * {@linkcode readInto}, as client sockets do: `net.createServer` has no `onread` option, but a
 * socket built on an accepted connection's handle (the `handle` option Node's own `net.Server`
 * and `tls` use) takes one. The accepted socket gives its handle up and is destroyed without
 * it, which only settles the server's connection count. Server CPU per acquire+release pair
 * under the Go load generator: about a sixth less (docs/performance.md, "Reading into one
 * buffer on the server").
 *
 * @returns The connection, or `undefined` when the socket has no handle to move (a runtime's
 *   `node:net` other than Node's): then it is served through `data` events.
 */
function adoptReadingIntoBuffer(socket: net.Socket): NodeConn | undefined {
  const holder = socket as HandleHolder;
  const handle = holder._handle;
  if (typeof handle !== "object" || handle === null || typeof handle.readStart !== "function") {
    return undefined;
  }
  const options = { handle, allowHalfOpen: true, readable: true, writable: true };
  let adopted: net.Socket;
  try {
    adopted = new net.Socket(
      { ...options, onread: readInto(() => conn) } as net.SocketConstructorOpts,
    );
  } catch {
    return undefined; // the accepted socket still owns the handle
  }
  // Without its handle the accepted socket only emits "close" and leaves the server's count,
  // which then no longer includes the connection (`getConnections`, `maxConnections`, the
  // callback of `close`): none of which the listener uses.
  holder._handle = null;
  socket.destroy();
  const conn: NodeConn = new NodeConn(adopted);
  return conn;
}

/**
 * Rejects PEM text without a certificate or private key block (Deno's `createSecureContext`
 * accepts anything and only fails at handshake time).
 */
function checkPem(options: { cert: string; key: string }): void {
  if (!/-----BEGIN CERTIFICATE-----/.test(options.cert)) {
    throw new TypeError("the TLS certificate is not a PEM certificate");
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(options.key)) {
    throw new TypeError("the TLS key is not a PEM private key");
  }
}
