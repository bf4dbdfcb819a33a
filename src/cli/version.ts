/**
 * The dflock version, printed by `dflock --version` and `dflock serve --version`. Keep it equal
 * to `version` in deno.json.
 *
 * @module
 */

/** The package version. */
export const VERSION = "0.1.0";

/** The Go dflockd release whose wire protocol and configuration this server reproduces. */
export const DFLOCKD_COMPAT = "1.10.0";

/** The line `--version` prints (with its newline). */
export function versionLine(): string {
  return `dflock ${VERSION} (dflockd ${DFLOCKD_COMPAT} compatible)\n`;
}
