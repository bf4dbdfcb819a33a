/**
 * The Deno transport adapter: `Deno.connect` / `Deno.startTls` and `Deno.listen` /
 * `Deno.listenTls`. Compiles without Deno's type package: the few members it uses are declared
 * below as `*Like` interfaces and `Deno` is read from `globalThis`.
 *
 * @module
 */

import { ConnectionError } from "../errors.ts";
import { guardConnect } from "./_connect_guard.ts";
import { checkAddr, formatAddr, toConnectionError } from "./_errors.ts";
import { listenNode } from "./node.ts";
import type {
  ByteChannel,
  ConnectOptions,
  Listener,
  ListenOptions,
  NetAddr,
  Transport,
  TransportAdapter,
} from "./types.ts";

/** The part of `Deno.Conn` (and `Deno.TlsConn`) used here. */
interface DenoConnLike {
  readonly remoteAddr: { hostname: string; port: number };
  read(buffer: Uint8Array): Promise<number | null>;
  write(data: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
  setNoDelay?(noDelay?: boolean): void;
  handshake?(): Promise<unknown>;
  ref?(): void;
  unref?(): void;
}

/** The part of `Deno.Listener` used here. */
interface DenoListenerLike {
  readonly addr: { hostname: string; port: number };
  accept(): Promise<DenoConnLike>;
  close(): void;
}

/** The part of the `Deno` namespace used here. */
interface DenoLike {
  connect(options: {
    hostname: string;
    port: number;
    transport: "tcp";
    signal?: AbortSignal;
  }): Promise<DenoConnLike>;
  startTls(
    conn: DenoConnLike,
    options: { hostname: string; caCerts?: string[] },
  ): Promise<DenoConnLike>;
  listen(options: { hostname: string; port: number; transport: "tcp" }): DenoListenerLike;
}

/**
 * Read buffer sizes: each connection starts small (an idle connection holding a lock should
 * cost little memory: 1 KiB instead of 4 KiB took 10 000 held locks from 15.7 to 13.5 KiB
 * each) and doubles its buffer whenever a read fills it, up to the maximum. Each chunk handed
 * out is a copy of just the bytes read.
 */
const MIN_READ_BUFFER = 1024;
const MAX_READ_BUFFER = 64 * 1024;

function deno(): DenoLike {
  const value = (globalThis as { Deno?: DenoLike }).Deno;
  if (value === undefined) throw new ConnectionError("Cannot use the Deno adapter: not on Deno");
  return value;
}

function setNoDelay(conn: DenoConnLike): void {
  try {
    conn.setNoDelay?.(true);
  } catch {
    // Not every connection kind supports it (Deno's accepted TLS connections do not).
  }
}

/** A `Deno.Conn` as a {@linkcode Transport}. */
class DenoTransport implements Transport {
  readonly closed: Promise<void>;
  readonly remoteAddr: NetAddr;
  #conn: DenoConnLike;
  #label: string;
  #readable: ReadableStream<Uint8Array> | undefined;
  #writable: WritableStream<Uint8Array> | undefined;
  #channel: ByteChannel | undefined;
  #scratch: Uint8Array | undefined;
  #readController: ReadableStreamDefaultController<Uint8Array> | undefined;
  #writeController: WritableStreamDefaultController | undefined;
  #readDone = false;
  #readPending = false;
  #writeDone = false;
  #closedErr: ConnectionError | undefined;
  #closing = false;
  #resolveClosed!: () => void;

  constructor(conn: DenoConnLike) {
    this.#conn = conn;
    this.remoteAddr = { hostname: conn.remoteAddr.hostname, port: conn.remoteAddr.port };
    this.#label = formatAddr(this.remoteAddr);
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  get readable(): ReadableStream<Uint8Array> {
    if (this.#readable !== undefined) return this.#readable;
    if (this.#channel !== undefined) throw new TypeError("The transport's channel() is in use");
    return this.#readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#readController = controller;
      },
      pull: async (controller) => {
        let chunk: Uint8Array | null;
        try {
          chunk = await this.#read();
        } catch (err) {
          controller.error(err);
          return;
        }
        if (chunk !== null) {
          controller.enqueue(chunk);
          return;
        }
        try {
          controller.close();
        } catch {
          // Already closed by a local close.
        }
      },
      cancel: () => {
        this.#readDone = true;
        this.#maybeClosed();
      },
    });
  }

  get writable(): WritableStream<Uint8Array> {
    if (this.#writable !== undefined) return this.#writable;
    if (this.#channel !== undefined) throw new TypeError("The transport's channel() is in use");
    return this.#writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.#writeController = controller;
      },
      write: (chunk) => this.#write(chunk),
      close: async () => {
        try {
          if (!this.#closing) await this.#conn.closeWrite();
        } catch (err) {
          if (!this.#closing) {
            this.#shutdown();
            throw toConnectionError(`Cannot close the connection to ${this.#label}`, err);
          }
        }
        this.#writeDone = true;
        this.#maybeClosed();
      },
      abort: () => {
        this.#shutdown();
      },
    });
  }

  channel(): ByteChannel {
    if (this.#readable !== undefined || this.#writable !== undefined) {
      throw new TypeError("The transport's streams are in use");
    }
    return this.#channel ??= {
      read: () => this.#read(),
      write: (bytes) => this.#write(bytes),
    };
  }

  /**
   * Reads one chunk into a scratch buffer that grows while reads fill it; `null` at EOF or once
   * closed locally. Rejects with a `ConnectionError` on a reset (and closes).
   */
  async #read(): Promise<Uint8Array | null> {
    // Reads share one scratch buffer: a second read while one is pending would clobber it.
    if (this.#readPending) throw new TypeError("A read is already pending");
    if (this.#readDone) return null;
    const scratch = this.#scratch ??= new Uint8Array(MIN_READ_BUFFER);
    let n: number | null;
    this.#readPending = true;
    try {
      n = await this.#conn.read(scratch);
    } catch (err) {
      if (this.#readDone) return null;
      this.#readDone = true;
      const closing = this.#closing;
      this.#shutdown();
      if (closing) return null;
      throw toConnectionError(`Cannot read from ${this.#label}`, err);
    } finally {
      this.#readPending = false;
    }
    if (this.#readDone) return null;
    if (n === null) {
      this.#readDone = true;
      this.#maybeClosed();
      return null;
    }
    if (n === scratch.byteLength && n < MAX_READ_BUFFER) this.#scratch = new Uint8Array(n * 2);
    return scratch.slice(0, n);
  }

  async #write(chunk: Uint8Array): Promise<void> {
    if (this.#closing) throw this.#closedError();
    try {
      let written = await this.#conn.write(chunk);
      while (written < chunk.byteLength) {
        written += await this.#conn.write(chunk.subarray(written));
      }
    } catch (err) {
      if (this.#closing) throw this.#closedError();
      this.#shutdown();
      throw toConnectionError(`Cannot write to ${this.#label}`, err);
    }
  }

  close(): Promise<void> {
    this.#shutdown();
    return this.closed;
  }

  unref(): void {
    // A pending read of an unref'd Deno.Conn does not keep the process alive either.
    this.#conn.unref?.();
  }

  ref(): void {
    this.#conn.ref?.();
  }

  #closedError(): ConnectionError {
    // One error per transport: building one (and its stack) on every close path is measurable.
    return this.#closedErr ??= new ConnectionError(
      `Cannot write to ${this.#label}: connection closed`,
    );
  }

  #maybeClosed(): void {
    if (this.#readDone && this.#writeDone) this.#shutdown();
  }

  /** Closes everything once; ends the readable quietly and errors pending writes. */
  #shutdown(): void {
    if (this.#closing) return;
    this.#closing = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    if (!this.#readDone) {
      this.#readDone = true;
      try {
        this.#readController?.close();
      } catch {
        // Already closed or errored.
      }
    }
    if (!this.#writeDone) {
      this.#writeDone = true;
      this.#writeController?.error(this.#closedError());
    }
    this.#resolveClosed();
  }
}

/**
 * Opens a TCP or TLS connection with Deno's APIs.
 *
 * TLS uses `Deno.connect` then `Deno.startTls`, so no-delay is set on the TCP socket and
 * `serverName` is honoured. `insecureSkipVerify` is not supported by Deno's per-connection API.
 *
 * @param options Address, TLS settings, abort signal and timeout.
 * @returns The connection.
 * @throws {ConnectionError} When the connection fails or times out.
 * @throws {unknown} `options.signal.reason` when aborted.
 *
 * @example Connect with a deadline
 * ```ts
 * import { connectDeno } from "@dflock/dflock/transport/deno";
 *
 * const transport = await connectDeno({
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
export async function connectDeno(options: ConnectOptions): Promise<Transport> {
  const { hostname, port, tls } = options;
  checkAddr(hostname, port);
  const action = `Cannot connect to ${formatAddr({ hostname, port })}`;
  if (tls?.insecureSkipVerify) {
    throw new ConnectionError(`${action}: insecureSkipVerify is not supported on Deno`);
  }
  return await guardConnect<Transport>(
    { signal: options.signal, timeoutMs: options.timeoutMs, action },
    () => {
      const controller = new AbortController();
      let tcp: DenoConnLike | undefined;
      const promise = (async (): Promise<Transport> => {
        tcp = await deno().connect({
          hostname,
          port,
          transport: "tcp",
          signal: controller.signal,
        });
        if (controller.signal.aborted) {
          tcp.close();
          throw new ConnectionError(`${action}: cancelled`);
        }
        setNoDelay(tcp);
        if (tls === undefined) return new DenoTransport(tcp);
        const secure = await deno().startTls(tcp, {
          hostname: tls.serverName ?? hostname,
          ...(tls.caCerts !== undefined ? { caCerts: tls.caCerts } : {}),
        });
        try {
          await secure.handshake?.();
        } catch (err) {
          secure.close();
          throw err;
        }
        return new DenoTransport(secure);
      })();
      return {
        promise,
        cancel: () => {
          controller.abort();
          try {
            tcp?.close();
          } catch {
            // Already closed or handed to TLS.
          }
        },
        phase: () => tls !== undefined && tcp !== undefined ? "tls" : "tcp",
      };
    },
    (transport) => void transport.close(),
  );
}

/** A `Deno.Listener` as a {@linkcode Listener}. */
class DenoListener implements Listener {
  readonly addr: NetAddr;
  #listener: DenoListenerLike;
  #closed = false;

  constructor(listener: DenoListenerLike) {
    this.#listener = listener;
    this.addr = { hostname: listener.addr.hostname, port: listener.addr.port };
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Transport> {
    let backoffMs = 0;
    while (!this.#closed) {
      let conn: DenoConnLike;
      try {
        conn = await this.#listener.accept();
      } catch (err) {
        if (this.#closed || isListenerGone(err)) return;
        // Transient failure (e.g. out of file descriptors): back off like Go's accept loop.
        backoffMs = Math.min(Math.max(backoffMs * 2, 5), 1000);
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
        continue;
      }
      backoffMs = 0;
      if (this.#closed) {
        conn.close();
        return;
      }
      setNoDelay(conn);
      yield new DenoTransport(conn);
    }
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#listener.close();
      } catch {
        // Already closed.
      }
    }
    return Promise.resolve();
  }
}

function isListenerGone(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  return name === "BadResource" || name === "Interrupted";
}

/**
 * Binds a TCP listener with `Deno.listen`, or a TLS listener (1.2 minimum) with Deno's
 * `node:net` / `node:tls` (see {@linkcode listenNode}): every TCP connection is handed out
 * before any TLS byte and the handshake runs on the first read or write.
 *
 * `Deno.listenTls` is not used: its accept also returns before the handshake, but closing such
 * a connection before the handshake completes leaves the TCP connection open (Deno 2.x), so a
 * connection refused by `max_connections` or timed out mid-handshake would never be closed.
 * Deno's `node:tls` also loses the peer's EOF if it arrives while the socket is paused, so
 * accepted TLS connections are read without flow control (see {@linkcode listenNode}).
 *
 * @param options Address and TLS certificate.
 * @returns The listener.
 * @throws {ConnectionError} When binding fails (address in use, bad certificate).
 *
 * @example Accept connections on a free port
 * ```ts
 * import { listenDeno } from "@dflock/dflock/transport/deno";
 *
 * const listener = await listenDeno({ hostname: "127.0.0.1", port: 0 });
 * console.log(`listening on port ${listener.addr.port}`);
 * for await (const transport of listener) {
 *   await transport.close(); // a real server would read requests here
 *   break;
 * }
 * await listener.close();
 * ```
 */
export function listenDeno(options: ListenOptions): Promise<Listener> {
  const { hostname, port, tls } = options;
  try {
    checkAddr(hostname, port);
  } catch (err) {
    return Promise.reject(err);
  }
  if (tls !== undefined) return listenNode(options, true);
  try {
    const listener = deno().listen({ hostname, port, transport: "tcp" });
    return Promise.resolve(new DenoListener(listener));
  } catch (err) {
    return Promise.reject(
      toConnectionError(`Cannot listen on ${formatAddr({ hostname, port })}`, err),
    );
  }
}

/**
 * The Deno {@linkcode TransportAdapter}: {@linkcode connectDeno} and {@linkcode listenDeno}.
 *
 * @example Pin the server and client to the Deno adapter
 * ```ts
 * import { connect } from "@dflock/dflock";
 * import { serve } from "@dflock/dflock/server";
 * import { denoAdapter } from "@dflock/dflock/transport/deno";
 *
 * await using server = await serve({ port: 0, transport: denoAdapter });
 * await using conn = await connect({ port: server.addr.port, transport: denoAdapter });
 * console.log(conn.address);
 * ```
 */
export const denoAdapter: TransportAdapter = {
  runtime: "deno",
  connect: connectDeno,
  listen: listenDeno,
};
