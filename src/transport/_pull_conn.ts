/**
 * Internal: {@linkcode PullConn}, a connection over a socket the reader pulls from (Deno's
 * `Conn`): each read fills a buffer the caller passes, and a write may take only part of a
 * chunk. The counterpart of `_push_conn.ts`, for sockets that push.
 *
 * @module
 */

import { type Conn, ConnBase } from "./_conn.ts";
import { ChunkSlab } from "./_chunk_slab.ts";
import { concurrentReadError, toConnectionError } from "./_errors.ts";
import type { NetAddr } from "./types.ts";

/** A socket read into the caller's buffer; the part of `Deno.Conn` (and `Deno.TlsConn`) used. */
export interface PullSocket {
  /** Fills the start of `buffer`: resolves the byte count, `null` at EOF; rejects on failure. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes the start of `data`: resolves how many bytes it took; rejects on failure. */
  write(data: Uint8Array): Promise<number>;
  /** Sends FIN. */
  closeWrite(): Promise<void>;
  /** Closes the socket; a pending read then fails or resolves `null`. */
  close(): void;
  ref?(): void;
  unref?(): void;
}

/**
 * Read buffer sizes: each connection starts small (every open connection keeps a read pending
 * in its buffer, so at 10 000 held locks 1 KiB each was 10 MiB; a request is a few dozen bytes)
 * and doubles its buffer whenever a read fills it, up to the maximum. Each chunk handed out is a
 * copy of just the bytes read ({@linkcode ChunkSlab}).
 */
const MIN_READ_BUFFER = 256;
const MAX_READ_BUFFER = 64 * 1024;

/** A {@linkcode PullSocket} as the adapter's {@linkcode Conn}. */
export class PullConn extends ConnBase implements Conn {
  #socket: PullSocket;
  #scratch: Uint8Array | undefined;
  #chunks: ChunkSlab | undefined;
  #reading = false;
  #readDone: boolean;
  /** Writes not settled yet; each waits for the one before it (`#lastWrite`). */
  #writes = 0;
  #lastWrite: Promise<void> | undefined;
  #closing: boolean;

  /**
   * @param socket The socket; the connection owns it from now on.
   * @param remoteAddr The peer's address.
   */
  constructor(socket: PullSocket, remoteAddr: NetAddr) {
    super(remoteAddr);
    this.#socket = socket;
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
    return this.#socket.read(scratch).then(settled, settled);
  }

  /**
   * Both outcomes of the socket's read, in one callback per connection (a byte count or `null`,
   * else the error): each callback a connection keeps costs memory, and a server keeps
   * thousands.
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
    // The socket may take part of a chunk: a write waits for the one before it, so bytes of
    // concurrent writes never interleave.
    if (this.#writes++ > 0) return this.#lastWrite = this.#send(bytes, this.#lastWrite);
    // Nothing in flight: the socket's write with one callback per connection, no async frame
    // per write (an allocation and a turn each); `#send` only for the rest of a partial write.
    this.#written = bytes;
    const settled = this.#onWriteSettled ??= (result) =>
      typeof result === "number" ? this.#wroteFirst(result) : this.#writeFailed(result);
    let writing: Promise<number>;
    try {
      writing = this.#socket.write(bytes);
    } catch (err) {
      writing = Promise.reject(err); // a socket that throws: the count still comes down
    }
    return this.#lastWrite = writing.then(settled, settled);
  }

  /** The chunk of the write started with nothing in flight, until the socket took all of it. */
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
      let written = await this.#socket.write(bytes);
      while (written < bytes.byteLength) {
        written += await this.#socket.write(bytes.subarray(written));
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
      await this.#socket.closeWrite();
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
    // A pending read of an unref'd socket does not keep the process alive either (Deno's).
    this.#socket.unref?.();
  }

  ref(): void {
    this.#socket.ref?.();
  }

  /** Closes the socket once; a pending read then resolves `null`. */
  #shutdown(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#readDone = true;
    try {
      this.#socket.close();
    } catch {
      // Already closed.
    }
    this.markClosed();
  }
}
