/**
 * Reading files, for the server (TLS certificate and key, auth token file) and the CLI. On Deno
 * with `Deno.readTextFile`: loading any `node:` module there costs about 12 MiB of memory (Deno's
 * Node compatibility layer), which a server embedded in a Deno program should not pay for a
 * file read. Elsewhere with `node:fs/promises`, loaded on first use.
 *
 * @module
 */

import { detectRuntime } from "../transport/auto.ts";

/** The part of the `Deno` namespace used here. */
interface DenoFiles {
  readTextFile(path: string): Promise<string>;
}

/**
 * Reads a UTF-8 text file.
 *
 * @throws {Error} The platform error when the file cannot be read.
 *
 * @example Read a token file
 * ```ts ignore
 * import { readTextFile } from "./files.ts";
 * const token = (await readTextFile("token.txt")).trim();
 * ```
 */
export async function readTextFile(path: string): Promise<string> {
  if (detectRuntime() === "deno") {
    return await (globalThis as unknown as { Deno: DenoFiles }).Deno.readTextFile(path);
  }
  const { readFile } = await import("node:fs/promises");
  return await readFile(path, "utf8");
}
