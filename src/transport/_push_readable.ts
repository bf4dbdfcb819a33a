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
 * consumer catches up.
 */
export class PushReadable {
  /** The consumer side. */
  readonly stream: ReadableStream<Uint8Array>;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #flow: FlowControl;
  #paused = false;
  #done = false;

  /**
   * @param flow Pauses and resumes the socket.
   * @param onCancel Called when the consumer cancels the stream.
   * @param highWaterMark Bytes to queue before pausing.
   */
  constructor(flow: FlowControl, onCancel: () => void, highWaterMark = READ_HIGH_WATER_MARK) {
    this.#flow = flow;
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => {
        if (this.#paused && !this.#done) {
          this.#paused = false;
          this.#flow.resume();
        }
      },
      cancel: () => {
        this.#done = true;
        onCancel();
      },
    }, { highWaterMark, size: (chunk) => chunk.byteLength });
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
    if (!this.#paused && (controller.desiredSize ?? 0) <= 0) {
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
