/**
 * The Bun transport adapter: `Bun.connect` and `Bun.listen` (with `tls`). Bun's callback
 * sockets become web streams here: `socket.write()` is unbuffered (it returns the bytes taken,
 * fewer under backpressure, -1 once closed), so the remainder waits for `drain`; incoming data
 * is queued up to a byte limit and the socket is paused beyond it. Compiles without Bun's type
 * package: the few members used are declared below and `Bun` is read from `globalThis`.
 *
 * @module
 */

import { ConnectionError } from "../errors.ts";
import { AcceptQueue } from "./_accept_queue.ts";
import { guardConnect } from "./_connect_guard.ts";
import { checkAddr, formatAddr, toConnectionError } from "./_errors.ts";
import { listenNode } from "./node.ts";
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

/** The part of Bun's `Socket` used here. */
interface BunSocketLike {
  data: SocketState;
  readonly remoteAddress: string;
  readonly remotePort?: number;
  write(data: Uint8Array): number;
  shutdown(): void;
  end(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay(noDelay?: boolean): boolean;
  ref?(): void;
  unref?(): void;
}

/** Bun's per-server (or per-connect) socket callbacks. */
interface BunSocketHandlers {
  open(socket: BunSocketLike): void;
  data(socket: BunSocketLike, data: Uint8Array): void;
  drain(socket: BunSocketLike): void;
  end(socket: BunSocketLike): void;
  close(socket: BunSocketLike, error?: Error): void;
  error(socket: BunSocketLike, error: Error): void;
  connectError?(socket: BunSocketLike, error: Error): void;
  handshake(socket: BunSocketLike, success: boolean, authorizationError: Error | null): void;
}

/** The part of Bun's TCP server used here. */
interface BunServerLike {
  readonly hostname: string;
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
}

/** The part of the `Bun` namespace used here. */
interface BunLike {
  connect(options: {
    hostname: string;
    port: number;
    tls?: { ca?: string[]; serverName?: string; rejectUnauthorized?: boolean };
    allowHalfOpen: boolean;
    binaryType: "uint8array";
    data: SocketState;
    socket: BunSocketHandlers;
  }): Promise<BunSocketLike>;
  listen(options: {
    hostname: string;
    port: number;
    allowHalfOpen: boolean;
    binaryType: "uint8array";
    socket: BunSocketHandlers;
  }): BunServerLike;
}

/** What each Bun socket carries in `socket.data`. */
interface SocketState {
  /** The transport, once the socket opened. */
  transport?: BunTransport;
  /** Set while a `connect` waits for the socket (and the TLS handshake). */
  pending?: PendingConnect;
  /** Set on listener sockets: where accepted transports go. */
  queue?: AcceptQueue;
  /** Whether the socket only counts once its TLS handshake succeeded. */
  tls: boolean;
  /** Whether a certificate verification error fails the handshake (clients only). */
  verify?: boolean;
}

/** A `connect` waiting for the socket to open (and finish its TLS handshake). */
interface PendingConnect {
  resolve(transport: Transport): void;
  reject(err: unknown): void;
  cancelled: boolean;
}

function bun(): BunLike {
  const value = (globalThis as { Bun?: BunLike }).Bun;
  if (value === undefined) throw new ConnectionError("Cannot use the Bun adapter: not on Bun");
  return value;
}

/** A Bun socket as a {@linkcode Transport}. */
class BunTransport implements Transport {
  readonly closed: Promise<void>;
  readonly remoteAddr: NetAddr;
  #socket: BunSocketLike;
  #label: string;
  #in: PushReadable;
  #writable: WritableStream<Uint8Array> | undefined;
  #channel: ByteChannel | undefined;
  #writeController: WritableStreamDefaultController | undefined;
  #unsent: Uint8Array | undefined;
  #unsentResolve: (() => void) | undefined;
  #unsentReject: ((err: unknown) => void) | undefined;
  #writeDone = false;
  #closedErr: ConnectionError | undefined;
  #closing = false;
  #isClosed = false;
  #resolveClosed!: () => void;

  constructor(socket: BunSocketLike) {
    this.#socket = socket;
    this.remoteAddr = { hostname: socket.remoteAddress, port: socket.remotePort ?? 0 };
    this.#label = formatAddr(this.remoteAddr);
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    this.#in = new PushReadable(socket, () => this.#maybeEnd());
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
      close: () => {
        if (this.#closing) throw this.#closedError();
        this.#writeDone = true;
        try {
          this.#socket.shutdown();
        } catch (err) {
          this.#shutdown();
          throw toConnectionError(`Cannot close the connection to ${this.#label}`, err);
        }
        this.#maybeEnd();
      },
      abort: () => {
        this.#shutdown();
      },
    });
  }

  channel(): ByteChannel {
    if (this.#writable !== undefined) throw new TypeError("The transport's streams are in use");
    return this.#channel ??= pushChannel(this.#in, (bytes) => this.#write(bytes));
  }

  close(): Promise<void> {
    this.#shutdown();
    return this.closed;
  }

  unref(): void {
    this.#socket.unref?.();
  }

  ref(): void {
    this.#socket.ref?.();
  }

  #write(chunk: Uint8Array): Promise<void> | undefined {
    if (this.#closing) throw this.#closedError();
    const written = this.#socket.write(chunk);
    if (written === chunk.byteLength) return undefined;
    if (written < 0) {
      this.#shutdown();
      throw this.#closedError();
    }
    this.#unsent = chunk.subarray(written);
    return new Promise<void>((resolve, reject) => {
      this.#unsentResolve = resolve;
      this.#unsentReject = reject;
    });
  }

  /** Bun's `drain`: send what the last write left over. */
  onDrain(): void {
    const unsent = this.#unsent;
    if (unsent === undefined) return;
    const written = this.#socket.write(unsent);
    if (written < 0) {
      this.#shutdown();
      return;
    }
    if (written < unsent.byteLength) {
      this.#unsent = unsent.subarray(written);
      return;
    }
    const resolve = this.#unsentResolve;
    this.#unsent = this.#unsentResolve = this.#unsentReject = undefined;
    resolve?.();
  }

  /** Bun's `data`. */
  onData(data: Uint8Array): void {
    this.#in.push(data);
  }

  /** Bun's `end`: the peer sent FIN. */
  onEnd(): void {
    this.#in.end();
    this.#maybeEnd();
  }

  /** Bun's `error`. */
  onError(err: unknown): void {
    this.#in.error(toConnectionError(`Connection to ${this.#label} failed`, err));
    this.#shutdown();
  }

  /** Bun's `close`: the socket is gone. */
  onClose(err?: unknown): void {
    if (err !== undefined && err !== null && !this.#closing) {
      this.#in.error(toConnectionError(`Connection to ${this.#label} failed`, err));
    }
    this.#isClosed = true;
    this.#shutdown();
  }

  #closedError(): ConnectionError {
    // One error per transport: building one (and its stack) on every close path is measurable.
    return this.#closedErr ??= new ConnectionError(
      `Cannot write to ${this.#label}: connection closed`,
    );
  }

  /** Closes the socket once both directions are finished. */
  #maybeEnd(): void {
    if (this.#in.done && this.#writeDone) this.#shutdown();
  }

  /** Closes everything once; resolves `closed` when Bun reports the socket closed. */
  #shutdown(): void {
    if (!this.#closing) {
      this.#closing = true;
      this.#in.end();
      const reject = this.#unsentReject;
      this.#unsent = this.#unsentResolve = this.#unsentReject = undefined;
      reject?.(this.#closedError());
      if (!this.#writeDone) {
        this.#writeDone = true;
        this.#writeController?.error(this.#closedError());
      }
      if (!this.#isClosed) {
        try {
          this.#socket.end();
        } catch {
          // Already closed.
        }
      }
    }
    if (this.#isClosed) this.#resolveClosed();
  }
}

/** Callbacks shared by every socket, dispatching on `socket.data`. */
const HANDLERS: BunSocketHandlers = {
  open(socket) {
    const state = socket.data;
    try {
      socket.setNoDelay(true);
    } catch {
      // Best effort.
    }
    const transport = new BunTransport(socket);
    state.transport = transport;
    if (state.pending?.cancelled) {
      void transport.close();
      return;
    }
    if (!state.tls) opened(state, transport);
  },
  handshake(socket, success, authorizationError) {
    const state = socket.data;
    const transport = state.transport;
    if (transport === undefined) return;
    // Servers request no client certificate, so Bun reports an authorization error there.
    if (success && (authorizationError === null || state.verify !== true)) {
      opened(state, transport);
      return;
    }
    const pending = state.pending;
    state.pending = undefined;
    pending?.reject(authorizationError ?? new Error("TLS handshake failed"));
    void transport.close();
  },
  data(socket, data) {
    socket.data.transport?.onData(data);
  },
  drain(socket) {
    socket.data.transport?.onDrain();
  },
  end(socket) {
    socket.data.transport?.onEnd();
  },
  error(socket, error) {
    const state = socket.data as SocketState | undefined;
    failPending(state, error);
    state?.transport?.onError(error);
  },
  connectError(socket, error) {
    failPending(socket.data as SocketState | undefined, error);
  },
  close(socket, error) {
    const state = socket.data as SocketState | undefined;
    if (state?.pending !== undefined) failPending(state, error ?? new Error("connection closed"));
    state?.transport?.onClose(error);
  },
};

function opened(state: SocketState, transport: BunTransport): void {
  const pending = state.pending;
  state.pending = undefined;
  if (pending !== undefined) pending.resolve(transport);
  else state.queue?.push(transport);
}

function failPending(state: SocketState | undefined, err: unknown): void {
  const pending = state?.pending;
  if (pending === undefined || state === undefined) return;
  state.pending = undefined;
  pending.reject(err);
}

/**
 * Opens a TCP or TLS connection with `Bun.connect`. For TLS the promise resolves once the
 * handshake and certificate check succeeded.
 *
 * @param options Address, TLS settings, abort signal and timeout.
 * @returns The connection.
 * @throws {ConnectionError} When the connection fails or times out.
 * @throws {unknown} `options.signal.reason` when aborted.
 *
 * @example Connect with a deadline
 * ```ts
 * import { connectBun } from "@dflock/dflock/transport/bun";
 *
 * const transport = await connectBun({
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
export async function connectBun(options: ConnectOptions): Promise<Transport> {
  const { hostname, port, tls } = options;
  checkAddr(hostname, port);
  const action = `Cannot connect to ${formatAddr({ hostname, port })}`;
  return await guardConnect<Transport>(
    { signal: options.signal, timeoutMs: options.timeoutMs, action },
    () => {
      const state: SocketState = {
        tls: tls !== undefined,
        verify: tls !== undefined && tls.insecureSkipVerify !== true,
      };
      const promise = new Promise<Transport>((resolve, reject) => {
        state.pending = { resolve, reject, cancelled: false };
        bun().connect({
          hostname,
          port,
          ...(tls === undefined ? {} : {
            tls: {
              ...(tls.caCerts !== undefined ? { ca: tls.caCerts } : {}),
              ...(tls.serverName !== undefined ? { serverName: tls.serverName } : {}),
              rejectUnauthorized: tls.insecureSkipVerify !== true,
            },
          }),
          allowHalfOpen: true,
          binaryType: "uint8array",
          data: state,
          socket: HANDLERS,
        }).catch((err: unknown) => failPending(state, err));
      });
      return {
        promise,
        cancel: () => {
          if (state.pending !== undefined) state.pending.cancelled = true;
          void state.transport?.close();
        },
        // The socket opens (and gets its transport) before a TLS handshake starts.
        phase: () => state.tls && state.transport !== undefined ? "tls" : "tcp",
      };
    },
    (transport) => void transport.close(),
  );
}

/** A Bun TCP server as a {@linkcode Listener}. */
class BunListener implements Listener {
  readonly addr: NetAddr;
  #server: BunServerLike;
  #queue: AcceptQueue;
  #closed = false;

  constructor(server: BunServerLike, queue: AcceptQueue) {
    this.#server = server;
    this.#queue = queue;
    this.addr = { hostname: server.hostname, port: server.port };
  }

  [Symbol.asyncIterator](): AsyncIterator<Transport> {
    return this.#queue[Symbol.asyncIterator]();
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#server.stop(false);
      } catch {
        // Already stopped.
      }
      this.#queue.end();
    }
    return Promise.resolve();
  }
}

/**
 * Binds a TCP listener with `Bun.listen`, or a TLS listener (1.2 minimum) with Bun's
 * `node:net` / `node:tls` (see {@linkcode listenNode}): every TCP connection is handed out
 * before any TLS byte and the handshake runs on the first read or write.
 *
 * `Bun.listen({ tls })` is not used for TLS: its sockets open before the handshake, but a write
 * before the handshake completes is refused (returns 0) rather than queued, so an answer to a
 * client that never finishes its handshake (the read-timeout `error`) would block until the
 * write timeout instead of being dropped with the connection.
 *
 * @param options Address and TLS certificate.
 * @returns The listener.
 * @throws {ConnectionError} When binding fails (address in use, bad certificate).
 *
 * @example Accept connections on a free port
 * ```ts
 * import { listenBun } from "@dflock/dflock/transport/bun";
 *
 * const listener = await listenBun({ hostname: "127.0.0.1", port: 0 });
 * console.log(`listening on port ${listener.addr.port}`);
 * for await (const transport of listener) {
 *   await transport.close(); // a real server would read requests here
 *   break;
 * }
 * await listener.close();
 * ```
 */
export function listenBun(options: ListenOptions): Promise<Listener> {
  const { hostname, port, tls } = options;
  try {
    checkAddr(hostname, port);
  } catch (err) {
    return Promise.reject(err);
  }
  if (tls !== undefined) return listenNode(options);
  const queue = new AcceptQueue();
  let server: BunServerLike;
  try {
    server = bun().listen({
      hostname,
      port,
      allowHalfOpen: true,
      binaryType: "uint8array",
      socket: {
        ...HANDLERS,
        open(socket) {
          socket.data = { queue, tls: false };
          HANDLERS.open(socket);
        },
      },
    });
  } catch (err) {
    return Promise.reject(
      toConnectionError(`Cannot listen on ${formatAddr({ hostname, port })}`, err),
    );
  }
  return Promise.resolve(new BunListener(server, queue));
}

/**
 * The Bun {@linkcode TransportAdapter}: {@linkcode connectBun} and {@linkcode listenBun}.
 *
 * @example Pin the server and client to the Bun adapter
 * ```ts
 * import { connect } from "@dflock/dflock";
 * import { serve } from "@dflock/dflock/server";
 * import { bunAdapter } from "@dflock/dflock/transport/bun";
 *
 * await using server = await serve({ port: 0, transport: bunAdapter });
 * await using conn = await connect({ port: server.addr.port, transport: bunAdapter });
 * console.log(conn.address);
 * ```
 */
export const bunAdapter: TransportAdapter = {
  runtime: "bun",
  connect: connectBun,
  listen: listenBun,
};
