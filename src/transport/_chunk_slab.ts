/**
 * Internal: {@linkcode ChunkSlab}, how a `PullConn` (the Deno adapter's connection) hands out the
 * bytes of a read.
 *
 * @module
 */

/** Size of each buffer a connection's small chunks are copied into. */
const SLAB_BYTES = 256;
/** Chunks longer than this get an array of their own. */
const MAX_SLAB_CHUNK = SLAB_BYTES / 2;

/**
 * Copies a connection's reads out for its reader: small chunks into consecutive slices of one
 * buffer, a new buffer when it is full. On Deno every new typed array, however small, allocates
 * its memory outside the JS heap (about 1 us, against 0.1 us for a view of an existing buffer, and
 * more garbage-collection work per request): a buffer per few reads instead of one per read
 * (docs/performance.md, "Small arrays on Deno"). A slice is never written again once handed out.
 * Each connection has its own: a chunk shares memory only with chunks of the same connection,
 * so a reader that keeps or transfers a chunk affects no other connection, and the buffers a
 * reader keeps alive hold little more than the bytes it keeps. The first chunk gets an array of
 * its own: a connection that reads once and then waits (a lock held for long) keeps no buffer.
 */
export class ChunkSlab {
  #buffer: Uint8Array | undefined;
  #used = 0;
  #first = true;

  /**
   * @param src The read buffer.
   * @param n How many bytes at its start to copy.
   * @returns The bytes, for the reader to keep.
   */
  copy(src: Uint8Array, n: number): Uint8Array {
    if (n > MAX_SLAB_CHUNK || this.#first) {
      this.#first = false;
      return src.slice(0, n);
    }
    let buffer = this.#buffer;
    // A buffer the reader transferred reads as empty: start a new one.
    if (buffer === undefined || this.#used + n > buffer.byteLength) {
      buffer = this.#buffer = new Uint8Array(SLAB_BYTES);
      this.#used = 0;
    }
    const start = this.#used;
    this.#used = start + n;
    const out = buffer.subarray(start, start + n);
    for (let i = 0; i < n; i++) out[i] = src[i]!;
    return out;
  }
}
