/**
 * The Node transport adapter: `node:net` / `node:tls` sockets as the adapter contract of
 * `_conn.ts` (a byte channel fed by `onread` on Node and by `data` events elsewhere, paused while
 * the reader falls behind), from which the shared helper builds the public web-streams
 * {@linkcode Transport}.
 *
 * @module
 */

import * as net from "node:net";
import * as tls from "node:tls";
import { connectConn, transportOf } from "./_conn.ts";
import { detectRuntime } from "./auto.ts";
import { listenSockets, NodeConn, readInto } from "./_node_socket.ts";
import type {
  ConnectOptions,
  Listener,
  ListenOptions,
  Transport,
  TransportAdapter,
} from "./types.ts";

/**
 * Wraps a connected `net.Socket` (or `tls.TLSSocket`) as a {@linkcode Transport}.
 *
 * @param socket A connected socket created with `allowHalfOpen: true`.
 * @param lazyTls For a server-side TLS connection: the socket is the raw TCP socket, accepted
 *   paused (`pauseOnConnect`), and the handshake with this context runs on the transport's
 *   first read or write. Closing the transport before that sends nothing.
 * @param noReadPause With `lazyTls`: never pause the TLS socket (see {@linkcode listenNode}).
 * @returns The transport; it owns the socket from now on.
 *
 * @example Wrap a socket opened with node:net
 * ```ts
 * import { connect } from "node:net";
 * import { once } from "node:events";
 * import { nodeSocketToTransport } from "@dflock/dflock/transport/node";
 *
 * const socket = connect({ host: "127.0.0.1", port: 6388, allowHalfOpen: true });
 * await once(socket, "connect");
 * const transport = nodeSocketToTransport(socket);
 * await transport.close();
 * ```
 */
export function nodeSocketToTransport(
  socket: net.Socket,
  lazyTls?: tls.SecureContext,
  noReadPause = false,
): Transport {
  socket.setNoDelay(true);
  return transportOf(new NodeConn(socket, lazyTls, noReadPause));
}

/**
 * Opens a TCP or TLS connection with `node:net` / `node:tls`. For TLS the promise resolves once
 * the handshake and certificate check succeeded.
 *
 * @throws {ConnectionError} When the connection fails or times out.
 * @throws {unknown} `options.signal.reason` when aborted.
 *
 * @example Connect with a deadline
 * ```ts
 * import { connectNode } from "@dflock/dflock/transport/node";
 *
 * const transport = await connectNode({
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
export function connectNode(options: ConnectOptions): Promise<Transport> {
  const { hostname, port, tls: tlsOptions } = options;
  return connectConn(options, () => {
    let conn: NodeConn | undefined;
    // On Node a plain socket reads through `onread` (`readInto`): into one buffer shared by
    // every socket, copied out at once (5-15% more client throughput in docs/performance.md's
    // A/B). Node starts reading only after the "connect" listeners, one of which makes the
    // NodeConn. Bun calls the callback without its socket and Deno may not honour the option:
    // there `data` events carry the bytes.
    const readOptions = detectRuntime() === "node" ? { onread: readInto(() => conn!) } : {};
    const socket = tlsOptions === undefined
      ? net.connect({ host: hostname, port, allowHalfOpen: true, noDelay: true, ...readOptions })
      : tls.connect({
        host: hostname,
        port,
        // Honoured by tls.connect although @types/node omits it from ConnectionOptions.
        allowHalfOpen: true,
        ...(tlsOptions.caCerts !== undefined ? { ca: tlsOptions.caCerts } : {}),
        ...(tlsOptions.serverName !== undefined
          ? { servername: tlsOptions.serverName }
          : net.isIP(hostname) === 0
          ? { servername: hostname }
          : {}),
        rejectUnauthorized: tlsOptions.insecureSkipVerify !== true,
      } as tls.ConnectionOptions);
    const readyEvent = tlsOptions === undefined ? "connect" : "secureConnect";
    // With TLS, "connect" (TCP is up) comes before the handshake's "secureConnect".
    let tcpUp = false;
    if (tlsOptions !== undefined) socket.once("connect", () => tcpUp = true);
    const promise = new Promise<NodeConn>((resolve, reject) => {
      // Plain listeners that detach each other (`once` would wrap every one of them).
      const detach = (): void => {
        socket.off(readyEvent, onReady);
        socket.off("error", onError);
        socket.off("close", onClose);
      };
      const onReady = (): void => {
        detach();
        socket.setNoDelay(true);
        conn = new NodeConn(socket);
        resolve(conn);
      };
      const onError = (err: Error): void => {
        detach();
        socket.destroy();
        reject(err);
      };
      const onClose = (): void => {
        detach();
        reject(new Error("connection closed"));
      };
      socket.on(readyEvent, onReady);
      socket.on("error", onError);
      socket.on("close", onClose);
    });
    return { promise, cancel: () => socket.destroy(), phase: () => tcpUp ? "tls" : "tcp" };
  });
}

/**
 * Binds a TCP or TLS listener with `net.createServer`. With TLS (1.2 minimum, `node:tls`) every
 * TCP connection is handed out as soon as it is accepted, before any TLS byte: the server-side
 * handshake runs lazily on the transport's first read or write (so it counts against the
 * reader's deadline, like Go's `tls.Conn`), and closing an unused transport closes the TCP
 * connection without a handshake. A failed handshake errors only that transport's readable.
 *
 * The Deno and Bun adapters listen with TLS the same way (they load the `node:` modules only
 * then): `Deno.listenTls` cannot close a connection whose handshake has not completed, and a
 * lazy handshake behaves the same on all three runtimes this way.
 *
 * @param noReadPause For Deno: never pause accepted TLS sockets. Deno 2.x's `node:tls` loses
 *   the peer's EOF when it arrives while a `TLSSocket` is paused, so there reads are not
 *   flow-controlled (bytes a client sends while nothing reads are buffered without limit).
 * @throws {ConnectionError} When binding fails (address in use, bad certificate).
 *
 * @example Accept connections on a free port
 * ```ts
 * import { listenNode } from "@dflock/dflock/transport/node";
 *
 * const listener = await listenNode({ hostname: "127.0.0.1", port: 0 });
 * console.log(`listening on port ${listener.addr.port}`);
 * for await (const transport of listener) {
 *   await transport.close(); // a real server would read requests here
 *   break;
 * }
 * await listener.close();
 * ```
 */
export function listenNode(options: ListenOptions, noReadPause = false): Promise<Listener> {
  return listenSockets(options, noReadPause);
}

/**
 * The Node {@linkcode TransportAdapter}: {@linkcode connectNode} and {@linkcode listenNode}.
 *
 * @example Pin the server and client to the Node adapter
 * ```ts
 * import { connect } from "@dflock/dflock";
 * import { serve } from "@dflock/dflock/server";
 * import { nodeAdapter } from "@dflock/dflock/transport/node";
 *
 * await using server = await serve({ port: 0, transport: nodeAdapter });
 * await using conn = await connect({ port: server.addr.port, transport: nodeAdapter });
 * console.log(conn.address);
 * ```
 */
export const nodeAdapter: TransportAdapter = {
  runtime: "node",
  connect: connectNode,
  listen: listenNode,
};
