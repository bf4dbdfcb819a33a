/**
 * Every server setting declared once: its option name, Go flag, `DFLOCKD_*` variable, kind,
 * default, validation rule and usage text (docs/protocol.md section 12). The defaults
 * ({@linkcode SERVER_DEFAULTS}), {@linkcode resolveServerOptions}, the `dflock serve` command
 * line and its `--help` text are all derived from {@linkcode SERVER_SETTINGS}.
 *
 * @module
 */

import type { SERVER_DEFAULTS, ServerOptions } from "./options.ts";
import type { ResolvedServerOptions } from "./server.ts";

/** A numeric setting's range check, with the Go server's words for it. */
export interface SettingRule {
  /** Position in the Go server's `Validate` order (docs/protocol.md 12.4), from 1. */
  readonly order: number;
  /** Counts and the port must be integers; durations may be fractional seconds. */
  readonly integer: boolean;
  /** True when the value is in range. */
  readonly check: (value: number) => boolean;
  /** The range as the message says it: `> 0`, `>= 0`, `between 0 and 65535`. */
  readonly expect: string;
}

/** One server setting. */
export interface ServerSetting {
  /** The option name (`maxLocks`). */
  readonly key: string;
  /** The Go flag name without dashes (`max-locks`). */
  readonly flag: string;
  /** The environment variable that also sets it. */
  readonly env: string;
  /** True when the variable beats the flag (only `DFLOCKD_AUTH_TOKEN`, as in Go). */
  readonly envBeatsFlag?: boolean;
  /** The value type, as Go's `flag` package has it. */
  readonly kind: "string" | "int" | "bool";
  /** The default; `undefined` means unset (the Go flag's zero value, `""`). */
  readonly default: string | number | boolean | undefined;
  /** For numeric settings: the range check. */
  readonly rule?: SettingRule;
  /** The usage line of `--help`. */
  readonly usage: string;
  /**
   * True for the command-line-only settings `http-port` and `http-host`, which
   * {@linkcode ServerOptions} spells as `http: { port, host }`.
   */
  readonly cliOnly?: boolean;
  /**
   * False when the startup log line does not list the value (the address shows host and port,
   * TLS and auth are shown as `tls=on` and `auth=on`).
   */
  readonly logged?: boolean;
}

const positive = (v: number): boolean => v > 0;
const nonNegative = (v: number): boolean => v >= 0;

/**
 * The server settings, in the order of docs/protocol.md 12.1 (the flag order of `--help` is by
 * name, as Go prints it; validation follows each rule's `order`).
 */
export const SERVER_SETTINGS = [
  {
    key: "host",
    flag: "host",
    env: "DFLOCKD_HOST",
    kind: "string",
    default: "127.0.0.1",
    usage: "Bind address",
    logged: false,
  },
  {
    key: "port",
    flag: "port",
    env: "DFLOCKD_PORT",
    kind: "int",
    default: 6388,
    rule: {
      order: 8,
      integer: true,
      check: (v: number) => v >= 0 && v <= 65535,
      expect: "between 0 and 65535",
    },
    usage: "Bind port",
    logged: false,
  },
  {
    key: "defaultLeaseTtl",
    flag: "default-lease-ttl",
    env: "DFLOCKD_DEFAULT_LEASE_TTL_S",
    kind: "int",
    default: 33,
    rule: { order: 2, integer: false, check: positive, expect: "> 0" },
    usage: "Default lock lease duration (seconds)",
  },
  {
    key: "leaseSweepInterval",
    flag: "lease-sweep-interval",
    env: "DFLOCKD_LEASE_SWEEP_INTERVAL_S",
    kind: "int",
    default: 1,
    rule: { order: 3, integer: false, check: positive, expect: "> 0" },
    usage: "Lease expiry check interval (seconds)",
  },
  {
    key: "gcInterval",
    flag: "gc-interval",
    env: "DFLOCKD_GC_LOOP_SLEEP",
    kind: "int",
    default: 5,
    rule: { order: 4, integer: false, check: positive, expect: "> 0" },
    usage: "Lock state GC interval (seconds)",
  },
  {
    key: "gcMaxIdle",
    flag: "gc-max-idle",
    env: "DFLOCKD_GC_MAX_UNUSED_TIME",
    kind: "int",
    default: 60,
    rule: { order: 11, integer: false, check: positive, expect: "> 0" },
    usage: "Idle seconds before pruning lock state",
  },
  {
    key: "maxLocks",
    flag: "max-locks",
    env: "DFLOCKD_MAX_LOCKS",
    kind: "int",
    default: 1024,
    rule: { order: 1, integer: true, check: positive, expect: "> 0" },
    usage: "Maximum number of unique lock keys",
  },
  {
    key: "maxConnections",
    flag: "max-connections",
    env: "DFLOCKD_MAX_CONNECTIONS",
    kind: "int",
    default: 0,
    rule: { order: 9, integer: true, check: nonNegative, expect: ">= 0" },
    usage: "Maximum concurrent connections (0 = unlimited)",
  },
  {
    key: "maxWaiters",
    flag: "max-waiters",
    env: "DFLOCKD_MAX_WAITERS",
    kind: "int",
    default: 0,
    rule: { order: 10, integer: true, check: nonNegative, expect: ">= 0" },
    usage: "Maximum waiters per lock/semaphore key (0 = unlimited)",
  },
  {
    key: "readTimeout",
    flag: "read-timeout",
    env: "DFLOCKD_READ_TIMEOUT_S",
    kind: "int",
    default: 23,
    rule: { order: 5, integer: false, check: positive, expect: "> 0" },
    usage: "Client read timeout (seconds)",
  },
  {
    key: "writeTimeout",
    flag: "write-timeout",
    env: "DFLOCKD_WRITE_TIMEOUT_S",
    kind: "int",
    default: 5,
    rule: { order: 6, integer: false, check: nonNegative, expect: ">= 0" },
    usage: "Client write timeout (seconds, 0 = none)",
  },
  {
    key: "shutdownTimeout",
    flag: "shutdown-timeout",
    env: "DFLOCKD_SHUTDOWN_TIMEOUT_S",
    kind: "int",
    default: 30,
    rule: { order: 7, integer: false, check: nonNegative, expect: ">= 0" },
    usage: "Graceful shutdown drain timeout (seconds, 0 = wait forever)",
  },
  {
    key: "autoReleaseOnDisconnect",
    flag: "auto-release-on-disconnect",
    env: "DFLOCKD_AUTO_RELEASE_ON_DISCONNECT",
    kind: "bool",
    default: true,
    usage: "Release locks when a client disconnects",
  },
  {
    key: "tlsCert",
    flag: "tls-cert",
    env: "DFLOCKD_TLS_CERT",
    kind: "string",
    default: undefined,
    usage: "Path to TLS certificate PEM file",
    logged: false,
  },
  {
    key: "tlsKey",
    flag: "tls-key",
    env: "DFLOCKD_TLS_KEY",
    kind: "string",
    default: undefined,
    usage: "Path to TLS private key PEM file",
    logged: false,
  },
  {
    key: "authToken",
    flag: "auth-token",
    env: "DFLOCKD_AUTH_TOKEN",
    envBeatsFlag: true,
    kind: "string",
    default: undefined,
    usage: "Shared secret token for authentication",
    logged: false,
  },
  {
    key: "authTokenFile",
    flag: "auth-token-file",
    env: "DFLOCKD_AUTH_TOKEN_FILE",
    kind: "string",
    default: undefined,
    usage: "Path to file containing the auth token",
    logged: false,
  },
  {
    key: "httpPort",
    flag: "http-port",
    env: "DFLOCKD_HTTP_PORT",
    kind: "int",
    default: 0,
    usage: "HTTP API listen port (0 = disabled)",
    cliOnly: true,
  },
  {
    key: "httpHost",
    flag: "http-host",
    env: "DFLOCKD_HTTP_HOST",
    kind: "string",
    default: undefined,
    usage: "HTTP API bind address (defaults to --host)",
    cliOnly: true,
  },
  {
    key: "debug",
    flag: "debug",
    env: "DFLOCKD_DEBUG",
    kind: "bool",
    default: false,
    usage: "Enable debug logging",
  },
] as const satisfies readonly ServerSetting[];

/** One entry of {@linkcode SERVER_SETTINGS}. */
export type ServerSettingEntry = typeof SERVER_SETTINGS[number];

/** Every setting's key (`maxLocks`, `httpPort`...). */
export type ServerSettingKey = ServerSettingEntry["key"];

/** The keys of the settings with a range check (the numeric ones). */
export type NumericSetting = Extract<ServerSettingEntry, { rule: SettingRule }>["key"];

/** The value type of a setting kind. */
export type SettingValue<K extends ServerSetting["kind"]> = K extends "int" ? number
  : K extends "bool" ? boolean
  : string;

/** The settings that are {@linkcode ServerOptions} fields of the same name. */
type OptionEntry = Exclude<ServerSettingEntry, { cliOnly: true }>;

/** The settings' values as the Go server holds them: every setting set, an unset string `""`. */
export type GoSettingValues = {
  [S in ServerSettingEntry as S["key"]]: SettingValue<S["kind"]>;
};

/**
 * The {@linkcode ServerOptions} settings with their defaults filled in; an unset string is
 * `undefined` (so is `""`).
 */
export type ResolvedSettings = {
  [S in OptionEntry as S["key"]]: S["default"] extends undefined
    ? SettingValue<S["kind"]> | undefined
    : SettingValue<S["kind"]>;
};

/** The defaults that are set ({@linkcode SERVER_DEFAULTS}'s type). */
export type SettingDefaults = {
  readonly [S in OptionEntry as S["default"] extends undefined ? never : S["key"]]: S["default"];
};

// Compile-time check: each table setting is a ServerOptions field of its kind, and back.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type TableOptions = { [K in keyof ResolvedSettings]?: NonNullable<ResolvedSettings[K]> };
type DeclaredOptions = Pick<ServerOptions, keyof ResolvedSettings>;
const optionsMatchTable: Same<Required<TableOptions>, Required<DeclaredOptions>> = true;
const resolvedMatchTable: Same<
  ResolvedSettings,
  Pick<ResolvedServerOptions, keyof ResolvedSettings>
> = true;
const defaultsMatchTable: Same<keyof SettingDefaults, keyof typeof SERVER_DEFAULTS> = true;
void optionsMatchTable, resolvedMatchTable, defaultsMatchTable;

/** The setting of a key. */
export function serverSetting<K extends ServerSettingKey>(
  key: K,
): Extract<ServerSettingEntry, { key: K }> {
  const found = SERVER_SETTINGS.find((setting) => setting.key === key);
  if (found === undefined) throw new Error(`no server setting ${key}`);
  return found as Extract<ServerSettingEntry, { key: K }>;
}

/** The rules in the Go server's order. */
const RULES: readonly (ServerSettingEntry & { rule: SettingRule })[] = SERVER_SETTINGS
  .filter((setting): setting is Extract<ServerSettingEntry, { rule: SettingRule }> =>
    "rule" in setting
  )
  .sort((a, b) => a.rule.order - b.rule.order);

/** The Go server's defaults, without the settings that are unset by default. */
function setDefaults(): SettingDefaults {
  const out: Record<string, unknown> = {};
  for (const setting of SERVER_SETTINGS) {
    if (!("cliOnly" in setting) && setting.default !== undefined) {
      out[setting.key] = setting.default;
    }
  }
  return out as SettingDefaults;
}

/** {@linkcode SERVER_DEFAULTS}' value (it is exported from options.ts). */
export const SETTING_DEFAULTS: SettingDefaults = Object.freeze(setDefaults());

/**
 * Fills in the table settings of {@linkcode ServerOptions}: a missing value takes its default,
 * and an empty or missing string that has none is `undefined`. Nothing is validated here.
 */
export function resolveSettings(options: ServerOptions): ResolvedSettings {
  const given = options as Readonly<Record<string, unknown>>;
  const out: Record<string, unknown> = {};
  for (const setting of SERVER_SETTINGS) {
    if ("cliOnly" in setting) continue;
    const value = given[setting.key];
    out[setting.key] = setting.default === undefined
      ? (value || undefined)
      : (value ?? setting.default);
  }
  return out as ResolvedSettings;
}

/** A setting that breaks its rule, as {@linkcode findSettingViolation} reports it. */
export interface SettingViolation {
  /** The option name (`maxLocks`). */
  key: NumericSetting;
  /** The Go flag name (`max-locks`). */
  flag: string;
  /** The Go server's message: `--max-locks must be > 0 (got 0)`. */
  message: string;
}

/**
 * Checks the numeric settings in the Go server's order and says which one fails first.
 *
 * @returns The first violation, or `undefined` when every value is valid.
 */
export function findSettingViolation(
  values: Readonly<Record<NumericSetting, unknown>>,
): SettingViolation | undefined {
  for (const { key, flag, rule } of RULES) {
    const v = values[key as NumericSetting];
    let message: string | undefined;
    if (typeof v !== "number" || Number.isNaN(v) || !rule.check(v)) {
      message = `--${flag} must be ${rule.expect} (got ${v})`;
    } else if (rule.integer ? !Number.isSafeInteger(v) : !Number.isFinite(v)) {
      message = `--${flag} must be ${rule.integer ? "an integer" : "finite"} (got ${v})`;
    }
    if (message !== undefined) return { key: key as NumericSetting, flag, message };
  }
  return undefined;
}

/**
 * The Go server's checks of `--http-port`: a port number, and not the lock port when both are
 * non-zero (on the command line 0 turns the HTTP listener off; in `serve()` it picks a free port,
 * so it never clashes either).
 *
 * @param port The lock-protocol port.
 * @returns The violation in the Go server's words with the settings at fault (the first is the
 *   one named), or `undefined`.
 */
export function findHttpPortViolation(
  port: number,
  httpPort: number,
): { message: string; keys: ("httpPort" | "port")[] } | undefined {
  if (!Number.isSafeInteger(httpPort) || httpPort < 0 || httpPort > 65535) {
    return { message: `--http-port must be 0-65535 (got ${httpPort})`, keys: ["httpPort"] };
  }
  if (httpPort !== 0 && httpPort === port) {
    return {
      message: `--http-port (${httpPort}) must differ from --port`,
      keys: ["httpPort", "port"],
    };
  }
  return undefined;
}

/**
 * The check the Go server makes when it starts listening (after `--version`): TLS needs both
 * the certificate and the key. Used by {@linkcode resolveServerOptions} and `dflock serve`.
 *
 * @param paths The certificate and key paths; `""` and `undefined` both mean unset.
 * @returns The Go server's message (`both --tls-cert and --tls-key must be provided
 *   together`), or `undefined`.
 */
export function checkStartup(
  paths: { readonly tlsCert?: string | undefined; readonly tlsKey?: string | undefined },
): string | undefined {
  if (!paths.tlsCert !== !paths.tlsKey) {
    return "both --tls-cert and --tls-key must be provided together";
  }
  return undefined;
}
