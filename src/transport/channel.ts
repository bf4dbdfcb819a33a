/**
 * {@linkcode openChannel}: a transport's bytes as a {@linkcode ByteChannel}, through the
 * adapter's own fast path when it has one and over its web streams otherwise.
 *
 * @module
 */

import { concurrentReadError } from "./_errors.ts";
import type { ByteChannel, Transport } from "./types.ts";

/**
 * Opens the transport's {@linkcode ByteChannel}. The built-in adapters hand out their bytes
 * without web streams; any other transport is read and written through a reader and writer
 * on its streams. Call it once per transport and then use only the channel.
 *
 * @throws {TypeError} When the transport's streams are already locked or in use.
 *
 * @example Read a reply without web streams
 * ```ts
 * import { connect, openChannel } from "@dflock/dflock/transport";
 *
 * const transport = await connect({ hostname: "127.0.0.1", port: 6388 });
 * const channel = openChannel(transport);
 * await channel.write(new TextEncoder().encode("p\n_\n_\n"));
 * console.log(await channel.read());
 * await transport.close();
 * ```
 */
export function openChannel(transport: Transport): ByteChannel {
  if (transport.channel !== undefined) return transport.channel();
  const reader = transport.readable.getReader();
  const writer = transport.writable.getWriter();
  // Writes are awaited by the caller; a failing writer must not surface as unhandled.
  writer.closed.catch(() => {});
  let reading = false;
  return {
    // One read at a time, as on the built-in adapters' channels.
    async read(): Promise<Uint8Array | null> {
      if (reading) throw concurrentReadError();
      reading = true;
      try {
        const r = await reader.read();
        return r.done ? null : r.value;
      } finally {
        reading = false;
      }
    },
    write: (bytes: Uint8Array): Promise<void> => writer.write(bytes),
    closeWrite: (): Promise<void> => writer.close(),
  };
}
