/**
 * The Deno transport adapter: `Deno.connect` / `Deno.startTls` and `Deno.listen` as the adapter
 * contract of `_conn.ts`, from which the shared helper builds the public web-streams
 * {@linkcode Transport}. Compiles without Deno's type package: the few members it uses are
 * declared below as `*Like` interfaces and `Deno` is read from `globalThis`. Loads no `node:`
 * module, except for TLS listening (see {@linkcode listenDeno}).
 *
 * @module
 */

import { ConnectionError } from "../errors.ts";
import { type Conn, ConnBase, connectConn, type ConnListener, listenConns } from "./_conn.ts";
import { ChunkSlab } from "./_chunk_slab.ts";
import { acceptErrorAction, concurrentReadError, toConnectionError } from "./_errors.ts";
import type {
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
 * Read buffer sizes: each connection starts small (every open connection keeps a read pending
 * in its buffer, so at 10 000 held locks 1 KiB each was 10 MiB; a request is a few dozen bytes)
 * and doubles its buffer whenever a read fills it, up to the maximum. Each chunk handed out is a
 * copy of just the bytes read ({@linkcode ChunkSlab}).
 */
const MIN_READ_BUFFER = 256;
const MAX_READ_BUFFER = 64 * 1024;

/**
 * The accept loop's pause after an error that is not about one connection (out of file
 * descriptors, unknown): from the first to the last value, doubling, until an accept succeeds.
 */
const ACCEPT_BACKOFF_MIN_MS = 5;
const ACCEPT_BACKOFF_MAX_MS = 100;

function deno(): DenoLike {
  const value = (globalThis as { Deno?: DenoLike }).Deno;
  if (value === undefined) throw new ConnectionError("Cannot use the Deno adapter: not on Deno");
  return value;
}

function setNoDelay(conn: DenoConnLike): void {
  try {
    conn.setNoDelay?.(true);
  } catch {
    // Not every connection kind supports it.
  }
}

/** A `Deno.Conn` as the adapter's {@linkcode Conn}. */
class DenoConn extends ConnBase implements Conn {
  #conn: DenoConnLike;
  #scratch: Uint8Array | undefined;
  #chunks: ChunkSlab | undefined;
  #reading = false;
  #readDone: boolean;
  /** Writes not settled yet; each waits for the one before it (`#lastWrite`). */
  #writes = 0;
  #lastWrite: Promise<void> | undefined;
  #closing: boolean;

  constructor(conn: DenoConnLike) {
    super({ hostname: conn.remoteAddr.hostname, port: conn.remoteAddr.port });
    this.#conn = conn;
    // Set here, not by initializers: they change at close (see ConnBase).
    this.#readDone = false;
    this.#closing = false;
  }

  /**
   * Reads one chunk into a scratch buffer that grows while reads fill it, and hands out a copy;
   * `null` at EOF or once closed locally. Rejects with a `ConnectionError` on a reset (and
   * closes), with a `TypeError` while another read is pending (it would share the buffer).
   *
   * Not an async function: the read's one callback is made once per connection, where an async
   * frame per read cost 5% of the client's CPU.
   */
  read(): Promise<Uint8Array | null> {
    if (this.#reading) return Promise.reject(concurrentReadError());
    if (this.#readDone) return Promise.resolve(null);
    const scratch = this.#scratch ??= new Uint8Array(MIN_READ_BUFFER);
    this.#reading = true;
    const settled = this.#onReadSettled ??= (result) =>
      typeof result === "number" || result === null
        ? this.#readDoneWith(result)
        : this.#readFailed(result);
    return this.#conn.read(scratch).then(settled, settled);
  }

  /**
   * Both outcomes of Deno's read, in one callback per connection (a byte count or `null`, else
   * the error): each callback a connection keeps costs memory, and a server keeps thousands.
   */
  #onReadSettled: ((result: unknown) => Uint8Array | null) | undefined;

  /** The read into the scratch buffer finished: `n` bytes, or `null` at EOF. */
  #readDoneWith(n: number | null): Uint8Array | null {
    this.#reading = false;
    if (this.#readDone) return null;
    if (n === null) {
      this.#readDone = true;
      return null;
    }
    const scratch = this.#scratch!;
    if (n === scratch.byteLength && n < MAX_READ_BUFFER) this.#scratch = new Uint8Array(n * 2);
    return (this.#chunks ??= new ChunkSlab()).copy(scratch, n);
  }

  /** The read failed: `null` when closing locally, else the connection ends with the error. */
  #readFailed(err: unknown): null {
    this.#reading = false;
    if (this.#readDone) return null;
    this.#readDone = true;
    const closing = this.#closing;
    this.#shutdown();
    if (closing) return null;
    throw toConnectionError(`Cannot read from ${this.label}`, err);
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#closing) return Promise.reject(this.closedError());
    // Deno may write part of a chunk: a write waits for the one before it, so bytes of
    // concurrent writes never interleave.
    if (this.#writes++ > 0) return this.#lastWrite = this.#send(bytes, this.#lastWrite);
    // Nothing in flight: Deno's write with one callback per connection, no async frame per
    // write (an allocation and a turn each); `#send` only for the rest of a partial write.
    this.#written = bytes;
    const settled = this.#onWriteSettled ??= (result) =>
      typeof result === "number" ? this.#wroteFirst(result) : this.#writeFailed(result);
    let writing: Promise<number>;
    try {
      writing = this.#conn.write(bytes);
    } catch (err) {
      writing = Promise.reject(err); // Deno rejects instead; the count still comes down
    }
    return this.#lastWrite = writing.then(settled, settled);
  }

  /** The chunk of the write started with nothing in flight, until Deno has taken all of it. */
  #written: Uint8Array | undefined;
  /** Both outcomes of that write (a byte count, else the error), as for reads. */
  #onWriteSettled: ((result: unknown) => Promise<void> | undefined) | undefined;

  #wroteFirst(n: number): Promise<void> | undefined {
    const bytes = this.#written!;
    this.#written = undefined;
    if (n < bytes.byteLength) return this.#send(bytes.subarray(n), undefined);
    this.#writes--;
    return undefined;
  }

  #writeFailed(err: unknown): never {
    this.#written = undefined;
    this.#writes--;
    return this.#writeError(err);
  }

  /** A write failed: the closed error when closing, else the connection ends with `err`. */
  #writeError(err: unknown): never {
    if (this.#closing) throw this.closedError();
    this.#shutdown();
    throw toConnectionError(`Cannot write to ${this.label}`, err);
  }

  async #send(bytes: Uint8Array, before: Promise<void> | undefined): Promise<void> {
    try {
      if (before !== undefined) {
        await before.catch(() => {});
        if (this.#closing) throw this.closedError();
      }
      let written = await this.#conn.write(bytes);
      while (written < bytes.byteLength) {
        written += await this.#conn.write(bytes.subarray(written));
      }
    } catch (err) {
      this.#writeError(err);
    } finally {
      this.#writes--;
    }
  }

  async closeWrite(): Promise<void> {
    if (this.#writes > 0) await this.#lastWrite?.catch(() => {});
    if (this.#closing) throw this.closedError();
    try {
      await this.#conn.closeWrite();
    } catch (err) {
      if (this.#closing) throw this.closedError();
      this.#shutdown();
      throw toConnectionError(`Cannot close the connection to ${this.label}`, err);
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

  /** Closes the socket once; a pending read then resolves `null`. */
  #shutdown(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#readDone = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    this.markClosed();
  }
}

/**
 * Opens a TCP or TLS connection with Deno's APIs.
 *
 * TLS uses `Deno.connect` then `Deno.startTls`, so no-delay is set on the TCP socket and
 * `serverName` is honoured. `insecureSkipVerify` is not supported by Deno's per-connection API.
 *
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
export function connectDeno(options: ConnectOptions): Promise<Transport> {
  const { hostname, port, tls } = options;
  return connectConn(options, (action) => {
    if (tls?.insecureSkipVerify) {
      throw new ConnectionError(`${action}: insecureSkipVerify is not supported on Deno`);
    }
    const controller = new AbortController();
    let tcp: DenoConnLike | undefined;
    const promise = (async (): Promise<Conn> => {
      tcp = await deno().connect({ hostname, port, transport: "tcp", signal: controller.signal });
      if (controller.signal.aborted) {
        tcp.close();
        throw new ConnectionError(`${action}: cancelled`);
      }
      setNoDelay(tcp);
      if (tls === undefined) return new DenoConn(tcp);
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
      return new DenoConn(secure);
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
  });
}

/** A `Deno.Listener` as the adapter's {@linkcode ConnListener}. */
class DenoListener implements ConnListener {
  readonly addr: NetAddr;
  #listener: DenoListenerLike;
  #closed = false;

  constructor(listener: DenoListenerLike) {
    this.#listener = listener;
    this.addr = { hostname: listener.addr.hostname, port: listener.addr.port };
  }

  /**
   * Accepts the next connection. An error about one connection (the client reset it before it
   * was accepted: Deno then fails with `NotConnected`) is skipped at once, so it never delays
   * the connections behind it; only errors that are not about one connection (out of file
   * descriptors) pause the loop, briefly.
   */
  async accept(): Promise<Conn | null> {
    let backoffMs = 0;
    while (!this.#closed) {
      let conn: DenoConnLike;
      try {
        conn = await this.#listener.accept();
      } catch (err) {
        const action = this.#closed ? "closed" : acceptErrorAction(err);
        if (action === "closed") return null;
        if (action === "skip") continue;
        backoffMs = Math.min(Math.max(backoffMs * 2, ACCEPT_BACKOFF_MIN_MS), ACCEPT_BACKOFF_MAX_MS);
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
        continue;
      }
      if (this.#closed) {
        conn.close();
        return null;
      }
      setNoDelay(conn);
      return new DenoConn(conn);
    }
    return null;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * Binds a TCP listener with `Deno.listen`, or a TLS listener (1.2 minimum) with Deno's
 * `node:net` / `node:tls`, as `listenNode` of `@dflock/dflock/transport/node` does: every TCP
 * connection is handed out before any TLS byte and the handshake runs on the first read or
 * write. The `node:` modules are loaded on the first TLS listen, never for plain TCP.
 *
 * `Deno.listenTls` is not used: its accept also returns before the handshake, but closing such
 * a connection before the handshake completes leaves the TCP connection open (Deno 2.x), so a
 * connection refused by `max_connections` or timed out mid-handshake would never be closed.
 * Deno's `node:tls` also loses the peer's EOF if it arrives while the socket is paused, so
 * accepted TLS connections are read without flow control.
 *
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
  const bind = (): DenoListener =>
    new DenoListener(
      deno().listen({ hostname: options.hostname, port: options.port, transport: "tcp" }),
    );
  return listenConns(options, bind, true);
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
