/**
 * Internal: the one format of a command-line usage error. The error comes alone, with one line
 * that points to the command's help, instead of the whole help text burying it.
 *
 * @module
 */

/**
 * The text of a usage error.
 *
 * @param program How the user started this command line (`dflock`, `deno run -A src/cli/main.ts`).
 * @param command The subcommand (`serve`), or `undefined` for the top level.
 * @param message What is wrong (`unknown flag --nope`).
 * @returns Two lines: `dflock serve: <message>` and where the help is.
 */
export function usageErrorText(
  program: string,
  command: string | undefined,
  message: string,
): string {
  const invoked = command === undefined ? program : `${program} ${command}`;
  const name = command === undefined ? "dflock" : `dflock ${command}`;
  return `${name}: ${message}\nRun "${invoked} --help" for usage.\n`;
}
