/**
 * Splits a byte stream into `\n`-terminated lines with a byte cap (docs/protocol.md 2.1, 2.3).
 *
 * Push chunks as they arrive, then pull lines with {@linkcode LineDecoder.nextLine} until it
 * returns `null`. Each byte is scanned once; chunks are kept as they are and only the bytes
 * of a complete line are converted. Lines are byte strings (one char per byte), so a
 * multi-byte character split across chunks is never corrupted.
 *
 * @module
 */

import { byteRangeToByteString, bytesToByteString } from "./utf8.ts";

/** Returned by {@linkcode LineDecoder.nextLine} once an over-long line has been consumed. */
export const LINE_TOO_LONG: unique symbol = Symbol("LINE_TOO_LONG");

/** The server's request line cap (Go `MaxLineBytes`). */
export const SERVER_MAX_LINE_BYTES = 256;

/** A client's response line cap (1 MiB, like the Python client). */
export const CLIENT_MAX_LINE_BYTES = 1048576;

const LF = 0x0a;
const CR = 0x0d;

/** Incremental, capped line splitter. */
export class LineDecoder {
  readonly #max: number;
  /** Chunks still (partly) unconsumed; live ones start at `#first`. */
  #chunks: Uint8Array[] = [];
  #first = 0;
  /** Offset of the current line's first byte in `#chunks[#first]`. */
  #head = 0;
  /** Scan position: chunk index and offset of the next byte not yet looked at. */
  #scanChunk = 0;
  #scanPos = 0;
  /** Bytes of the current line already scanned (before the scan position). */
  #lineLen = 0;
  #discarding = false;
  #buffered = 0;

  /**
   * @param maxLineBytes Most bytes a line may hold before its `\n` (counting any `\r`):
   *   256 on the server, 1048576 on the client.
   * @throws {RangeError} If `maxLineBytes` is not a positive safe integer.
   */
  constructor(maxLineBytes: number) {
    if (!Number.isSafeInteger(maxLineBytes) || maxLineBytes < 1) {
      throw new RangeError(`maxLineBytes must be a positive integer (got ${maxLineBytes})`);
    }
    this.#max = maxLineBytes;
  }

  /** Bytes currently held (the incomplete line plus any complete lines not yet taken). */
  get buffered(): number {
    return this.#buffered;
  }

  /** `true` while an over-long line is being discarded and its `\n` has not come yet. */
  get inLongLine(): boolean {
    return this.#discarding;
  }

  /**
   * Appends bytes. The decoder keeps a reference to `chunk`: do not modify it afterwards
   * (pass a copy if the buffer is reused).
   *
   * @param chunk The bytes that arrived.
   */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
  }

  /**
   * Takes the next complete line.
   *
   * @returns The line as a byte string without its `\n` and with all trailing `\r` removed;
   *   `null` when more bytes are needed; {@linkcode LINE_TOO_LONG} once an over-long line
   *   has been consumed up to and including its `\n`.
   */
  nextLine(): string | null | typeof LINE_TOO_LONG {
    const chunks = this.#chunks;
    // The common case first: a new line that ends within the chunk it starts in.
    if (this.#lineLen === 0 && !this.#discarding && this.#scanChunk === this.#first) {
      const chunk = chunks[this.#first];
      if (chunk !== undefined) {
        const from = this.#head;
        const idx = chunk.indexOf(LF, from);
        if (idx >= 0 && idx - from <= this.#max) return this.#takeWithin(chunk, from, idx);
      }
    }
    while (this.#scanChunk < chunks.length) {
      const chunk = chunks[this.#scanChunk]!;
      const from = this.#scanPos;
      const idx = chunk.indexOf(LF, from);
      if (this.#discarding) {
        if (idx < 0) {
          this.#dropThrough(this.#scanChunk, chunk.length);
          continue;
        }
        this.#discarding = false;
        this.#dropThrough(this.#scanChunk, idx + 1);
        return LINE_TOO_LONG;
      }
      if (idx < 0) {
        const n = chunk.length - from;
        if (this.#lineLen + n > this.#max) {
          this.#discarding = true;
          this.#dropThrough(this.#scanChunk, chunk.length);
          continue;
        }
        this.#lineLen += n;
        this.#scanChunk++;
        this.#scanPos = 0;
        continue;
      }
      if (this.#lineLen + (idx - from) > this.#max) {
        this.#dropThrough(this.#scanChunk, idx + 1);
        return LINE_TOO_LONG;
      }
      const line = this.#take(this.#scanChunk, idx);
      this.#dropThrough(this.#scanChunk, idx + 1);
      return stripCr(line);
    }
    return null;
  }

  /**
   * Takes the line `chunk[from..lf)` of the first live chunk (`lf` is its newline) and consumes
   * it with its newline: {@linkcode LineDecoder.nextLine}'s fast path.
   */
  #takeWithin(chunk: Uint8Array, from: number, lf: number): string {
    let end = lf;
    while (end > from && chunk[end - 1] === CR) end--;
    const line = byteRangeToByteString(chunk, from, end);
    this.#buffered -= lf + 1 - from;
    if (lf + 1 < chunk.length) {
      this.#head = lf + 1;
    } else if (this.#first + 1 < this.#chunks.length) {
      this.#first++;
      this.#head = 0;
    } else {
      this.#releaseAll();
      return line;
    }
    this.#scanChunk = this.#first;
    this.#scanPos = this.#head;
    return line;
  }

  /** Every chunk is consumed: forget them. */
  #releaseAll(): void {
    const chunks = this.#chunks;
    // One chunk is the usual case, and popping it is cheaper than setting the length.
    if (chunks.length === 1) chunks.pop();
    else chunks.length = 0;
    this.#first = 0;
    this.#head = 0;
    this.#scanChunk = 0;
    this.#scanPos = 0;
  }

  /** The bytes from the line head up to (excluding) offset `end` of chunk `ci`. */
  #take(ci: number, end: number): string {
    const chunks = this.#chunks;
    if (ci === this.#first) return byteRangeToByteString(chunks[ci]!, this.#head, end);
    const head = chunks[this.#first]!;
    let line = byteRangeToByteString(head, this.#head, head.length);
    for (let k = this.#first + 1; k < ci; k++) line += bytesToByteString(chunks[k]!);
    return line + byteRangeToByteString(chunks[ci]!, 0, end);
  }

  /** Consumes everything before offset `end` of chunk `ci`; resets the line state. */
  #dropThrough(ci: number, end: number): void {
    const chunks = this.#chunks;
    let dropped = chunks[this.#first]!.length - this.#head;
    for (let k = this.#first + 1; k <= ci; k++) dropped += chunks[k]!.length;
    dropped -= chunks[ci]!.length - end;
    this.#buffered -= dropped;
    this.#lineLen = 0;
    if (end >= chunks[ci]!.length) {
      this.#first = ci + 1;
      this.#head = 0;
    } else {
      this.#first = ci;
      this.#head = end;
    }
    this.#scanChunk = this.#first;
    this.#scanPos = this.#head;
    if (this.#first >= chunks.length) {
      this.#releaseAll();
    } else if (this.#first >= 64) {
      chunks.splice(0, this.#first);
      this.#scanChunk -= this.#first;
      this.#first = 0;
    }
  }
}

function stripCr(line: string): string {
  let end = line.length;
  while (end > 0 && line.charCodeAt(end - 1) === CR) end--;
  return end === line.length ? line : line.slice(0, end);
}
