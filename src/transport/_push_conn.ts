/**
 * Internal: what the Node and Bun adapters share. Their sockets push (Node's `onread` callbacks
 * or `data` events, Bun's `data` callbacks); {@linkcode PushQueue} turns that into one
 * pull-style `read()`, pausing the socket while too many bytes wait for the reader, and
 * {@linkcode PushConn} is the rest of a connection's life: writes waiting for the socket's drain,
 * half-close in each direction, and closing once.
 *
 * @module
 */

import { type Conn, ConnBase, type Deferred, deferred } from "./_conn.ts";
import { concurrentReadError, toConnectionError } from "./_errors.ts";
import type { NetAddr } from "./types.ts";

/** Bytes waiting for the reader before the socket is paused. */
export const READ_HIGH_WATER_MARK = 64 * 1024;

/** The flow control a push-style socket offers. */
export interface FlowControl {
  /** Stop delivering data. */
  pause(): void;
  /** Resume delivering data. */
  resume(): void;
}

interface PendingRead {
  resolve(chunk: Uint8Array | null): void;
  reject(err: unknown): void;
}

/**
 * Chunks pushed by a socket, handed to the reader as given (no copies). One read may be
 * outstanding; a second concurrent one rejects with a `TypeError`.
 */
export class PushQueue {
  #flow: FlowControl;
  #onFirstRead: (() => void) | undefined;
  #paused: boolean;
  #done: boolean;
  #failed: boolean;
  #error: unknown;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #pending: PendingRead | undefined;

  /**
   * @param flow Pauses and resumes the socket.
   * @param onFirstRead When given, reading is lazy: the socket must be paused until the first
   *   read, which calls this (e.g. to start a TLS handshake) and resumes the socket.
   */
  constructor(flow: FlowControl, onFirstRead?: () => void) {
    this.#flow = flow;
    this.#onFirstRead = onFirstRead;
    this.#paused = onFirstRead !== undefined;
    // Set here, not by initializers: they change at the end (see ConnBase).
    this.#done = false;
    this.#failed = false;
  }

  /** Whether the input has ended or failed. */
  get done(): boolean {
    return this.#done;
  }

  /** Whether the socket is paused (too many bytes wait, or nobody has read yet). */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * The next chunk; `null` once ended. Rejects with the socket's error after a failure, and with
   * a `TypeError` while another read is pending.
   *
   * @returns The chunk, or `null` at the end.
   */
  read(): Promise<Uint8Array | null> {
    if (this.#pending !== undefined) return Promise.reject(concurrentReadError());
    const chunk = this.#queue.shift();
    if (chunk !== undefined) {
      // The socket stays paused until the queue runs empty (see below).
      this.#queued -= chunk.byteLength;
      return Promise.resolve(chunk);
    }
    if (this.#failed) return Promise.reject(this.#error);
    if (this.#done) return Promise.resolve(null);
    this.#resume();
    return new Promise((resolve, reject) => this.#pending = { resolve, reject });
  }

  /** The reader wants data: run the first-read hook, resume a paused socket. */
  #resume(): void {
    const first = this.#onFirstRead;
    if (first !== undefined) {
      this.#onFirstRead = undefined;
      if (!this.#done) first();
    }
    if (this.#paused && !this.#done) {
      this.#paused = false;
      this.#flow.resume();
    }
  }

  /**
   * Hands one chunk to a waiting read or queues it; pauses the socket when too much waits.
   * Ignored once done.
   *
   * @param chunk Bytes from the socket (ownership passes on).
   */
  push(chunk: Uint8Array): void {
    if (this.#done) return;
    const pending = this.#pending;
    if (pending !== undefined) {
      this.#pending = undefined;
      pending.resolve(chunk);
      return;
    }
    this.#queue.push(chunk);
    this.#queued += chunk.byteLength;
    if (!this.#paused && this.#queued >= READ_HIGH_WATER_MARK) {
      this.#paused = true;
      this.#flow.pause();
    }
  }

  /** Ends the input (peer EOF or local close); queued chunks are still delivered. */
  end(): void {
    if (this.#done) return;
    this.#done = true;
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.resolve(null);
  }

  /**
   * Fails the input: queued chunks are dropped and readers see `err`. Ignored once done.
   *
   * @param err The error readers see.
   */
  error(err: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#failed = true;
    this.#error = err;
    this.#queue = [];
    this.#queued = 0;
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(err);
  }
}

/**
 * A connection over a push-style socket. Subclasses wire the socket's events to
 * {@linkcode PushConn.input}, {@linkcode PushConn.drained}, {@linkcode PushConn.peerEnded} and
 * {@linkcode PushConn.failed}, and implement the writes and {@linkcode PushConn.release}.
 */
export abstract class PushConn extends ConnBase implements Conn {
  /** Where the socket's bytes go; `read()` takes them from here. */
  protected readonly input: PushQueue;
  /** Settles when the socket drains; shared by every write waiting for it. */
  #drain: Deferred | undefined;
  #readEnded: boolean;
  #writeDone: boolean;
  #closing: boolean;

  /**
   * @param remoteAddr The peer's address.
   * @param flow Pauses and resumes the socket.
   * @param onFirstRead See {@linkcode PushQueue}.
   */
  constructor(remoteAddr: NetAddr, flow: FlowControl, onFirstRead?: () => void) {
    super(remoteAddr);
    this.input = new PushQueue(flow, onFirstRead);
    // Set here, not by initializers: they change at close (see ConnBase).
    this.#drain = undefined;
    this.#readEnded = false;
    this.#writeDone = false;
    this.#closing = false;
  }

  read(): Promise<Uint8Array | null> {
    return this.input.read();
  }

  abstract write(bytes: Uint8Array): Promise<void>;

  abstract closeWrite(): Promise<void>;

  close(): Promise<void> {
    this.shutdown();
    return this.closed;
  }

  /** Whether closing has begun. */
  protected get closing(): boolean {
    return this.#closing;
  }

  /** The wait of writes the socket did not take at once, if there is one. */
  protected get pendingDrain(): Promise<void> | undefined {
    return this.#drain?.promise;
  }

  /**
   * Starts (or joins) the wait for the socket's drain.
   *
   * @returns Settles on {@linkcode PushConn.drained}, or rejects once closed.
   */
  protected waitForDrain(): Promise<void> {
    return (this.#drain ??= deferred()).promise;
  }

  /** The socket took everything: the waiting writes resolve. */
  protected drained(): void {
    const drain = this.#drain;
    this.#drain = undefined;
    drain?.resolve();
  }

  /** The peer sent FIN. */
  protected peerEnded(): void {
    this.input.end();
    this.#readEnded = true;
    this.#closeWhenBothDone();
  }

  /** Our FIN went out. */
  protected writeEnded(): void {
    this.#writeDone = true;
    this.#closeWhenBothDone();
  }

  /**
   * The socket failed: a reader sees a `ConnectionError` (unless closing locally); closes.
   *
   * @param err The platform error.
   */
  protected failed(err: unknown): void {
    if (!this.#closing) {
      this.input.error(toConnectionError(`Connection to ${this.label} failed`, err));
    }
    this.shutdown();
  }

  /** Closes once: ends reading, fails the waiting writes, then releases the socket. */
  protected shutdown(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#writeDone = true;
    this.input.end();
    const drain = this.#drain;
    this.#drain = undefined;
    drain?.reject(this.closedError());
    this.release(drain !== undefined);
  }

  /**
   * Frees the socket, once, when closing begins.
   *
   * @param stuck Writes were still waiting for the peer to read: nothing buffered will leave,
   *   so there is no point flushing before the socket goes.
   */
  protected abstract release(stuck: boolean): void;

  #closeWhenBothDone(): void {
    if (this.#readEnded && this.#writeDone) this.shutdown();
  }
}
