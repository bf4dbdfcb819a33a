/**
 * One client connection of a conformance scenario: a node:net / node:tls socket (available on
 * Deno, Bun and Node alike) with a line buffer that splits on `\n` only, the close state, and
 * a way to wait for either.
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";

const NEWLINE = 0x0a;
const decoder = new TextDecoder();

/** How a connection ended, as seen by the client. */
export type CloseKind = "open" | "eof" | "reset";

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Shows bytes for a failure message: UTF-8 text with control characters escaped, cut short.
 *
 * @param bytes the bytes to show
 * @returns a JSON-quoted string
 */
export function showBytes(bytes: Uint8Array): string {
  const text = JSON.stringify(decoder.decode(bytes));
  return text.length > 200 ? `${text.slice(0, 197)}..."` : text;
}

/** A scenario connection with its receive buffer. */
export class ReplayConn {
  /** The scenario's name for the connection. */
  readonly name: string;
  /** Set once the scenario closed it (`close` step); nothing more is read. */
  clientClosed = false;
  #socket: net.Socket;
  #lines: Uint8Array[] = [];
  #partial: Uint8Array[] = [];
  #partialLength = 0;
  #state: CloseKind = "open";
  #error: Error | undefined;
  #arrivals = 0;
  #waiters = new Set<() => void>();

  private constructor(name: string, socket: net.Socket) {
    this.name = name;
    this.#socket = socket;
    socket.on("data", (chunk: Uint8Array) => this.#onData(chunk));
    socket.on("end", () => this.#onClose("eof"));
    socket.on("error", (err: Error) => {
      this.#error = err;
      this.#onClose("reset");
    });
    socket.on("close", () => this.#onClose("eof"));
  }

  /**
   * Opens a connection and waits until the TCP (or TLS) handshake has completed.
   *
   * @param name the scenario's name for the connection
   * @param port server port on 127.0.0.1
   * @param useTls whether to speak TLS (without verifying the certificate)
   * @param timeoutMs give up after this long
   * @returns the open connection
   * @throws {Error} when the connection cannot be made
   */
  static open(name: string, port: number, useTls: boolean, timeoutMs: number): Promise<ReplayConn> {
    return new Promise((resolve, reject) => {
      const host = "127.0.0.1";
      const socket = useTls
        ? tls.connect({ host, port, rejectUnauthorized: false })
        : net.connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect ${name}: no connection within ${timeoutMs} ms`));
      }, timeoutMs);
      const onError = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(new Error(`connect ${name}: ${err.message}`, { cause: err }));
      };
      socket.once("error", onError);
      socket.once(useTls ? "secureConnect" : "connect", () => {
        clearTimeout(timer);
        socket.removeListener("error", onError);
        socket.setNoDelay(true);
        resolve(new ReplayConn(name, socket));
      });
    });
  }

  /**
   * Tries to connect and reports how it went, for `expect_connect_refused`.
   *
   * @param port server port on 127.0.0.1
   * @param timeoutMs give up after this long
   * @returns `"refused: <code>"`, `"connected"` or `"timeout"`
   */
  static probeRefused(port: number, timeoutMs: number): Promise<string> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve("timeout");
      }, timeoutMs);
      socket.once("error", (err: Error & { code?: string }) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(`refused: ${err.code ?? err.message}`);
      });
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.destroy();
        resolve("connected");
      });
    });
  }

  #wake(): void {
    this.#arrivals++;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  #onData(chunk: Uint8Array): void {
    if (this.clientClosed) return;
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] !== NEWLINE) continue;
      this.#partial.push(chunk.subarray(start, i));
      this.#lines.push(concat(this.#partial, this.#partialLength + i - start));
      this.#partial = [];
      this.#partialLength = 0;
      start = i + 1;
    }
    if (start < chunk.length) {
      this.#partial.push(chunk.slice(start));
      this.#partialLength += chunk.length - start;
    }
    this.#wake();
  }

  #onClose(kind: "eof" | "reset"): void {
    if (this.#state !== "open") return;
    this.#state = kind;
    this.#wake();
  }

  /** How the connection ended so far. */
  get state(): CloseKind {
    return this.#state;
  }

  /** Socket error that ended the connection, if any. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** Number of events (data or close) seen so far; changes whenever something arrives. */
  get arrivals(): number {
    return this.#arrivals;
  }

  /** Whether any received byte has not been consumed by a step yet. */
  get hasUnread(): boolean {
    return this.#lines.length > 0 || this.#partialLength > 0;
  }

  /** Whether a complete line is waiting. */
  get hasLine(): boolean {
    return this.#lines.length > 0;
  }

  /**
   * Describes unread data and the close state, for failure messages.
   *
   * @returns a short description
   */
  describeUnread(): string {
    const parts: string[] = [];
    for (const line of this.#lines.slice(0, 5)) parts.push(`line ${showBytes(line)}`);
    if (this.#lines.length > 5) parts.push(`... ${this.#lines.length - 5} more lines`);
    if (this.#partialLength > 0) {
      parts.push(`partial ${showBytes(concat(this.#partial, this.#partialLength))}`);
    }
    if (parts.length === 0) parts.push("nothing unread");
    const state = this.#state === "reset" ? `reset (${this.#error?.message})` : this.#state;
    return `${parts.join(", ")}; connection ${state}`;
  }

  /**
   * Takes the next complete line, decoded as UTF-8 (a `\r` before the `\n` stays).
   *
   * @returns the line, or undefined when none is complete
   */
  takeLine(): string | undefined {
    const line = this.#lines.shift();
    return line === undefined ? undefined : decoder.decode(line);
  }

  /** Drops everything received so far (for `expect_closed` with `ignore_data`). */
  discard(): void {
    this.#lines = [];
    this.#partial = [];
    this.#partialLength = 0;
  }

  /**
   * Waits until `ready()` holds or `ms` pass, waking on every arrival.
   *
   * @param ready condition to wait for
   * @param ms longest wait
   * @returns whether the condition holds
   */
  async waitUntil(ready: () => boolean, ms: number): Promise<boolean> {
    const deadline = performance.now() + ms;
    while (!ready()) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.#waiters.add(done);
      });
    }
    return true;
  }

  /**
   * Writes bytes as one write and waits until the socket has taken them. A failed write is
   * not an error here: later checks see the close.
   *
   * @param bytes what to send
   * @returns once written (or failed)
   */
  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve) => {
      if (this.#socket.destroyed || !this.#socket.writable) {
        resolve();
        return;
      }
      this.#socket.write(bytes, () => resolve());
    });
  }

  /** Half-closes: sends FIN and keeps reading. */
  shutdown(): void {
    this.#socket.end();
  }

  /** Closes completely; nothing more is read. */
  destroy(): void {
    this.clientClosed = true;
    this.#socket.destroy();
  }
}
