/**
 * Reading an auth token file the way dflockd does (`--auth-token-file`): the whole file, with
 * Go's `strings.TrimSpace` applied. Shared by `serve({ authTokenFile })` and the command line.
 *
 * @module
 */

import { trimSpaceText } from "../protocol/go_text.ts";
import { readTextFile } from "../runtime/files.ts";

/**
 * Reads an auth token file: its text without leading and trailing Go white space.
 *
 * @param read How to read a text file (the CLI passes its own, for tests).
 * @returns The token; `""` for a blank file (then auth stays off).
 * @throws {Error} Naming the path when the file cannot be read.
 */
export async function readAuthTokenFile(
  path: string,
  read: (path: string) => Promise<string> = readTextFile,
): Promise<string> {
  let text: string;
  try {
    text = await read(path);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot read auth token file ${JSON.stringify(path)}: ${why}`);
  }
  return trimSpaceText(text);
}
