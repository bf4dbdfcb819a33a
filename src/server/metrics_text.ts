/**
 * The Prometheus text exposition (format 0.0.4) of {@linkcode ServerMetrics}: the Go dflockd's
 * metric names and help texts where it has the metric (`dflockd_ready`, `dflockd_connections`,
 * `dflockd_locks_held`, ..., the HTTP request counters), so that its dashboards keep working,
 * and dflock's own counters and histograms beside them (the list is in docs/operations.md).
 *
 * @module
 */

import type { TableSummary } from "./lock_table.ts";
import {
  COUNTED_COMMANDS,
  ERROR_STATUSES,
  type Histogram,
  KINDS,
  type PerKind,
  type ServerMetrics,
} from "./metrics.ts";

/** The moment's values that are not counters. */
export interface MetricsGauges {
  /** 1 while ready, 0 while starting or draining. */
  ready: boolean;
  /** Seconds since the server started. */
  uptimeS: number;
  /** Open lock-protocol connections. */
  connections: number;
  /** The lock table's counts. */
  table: TableSummary;
}

/** The exposition's content type. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Renders every metric. */
export function formatMetrics(metrics: ServerMetrics, gauges: MetricsGauges): string {
  const out: string[] = [];
  const http = metrics.httpCounts();
  family(out, "dflockd_http_requests_total", "counter", "Total HTTP requests.");
  for (const h of http) {
    out.push(`dflockd_http_requests_total${httpLabels(h)} ${h.count}`);
  }
  family(
    out,
    "dflockd_http_request_duration_seconds_sum",
    "counter",
    "Total HTTP request duration in seconds.",
  );
  for (const h of http) {
    out.push(`dflockd_http_request_duration_seconds_sum${httpLabels(h)} ${num(h.durationSum)}`);
  }
  family(
    out,
    "dflockd_http_request_duration_seconds_count",
    "counter",
    "Count of HTTP request duration observations.",
  );
  for (const h of http) {
    out.push(`dflockd_http_request_duration_seconds_count${httpLabels(h)} ${h.count}`);
  }
  gauge(out, "dflockd_ready", "1 when HTTP readiness is healthy, 0 while draining.", +gauges.ready);
  gauge(out, "dflockd_uptime_seconds", "Seconds since the server started.", gauges.uptimeS);
  gauge(out, "dflockd_connections", "Active TCP connections.", gauges.connections);
  const t = gauges.table;
  gauge(out, "dflockd_locks_held", "Currently held locks.", t.locksHeld);
  gauge(out, "dflockd_lock_waiters", "Current lock waiters.", t.lockWaiters);
  gauge(out, "dflockd_semaphore_holders", "Currently held semaphore slots.", t.semaphoreHolders);
  gauge(out, "dflockd_semaphore_waiters", "Current semaphore waiters.", t.semaphoreWaiters);
  gauge(out, "dflockd_keys", "Keys in the lock table, idle ones included.", t.keys);

  const c = metrics.table;
  perKind(out, "dflockd_grants_total", "Slots granted, at once or from the queue.", c.grants);
  family(out, "dflockd_releases_total", "counter", "Slots given up, by request or on disconnect.");
  for (let k = 0; k < 2; k++) {
    out.push(`dflockd_releases_total{kind="${KINDS[k]}",reason="request"} ${c.releases[k]}`);
    out.push(
      `dflockd_releases_total{kind="${KINDS[k]}",reason="disconnect"} ${c.disconnectReleases[k]}`,
    );
  }
  perKind(out, "dflockd_timeouts_total", "Blocking requests that timed out.", metrics.timeouts);
  perKind(out, "dflockd_lease_expiries_total", "Holders evicted at lease end.", c.leaseExpiries);
  perKind(out, "dflockd_renewals_total", "Leases renewed.", c.renewals);
  family(out, "dflockd_errors_total", "counter", "Error answers by kind and wire status.");
  const errorKinds = ["lock", "semaphore", "other"];
  for (let k = 0; k < 3; k++) {
    for (const status of ERROR_STATUSES) {
      const n = metrics.errorCount(k, status);
      if (n > 0) out.push(`dflockd_errors_total{kind="${errorKinds[k]}",status="${status}"} ${n}`);
    }
  }
  family(out, "dflockd_auth_failures_total", "counter", "Failed authentications by listener.");
  out.push(`dflockd_auth_failures_total{listener="tcp"} ${metrics.authFailuresTcp}`);
  out.push(`dflockd_auth_failures_total{listener="http"} ${metrics.authFailuresHttp}`);
  family(out, "dflockd_requests_total", "counter", "Lock-protocol requests by command.");
  COUNTED_COMMANDS.forEach((command, i) => {
    out.push(`dflockd_requests_total{command="${command}"} ${metrics.requests[i]}`);
  });
  family(out, "dflockd_connections_accepted_total", "counter", "Connections accepted.");
  out.push(`dflockd_connections_accepted_total ${metrics.connectionsAccepted}`);
  family(
    out,
    "dflockd_connections_rejected_total",
    "counter",
    "Connections closed at once: at --max-connections, or while shutting down.",
  );
  out.push(
    `dflockd_connections_rejected_total{reason="max_connections"} ` +
      metrics.connectionsRejectedLimit,
  );
  out.push(
    `dflockd_connections_rejected_total{reason="draining"} ${metrics.connectionsRejectedDraining}`,
  );
  family(
    out,
    "dflockd_queue_wait_seconds",
    "histogram",
    "Time from a request (or enqueue) to its grant; 0 when granted at once.",
  );
  for (let k = 0; k < 2; k++) {
    histogram(out, "dflockd_queue_wait_seconds", KINDS[k]!, c.queueWait[k]!);
  }
  family(
    out,
    "dflockd_request_duration_seconds",
    "histogram",
    "Time from a request's arrival to its answer, blocking included (0 when answered at once).",
  );
  for (let k = 0; k < 3; k++) {
    histogram(out, "dflockd_request_duration_seconds", errorKinds[k]!, metrics.serviceTime[k]!);
  }
  return out.join("\n") + "\n";
}

function family(out: string[], name: string, type: string, help: string): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

function gauge(out: string[], name: string, help: string, value: number): void {
  family(out, name, "gauge", help);
  out.push(`${name} ${num(value)}`);
}

function perKind(out: string[], name: string, help: string, values: PerKind): void {
  family(out, name, "counter", help);
  for (let k = 0; k < 2; k++) out.push(`${name}{kind="${KINDS[k]}"} ${values[k]}`);
}

function histogram(out: string[], name: string, kind: string, h: Histogram): void {
  let cumulative = 0;
  h.bounds.forEach((bound, i) => {
    cumulative += h.counts[i]!;
    out.push(`${name}_bucket{kind="${kind}",le="${num(bound)}"} ${cumulative}`);
  });
  out.push(`${name}_bucket{kind="${kind}",le="+Inf"} ${h.count}`);
  out.push(`${name}_sum{kind="${kind}"} ${num(h.sum)}`);
  out.push(`${name}_count{kind="${kind}"} ${h.count}`);
}

function httpLabels(h: { method: string; path: string; status: number }): string {
  return `{method="${escapeLabel(h.method)}",path="${escapeLabel(h.path)}",status="${h.status}"}`;
}

/** Escapes a label value as the text format requires (backslash, quote, newline). */
function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

/** A sample value: integers as such, others with up to 9 significant digits (Go's `%.9g`). */
function num(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(9)));
}
