/**
 * The dflockd server configuration: Go `flag` command line, `DFLOCKD_*` environment
 * variables, precedence, validation and the messages of the Go server (PROTOCOL.md 12).
 *
 * Pure: the command line, the environment and a file reader come in as arguments, the result
 * (settings or an exit code with its stderr text) goes out; nothing is printed here.
 *
 * @module
 */

import {
  formatGoUsage,
  type GoFlagSpec,
  type GoFlagValue,
  parseGoFlags,
  parseGoInt,
} from "../cli/go_flag.ts";
import { SERVER_DEFAULTS, type ServerOptions } from "./options.ts";
import type { ResolvedServerOptions } from "./server.ts";
import { firstSettingViolation, type NumericSetting } from "./setting_rules.ts";

/**
 * Fully resolved server settings from flags and environment: the numeric and boolean settings
 * of {@linkcode ResolvedServerOptions}, and the file and token settings as strings where `""`
 * means "not set" (as in Go).
 */
export type ResolvedConfig =
  & Pick<ResolvedServerOptions, NumericSetting | "host" | "autoReleaseOnDisconnect" | "debug">
  & {
    /** PEM certificate path, `""` when unset. */
    tlsCert: string;
    /** PEM key path, `""` when unset. */
    tlsKey: string;
    /** The auth token after the precedence rules and file reading, `""` when none. */
    authToken: string;
  };

/** Result of {@linkcode parseServerArgs}. */
export type ServerConfigResult =
  | {
    /** Start (or, with `version`, print the version and exit 0). */
    kind: "options";
    /** The settings. */
    options: ResolvedConfig;
    /** `--version` was given (honoured only after validation). */
    version: boolean;
  }
  | {
    /** Do not start: exit with `code` after writing `stderr`. */
    kind: "exit";
    /** Process exit status (1 for every configuration failure). */
    code: number;
    /** Text for stderr, ending in a newline. */
    stderr: string;
  };

/** Reads a text file; rejects when it cannot be read. */
export type ReadTextFile = (path: string) => Promise<string>;

/** Name of the program in the usage text (as the Go server prints it). */
export const USAGE_PROGRAM = "dflockd";

interface Setting {
  flag: string;
  env: string;
  key: NumericSetting | "host" | "tlsCert" | "tlsKey" | "autoReleaseOnDisconnect" | "debug";
}

/** Flags with their environment variables, in the order of PROTOCOL.md 12.1. */
const SETTINGS: readonly Setting[] = [
  { flag: "host", env: "DFLOCKD_HOST", key: "host" },
  { flag: "port", env: "DFLOCKD_PORT", key: "port" },
  { flag: "default-lease-ttl", env: "DFLOCKD_DEFAULT_LEASE_TTL_S", key: "defaultLeaseTtl" },
  {
    flag: "lease-sweep-interval",
    env: "DFLOCKD_LEASE_SWEEP_INTERVAL_S",
    key: "leaseSweepInterval",
  },
  { flag: "gc-interval", env: "DFLOCKD_GC_LOOP_SLEEP", key: "gcInterval" },
  { flag: "gc-max-idle", env: "DFLOCKD_GC_MAX_UNUSED_TIME", key: "gcMaxIdle" },
  { flag: "max-locks", env: "DFLOCKD_MAX_LOCKS", key: "maxLocks" },
  { flag: "max-connections", env: "DFLOCKD_MAX_CONNECTIONS", key: "maxConnections" },
  { flag: "max-waiters", env: "DFLOCKD_MAX_WAITERS", key: "maxWaiters" },
  { flag: "read-timeout", env: "DFLOCKD_READ_TIMEOUT_S", key: "readTimeout" },
  { flag: "write-timeout", env: "DFLOCKD_WRITE_TIMEOUT_S", key: "writeTimeout" },
  { flag: "shutdown-timeout", env: "DFLOCKD_SHUTDOWN_TIMEOUT_S", key: "shutdownTimeout" },
  {
    flag: "auto-release-on-disconnect",
    env: "DFLOCKD_AUTO_RELEASE_ON_DISCONNECT",
    key: "autoReleaseOnDisconnect",
  },
  { flag: "tls-cert", env: "DFLOCKD_TLS_CERT", key: "tlsCert" },
  { flag: "tls-key", env: "DFLOCKD_TLS_KEY", key: "tlsKey" },
  { flag: "debug", env: "DFLOCKD_DEBUG", key: "debug" },
];

const D = SERVER_DEFAULTS;

/** The server's flags, as Go's `flag` package defines them. */
export const SERVER_FLAGS: readonly GoFlagSpec[] = [
  { name: "host", kind: "string", usage: "Bind address", defaultValue: D.host },
  { name: "port", kind: "int", usage: "Bind port", defaultValue: D.port },
  {
    name: "default-lease-ttl",
    kind: "int",
    usage: "Default lock lease duration (seconds)",
    defaultValue: D.defaultLeaseTtl,
  },
  {
    name: "lease-sweep-interval",
    kind: "int",
    usage: "Lease expiry check interval (seconds)",
    defaultValue: D.leaseSweepInterval,
  },
  {
    name: "gc-interval",
    kind: "int",
    usage: "Lock state GC interval (seconds)",
    defaultValue: D.gcInterval,
  },
  {
    name: "gc-max-idle",
    kind: "int",
    usage: "Idle seconds before pruning lock state",
    defaultValue: D.gcMaxIdle,
  },
  {
    name: "max-locks",
    kind: "int",
    usage: "Maximum number of unique lock keys",
    defaultValue: D.maxLocks,
  },
  {
    name: "max-connections",
    kind: "int",
    usage: "Maximum concurrent connections (0 = unlimited)",
    defaultValue: D.maxConnections,
  },
  {
    name: "max-waiters",
    kind: "int",
    usage: "Maximum waiters per lock/semaphore key (0 = unlimited)",
    defaultValue: D.maxWaiters,
  },
  {
    name: "read-timeout",
    kind: "int",
    usage: "Client read timeout (seconds)",
    defaultValue: D.readTimeout,
  },
  {
    name: "write-timeout",
    kind: "int",
    usage: "Client write timeout (seconds, 0 = none)",
    defaultValue: D.writeTimeout,
  },
  {
    name: "shutdown-timeout",
    kind: "int",
    usage: "Graceful shutdown drain timeout (seconds, 0 = wait forever)",
    defaultValue: D.shutdownTimeout,
  },
  {
    name: "auto-release-on-disconnect",
    kind: "bool",
    usage: "Release locks when a client disconnects",
    defaultValue: D.autoReleaseOnDisconnect,
  },
  {
    name: "tls-cert",
    kind: "string",
    usage: "Path to TLS certificate PEM file",
    defaultValue: "",
  },
  {
    name: "tls-key",
    kind: "string",
    usage: "Path to TLS private key PEM file",
    defaultValue: "",
  },
  {
    name: "auth-token",
    kind: "string",
    usage: "Shared secret token for authentication",
    defaultValue: "",
  },
  {
    name: "auth-token-file",
    kind: "string",
    usage: "Path to file containing the auth token",
    defaultValue: "",
  },
  { name: "debug", kind: "bool", usage: "Enable debug logging", defaultValue: D.debug },
  { name: "version", kind: "bool", usage: "Print version and exit", defaultValue: false },
];

/** The usage text Go prints for `-h` and after a flag error. */
export function serverUsage(): string {
  return formatGoUsage(USAGE_PROGRAM, SERVER_FLAGS);
}

/**
 * Go's `strings.TrimSpace`: trims ASCII white space and Unicode `White_Space` (including
 * U+0085, excluding U+FEFF, unlike `String.prototype.trim`).
 *
 * @param text The text to trim.
 * @returns The trimmed text.
 */
export function goTrimSpace(text: string): string {
  return text.replace(
    /^[\t\n\v\f\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+|[\t\n\v\f\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$/g,
    "",
  );
}

/**
 * Lenient environment boolean: `1`/`yes`/`true` and `0`/`no`/`false` in any letter case.
 *
 * @param text The variable's value.
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
 * @param text The variable's value.
 * @returns The integer, or `undefined` when it does not parse (the default then applies).
 */
export function parseEnvInt(text: string): number | undefined {
  const value = parseGoInt(text, 10);
  return typeof value === "number" ? value : undefined;
}

/**
 * Checks the settings in the Go server's order.
 *
 * @param config The resolved settings.
 * @returns The first violation (`--max-locks must be > 0 (got 0)`), or `undefined`.
 */
export function validateConfig(config: ResolvedConfig): string | undefined {
  return firstSettingViolation(config);
}

function configError(message: string): ServerConfigResult {
  return { kind: "exit", code: 1, stderr: `configuration error: ${message}\n` };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function resolveAuthToken(
  flags: Map<string, GoFlagValue>,
  env: Readonly<Record<string, string | undefined>>,
  readTextFile: ReadTextFile,
): Promise<string> {
  const envToken = env.DFLOCKD_AUTH_TOKEN ?? "";
  if (envToken !== "") return envToken;
  const flagToken = String(flags.get("auth-token") ?? "");
  if (flagToken !== "") return flagToken;
  let path = String(flags.get("auth-token-file") ?? "");
  if (path === "") path = env.DFLOCKD_AUTH_TOKEN_FILE ?? "";
  if (path === "") return "";
  let text: string;
  try {
    text = await readTextFile(path);
  } catch (error) {
    throw new Error(`cannot read auth token file ${JSON.stringify(path)}: ${errorText(error)}`);
  }
  return goTrimSpace(text);
}

function resolveSetting(
  setting: Setting,
  flags: Map<string, GoFlagValue>,
  env: Readonly<Record<string, string | undefined>>,
  fallback: GoFlagValue,
): GoFlagValue {
  const given = flags.get(setting.flag);
  if (given !== undefined) return given;
  const raw = env[setting.env] ?? "";
  if (raw === "") return fallback;
  if (typeof fallback === "number") return parseEnvInt(raw) ?? fallback;
  if (typeof fallback === "boolean") return parseEnvBool(raw) ?? fallback;
  return raw;
}

/**
 * Resolves the server settings from a Go-style command line and the environment, reads the
 * auth token file and validates, exactly like the Go dflockd server (PROTOCOL.md 12).
 *
 * @param argv The arguments after the subcommand (`--port 0 --max-locks 5`).
 * @param env The environment (`DFLOCKD_*` variables; other names are ignored).
 * @param readTextFile Reads the auth token file.
 * @returns The settings, or an exit code with the text to write on stderr.
 */
export async function parseServerArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  readTextFile: ReadTextFile,
): Promise<ServerConfigResult> {
  const parsed = parseGoFlags(SERVER_FLAGS, argv);
  if (!parsed.ok) {
    const head = parsed.help ? "" : `${parsed.error}\n`;
    return {
      kind: "exit",
      code: 1,
      stderr: `${head}${serverUsage()}configuration error: ${parsed.error}\n`,
    };
  }
  const flags = parsed.values;
  const defaults: ResolvedConfig = {
    ...SERVER_DEFAULTS,
    tlsCert: "",
    tlsKey: "",
    authToken: "",
  };
  const config: ResolvedConfig = { ...defaults };
  const target = config as unknown as Record<string, GoFlagValue>;
  for (const setting of SETTINGS) {
    target[setting.key] = resolveSetting(setting, flags, env, defaults[setting.key]);
  }
  try {
    config.authToken = await resolveAuthToken(flags, env, readTextFile);
  } catch (error) {
    return configError(errorText(error));
  }
  const invalid = validateConfig(config);
  if (invalid !== undefined) return configError(invalid);
  return { kind: "options", options: config, version: flags.get("version") === true };
}

/**
 * Startup checks that the Go server makes when it starts listening (after `--version`):
 * TLS needs both the certificate and the key.
 *
 * @param config The validated settings.
 * @returns The error message, or `undefined`.
 */
export function checkStartup(config: ResolvedConfig): string | undefined {
  if ((config.tlsCert === "") !== (config.tlsKey === "")) {
    return "both --tls-cert and --tls-key must be given to enable TLS";
  }
  return undefined;
}

/**
 * Maps resolved settings onto {@linkcode ServerOptions}; unset strings are left out.
 *
 * @param config The validated settings.
 * @returns Options for `serve()`.
 */
export function toServerOptions(config: ResolvedConfig): ServerOptions {
  const { tlsCert, tlsKey, authToken, ...rest } = config;
  const options: ServerOptions = { ...rest };
  if (tlsCert !== "") options.tlsCert = tlsCert;
  if (tlsKey !== "") options.tlsKey = tlsKey;
  if (authToken !== "") options.authToken = authToken;
  return options;
}

/**
 * Lists the settings that differ from the defaults, for the startup log line. The auth token
 * itself is never shown.
 *
 * @param config The validated settings.
 * @returns Items like `max-locks=1`, `tls=on`, `auth=on`, in flag order.
 */
export function describeNonDefaults(config: ResolvedConfig): string[] {
  const items: string[] = [];
  for (const setting of SETTINGS) {
    if (setting.key === "host" || setting.key === "port") continue;
    if (setting.key === "tlsCert" || setting.key === "tlsKey") continue;
    const value = config[setting.key];
    if (value !== SERVER_DEFAULTS[setting.key]) items.push(`${setting.flag}=${value}`);
  }
  if (config.tlsCert !== "" && config.tlsKey !== "") items.push("tls=on");
  if (config.authToken !== "") items.push("auth=on");
  return items;
}
