/**
 * Internal: the read side of a push-style socket (Node `data` events, Bun `data` callbacks),
 * consumed either as a `ReadableStream` or directly with {@linkcode PushReadable.read} (the
 * `ByteChannel` path, which skips the stream machinery). The socket is paused while too many
 * bytes wait for the consumer.
 *
 * @module
 */

/** Default queue size in bytes before the socket is paused. */
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
 * Chunks pushed by a socket, handed on as given (no copies). The consumer picks one mode by
 * first use: {@linkcode stream} (created only then) or {@linkcode read}. Until then, chunks wait
 * in a small queue. The socket is paused once `highWaterMark` bytes wait and resumed when the
 * consumer catches up.
 */
export class PushReadable {
  #flow: FlowControl;
  #onCancel: () => void;
  #limit: number;
  #onFirstRead: (() => void) | undefined;
  #lazy: boolean;
  #paused: boolean;
  #done = false;
  #failed = false;
  #error: unknown;
  /** Chunks not yet handed out (before a mode is chosen, and in read mode). */
  #queue: Uint8Array[] = [];
  #queued = 0;
  #pending: PendingRead | undefined;
  #direct = false;
  #stream: ReadableStream<Uint8Array> | undefined;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;

  /**
   * @param flow Pauses and resumes the socket.
   * @param onCancel Called when the consumer cancels the stream.
   * @param highWaterMark Bytes to queue before pausing.
   * @param onFirstRead When given, reading is lazy: nothing is pulled from the socket until the
   *   consumer first reads, and this is called at that moment (e.g. to start a TLS handshake).
   *   The socket must be paused until then.
   */
  constructor(
    flow: FlowControl,
    onCancel: () => void,
    highWaterMark = READ_HIGH_WATER_MARK,
    onFirstRead?: () => void,
  ) {
    this.#flow = flow;
    this.#onCancel = onCancel;
    this.#limit = highWaterMark;
    this.#onFirstRead = onFirstRead;
    this.#lazy = onFirstRead !== undefined;
    this.#paused = this.#lazy;
  }

  /** Whether the input has ended, errored or been cancelled. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * The consumer side as a web stream, created on first access.
   *
   * @throws {TypeError} When {@linkcode read} is already in use.
   */
  get stream(): ReadableStream<Uint8Array> {
    if (this.#stream !== undefined) return this.#stream;
    if (this.#direct) throw new TypeError("The transport's channel() is in use");
    // A lazy stream has no queue target of its own, so `pull` runs only for a waiting read.
    const mark = this.#lazy ? 0 : this.#limit;
    this.#stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
        for (const chunk of this.#queue) controller.enqueue(chunk);
        this.#queue = [];
        this.#queued = 0;
        if (this.#failed) controller.error(this.#error);
        else if (this.#done) controller.close();
      },
      pull: () => this.#wantMore(),
      cancel: () => {
        this.#done = true;
        this.#onCancel();
      },
    }, { highWaterMark: mark, size: (chunk) => chunk.byteLength });
    return this.#stream;
  }

  /**
   * Chooses the {@linkcode read} mode up front (for a channel).
   *
   * @throws {TypeError} When the stream is already in use.
   */
  claim(): void {
    if (this.#stream !== undefined) {
      throw new TypeError("The transport's readable stream is in use");
    }
    this.#direct = true;
  }

  /**
   * The next chunk; `null` once ended. Rejects with the socket's error after a failure.
   *
   * @returns The chunk, or `null` at the end.
   */
  read(): Promise<Uint8Array | null> {
    if (this.#stream !== undefined) {
      return Promise.reject(new TypeError("The transport's readable stream is in use"));
    }
    if (this.#pending !== undefined) {
      return Promise.reject(new TypeError("A read is already pending"));
    }
    this.#direct = true;
    const chunk = this.#queue.shift();
    if (chunk !== undefined) {
      this.#queued -= chunk.byteLength;
      return Promise.resolve(chunk);
    }
    if (this.#failed) return Promise.reject(this.#error);
    if (this.#done) return Promise.resolve(null);
    this.#wantMore();
    return new Promise((resolve, reject) => this.#pending = { resolve, reject });
  }

  /** The consumer waits for data: run the first-read hook, resume a paused socket. */
  #wantMore(): void {
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
   * Hands one chunk on (or queues it); pauses the socket when too much waits. Ignored once done.
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
    const controller = this.#controller;
    let waiting: number;
    if (controller !== undefined) {
      controller.enqueue(chunk);
      waiting = (this.#lazy ? 0 : this.#limit) - (controller.desiredSize ?? 0);
    } else {
      this.#queue.push(chunk);
      waiting = this.#queued += chunk.byteLength;
    }
    if (!this.#paused && waiting >= this.#limit) {
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
    try {
      this.#controller?.close();
    } catch {
      // Already closed by the consumer.
    }
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
    this.#controller?.error(err);
  }
}
