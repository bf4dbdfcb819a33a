/**
 * One client connection of the server: framing, read and write deadlines, the auth phase,
 * one request at a time in arrival order (pipelining allowed), blocking acquires and waits,
 * and disconnect cleanup (docs/protocol.md sections 1, 2, 4, 8, 10, 11, 16).
 *
 * @module
 */

import { STATUS } from "../protocol/commands.ts";
import { opensTlsRecord } from "../protocol/tls_record.ts";
import { LINE_TOO_LONG, LineDecoder, SERVER_MAX_LINE_BYTES } from "../protocol/line_decoder.ts";
import { parseRequest, type Request } from "../protocol/request.ts";
import { acquiredReply, grantedReply, renewedReply, statsReply } from "../protocol/response.ts";
import { formatStats } from "../protocol/stats.ts";
import { ByteStringSlab } from "../protocol/utf8.ts";
import { openChannel } from "../transport/channel.ts";
import type { ByteChannel, Transport } from "../transport/types.ts";
import type { DeadlineMember, Deadlines } from "./deadlines.ts";
import { Holder, type LockTable, type TableConn, Waiter } from "./lock_table.ts";
import { commandIndex, kindOfCommand, type ServerMetrics } from "./metrics.ts";

/** What a connection needs from its server. */
export interface ConnectionHost {
  /** The shared lock state. */
  readonly table: LockTable;
  /** Release held slots when a connection ends. */
  readonly autoRelease: boolean;
  /** Deadline per request line, milliseconds (> 0). */
  readonly readTimeoutMs: number;
  /** Deadline per response write, milliseconds; 0 means none. */
  readonly writeTimeoutMs: number;
  /** The auth secret as a UTF-8 byte string, or `null` when auth is off. */
  readonly authSecret: string | null;
  /** The default lease in whole seconds (shown for leases under one second, quirk 3.4). */
  readonly defaultLeaseS: number;
  /** The monotonic clock, milliseconds. */
  now(): number;
  /** The one timer for every connection's read, write and wait deadlines. */
  readonly deadlines: Deadlines;
  /** True once a graceful shutdown has begun. */
  isDraining(): boolean;
  /** Open connections, for `stats`. */
  connectionCount(): number;
  /** Where requests, errors, timeouts and service times are counted. */
  readonly metrics: ServerMetrics;
  /** Called once when a connection has finished: its state is cleaned up, its socket closed. */
  ended(conn: ServerConnection): void;
}

const LF = "\n";
const OK = STATUS.ok;
const ERROR = STATUS.error;
const ERROR_AUTH = STATUS.errorAuth;
const TIMEOUT = STATUS.timeout;
/** The longest bare status (`error_already_enqueued`); an answer with a token is longer. */
const MAX_STATUS_LENGTH = Math.max(...Object.values(STATUS).map((status) => status.length));
/** While blocked, stop reading ahead once this many bytes of pipelined requests are buffered. */
const READ_AHEAD_BYTES = 65536;
/** Flush batched responses once they reach this size. */
const FLUSH_BYTES = 65536;
/** Pause before closing after a failed authentication (Go: 100 ms). */
const AUTH_FAIL_DELAY_MS = 100;
/**
 * After an error answer that ends the connection: how long to keep reading (and dropping) what
 * the client still sends, waiting for its end of stream, before closing (see `#linger`).
 */
const LINGER_MS = 2000;

const EV_NONE = 0;
const EV_GRANTED = 1;
const EV_TIMEOUT = 2;
const EV_DRAIN = 3;

/** Encodes responses; shared by all connections (every call returns its own bytes). */
const slab = new ByteStringSlab();

const READ_EOF: unique symbol = Symbol("eof");
/** The first bytes of the connection are a TLS handshake record: a TLS client on a plain port. */
const TLS_HELLO: unique symbol = Symbol("tls hello");
type ReadResult = string | typeof LINE_TOO_LONG | typeof READ_EOF | typeof TLS_HELLO;

/** Compares two byte strings in time that depends only on the length of `expected`. */
export function constantTimeEqual(actual: string, expected: string): boolean {
  let diff = actual.length ^ expected.length;
  for (let i = 0; i < expected.length; i++) {
    diff |= (actual.charCodeAt(i) | 0) ^ expected.charCodeAt(i);
  }
  return diff === 0;
}

/** Serves one accepted transport until it closes. */
export class ServerConnection implements DeadlineMember {
  /** The connection id (1, 2, ... in accept order). */
  readonly id: number;
  readonly #transport: Transport;
  readonly #host: ConnectionHost;
  readonly #state: TableConn;
  readonly #decoder = new LineDecoder(SERVER_MAX_LINE_BYTES);
  readonly #io: ByteChannel;
  /** Made on first use (a shutdown): most connections are never awaited. */
  #closed: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;
  #out = "";
  #eof: boolean;
  #sawBytes = false;
  #finished: boolean;
  #closing: boolean;
  #authed: boolean;
  #inflight: Promise<void> | null = null;
  /**
   * The callbacks of a blocked request, made on its connection's first block (most connections
   * never block; each callback costs memory per connection).
   */
  #onWatchedRead: ((chunk: unknown) => void) | null = null;
  #onGrant: (() => void) | null = null;
  #wake: (() => void) | null = null;
  #readDeadline = 0;
  #writeDeadline = 0;
  /** The write in flight (it never rejects; a failed write finishes the connection). */
  #writing: Promise<void> | null = null;
  /** When the server's {@linkcode Deadlines} will call back (ms); maintained by it. */
  deadlineAt = Infinity;
  /** This connection's place in the server's {@linkcode Deadlines}; maintained by it. */
  deadlineSlot = -1;
  #blocked: Waiter | null = null;
  #event = EV_NONE;
  /** The blocked request's deadline (ms), 0 when not blocked. */
  #waitUntil = 0;
  /** The clock reading taken for the request answered last (ms). */
  #now = 0;

  constructor(transport: Transport, id: number, host: ConnectionHost) {
    this.id = id;
    this.#transport = transport;
    this.#host = host;
    this.#state = host.table.openConnection(id);
    this.#io = openChannel(transport);
    this.#authed = host.authSecret === null;
    // Set here, not by initializers: they change when the connection ends, and a field first
    // written then would discard the optimized code that reads it (docs/performance.md, "The
    // first close").
    this.#eof = false;
    this.#finished = false;
    this.#closing = false;
  }

  /** Resolves once the connection has closed and its state is cleaned up. */
  get closed(): Promise<void> {
    return this.#closed ??= new Promise((resolve) => this.#resolveClosed = resolve);
  }

  /** The peer's address. */
  get remoteAddr(): Transport["remoteAddr"] {
    return this.#transport.remoteAddr;
  }

  /** Graceful shutdown began: a blocked acquire or wait answers `error` now. */
  drain(): void {
    if (this.#blocked !== null && this.#event === EV_NONE) {
      this.#event = EV_DRAIN;
      this.#signal();
    }
  }

  /** Closes the connection at once (shutdown timeout); the client sees EOF. */
  forceClose(): Promise<void> {
    void this.#finish();
    return this.closed;
  }

  // ---- reading ----

  /**
   * While blocked, keeps one read outstanding so that the peer's EOF or reset is noticed (and
   * pipelined requests are buffered, up to {@linkcode READ_AHEAD_BYTES}); wakes the blocked
   * request at EOF. Each finished read calls it again.
   */
  #watch(): void {
    if (this.#blocked === null || this.#finished) return;
    if (this.#eof) {
      this.#signal();
      return;
    }
    if (this.#inflight === null && this.#decoder.buffered < READ_AHEAD_BYTES) {
      // One callback for both outcomes: a chunk, or the end (null) or a failure (an error).
      const onRead = this.#onWatchedRead ??= (chunk: unknown): void => {
        this.#inflight = null;
        if (chunk instanceof Uint8Array) this.#decoder.push(chunk);
        else this.#eof = true;
        this.#watch();
      };
      this.#inflight = this.#io.read().then(onRead, onRead);
    }
  }

  #signal(): void {
    const wake = this.#wake;
    if (wake !== null) {
      this.#wake = null;
      wake();
    }
  }

  #sleep(): Promise<void> {
    return new Promise<void>((resolve) => this.#wake = resolve);
  }

  /** The read deadline passed: answer `error` (`error_auth` before auth) and close. */
  async #readTimedOut(): Promise<void> {
    this.#closing = true;
    if (this.#authed) await this.#failAndClose(ERROR, 0);
    else await this.#failAndClose(ERROR_AUTH, AUTH_FAIL_DELAY_MS);
    await this.#finish();
  }

  // ---- deadlines ----

  /**
   * Makes sure the server's deadline timer calls this connection back no later than `at`. One
   * call-back serves the connection's read, write and wait deadlines: it is moved only when a
   * deadline comes before the one it is set for, and when it comes early it is set again for
   * what is still pending. Deadlines mostly move forward, so most requests touch nothing at all.
   *
   * @param at The deadline (ms).
   * @param now The current time (ms).
   */
  #armTimer(at: number, now: number): void {
    if (at < this.deadlineAt) this.#host.deadlines.schedule(this, at, now);
  }

  /**
   * The server's deadline timer: this connection's earliest deadline has come (it is out of
   * the server's deadlines until it sets one again).
   *
   * @param now The current time (ms).
   */
  deadlinePassed(now: number): void {
    if (this.#finished) return;
    if (this.#writeDeadline !== 0) {
      if (now >= this.#writeDeadline) {
        void this.#finish();
        return;
      }
      this.#armTimer(this.#writeDeadline, now);
    }
    if (this.#readDeadline !== 0) {
      if (now >= this.#readDeadline) {
        this.#readDeadline = 0;
        void this.#readTimedOut();
        return;
      }
      this.#armTimer(this.#readDeadline, now);
    }
    if (this.#waitUntil !== 0 && this.#event === EV_NONE) {
      if (now >= this.#waitUntil) {
        this.#event = EV_TIMEOUT;
        this.#signal();
      } else {
        this.#armTimer(this.#waitUntil, now);
      }
    }
  }

  // ---- writing ----

  /**
   * Starts sending the pending answers without waiting for the write to complete. One write is
   * in flight at a time: while one is, the answers go out after it (so at most one write and
   * about {@linkcode FLUSH_BYTES} of answers wait per connection).
   *
   * @param now A recent clock reading, where the write deadline starts.
   * @returns `null` once the answers are on their way (or there were none); otherwise a
   *   promise that settles once they are, after the write in flight.
   */
  #send(now: number): Promise<unknown> | null {
    if (this.#writing !== null) return this.#writing.then(() => this.#send(now));
    const out = this.#out;
    if (out === "" || this.#finished) return null;
    this.#out = "";
    const wt = this.#host.writeTimeoutMs;
    if (wt > 0) {
      this.#writeDeadline = now + wt;
      // The timer must fire by this deadline: re-armed only when it is set later (for a read
      // deadline). Deadlines only move forward, so the flushes that follow find the timer early
      // enough and leave it alone; when it fires early, deadlinePassed sets it again for the
      // write still pending.
      this.#armTimer(this.#writeDeadline, now);
    }
    const io = this.#io;
    // The answers are byte strings: a channel that sends those as they are spares the encoding.
    const written = io.writeByteString !== undefined
      ? io.writeByteString(out)
      : io.write(slab.encode(out));
    this.#writing = written.then(this.#onWritten, this.#onWriteFailed);
    return null;
  }

  readonly #onWritten = (): void => {
    this.#writing = null;
    this.#writeDeadline = 0;
  };

  readonly #onWriteFailed = (): void => {
    this.#writing = null;
    this.#writeDeadline = 0;
    this.#eof = true;
    void this.#finish();
  };

  /**
   * Sends the pending answers and waits until every write has completed (or failed).
   *
   * @param now A recent clock reading, where the write deadline starts.
   */
  async #flush(now: number): Promise<void> {
    await this.#send(now);
    if (this.#writing !== null) await this.#writing;
  }

  /** Sends `line` (an error status), then closes (after `delayMs`). */
  async #failAndClose(line: string, delayMs: number): Promise<void> {
    this.#host.metrics.countError(2, line);
    this.#out += line + LF;
    await this.#flush(this.#host.now());
    if (delayMs > 0 && !this.#finished) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }

  // ---- serving ----

  /**
   * Runs the connection: reads, answers and finally cleans up. Never rejects.
   *
   * This is the connection's one async frame, for its whole life, cleanup included (a second
   * frame per connection costs about 300 bytes at 10 000 connections). Everything for one
   * request happens in it: buffered lines are taken synchronously, and only a missing line (a
   * read) or a blocking request costs an await (each async call per request costs an
   * allocation, and GC pauses under load).
   *
   * @returns Resolves when the connection is closed and cleaned up.
   */
  async run(): Promise<void> {
    const host = this.#host;
    const table = host.table;
    const dec = this.#decoder;
    const io = this.#io;
    let cmd = "";
    let key = "";
    let have = 0; // lines of the current request read so far
    // `this.#now` was read in this turn (no await since): the next read deadline starts from it
    // instead of a new reading (a clock reading is an op call on Deno, 15% of the request path).
    let fresh = false;
    // A request of the batch being answered woke another connection (see the send below).
    let handedOver = false;
    try {
      // Finished (a write failed or timed out) or closing (read timeout): the requests still
      // buffered are not answered.
      while (!this.#finished && !this.#closing) {
        const line = dec.nextLine();
        if (line === null) {
          // Go drains an over-long line until its newline or the end of the stream, and answers
          // `error` either way: end of stream in the middle of one is still "line too long".
          if (this.#eof) return await this.#readFailed(dec.inLongLine ? LINE_TOO_LONG : READ_EOF);
          // The answers go out without waiting for the write: a client that waits for them
          // sends nothing before it has them, so the read is better started at once.
          if (this.#out !== "") {
            if (handedOver) {
              // These requests granted blocked requests of other connections: their loops,
              // already woken, send those grants first, so the next holder starts one write
              // sooner (docs/performance.md, "Handing over before answering").
              handedOver = false;
              await undefined;
              fresh = false;
              continue;
            }
            const sending = this.#send(this.#now);
            if (sending !== null) {
              await sending;
              fresh = false;
              continue;
            }
          }
          if (this.#readDeadline === 0) {
            // The deadline covers the whole line; the timer answers and closes (deadlinePassed).
            const now = fresh ? this.#now : host.now();
            this.#readDeadline = now + host.readTimeoutMs;
            this.#armTimer(this.#readDeadline, now);
          }
          fresh = false;
          if (this.#inflight !== null) {
            await this.#inflight;
            continue;
          }
          let chunk: Uint8Array | null;
          try {
            chunk = await io.read();
          } catch {
            chunk = null;
          }
          if (chunk === null) this.#eof = true;
          else if (!this.#sawBytes && opensTlsRecord(chunk, true)) {
            return await this.#readFailed(TLS_HELLO);
          } else {
            this.#sawBytes = true;
            dec.push(chunk);
          }
          continue;
        }
        this.#readDeadline = 0;
        if (line === LINE_TOO_LONG) return await this.#readFailed(line);
        if (have < 2) {
          if (have++ === 0) cmd = line;
          else key = line;
          continue;
        }
        have = 0;
        const req = parseRequest(cmd, key, line);
        const metrics = host.metrics;
        const command = commandIndex(cmd);
        metrics.requests[command]!++;
        if (!this.#authed) {
          if (req.type === "auth" && constantTimeEqual(req.secret, host.authSecret!)) {
            this.#authed = true;
            this.#now = host.now();
            fresh = true;
            this.#out += OK + LF;
            continue;
          }
          metrics.authFailuresTcp++;
          await this.#failAndClose(ERROR_AUTH, AUTH_FAIL_DELAY_MS);
          return await this.#linger();
        }
        // The request's clock reading is the table's `now`, and for an answer given at once also
        // the answer's (its service time counts as 0: the histogram's first bucket is 10 us, far
        // above what the table takes); a block's answer reads the clock when the block ends. The
        // answer's reading starts the write deadline.
        const start = host.now();
        this.#now = start;
        fresh = true;
        const handoffs = table.handoffs;
        let answer = this.#execute(req, start);
        if (table.handoffs !== handoffs) handedOver = true;
        if (answer === null) {
          // Blocked: send what is pending, watch the peer, sleep until granted, timed out,
          // drained or gone.
          handedOver = false;
          if (this.#out !== "") {
            const sending = this.#send(this.#now);
            if (sending !== null) await sending;
          }
          this.#watch();
          while (this.#event === EV_NONE && !this.#eof && !this.#finished) await this.#sleep();
          answer = this.#unblock(req.type === "wait");
          if (answer === null) return; // peer gone while blocked
        }
        const kind = kindOfCommand(command);
        metrics.serviceTime[kind]!.observe((this.#now - start) / 1000);
        // Every error answer is a bare status, shorter than any answer with a token (reading a
        // character of a grant, a string built by concatenation, would copy it into a flat one
        // first); `timeout` only answers a blocking request.
        if (answer.length <= MAX_STATUS_LENGTH) {
          if (answer.charCodeAt(0) === 101 /* e */) metrics.countError(kind, answer);
          else if (answer === TIMEOUT && kind < 2) metrics.timeouts[kind]!++;
        }
        this.#out += answer + LF;
        if (this.#out.length >= FLUSH_BYTES) {
          handedOver = false;
          const sending = this.#send(this.#now);
          if (sending !== null) {
            await sending;
            fresh = false;
          }
        }
      }
    } catch {
      // A write failure or reset: just close.
    } finally {
      await this.#finish();
    }
  }

  /**
   * The request could not be read: end of stream, a line over the limit or a TLS client. The Go
   * server waits for a TLS client's first line, which may take until the read timeout; answering
   * at once lets the client report "the server does not speak TLS" straight away.
   */
  async #readFailed(r: ReadResult): Promise<void> {
    if (this.#closing || this.#finished) return;
    if (r === READ_EOF) {
      if (!this.#authed) await this.#failAndClose(ERROR_AUTH, AUTH_FAIL_DELAY_MS);
      else await this.#flush(this.#host.now());
      return;
    }
    this.#closing = true;
    this.#readDeadline = 0; // answered now: the read timeout must not answer again
    if (this.#authed) await this.#failAndClose(ERROR, 0);
    else await this.#failAndClose(ERROR_AUTH, AUTH_FAIL_DELAY_MS);
    await this.#linger();
  }

  /**
   * Before the server closes a connection after an error answer (a line over the limit, a TLS
   * client, a failed `auth`): sends the end of stream after the answers, then reads and drops
   * what the client still sends until its own end of stream, for at most LINGER_MS. Closing a
   * socket with bytes still unread makes the kernel reset the connection, and a reset throws
   * away the answers not yet delivered: a client that had pipelined requests behind an
   * over-long line lost their answers and the `error`. A client that closes on the end of
   * stream ends the wait at once.
   */
  async #linger(): Promise<void> {
    const io = this.#io;
    if (this.#finished || this.#eof || io.closeWrite === undefined) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<null>((resolve) => {
      timer = setTimeout(resolve, LINGER_MS, null);
    });
    try {
      // The end of stream goes out after what is still buffered, which a client that does not
      // read never takes: bounded by the same time.
      if (await Promise.race([io.closeWrite(), timedOut]) === null) return;
      // A read the peer watch started is the one outstanding: it goes first (to the decoder).
      if (this.#inflight !== null && await Promise.race([this.#inflight, timedOut]) === null) {
        return;
      }
      while (!this.#finished && !this.#eof) {
        const chunk = await Promise.race([io.read(), timedOut]);
        if (chunk === null) return;
      }
    } catch {
      // Reset or closed: nothing left to protect.
    } finally {
      clearTimeout(timer);
    }
  }

  /** `ok <token> <lease>` for a granted holder. */
  #granted(h: Holder): string {
    return grantedReply(h.token, h.leaseMs, this.#host.defaultLeaseS);
  }

  /**
   * Runs a request; `null` means it has to block on `this.#blocked`.
   *
   * @param now The current time (ms).
   */
  #execute(req: Request, now: number): string | null {
    const host = this.#host;
    const table = host.table;
    switch (req.type) {
      case "acquire": {
        const mode = req.timeoutMs <= 0 ? "timeout" : host.isDraining() ? "error" : "queue";
        const r = table.acquire(this.#state, req.key, req.limit, req.leaseMs, now, mode);
        if (r instanceof Holder) return this.#granted(r);
        if (r instanceof Waiter) {
          // Given only to a queued waiter (it is granted later, never inside this call): a
          // connection that never waits makes no callback (memory per held connection).
          r.onGrant = this.#grantCallback();
          this.#startBlock(r, req.timeoutMs, now);
          return null;
        }
        return r;
      }
      case "enqueue": {
        const r = table.enqueue(this.#state, req.key, req.limit, req.leaseMs, now);
        if (r instanceof Holder) return acquiredReply(r.token, r.leaseMs, host.defaultLeaseS);
        if (r instanceof Waiter) return STATUS.queued;
        return r;
      }
      case "wait": {
        const r = table.wait(this.#state, req.key, now);
        if (r instanceof Holder) return this.#granted(r);
        if (r instanceof Waiter) {
          if (req.timeoutMs <= 0 || host.isDraining()) {
            const h = table.cancelWaiter(r, now);
            if (h !== null) return this.#granted(table.collect(r, now));
            return req.timeoutMs <= 0 ? STATUS.timeout : ERROR;
          }
          r.onGrant = this.#grantCallback();
          this.#startBlock(r, req.timeoutMs, now);
          return null;
        }
        return r;
      }
      case "release":
        return table.release(req.key, req.token, now) ? OK : ERROR;
      case "renew": {
        const lease = table.renew(req.key, req.token, req.leaseMs, now);
        return lease === null ? ERROR : renewedReply(lease);
      }
      case "stats":
        return statsReply(formatStats(table.stats(now, host.connectionCount())));
      case "ping":
        return OK;
      default:
        return ERROR;
    }
  }

  /** The callback that wakes this connection's blocked request when it is granted. */
  #grantCallback(): () => void {
    return this.#onGrant ??= (): void => {
      if (this.#event === EV_NONE) {
        this.#event = EV_GRANTED;
        this.#signal();
      }
    };
  }

  #startBlock(w: Waiter, timeoutMs: number, now: number): void {
    this.#blocked = w;
    this.#event = EV_NONE;
    this.#waitUntil = now + timeoutMs;
    this.#armTimer(this.#waitUntil, now);
  }

  /**
   * Ends the block: the answer for its outcome, or `null` when the peer went away.
   *
   * @param isWait The blocked request is a `w` (the grant is collected).
   */
  #unblock(isWait: boolean): string | null {
    const w = this.#blocked!;
    const table = this.#host.table;
    this.#waitUntil = 0;
    this.#blocked = null;
    const now = this.#host.now();
    this.#now = now;
    const event = this.#event;
    if (event === EV_NONE) {
      // Peer closed (or reset) while blocked: drop the waiter at once.
      table.cancelWaiter(w, now);
      return null;
    }
    this.#event = EV_NONE;
    const h = event === EV_GRANTED ? w.holder : table.cancelWaiter(w, now);
    if (h !== null) return this.#granted(isWait ? table.collect(w, now) : h);
    return event === EV_TIMEOUT ? STATUS.timeout : ERROR;
  }

  // ---- teardown ----

  async #finish(): Promise<void> {
    if (this.#finished) return await this.closed;
    this.#finished = true;
    this.#host.deadlines.cancel(this);
    const blocked = this.#blocked;
    if (blocked !== null && blocked.holder === null) {
      this.#host.table.cancelWaiter(blocked, this.#host.now());
    }
    this.#host.table.disconnect(this.#state, this.#host.now(), this.#host.autoRelease);
    this.#signal();
    try {
      await this.#transport.close();
    } catch {
      // Already closed.
    }
    this.#closed ??= Promise.resolve();
    this.#resolveClosed?.();
    this.#host.ended(this);
  }
}
