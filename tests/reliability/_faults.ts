/**
 * Fault injection through the public `transport` options (no change to `src/`):
 *
 * - {@linkcode ClientTap}: a client `TransportAdapter` wrapper per worker. It timestamps what
 *   the client reads (grant receipt) and the renewals it sends, closes the worker's
 *   connection on demand (a client-side connection loss mid-hold), and can stall outgoing
 *   writes (a holder frozen past its lease: renewals never leave, the lease runs out while the
 *   rest of the process, the server included, keeps running) and thaw them afterwards;
 * - {@linkcode ServerTap}: a server `TransportAdapter` wrapper that remembers, from the
 *   responses the server writes, which accepted connection (and server connection id) holds
 *   which token, and closes the server side of the connection holding a given token (a
 *   server-side drop).
 *
 * @module
 */

import type {
  ConnectOptions,
  Listener,
  ListenOptions,
  Transport,
  TransportAdapter,
} from "../../src/transport/types.ts";
import { wrapAccepted } from "../_helpers/accept_wrapper.ts";

const TOKEN = /[0-9a-f]{32}/g;

function latin1(chunk: Uint8Array): string {
  let s = "";
  for (let i = 0; i < chunk.length; i++) s += String.fromCharCode(chunk[i]!);
  return s;
}

/** A client transport seen through a {@linkcode ClientTap}. */
class TappedClient implements Transport {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly closed: Promise<void>;
  readonly remoteAddr: Transport["remoteAddr"];
  readonly #inner: Transport;
  #closing = false;
  #releaseStall: (() => void) | undefined;
  #stall: Promise<void> | undefined;

  constructor(inner: Transport, tap: ClientTap) {
    this.#inner = inner;
    this.closed = inner.closed;
    this.remoteAddr = inner.remoteAddr;
    this.readable = inner.readable.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller): void {
          tap.lastReadAt = performance.now();
          controller.enqueue(chunk);
        },
      }),
    );
    const writer = inner.writable.getWriter();
    writer.closed.catch(() => {});
    this.writable = new WritableStream<Uint8Array>({
      write: async (chunk): Promise<void> => {
        if (this.#stall !== undefined) await this.#stall;
        if (this.#closing) throw new Error("closed by the fault injector");
        const c0 = chunk[0];
        const c1 = chunk[1];
        // `n` (lock renew) or `sn` (semaphore renew), as the first request line.
        if (c0 === 0x6e || (c0 === 0x73 && c1 === 0x6e)) tap.lastRenewAt = performance.now();
        await writer.write(chunk);
      },
      close: () => writer.close(),
      abort: (reason) => writer.abort(reason),
    });
  }

  /** Holds every later write until {@linkcode resume} or the close. */
  stall(): void {
    this.#stall ??= new Promise((resolve) => this.#releaseStall = resolve);
  }

  /** Lets the held writes go, in order. */
  resume(): void {
    this.#releaseStall?.();
    this.#stall = this.#releaseStall = undefined;
  }

  close(): Promise<void> {
    this.#closing = true;
    this.#releaseStall?.();
    return this.#inner.close();
  }
}

/** A per-worker client adapter wrapper: pass `tap.adapter` as the lock's `transport`. */
export class ClientTap {
  /** The adapter to hand to `DistributedLock` / `DistributedSemaphore`. */
  readonly adapter: TransportAdapter;
  /** Time the last chunk was read from the server (parent clock). */
  lastReadAt = 0;
  /** Time the last renewal request was written to the socket. */
  lastRenewAt = 0;
  readonly #open = new Set<TappedClient>();

  /** @param base The runtime's adapter. */
  constructor(base: TransportAdapter) {
    this.adapter = {
      runtime: base.runtime,
      listen: (o: ListenOptions): Promise<Listener> => base.listen(o),
      connect: async (o: ConnectOptions): Promise<Transport> => {
        const t = new TappedClient(await base.connect(o), this);
        this.#open.add(t);
        void t.closed.then(() => this.#open.delete(t));
        return t;
      },
    };
  }

  /**
   * Closes every open connection of the worker (client-side loss: its pooled connections,
   * the one holding its lock among them).
   *
   * @returns Resolves once closed.
   */
  async closeConnections(): Promise<void> {
    await Promise.all([...this.#open].map((t) => t.close()));
  }

  /** Freezes every open connection of the worker: nothing more is sent (renewals included). */
  stallConnections(): void {
    for (const t of this.#open) t.stall();
  }

  /**
   * Thaws them: what was held back is sent. Connections left frozen would sit in the pool
   * until the server's read timeout closed them under a later request.
   */
  resumeConnections(): void {
    for (const t of this.#open) t.resume();
  }
}

/** The server adapter wrapper: maps tokens to accepted connections and drops them. */
export class ServerTap {
  /** The adapter to hand to `serve({ transport })`. */
  readonly adapter: TransportAdapter;
  readonly #byToken = new Map<string, Transport>();
  readonly #ids = new WeakMap<Transport, number>();
  #accepted = 0;

  /** @param base The runtime's adapter. */
  constructor(base: TransportAdapter) {
    const byToken = this.#byToken;
    const wrap = (inner: Transport): Transport => {
      const writer = inner.writable.getWriter();
      writer.closed.catch(() => {});
      const tapped: Transport = {
        readable: inner.readable,
        closed: inner.closed,
        remoteAddr: inner.remoteAddr,
        close: () => inner.close(),
        writable: new WritableStream<Uint8Array>({
          write(chunk): Promise<void> {
            for (const m of latin1(chunk).matchAll(TOKEN)) byToken.set(m[0], tapped);
            return writer.write(chunk);
          },
          close: () => writer.close(),
          abort: (reason) => writer.abort(reason),
        }),
      };
      void inner.closed.then(() => {
        for (const [token, t] of byToken) if (t === tapped) byToken.delete(token);
      });
      this.#ids.set(tapped, ++this.#accepted);
      return tapped;
    };
    this.adapter = wrapAccepted(base, wrap);
  }

  /**
   * The server's id of the connection that was granted `token` (the server numbers accepted
   * connections 1, 2, ... in accept order, as this tap does).
   *
   * @param token A granted token.
   * @returns The id, or `undefined` when unknown.
   */
  connIdOf(token: string): number | undefined {
    const t = this.#byToken.get(token);
    return t === undefined ? undefined : this.#ids.get(t);
  }

  /**
   * Closes the server side of the connection that was granted `token`.
   *
   * @param token A token the server wrote.
   * @returns `true` when such a connection was open.
   */
  drop(token: string): boolean {
    const t = this.#byToken.get(token);
    if (t === undefined) return false;
    this.#byToken.delete(token);
    void t.close().catch(() => {});
    return true;
  }
}
