/**
 * Test helper: the core of the fake dflockd peers (`tests/client/_scripted_peer.ts`,
 * `tests/reliability/hostile_peer.ts`). A TCP server on 127.0.0.1 (port 0) that splits what
 * each connection sends into requests of three lines and hands every request, with its raw
 * socket and its index on that connection, to a callback. Only for failures the real server
 * cannot produce.
 *
 * @module
 */

import * as net from "node:net";
import type { Buffer } from "node:buffer";

/** One request as the peer received it (byte strings, trailing CRs removed). */
export interface PeerRequest {
  /** First line. */
  command: string;
  /** Second line. */
  key: string;
  /** Third line. */
  arg: string;
}

/** A running peer. */
export interface Peer extends AsyncDisposable {
  /** Its port (host 127.0.0.1). */
  readonly port: number;
  /** `127.0.0.1:<port>`, for the `servers` option. */
  readonly address: string;
  /** Every request received, in order, across connections. */
  readonly requests: PeerRequest[];
  /** Connections accepted so far. */
  readonly connections: number;
  /** Stops listening and destroys every socket. */
  close(): Promise<void>;
}

/**
 * Starts a peer.
 *
 * @param onRequest Called for each complete request with the socket (not yet destroyed), the
 *   request and its index on this connection (0, 1, ...).
 * @param onConnect Called for each new connection before anything is read.
 * @returns The running peer; close it in a `finally` (or with `await using`).
 */
export async function startPeer(
  onRequest: (sock: net.Socket, req: PeerRequest, index: number) => void,
  onConnect?: (sock: net.Socket) => void,
): Promise<Peer> {
  const sockets = new Set<net.Socket>();
  const requests: PeerRequest[] = [];
  let connections = 0;
  const server = net.createServer((sock) => {
    connections++;
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    let buffered = "";
    let lines: string[] = [];
    let index = 0;
    sock.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("latin1");
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        lines.push(buffered.slice(0, nl).replace(/\r+$/, ""));
        buffered = buffered.slice(nl + 1);
        if (lines.length === 3) {
          const req = { command: lines[0]!, key: lines[1]!, arg: lines[2]! };
          lines = [];
          requests.push(req);
          if (!sock.destroyed) onRequest(sock, req, index);
          index++;
        }
      }
    });
    onConnect?.(sock);
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
    address: `127.0.0.1:${address.port}`,
    requests,
    get connections() {
      return connections;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
