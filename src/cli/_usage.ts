/**
 * Internal: the one format of a command-line usage error. The error comes alone, with one line
 * that points to the command's help, instead of the whole help text burying it.
 *
 * @module
 */

import { type CliIo, commandLine } from "./io.ts";

/**
 * The text of a usage error.
 *
 * @param io Names the command as the user started it ({@linkcode commandLine}).
 * @param command The subcommand (`serve`), or `undefined` for the top level.
 * @param message What is wrong (`unknown flag --nope`).
 * @returns Two lines: `dflock serve: <message>` and where the help is.
 */
export function usageErrorText(io: CliIo, command: string | undefined, message: string): string {
  const invoked = command === undefined ? (io.program ?? "dflock") : commandLine(io, command);
  const name = command === undefined ? "dflock" : `dflock ${command}`;
  return `${name}: ${message}\nRun "${invoked} --help" for usage.\n`;
}

/** Local wall-clock time as `HH:MM:SS`, for the times the commands print. */
export function clockTime(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
