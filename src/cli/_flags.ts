/**
 * Internal: the flag syntax of the client subcommands (`stats`, `run`, `ping`, `demo`): GNU-style
 * `--name value`, `--name=value`, `-h`/`--help`, repeatable flags, `--` ending the flags, and
 * the usage text. `serve` keeps Go's `flag` syntax instead (see `go_flag.ts`).
 *
 * Exit statuses of the client subcommands: 0 for `--help`, 2 for a usage error (unknown flag,
 * missing or malformed value, missing required flag), 1 for a runtime failure.
 *
 * @module
 */

import type { CliIo } from "./io.ts";
import { usageErrorText } from "./_usage.ts";

/** Value type of a flag. */
export type FlagKind = "string" | "strings" | "number" | "int" | "bool";

/** A parsed flag value. */
export type FlagValue = string | string[] | number | boolean;

/** One flag definition. */
export interface FlagSpec {
  /** The name without dashes (`server`). */
  readonly name: string;
  /** Value type; `"strings"` may be repeated and collects every value. */
  readonly kind: FlagKind;
  /** Placeholder of the value in the usage text (`host:port`). */
  readonly placeholder?: string;
  /** One-line description; empty for hidden flags. */
  readonly usage: string;
  /** Left out of the usage text (test hooks). */
  readonly hidden?: boolean;
  /** Smallest accepted value of a `"number"` or `"int"` flag. */
  readonly min?: number;
}

/** A subcommand: its name, synopsis, description and flags. */
export interface CommandSpec {
  /** The subcommand (`stats`). */
  readonly name: string;
  /** What follows `dflock <name>` in the usage line (`[flags]`). */
  readonly synopsis: string;
  /** Paragraph(s) printed after the usage line. */
  readonly description: string;
  /** The flags. */
  readonly flags: readonly FlagSpec[];
  /** Stop at the first non-flag argument (`run`'s command) instead of rejecting it. */
  readonly positional?: boolean;
  /** Extra text after the flag list (exit statuses, examples). */
  readonly epilog?: string;
}

/** Result of {@linkcode parseFlags}. */
export type FlagParseResult =
  | {
    /** Parsed. */
    kind: "ok";
    /** Values of the flags that were given. */
    values: Map<string, FlagValue>;
    /** Arguments after the flags (`--` excluded). */
    rest: string[];
  }
  | {
    /** `-h` or `--help`. */
    kind: "help";
  }
  | {
    /** A usage error. */
    kind: "error";
    /** What is wrong (`unknown flag --nope`). */
    message: string;
  };

function parseNumber(spec: FlagSpec, text: string): number | string {
  const n = text.trim() === "" ? Number.NaN : Number(text);
  if (!Number.isFinite(n) || (spec.kind === "int" && !Number.isInteger(n))) {
    const what = spec.kind === "int" ? "an integer" : "a number";
    return `--${spec.name} needs ${what} (got ${JSON.stringify(text)})`;
  }
  if (spec.min !== undefined && n < spec.min) {
    return `--${spec.name} must be at least ${spec.min} (got ${text})`;
  }
  return n;
}

/**
 * Parses a subcommand's arguments.
 *
 * @param command The subcommand and its flags.
 * @param argv The arguments after the subcommand name.
 * @returns The values, a help request, or a usage error.
 *
 * @example
 * ```ts ignore
 * const r = parseFlags(STATS, ["--json", "--server", "10.0.0.1:6388"]);
 * ```
 */
export function parseFlags(command: CommandSpec, argv: readonly string[]): FlagParseResult {
  const byName = new Map(command.flags.map((spec) => [spec.name, spec]));
  const values = new Map<string, FlagValue>();
  let i = 0;
  const error = (message: string): FlagParseResult => ({ kind: "error", message });
  while (i < argv.length) {
    const arg = argv[i] ?? "";
    if (arg === "--") {
      i++;
      break;
    }
    if (arg === "-h" || arg === "--help" || arg === "-help") return { kind: "help" };
    if (arg.length < 2 || arg[0] !== "-") {
      if (command.positional === true) break;
      return error(`unexpected argument ${JSON.stringify(arg)}`);
    }
    i++;
    const body = arg.startsWith("--") ? arg.slice(2) : arg.slice(1);
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const spec = byName.get(name);
    if (spec === undefined) {
      return error(`unknown flag ${arg.slice(0, arg.length - body.length)}${name}`);
    }
    if (spec.kind === "bool") {
      if (eq < 0) {
        values.set(name, true);
        continue;
      }
      const text = body.slice(eq + 1);
      if (text !== "true" && text !== "false") {
        return error(`--${name} takes true or false (got ${JSON.stringify(text)})`);
      }
      values.set(name, text === "true");
      continue;
    }
    let text: string;
    if (eq >= 0) {
      text = body.slice(eq + 1);
    } else {
      if (i >= argv.length) return error(`--${name} needs a value`);
      text = argv[i] ?? "";
      i++;
    }
    if (spec.kind === "string" || spec.kind === "strings") {
      if (text === "") return error(`--${name} needs a non-empty value`);
      const list = values.get(name);
      const many = spec.kind === "strings";
      values.set(name, !many ? text : Array.isArray(list) ? [...list, text] : [text]);
      continue;
    }
    const value = parseNumber(spec, text);
    if (typeof value === "string") return error(value);
    values.set(name, value);
  }
  return { kind: "ok", values, rest: argv.slice(i) };
}

/**
 * Formats a subcommand's usage text.
 *
 * @returns The text, ending in a newline.
 *
 * @example
 * ```ts ignore
 * io.writeStdout(formatUsage(STATS));
 * ```
 */
export function formatUsage(command: CommandSpec): string {
  const shown = command.flags.filter((spec) => spec.hidden !== true);
  const heads = shown.map((spec) => {
    const value = spec.kind === "bool" ? "" : ` ${spec.placeholder ?? spec.kind}`;
    return `  --${spec.name}${value}`;
  });
  heads.push("  -h, --help");
  const width = Math.max(...heads.map((h) => h.length)) + 2;
  const lines = shown.map((spec, n) => (heads[n] ?? "").padEnd(width) + spec.usage);
  lines.push("  -h, --help".padEnd(width) + "show this help");
  let out = `Usage: dflock ${command.name} ${command.synopsis}\n\n${command.description}\n\n`;
  out += `Flags:\n${lines.join("\n")}\n`;
  if (command.epilog !== undefined) out += `\n${command.epilog}`;
  return out.endsWith("\n") ? out : out + "\n";
}

/**
 * Parses the arguments and handles `--help` and usage errors the same way for every client
 * subcommand: help goes to stdout (exit 0), an error and a pointer to the help go to stderr
 * (exit 2).
 *
 * @param argv The arguments after the subcommand name.
 * @param io Where help and errors are written.
 * @returns The parsed values, or the exit status to return at once.
 */
export function parseOrExit(
  command: CommandSpec,
  argv: readonly string[],
  io: CliIo,
): { values: Map<string, FlagValue>; rest: string[] } | number {
  const result = parseFlags(command, argv);
  if (result.kind === "help") {
    io.writeStdout(formatUsage(command));
    return 0;
  }
  if (result.kind === "error") return usageError(command, result.message, io);
  return { values: result.values, rest: result.rest };
}

/**
 * Reports a usage error on stderr: `dflock <name>: <message>` and a line that names the
 * command showing the help (`Run "dflock <name> --help" for usage.`).
 *
 * @param io Where the text goes, and how the user started the program.
 * @returns 2, the exit status of a usage error.
 */
export function usageError(command: CommandSpec, message: string, io: CliIo): number {
  io.writeStderr(usageErrorText(io, command.name, message));
  return 2;
}

/**
 * Reads a string flag.
 *
 * @returns The value, or `undefined` when not given.
 */
export function stringFlag(values: Map<string, FlagValue>, name: string): string | undefined {
  const v = values.get(name);
  return typeof v === "string" ? v : undefined;
}

/**
 * Reads a number or int flag.
 *
 * @returns The value, or `undefined` when not given.
 */
export function numberFlag(values: Map<string, FlagValue>, name: string): number | undefined {
  const v = values.get(name);
  return typeof v === "number" ? v : undefined;
}

/**
 * Reads a bool flag.
 *
 * @returns `true` when given (and not `=false`).
 */
export function boolFlag(values: Map<string, FlagValue>, name: string): boolean {
  return values.get(name) === true;
}

/**
 * Reads a repeatable flag.
 *
 * @returns Every value given, in order (empty when none).
 */
export function listFlag(values: Map<string, FlagValue>, name: string): string[] {
  const v = values.get(name);
  return Array.isArray(v) ? v : [];
}
