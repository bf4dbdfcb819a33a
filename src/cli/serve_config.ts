/**
 * The `dflock serve` configuration: Go `flag` command line, `DFLOCKD_*` environment
 * variables, precedence, validation and the messages of the Go server (docs/protocol.md 12),
 * plus the `dflock serve --help` text. The settings themselves (flags, variables, defaults,
 * rules, usage) are declared once in `SERVER_SETTINGS` (src/server/settings.ts).
 *
 * The results are the Go server's: what Go ignores (arguments after the first non-flag, an
 * environment value that does not parse) is ignored here too, but reported as a warning.
 *
 * Pure: the command line, the environment and a file reader come in as arguments, the result
 * (settings and warnings, help, or an error message) goes out; nothing is printed here.
 *
 * @module
 */

import {
  findHttpPortViolation,
  findSettingViolation,
  type GoSettingValues,
  SERVER_SETTINGS,
  type ServerSetting,
  serverSetting,
  type ServerSettingEntry,
} from "../server/settings.ts";
import { readAuthTokenFile } from "../server/auth_token_file.ts";
import type { ServerOptions } from "../server/options.ts";
import {
  formatGoDefaults,
  type GoFlagSpec,
  type GoFlagValue,
  parseGoBool,
  parseGoFlags,
  parseGoInt,
} from "./go_flag.ts";

/**
 * Fully resolved server settings from flags and environment: every setting of
 * `SERVER_SETTINGS` (src/server/settings.ts) but the auth token file, which has been read into
 * `authToken`. Unset strings are `""` (as in Go); `httpPort` 0 turns the HTTP listener off and
 * `httpHost` `""` means the `host` value.
 */
export type ResolvedConfig = Omit<GoSettingValues, "authTokenFile">;

/** Result of {@linkcode parseServerArgs}. */
export type ServerConfigResult =
  | {
    /** Start (or, with `version`, print the version and exit 0). */
    kind: "options";
    /** The settings. */
    options: ResolvedConfig;
    /** `--version` was given (honoured only after validation). */
    version: boolean;
    /** What was ignored, one message each (see {@linkcode parseServerArgs}). */
    warnings: string[];
  }
  | {
    /** `-h`, `-help` or `--help` was given: print {@linkcode serverHelp} and exit 0. */
    kind: "help";
  }
  | {
    /** Do not start: report `message` and exit 1 (as the Go server does). */
    kind: "error";
    /**
     * The problem, one line without a newline: Go's flag error
     * (`flag provided but not defined: -nope`) or `configuration error: ...`.
     */
    message: string;
    /**
     * True when the command line (or an environment value) is at fault, so that pointing to
     * `--help` helps; false for an unreadable auth token file.
     */
    usage: boolean;
    /** What was ignored before the error was found. */
    warnings: string[];
  };

/** Reads a text file; rejects when it cannot be read. */
export type ReadTextFile = (path: string) => Promise<string>;

/** The Go flag's default: the setting's, or the kind's zero value when it has none. */
function goDefault(setting: ServerSetting): GoFlagValue {
  if (setting.default !== undefined) return setting.default;
  return setting.kind === "int" ? 0 : setting.kind === "bool" ? false : "";
}

/** Every setting's default: the Go server's. */
const CONFIG_DEFAULTS: Readonly<ResolvedConfig> = Object.fromEntries(
  SERVER_SETTINGS.filter((setting) => setting.key !== "authTokenFile")
    .map((setting) => [setting.key, goDefault(setting)]),
) as unknown as ResolvedConfig;

/**
 * The server's flags, as Go's `flag` package defines them, each with the environment
 * variable that also sets it (`--auth-token`'s variable, which beats the flag, is named in its
 * usage; `--version` has none).
 */
export const SERVER_FLAGS: readonly GoFlagSpec[] = [
  ...SERVER_SETTINGS.map((setting): GoFlagSpec => {
    const spec = {
      name: setting.flag,
      kind: setting.kind,
      usage: setting.usage,
      defaultValue: goDefault(setting),
    };
    return "envBeatsFlag" in setting
      ? { ...spec, usage: `${spec.usage} [$${setting.env}, which beats this flag]` }
      : { ...spec, env: setting.env };
  }),
  { name: "version", kind: "bool", usage: "Print version and exit", defaultValue: false },
];

/**
 * The text of `dflock serve --help`: what the command does, the flag syntax, every flag in
 * Go's `PrintDefaults` layout with its environment variable, the auth token precedence, what
 * the HTTP listener serves, how environment values are read and the exit status.
 *
 * @param command How the user runs `serve` (`dflock serve`, `npm run serve --`).
 * @returns The text, ending in a newline.
 */
export function serverHelp(command: string): string {
  return `Usage: ${command} [flags]

Runs a dflockd-compatible lock server with the Go dflockd's flags, environment variables and
messages, until SIGINT or SIGTERM. Then it stops accepting, answers blocked requests with
"error" and waits for the open connections to close, at most --shutdown-timeout seconds; a
second signal closes them at once.

Flags take one or two dashes and a separate or attached value: -port 7000, --port=7000.
Boolean flags are written --debug or --debug=false ("--debug false" ends the flags at
"false", as in Go). A flag beats its environment variable, which beats the default.

Flags:
${formatGoDefaults(SERVER_FLAGS)}
Auth token: the first non-empty of $DFLOCKD_AUTH_TOKEN (it beats --auth-token, as in the Go
server), --auth-token, the file named by --auth-token-file and the file named by
$DFLOCKD_AUTH_TOKEN_FILE. A token file's content is trimmed of white space at both ends.

HTTP: --http-port N (0, the default, keeps it off) adds a listener on --http-host (default:
the --host value) that serves /health (liveness), /ready (readiness), /metrics (Prometheus),
/v1/stats (the stats as JSON) and a live dashboard at / to open in a browser; HTTPS with the
same certificate when TLS is on. With an auth token, every path but /health, /ready and the
dashboard page itself needs the header "Authorization: Bearer TOKEN".

Environment values: integers are decimal (Go's Atoi), booleans are 1, yes, true, 0, no or false
in any letter case, and an empty variable counts as unset. A value that does not parse is
ignored with a warning, and the default applies.

Exit status: 0 after a stop by signal and for --help and --version; 1 for a bad flag or value
and for a failed start (as with the Go server).
`;
}

/**
 * Lenient environment boolean: `1`/`yes`/`true` and `0`/`no`/`false` in any letter case.
 *
 * @returns The boolean, or `undefined` for anything else (the default then applies).
 */
export function parseEnvBool(text: string): boolean | undefined {
  const lower = text.toLowerCase();
  if (lower === "1" || lower === "yes" || lower === "true") return true;
  if (lower === "0" || lower === "no" || lower === "false") return false;
  return undefined;
}

/**
 * Lenient environment integer: Go's `strconv.Atoi` (optional sign, decimal digits, 64-bit).
 *
 * @returns The integer, or `undefined` when it does not parse (the default then applies).
 */
export function parseEnvInt(text: string): number | undefined {
  const value = parseGoInt(text, 10);
  return typeof value === "number" ? value : undefined;
}

/** Warning for an environment value that Go ignores (the default then applies). */
function envIgnored(name: string, raw: string, kind: "int" | "bool"): string {
  const why = kind === "bool"
    ? "not a boolean (use 1, yes, true, 0, no or false, in any letter case)"
    : parseGoInt(raw, 10) === "value out of range"
    ? "integer out of range"
    : "not an integer";
  return `ignoring ${name}=${JSON.stringify(raw)}: ${why}`;
}

/** The boolean an argument spells in Go's or the environment's way, or as on/off. */
function booleanLike(text: string): boolean | undefined {
  const lower = text.toLowerCase();
  if (lower === "on") return true;
  if (lower === "off") return false;
  return parseGoBool(text) ?? parseEnvBool(text);
}

/**
 * Warning for the arguments that Go's `flag` leaves unparsed, with the hint about booleans
 * when the argument looks like the value of the boolean flag right before it.
 */
function restIgnored(rest: readonly string[], boolBefore: string | undefined): string {
  const first = rest[0] ?? "";
  let text = `ignoring argument ${JSON.stringify(first)}`;
  if (rest.length > 1) text += " and everything after it";
  const value = boolBefore === undefined ? undefined : booleanLike(first);
  if (value !== undefined) {
    // Go's flag takes `=false` but not `=no` or `=off`: suggest a spelling it accepts.
    const written = parseGoBool(first) !== undefined ? first : String(value);
    text += ` (boolean flags are written ${boolBefore}=${written})`;
  }
  return text;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function resolveAuthToken(
  flags: Map<string, GoFlagValue>,
  env: Readonly<Record<string, string | undefined>>,
  readTextFile: ReadTextFile,
): Promise<string> {
  const token = serverSetting("authToken");
  const file = serverSetting("authTokenFile");
  // The variable beats the flag for the token itself (as in Go), not for the file.
  const envToken = env[token.env] ?? "";
  if (envToken !== "") return envToken;
  const flagToken = String(flags.get(token.flag) ?? "");
  if (flagToken !== "") return flagToken;
  let path = String(flags.get(file.flag) ?? "");
  if (path === "") path = env[file.env] ?? "";
  if (path === "") return "";
  return await readAuthTokenFile(path, readTextFile);
}

/** Where a setting's value came from: the flag, a variable (by name), or the default. */
type Origin = "flag" | "default" | { env: string };

function resolveSetting(
  setting: ServerSettingEntry,
  flags: Map<string, GoFlagValue>,
  env: Readonly<Record<string, string | undefined>>,
  fallback: GoFlagValue,
  warnings: string[],
): { value: GoFlagValue; origin: Origin } {
  const given = flags.get(setting.flag);
  if (given !== undefined) return { value: given, origin: "flag" };
  const raw = env[setting.env] ?? "";
  if (raw === "") return { value: fallback, origin: "default" };
  let value: GoFlagValue | undefined = raw;
  if (setting.kind === "int") value = parseEnvInt(raw);
  if (setting.kind === "bool") value = parseEnvBool(raw);
  if (value === undefined) {
    warnings.push(envIgnored(setting.env, raw, setting.kind === "int" ? "int" : "bool"));
    return { value: fallback, origin: "default" };
  }
  return { value, origin: { env: setting.env } };
}

/**
 * Resolves the server settings from a Go-style command line and the environment, reads the
 * auth token file and validates, exactly like the Go dflockd server (docs/protocol.md 12).
 *
 * What the Go server ignores silently is ignored here as well, with a warning each:
 * arguments from the first non-flag on (`ignoring argument "false" and everything after it
 * (boolean flags are written --debug=false)`), and an environment value that does not parse
 * (`ignoring DFLOCKD_PORT="7003x": not an integer`). A value that fails validation names the
 * variable it came from, after the Go message.
 *
 * @param argv The arguments after the subcommand (`--port 0 --max-locks 5`).
 * @param env The environment (`DFLOCKD_*` variables; other names are ignored).
 * @param readTextFile Reads the auth token file.
 * @returns The settings with the warnings, a request for help, or the error.
 */
export async function parseServerArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  readTextFile: ReadTextFile,
): Promise<ServerConfigResult> {
  const parsed = parseGoFlags(SERVER_FLAGS, argv);
  if (!parsed.ok) {
    if (parsed.help) return { kind: "help" };
    return { kind: "error", message: parsed.error, usage: true, warnings: [] };
  }
  const warnings: string[] = [];
  if (parsed.rest.length > 0) warnings.push(restIgnored(parsed.rest, parsed.boolBeforeRest));
  const flags = parsed.values;
  const defaults = CONFIG_DEFAULTS;
  const config: ResolvedConfig = { ...defaults };
  const target = config as unknown as Record<string, GoFlagValue>;
  const origins = new Map<string, Origin>();
  for (const setting of SERVER_SETTINGS) {
    // The auth token and its file follow their own precedence (resolveAuthToken).
    if (setting.key === "authToken" || setting.key === "authTokenFile") continue;
    const { value, origin } = resolveSetting(
      setting,
      flags,
      env,
      defaults[setting.key],
      warnings,
    );
    target[setting.key] = value;
    origins.set(setting.key, origin);
  }
  try {
    config.authToken = await resolveAuthToken(flags, env, readTextFile);
  } catch (error) {
    return {
      kind: "error",
      message: `configuration error: ${errorText(error)}`,
      usage: false,
      warnings,
    };
  }
  // Go's Validate order: the numeric settings first, the HTTP port after them.
  const numeric = findSettingViolation(config);
  const invalid = numeric === undefined
    ? findHttpPortViolation(config.port, config.httpPort)
    : { message: numeric.message, keys: [numeric.key] };
  if (invalid !== undefined) {
    const from = setBy(invalid.keys.map((key) => origins.get(key)));
    return {
      kind: "error",
      message: `configuration error: ${invalid.message}${from}`,
      usage: true,
      warnings,
    };
  }
  if (config.httpPort === 0 && config.httpHost !== "") {
    const origin = origins.get("httpHost");
    const what = typeof origin === "object"
      ? `${origin.env}=${JSON.stringify(config.httpHost)}`
      : `--http-host ${JSON.stringify(config.httpHost)}`;
    warnings.push(`ignoring ${what}: the HTTP listener is off (turn it on with --http-port)`);
  }
  return { kind: "options", options: config, version: flags.get("version") === true, warnings };
}

/** `, set by DFLOCKD_X` for the settings among `origins` that came from a variable. */
function setBy(origins: readonly (Origin | undefined)[]): string {
  const names = origins.flatMap((origin) => typeof origin === "object" ? [origin.env] : []);
  return names.length > 0 ? `, set by ${names.join(" and ")}` : "";
}

/**
 * Maps resolved settings onto {@linkcode ServerOptions}; unset strings are left out, and
 * `http` is set only when `httpPort` is not 0, with `httpHost` or else `host` as its address.
 *
 * @returns Options for `serve()`.
 */
export function toServerOptions(config: ResolvedConfig): ServerOptions {
  const { tlsCert, tlsKey, authToken, httpPort, httpHost, ...rest } = config;
  const options: ServerOptions = { ...rest };
  if (tlsCert !== "") options.tlsCert = tlsCert;
  if (tlsKey !== "") options.tlsKey = tlsKey;
  if (authToken !== "") options.authToken = authToken;
  // On the command line port 0 turns the listener off; in ServerOptions it picks a free port.
  if (httpPort !== 0) options.http = { port: httpPort, host: httpHost || rest.host };
  return options;
}

/**
 * Lists the settings that differ from the defaults, for the startup log line: those of
 * `SERVER_SETTINGS` not marked `logged: false` (the address shows host and port), then TLS and
 * auth as `tls=on` and `auth=on`. The auth token itself is never shown, nor `--http-host`
 * while the HTTP listener is off.
 *
 * @returns Items like `max-locks=1`, `http-port=6389`, `tls=on`, `auth=on`, in flag order.
 */
export function describeNonDefaults(config: ResolvedConfig): string[] {
  const items: string[] = [];
  for (const setting of SERVER_SETTINGS) {
    // The token file is read into `authToken`, which is logged as `auth=on`.
    if (setting.key === "authTokenFile" || ("logged" in setting && !setting.logged)) continue;
    if (setting.key === "httpHost" && config.httpPort === 0) continue;
    const value = config[setting.key];
    if (value !== CONFIG_DEFAULTS[setting.key]) items.push(`${setting.flag}=${value}`);
  }
  if (config.tlsCert !== "" && config.tlsKey !== "") items.push("tls=on");
  if (config.authToken !== "") items.push("auth=on");
  return items;
}
