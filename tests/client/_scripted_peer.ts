/**
 * Test helper: a tiny TCP server on 127.0.0.1 (port 0) that answers each complete request
 * (three lines) with the next scripted step. Use it only to provoke failures the real server
 * cannot produce (malformed lines, over-long replies, unknown statuses, mid-line closes).
 *
 * @module
 */

import * as net from "node:net";

/** One request as the peer received it. */
export interface ReceivedRequest {
  command: string;
  key: string;
  arg: string;
}

/**
 * What the peer does for one request:
 * - a string or bytes: written as is (include the `\n` yourself);
 * - `null`: no answer (the request stays pending);
 * - `{ end: string | Uint8Array }`: write, then close the socket;
 * - `{ destroy: true }`: reset/close at once without writing;
 * - a function: called with the request, returns one of the above.
 */
export type Step =
  | string
  | Uint8Array
  | null
  | { end: string | Uint8Array }
  | { destroy: true }
  | ((req: ReceivedRequest) => Exclude<Step, (req: ReceivedRequest) => unknown>);

/** Options of {@linkcode startScriptedPeer}. */
export interface ScriptedPeerOptions {
  /** Written right after a client connects (e.g. an unsolicited line). */
  greeting?: string | Uint8Array;
}

/** A running scripted peer. */
export interface ScriptedPeer extends AsyncDisposable {
  /** The port it listens on (host 127.0.0.1). */
  readonly port: number;
  /** Every request received, across connections, in order. */
  readonly requests: ReceivedRequest[];
  /** Number of connections accepted so far. */
  readonly connections: number;
  /** Stops listening and destroys every open socket. */
  close(): Promise<void>;
}

function perform(sock: net.Socket, step: Step, req: ReceivedRequest): void {
  const s = typeof step === "function" ? step(req) : step;
  if (s === null) return;
  if (typeof s === "string" || s instanceof Uint8Array) {
    sock.write(s);
  } else if ("end" in s) {
    sock.end(s.end);
  } else {
    sock.destroy();
  }
}

/**
 * Starts a scripted peer. Steps are consumed per connection, one per request; requests
 * after the last step get no answer.
 *
 * @param steps What to answer, request by request.
 * @param options Optional greeting.
 * @returns The running peer; close it in a `finally` (or with `await using`).
 */
export async function startScriptedPeer(
  steps: Step[],
  options: ScriptedPeerOptions = {},
): Promise<ScriptedPeer> {
  const sockets = new Set<net.Socket>();
  const requests: ReceivedRequest[] = [];
  let connections = 0;
  const server = net.createServer((sock) => {
    connections++;
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    let buffered = "";
    let lines: string[] = [];
    let index = 0;
    sock.setEncoding("latin1");
    sock.on("data", (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        lines.push(buffered.slice(0, nl).replace(/\r+$/, ""));
        buffered = buffered.slice(nl + 1);
        if (lines.length === 3) {
          const req = { command: lines[0]!, key: lines[1]!, arg: lines[2]! };
          lines = [];
          requests.push(req);
          const step = index < steps.length ? steps[index]! : null;
          index++;
          if (!sock.destroyed) perform(sock, step, req);
        }
      }
    });
    if (options.greeting !== undefined) sock.write(options.greeting);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  const close = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    port: address.port,
    requests,
    get connections() {
      return connections;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Finds a TCP port on 127.0.0.1 that nobody listens on (bind port 0, then close).
 *
 * @returns A port that refuses connections (until something else binds it).
 */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}
