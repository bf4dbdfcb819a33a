/**
 * Internal: the connection flags shared by the client subcommands (`--server`, `--auth-token`,
 * `--tls`, `--tls-ca`) and the one-line description of a failure.
 *
 * @module
 */

import { parseServerAddress } from "../client/servers.ts";
import type { ServerEndpoint } from "../client/servers.ts";
import { EnvPermissionError } from "../runtime/process.ts";
import type { TlsConnectOptions } from "../transport/types.ts";
import { boolFlag, type FlagSpec, type FlagValue, listFlag, stringFlag } from "./_flags.ts";
import type { CliIo } from "./io.ts";

/** The server used when no `--server` is given. */
export const DEFAULT_SERVER = "127.0.0.1:6388";

/**
 * Environment variable read when `--auth-token` is not given: the server's own
 * (`dflock serve`, Go dflockd), so one variable configures both sides.
 */
export const AUTH_TOKEN_ENV = "DFLOCKD_AUTH_TOKEN";

/** The connection flags, appended to each client subcommand's own. */
export const CONNECTION_FLAGS: readonly FlagSpec[] = [
  {
    name: "auth-token",
    kind: "string",
    placeholder: "secret",
    usage: `shared secret sent with auth first (default: $${AUTH_TOKEN_ENV})`,
  },
  { name: "tls", kind: "bool", usage: "connect with TLS (system trust store)" },
  {
    name: "tls-ca",
    kind: "string",
    placeholder: "file",
    usage: "connect with TLS, trusting the CA certificates in this PEM file",
  },
];

/** Connection settings from the flags. */
export interface ClientSettings {
  /** The servers, in flag order. */
  servers: ServerEndpoint[];
  /** The auth token, if any. */
  authToken: string | undefined;
  /** TLS settings, if TLS is on. */
  tls: TlsConnectOptions | undefined;
}

/**
 * Lower-cases the first letter of a message so it reads well after `dflock <cmd>: `
 * (`Cannot connect to ...` becomes `cannot connect to ...`), leaving acronyms alone.
 *
 * @param error Any thrown value.
 */
export function describeFailure(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const line = text.split("\n")[0] ?? "";
  return /^[A-Z][a-z]/.test(line) ? line.charAt(0).toLowerCase() + line.slice(1) : line;
}

/**
 * Reads `--server` (repeatable), `--auth-token` / `$DFLOCKD_AUTH_TOKEN`, `--tls`, `--tls-ca`.
 *
 * @param io For the environment and the CA file.
 * @returns The settings, or `{ usage }` for a malformed server address, or `{ failure }` when
 *   the CA file or (Deno without `--allow-env=DFLOCKD_AUTH_TOKEN`) the variable cannot be read.
 */
export async function clientSettings(
  values: Map<string, FlagValue>,
  io: CliIo,
): Promise<ClientSettings | { usage: string } | { failure: string }> {
  const given = listFlag(values, "server");
  const servers: ServerEndpoint[] = [];
  for (const entry of given.length > 0 ? given : [DEFAULT_SERVER]) {
    try {
      servers.push(parseServerAddress(entry));
    } catch (error) {
      return { usage: `--server: ${describeFailure(error)}` };
    }
  }
  let token: string | undefined;
  try {
    token = stringFlag(values, "auth-token") ?? io.env[AUTH_TOKEN_ENV];
  } catch (error) {
    if (!(error instanceof EnvPermissionError)) throw error;
    return { failure: `${error.message}, or pass --auth-token` };
  }
  const authToken = token === undefined || token === "" ? undefined : token;
  let tls: TlsConnectOptions | undefined = boolFlag(values, "tls") ? {} : undefined;
  const caFile = stringFlag(values, "tls-ca");
  if (caFile !== undefined) {
    try {
      tls = { caCerts: [await io.readTextFile(caFile)] };
    } catch (error) {
      return { failure: `cannot read --tls-ca ${caFile}: ${describeFailure(error)}` };
    }
  }
  return { servers, authToken, tls };
}
