/**
 * Internal: a {@linkcode ByteChannel} over a push-style socket's {@linkcode PushReadable} and
 * the adapter's own write function.
 *
 * @module
 */

import type { PushReadable } from "./_push_readable.ts";
import type { ByteChannel } from "./types.ts";

const DONE: Promise<void> = Promise.resolve();

/**
 * Builds the channel. Claims the read side, so the transport's readable stream cannot be used
 * afterwards.
 *
 * @param input The socket's read side.
 * @param write Sends bytes: `undefined` when the socket took them all at once, else a promise
 *   that settles when they are sent; throws when the transport is closed.
 * @returns The channel.
 * @throws {TypeError} When the readable stream is already in use.
 */
export function pushChannel(
  input: PushReadable,
  write: (bytes: Uint8Array) => Promise<void> | undefined,
): ByteChannel {
  input.claim();
  return {
    read: () => input.read(),
    write(bytes: Uint8Array): Promise<void> {
      try {
        return write(bytes) ?? DONE;
      } catch (err) {
        return Promise.reject(err);
      }
    },
  };
}
