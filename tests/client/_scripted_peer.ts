/**
 * Test helper: a tiny TCP server on 127.0.0.1 (port 0) that answers each complete request
 * (three lines) with the next scripted step. Use it only to provoke failures the real server
 * cannot produce (malformed lines, over-long replies, unknown statuses, mid-line closes).
 *
 * @module
 */

import * as net from "node:net";
import { type Peer, type PeerRequest, startPeer } from "../_helpers/peer.ts";

/** One request as the peer received it. */
export type ReceivedRequest = PeerRequest;

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
export type ScriptedPeer = Peer;

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
export function startScriptedPeer(
  steps: Step[],
  options: ScriptedPeerOptions = {},
): Promise<ScriptedPeer> {
  const greeting = options.greeting;
  return startPeer(
    (sock, req, index) => perform(sock, index < steps.length ? steps[index]! : null, req),
    greeting === undefined ? undefined : (sock) => sock.write(greeting),
  );
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
