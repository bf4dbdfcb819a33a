/**
 * The Node transport adapter: `node:net` / `node:tls` sockets as web streams. The conversion
 * lives in one function, {@linkcode nodeSocketToTransport}, hand-written over `data` events with
 * `pause()` / `resume()` driven by the stream's queue (instead of the experimental
 * `Duplex.toWeb()`), so it can be replaced in one place.
 *
 * @module
 */

import * as net from "node:net";
import * as tls from "node:tls";
import { ConnectionError } from "../errors.ts";
import { AcceptQueue } from "./_accept_queue.ts";
import { guardConnect } from "./_connect_guard.ts";
import { checkAddr, formatAddr, toConnectionError } from "./_errors.ts";
import { pushChannel } from "./_push_channel.ts";
import { PushReadable } from "./_push_readable.ts";
import type {
  ByteChannel,
  ConnectOptions,
  Listener,
  ListenOptions,
  NetAddr,
  Transport,
  TransportAdapter,
} from "./types.ts";

/** How long `close()` waits for Node's write buffer to flush before dropping it. */
const CLOSE_FLUSH_MS = 2000;

/** A connected Node socket as a {@linkcode Transport}. */
class NodeTransport implements Transport {
  readonly closed: Promise<void>;
  readonly remoteAddr: NetAddr;
  #socket: net.Socket;
  /** Server-side TLS not started yet: the context to start it with on first read or write. */
  #lazyTls: tls.SecureContext | undefined;
  #label: string;
  #in: PushReadable;
  #writable: WritableStream<Uint8Array> | undefined;
  #channel: ByteChannel | undefined;
  #writeController: WritableStreamDefaultController | undefined;
  #drainResolve: (() => void) | undefined;
  #drainReject: ((err: unknown) => void) | undefined;
  #writeDone = false;
  #closedErr: ConnectionError | undefined;
  #closing = false;
  #resolveClosed!: () => void;

  /**
   * @param socket A connected socket.
   * @param lazyTls When given, `socket` is a paused raw TCP socket of a TLS listener: the
   *   server-side handshake with this context starts on the first read or write, and closing
   *   before that closes the TCP connection without sending a byte.
   * @param noReadPause Never pause the TLS socket (reads are then not flow-controlled).
   */
  constructor(socket: net.Socket, lazyTls?: tls.SecureContext, noReadPause = false) {
    this.#socket = socket;
    this.#lazyTls = lazyTls;
    this.remoteAddr = { hostname: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 };
    this.#label = formatAddr(this.remoteAddr);
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    if (lazyTls === undefined) {
      this.#in = new PushReadable(socket, () => this.#maybeEnd());
      this.#listen(socket);
      return;
    }
    const flow = {
      pause: () => {
        if (!noReadPause) this.#socket.pause();
      },
      resume: () => this.#socket.resume(),
    };
    this.#in = new PushReadable(flow, () => this.#maybeEnd(), undefined, () => this.#startTls());
    // Until the handshake starts only a reset or close of the raw socket matters.
    socket.on("error", () => {
      if (this.#lazyTls !== undefined) this.#shutdown();
    });
    socket.on("close", () => {
      if (this.#lazyTls === undefined) return;
      this.#shutdown();
      this.#resolveClosed();
    });
    if (socket.destroyed) {
      this.#shutdown();
      this.#resolveClosed();
    }
  }

  get readable(): ReadableStream<Uint8Array> {
    return this.#in.stream;
  }

  get writable(): WritableStream<Uint8Array> {
    if (this.#writable !== undefined) return this.#writable;
    if (this.#channel !== undefined) throw new TypeError("The transport's channel() is in use");
    return this.#writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.#writeController = controller;
      },
      write: (chunk) => this.#write(chunk),
      close: () => this.#end(),
      abort: () => {
        this.#shutdown();
      },
    });
  }

  channel(): ByteChannel {
    if (this.#writable !== undefined) throw new TypeError("The transport's streams are in use");
    return this.#channel ??= pushChannel(this.#in, (bytes) => this.#write(bytes));
  }

  /** Starts the server-side TLS handshake over the raw socket (first read or write). */
  #startTls(): void {
    const context = this.#lazyTls;
    if (context === undefined || this.#closing) return;
    this.#lazyTls = undefined;
    const secure = new tls.TLSSocket(this.#socket, { isServer: true, secureContext: context });
    this.#socket = secure;
    this.#listen(secure);
  }

  /** Wires the socket's events to the streams. */
  #listen(socket: net.Socket): void {
    socket.on("data", (chunk: Buffer) => {
      // Hand out plain Uint8Arrays: Buffer#slice shares memory, Uint8Array#slice copies.
      this.#in.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
    socket.on("drain", () => {
      const resolve = this.#drainResolve;
      this.#drainResolve = this.#drainReject = undefined;
      resolve?.();
    });
    socket.on("end", () => {
      this.#in.end();
      this.#maybeEnd();
    });
    socket.on("error", (err) => {
      if (!this.#closing) {
        this.#in.error(toConnectionError(`Connection to ${this.#label} failed`, err));
      }
      this.#shutdown();
    });
    socket.on("close", () => {
      this.#shutdown();
      this.#resolveClosed();
    });
    if (socket.destroyed) {
      this.#shutdown();
      this.#resolveClosed();
    }
  }

  close(): Promise<void> {
    this.#shutdown();
    return this.closed;
  }

  unref(): void {
    this.#socket.unref();
  }

  ref(): void {
    this.#socket.ref();
  }

  #write(chunk: Uint8Array): Promise<void> | undefined {
    if (this.#closing) throw this.#closedError();
    // Written before the handshake completes, the bytes wait in the TLS socket for it.
    this.#startTls();
    if (this.#socket.write(chunk)) return undefined;
    return new Promise<void>((resolve, reject) => {
      this.#drainResolve = resolve;
      this.#drainReject = reject;
    });
  }

  /** Half-close: flush, send FIN, keep reading. */
  #end(): Promise<void> {
    if (this.#closing) return Promise.reject(this.#closedError());
    this.#startTls();
    return new Promise<void>((resolve, reject) => {
      this.#socket.end(() => {
        if (this.#closing && !this.#writeDone) {
          reject(this.#closedError());
          return;
        }
        this.#writeDone = true;
        resolve();
        this.#maybeEnd();
      });
    });
  }

  #closedError(): ConnectionError {
    // One error per transport: building one (and its stack) on every close path is measurable.
    return this.#closedErr ??= new ConnectionError(
      `Cannot write to ${this.#label}: connection closed`,
    );
  }

  #maybeEnd(): void {
    if (this.#in.done && this.#writeDone) this.#shutdown();
  }

  /** Closes everything once: flushes Node's write buffer (bounded), then destroys the socket. */
  #shutdown(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#in.end();
    const reject = this.#drainReject;
    this.#drainResolve = this.#drainReject = undefined;
    reject?.(this.#closedError());
    if (!this.#writeDone) {
      this.#writeDone = true;
      this.#writeController?.error(this.#closedError());
    }
    const socket = this.#socket;
    if (socket.destroyed) return;
    if (socket.writableLength === 0 || !socket.writable) {
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
 * Wraps a connected `net.Socket` (or `tls.TLSSocket`) as a {@linkcode Transport}: the one place
 * that turns Node streams into web streams.
 *
 * @param socket A connected socket created with `allowHalfOpen: true`.
 * @param lazyTls For a server-side TLS connection: the socket is the raw TCP socket, accepted
 *   paused (`pauseOnConnect`), and the handshake with this context runs on the transport's
 *   first read or write. Closing the transport before that sends nothing.
 * @param noReadPause With `lazyTls`: never pause the TLS socket (see {@linkcode listenNode}).
 * @returns The transport; it owns the socket from now on.
 *
 * @example Wrap a socket opened with node:net
 * ```ts
 * import { connect } from "node:net";
 * import { once } from "node:events";
 * import { nodeSocketToTransport } from "@dflock/dflock/transport/node";
 *
 * const socket = connect({ host: "127.0.0.1", port: 6388, allowHalfOpen: true });
 * await once(socket, "connect");
 * const transport = nodeSocketToTransport(socket);
 * await transport.close();
 * ```
 */
export function nodeSocketToTransport(
  socket: net.Socket,
  lazyTls?: tls.SecureContext,
  noReadPause = false,
): Transport {
  socket.setNoDelay(true);
  return new NodeTransport(socket, lazyTls, noReadPause);
}

/**
 * Opens a TCP or TLS connection with `node:net` / `node:tls`. For TLS the promise resolves once
 * the handshake and certificate check succeeded.
 *
 * @param options Address, TLS settings, abort signal and timeout.
 * @returns The connection.
 * @throws {ConnectionError} When the connection fails or times out.
 * @throws {unknown} `options.signal.reason` when aborted.
 *
 * @example Connect with a deadline
 * ```ts
 * import { connectNode } from "@dflock/dflock/transport/node";
 *
 * const transport = await connectNode({
 *   hostname: "127.0.0.1",
 *   port: 6388,
 *   signal: AbortSignal.timeout(2_000),
 * });
 * const writer = transport.writable.getWriter();
 * await writer.write(new TextEncoder().encode("p\n\n\n"));
 * writer.releaseLock();
 * await transport.close();
 * ```
 */
export async function connectNode(options: ConnectOptions): Promise<Transport> {
  const { hostname, port, tls: tlsOptions } = options;
  checkAddr(hostname, port);
  const action = `Cannot connect to ${formatAddr({ hostname, port })}`;
  return await guardConnect<Transport>(
    { signal: options.signal, timeoutMs: options.timeoutMs, action },
    () => {
      const socket = tlsOptions === undefined
        ? net.connect({ host: hostname, port, allowHalfOpen: true, noDelay: true })
        : tls.connect({
          host: hostname,
          port,
          // Honoured by tls.connect although @types/node omits it from ConnectionOptions.
          allowHalfOpen: true,
          ...(tlsOptions.caCerts !== undefined ? { ca: tlsOptions.caCerts } : {}),
          ...(tlsOptions.serverName !== undefined
            ? { servername: tlsOptions.serverName }
            : net.isIP(hostname) === 0
            ? { servername: hostname }
            : {}),
          rejectUnauthorized: tlsOptions.insecureSkipVerify !== true,
        } as tls.ConnectionOptions);
      const readyEvent = tlsOptions === undefined ? "connect" : "secureConnect";
      // With TLS, "connect" (TCP is up) comes before the handshake's "secureConnect".
      let tcpUp = false;
      if (tlsOptions !== undefined) socket.once("connect", () => tcpUp = true);
      const promise = new Promise<Transport>((resolve, reject) => {
        // Plain listeners that detach each other (`once` would wrap every one of them).
        const detach = (): void => {
          socket.off(readyEvent, onReady);
          socket.off("error", onError);
          socket.off("close", onClose);
        };
        const onReady = (): void => {
          detach();
          resolve(nodeSocketToTransport(socket));
        };
        const onError = (err: Error): void => {
          detach();
          socket.destroy();
          reject(err);
        };
        const onClose = (): void => {
          detach();
          reject(new Error("connection closed"));
        };
        socket.on(readyEvent, onReady);
        socket.on("error", onError);
        socket.on("close", onClose);
      });
      return { promise, cancel: () => socket.destroy(), phase: () => tcpUp ? "tls" : "tcp" };
    },
    (transport) => void transport.close(),
  );
}

/** A Node server as a {@linkcode Listener}. */
class NodeListener implements Listener {
  readonly addr: NetAddr;
  #server: net.Server;
  #queue: AcceptQueue;
  #closed = false;

  constructor(server: net.Server, queue: AcceptQueue, addr: NetAddr) {
    this.#server = server;
    this.#queue = queue;
    this.addr = addr;
  }

  [Symbol.asyncIterator](): AsyncIterator<Transport> {
    return this.#queue[Symbol.asyncIterator]();
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      // Stops accepting at once; the callback (all connections gone) is not waited for.
      this.#server.close(() => {});
      this.#queue.end();
    }
    return Promise.resolve();
  }
}

/**
 * Binds a TCP or TLS listener with `net.createServer`. With TLS (1.2 minimum, `node:tls`) every
 * TCP connection is handed out as soon as it is accepted, before any TLS byte: the server-side
 * handshake runs lazily on the transport's first read or write (so it counts against the
 * reader's deadline, like Go's `tls.Conn`), and closing an unused transport closes the TCP
 * connection without a handshake. A failed handshake errors only that transport's readable.
 *
 * Also used by the Deno and Bun adapters for TLS listeners: `Deno.listenTls` cannot close a
 * connection whose handshake has not completed, and a lazy handshake behaves the same on all
 * three runtimes this way.
 *
 * @param options Address and TLS certificate.
 * @param noReadPause For Deno: never pause accepted TLS sockets. Deno 2.x's `node:tls` loses
 *   the peer's EOF when it arrives while a `TLSSocket` is paused, so there reads are not
 *   flow-controlled (bytes a client sends while nothing reads are buffered without limit).
 * @returns The listener.
 * @throws {ConnectionError} When binding fails (address in use, bad certificate).
 *
 * @example Accept connections on a free port
 * ```ts
 * import { listenNode } from "@dflock/dflock/transport/node";
 *
 * const listener = await listenNode({ hostname: "127.0.0.1", port: 0 });
 * console.log(`listening on port ${listener.addr.port}`);
 * for await (const transport of listener) {
 *   await transport.close(); // a real server would read requests here
 *   break;
 * }
 * await listener.close();
 * ```
 */
export async function listenNode(options: ListenOptions, noReadPause = false): Promise<Listener> {
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
    server = net.createServer(
      { allowHalfOpen: true, noDelay: true, pauseOnConnect: context !== undefined },
      (socket: net.Socket): void => {
        if (socket.destroyed) return;
        queue.push(nodeSocketToTransport(socket, context, noReadPause));
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
  return new NodeListener(server, queue, addr);
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

/**
 * The Node {@linkcode TransportAdapter}: {@linkcode connectNode} and {@linkcode listenNode}.
 *
 * @example Pin the server and client to the Node adapter
 * ```ts
 * import { connect } from "@dflock/dflock";
 * import { serve } from "@dflock/dflock/server";
 * import { nodeAdapter } from "@dflock/dflock/transport/node";
 *
 * await using server = await serve({ port: 0, transport: nodeAdapter });
 * await using conn = await connect({ port: server.addr.port, transport: nodeAdapter });
 * console.log(conn.address);
 * ```
 */
export const nodeAdapter: TransportAdapter = {
  runtime: "node",
  connect: connectNode,
  listen: listenNode,
};
