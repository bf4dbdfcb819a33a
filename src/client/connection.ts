/**
 * One client connection to a dflockd server: connect (TCP or TLS, optional `auth`), then
 * pipelined request/reply with FIFO matching over any {@linkcode Transport}.
 *
 * @module
 */

import { getAdapter } from "../transport/auto.ts";
import { openChannel } from "../transport/channel.ts";
import type {
  ByteChannel,
  TlsConnectOptions,
  Transport,
  TransportAdapter,
} from "../transport/types.ts";
import { COMMAND, STATUS } from "../protocol/commands.ts";
import type { Command } from "../protocol/commands.ts";
import { encodeRequest, joinRequests, validateAuthToken } from "../protocol/encode.ts";
import { CLIENT_MAX_LINE_BYTES, LINE_TOO_LONG, LineDecoder } from "../protocol/line_decoder.ts";
import { opensTlsRecord } from "../protocol/tls_record.ts";
import { decodeUtf8 } from "../protocol/utf8.ts";
import { formatAddr, toConnectionError } from "../transport/_errors.ts";
import {
  authRefused,
  ConnectionError,
  DflockError,
  DrainingError,
  ProtocolError,
  RequestTimeoutError,
} from "../errors.ts";

/** Marks a close the client asked for, before an error object was needed. */
const CLOSED_BY_CLIENT: unique symbol = Symbol("closed by the client");

/** Default server host. */
export const DEFAULT_HOST = "127.0.0.1";
/** Default server port. */
export const DEFAULT_PORT = 6388;
/** Default bound on TCP/TLS connect plus the auth round trip, in milliseconds. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Options of {@linkcode connect}.
 */
export interface ConnectionOptions {
  /** Server host name or IP address. @default {"127.0.0.1"} */
  host?: string;
  /** Server port. @default {6388} */
  port?: number;
  /** `true`: TLS with the system trust store; an object: TLS with these settings. */
  tls?: boolean | TlsConnectOptions;
  /** Shared secret, sent as `auth\n_\n<token>\n` before anything else. */
  authToken?: string;
  /** Bound on connecting plus authenticating, in milliseconds. @default {10000} */
  connectTimeoutMs?: number;
  /** Aborting cancels connecting; the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Transport adapter. @default {the running runtime's, from `getAdapter()`} */
  transport?: TransportAdapter;
  /**
   * `true`: the open connection keeps the process alive only while a request is waiting for
   * its reply, so an idle connection never holds a finished script open (the client's pooled
   * connections use this). @default {false}
   */
  unrefWhenIdle?: boolean;
}

/**
 * The options every call that talks to a server takes: an `AbortSignal`. Aborting rejects the
 * call with `signal.reason`; a blocked acquire is given up, and a request already written
 * closes its connection (its reply could never be matched safely afterwards).
 */
export interface CallOptions {
  /** Aborting rejects the call with `signal.reason` (see above). */
  signal?: AbortSignal;
}

interface Pending {
  resolve: (line: string) => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  done: boolean;
  /** When it was written (performance.now() ms). */
  sentAt: number;
  /** How long the server may legitimately keep it waiting: a blocking request's timeout, ms. */
  blockMs: number;
}

/**
 * Called once, synchronously, when a connection closes (by either side, for any reason),
 * before its transport has finished closing.
 */
export type CloseListener = (reason: DflockError, idle: boolean) => void;

/** Commands whose first argument is a timeout in seconds the server may block for. */
const BLOCKING: ReadonlySet<string> = new Set([
  COMMAND.lock,
  COMMAND.semAcquire,
  COMMAND.wait,
  COMMAND.semWait,
]);

/** The blocking time a request's argument line allows, in ms (0 for non-blocking ones). */
function blockingMs(command: string, arg: string): number {
  if (!BLOCKING.has(command)) return 0;
  const seconds = parseInt(arg, 10);
  return seconds > 0 ? seconds * 1000 : 0;
}

/** What to do when the server turns out to speak TLS. */
const USE_TLS = "connect with tls: true (--tls on the command line)";
/** A settled promise: `SETTLED.then(fn)` runs `fn` in a microtask. */
const SETTLED: Promise<void> = Promise.resolve();

/** `error_draining`, alone or followed by more text (docs/protocol.md 15.4). */
function isDraining(line: string): boolean {
  return line.startsWith(STATUS.errorDraining) &&
    (line.length === STATUS.errorDraining.length || line[STATUS.errorDraining.length] === " ");
}

/**
 * An open connection to a dflockd server. Create it with {@linkcode connect}.
 *
 * Requests may be pipelined; replies are matched to requests in order. A connection with an
 * aborted, unanswered request is closed and never reused.
 *
 * @example Send a raw request
 * ```ts
 * import { connect } from "@dflock/dflock";
 *
 * await using conn = await connect({ host: "127.0.0.1", port: 6388 });
 * const line = await conn.request("l", "jobs/1", "10"); // "ok <token> <lease>" or "timeout"
 * ```
 */
export class Connection implements AsyncDisposable {
  /** The server address, `host:port`. */
  readonly address: string;
  /** Resolves (never rejects) once the connection is closed, by either side. */
  readonly closed: Promise<void>;

  readonly #transport: Transport;
  readonly #io: ByteChannel;
  #pending: Pending[];
  /** Encoded requests not yet written: every request of one tick goes out in one write. */
  #outbox: Uint8Array[] = [];
  #outboxBytes = 0;
  #flushQueued = false;
  readonly #flush = (): void => this.#writeOutbox();
  readonly #onWriteError = (err: unknown): void =>
    this.#fail(new ConnectionError(`Cannot write to ${this.address}`, { cause: err }));
  /** `true` when idle means unref'd; `#refed` is the state last applied to the transport. */
  #unrefWhenIdle = false;
  #refed = true;
  /** Why the connection closed; `CLOSED_BY_CLIENT` until an error object is needed. */
  #closedError: DflockError | typeof CLOSED_BY_CLIENT | undefined;
  #lastActivity: number;
  #closeListeners: Set<CloseListener> | undefined;
  #resolveClosed!: () => void;
  #shutdown: Promise<void> | undefined;
  /** Known to be plain TCP: a TLS server is recognised (see the constructor). */
  readonly #plain: boolean;
  /** Whether any byte came from the server yet. */
  #heard = false;

  /**
   * Wraps an open transport. Applications call {@linkcode connect} instead.
   *
   * @param transport The open byte stream.
   * @param address The server address, `host:port`, for messages.
   * @param options `tls: false` says the transport is plain TCP: a server that answers with
   *   TLS bytes then fails the connection with a {@linkcode ConnectionError} of code
   *   `"tls_mismatch"`, and one that closes it before any reply gets a hint about TLS.
   */
  constructor(transport: Transport, address: string, options?: { tls?: boolean }) {
    this.address = address;
    this.#plain = options?.tls === false;
    this.#transport = transport;
    this.#io = openChannel(transport);
    // Fields that change at close are set here, not by initializers (which would let V8 treat
    // them as constant until the first close, then discard the code that read them): see
    // docs/performance.md, "The first close".
    this.#pending = [];
    this.#closedError = undefined;
    this.#lastActivity = performance.now();
    this.closed = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
    });
    // Normally the read loop sees EOF first. This is a backstop; the macrotask delay lets the
    // loop drain chunks already queued (a last reply, e.g. `error_auth`) before failing.
    const onClosed = (): void => {
      if (this.#closedError !== undefined) return;
      setTimeout(() => {
        if (this.#closedError === undefined) {
          this.#fail(new ConnectionError(`Connection to ${address} closed`));
        }
      }, 0);
    };
    transport.closed.then(onClosed, onClosed);
    void this.#readLoop();
  }

  /**
   * Lets the process exit while no request is in flight on this connection (see
   * {@linkcode ConnectionOptions.unrefWhenIdle}); `connect()` calls it for that option.
   *
   * @example Keep an open connection from holding the process
   * ```ts
   * const conn = await connect();
   * conn.unrefWhenIdle();
   * ```
   */
  unrefWhenIdle(): void {
    this.#unrefWhenIdle = true;
    this.#updateRef();
  }

  #updateRef(): void {
    const want = !this.#unrefWhenIdle || this.#pending.length > 0;
    if (want === this.#refed) return;
    this.#refed = want;
    if (want) this.#transport.ref?.();
    else this.#transport.unref?.();
  }

  /** `true` once the connection is closed or closing; requests then reject. */
  get isClosed(): boolean {
    return this.#closedError !== undefined;
  }

  /**
   * Milliseconds since the last request was written or reply received.
   *
   * @example Ping a connection that has been quiet too long
   * ```ts
   * import { ping } from "@dflock/dflock";
   *
   * await using conn = await connect();
   * if (conn.idleMs > 30_000) await ping(conn);
   * ```
   */
  get idleMs(): number {
    return performance.now() - this.#lastActivity;
  }

  /**
   * Number of requests written and not yet answered.
   *
   * @example See pipelined requests in flight
   * ```ts
   * import { ping } from "@dflock/dflock";
   *
   * await using conn = await connect();
   * const replies = Promise.all([ping(conn), ping(conn)]);
   * console.log(conn.pendingCount); // 2 until the answers arrive
   * await replies;
   * ```
   */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /**
   * Writes one request (`command\nkey\narg\n`, in one write) and waits for its reply line.
   *
   * @param command The command (from `COMMAND`).
   * @param key The key line (`_` for `stats`, `auth`, `ping`).
   * @param arg The argument line (may be empty).
   * @param options `signal` to abort the call.
   * @returns The reply line as text, without its `\n`.
   * @throws {ConnectionError} When the connection is or gets closed before the reply.
   * @throws {ProtocolError} When the reply line is longer than 1 MiB.
   * @throws {TypeError} When a line contains a line feed.
   * @throws {unknown} `options.signal.reason` when aborted.
   *
   * @example Pipeline two requests
   * ```ts
   * await using conn = await connect();
   * const [a, b] = await Promise.all([
   *   conn.request("stats", "_", ""),
   *   conn.request("ping", "_", "_"),
   * ]);
   * ```
   */
  request(command: Command, key: string, arg: string, options?: CallOptions): Promise<string> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#closedError !== undefined) {
      return Promise.reject(
        new ConnectionError(`Connection to ${this.address} is closed`, { cause: this.#reason() }),
      );
    }
    let bytes: Uint8Array;
    try {
      bytes = encodeRequest(command, key, arg);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<string>((resolve, reject) => {
      const now = performance.now();
      const p: Pending = {
        resolve,
        reject,
        signal,
        onAbort: undefined,
        done: false,
        sentAt: now,
        blockMs: blockingMs(command, arg),
      };
      if (signal !== undefined) {
        p.onAbort = () => this.#abort(p);
        signal.addEventListener("abort", p.onAbort, { once: true });
      }
      this.#pending.push(p);
      if (!this.#refed) this.#updateRef();
      this.#lastActivity = now;
      this.#outbox.push(bytes);
      this.#outboxBytes += bytes.byteLength;
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        // A reaction on a settled promise, not queueMicrotask: on Node that wraps every
        // callback in an async resource, one more allocation per request.
        SETTLED.then(this.#flush);
      }
    });
  }

  /** Writes every request queued since the last flush in one write. */
  #writeOutbox(): void {
    this.#flushQueued = false;
    const parts = this.#outbox;
    if (parts.length === 0 || this.#closedError !== undefined) return;
    const bytes = parts.length === 1 ? parts[0]! : joinRequests(parts, this.#outboxBytes);
    this.#outbox = [];
    this.#outboxBytes = 0;
    this.#io.write(bytes).then(undefined, this.#onWriteError);
  }

  /**
   * Registers `listener` to be called once, synchronously, when the connection closes (at
   * once if it already has). A client's pooled connections use this to report a lost lease at
   * the moment the connection that held it is gone.
   *
   * @param listener Gets the reason and whether no request was in flight.
   * @returns Unregisters the listener.
   *
   * @example Log why a connection ended
   * ```ts
   * const conn = await connect();
   * conn.onClose((reason) => console.log(`closed: ${reason.message}`));
   * await conn.close();
   * ```
   */
  onClose(listener: CloseListener): () => void {
    if (this.#closedError !== undefined) {
      listener(this.#reason(), true);
      return () => {};
    }
    (this.#closeListeners ??= new Set()).add(listener);
    return () => this.#closeListeners?.delete(listener);
  }

  /**
   * Closes the connection with {@linkcode RequestTimeoutError} when a request has waited longer
   * than `timeoutMs` for its reply, beyond the blocking time its own timeout allows (`l`, `sl`,
   * `w`, `sw`). A client's pool calls this periodically for its connections.
   *
   * @param timeoutMs The longest acceptable extra wait, in ms.
   * @param now The current `performance.now()`.
   * @returns `true` if the connection was closed.
   *
   * @example Give up on a server that stopped answering
   * ```ts
   * const conn = await connect();
   * const check = setInterval(() => conn.closeIfUnanswered(5_000), 1_000);
   * await conn.request("ping", "_", "_").finally(() => clearInterval(check));
   * ```
   */
  closeIfUnanswered(timeoutMs: number, now: number = performance.now()): boolean {
    for (const p of this.#pending) {
      if (!p.done && now - p.sentAt - p.blockMs > timeoutMs) {
        this.#fail(
          new RequestTimeoutError(
            `No reply from ${this.address} within ${timeoutMs} ms: the connection is closed ` +
              `(the server is frozen, overloaded or unreachable)`,
          ),
        );
        return true;
      }
    }
    return false;
  }

  /**
   * Closes the connection. Pending requests reject with {@linkcode ConnectionError}.
   * Idempotent.
   *
   * @returns Resolves once the transport is closed.
   */
  close(): Promise<void> {
    this.#fail(CLOSED_BY_CLIENT);
    return this.closed;
  }

  /** Closes the connection without waiting (like `socket.destroy()`). */
  destroy(): void {
    void this.close();
  }

  /**
   * Closes the connection (for `await using`).
   *
   * @returns Resolves once the transport is closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #settle(p: Pending): void {
    p.done = true;
    if (p.onAbort !== undefined) p.signal!.removeEventListener("abort", p.onAbort);
  }

  #abort(p: Pending): void {
    if (p.done) return;
    this.#settle(p);
    const reason = p.signal!.reason;
    p.reject(reason);
    this.#fail(
      new ConnectionError(`Connection to ${this.address} closed: a pending request was aborted`, {
        cause: reason,
      }),
    );
  }

  #deliver(line: string): void {
    const p = this.#pending.shift();
    if (p === undefined) {
      // Before the activity time moves: `idleMs` then tells how long the server had been quiet.
      this.#fail(
        new ProtocolError(
          `Unexpected reply from ${this.address}: no request was waiting for it (is it a ` +
            `dflockd server?)`,
          line,
        ),
      );
      return;
    }
    this.#lastActivity = performance.now();
    if (this.#pending.length === 0 && this.#unrefWhenIdle) this.#updateRef();
    if (!p.done) {
      this.#settle(p);
      p.resolve(line);
    }
    if (isDraining(line)) {
      // The server closes the connection after this line and releases what it held
      // (docs/protocol.md 15.6): it is gone now, not when the close arrives.
      this.#fail(
        new DrainingError(`${this.address} is shutting down (error_draining): connection closed`),
      );
    }
  }

  /** The close reason as an error (created on first need: most closes never need one). */
  #reason(): DflockError {
    const why = this.#closedError;
    if (why === undefined || why === CLOSED_BY_CLIENT) {
      return this.#closedError = new ConnectionError(
        `Connection to ${this.address} closed by the client`,
      );
    }
    return why;
  }

  /** Closes with `why`: the first pending request gets it, the others a ConnectionError. */
  #fail(why: DflockError | typeof CLOSED_BY_CLIENT): void {
    if (this.#closedError !== undefined) return;
    this.#closedError = why;
    const pending = this.#pending;
    this.#pending = [];
    const idle = pending.every((p) => p.done);
    const err = pending.length > 0 ? this.#reason() : undefined;
    let first = true;
    for (const p of pending) {
      if (p.done) continue;
      this.#settle(p);
      p.reject(
        first || err instanceof ConnectionError
          ? err!
          : new ConnectionError(`Connection to ${this.address} closed`, { cause: err }),
      );
      first = false;
    }
    const listeners = this.#closeListeners;
    if (listeners !== undefined) {
      this.#closeListeners = undefined;
      const reason = this.#reason();
      for (const listener of listeners) listener(reason, idle);
    }
    this.#shutdown ??= this.#transport.close().then(
      () => this.#resolveClosed(),
      () => this.#resolveClosed(),
    );
  }

  async #readLoop(): Promise<void> {
    const decoder = new LineDecoder(CLIENT_MAX_LINE_BYTES);
    try {
      for (;;) {
        const chunk = await this.#io.read();
        if (this.#closedError !== undefined) return;
        if (chunk === null) {
          const partial = decoder.buffered > 0 ? " in the middle of a reply" : "";
          this.#fail(
            new ConnectionError(
              `Connection to ${this.address} closed by the server${partial}${this.#tlsHint()}`,
            ),
          );
          return;
        }
        if (!this.#heard) {
          this.#heard = true;
          if (this.#plain && opensTlsRecord(chunk, false)) {
            this.#fail(
              new ConnectionError(
                `Cannot talk to ${this.address}: the server speaks TLS: ${USE_TLS}`,
                { code: "tls_mismatch" },
              ),
            );
            return;
          }
        }
        decoder.push(chunk);
        for (;;) {
          const line = decoder.nextLine();
          if (line === null) break;
          if (line === LINE_TOO_LONG) {
            this.#failTooLong();
            return;
          }
          this.#deliver(decodeUtf8(line));
          if (this.#closedError !== undefined) return;
        }
        if (decoder.inLongLine) {
          this.#failTooLong();
          return;
        }
        if (decoder.buffered > 0 && this.#pending.length === 0) {
          // Part of a line nobody asked for: never let a later request read it as its answer.
          this.#fail(
            new ProtocolError(
              `Unexpected bytes from ${this.address}: no request was waiting for them (is it a ` +
                `dflockd server?)`,
            ),
          );
          return;
        }
      }
    } catch (err) {
      const hint = this.#tlsHint();
      if (err instanceof DflockError) {
        this.#fail(hint === "" ? err : new ConnectionError(err.message + hint, { cause: err }));
      } else {
        this.#fail(
          new ConnectionError(`Connection to ${this.address} failed${hint}`, { cause: err }),
        );
      }
    }
  }

  /**
   * A plain connection that the server closes before any byte, with a request waiting: what a
   * TLS server does with plain text (ours when it runs on Node, Go's `crypto/tls`), though a
   * server at its connection limit does it too. Returns the hint to append, or `""`.
   */
  #tlsHint(): string {
    if (!this.#plain || this.#heard || this.#pending.length === 0) return "";
    return ` before any reply; if the server speaks TLS, ${USE_TLS}`;
  }

  #failTooLong(): void {
    this.#fail(
      new ProtocolError(
        `Reply from ${this.address} is longer than ${CLIENT_MAX_LINE_BYTES} bytes`,
      ),
    );
  }
}

/**
 * Sends `auth` on a fresh connection.
 *
 * @throws {AuthError} On any answer but `ok`.
 */
async function authenticate(conn: Connection, token: string, signal: AbortSignal): Promise<void> {
  validateAuthToken(token);
  const line = await conn.request(COMMAND.auth, "_", token, { signal });
  if (line.trim() !== STATUS.ok) throw authRefused(`Cannot authenticate to ${conn.address}`, line);
}

/**
 * Opens a connection to a dflockd server and authenticates when `authToken` is set.
 *
 * @throws {ConnectionError} When connecting fails or takes longer than `connectTimeoutMs`.
 * @throws {AuthError} When the server refuses the auth token (the connection is closed).
 * @throws {TypeError} On a bad host or auth token.
 * @throws {RangeError} On a bad port or timeout.
 * @throws {unknown} `options.signal.reason` when aborted.
 *
 * @example Connect, ping, close
 * ```ts
 * import { connect } from "@dflock/dflock";
 *
 * const conn = await connect({ host: "127.0.0.1", port: 6388, connectTimeoutMs: 2000 });
 * try {
 *   console.log(await conn.request("stats", "_", ""));
 * } finally {
 *   await conn.close();
 * }
 * ```
 */
export async function connect(options: ConnectionOptions = {}): Promise<Connection> {
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? DEFAULT_PORT;
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (typeof host !== "string" || host === "") {
    throw new TypeError("host must be a non-empty string");
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`port must be an integer from 1 to 65535 (got ${port})`);
  }
  if (typeof timeoutMs !== "number" || !(timeoutMs > 0)) {
    throw new RangeError(`connectTimeoutMs must be a positive number (got ${timeoutMs})`);
  }
  const authToken = options.authToken;
  if (authToken !== undefined) validateAuthToken(authToken);
  const userSignal = options.signal;
  userSignal?.throwIfAborted();
  const tls = options.tls === true ? {} : options.tls === false ? undefined : options.tls;
  const address = formatAddr({ hostname: host, port });
  const startedAt = performance.now();
  const adapter = options.transport ?? await getAdapter();
  userSignal?.throwIfAborted();

  // The adapter bounds the connect by `timeoutMs` itself, and its timeout error tells how far
  // it got (a TLS handshake that never finishes hints at a server without TLS). The built-in
  // adapters always do; for a custom one a backstop deadline, slightly later, makes sure.
  let signal = userSignal;
  let backstop: ReturnType<typeof setTimeout> | undefined;
  if (options.transport !== undefined) {
    const deadline = new AbortController();
    backstop = setTimeout(() => {
      deadline.abort(
        new ConnectionError(`Cannot connect to ${address}: timed out after ${timeoutMs} ms`),
      );
    }, timeoutMs + BACKSTOP_SLACK_MS);
    signal = userSignal === undefined
      ? deadline.signal
      : AbortSignal.any([userSignal, deadline.signal]);
  }
  let transport: Transport;
  try {
    transport = await adapter.connect({ hostname: host, port, tls, signal, timeoutMs });
  } catch (err) {
    throw connectFailure(err, signal, address);
  } finally {
    if (backstop !== undefined) clearTimeout(backstop);
  }
  const conn = new Connection(transport, address, { tls: tls !== undefined });
  if (options.unrefWhenIdle === true) conn.unrefWhenIdle();
  if (authToken === undefined) return conn;

  // Authenticating gets what is left of `connectTimeoutMs`.
  const deadline = new AbortController();
  const timer = setTimeout(() => {
    deadline.abort(
      new ConnectionError(
        `Cannot connect to ${address}: timed out after ${timeoutMs} ms (no answer to auth)`,
      ),
    );
  }, Math.max(0, startedAt + timeoutMs - performance.now()));
  const authSignal = userSignal === undefined
    ? deadline.signal
    : AbortSignal.any([userSignal, deadline.signal]);
  try {
    await authenticate(conn, authToken, authSignal);
  } catch (err) {
    await conn.close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return conn;
}

/** How much later than `connectTimeoutMs` the backstop deadline of a custom adapter fires. */
const BACKSTOP_SLACK_MS = 100;

/** What a failed transport connect rejects with: `signal.reason` when aborted. */
function connectFailure(err: unknown, signal: AbortSignal | undefined, address: string): unknown {
  if (signal?.aborted) return signal.reason;
  if (err instanceof DflockError) return err;
  return toConnectionError(`Cannot connect to ${address}`, err);
}
