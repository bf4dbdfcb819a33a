/**
 * Internal: a `ReadableStream` fed by a push-style socket (Node `data` events, Bun `data`
 * callbacks) that pauses the socket while the stream's queue is full.
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

/**
 * A readable stream plus the producer-side methods that feed it. Chunks are enqueued as given
 * (no copies); the socket is paused once `highWaterMark` bytes are queued and resumed when the
 * consumer catches up (a lazy stream: when the consumer has read everything and waits).
 */
export class PushReadable {
  /** The consumer side. */
  readonly stream: ReadableStream<Uint8Array>;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #flow: FlowControl;
  #paused = false;
  #done = false;
  #limit: number;
  #streamMark: number;

  /**
   * @param flow Pauses and resumes the socket.
   * @param onCancel Called when the consumer cancels the stream.
   * @param highWaterMark Bytes to queue before pausing.
   * @param onFirstRead When given, the stream is lazy: nothing is pulled from the socket until
   *   the consumer first reads, and this is called at that moment (e.g. to start a TLS
   *   handshake). The socket must be paused until then.
   */
  constructor(
    flow: FlowControl,
    onCancel: () => void,
    highWaterMark = READ_HIGH_WATER_MARK,
    onFirstRead?: () => void,
  ) {
    this.#flow = flow;
    this.#limit = highWaterMark;
    // A lazy stream has no queue target of its own, so `pull` runs only for a waiting read.
    this.#streamMark = onFirstRead === undefined ? highWaterMark : 0;
    let first = onFirstRead;
    this.#paused = first !== undefined;
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => {
        if (first !== undefined) {
          const start = first;
          first = undefined;
          if (!this.#done) start();
        }
        if (this.#paused && !this.#done) {
          this.#paused = false;
          this.#flow.resume();
        }
      },
      cancel: () => {
        this.#done = true;
        onCancel();
      },
    }, { highWaterMark: this.#streamMark, size: (chunk) => chunk.byteLength });
  }

  /** Whether the stream has ended, errored or been cancelled. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * Enqueues one chunk; pauses the socket when the queue is full. Ignored once done.
   *
   * @param chunk Bytes from the socket (ownership passes to the stream).
   */
  push(chunk: Uint8Array): void {
    const controller = this.#controller;
    if (this.#done || controller === undefined) return;
    controller.enqueue(chunk);
    if (!this.#paused && this.#streamMark - (controller.desiredSize ?? 0) >= this.#limit) {
      this.#paused = true;
      this.#flow.pause();
    }
  }

  /** Ends the stream (peer EOF). Ignored once done. */
  end(): void {
    if (this.#done) return;
    this.#done = true;
    try {
      this.#controller?.close();
    } catch {
      // Already closed by the consumer.
    }
  }

  /**
   * Errors the stream. Ignored once done.
   *
   * @param err The error readers see.
   */
  error(err: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#controller?.error(err);
  }
}
