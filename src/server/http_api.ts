/**
 * The operator endpoints on the server's HTTP port: `/health`, `/ready`, `/metrics`,
 * `/v1/stats`, `/v1/dashboard` (the dashboard's data) and the dashboard page at `/`. With an
 * auth token, everything but `/health`, `/ready` and the page needs `Authorization: Bearer
 * <token>`; a wrong or missing token is answered 401 after the same pause as on the lock
 * protocol. Described in docs/operations.md.
 *
 * @module
 */

import { formatStats } from "../protocol/stats.ts";
import { byteStringToBytes, utf8Bytes } from "../protocol/utf8.ts";
import { constantTimeEqual } from "./connection.ts";
import { DASHBOARD_HTML } from "./dashboard_page.ts";
import type { HttpHandler, HttpRequest, HttpResponse } from "./http.ts";
import type { LockTable } from "./lock_table.ts";
import type { ServerMetrics } from "./metrics.ts";
import { formatMetrics, PROMETHEUS_CONTENT_TYPE } from "./metrics_text.ts";

/**
 * The Prometheus text for a server: its counters with the moment's gauges. What `/metrics`
 * serves and `Server.metrics()` returns.
 *
 * @param host The server.
 * @returns The exposition text.
 */
export function metricsText(host: HttpApiHost): string {
  return formatMetrics(host.metrics, {
    ready: host.phase() === "ready",
    uptimeS: (host.now() - host.startedAt) / 1000,
    connections: host.connectionCount(),
    table: host.table.summary(),
  });
}

/** What the endpoints read from the server. */
export interface HttpApiHost {
  /** The lock table. */
  readonly table: LockTable;
  /** The counters. */
  readonly metrics: ServerMetrics;
  /** The auth secret as a UTF-8 byte string, or `null` when auth is off. */
  readonly authSecret: string | null;
  /** The server's version, for the dashboard. */
  readonly version: string;
  /** When the server started (monotonic ms). */
  readonly startedAt: number;
  /** The monotonic clock, ms. */
  now(): number;
  /** `starting` until the lock-protocol listener is up, `draining` once shutdown began. */
  phase(): "starting" | "ready" | "draining";
  /** Open lock-protocol connections. */
  connectionCount(): number;
}

/** Pause before answering a failed authentication (as on the lock protocol). */
const AUTH_FAIL_DELAY_MS = 100;

const JSON_TYPE = "application/json";
const NO_STORE = { "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" };

/** The routes, for the request counters' `path` label. */
const ROUTES = ["/", "/health", "/ready", "/metrics", "/v1/stats", "/v1/dashboard"] as const;
type Route = typeof ROUTES[number];
const PUBLIC: ReadonlySet<Route> = new Set(["/", "/health", "/ready"]);

/**
 * Builds the handler for {@linkcode serveHttp}, counting every request.
 */
export function httpApi(host: HttpApiHost): HttpHandler {
  return async (request: HttpRequest): Promise<HttpResponse> => {
    const started = host.now();
    const route = (ROUTES as readonly string[]).includes(request.path)
      ? request.path as Route
      : undefined;
    let response: HttpResponse;
    if (route === undefined) {
      response = json(404, { error: "not_found", detail: `no endpoint ${request.path}` });
    } else if (!PUBLIC.has(route) && !authorized(request, host.authSecret)) {
      host.metrics.authFailuresHttp++;
      await new Promise((resolve) => setTimeout(resolve, AUTH_FAIL_DELAY_MS));
      response = json(401, {
        error: "unauthorized",
        detail: "send Authorization: Bearer <the server's auth token>",
      });
      response.headers!["WWW-Authenticate"] = 'Bearer realm="dflock"';
    } else {
      response = answer(route, host);
    }
    host.metrics.countHttp(
      request.method,
      route ?? "unmatched",
      response.status,
      (host.now() - started) / 1000,
    );
    return response;
  };
}

function authorized(request: HttpRequest, secret: string | null): boolean {
  if (secret === null) return true;
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer[ \t]+(.*)$/i.exec(header);
  if (match === null) return false;
  // Header values arrive as latin-1 text: one char per byte, like the secret's byte string.
  return constantTimeEqual(match[1]!.trim(), secret);
}

function answer(route: Route, host: HttpApiHost): HttpResponse {
  switch (route) {
    case "/":
      return {
        status: 200,
        headers: {
          "Content-Type": "text/html; charset=utf-8",
          "Content-Security-Policy":
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; " +
            "connect-src 'self'; img-src data:",
          ...NO_STORE,
        },
        body: DASHBOARD_HTML,
      };
    case "/health":
      return json(200, { status: "ok" });
    case "/ready": {
      const phase = host.phase();
      return phase === "ready" ? json(200, { status: "ready" }) : json(503, { status: phase });
    }
    case "/metrics":
      return {
        status: 200,
        headers: { "Content-Type": PROMETHEUS_CONTENT_TYPE, ...NO_STORE },
        body: metricsText(host),
      };
    case "/v1/stats": {
      // The wire's stats JSON, byte for byte (keys are UTF-8 byte strings there).
      const text = formatStats(host.table.stats(host.now(), host.connectionCount()));
      return {
        status: 200,
        headers: { "Content-Type": JSON_TYPE, ...NO_STORE },
        body: byteStringToBytes(text),
      };
    }
    case "/v1/dashboard":
      return json(200, dashboard(host));
  }
}

/** The dashboard's data (its shape is documented in docs/operations.md). */
function dashboard(host: HttpApiHost): unknown {
  const now = host.now();
  const detail = host.table.detail(now);
  const m = host.metrics;
  const c = m.table;
  const sum2 = (v: readonly number[]): number => v[0]! + v[1]!;
  const wait = [c.queueWait[0], c.queueWait[1]];
  return {
    version: host.version,
    uptime_s: (now - host.startedAt) / 1000,
    ready: host.phase() === "ready",
    connections: host.connectionCount(),
    keys: host.table.size,
    locks: detail.locks.map((l) => ({
      key: l.key,
      owner_conn_id: l.holders[0]?.connId ?? 0,
      lease_expires_in_s: l.holders[0]?.leaseExpiresInS ?? 0,
      waiters: l.waiters,
    })),
    semaphores: detail.semaphores.map((s) => ({
      key: s.key,
      limit: typeof s.limit === "bigint" ? s.limit.toString() : s.limit,
      holders: s.holders.map((h) => ({ conn_id: h.connId, lease_expires_in_s: h.leaseExpiresInS })),
      waiters: s.waiters,
    })),
    idle_locks: detail.idleLocks.map((i) => ({ key: i.key, idle_s: i.idleS })),
    idle_semaphores: detail.idleSemaphores.map((i) => ({ key: i.key, idle_s: i.idleS })),
    totals: {
      requests: m.requests.reduce((a, b) => a + b, 0),
      grants: sum2(c.grants),
      releases: sum2(c.releases) + sum2(c.disconnectReleases),
      timeouts: sum2(m.timeouts),
      lease_expiries: sum2(c.leaseExpiries),
      renewals: sum2(c.renewals),
      errors: m.errorTotal(),
      auth_failures: m.authFailuresTcp + m.authFailuresHttp,
      connections_accepted: m.connectionsAccepted,
      connections_rejected: m.connectionsRejectedLimit + m.connectionsRejectedDraining,
    },
    queue_wait: {
      bounds_s: wait[0]!.bounds,
      counts: wait[0]!.counts.map((n, i) => n + wait[1]!.counts[i]!),
      sum_s: wait[0]!.sum + wait[1]!.sum,
      count: wait[0]!.count + wait[1]!.count,
    },
  };
}

function json(status: number, value: unknown): HttpResponse {
  return {
    status,
    headers: { "Content-Type": JSON_TYPE, ...NO_STORE },
    body: utf8Bytes(JSON.stringify(value)),
  };
}
