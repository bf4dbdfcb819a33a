/**
 * Internal: {@linkcode copyOut}, how the Deno adapter hands out the bytes of a read.
 *
 * @module
 */

/**
 * Chunks up to this size are copied into consecutive slices of shared buffers of
 * {@linkcode CHUNK_SLAB_BYTES}; larger ones get an array of their own.
 */
const MAX_SLAB_CHUNK = 1024;
/**
 * Size of each shared buffer that small chunks are copied into. A chunk the reader keeps (an
 * incomplete line) keeps its whole buffer alive: 4 KiB at most per such chunk.
 */
const CHUNK_SLAB_BYTES = 4096;
let chunkSlab = new Uint8Array(CHUNK_SLAB_BYTES);
let chunkSlabUsed = 0;

/**
 * Copies the first `n` bytes of a read buffer out for the reader. On Deno every new typed array,
 * however small, allocates its memory outside the JS heap (about 1 us, against 0.1 us for a view
 * of an existing buffer, and more garbage-collection work per request), so small chunks are
 * slices of a shared buffer instead: a slice is never written again once handed out, and a new
 * buffer is started when one is full (docs/performance.md, "Small arrays on Deno").
 */
export function copyOut(src: Uint8Array, n: number): Uint8Array {
  if (n > MAX_SLAB_CHUNK) return src.slice(0, n);
  if (chunkSlabUsed + n > CHUNK_SLAB_BYTES) {
    chunkSlab = new Uint8Array(CHUNK_SLAB_BYTES);
    chunkSlabUsed = 0;
  }
  const start = chunkSlabUsed;
  chunkSlabUsed = start + n;
  const out = chunkSlab.subarray(start, start + n);
  for (let i = 0; i < n; i++) out[i] = src[i]!;
  return out;
}
