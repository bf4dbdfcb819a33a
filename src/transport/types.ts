/**
 * The runtime-neutral transport contract. Everything above `src/transport/` speaks only these
 * types. Each runtime adapter (`deno.ts`, `bun.ts`, `node.ts`) provides a connection as a byte
 * channel and a listener that accepts them (`_conn.ts`); one shared helper builds these types,
 * web streams included, on top of that.
 *
 * @module
 */

/** A bidirectional byte stream (a TCP or TLS connection) on web streams. */
export interface Transport {
  /** Bytes from the peer. Ends (done) on the peer's EOF; errors on a reset. */
  readonly readable: ReadableStream<Uint8Array>;
  /**
   * Bytes to the peer. A write resolves once the adapter has accepted the bytes (applying
   * backpressure); `writable.close()` half-closes the connection (sends FIN) and keeps reading.
   */
  readonly writable: WritableStream<Uint8Array>;
  /** Resolves once the connection is fully closed, whichever side closed it. Never rejects. */
  readonly closed: Promise<void>;
  /** The peer's address. */
  readonly remoteAddr: NetAddr;
  /** Closes both directions at once and releases the socket. Idempotent. */
  close(): Promise<void>;
  /**
   * Optional: the same bytes without web streams, for hot paths (the server and the client
   * use it through {@linkcode openChannel} when present). Call it at most once, and then do
   * not touch `readable` or `writable`. Adapters create their web streams only when first used.
   */
  channel?(): ByteChannel;
  /**
   * Optional: lets the process exit while this connection is open (Node's `socket.unref()`,
   * `Deno.Conn.unref()`, Bun's `socket.unref()`). Pooled client connections call it while idle.
   */
  unref?(): void;
  /** Optional: undoes {@linkcode Transport.unref}: the open connection keeps the process alive. */
  ref?(): void;
}

/**
 * A transport's bytes as plain promises: one read at a time, no stream machinery. Obtained with
 * `openChannel(transport)` from `@dflock/dflock/transport`.
 *
 * @example Send a ping and read the answer
 * ```ts
 * import { connect, openChannel } from "@dflock/dflock/transport";
 * import type { ByteChannel } from "@dflock/dflock/transport";
 *
 * const transport = await connect({ hostname: "127.0.0.1", port: 6388 });
 * const channel: ByteChannel = openChannel(transport);
 * await channel.write(new TextEncoder().encode("p\n_\n_\n"));
 * const chunk = await channel.read();
 * console.log(chunk === null ? "EOF" : new TextDecoder().decode(chunk));
 * await transport.close();
 * ```
 */
export interface ByteChannel {
  /**
   * The next bytes from the peer (ownership passes to the caller). Resolves `null` at the
   * peer's EOF or once the transport is closed locally; rejects with a `ConnectionError` on a
   * reset. Only one read may be outstanding: on the built-in adapters a second read while one
   * is pending rejects with a `TypeError` (and the pending one is unaffected).
   */
  read(): Promise<Uint8Array | null>;
  /**
   * Sends bytes; resolves once the adapter has accepted them (backpressure). Rejects with a
   * `ConnectionError` once the transport is closed. The caller must not modify `bytes` later.
   * Writes may overlap: their bytes go out whole and in call order.
   */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Sends a byte string: one byte per UTF-16 code unit, its low 8 bits (not UTF-8), so a string
   * of codes below 256 goes out as exactly those bytes. Otherwise it behaves as `write` of those
   * bytes: in order with the channel's other writes, resolving once the adapter has accepted
   * them, rejecting with a `ConnectionError` once the transport is closed. An optional fast path:
   * channels over Node's sockets have it (the Node adapter's, and the TLS connections the other
   * adapters accept), where it spares a typed array per write; callers check for it and
   * otherwise encode the string and `write`.
   */
  writeByteString?(text: string): Promise<void>;
  /**
   * Half-close: sends the end of stream (FIN) after the bytes written so far, and keeps reading.
   * Call it once the last write has settled. Rejects once the transport is closed (the built-in
   * adapters' channels with a `ConnectionError`). Optional for a channel of your own; the built-in
   * adapters' channels and the ones {@linkcode openChannel} builds over web streams have it.
   */
  closeWrite?(): Promise<void>;
}

/** A TCP address. */
export interface NetAddr {
  /** IP address or host name. */
  hostname: string;
  /** Port number. */
  port: number;
}

/** TLS settings for an outgoing connection. */
export interface TlsConnectOptions {
  /** Extra trusted CA certificates, PEM. */
  caCerts?: string[];
  /** Server name for SNI and verification; defaults to the hostname. */
  serverName?: string;
  /** Skip certificate verification (tests only). */
  insecureSkipVerify?: boolean;
}

/**
 * Options for {@linkcode Connect}.
 */
export interface ConnectOptions {
  /** Host name or IP address to connect to. */
  hostname: string;
  /** TCP port. */
  port: number;
  /** Use TLS with these settings; plain TCP when absent. */
  tls?: TlsConnectOptions;
  /** Aborting cancels the connection attempt; the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Give up after this many milliseconds with a `ConnectionError`. No limit when absent. */
  timeoutMs?: number;
}

/**
 * Opens a connection. Platform failures reject with `ConnectionError` (platform error as `cause`).
 */
export type Connect = (options: ConnectOptions) => Promise<Transport>;

/** TLS settings for a listener: PEM certificate chain and private key. */
export interface TlsListenOptions {
  /** Certificate chain, PEM text. */
  cert: string;
  /** Private key, PEM text. */
  key: string;
}

/**
 * Options for {@linkcode Listen}.
 */
export interface ListenOptions {
  /** Address to bind, e.g. `127.0.0.1`. */
  hostname: string;
  /** Port to bind; 0 picks a free one (read it back from {@linkcode Listener.addr}). */
  port: number;
  /** Accept only TLS (1.2 or later) with this certificate. */
  tls?: TlsListenOptions;
}

/**
 * A listening socket: an async iterable of accepted connections.
 *
 * @example Accept until closed
 * ```ts
 * import { listen } from "@dflock/dflock/transport";
 * import type { Listener } from "@dflock/dflock";
 *
 * const listener: Listener = await listen({ hostname: "127.0.0.1", port: 0 });
 * setTimeout(() => void listener.close(), 1_000);
 * for await (const transport of listener) await transport.close();
 * ```
 */
export interface Listener extends AsyncIterable<Transport> {
  /** The bound address (with the real port when 0 was asked for). */
  readonly addr: NetAddr;
  /** Stops accepting and closes the listening socket; iteration ends. Idempotent. */
  close(): Promise<void>;
}

/**
 * Binds a listening socket. Failures (address in use, bad certificate) reject with `ConnectionError`.
 */
export type Listen = (options: ListenOptions) => Promise<Listener>;

/**
 * One runtime's implementation of both sides.
 *
 * @example Wrap an adapter to log every connection
 * ```ts
 * import { connect as dflockConnect } from "@dflock/dflock";
 * import { getAdapter } from "@dflock/dflock/transport";
 * import type { TransportAdapter } from "@dflock/dflock";
 *
 * const base = await getAdapter();
 * const logging: TransportAdapter = {
 *   ...base,
 *   connect: (options) => {
 *     console.log(`connecting to ${options.hostname}:${options.port}`);
 *     return base.connect(options);
 *   },
 * };
 * await using conn = await dflockConnect({ transport: logging });
 * console.log(conn.address);
 * ```
 */
export interface TransportAdapter {
  /** The runtime this adapter is for. */
  readonly runtime: "deno" | "bun" | "node";
  /** Opens a connection. */
  connect: Connect;
  /** Binds a listener. */
  listen: Listen;
}
