/**
 * The server's Prometheus metrics, read from `/metrics` with the strict parser in
 * tests/_helpers/prometheus.ts after known sequences of lock-protocol operations over raw
 * connections: exact counts of grants, releases, timeouts, renewals, expiries, errors and
 * requests, the gauges at a known moment, the queue-wait histogram, connection and HTTP
 * counters, `server.metrics()` against `/metrics`, and that keys never reach a label.
 *
 * @module
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Server, ServerOptions } from "../../src/server/mod.ts";
import type { NetAddr } from "../../src/transport/mod.ts";
import { httpGet, httpRaw } from "../_helpers/http_client.ts";
import {
  type Exposition,
  histogram,
  parsePrometheus,
  sampleValue,
} from "../_helpers/prometheus.ts";
import { withServer } from "../_helpers/server.ts";
import { eventually, ProtocolClient } from "./_protocol_client.ts";

const TOKEN = /^ok ([0-9a-f]{32}) (\d+)$/;

function token(line: string): string {
  const m = TOKEN.exec(line);
  assert.ok(m, `expected ok <token> <lease>, got ${JSON.stringify(line)}`);
  return m[1]!;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `fn` with a server that has an HTTP port; the line clients it opens are closed after. */
async function withHttp(
  options: ServerOptions,
  fn: (server: Server, http: NetAddr, open: () => Promise<ProtocolClient>) => Promise<void>,
): Promise<void> {
  const clients: ProtocolClient[] = [];
  await withServer({ http: { port: 0 }, ...options }, async (server) => {
    try {
      await fn(server, server.httpAddr!, async () => {
        const c = await ProtocolClient.connect(server.addr.port);
        clients.push(c);
        return c;
      });
    } finally {
      for (const c of clients) c.close();
    }
  });
}

/** Scrapes `/metrics` over HTTP, counting the scrapes (for the HTTP request counters). */
class Scraper {
  count = 0;
  readonly http: NetAddr;

  constructor(http: NetAddr) {
    this.http = http;
  }

  async text(): Promise<string> {
    this.count++;
    const res = await httpGet(this.http, "/metrics");
    assert.equal(res.status, 200, res.body);
    return res.body;
  }

  async parsed(): Promise<Exposition> {
    return parsePrometheus(await this.text());
  }
}

/** The values of every sample of one family, as `labels-json -> value`. */
function series(e: Exposition, family: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of e.families.get(family)?.samples ?? []) out[JSON.stringify(s.labels)] = s.value;
  return out;
}

describe("server metrics", () => {
  test("a known sequence of operations is counted exactly", async () => {
    await withHttp({ leaseSweepInterval: 0.05 }, async (server, http, open) => {
      const scrape = new Scraper(http);
      const [a, b, c, d] = [await open(), await open(), await open(), await open()];

      // Two locks and two semaphore slots granted at once.
      const t1 = token(await a.request("l", "a1", "5"));
      const t2 = token(await a.request("l", "a2", "5"));
      const u1 = token(await c.request("sl", "s1", "5 2"));
      const u2 = token(await c.request("sl", "s1", "5 2"));
      // One waiter on each.
      b.send("l", "a1", "5");
      d.send("sl", "s1", "5 2");
      const queued = (): boolean => {
        const st = server.stats();
        return st.locks.some((l) => l.key === "a1" && l.waiters === 1) &&
          st.semaphores.some((s) => s.key === "s1" && s.waiters === 1);
      };
      assert.ok(await eventually(queued), "the two requests did not queue");
      const queuedAt = performance.now();

      // The gauges at this known moment.
      let e = await scrape.parsed();
      assert.equal(sampleValue(e, "dflockd_locks_held"), 2);
      assert.equal(sampleValue(e, "dflockd_lock_waiters"), 1);
      assert.equal(sampleValue(e, "dflockd_semaphore_holders"), 2);
      assert.equal(sampleValue(e, "dflockd_semaphore_waiters"), 1);
      assert.equal(sampleValue(e, "dflockd_keys"), 3); // a1, a2, s1
      assert.equal(sampleValue(e, "dflockd_connections"), 4);
      assert.equal(sampleValue(e, "dflockd_ready"), 1);

      // The waiters wait at least 120 ms: a duration the queue-wait histogram must show
      // (this pause is the thing measured, not a synchronisation).
      await sleep(Math.max(0, 120 - (performance.now() - queuedAt)));
      assert.equal(await a.request("r", "a1", t1), "ok"); // release by request (lock)
      const tb = token(await b.line()); // grant after waiting (lock)
      assert.equal(await c.request("sr", "s1", u1), "ok"); // release by request (semaphore)
      token(await d.line()); // grant after waiting (semaphore)

      // Timeouts (timeout 0 on a busy key answers at once, and counts).
      assert.equal(await c.request("l", "a2", "0"), "timeout");
      assert.equal(await a.request("sl", "s1", "0 2"), "timeout");
      // Renewals.
      assert.equal(await a.request("n", "a2", `${t2} 10`), "ok 10");
      assert.equal(await c.request("sn", "s1", u2), "ok 33");
      // A second release by request, then errors.
      assert.equal(await b.request("r", "a1", tb), "ok");
      assert.equal(await b.request("r", "a1", tb), "error");
      assert.equal(await b.request("l", "s1", "5"), "error_limit_mismatch");
      assert.equal(await b.request("w", "a1", "5"), "error_not_enqueued");
      assert.equal(await c.request("ping", "_", "_"), "ok");
      assert.equal(await c.request("bogus", "x", "y"), "error");

      // A lease expiry: a 1 s lease, swept every 50 ms. Poll /metrics at 50 ms steps.
      token(await b.request("l", "a3", "5 1"));
      const deadline = performance.now() + 5000;
      for (;;) {
        e = await scrape.parsed();
        if (sampleValue(e, "dflockd_lease_expiries_total", { kind: "lock" }) >= 1) break;
        assert.ok(performance.now() < deadline, "the 1 s lease did not expire within 5 s");
        await sleep(50);
      }
      assert.equal(sampleValue(e, "dflockd_locks_held"), 1, "a2 is still held");

      // Releases on disconnect: a holds a2, d holds a slot of s1.
      a.close();
      d.close();
      assert.ok(await eventually(() => server.stats().connections === 2));

      const text = await scrape.text();
      e = parsePrometheus(text); // the histogram rules are checked by the parser
      const v = (name: string, labels: Record<string, string> = {}): number =>
        sampleValue(e, name, labels);
      assert.deepEqual(series(e, "dflockd_grants_total"), {
        '{"kind":"lock"}': 4,
        '{"kind":"semaphore"}': 3,
      });
      assert.deepEqual(series(e, "dflockd_releases_total"), {
        '{"kind":"lock","reason":"request"}': 2,
        '{"kind":"lock","reason":"disconnect"}': 1,
        '{"kind":"semaphore","reason":"request"}': 1,
        '{"kind":"semaphore","reason":"disconnect"}': 1,
      });
      assert.deepEqual(series(e, "dflockd_timeouts_total"), {
        '{"kind":"lock"}': 1,
        '{"kind":"semaphore"}': 1,
      });
      assert.deepEqual(series(e, "dflockd_lease_expiries_total"), {
        '{"kind":"lock"}': 1,
        '{"kind":"semaphore"}': 0,
      });
      assert.deepEqual(series(e, "dflockd_renewals_total"), {
        '{"kind":"lock"}': 1,
        '{"kind":"semaphore"}': 1,
      });
      assert.deepEqual(series(e, "dflockd_errors_total"), {
        '{"kind":"lock","status":"error"}': 1,
        '{"kind":"lock","status":"error_limit_mismatch"}': 1,
        '{"kind":"lock","status":"error_not_enqueued"}': 1,
        '{"kind":"other","status":"error"}': 1,
      });
      assert.deepEqual(series(e, "dflockd_auth_failures_total"), {
        '{"listener":"tcp"}': 0,
        '{"listener":"http"}': 0,
      });
      const requests = {
        l: 6,
        e: 0,
        w: 1,
        r: 3,
        n: 1,
        sl: 4,
        se: 0,
        sw: 0,
        sr: 1,
        sn: 1,
        stats: 0,
        auth: 0,
        ping: 1,
        other: 1,
      };
      assert.deepEqual(
        series(e, "dflockd_requests_total"),
        Object.fromEntries(
          Object.entries(requests).map(([command, n]) => [JSON.stringify({ command }), n]),
        ),
      );
      assert.equal(v("dflockd_connections_accepted_total"), 4);
      assert.equal(v("dflockd_connections_rejected_total", { reason: "max_connections" }), 0);
      assert.equal(v("dflockd_connections_rejected_total", { reason: "draining" }), 0);

      // Gauges now: b and c connected, c holds one slot of s1; a1, a2, a3, s1 are kept.
      assert.equal(v("dflockd_connections"), 2);
      assert.equal(v("dflockd_locks_held"), 0);
      assert.equal(v("dflockd_lock_waiters"), 0);
      assert.equal(v("dflockd_semaphore_holders"), 1);
      assert.equal(v("dflockd_semaphore_waiters"), 0);
      assert.equal(v("dflockd_keys"), 4);

      // Queue wait: 3 lock grants at once (0 s), 1 after >= 120 ms; 2 + 1 for the semaphore.
      for (const [kind, atOnce] of [["lock", 3], ["semaphore", 2]] as const) {
        const h = histogram(e, "dflockd_queue_wait_seconds", { kind });
        assert.equal(h.count, atOnce + 1, kind);
        assert.equal(h.buckets[0]!.le, 0.0005);
        assert.equal(
          h.buckets[0]!.count,
          atOnce,
          `${kind}: grants at once are in the first bucket`,
        );
        const waited = h.buckets.find((bucket) => bucket.count === atOnce + 1)!;
        assert.ok(waited.le >= 0.1, `${kind}: the waited grant is in le=${waited.le}`);
        assert.ok(h.sum >= 0.09 && h.sum < 5, `${kind}: sum ${h.sum}`);
      }
      // Service times: one observation per request, by the command's kind.
      const service = (kind: string) => histogram(e, "dflockd_request_duration_seconds", { kind });
      assert.equal(service("lock").count, 11); // l 6, w 1, r 3, n 1
      assert.equal(service("semaphore").count, 6); // sl 4, sr 1, sn 1
      assert.equal(service("other").count, 2); // ping, bogus
      assert.ok(service("lock").sum >= 0.09, "the blocked l took >= 120 ms");

      // HTTP counters: every scrape before this one, nothing else.
      const scrapesBefore = scrape.count - 1;
      const metricsLabels = { method: "GET", path: "/metrics", status: "200" };
      assert.deepEqual(series(e, "dflockd_http_requests_total"), {
        [JSON.stringify(metricsLabels)]: scrapesBefore,
      });
      assert.equal(
        v("dflockd_http_request_duration_seconds_count", metricsLabels),
        scrapesBefore,
      );
      assert.ok(v("dflockd_http_request_duration_seconds_sum", metricsLabels) >= 0);

      // server.metrics() is the same text, apart from the uptime and the HTTP counters.
      const inProcess = server.metrics();
      const stable = (t: string): string =>
        t.split("\n").filter((l) => !/^dflockd_(uptime_seconds|http_)/.test(l)).join("\n");
      assert.equal(stable(inProcess), stable(text));
      const p = parsePrometheus(inProcess);
      assert.deepEqual([...p.families.keys()], [...e.families.keys()]);
      assert.equal(
        sampleValue(p, "dflockd_http_requests_total", metricsLabels),
        scrape.count,
        "server.metrics() counts the last scrape too",
      );
    });
  });

  test("connections accepted and rejected at maxConnections", async () => {
    await withHttp({ maxConnections: 2 }, async (server, http, open) => {
      const scrape = new Scraper(http);
      const first = await open();
      const second = await open();
      assert.equal(await first.request("ping", "_", "_"), "ok");
      assert.equal(await second.request("ping", "_", "_"), "ok");
      const third = await open();
      assert.ok(await third.closedByServer(), "the third connection must be closed at once");
      let e = await scrape.parsed();
      assert.equal(sampleValue(e, "dflockd_connections_accepted_total"), 2);
      assert.equal(
        sampleValue(e, "dflockd_connections_rejected_total", { reason: "max_connections" }),
        1,
      );
      assert.equal(sampleValue(e, "dflockd_connections_rejected_total", { reason: "draining" }), 0);
      assert.equal(sampleValue(e, "dflockd_connections"), 2);
      // A freed place is taken again.
      first.close();
      assert.ok(await eventually(() => server.stats().connections === 1));
      const fourth = await open();
      assert.equal(await fourth.request("ping", "_", "_"), "ok");
      e = await scrape.parsed();
      assert.equal(sampleValue(e, "dflockd_connections_accepted_total"), 3);
      assert.equal(
        sampleValue(e, "dflockd_connections_rejected_total", { reason: "max_connections" }),
        1,
      );
      assert.equal(sampleValue(e, "dflockd_connections"), 2);
    });
  });

  test("no key and no request path ever appears in a label", async () => {
    await withHttp({}, async (_server, http, open) => {
      const odd = 'zqodd"key\\{le="+Inf",kind="lock"}';
      const a = await open();
      const b = await open();
      const t = token(await a.request("l", odd, "5"));
      b.send("l", odd, "5");
      assert.equal(await a.request("r", odd, "0123456789abcdef0123456789abcdef"), "error");
      assert.equal(await a.request("sl", odd, "5 2"), "error_limit_mismatch");
      assert.match(await a.request("n", odd, t), /^ok \d+$/);
      assert.equal(await a.request("r", odd, t), "ok");
      token(await b.line());
      const sem = 'zqodd"sem\\';
      token(await a.request("sl", sem, "5 3"));
      assert.equal(await a.request("w", sem, "0"), "error_not_enqueued");
      // Request paths reach the HTTP counters only as a route or "unmatched".
      assert.equal((await httpGet(http, "/zqodd%22path")).status, 404);
      const raw = await httpRaw(http, 'GET /zqodd"path HTTP/1.1\r\nConnection: close\r\n\r\n');
      assert.match(raw.text, /^HTTP\/1\.1 404 /);
      assert.equal((await httpGet(http, "/zqodd", { method: "HEAD" })).status, 404);
      // The key did reach the server (the dashboard shows keys; the metrics must not).
      const dash = await httpGet(http, "/v1/dashboard");
      assert.ok(dash.body.includes("zqodd"), "the dashboard should list the odd keys");
      const text = (await httpGet(http, "/metrics")).body;
      assert.ok(!text.includes("zqodd"), "a key or a path leaked into /metrics");
      const e = parsePrometheus(text);
      for (const family of e.families.values()) {
        for (const s of family.samples) {
          for (const value of Object.values(s.labels)) {
            assert.ok(!value.includes("zq"), `${s.name} has label value ${value}`);
          }
        }
      }
      assert.equal(
        sampleValue(e, "dflockd_http_requests_total", {
          method: "GET",
          path: "unmatched",
          status: "404",
        }),
        2,
      );
      assert.equal(
        sampleValue(e, "dflockd_http_requests_total", {
          method: "HEAD",
          path: "unmatched",
          status: "404",
        }),
        1,
      );
    });
  });
});
