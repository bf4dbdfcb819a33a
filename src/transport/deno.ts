/**
 * The Deno transport adapter: `Deno.connect` / `Deno.startTls` and `Deno.listen` as the adapter
 * contract of `_conn.ts` (each connection a `PullConn` of `_pull_conn.ts`), from which the shared
 * helper builds the public web-streams {@linkcode Transport}. Compiles without Deno's type
 * package: the few members it uses are declared below as `*Like` interfaces and `Deno` is read
 * from `globalThis`. Loads no `node:` module, except for TLS listening (see {@linkcode listenDeno}).
 *
 * @module
 */

import { ConnectionError } from "../errors.ts";
import { type Conn, connectConn, type ConnListener, listenConns } from "./_conn.ts";
import { acceptErrorAction } from "./_errors.ts";
import { PullConn, type PullSocket } from "./_pull_conn.ts";
import type {
  ConnectOptions,
  Listener,
  ListenOptions,
  NetAddr,
  Transport,
  TransportAdapter,
} from "./types.ts";

/** The part of `Deno.Conn` (and `Deno.TlsConn`) used here. */
interface DenoConnLike extends PullSocket {
  readonly remoteAddr: { hostname: string; port: number };
  setNoDelay?(noDelay?: boolean): void;
  handshake?(): Promise<unknown>;
}

/** The part of `Deno.Listener` used here. */
interface DenoListenerLike {
  readonly addr: { hostname: string; port: number };
  accept(): Promise<DenoConnLike>;
  close(): void;
}

/** The part of the `Deno` namespace used here. */
interface DenoLike {
  connect(options: {
    hostname: string;
    port: number;
    transport: "tcp";
    signal?: AbortSignal;
  }): Promise<DenoConnLike>;
  startTls(
    conn: DenoConnLike,
    options: { hostname: string; caCerts?: string[] },
  ): Promise<DenoConnLike>;
  listen(options: { hostname: string; port: number; transport: "tcp" }): DenoListenerLike;
}

/**
 * The accept loop's pause after an error that is not about one connection (out of file
 * descriptors, unknown): from the first to the last value, doubling, until an accept succeeds.
 */
const ACCEPT_BACKOFF_MIN_MS = 5;
const ACCEPT_BACKOFF_MAX_MS = 100;

function deno(): DenoLike {
  const value = (globalThis as { Deno?: DenoLike }).Deno;
  if (value === undefined) throw new ConnectionError("Cannot use the Deno adapter: not on Deno");
  return value;
}

function setNoDelay(conn: DenoConnLike): void {
  try {
    conn.setNoDelay?.(true);
  } catch {
    // Not every connection kind supports it.
  }
}

/** A `Deno.Conn` as the adapter's {@linkcode Conn}. */
function denoConn(conn: DenoConnLike): Conn {
  return new PullConn(conn, { hostname: conn.remoteAddr.hostname, port: conn.remoteAddr.port });
}

/**
 * Opens a TCP or TLS connection with Deno's APIs.
 *
 * TLS uses `Deno.connect` then `Deno.startTls`, so no-delay is set on the TCP socket and
 * `serverName` is honoured. `insecureSkipVerify` is not supported by Deno's per-connection API.
 *
 * @throws {ConnectionError} When the connection fails or times out.
 * @throws {unknown} `options.signal.reason` when aborted.
 *
 * @example Connect with a deadline
 * ```ts
 * import { connectDeno } from "@dflock/dflock/transport/deno";
 *
 * const transport = await connectDeno({
 *   hostname: "127.0.0.1",
 *   port: 6388,
 *   signal: AbortSignal.timeout(2_000),
 * });
 * const writer = transport.writable.getWriter();
 * await writer.write(new TextEncoder().encode("p\n\n\n"));
 * writer.releaseLock();
 * await transport.close();
 * ```
 */
export function connectDeno(options: ConnectOptions): Promise<Transport> {
  const { hostname, port, tls } = options;
  return connectConn(options, (action) => {
    if (tls?.insecureSkipVerify) {
      throw new ConnectionError(`${action}: insecureSkipVerify is not supported on Deno`);
    }
    const controller = new AbortController();
    let tcp: DenoConnLike | undefined;
    const promise = (async (): Promise<Conn> => {
      tcp = await deno().connect({ hostname, port, transport: "tcp", signal: controller.signal });
      if (controller.signal.aborted) {
        tcp.close();
        throw new ConnectionError(`${action}: cancelled`);
      }
      setNoDelay(tcp);
      if (tls === undefined) return denoConn(tcp);
      const secure = await deno().startTls(tcp, {
        hostname: tls.serverName ?? hostname,
        ...(tls.caCerts !== undefined ? { caCerts: tls.caCerts } : {}),
      });
      try {
        await secure.handshake?.();
      } catch (err) {
        secure.close();
        throw err;
      }
      return denoConn(secure);
    })();
    return {
      promise,
      cancel: () => {
        controller.abort();
        try {
          tcp?.close();
        } catch {
          // Already closed or handed to TLS.
        }
      },
      phase: () => tls !== undefined && tcp !== undefined ? "tls" : "tcp",
    };
  });
}

/** A `Deno.Listener` as the adapter's {@linkcode ConnListener}. */
class DenoListener implements ConnListener {
  readonly addr: NetAddr;
  #listener: DenoListenerLike;
  #closed = false;

  constructor(listener: DenoListenerLike) {
    this.#listener = listener;
    this.addr = { hostname: listener.addr.hostname, port: listener.addr.port };
  }

  /**
   * Accepts the next connection. An error about one connection (the client reset it before it
   * was accepted: Deno then fails with `NotConnected`) is skipped at once, so it never delays
   * the connections behind it; only errors that are not about one connection (out of file
   * descriptors) pause the loop, briefly.
   */
  async accept(): Promise<Conn | null> {
    let backoffMs = 0;
    while (!this.#closed) {
      let conn: DenoConnLike;
      try {
        conn = await this.#listener.accept();
      } catch (err) {
        const action = this.#closed ? "closed" : acceptErrorAction(err);
        if (action === "closed") return null;
        if (action === "skip") continue;
        backoffMs = Math.min(Math.max(backoffMs * 2, ACCEPT_BACKOFF_MIN_MS), ACCEPT_BACKOFF_MAX_MS);
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
        continue;
      }
      if (this.#closed) {
        conn.close();
        return null;
      }
      setNoDelay(conn);
      return denoConn(conn);
    }
    return null;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * Binds a TCP listener with `Deno.listen`, or a TLS listener (1.2 minimum) with Deno's
 * `node:net` / `node:tls`, as `listenNode` of `@dflock/dflock/transport/node` does: every TCP
 * connection is handed out before any TLS byte and the handshake runs on the first read or
 * write. The `node:` modules are loaded on the first TLS listen, never for plain TCP.
 *
 * `Deno.listenTls` is not used: its accept also returns before the handshake, but closing such
 * a connection before the handshake completes leaves the TCP connection open (Deno 2.x), so a
 * connection refused by `max_connections` or timed out mid-handshake would never be closed.
 * Deno's `node:tls` also loses the peer's EOF if it arrives while the socket is paused, so
 * accepted TLS connections are read without flow control.
 *
 * @throws {ConnectionError} When binding fails (address in use, bad certificate).
 *
 * @example Accept connections on a free port
 * ```ts
 * import { listenDeno } from "@dflock/dflock/transport/deno";
 *
 * const listener = await listenDeno({ hostname: "127.0.0.1", port: 0 });
 * console.log(`listening on port ${listener.addr.port}`);
 * for await (const transport of listener) {
 *   await transport.close(); // a real server would read requests here
 *   break;
 * }
 * await listener.close();
 * ```
 */
export function listenDeno(options: ListenOptions): Promise<Listener> {
  const bind = (): DenoListener =>
    new DenoListener(
      deno().listen({ hostname: options.hostname, port: options.port, transport: "tcp" }),
    );
  return listenConns(options, bind, true);
}

/**
 * The Deno {@linkcode TransportAdapter}: {@linkcode connectDeno} and {@linkcode listenDeno}.
 *
 * @example Pin the server and client to the Deno adapter
 * ```ts
 * import { connect } from "@dflock/dflock";
 * import { serve } from "@dflock/dflock/server";
 * import { denoAdapter } from "@dflock/dflock/transport/deno";
 *
 * await using server = await serve({ port: 0, transport: denoAdapter });
 * await using conn = await connect({ port: server.addr.port, transport: denoAdapter });
 * console.log(conn.address);
 * ```
 */
export const denoAdapter: TransportAdapter = {
  runtime: "deno",
  connect: connectDeno,
  listen: listenDeno,
};
