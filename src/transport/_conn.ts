/**
 * Internal: the contract every runtime adapter implements, and the one place that turns it into
 * the public {@linkcode Transport} and {@linkcode Listener}.
 *
 * An adapter provides a connection as a byte channel ({@linkcode Conn}: `read`, `write`,
 * `closeWrite`, `close`, `closed`, `remoteAddr`, optional `ref` / `unref`) and a listening
 * socket ({@linkcode ConnListener}: `accept`, `close`, `addr`). {@linkcode transportOf} builds
 * the web streams on top of any `Conn`, only when they are first used; `channel()` hands out the
 * `Conn` itself, so the server and the client (which read and write through the channel) pay for
 * no layer in between.
 *
 * @module
 */

import { ConnectionError } from "../errors.ts";
import { type ConnectAttempt, guardConnect } from "./_connect_guard.ts";
import { checkAddr, formatAddr, toConnectionError } from "./_errors.ts";
import type {
  ByteChannel,
  ConnectOptions,
  Listener,
  ListenOptions,
  NetAddr,
  Transport,
} from "./types.ts";

/**
 * One connection as an adapter provides it. `read` and `write` follow {@linkcode ByteChannel}:
 * one read outstanding at a time (a second concurrent read rejects with a `TypeError`), `null`
 * at the peer's EOF or once closed locally, `ConnectionError` on a reset or a write after close.
 */
export interface Conn extends ByteChannel {
  /** The peer's address. */
  readonly remoteAddr: NetAddr;
  /** Resolves once the connection is fully closed, whichever side closed it. Never rejects. */
  readonly closed: Promise<void>;
  /**
   * Half-close: sends what was written, then FIN, and keeps reading. Called after the last
   * write settled. Rejects with a `ConnectionError` once the connection is closed.
   */
  closeWrite(): Promise<void>;
  /** Closes both directions and releases the socket; resolves with `closed`. Idempotent. */
  close(): Promise<void>;
  /** Lets the process exit while this connection is open. */
  ref?(): void;
  /** Undoes {@linkcode Conn.unref}. */
  unref?(): void;
}

/** A listening socket as an adapter provides it. */
export interface ConnListener {
  /** The bound address. */
  readonly addr: NetAddr;
  /**
   * The next accepted connection; `null` once the listener is closed. Called by one consumer at
   * a time (the iterator {@linkcode listenerOf} builds).
   */
  accept(): Promise<Conn | null>;
  /** Stops accepting; a pending `accept` resolves `null`. Idempotent. */
  close(): void;
}

/** A resolved promise, for writes the socket took at once (and a connection closed already). */
export const DONE: Promise<void> = Promise.resolve();

/**
 * What every adapter's connection shares: `closed`, the peer's address (and its `host:port`
 * label for messages), and one error for every write after close.
 */
export abstract class ConnBase {
  /** The peer's address. */
  readonly remoteAddr: NetAddr;
  /** Made on first use: a server holds thousands of connections that nobody awaits. */
  #closed: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;
  #isClosed: boolean;
  #closedErr: ConnectionError | undefined;

  /** @param remoteAddr The peer's address. */
  constructor(remoteAddr: NetAddr) {
    this.remoteAddr = remoteAddr;
    // Flags that change at close are set here, not by an initializer (which would let V8 treat
    // them as constant until the first close, then discard the code that read them): see
    // docs/performance.md, "The first close".
    this.#isClosed = false;
  }

  /** The peer's `host:port`, for messages (made when one is needed). */
  protected get label(): string {
    return formatAddr(this.remoteAddr);
  }

  /** Resolves once the connection is fully closed. Never rejects. */
  get closed(): Promise<void> {
    return this.#closed ??= this.#isClosed
      ? DONE
      : new Promise((resolve) => this.#resolveClosed = resolve);
  }

  /** Resolves `closed`. */
  protected markClosed(): void {
    this.#isClosed = true;
    this.#resolveClosed?.();
  }

  /** The error of a write after close; one per connection (building one costs a stack). */
  protected closedError(): ConnectionError {
    return this.#closedErr ??= new ConnectionError(
      `Cannot write to ${this.label}: connection closed`,
    );
  }
}

/** A promise with its settle functions, for writes waiting on a socket's drain. */
export interface Deferred {
  /** Settles with the functions below. */
  readonly promise: Promise<void>;
  /** Fulfils the promise. */
  resolve(): void;
  /** Rejects the promise. */
  reject(err: unknown): void;
}

/**
 * Creates a {@linkcode Deferred}.
 */
export function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * The public {@linkcode Transport} over an adapter's {@linkcode Conn}: web streams on demand,
 * excluding the channel and the other way round.
 */
class ConnTransport implements Transport {
  readonly #conn: Conn;
  #channelOpen = false;
  #readable: ReadableStream<Uint8Array> | undefined;
  #writable: WritableStream<Uint8Array> | undefined;
  #writeController: WritableStreamDefaultController | undefined;
  #readDone = false;
  #writeDone = false;

  constructor(conn: Conn) {
    this.#conn = conn;
  }

  get closed(): Promise<void> {
    return this.#conn.closed;
  }

  get remoteAddr(): NetAddr {
    return this.#conn.remoteAddr;
  }

  get readable(): ReadableStream<Uint8Array> {
    if (this.#readable !== undefined) return this.#readable;
    this.#refuseWhenChannelOpen();
    const conn = this.#conn;
    // High-water mark 0: bytes are pulled only for a waiting read, so a server-side TLS
    // handshake that starts on the first read does not start when the stream is created.
    this.#readable = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const chunk = await conn.read();
        try {
          if (chunk !== null) {
            controller.enqueue(chunk);
            return;
          }
          controller.close();
        } catch {
          // The consumer cancelled the stream while the read was pending.
        }
        this.#readDone = true;
        this.#closeWhenBothDone();
      },
      cancel: () => {
        this.#readDone = true;
        this.#closeWhenBothDone();
      },
    }, { highWaterMark: 0 });
    return this.#readable;
  }

  get writable(): WritableStream<Uint8Array> {
    if (this.#writable !== undefined) return this.#writable;
    this.#refuseWhenChannelOpen();
    const conn = this.#conn;
    this.#writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.#writeController = controller;
      },
      write: (chunk) => conn.write(chunk),
      close: async () => {
        await conn.closeWrite();
        this.#writeDone = true;
        this.#closeWhenBothDone();
      },
      abort: () => {
        void conn.close();
      },
    });
    // Once the connection is gone, a writer learns it without having to write first.
    void conn.closed.then(() => {
      if (this.#writeDone) return;
      this.#writeController?.error(
        new ConnectionError(`Cannot write to ${formatAddr(conn.remoteAddr)}: connection closed`),
      );
    });
    return this.#writable;
  }

  channel(): ByteChannel {
    if (this.#readable !== undefined || this.#writable !== undefined) {
      throw new TypeError(
        "Cannot open the transport's channel: its readable or writable stream is in use; " +
          "use either the streams or the channel",
      );
    }
    this.#channelOpen = true;
    return this.#conn;
  }

  close(): Promise<void> {
    return this.#conn.close();
  }

  ref(): void {
    this.#conn.ref?.();
  }

  unref(): void {
    this.#conn.unref?.();
  }

  #refuseWhenChannelOpen(): void {
    if (this.#channelOpen) {
      throw new TypeError(
        "Cannot use the transport's streams: its channel() is in use; use either the streams " +
          "or the channel",
      );
    }
  }

  /** Both directions finished through the streams: the connection is done. */
  #closeWhenBothDone(): void {
    if (this.#readDone && this.#writeDone) void this.#conn.close();
  }
}

/**
 * Builds the public {@linkcode Transport} of an adapter's connection.
 *
 * @param conn The connection; the transport owns it from now on.
 */
export function transportOf(conn: Conn): Transport {
  return new ConnTransport(conn);
}

/** The public {@linkcode Listener} over an adapter's {@linkcode ConnListener}. */
class ConnListenerIterable implements Listener {
  readonly #source: ConnListener;

  constructor(source: ConnListener) {
    this.#source = source;
  }

  get addr(): NetAddr {
    return this.#source.addr;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Transport> {
    // Ends when the listener closes: accept() then resolves null.
    for (;;) {
      const conn = await this.#source.accept();
      if (conn === null) return;
      yield new ConnTransport(conn);
    }
  }

  close(): Promise<void> {
    this.#source.close();
    return Promise.resolve();
  }
}

/**
 * Builds the public {@linkcode Listener} of an adapter's listening socket.
 *
 * @param source The listening socket; the listener owns it from now on.
 */
export function listenerOf(source: ConnListener): Listener {
  return new ConnListenerIterable(source);
}

/**
 * An adapter's `connect`: validates the address, runs the platform attempt under the signal and
 * timeout of `options` (see `guardConnect`) and builds the {@linkcode Transport} of the
 * connection.
 *
 * @param start Starts the platform attempt; gets the error message prefix
 *   (`Cannot connect to host:port`).
 * @throws {TypeError} When the hostname is not a non-empty string.
 * @throws {RangeError} When the port is not an integer from 0 to 65535.
 */
export async function connectConn(
  options: ConnectOptions,
  start: (action: string) => ConnectAttempt<Conn>,
): Promise<Transport> {
  const { hostname, port } = options;
  checkAddr(hostname, port);
  const action = `Cannot connect to ${formatAddr({ hostname, port })}`;
  const conn = await guardConnect<Conn>(
    { signal: options.signal, timeoutMs: options.timeoutMs, action },
    () => start(action),
    (late) => void late.close(),
  );
  return new ConnTransport(conn);
}

/**
 * An adapter's `listen`: validates the address and binds with `bind`, or, with TLS, with the
 * `node:net` / `node:tls` listener of `_node_socket.ts`, loaded only then (dynamic `import()`),
 * so a Deno or Bun program that never listens with TLS never loads a `node:` module.
 *
 * @param bind Binds a plain TCP listener with the runtime's API; may throw the platform error.
 * @param noReadPause For TLS: never pause accepted sockets (see `listenSockets`).
 * @throws {ConnectionError} When binding fails.
 */
export async function listenConns(
  options: ListenOptions,
  bind: () => ConnListener,
  noReadPause = false,
): Promise<Listener> {
  const { hostname, port } = options;
  checkAddr(hostname, port);
  if (options.tls !== undefined) {
    return (await import("./_node_socket.ts")).listenSockets(options, noReadPause);
  }
  try {
    return new ConnListenerIterable(bind());
  } catch (err) {
    throw toConnectionError(`Cannot listen on ${formatAddr({ hostname, port })}`, err);
  }
}
