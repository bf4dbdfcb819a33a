/**
 * A pure re-implementation of the parts of Go's `flag` and `strconv` packages that the dflockd
 * command line depends on: flag syntax, integer and boolean value parsing, error messages and
 * the usage text. No I/O: callers print the messages.
 *
 * @module
 */

import { atoi } from "../protocol/go_text.ts";

/** The value types of a flag, as in Go's `flag.String`, `flag.Int` and `flag.Bool`. */
export type GoFlagKind = "string" | "int" | "bool";

/** A parsed flag value. */
export type GoFlagValue = string | number | boolean;

/** One flag definition. */
export interface GoFlagSpec {
  /** The name without dashes (`max-locks`). */
  readonly name: string;
  /** Value type. */
  readonly kind: GoFlagKind;
  /** One-line description for the usage text. */
  readonly usage: string;
  /** Default value, shown in the usage text unless it is the type's zero value. */
  readonly defaultValue: GoFlagValue;
  /**
   * The environment variable that also sets this setting, shown after the usage as
   * `[$NAME]` (an addition to Go's layout; parsing ignores it).
   */
  readonly env?: string;
}

/** Result of {@linkcode parseGoFlags}. */
export type GoFlagParseResult =
  | {
    /** Parsing succeeded. */
    ok: true;
    /** Values of the flags given on the command line (the last occurrence wins). */
    values: Map<string, GoFlagValue>;
    /** Arguments after the flags (from the first non-flag argument, `--` excluded). */
    rest: string[];
    /**
     * The boolean flag as written (`--debug`) when it came, without `=value`, right before
     * the first argument of `rest`: `--debug false` leaves `false` in `rest`, because Go's
     * `flag` never takes a separate value for a boolean. `undefined` otherwise.
     */
    boolBeforeRest: string | undefined;
  }
  | {
    /** Parsing failed, or help was requested. */
    ok: false;
    /** Go's error text (`flag provided but not defined: -nope`, `flag: help requested`). */
    error: string;
    /** True for `-h` / `-help`: Go prints only the usage, without the error line. */
    help: boolean;
  };

/** Reason an integer did not parse: Go's `strconv.ErrSyntax` or `strconv.ErrRange`. */
export type GoIntError = "parse error" | "value out of range";

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);
const UINT64_MAX = (1n << 64n) - 1n;

function digitValue(c: string): number {
  const code = c.charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  const lower = code | 0x20;
  if (lower >= 97 && lower <= 122) return lower - 97 + 10;
  return 99;
}

/** Go's `underscoreOK`: underscores only between digits or after a base prefix. */
function underscoreOk(text: string): boolean {
  let s = text;
  let saw = "^";
  let i = 0;
  if (s.length >= 1 && (s[0] === "-" || s[0] === "+")) s = s.slice(1);
  let hex = false;
  if (s.length >= 2 && s[0] === "0" && "bBoOxX".includes(s[1] ?? "")) {
    i = 2;
    saw = "0";
    hex = s[1] === "x" || s[1] === "X";
  }
  for (; i < s.length; i++) {
    const c = s[i] ?? "";
    if ((c >= "0" && c <= "9") || (hex && /^[a-fA-F]$/.test(c))) {
      saw = "0";
      continue;
    }
    if (c === "_") {
      if (saw !== "0") return false;
      saw = "_";
      continue;
    }
    if (saw === "_") return false;
    saw = "!";
  }
  return saw !== "_";
}

/**
 * Go's `strconv.ParseInt(s, base, 64)` for base 0 (prefixes `0x`, `0o`, `0b`, a leading `0`
 * for octal, and `_` digit separators) or base 10 (plain optional-sign decimal, as `Atoi`).
 *
 * @param base 0 (the `flag` package) or 10 (`strconv.Atoi`).
 * @returns The value as a number (exact up to 2^53), or the Go error text.
 */
export function parseGoInt(text: string, base: 0 | 10): number | GoIntError {
  if (base === 10) {
    // Go's Atoi, in one place (protocol/go_text.ts); only the error's kind is told here.
    const value = atoi(text);
    if (value !== undefined) return Number(value);
    return /^[+-]?[0-9]+$/.test(text) ? "value out of range" : "parse error";
  }
  if (text === "") return "parse error";
  let s = text;
  let negative = false;
  if (s[0] === "+" || s[0] === "-") {
    negative = s[0] === "-";
    s = s.slice(1);
    if (s === "") return "parse error";
  }
  let radix = 10;
  if (base === 0 && s[0] === "0") {
    const p = s[1];
    if (s.length >= 3 && (p === "b" || p === "B")) {
      radix = 2;
      s = s.slice(2);
    } else if (s.length >= 3 && (p === "o" || p === "O")) {
      radix = 8;
      s = s.slice(2);
    } else if (s.length >= 3 && (p === "x" || p === "X")) {
      radix = 16;
      s = s.slice(2);
    } else {
      radix = 8;
      s = s.slice(1);
    }
  }
  let value = 0n;
  let underscores = false;
  const bigRadix = BigInt(radix);
  for (const c of s) {
    if (c === "_" && base === 0) {
      underscores = true;
      continue;
    }
    const d = digitValue(c);
    if (d >= radix) return "parse error";
    value = value * bigRadix + BigInt(d);
    // Go's ParseUint reports the overflow at the first digit that overflows uint64.
    if (value > UINT64_MAX) return "value out of range";
  }
  if (underscores && !underscoreOk(text)) return "parse error";
  const signed = negative ? -value : value;
  if (signed > INT64_MAX || signed < INT64_MIN) return "value out of range";
  return Number(signed);
}

/**
 * Go's `strconv.ParseBool`.
 *
 * @returns The boolean, or `undefined` when `text` is not one of Go's spellings.
 */
export function parseGoBool(text: string): boolean | undefined {
  switch (text) {
    case "1":
    case "t":
    case "T":
    case "TRUE":
    case "true":
    case "True":
      return true;
    case "0":
    case "f":
    case "F":
    case "FALSE":
    case "false":
    case "False":
      return false;
    default:
      return undefined;
  }
}

function quoteGo(text: string): string {
  return JSON.stringify(text);
}

/**
 * Parses a command line the way Go's `flag.FlagSet.Parse` does: one or two dashes,
 * `-name=value`, `-name value` (not for booleans), parsing stops at the first non-flag
 * argument or after `--`.
 *
 * @param argv The arguments (without the program name).
 * @returns The values given, or Go's error text.
 */
export function parseGoFlags(
  specs: readonly GoFlagSpec[],
  argv: readonly string[],
): GoFlagParseResult {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const values = new Map<string, GoFlagValue>();
  let i = 0;
  let bareBool: string | undefined;
  const fail = (error: string, help = false): GoFlagParseResult => ({ ok: false, error, help });
  while (i < argv.length) {
    const arg = argv[i] ?? "";
    if (arg.length < 2 || arg[0] !== "-") break;
    let dashes = 1;
    if (arg[1] === "-") {
      dashes = 2;
      if (arg.length === 2) {
        i++;
        bareBool = undefined;
        break;
      }
    }
    let name = arg.slice(dashes);
    if (name.length === 0 || name[0] === "-" || name[0] === "=") {
      return fail(`bad flag syntax: ${arg}`);
    }
    i++;
    let value: string | undefined;
    const eq = name.indexOf("=", 1);
    if (eq > 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const spec = byName.get(name);
    if (spec === undefined) {
      if (name === "help" || name === "h") return fail("flag: help requested", true);
      return fail(`flag provided but not defined: -${name}`);
    }
    if (spec.kind === "bool") {
      const parsed = parseGoBool(value ?? "true");
      if (parsed === undefined) {
        return fail(`invalid boolean value ${quoteGo(value ?? "")} for -${name}: parse error`);
      }
      values.set(name, parsed);
      bareBool = value === undefined ? arg : undefined;
      continue;
    }
    bareBool = undefined;
    if (value === undefined) {
      if (i >= argv.length) return fail(`flag needs an argument: -${name}`);
      value = argv[i] ?? "";
      i++;
    }
    if (spec.kind === "int") {
      const parsed = parseGoInt(value, 0);
      if (typeof parsed === "string") {
        return fail(`invalid value ${quoteGo(value)} for flag -${name}: ${parsed}`);
      }
      values.set(name, parsed);
    } else {
      values.set(name, value);
    }
  }
  const rest = argv.slice(i);
  return { ok: true, values, rest, boolBeforeRest: rest.length > 0 ? bareBool : undefined };
}

function isZero(spec: GoFlagSpec): boolean {
  return spec.defaultValue === "" || spec.defaultValue === 0 || spec.defaultValue === false;
}

/**
 * Formats the usage text like Go's default `Usage` (`Usage of NAME:` and `PrintDefaults`).
 *
 * @param program The program name after `Usage of`.
 * @param specs The defined flags (printed sorted by name).
 * @returns The text, ending in a newline.
 */
export function formatGoUsage(program: string, specs: readonly GoFlagSpec[]): string {
  return `Usage of ${program}:\n${formatGoDefaults(specs)}`;
}

/**
 * Formats the flag list like Go's `PrintDefaults`, sorted by name: per flag `  -port int`,
 * then a line of four spaces, a tab and the usage, followed by the default (unless it is the
 * zero value) and, where the spec names one, the environment variable:
 * `Bind port (default 6388) [$DFLOCKD_PORT]`.
 *
 * @returns The text, ending in a newline.
 */
export function formatGoDefaults(specs: readonly GoFlagSpec[]): string {
  const sorted = [...specs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let out = "";
  for (const spec of sorted) {
    let line = `  -${spec.name}`;
    if (spec.kind !== "bool") line += ` ${spec.kind}`;
    line += line.length <= 4 ? "\t" : "\n    \t";
    line += spec.usage.replaceAll("\n", "\n    \t");
    if (!isZero(spec)) {
      const shown = typeof spec.defaultValue === "string"
        ? quoteGo(spec.defaultValue)
        : String(spec.defaultValue);
      line += ` (default ${shown})`;
    }
    if (spec.env !== undefined) line += ` [$${spec.env}]`;
    out += line + "\n";
  }
  return out;
}
