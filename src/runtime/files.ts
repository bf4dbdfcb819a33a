/**
 * Reading files, for the server (TLS certificate and key, auth token file) and the CLI: one
 * function over `node:fs/promises`, which Deno, Bun and Node all provide. Loads nothing else.
 *
 * @module
 */

import { readFile } from "node:fs/promises";

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
  return await readFile(path, "utf8");
}
