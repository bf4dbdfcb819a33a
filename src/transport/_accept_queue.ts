/**
 * Internal: the async iterator behind push-style listeners (Node `connection` events, Bun
 * `open` callbacks).
 *
 * @module
 */

import type { Transport } from "./types.ts";

/**
 * A queue of accepted connections consumed by `for await`. After {@linkcode AcceptQueue.end},
 * iteration finishes and connections still queued (never handed out) are closed.
 */
export class AcceptQueue implements AsyncIterable<Transport> {
  #queue: Transport[] = [];
  #waiters: ((result: IteratorResult<Transport>) => void)[] = [];
  #ended = false;

  /**
   * Hands an accepted connection to a waiting consumer or queues it.
   *
   * @param transport The accepted connection.
   */
  push(transport: Transport): void {
    if (this.#ended) {
      void transport.close();
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter({ value: transport, done: false });
    else this.#queue.push(transport);
  }

  /** Ends iteration; closes queued connections nobody took. Idempotent. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const transport of this.#queue.splice(0)) void transport.close();
    for (const waiter of this.#waiters.splice(0)) waiter({ value: undefined, done: true });
  }

  /**
   * Iterates accepted connections until {@linkcode AcceptQueue.end}.
   *
   * @returns The iterator.
   */
  [Symbol.asyncIterator](): AsyncIterator<Transport> {
    return {
      next: (): Promise<IteratorResult<Transport>> => {
        const transport = this.#queue.shift();
        if (transport !== undefined) return Promise.resolve({ value: transport, done: false });
        if (this.#ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
      return: (): Promise<IteratorResult<Transport>> =>
        Promise.resolve({ value: undefined, done: true }),
    };
  }
}
