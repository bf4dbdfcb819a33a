/**
 * Test helper: a hostile dflockd look-alike on 127.0.0.1 (port 0). For every complete request
 * (three lines) it runs the next scripted action, which gets the raw socket, so it can write
 * garbage, half a line, more than 1 MiB, close or reset mid-line, or stay silent.
 *
 * @module
 */

import type * as net from "node:net";
import { Buffer } from "node:buffer";
import { type Peer, type PeerRequest, startPeer } from "../_helpers/peer.ts";

export type { PeerRequest } from "../_helpers/peer.ts";

/** What the peer does with one request. */
export type PeerAction = (sock: net.Socket, req: PeerRequest) => void;

/** A running hostile peer. */
export type HostilePeer = Peer;

/** Options of {@linkcode startHostilePeer}. */
export interface HostilePeerOptions {
  /** Run on every new connection before anything is read (e.g. an unsolicited line). */
  onConnect?: (sock: net.Socket) => void;
}

/**
 * Writes a byte string (one char per byte).
 *
 * @param sock The socket.
 * @param bytes The bytes.
 */
export function writeBytes(sock: net.Socket, bytes: string): void {
  if (!sock.destroyed) sock.write(Buffer.from(bytes, "latin1"));
}

/**
 * Resets the connection (RST where the runtime supports it, else a plain destroy).
 *
 * @param sock The socket.
 */
export function reset(sock: net.Socket): void {
  const s = sock as net.Socket & { resetAndDestroy?: () => void };
  if (typeof s.resetAndDestroy === "function") {
    try {
      s.resetAndDestroy();
      return;
    } catch {
      // fall through
    }
  }
  sock.destroy();
}

/**
 * Starts a hostile peer. Actions are consumed per connection, one per request; requests
 * after the last action get no answer.
 *
 * @param actions What to do, request by request.
 * @param options Connection hook.
 * @returns The running peer; close it in a `finally`.
 */
export function startHostilePeer(
  actions: PeerAction[],
  options: HostilePeerOptions = {},
): Promise<HostilePeer> {
  return startPeer((sock, req, index) => actions[index]?.(sock, req), options.onConnect);
}

/** Raised by {@linkcode within} when a promise neither resolves nor rejects in time. */
export class HangError extends Error {
  override name = "HangError";
}

/**
 * Settles `p` or fails after `ms`: the "never hang" check.
 *
 * @param p The promise.
 * @param ms The bound.
 * @param what What is awaited, for the message.
 * @returns What `p` resolved with.
 * @throws {HangError} When `p` has not settled after `ms`.
 */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new HangError(`${what}: no outcome after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The outcome of a promise that must reject: the error, or a failure message.
 *
 * @param p The promise.
 * @param ms The bound.
 * @param what For messages.
 * @returns The rejection reason.
 * @throws {Error} When `p` resolves or hangs.
 */
export async function rejection(p: Promise<unknown>, ms: number, what: string): Promise<unknown> {
  let value: unknown;
  try {
    value = await within(p, ms, what);
  } catch (err) {
    if (err instanceof HangError) throw err;
    return err;
  }
  throw new Error(`${what}: resolved with ${JSON.stringify(value)} instead of rejecting`);
}
