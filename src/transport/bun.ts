/**
 * The Bun transport adapter: `Bun.connect` and `Bun.listen` (with `tls`) as the adapter
 * contract of `_conn.ts`, from which the shared helper builds the public web-streams
 * {@linkcode Transport}. `socket.write()` is unbuffered (it returns the bytes taken, fewer under
 * backpressure, -1 once closed), so the remainder waits for `drain`; incoming data is queued up
 * to a byte limit and the socket is paused beyond it. Compiles without Bun's type package: the
 * few members used are declared below and `Bun` is read from `globalThis`. Loads no `node:`
 * module, except for TLS listening (see {@linkcode listenBun}).
 *
 * @module
 */

import { ConnectionError } from "../errors.ts";
import { AcceptQueue } from "./_accept_queue.ts";
import { type Conn, connectConn, DONE, listenConns } from "./_conn.ts";
import { toConnectionError } from "./_errors.ts";
import { PushConn } from "./_push_conn.ts";
import type {
  ConnectOptions,
  Listener,
  ListenOptions,
  Transport,
  TransportAdapter,
} from "./types.ts";

/** The part of Bun's `Socket` used here. */
interface BunSocketLike {
  data: SocketState;
  readonly remoteAddress: string | undefined;
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
  /** The connection, once the socket opened. */
  conn?: BunConn;
  /** Set while a `connect` waits for the socket (and the TLS handshake). */
  pending?: PendingConnect;
  /** Set on listener sockets: where accepted connections go. */
  queue?: AcceptQueue;
  /** Whether the socket only counts once its TLS handshake succeeded. */
  tls: boolean;
  /** Whether a certificate verification error fails the handshake (clients only). */
  verify?: boolean;
}

/** A `connect` waiting for the socket to open (and finish its TLS handshake). */
interface PendingConnect {
  resolve(conn: Conn): void;
  reject(err: unknown): void;
  cancelled: boolean;
}

function bun(): BunLike {
  const value = (globalThis as { Bun?: BunLike }).Bun;
  if (value === undefined) throw new ConnectionError("Cannot use the Bun adapter: not on Bun");
  return value;
}

/** A Bun socket as the adapter's {@linkcode Conn}. */
class BunConn extends PushConn {
  #socket: BunSocketLike;
  /** What the socket did not take yet, in order; later writes queue behind it. */
  #unsent: Uint8Array[] = [];
  #isClosed: boolean;

  constructor(socket: BunSocketLike) {
    // A connection reset before Bun opened it has no peer address any more.
    super({ hostname: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 }, socket);
    this.#socket = socket;
    // Set here, not by an initializer: it changes at close (see ConnBase).
    this.#isClosed = false;
  }

  /** Bun's `write` is unbuffered: it takes what it can (-1 once closed); the rest waits. */
  write(bytes: Uint8Array): Promise<void> {
    if (this.closing) return Promise.reject(this.closedError());
    const pending = this.pendingDrain;
    if (pending !== undefined) {
      this.#unsent.push(bytes);
      return pending;
    }
    const written = this.#socket.write(bytes);
    if (written === bytes.byteLength) return DONE;
    if (written < 0) {
      this.shutdown();
      return Promise.reject(this.closedError());
    }
    this.#unsent.push(bytes.subarray(written));
    return this.waitForDrain();
  }

  closeWrite(): Promise<void> {
    if (this.closing) return Promise.reject(this.closedError());
    return (this.pendingDrain ?? DONE).then(() => {
      if (this.closing) throw this.closedError();
      try {
        this.#socket.shutdown();
      } catch (err) {
        this.shutdown();
        throw toConnectionError(`Cannot close the connection to ${this.label}`, err);
      }
      this.writeEnded();
    });
  }

  unref(): void {
    this.#socket.unref?.();
  }

  ref(): void {
    this.#socket.ref?.();
  }

  /** Bun's `drain`: send what waits, in order. */
  onDrain(): void {
    const unsent = this.#unsent;
    while (unsent.length > 0) {
      const chunk = unsent[0]!;
      const written = this.#socket.write(chunk);
      if (written < 0) {
        this.shutdown();
        return;
      }
      if (written < chunk.byteLength) {
        unsent[0] = chunk.subarray(written);
        return;
      }
      unsent.shift();
    }
    this.drained();
  }

  /** Bun's `data`. */
  onData(data: Uint8Array): void {
    this.input.push(data);
  }

  /** Bun's `end`: the peer sent FIN. */
  onEnd(): void {
    this.peerEnded();
  }

  /** Bun's `error`. */
  onError(err: unknown): void {
    this.failed(err);
  }

  /** Bun's `close`: the socket is gone. */
  onClose(err?: unknown): void {
    this.#isClosed = true;
    if (err !== undefined && err !== null) this.failed(err);
    else this.shutdown();
    this.markClosed();
  }

  /**
   * Ends the socket; `closed` resolves when Bun reports it closed. A TLS socket's `end()` also
   * waits for the peer to close (Bun 1.4: 12 s when the peer keeps its side open), so a TLS
   * connection counts as closed at once: its socket finishes closing in the background, without
   * keeping the process alive.
   */
  protected release(): void {
    this.#unsent = [];
    if (this.#isClosed) return;
    const socket = this.#socket;
    try {
      socket.end();
    } catch {
      // Already closed.
    }
    if (!this.#isClosed && socket.data.tls) {
      socket.unref?.();
      this.markClosed();
    }
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
    const conn = new BunConn(socket);
    state.conn = conn;
    if (state.pending?.cancelled) {
      void conn.close();
      return;
    }
    if (!state.tls) opened(state, conn);
  },
  handshake(socket, success, authorizationError) {
    const state = socket.data;
    const conn = state.conn;
    if (conn === undefined) return;
    // Servers request no client certificate, so Bun reports an authorization error there.
    if (success && (authorizationError === null || state.verify !== true)) {
      opened(state, conn);
      return;
    }
    const pending = state.pending;
    state.pending = undefined;
    pending?.reject(authorizationError ?? new Error("TLS handshake failed"));
    void conn.close();
  },
  data(socket, data) {
    socket.data.conn?.onData(data);
  },
  drain(socket) {
    socket.data.conn?.onDrain();
  },
  end(socket) {
    socket.data.conn?.onEnd();
  },
  error(socket, error) {
    const state = socket.data as SocketState | undefined;
    failPending(state, error);
    state?.conn?.onError(error);
  },
  connectError(socket, error) {
    failPending(socket.data as SocketState | undefined, error);
  },
  close(socket, error) {
    const state = socket.data as SocketState | undefined;
    if (state?.pending !== undefined) failPending(state, error ?? new Error("connection closed"));
    state?.conn?.onClose(error);
  },
};

function opened(state: SocketState, conn: BunConn): void {
  const pending = state.pending;
  state.pending = undefined;
  if (pending !== undefined) pending.resolve(conn);
  else state.queue?.push(conn);
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
export function connectBun(options: ConnectOptions): Promise<Transport> {
  const { hostname, port, tls } = options;
  return connectConn(options, () => {
    const state: SocketState = {
      tls: tls !== undefined,
      verify: tls !== undefined && tls.insecureSkipVerify !== true,
    };
    const promise = new Promise<Conn>((resolve, reject) => {
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
        void state.conn?.close();
      },
      // The socket opens (and gets its connection) before a TLS handshake starts.
      phase: () => state.tls && state.conn !== undefined ? "tls" : "tcp",
    };
  });
}

/**
 * Binds a TCP listener with `Bun.listen`, or a TLS listener (1.2 minimum) with Bun's
 * `node:net` / `node:tls`, as `listenNode` of `@dflock/dflock/transport/node` does: every TCP
 * connection is handed out before any TLS byte and the handshake runs on the first read or
 * write. The `node:` modules are loaded on the first TLS listen, never for plain TCP.
 *
 * `Bun.listen({ tls })` is not used for TLS: its sockets open before the handshake, but a write
 * before the handshake completes is refused (returns 0) rather than queued, so an answer to a
 * client that never finishes its handshake (the read-timeout `error`) would block until the
 * write timeout instead of being dropped with the connection.
 *
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
  return listenConns(options, () => {
    const queue = new AcceptQueue();
    const server = bun().listen({
      hostname: options.hostname,
      port: options.port,
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
    return queue.bound({ hostname: server.hostname, port: server.port }, () => server.stop(false));
  });
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
