/**
 * {@linkcode ByteLineClient}: a minimal line-oriented test client on `node:net` (available in
 * Deno, Bun and Node): writes arbitrary byte strings, reads response lines as byte strings within
 * a deadline (a {@linkcode DeadlineError} otherwise), and reports the server's EOF. For protocol
 * requests over TCP or TLS, see tests/server/_protocol_client.ts.
 *
 * @module
 */

import { createConnection, type Socket } from "node:net";
import { Buffer } from "node:buffer";

/** Raised when a line or the EOF does not arrive in time. */
export class DeadlineError extends Error {
  override name = "DeadlineError";
}

/** One TCP connection for byte strings, with a queue of received lines. */
export class ByteLineClient {
  #socket: Socket;
  #buffer = "";
  #lines: string[] = [];
  #ended = false;
  #closed: Promise<void>;
  #wake: (() => void) | undefined;
  /** The first socket error, if any (a reset while writing, for instance). */
  error: Error | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      const text = this.#buffer + chunk.toString("latin1");
      let start = 0;
      for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", start)) {
        this.#lines.push(text.slice(start, nl));
        start = nl + 1;
      }
      this.#buffer = text.slice(start);
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (err: Error) => {
      this.error ??= err;
      this.#ended = true;
      this.#notify();
    });
    this.#closed = new Promise((resolve) => socket.once("close", () => resolve()));
    this.#closed.then(() => {
      this.#ended = true;
      this.#notify();
    });
  }

  /**
   * Connects to a server on the loopback interface.
   *
   * @param port The server's port.
   * @param host The server's address.
   * @returns The connected client.
   */
  static open(port: number, host = "127.0.0.1"): Promise<ByteLineClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host, port });
      const onError = (err: Error): void => reject(err);
      socket.once("error", onError);
      socket.once("connect", () => {
        socket.off("error", onError);
        resolve(new ByteLineClient(socket));
      });
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Complete lines received and not read yet, plus any bytes of an unfinished line. */
  get pending(): { lines: string[]; partial: string } {
    return { lines: [...this.#lines], partial: this.#buffer };
  }

  /** True once the server closed its side (or the socket failed). */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Writes bytes.
   *
   * @param bytes A byte string (one char per byte).
   */
  send(bytes: string): void {
    if (this.#socket.destroyed || this.#socket.writableEnded) return;
    this.#socket.write(Buffer.from(bytes, "latin1"));
  }

  async #waitFor<T>(ready: () => T | undefined, ms: number, what: string): Promise<T> {
    const deadline = performance.now() + ms;
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      const left = deadline - performance.now();
      if (left <= 0) throw new DeadlineError(`no ${what} within ${ms} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  /**
   * The next response line, without its `\n`.
   *
   * @param ms How long to wait.
   * @returns The line, or null if the connection ended first (any unterminated bytes stay in
   *   {@linkcode ByteLineClient.pending}).
   * @throws {DeadlineError} If nothing arrives in time.
   */
  readLine(ms: number): Promise<string | null> {
    return this.#waitFor<string | null>(
      () => {
        if (this.#lines.length > 0) return this.#lines.shift() as string;
        return this.#ended ? null : undefined;
      },
      ms,
      "response line",
    );
  }

  /**
   * Waits for the server to close the connection.
   *
   * @param ms How long to wait.
   * @throws {DeadlineError} If the connection is still open after that.
   */
  async waitEnd(ms: number): Promise<void> {
    await this.#waitFor(() => (this.#ended ? true : undefined), ms, "end of stream");
  }

  /**
   * Sends one request and reads its response line.
   *
   * @param command The command line.
   * @param key The key line.
   * @param arg The argument line.
   * @param ms How long to wait for the answer.
   * @returns The response line.
   * @throws {Error} If the connection ends first.
   */
  async request(command: string, key: string, arg: string, ms = 5000): Promise<string> {
    this.send(`${command}\n${key}\n${arg}\n`);
    const line = await this.readLine(ms);
    if (line === null) throw new Error(`connection ended before the answer to ${command} ${key}`);
    return line;
  }

  /** Closes the connection and waits until the socket is gone. Idempotent. */
  async close(): Promise<void> {
    this.#socket.destroy();
    await this.#closed;
  }
}
