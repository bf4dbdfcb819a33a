/**
 * {@linkcode ProtocolClient}: a raw protocol connection for server tests (node:net / node:tls,
 * which all three runtimes have). It speaks requests (`send(cmd, key, arg)`, `request`), over TCP
 * or TLS, and answers questions with booleans (did the server stay silent, did it close). For
 * arbitrary bytes and reads that throw on a deadline, see tests/fuzz/byte_line_client.ts.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import * as net from "node:net";
import * as tls from "node:tls";

/** A raw protocol connection (TCP or TLS) that sends requests and collects response lines. */
export class ProtocolClient {
  readonly #socket: net.Socket;
  #buf = "";
  readonly #lines: string[] = [];
  #closed = false;
  #notify: (() => void) | null = null;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => {
      this.#buf += d;
      let i: number;
      while ((i = this.#buf.indexOf("\n")) >= 0) {
        this.#lines.push(this.#buf.slice(0, i));
        this.#buf = this.#buf.slice(i + 1);
      }
      this.#wake();
    });
    const end = (): void => {
      this.#closed = true;
      this.#wake();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
  }

  /**
   * Connects over plain TCP.
   *
   * @param port Port on 127.0.0.1.
   * @returns The client once connected.
   */
  static async connect(port: number): Promise<ProtocolClient> {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new ProtocolClient(socket);
  }

  /**
   * Connects over TLS without verifying the certificate.
   *
   * @param port Port on 127.0.0.1.
   * @returns The client once the handshake is done.
   */
  static async connectTls(port: number): Promise<ProtocolClient> {
    const socket = tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", resolve);
      socket.once("error", reject);
    });
    return new ProtocolClient(socket);
  }

  #wake(): void {
    const n = this.#notify;
    this.#notify = null;
    n?.();
  }

  /**
   * Writes raw text (latin1: one byte per char).
   *
   * @param text Bytes to send.
   */
  sendRaw(text: string): void {
    this.#socket.write(Buffer.from(text, "latin1"));
  }

  /**
   * Sends one request.
   *
   * @param cmd Command.
   * @param key Key.
   * @param arg Argument.
   */
  send(cmd: string, key: string, arg: string): void {
    this.sendRaw(`${cmd}\n${key}\n${arg}\n`);
  }

  /**
   * Sends a request and reads its answer.
   *
   * @param cmd Command.
   * @param key Key.
   * @param arg Argument.
   * @returns The response line.
   */
  request(cmd: string, key: string, arg: string): Promise<string> {
    this.send(cmd, key, arg);
    return this.line();
  }

  async #waitFor(cond: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#notify = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
    return true;
  }

  /**
   * Reads the next line.
   *
   * @param ms How long to wait.
   * @returns The line.
   * @throws {Error} On timeout or close.
   */
  async line(ms = 2000): Promise<string> {
    await this.#waitFor(() => this.#lines.length > 0 || this.#closed, ms);
    const l = this.#lines.shift();
    if (l === undefined) throw new Error(this.#closed ? "closed" : "no line within " + ms);
    return l;
  }

  /**
   * Checks that nothing arrives for `ms`.
   *
   * @param ms Silence window.
   * @returns True when no line and no close came.
   */
  async silent(ms: number): Promise<boolean> {
    await this.#waitFor(() => this.#lines.length > 0 || this.#closed, ms);
    return this.#lines.length === 0 && !this.#closed;
  }

  /**
   * Waits for the server to close the connection.
   *
   * @param ms How long to wait.
   * @returns True when closed with no unread data.
   */
  async closedByServer(ms = 2000): Promise<boolean> {
    await this.#waitFor(() => this.#closed, ms);
    return this.#closed && this.#lines.length === 0 && this.#buf === "";
  }

  /** Stops reading from the socket (the server's writes back up). */
  pause(): void {
    this.#socket.pause();
  }

  /** Half-closes (sends FIN). */
  end(): void {
    this.#socket.end();
  }

  /** Destroys the socket. */
  close(): void {
    this.#socket.destroy();
  }
}

/**
 * Polls `cond` every 10 ms, up to `ms`.
 *
 * @param cond Condition.
 * @param ms Limit.
 * @returns Whether it became true.
 */
export async function eventually(cond: () => boolean, ms = 2000): Promise<boolean> {
  for (let waited = 0; waited <= ms; waited += 10) {
    if (cond()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return cond();
}
