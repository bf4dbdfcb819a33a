/**
 * The package version, in one place: `dflock version`, the server's dashboard and anything else
 * that reports it read it from here. `tests/cli/version_test.ts` keeps it equal to `version` in
 * deno.json (and so in the npm package, which build_npm.ts versions from deno.json).
 *
 * @module
 */

/** The package version. */
export const VERSION = "0.1.0";
