/**
 * The dflock version, printed by `dflock version`, `dflock --version` and
 * `dflock serve --version`, with the runtime that runs it (the version itself is in
 * `src/version.ts`).
 *
 * @module
 */

import { runtimeDescription } from "../runtime/process.ts";
import { VERSION } from "../version.ts";

export { VERSION };

/** The Go dflockd release whose wire protocol and configuration this server reproduces. */
export const DFLOCKD_COMPAT = "1.10.0";

/**
 * The line `version` and `--version` print (with its newline), e.g.
 * `dflock 0.1.0 (Node 20.20.2; dflockd 1.10.0 compatible)`.
 */
export function versionLine(): string {
  return `dflock ${VERSION} (${runtimeDescription()}; dflockd ${DFLOCKD_COMPAT} compatible)\n`;
}
