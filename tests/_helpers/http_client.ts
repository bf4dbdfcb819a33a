/**
 * A tiny HTTP/1.1 client over the project's own transport (`connect` from
 * `src/transport/mod.ts`), so that tests of the server's HTTP port do not depend on each
 * runtime's `fetch` and its TLS options: HTTPS is the transport's TLS with `caCerts`.
 *
 * It sends one request at a time, reads `Content-Length` bodies (or up to the close when a
 * response has no length), and refuses chunked answers (the server under test never sends them).
 * Every read has a deadline.
 *
 * @module
 */

import { connect, openChannel } from "../../src/transport/mod.ts";
import type {
  ByteChannel,
  NetAddr,
  TlsConnectOptions,
  Transport,
} from "../../src/transport/mod.ts";

/** A parsed response. */
export interface HttpResult {
  /** The status code (`200`). */
  status: number;
  /** The reason phrase (`OK`). */
  reason: string;
  /** Header values by lower-case name (repeated headers joined with `, `). */
  headers: Map<string, string>;
  /** The body decoded as UTF-8 (empty for `HEAD`). */
  body: string;
  /** The body's bytes. */
  bodyBytes: Uint8Array;
}

/** Options of {@linkcode httpGet} and {@linkcode HttpConnection.request}. */
export interface HttpRequestOptions {
  /** The method. @default {"GET"} */
  method?: string;
  /** Extra request headers (`Host` is added unless given). */
  headers?: Record<string, string>;
  /** Connect with TLS (HTTPS) with these settings. */
  tls?: TlsConnectOptions;
  /** Deadline for the whole answer, ms. @default {5000} */
  timeoutMs?: number;
}

/** What {@linkcode httpRaw} received. */
export interface RawAnswer {
  /** The bytes received, as latin-1 text (one char per byte). */
  text: string;
  /** Whether the server closed the connection within the deadline. */
  closed: boolean;
}

const encoder = new TextEncoder();
const utf8 = new TextDecoder();

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

/** A string's chars as bytes; every char must be below 256. */
function latin1Bytes(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 255) {
      throw new RangeError(`char ${i} of the raw text is not a byte (U+${c.toString(16)})`);
    }
    bytes[i] = c;
  }
  return bytes;
}

function headEnd(data: Uint8Array): number {
  for (let i = 0; i + 4 <= data.length; i++) {
    if (data[i] === 13 && data[i + 1] === 10 && data[i + 2] === 13 && data[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** One connection to an HTTP server; requests go one at a time. */
export class HttpConnection {
  readonly #transport: Transport;
  readonly #io: ByteChannel;
  readonly #host: string;
  #buffered: Uint8Array = new Uint8Array(0);
  #eof = false;
  /** A read left pending by a deadline; the next read takes its result first. */
  #pending: Promise<Uint8Array | null> | null = null;

  private constructor(transport: Transport, host: string) {
    this.#transport = transport;
    this.#io = openChannel(transport);
    this.#host = host;
  }

  /**
   * Connects.
   *
   * @param addr The server's address (`server.httpAddr`).
   * @param tls Connect with TLS with these settings.
   * @returns The open connection.
   */
  static async open(addr: NetAddr, tls?: TlsConnectOptions): Promise<HttpConnection> {
    const transport = await connect({
      hostname: addr.hostname,
      port: addr.port,
      timeoutMs: 5000,
      ...(tls !== undefined ? { tls } : {}),
    });
    const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
    return new HttpConnection(transport, `${host}:${addr.port}`);
  }

  /**
   * Sends bytes as they are.
   *
   * @param data The bytes (a string is sent as latin-1: one byte per char, each < 256).
   */
  async send(data: Uint8Array | string): Promise<void> {
    await this.#io.write(typeof data === "string" ? latin1Bytes(data) : data);
  }

  /**
   * Sends a request and reads its answer.
   *
   * @param path The request target (`/metrics`).
   * @param options Method, headers and deadline (`tls` is ignored here).
   * @returns The response.
   */
  async request(path: string, options: HttpRequestOptions = {}): Promise<HttpResult> {
    const method = options.method ?? "GET";
    const headers: Record<string, string> = { ...options.headers };
    if (!Object.keys(headers).some((name) => name.toLowerCase() === "host")) {
      headers["Host"] = this.#host;
    }
    let head = `${method} ${path} HTTP/1.1\r\n`;
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    await this.#io.write(encoder.encode(head + "\r\n"));
    return await this.readResponse(method, options.timeoutMs ?? 5000);
  }

  /**
   * Reads one response.
   *
   * @param method The request's method (a `HEAD` answer has no body).
   * @param timeoutMs Deadline, ms.
   * @returns The response.
   * @throws {Error} When the answer is malformed, does not come in time, or the connection
   *   ends first.
   */
  async readResponse(method = "GET", timeoutMs = 5000): Promise<HttpResult> {
    const deadline = performance.now() + timeoutMs;
    let end: number;
    while ((end = headEnd(this.#buffered)) < 0) {
      if (!await this.#fill(deadline)) {
        throw new Error(
          `the connection ended before a response head (got ${
            JSON.stringify(latin1(this.#buffered))
          })`,
        );
      }
    }
    const lines = latin1(this.#buffered.subarray(0, end)).split("\r\n");
    this.#buffered = this.#buffered.subarray(end + 4);
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0]!);
    if (m === null) throw new Error(`not an HTTP status line: ${JSON.stringify(lines[0])}`);
    const status = Number(m[1]);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0) throw new Error(`malformed header line: ${JSON.stringify(line)}`);
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      const before = headers.get(name);
      headers.set(name, before === undefined ? value : `${before}, ${value}`);
    }
    if (headers.has("transfer-encoding")) {
      throw new Error("this client does not read Transfer-Encoding bodies");
    }
    let bodyBytes: Uint8Array;
    const noBody = method === "HEAD" || status === 204 || status === 304 || status < 200;
    const length = headers.get("content-length");
    if (noBody) {
      bodyBytes = new Uint8Array(0);
    } else if (length !== undefined) {
      if (!/^\d+$/.test(length)) throw new Error(`bad Content-Length ${JSON.stringify(length)}`);
      const n = Number(length);
      while (this.#buffered.length < n) {
        if (!await this.#fill(deadline)) {
          throw new Error(`the connection ended after ${this.#buffered.length} of ${n} body bytes`);
        }
      }
      bodyBytes = this.#buffered.slice(0, n);
      this.#buffered = this.#buffered.subarray(n);
    } else {
      while (await this.#fill(deadline));
      bodyBytes = this.#buffered.slice();
      this.#buffered = new Uint8Array(0);
    }
    return { status, reason: m[2]!, headers, body: utf8.decode(bodyBytes), bodyBytes };
  }

  /**
   * Reads everything until the server closes the connection, or until the deadline.
   *
   * @param timeoutMs Deadline, ms.
   * @returns The bytes received (those buffered included) and whether the close came.
   */
  async readToEnd(timeoutMs = 5000): Promise<RawAnswer> {
    const deadline = performance.now() + timeoutMs;
    let closed = true;
    try {
      while (await this.#fill(deadline));
    } catch (err) {
      if (!(err instanceof DeadlineError)) throw err;
      closed = false;
    }
    const text = latin1(this.#buffered);
    this.#buffered = new Uint8Array(0);
    return { text, closed };
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    await this.#transport.close().catch(() => {});
  }

  /**
   * Reads one more chunk into the buffer.
   *
   * @returns False at the end of the stream (or a reset).
   * @throws {DeadlineError} When nothing comes before the deadline.
   */
  async #fill(deadline: number): Promise<boolean> {
    if (this.#eof) return false;
    const read = this.#pending ?? this.#io.read().catch(() => null);
    this.#pending = read;
    const left = deadline - performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), Math.max(0, left));
    });
    const chunk = await Promise.race([read, late]);
    clearTimeout(timer);
    if (chunk === "late") throw new DeadlineError();
    this.#pending = null;
    if (chunk === null) {
      this.#eof = true;
      return false;
    }
    this.#buffered = concat(this.#buffered, chunk);
    return true;
  }
}

/** Nothing arrived before a deadline. */
class DeadlineError extends Error {
  constructor() {
    super("no answer before the deadline");
    this.name = "DeadlineError";
  }
}

/**
 * Sends one request on a new connection (with `Connection: close`) and reads the answer.
 *
 * @param addr The server's HTTP address (`server.httpAddr`).
 * @param path The request target (`/health`).
 * @param options Method, headers, TLS and deadline.
 * @returns The response.
 *
 * @example
 * ```ts ignore
 * const res = await httpGet(server.httpAddr!, "/health");
 * assert.equal(res.status, 200);
 * ```
 */
export async function httpGet(
  addr: NetAddr,
  path: string,
  options: HttpRequestOptions = {},
): Promise<HttpResult> {
  const conn = await HttpConnection.open(addr, options.tls);
  try {
    const headers: Record<string, string> = { "Connection": "close", ...options.headers };
    return await conn.request(path, { ...options, headers });
  } finally {
    await conn.close();
  }
}

/**
 * Sends arbitrary bytes on a new connection and reads whatever comes back until the server
 * closes the connection (or the deadline passes).
 *
 * @param addr The server's address.
 * @param data The bytes (a string is sent as latin-1).
 * @param options TLS and deadline (ms, default 5000).
 * @returns The answer's bytes as latin-1 text and whether the server closed.
 */
export async function httpRaw(
  addr: NetAddr,
  data: Uint8Array | string,
  options: { tls?: TlsConnectOptions; timeoutMs?: number } = {},
): Promise<RawAnswer> {
  const conn = await HttpConnection.open(addr, options.tls);
  try {
    await conn.send(data);
    return await conn.readToEnd(options.timeoutMs ?? 5000);
  } finally {
    await conn.close();
  }
}
