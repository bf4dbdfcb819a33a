/**
 * Server settings, named after the Go dflockd flags in camelCase. Durations are whole
 * seconds, as on the Go command line. The flags, variables, defaults and rules of the fields
 * are declared once, in `SERVER_SETTINGS` (settings.ts); a compile-time check there keeps
 * {@linkcode ServerOptions} in step with it.
 *
 * @module
 */

import type { TransportAdapter } from "../transport/types.ts";
import { SETTING_DEFAULTS } from "./settings.ts";

/**
 * Settings for {@linkcode serve}. Every field is optional; defaults match the Go server.
 */
export interface ServerOptions {
  /** Bind address. @default {"127.0.0.1"} */
  host?: string;
  /** TCP port; 0 picks a free port. @default {6388} */
  port?: number;
  /** Lease in seconds when a request names none. @default {33} */
  defaultLeaseTtl?: number;
  /** Seconds between sweeps of expired leases. @default {1} */
  leaseSweepInterval?: number;
  /** Seconds between idle-key garbage collections. @default {5} */
  gcInterval?: number;
  /** Seconds a key must be idle before GC removes it. @default {60} */
  gcMaxIdle?: number;
  /** Maximum number of keys, locks and semaphores together. @default {1024} */
  maxLocks?: number;
  /** Maximum open connections; 0 means unlimited. @default {0} */
  maxConnections?: number;
  /** Maximum queued waiters per key; 0 means unlimited. @default {0} */
  maxWaiters?: number;
  /** Seconds allowed for each request line to arrive. @default {23} */
  readTimeout?: number;
  /** Seconds allowed for each response write; 0 means none. @default {5} */
  writeTimeout?: number;
  /** Seconds to wait for clients after a shutdown starts; 0 waits forever. @default {30} */
  shutdownTimeout?: number;
  /** Release a connection's locks and queue entries when it closes. @default {true} */
  autoReleaseOnDisconnect?: boolean;
  /** Path of a PEM certificate; requires {@linkcode ServerOptions.tlsKey}. */
  tlsCert?: string;
  /** Path of the PEM private key; requires {@linkcode ServerOptions.tlsCert}. */
  tlsKey?: string;
  /** PEM text of certificate and key, for embedding without files. Wins over the paths. */
  tls?: { cert: string; key: string };
  /** Shared secret every connection must present with `auth` first. */
  authToken?: string;
  /** File holding the shared secret (trimmed of white space at both ends). */
  authTokenFile?: string;
  /** Log per-connection events. @default {false} */
  debug?: boolean;
  /**
   * Where log lines go (`listening on 127.0.0.1:6388`, with `debug` the connections, and
   * accept failures), one line per call without a newline. An embedded server is silent
   * unless this is set; `dflock serve` passes its own logger.
   * @default {no logging}
   */
  log?: (line: string) => void;
  /** Transport adapter to listen with. @default {the current runtime's} */
  transport?: TransportAdapter;
  /**
   * Also serve `/health`, `/ready`, `/metrics` (Prometheus), `/v1/stats` and the live dashboard
   * at `/` over HTTP on this address (HTTPS with the same certificate when TLS is on; the auth
   * token guards everything but `/health`, `/ready` and the page itself). Port 0 picks a free
   * port (see `Server.httpAddr`); on the command line `--http-port 0` means off instead.
   * @default {no HTTP listener}
   */
  http?: HttpOptions;
}

/**
 * The Go server's defaults, taken from the settings table: every setting of
 * {@linkcode ServerOptions} that has one (the TLS and auth settings are unset by default). The
 * key list in the type is checked against the table at compile time.
 */
export const SERVER_DEFAULTS: Readonly<
  Required<
    Pick<
      ServerOptions,
      | "host"
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
      | "shutdownTimeout"
      | "autoReleaseOnDisconnect"
      | "debug"
    >
  >
> = SETTING_DEFAULTS;

/**
 * Where the server's HTTP listener binds (see {@linkcode ServerOptions.http}).
 *
 * @example Health, metrics and the dashboard on a free port
 * ```ts
 * import { serve } from "@dflock/dflock/server";
 *
 * await using server = await serve({ port: 0, http: { port: 0 } });
 * const res = await fetch(`http://127.0.0.1:${server.httpAddr!.port}/health`);
 * console.log(res.status, await res.text()); // 200 {"status":"ok"}
 * ```
 */
export interface HttpOptions {
  /** TCP port, 0..65535; 0 picks a free one. */
  port: number;
  /** Bind address. @default {the server's `host`} */
  host?: string;
}
