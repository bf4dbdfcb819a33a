/**
 * Internal: the listener of push-style sockets (Node `connection` events, Bun `open` callbacks),
 * which hand out connections whether or not anyone is accepting.
 *
 * @module
 */

import type { Conn, ConnListener } from "./_conn.ts";
import type { NetAddr } from "./types.ts";

/**
 * Accepted connections waiting for {@linkcode AcceptQueue.accept}. Once closed, `accept`
 * resolves `null` and connections still queued (never handed out) are closed.
 */
export class AcceptQueue implements ConnListener {
  addr: NetAddr = { hostname: "", port: 0 };
  #stop: (() => void) | undefined;
  #queue: Conn[] = [];
  #waiters: ((conn: Conn | null) => void)[] = [];
  #ended = false;

  /**
   * Completes the listener once the socket is bound.
   *
   * @param stop Stops the platform listener (called once, by {@linkcode AcceptQueue.close}).
   * @returns This queue.
   */
  bound(addr: NetAddr, stop: () => void): this {
    this.addr = addr;
    this.#stop = stop;
    return this;
  }

  /** Hands an accepted connection to a waiting `accept` or queues it. */
  push(conn: Conn): void {
    if (this.#ended) {
      void conn.close();
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter(conn);
    else this.#queue.push(conn);
  }

  /**
   * The next accepted connection.
   *
   * @returns The connection, or `null` once closed.
   */
  accept(): Promise<Conn | null> {
    const conn = this.#queue.shift();
    if (conn !== undefined) return Promise.resolve(conn);
    if (this.#ended) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Stops the platform listener, closes queued connections nobody took. Idempotent. */
  close(): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      this.#stop?.();
    } catch {
      // Already stopped.
    }
    for (const conn of this.#queue.splice(0)) void conn.close();
    for (const waiter of this.#waiters.splice(0)) waiter(null);
  }
}
