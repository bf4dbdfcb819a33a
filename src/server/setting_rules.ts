/**
 * The numeric server settings' validation rules, in the Go server's order (PROTOCOL.md 12.4),
 * shared by the command line and by {@linkcode resolveServerOptions}.
 *
 * @module
 */

/** The numeric settings, by their option names. */
export type NumericSetting =
  | "port"
  | "defaultLeaseTtl"
  | "leaseSweepInterval"
  | "gcInterval"
  | "gcMaxIdle"
  | "maxLocks"
  | "maxConnections"
  | "maxWaiters"
  | "readTimeout"
  | "writeTimeout"
  | "shutdownTimeout";

interface SettingRule {
  /** The Go flag name, for the message. */
  flag: string;
  key: NumericSetting;
  /** Counts and the port must be integers; durations may be fractional seconds. */
  integer: boolean;
  check: (v: number) => boolean;
  expect: string;
}

const positive = (v: number): boolean => v > 0;
const nonNegative = (v: number): boolean => v >= 0;

const RULES: readonly SettingRule[] = [
  { flag: "max-locks", key: "maxLocks", integer: true, check: positive, expect: "> 0" },
  {
    flag: "default-lease-ttl",
    key: "defaultLeaseTtl",
    integer: false,
    check: positive,
    expect: "> 0",
  },
  {
    flag: "lease-sweep-interval",
    key: "leaseSweepInterval",
    integer: false,
    check: positive,
    expect: "> 0",
  },
  { flag: "gc-interval", key: "gcInterval", integer: false, check: positive, expect: "> 0" },
  { flag: "read-timeout", key: "readTimeout", integer: false, check: positive, expect: "> 0" },
  {
    flag: "write-timeout",
    key: "writeTimeout",
    integer: false,
    check: nonNegative,
    expect: ">= 0",
  },
  {
    flag: "shutdown-timeout",
    key: "shutdownTimeout",
    integer: false,
    check: nonNegative,
    expect: ">= 0",
  },
  {
    flag: "port",
    key: "port",
    integer: true,
    check: (v) => v >= 0 && v <= 65535,
    expect: "between 0 and 65535",
  },
  {
    flag: "max-connections",
    key: "maxConnections",
    integer: true,
    check: nonNegative,
    expect: ">= 0",
  },
  { flag: "max-waiters", key: "maxWaiters", integer: true, check: nonNegative, expect: ">= 0" },
  { flag: "gc-max-idle", key: "gcMaxIdle", integer: false, check: positive, expect: "> 0" },
];

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
 * @param values The settings.
 * @returns The first violation, or `undefined` when every value is valid.
 */
export function findSettingViolation(
  values: Readonly<Record<NumericSetting, unknown>>,
): SettingViolation | undefined {
  for (const rule of RULES) {
    const v = values[rule.key];
    let message: string | undefined;
    if (typeof v !== "number" || Number.isNaN(v) || !rule.check(v)) {
      message = `--${rule.flag} must be ${rule.expect} (got ${v})`;
    } else if (rule.integer ? !Number.isSafeInteger(v) : !Number.isFinite(v)) {
      message = `--${rule.flag} must be ${rule.integer ? "an integer" : "finite"} (got ${v})`;
    }
    if (message !== undefined) return { key: rule.key, flag: rule.flag, message };
  }
  return undefined;
}

/**
 * Checks the numeric settings in the Go server's order.
 *
 * @param values The settings.
 * @returns The first violation in the Go server's words (`--max-locks must be > 0 (got 0)`),
 * or `undefined` when every value is valid.
 */
export function firstSettingViolation(
  values: Readonly<Record<NumericSetting, unknown>>,
): string | undefined {
  return findSettingViolation(values)?.message;
}

/**
 * The Go server's checks of `--http-port`: a port number, and not the lock port when both are
 * non-zero (on the command line 0 turns the HTTP listener off; in `serve()` it picks a free port,
 * so it never clashes either).
 *
 * @param port The lock-protocol port.
 * @param httpPort The HTTP port.
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
