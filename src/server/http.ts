/**
 * A small HTTP/1.1 server on the project's own transport, for the operator endpoints
 * (`http_api.ts`): it runs on every runtime and on TLS exactly as the lock protocol does, with
 * no runtime HTTP API. It serves `GET` and `HEAD` requests without bodies, with keep-alive,
 * one request at a time per connection, bounded heads, deadlines and a connection limit;
 * anything else gets a plain error status and the connection is closed.
 *
 * @module
 */

import { openChannel } from "../transport/channel.ts";
import type { ByteChannel, Listener, NetAddr, Transport } from "../transport/types.ts";

/** A parsed request head. */
export interface HttpRequest {
  /** The method as sent (`GET`). */
  method: string;
  /** The path without the query string (`/metrics`). */
  path: string;
  /** Header values by lower-case name (repeated headers joined with `, `). */
  headers: ReadonlyMap<string, string>;
  /** The peer's address. */
  remoteAddr: NetAddr;
}

/** A response to send. */
export interface HttpResponse {
  /** Status code. */
  status: number;
  /** Extra headers (`Content-Length`, `Date` and `Connection` are added). */
  headers?: Record<string, string>;
  /** The body (not sent for `HEAD`). */
  body?: string | Uint8Array;
}

/** Answers one request. May be asynchronous (e.g. to delay a refusal). */
export type HttpHandler = (request: HttpRequest) => HttpResponse | Promise<HttpResponse>;

/** Limits of {@linkcode serveHttp}. */
export interface HttpLimits {
  /** Most bytes of a request head. @default {16384} */
  maxHeadBytes?: number;
  /** Time allowed for a request head to arrive, ms. @default {10000} */
  headTimeoutMs?: number;
  /** Time a kept-alive connection may sit idle, ms. @default {60000} */
  idleTimeoutMs?: number;
  /** Most connections at once; more are closed at once. @default {256} */
  maxConnections?: number;
  /**
   * Told of every request answered without the handler (400, 405, 408, 431, 505), with its
   * method (`""` when the request line did not parse).
   */
  onRefusal?: (method: string, status: number) => void;
}

/** A running HTTP listener. */
export interface HttpServer {
  /** The bound address. */
  readonly addr: NetAddr;
  /** Stops accepting and closes every connection. */
  close(): Promise<void>;
}

const REASONS: Readonly<Record<number, string>> = {
  200: "OK",
  204: "No Content",
  400: "Bad Request",
  401: "Unauthorized",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

const encoder = new TextEncoder();
/** How long {@linkcode HttpServer.close} waits for its connections to close. */
const CLOSE_WAIT_MS = 2000;
const CRLF_CRLF = [13, 10, 13, 10];

/**
 * Serves HTTP on a bound listener until {@linkcode HttpServer.close}.
 *
 * @param listener The listening socket (TLS or not).
 * @param handler Answers each request.
 * @param limits Head size, deadlines and connection limit.
 */
export function serveHttp(
  listener: Listener,
  handler: HttpHandler,
  limits: HttpLimits = {},
): HttpServer {
  const settings = {
    maxHeadBytes: limits.maxHeadBytes ?? 16384,
    headTimeoutMs: limits.headTimeoutMs ?? 10_000,
    idleTimeoutMs: limits.idleTimeoutMs ?? 60_000,
    maxConnections: limits.maxConnections ?? 256,
    onRefusal: limits.onRefusal ?? (() => {}),
  };
  const open = new Set<Transport>();
  let closing = false;
  void (async () => {
    try {
      for await (const transport of listener) {
        if (closing || open.size >= settings.maxConnections) {
          void transport.close().catch(() => {});
          continue;
        }
        open.add(transport);
        void serveConnection(transport, handler, settings, () => closing).finally(() => {
          open.delete(transport);
          void transport.close().catch(() => {});
        });
      }
    } catch {
      // The listener failed or was closed: nothing more to accept.
    }
  })();
  return {
    addr: listener.addr,
    async close(): Promise<void> {
      closing = true;
      await listener.close().catch(() => {});
      // Not waiting for the accept loop: some adapters end its iteration only on the next
      // accept, and the connections it started are closed here. A close that waits on a peer
      // (a browser keeping its connection) must not hold up the server's shutdown: bounded.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all([...open].map((t) => t.close().catch(() => {}))),
        new Promise((resolve) => timer = setTimeout(resolve, CLOSE_WAIT_MS)),
      ]);
      clearTimeout(timer);
    },
  };
}

/** Thrown inside a connection for a request that ends it with an error status. */
class HttpFailure {
  /** The status to answer with; 0 to close without an answer. */
  readonly status: number;

  constructor(status: number) {
    this.status = status;
  }
}

async function serveConnection(
  transport: Transport,
  handler: HttpHandler,
  settings: Required<HttpLimits>,
  closing: () => boolean,
): Promise<void> {
  const io = openChannel(transport);
  let buffered: Uint8Array = new Uint8Array(0);
  let first = true;
  while (!closing()) {
    let head: { text: string; rest: Uint8Array } | null;
    try {
      head = await readHead(
        io,
        buffered,
        settings.maxHeadBytes,
        first ? settings.headTimeoutMs : settings.idleTimeoutMs,
        settings.headTimeoutMs,
      );
    } catch (err) {
      if (err instanceof HttpFailure && err.status !== 0) {
        settings.onRefusal("", err.status);
        await send(io, err.status, false, {}).catch(() => {});
      }
      return;
    }
    if (head === null) return;
    first = false;
    buffered = head.rest;
    const parsed = parseHead(head.text);
    if (parsed instanceof HttpFailure) {
      settings.onRefusal("", parsed.status);
      await send(io, parsed.status, false, {}).catch(() => {});
      return;
    }
    const { method, path, headers, keepAlive } = parsed;
    // Bodies are not read: a request that has one ends the connection after its answer.
    const hasBody = headers.has("transfer-encoding") ||
      (headers.get("content-length") ?? "0") !== "0";
    let response: HttpResponse;
    if (method !== "GET" && method !== "HEAD") {
      settings.onRefusal(method, 405);
      response = {
        status: 405,
        headers: { "Allow": "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" },
        body: "method not allowed\n",
      };
    } else {
      try {
        response = await handler({ method, path, headers, remoteAddr: transport.remoteAddr });
      } catch {
        response = { status: 500, body: "internal error\n" };
      }
    }
    const again = keepAlive && !hasBody && method !== "POST" && !closing();
    try {
      await send(io, response.status, again, response.headers ?? {}, response.body, method);
    } catch {
      return;
    }
    if (!again) return;
  }
}

/**
 * Reads up to the end of a request head. The first byte must come within `idleMs`; the whole
 * head within `headMs` of it.
 *
 * @returns The head text (latin-1) and the bytes after it, or `null` when the peer closed
 *   between requests.
 */
async function readHead(
  io: ByteChannel,
  start: Uint8Array,
  maxBytes: number,
  idleMs: number,
  headMs: number,
): Promise<{ text: string; rest: Uint8Array } | null> {
  let data = start;
  let deadline = data.length > 0 ? performance.now() + headMs : performance.now() + idleMs;
  for (;;) {
    const end = indexOfHeadEnd(data);
    if (end >= 0) {
      if (end + 4 > maxBytes) throw new HttpFailure(431);
      let text = "";
      for (let i = 0; i < end; i++) text += String.fromCharCode(data[i]!);
      return { text, rest: data.subarray(end + 4) };
    }
    if (data.length > maxBytes) throw new HttpFailure(431);
    const left = deadline - performance.now();
    if (left <= 0) throw new HttpFailure(data.length > 0 ? 408 : 0);
    const chunk = await readWithin(io, left);
    if (chunk === undefined) throw new HttpFailure(data.length > 0 ? 408 : 0);
    if (chunk === null) {
      if (data.length > 0) throw new HttpFailure(400);
      return null;
    }
    if (data.length === 0) deadline = performance.now() + headMs;
    const joined = new Uint8Array(data.length + chunk.length);
    joined.set(data);
    joined.set(chunk, data.length);
    data = joined;
  }
}

/** One read, or `undefined` when `ms` pass first (the read then stays with the closed socket). */
function readWithin(io: ByteChannel, ms: number): Promise<Uint8Array | null | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    io.read().then(
      (chunk) => {
        clearTimeout(timer);
        resolve(chunk);
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

function indexOfHeadEnd(data: Uint8Array): number {
  outer: for (let i = 0; i + 4 <= data.length; i++) {
    for (let j = 0; j < 4; j++) if (data[i + j] !== CRLF_CRLF[j]) continue outer;
    return i;
  }
  return -1;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function parseHead(text: string):
  | { method: string; path: string; headers: Map<string, string>; keepAlive: boolean }
  | HttpFailure {
  const lines = text.split("\r\n");
  const parts = lines[0]!.split(" ");
  if (parts.length !== 3 || !TOKEN.test(parts[0]!) || !parts[1]!.startsWith("/")) {
    return new HttpFailure(400);
  }
  const [method, target, version] = parts as [string, string, string];
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    return new HttpFailure(/^HTTP\/\d\.\d$/.test(version) ? 505 : 400);
  }
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(":");
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) return new HttpFailure(400);
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    const before = headers.get(name);
    headers.set(name, before === undefined ? value : `${before}, ${value}`);
  }
  const connection = (headers.get("connection") ?? "").toLowerCase();
  const keepAlive = version === "HTTP/1.1"
    ? !/(^|,)\s*close\s*(,|$)/.test(connection)
    : /(^|,)\s*keep-alive\s*(,|$)/.test(connection);
  const query = target.indexOf("?");
  const path = query < 0 ? target : target.slice(0, query);
  return { method, path, headers, keepAlive };
}

async function send(
  io: ByteChannel,
  status: number,
  keepAlive: boolean,
  headers: Record<string, string>,
  body: string | Uint8Array = "",
  method = "GET",
): Promise<void> {
  if (status === 0) return; // nothing to say: the peer went quiet before sending anything
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? "Unknown"}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  head += `Content-Length: ${bytes.length}\r\n`;
  head += `Date: ${new Date().toUTCString()}\r\n`;
  head += keepAlive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  const headBytes = encoder.encode(head);
  if (method === "HEAD" || bytes.length === 0) {
    await io.write(headBytes);
    return;
  }
  const out = new Uint8Array(headBytes.length + bytes.length);
  out.set(headBytes);
  out.set(bytes, headBytes.length);
  await io.write(out);
}
