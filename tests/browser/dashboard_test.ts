/**
 * The live dashboard in a real browser: Debian's `chromium`, headless, driven over the DevTools
 * protocol (tests/_helpers/chromium.ts), against the project's own server with its HTTP listener
 * on 127.0.0.1, port 0. Lock traffic comes from raw protocol connections. Skipped, with how to
 * install it, when there is no Chromium.
 *
 * Leaves `.test-output/dashboard.png`, a 1280x800 capture of the live page.
 *
 * @module
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Server, ServerOptions } from "../../src/server/mod.ts";
import { startTestServer } from "../_helpers/server.ts";
import { DASHBOARD_HTML } from "../../src/server/dashboard_page.ts";
import { Browser, CHROMIUM_INSTALL_HINT, findChromium, type Page } from "../_helpers/chromium.ts";
import { eventually, ProtocolClient } from "../server/_protocol_client.ts";
import { repoRoot } from "../cli/_repo.ts";

const chromium = findChromium();
const skipBrowser = chromium ? false : CHROMIUM_INSTALL_HINT;
// Deno and Bun do not print a suite's skip reason: say it here.
if (skipBrowser) {
  console.log(`tests/browser/dashboard_test.ts: browser tests skipped: ${skipBrowser}`);
}

/** The cells of one row of a dashboard table, by `data-col`, or `null` when there is no row. */
type Row = Record<string, string> | null;

/** A page expression: the cells of the row with `data-key` === `key` in table `table`. */
function rowExpr(key: string, table = "held-table"): string {
  return `(() => {
    const tr = [...document.querySelectorAll(${JSON.stringify(`#${table} tbody tr`)})]
      .find((r) => r.dataset.key === ${JSON.stringify(key)});
    if (!tr) return null;
    const cells = {};
    for (const td of tr.querySelectorAll("td[data-col]")) cells[td.dataset.col] = td.textContent;
    return cells;
  })()`;
}

/** A page expression: the text of the element with this id. */
function textExpr(id: string): string {
  return `document.getElementById(${JSON.stringify(id)}).textContent`;
}

/** A page expression: the `data-key` of every row of a table, in order. */
function keysExpr(table: string): string {
  return `[...document.querySelectorAll("#${table} tbody tr[data-key]")].map((r) => r.dataset.key)`;
}

/** The `updated` counter of the page. */
async function updated(page: Page): Promise<number> {
  return Number(await page.evaluate<string>("document.body.dataset.updated"));
}

/** Waits until the page has rendered at least once more than now. */
async function nextRender(page: Page, ms = 4000): Promise<void> {
  const now = await updated(page);
  await page.waitFor(
    `Number(document.body.dataset.updated) > ${now}`,
    ms,
    `a render after #${now}`,
  );
}

/** Types into the search box `id` as a person would (one input event). */
async function typeFilter(page: Page, id: string, text: string): Promise<void> {
  await page.evaluate(`(() => {
    const input = document.getElementById(${JSON.stringify(id)});
    input.value = ${JSON.stringify(text)};
    input.dispatchEvent(new Event("input", { bubbles: true }));
  })()`);
}

/** Clicks the column header of `table` whose `data-sort` is `column`. */
async function clickHeader(page: Page, table: string, column: string): Promise<void> {
  await page.evaluate(`document.querySelector('#${table} th[data-sort="${column}"]').click()`);
}

/** The lock token in an `ok <token> <lease>` answer. */
function grantToken(answer: string): string {
  const match = /^ok (\S+) \d+$/.exec(answer);
  assert.ok(match, `expected a grant, got ${JSON.stringify(answer)}`);
  return match[1]!;
}

interface Ctx {
  server: Server;
  page: Page;
  /** `http://127.0.0.1:<http port>` */
  base: string;
  /** Opens a lock-protocol connection, closed after the test. */
  client(): Promise<ProtocolClient>;
}

/**
 * Runs `fn` with the project's server (lock protocol and HTTP on 127.0.0.1, port 0), a headless
 * Chromium and one 1280x800 tab; ends all of them afterwards.
 */
async function withDashboard(options: ServerOptions, fn: (ctx: Ctx) => Promise<void>) {
  const server = await startTestServer({ http: { port: 0 }, ...options });
  const clients: ProtocolClient[] = [];
  let browser: Browser | undefined;
  try {
    const http = server.httpAddr;
    assert.ok(http, "the server has an HTTP listener");
    browser = await Browser.launch(chromium!);
    const page = await browser.newPage(1280, 800);
    await fn({
      server,
      page,
      base: `http://127.0.0.1:${http.port}`,
      client: async () => {
        const c = await ProtocolClient.connect(server.addr.port);
        clients.push(c);
        return c;
      },
    });
  } finally {
    await browser?.close();
    for (const c of clients) c.close();
    await server.close({ force: true });
  }
}

/** Queue length of `key` in the server's own stats. */
function waitersOf(server: Server, key: string): number {
  const s = server.stats();
  return s.locks.find((l) => l.key === key)?.waiters ??
    s.semaphores.find((l) => l.key === key)?.waiters ?? -1;
}

/** The bucket index holding quantile `q` of per-bucket `counts` (as the page defines it). */
function quantileBucket(counts: number[], q: number): number {
  const total = counts.reduce((a, b) => a + b, 0);
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i]! > 0 && seen + counts[i]! >= q * total) return i;
    seen += counts[i]!;
  }
  return counts.length - 1;
}

describe("DASHBOARD_HTML", () => {
  test("is one self-contained page: no external assets, no innerHTML, the hooks present", () => {
    assert.match(DASHBOARD_HTML, /^<!doctype html>/);
    assert.doesNotMatch(DASHBOARD_HTML, /<(link|img|iframe)\b/i, "no external resources");
    assert.doesNotMatch(DASHBOARD_HTML, /<script\b[^>]*\bsrc=/i, "no external scripts");
    assert.doesNotMatch(DASHBOARD_HTML, /\bhttps?:\/\//, "no absolute URLs");
    assert.doesNotMatch(DASHBOARD_HTML, /@import|url\(/, "no CSS imports");
    assert.doesNotMatch(DASHBOARD_HTML, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    assert.doesNotMatch(DASHBOARD_HTML, /\$\{/, "no unintended template substitution");
    for (
      const id of [
        "tile-connections",
        "tile-locks-held",
        "tile-lock-waiters",
        "tile-sem-holders",
        "tile-sem-waiters",
        "tile-keys",
        "token-form",
        "token-input",
        "token-submit",
      ]
    ) {
      assert.ok(DASHBOARD_HTML.includes(`id="${id}"`), `has #${id}`);
    }
    assert.ok(DASHBOARD_HTML.includes('data-state="loading"'), "starts in the loading state");
    assert.ok(DASHBOARD_HTML.length < 64 * 1024, `small (${DASHBOARD_HTML.length} chars)`);
  });
});

describe("dashboard in headless Chromium", { skip: skipBrowser }, () => {
  test("a held lock with two waiters; after the release the new holder shows within 2 s", async () => {
    await withDashboard({}, async ({ server, page, base, client }) => {
      const KEY = "jobs/nightly";
      const a = await client();
      const b = await client();
      const c = await client();
      const token = grantToken(await a.request("l", KEY, "30"));
      // Sent without waiting for the answer: b queues first, then c.
      b.send("l", KEY, "30");
      assert.ok(await eventually(() => waitersOf(server, KEY) === 1), "b is queued");
      c.send("l", KEY, "30");
      assert.ok(await eventually(() => waitersOf(server, KEY) === 2), "c is queued");
      const ownerA = server.stats().locks[0]!.ownerConnId;

      await page.goto(`${base}/`);
      const first = await page.waitFor<Row>(
        `(() => { const r = ${rowExpr(KEY)}; return r && r.waiters === "2" ? r : null; })()`,
        5000,
        "the jobs/nightly row with 2 waiters",
      );
      assert.equal(first!.kind, "lock");
      assert.equal(first!.key, KEY);
      assert.equal(first!.owner, `conn ${ownerA}`);
      assert.match(first!.lease!, /^\d+\.\d s$/);
      const lease = parseFloat(first!.lease!);
      assert.ok(lease > 25 && lease <= 33, `lease countdown ${lease} s of a 33 s lease`);
      assert.equal(await page.evaluate(textExpr("tile-connections")), "3");
      assert.equal(await page.evaluate(textExpr("tile-locks-held")), "1");
      assert.equal(await page.evaluate(textExpr("tile-lock-waiters")), "2");
      assert.equal(await page.evaluate(textExpr("tile-keys")), "1");
      assert.equal(await page.evaluate("document.body.dataset.state"), "live");
      assert.equal(await page.evaluate(textExpr("hdr-ready")), "ready");
      assert.match(await page.evaluate<string>(textExpr("hdr-version")), /^\d+\.\d+\.\d+/);

      assert.equal(await a.request("r", KEY, token), "ok");
      const releasedAt = Date.now();
      grantToken(await b.line());
      const ownerB = server.stats().locks[0]!.ownerConnId;
      assert.notEqual(ownerB, ownerA);
      const after = await page.waitFor<Row>(
        `(() => { const r = ${rowExpr(KEY)};
          return r && r.owner === "conn ${ownerB}" && r.waiters === "1" ? r : null; })()`,
        Math.max(0, 2000 - (Date.now() - releasedAt)),
        `conn ${ownerB} holding with 1 waiter, within 2 s of the release`,
      );
      assert.equal(after!.owner, `conn ${ownerB}`);
      assert.equal(await page.evaluate(textExpr("tile-lock-waiters")), "1");

      // The queue-wait estimates fall in the buckets the server's own numbers put them in. No
      // grant happens from here on, so the histogram is settled.
      const res = await fetch(`${base}/v1/dashboard`, { signal: AbortSignal.timeout(10_000) });
      const data = await res.json() as { queue_wait: { bounds_s: number[]; counts: number[] } };
      const { bounds_s: bounds, counts } = data.queue_wait;
      assert.equal(counts.reduce((x, y) => x + y, 0), 2, "two grants: a at once, b after a wait");
      await nextRender(page);
      for (const [id, q] of [["qw-p50", 0.5], ["qw-p99", 0.99]] as const) {
        const shown = Number(await page.evaluate(`document.getElementById("${id}").dataset.ms`));
        const i = quantileBucket(counts, q);
        const lo = i === 0 ? 0 : bounds[i - 1]! * 1000;
        const hi = i < bounds.length ? bounds[i]! * 1000 : Infinity;
        assert.ok(shown >= lo && shown <= hi, `${id} ${shown} ms within [${lo}, ${hi}] ms`);
        assert.match(await page.evaluate<string>(textExpr(id)), /^(> )?[\d.]+ ms$/);
      }
    });
  });

  test("with an auth token: the token form, a wrong token, then the page goes live", async () => {
    const SECRET = "s3cret-Dashboard";
    await withDashboard({ authToken: SECRET }, async ({ page, base, client }) => {
      const a = await client();
      assert.equal(await a.request("auth", "_", SECRET), "ok");
      grantToken(await a.request("l", "reports/weekly", "0"));

      await page.goto(`${base}/`);
      await page.waitFor(`document.body.dataset.state === "auth"`, 5000, "the token form");
      assert.equal(await updated(page), 0, "nothing rendered without the token");
      assert.ok(
        await page.evaluate(`getComputedStyle(document.getElementById("token-form")).display !==
          "none" && document.getElementById("token-form").offsetParent !== null`),
        "the token form is visible",
      );
      assert.match(await page.evaluate<string>(`document.body.innerText`), /requires a token/);

      // A wrong token: the form comes back with a message.
      await page.evaluate(`document.getElementById("token-input").focus()`);
      await page.send("Input.insertText", { text: "not-the-token" });
      await page.evaluate(`document.getElementById("token-submit").click()`);
      await page.waitFor(
        `document.body.dataset.state === "auth" &&
          document.getElementById("token-error").textContent.includes("not accepted")`,
        5000,
        "the form again with a message",
      );

      // The right one, typed and submitted with the button.
      await page.evaluate(`document.getElementById("token-input").focus()`);
      await page.send("Input.insertText", { text: SECRET });
      await page.evaluate(`document.getElementById("token-submit").click()`);
      const row = await page.waitFor<Row>(
        `document.body.dataset.state === "live" && ${rowExpr("reports/weekly")}`,
        5000,
        "the live page with reports/weekly",
      );
      assert.match(row!.owner!, /^conn \d+$/);
      const href = await page.evaluate<string>("location.href");
      assert.equal(href, `${base}/`, "nothing added to the URL");
      assert.ok(!href.includes(SECRET));
      assert.equal(await page.evaluate(`sessionStorage.getItem("dflock.token")`), SECRET);

      // A reload in the same tab goes live with the stored token, without the form.
      await page.goto(`${base}/`);
      await page.waitFor(`Number(document.body.dataset.updated) >= 1`, 5000, "a render");
      assert.equal(await page.evaluate("document.body.dataset.state"), "live");
    });
  });

  test("a few thousand keys: 500 rows shown, filter, sorting, keys as text, rates", async () => {
    const COUNT = 1500;
    const EVIL = "<img/src=x/onerror=window.__xss=1>";
    await withDashboard({ maxLocks: 5000 }, async ({ page, base, client }) => {
      const a = await client();
      // Pipelined: every request written at once, then every answer read.
      let burst = "";
      for (let i = 0; i < COUNT; i++) burst += `l\nkey-${String(i).padStart(4, "0")}\n0\n`;
      a.sendRaw(burst + `l\n${EVIL}\n0\n`);
      for (let i = 0; i <= COUNT; i++) grantToken(await a.line(10_000));

      await page.goto(`${base}/`);
      await page.waitFor(
        `${textExpr("held-info")} === "showing 500 of 1 501"`,
        5000,
        "the truncation note",
      );
      assert.equal(
        await page.evaluate(`document.querySelectorAll("#held-table tbody tr").length`),
        500,
      );
      assert.equal(await page.evaluate(textExpr("tile-keys")), "1 501");
      assert.equal(await page.evaluate(textExpr("tile-locks-held")), "1 501");

      // Rates: requests made between two polls show up as a positive rate.
      await nextRender(page);
      const b = await client();
      for (let i = 0; i < 20; i++) {
        const t = grantToken(await b.request("l", "rate/probe", "0"));
        assert.equal(await b.request("r", "rate/probe", t), "ok");
      }
      await page.waitFor(
        `parseFloat(${textExpr("rate-requests")}) > 0 && parseFloat(${
          textExpr("rate-grants")
        }) > 0`,
        4000,
        "positive request and grant rates",
      );

      // Filter: case-insensitive substring of the key.
      await typeFilter(page, "held-filter", "KEY-004");
      let keys = await page.evaluate<string[]>(keysExpr("held-table"));
      assert.deepEqual(
        [...keys].sort(),
        Array.from({ length: 10 }, (_, i) => `key-004${i}`),
      );
      assert.equal(await page.evaluate(textExpr("held-info")), `10 of 1 501 match`);

      // Sorting: a click sorts by that column ascending, a second click descending.
      await clickHeader(page, "held-table", "key");
      keys = await page.evaluate<string[]>(keysExpr("held-table"));
      assert.equal(keys[0], "key-0040");
      assert.equal(keys[9], "key-0049");
      assert.equal(
        await page.evaluate(`document.querySelector('#held-table th[data-sort="key"]')
          .getAttribute("aria-sort")`),
        "ascending",
      );
      await clickHeader(page, "held-table", "key");
      keys = await page.evaluate<string[]>(keysExpr("held-table"));
      assert.equal(keys[0], "key-0049");
      assert.equal(keys[9], "key-0040");
      // The order and the filter survive the next poll's redraw.
      await nextRender(page);
      assert.deepEqual(
        await page.evaluate<string[]>(keysExpr("held-table")),
        keys,
      );

      // An HTML-looking key is shown as text: no element made of it, no script run.
      await typeFilter(page, "held-filter", "onerror");
      const evil = await page.waitFor<Row>(rowExpr(EVIL), 2000, "the HTML-looking key's row");
      assert.equal(evil!.key, EVIL);
      assert.equal(await page.evaluate("document.querySelectorAll('img').length"), 0);
      assert.equal(await page.evaluate("typeof window.__xss"), "undefined");

      // Cleared filter: everything again, sorted descending by key.
      await typeFilter(page, "held-filter", "");
      keys = await page.evaluate<string[]>(keysExpr("held-table"));
      assert.equal(keys.length, 500);
      assert.equal(keys[0], "key-1499");
    });
  });

  test("server unreachable: the page says so, keeps counting leases down", async () => {
    await withDashboard({}, async ({ server, page, base, client }) => {
      const a = await client();
      grantToken(await a.request("l", "jobs/nightly", "0 600"));
      await page.goto(`${base}/`);
      const before = await page.waitFor<Row>(rowExpr("jobs/nightly"), 5000, "the row");
      assert.ok(parseFloat(before!.lease!) > 590);
      await server.close({ force: true });
      await page.waitFor(`document.body.dataset.state === "offline"`, 5000, "the offline state");
      assert.equal(
        await page.evaluate(textExpr("banner")),
        "server unreachable, retrying",
      );
      // With no answers coming, the lease column still counts down, once a second.
      const start = parseFloat((await page.evaluate<Row>(rowExpr("jobs/nightly")))!.lease!);
      await page.waitFor(
        `parseFloat(${rowExpr("jobs/nightly")}.lease) <= ${start - 1}`,
        3000,
        "the lease counted down by a second",
      );
      assert.equal(await page.evaluate("document.body.dataset.state"), "offline");
    });
  });

  test("screenshot of the live page with locks, semaphores and idle keys", async () => {
    await withDashboard({}, async ({ page, base, client }) => {
      const [c1, c2, c3, c4, c5] = [
        await client(),
        await client(),
        await client(),
        await client(),
        await client(),
      ];
      grantToken(await c1.request("l", "jobs/nightly", "0"));
      grantToken(await c1.request("l", "billing/invoice-run", "0 120"));
      grantToken(await c2.request("l", "tenants/acme/migrate", "0 15"));
      for (const c of [c1, c2, c3]) grantToken(await c.request("sl", "pool/postgres", "0 4"));
      for (const c of [c1, c4]) grantToken(await c.request("sl", "ratelimit/github-api", "0 2"));
      // Idle keys: taken and given back.
      const t1 = grantToken(await c4.request("l", "cache/rebuild", "0"));
      assert.equal(await c4.request("r", "cache/rebuild", t1), "ok");
      const t2 = grantToken(await c4.request("sl", "exports/csv", "0 8"));
      assert.equal(await c4.request("sr", "exports/csv", t2), "ok");
      // Short waits of a few lengths, for the histogram: c4 holds, c3 queues, c4 lets go later.
      for (const holdMs of [2, 8, 30, 120]) {
        const t = grantToken(await c4.request("l", "deploy/prod", "0"));
        c1.send("l", "deploy/prod", "5");
        await new Promise((resolve) => setTimeout(resolve, holdMs));
        assert.equal(await c4.request("r", "deploy/prod", t), "ok");
        const t2 = grantToken(await c1.line());
        assert.equal(await c1.request("r", "deploy/prod", t2), "ok");
      }
      // Waiters last: a connection answers its requests in order, so a queued one is busy.
      c2.send("l", "jobs/nightly", "30");
      c3.send("l", "jobs/nightly", "30");
      c5.send("sl", "ratelimit/github-api", "30 2");

      await page.goto(`${base}/`);
      await page.waitFor(
        `document.body.dataset.state === "live" && ${textExpr("tile-lock-waiters")} === "2" &&
          ${textExpr("tile-sem-waiters")} === "1"`,
        5000,
        "the live page with every waiter",
      );
      assert.equal(await page.evaluate(textExpr("tile-locks-held")), "3");
      assert.equal(await page.evaluate(textExpr("tile-sem-holders")), "5");
      assert.equal(await page.evaluate(textExpr("tile-connections")), "5");
      assert.equal(await page.evaluate(textExpr("tile-keys")), "8");
      const pool = await page.evaluate<Row>(rowExpr("pool/postgres"));
      assert.equal(pool!.kind, "semaphore");
      assert.match(pool!.owner!, /^3 holders: conn \d+, conn \d+, conn \d+ \(limit 4\)$/);
      const idle = await page.evaluate<Row>(rowExpr("exports/csv", "idle-table"));
      assert.equal(idle!.kind, "semaphore");
      assert.match(idle!.idle!, /^\d+\.\d s$/);
      assert.deepEqual(
        (await page.evaluate<string[]>(keysExpr("idle-table"))).sort(),
        ["cache/rebuild", "deploy/prod", "exports/csv"],
      );

      // Some traffic early in one poll interval, so the next render shows rates from it.
      await nextRender(page);
      for (let i = 0; i < 25; i++) {
        const t = grantToken(await c4.request("l", "cache/rebuild", "0"));
        assert.equal(await c4.request("r", "cache/rebuild", t), "ok");
      }
      await nextRender(page);
      const png = await page.screenshot();
      assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG");
      const dir = join(repoRoot(), ".test-output");
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "dashboard.png"), png);
    });
  });
});
