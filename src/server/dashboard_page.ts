/**
 * The live dashboard: one self-contained HTML page (inline CSS and plain browser JavaScript, no
 * external assets) that the HTTP listener serves at `GET /`. The page polls `v1/dashboard`
 * (relative to the page) once a second and draws the tiles, rates, the queue-wait histogram and
 * the tables of held, queued and idle keys.
 *
 * Hooks the browser test relies on: `document.body.dataset.state` (`loading`, `live`, `auth`,
 * `offline`), `document.body.dataset.updated` (a render counter), the tile ids `tile-*`, the
 * token form `token-form` / `token-input` / `token-submit`, and `data-key` / `data-col` on the
 * table rows and cells.
 *
 * @module
 */

/**
 * The dashboard page, served as `text/html; charset=utf-8`. Keys are untrusted text: the page
 * inserts every server-provided string with `textContent`, never as markup. The auth token, when
 * the server asks for one, is kept in `sessionStorage` (`dflock.token`) and sent only as an
 * `Authorization: Bearer` header.
 */
export const DASHBOARD_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>dflock dashboard</title>
<style>
:root {
  --bg: #f5f6f8; --card: #fff; --ink: #1d2330; --muted: #667085; --line: #e3e6eb;
  --accent: #2f6fdf; --ok: #1f8a4c; --warn: #b7791f; --bad: #c53030; --bar: #7aa2ea;
  --mono: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
}
header {
  display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 18px;
  padding: 14px 24px; background: var(--card); border-bottom: 1px solid var(--line);
}
header h1 { margin: 0; font-size: 20px; letter-spacing: .2px; }
header .meta { color: var(--muted); }
header .meta b { color: var(--ink); font-weight: 600; }
.pill {
  display: inline-block; padding: 1px 10px; border-radius: 999px; font-size: 12px;
  font-weight: 600; border: 1px solid currentColor;
}
.pill.ok { color: var(--ok); } .pill.warn { color: var(--warn); } .pill.bad { color: var(--bad); }
.pill.idle { color: var(--muted); }
#status-pill { margin-left: auto; }
main { padding: 18px 24px 32px; max-width: 1400px; margin: 0 auto; }
#banner {
  display: none; margin: 0 0 14px; padding: 8px 12px; border-radius: 6px;
  background: #fff4e5; border: 1px solid #f3c98b; color: #7a4b00;
}
body[data-state="offline"] #banner { display: block; }
body[data-state="offline"] .stale { opacity: .55; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(128px, 1fr)); gap: 10px; }
.tile {
  background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px;
  display: flex; flex-direction: column; justify-content: space-between;
}
.tile .label { color: var(--muted); font-size: 12px; }
.tile .value { font-size: 26px; font-weight: 600; font-variant-numeric: tabular-nums; }
.tile .value small { font-size: 13px; font-weight: 400; color: var(--muted); }
.row2 { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1.4fr); gap: 12px; margin-top: 12px; }
@media (max-width: 860px) { .row2 { grid-template-columns: minmax(0, 1fr); } }
section.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
section.card h2 { margin: 0 0 8px; font-size: 15px; }
section.card h2 .sub { font-weight: 400; color: var(--muted); font-size: 13px; margin-left: 6px; }
.totals { display: grid; grid-template-columns: repeat(auto-fill, minmax(130px, 1fr)); gap: 4px 14px; color: var(--muted); }
.totals b { color: var(--ink); font-variant-numeric: tabular-nums; }
.hist { display: flex; align-items: flex-end; gap: 4px; height: 84px; padding-top: 6px; border-bottom: 1px solid var(--line); }
.hist .col { flex: 1; display: flex; flex-direction: column; justify-content: flex-end; align-items: stretch; height: 100%; min-width: 0; }
.hist .bar { background: var(--bar); border-radius: 3px 3px 0 0; min-height: 1px; }
.hist .bar.zero { background: var(--line); }
.hist .n { font-size: 11px; color: var(--muted); text-align: center; white-space: nowrap; overflow: hidden; }
.hist-labels { display: flex; gap: 4px; }
.hist-labels span { flex: 1; font-size: 10.5px; color: var(--muted); text-align: center; white-space: nowrap; overflow: hidden; min-width: 0; }
.quantiles { margin-top: 8px; display: flex; flex-wrap: wrap; gap: 4px 18px; color: var(--muted); }
.quantiles b { color: var(--ink); font-variant-numeric: tabular-nums; }
.tables { margin-top: 12px; display: grid; grid-template-columns: minmax(0, 1fr); gap: 12px; }
@media (max-width: 700px) {
  main { padding: 12px; } header { padding: 12px; }
  .hist-labels span { overflow: visible; }
  .hist-labels span:nth-child(even) { visibility: hidden; }
}
.toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 14px; margin-bottom: 8px; }
.toolbar h2 { margin: 0 !important; }
.toolbar input[type="search"] {
  flex: 0 1 260px; padding: 5px 9px; border: 1px solid var(--line); border-radius: 6px; font: inherit;
}
.toolbar .info { color: var(--muted); font-size: 13px; }
.scroll { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .4px; cursor: pointer; user-select: none; }
th:hover { color: var(--ink); }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
th.num, td.num { text-align: right; }
td.key { font-family: var(--mono); white-space: pre; max-width: 520px; overflow: hidden; text-overflow: ellipsis; }
td.owner { font-family: var(--mono); font-size: 13px; }
td .muted, .muted { color: var(--muted); }
tr.queued td.owner { color: var(--warn); }
td.lease.low { color: var(--bad); font-weight: 600; }
.empty { color: var(--muted); padding: 10px; }
#auth {
  display: none; max-width: 420px; margin: 40px auto; background: var(--card);
  border: 1px solid var(--line); border-radius: 8px; padding: 20px 22px;
}
body[data-state="auth"] #auth { display: block; }
body[data-state="auth"] #content { display: none; }
#auth h2 { margin: 0 0 6px; font-size: 17px; }
#auth p { margin: 0 0 12px; color: var(--muted); }
#auth .err { color: var(--bad); min-height: 1.4em; margin: 8px 0 0; }
#auth form { display: flex; gap: 8px; }
#auth input { flex: 1; padding: 7px 10px; border: 1px solid var(--line); border-radius: 6px; font: inherit; }
#auth button {
  padding: 7px 16px; border: 0; border-radius: 6px; background: var(--accent); color: #fff;
  font: inherit; font-weight: 600; cursor: pointer;
}
</style>
</head>
<body data-state="loading" data-updated="0">
<header>
  <h1>dflock</h1>
  <span class="meta">version <b id="hdr-version">&ndash;</b></span>
  <span class="meta">up <b id="hdr-uptime">&ndash;</b></span>
  <span id="hdr-ready" class="pill idle" hidden></span>
  <span id="status-pill" class="pill idle">loading</span>
</header>
<main>
<div id="auth">
  <h2>This server requires a token</h2>
  <p>Enter the server's auth token. It is kept in this tab only (session storage) and sent as a
    request header.</p>
  <form id="token-form" method="post" autocomplete="off">
    <input id="token-input" type="password" placeholder="token" aria-label="token" autocomplete="current-password" required>
    <button id="token-submit" type="submit">Connect</button>
  </form>
  <p class="err" id="token-error" role="alert"></p>
</div>
<div id="content">
  <div id="banner" role="status"></div>
  <div class="tiles stale">
    <div class="tile"><div class="label">connections</div><div class="value" id="tile-connections">&ndash;</div></div>
    <div class="tile"><div class="label">locks held</div><div class="value" id="tile-locks-held">&ndash;</div></div>
    <div class="tile"><div class="label">lock waiters</div><div class="value" id="tile-lock-waiters">&ndash;</div></div>
    <div class="tile"><div class="label">semaphore holders</div><div class="value" id="tile-sem-holders">&ndash;</div></div>
    <div class="tile"><div class="label">semaphore waiters</div><div class="value" id="tile-sem-waiters">&ndash;</div></div>
    <div class="tile"><div class="label">keys in use</div><div class="value" id="tile-keys">&ndash;</div></div>
    <div class="tile"><div class="label">requests</div><div class="value"><span id="rate-requests">&ndash;</span> <small>/s</small></div></div>
    <div class="tile"><div class="label">grants</div><div class="value"><span id="rate-grants">&ndash;</span> <small>/s</small></div></div>
  </div>
  <div class="row2 stale">
    <section class="card">
      <h2>Totals <span class="sub">since start</span></h2>
      <div class="totals" id="totals"></div>
    </section>
    <section class="card">
      <h2>Queue wait <span class="sub" id="qw-count"></span></h2>
      <div class="hist" id="qw-bars"></div>
      <div class="hist-labels" id="qw-labels"></div>
      <div class="quantiles">
        <span>p50 &asymp; <b id="qw-p50">&ndash;</b></span>
        <span>p99 &asymp; <b id="qw-p99">&ndash;</b></span>
        <span>mean <b id="qw-mean">&ndash;</b></span>
      </div>
    </section>
  </div>
  <div class="tables stale">
    <section class="card">
      <div class="toolbar">
        <h2>Held and queued</h2>
        <input type="search" id="held-filter" placeholder="filter keys" aria-label="filter held and queued keys">
        <span class="info" id="held-info"></span>
      </div>
      <div class="scroll"><table id="held-table">
        <thead><tr>
          <th data-sort="kind">kind</th><th data-sort="key">key</th><th data-sort="owner">owner</th>
          <th data-sort="lease" class="num">lease</th><th data-sort="waiters" class="num">waiters</th>
        </tr></thead>
        <tbody></tbody>
      </table></div>
    </section>
    <section class="card">
      <div class="toolbar">
        <h2>Idle</h2>
        <input type="search" id="idle-filter" placeholder="filter keys" aria-label="filter idle keys">
        <span class="info" id="idle-info"></span>
      </div>
      <div class="scroll"><table id="idle-table">
        <thead><tr><th data-sort="kind">kind</th><th data-sort="key">key</th><th data-sort="idle" class="num">idle for</th></tr></thead>
        <tbody></tbody>
      </table></div>
    </section>
  </div>
</div>
</main>
<script>
"use strict";
(function () {
  var TOKEN_KEY = "dflock.token";
  var POLL_MS = 1000;
  var FETCH_TIMEOUT_MS = 10000;
  var MAX_ROWS = 500;
  var MAX_OWNERS = 4;
  var body = document.body;
  var $ = function (id) { return document.getElementById(id); };

  var prev = null;          // { totals, at } of the previous successful poll
  var receivedAt = 0;       // performance.now() when the shown data arrived
  var rendered = 0;         // successful renders, mirrored in body.dataset.updated
  var pollTimer = 0;

  function setState(state) { body.dataset.state = state; }

  function setText(id, text) { $(id).textContent = text; }

  function group(n) { return String(n).replace(/\\B(?=(\\d{3})+(?!\\d))/g, " "); }

  function seconds(s) {
    if (!(s >= 0)) return "\\u2013";
    if (s < 60) return s.toFixed(1) + " s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + " min " + Math.floor(s % 60) + " s";
    var h = Math.floor(m / 60);
    if (h < 48) return h + " h " + (m % 60) + " min";
    return Math.floor(h / 24) + " d " + (h % 24) + " h";
  }

  function ms(s) {
    var v = s * 1000;
    if (v < 1) return v.toFixed(3) + " ms";
    if (v < 10) return v.toFixed(2) + " ms";
    if (v < 100) return v.toFixed(1) + " ms";
    return group(Math.round(v)) + " ms";
  }

  function rate(n) {
    if (n === null) return "\\u2013";
    return n < 10 ? n.toFixed(1) : group(Math.round(n));
  }

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  }

  function storeToken(value) {
    try {
      if (value) sessionStorage.setItem(TOKEN_KEY, value); else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* storage disabled: the token lives only until the next reload */ memoryToken = value; }
  }
  var memoryToken = "";

  function schedule() {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, POLL_MS);
  }

  function statusPill(text, cls) {
    var p = $("status-pill");
    p.textContent = text;
    p.className = "pill " + cls;
  }

  function offline(message) {
    setState("offline");
    setText("banner", message);
    statusPill("offline", "bad");
    schedule();
  }

  function poll() {
    var headers = { "Accept": "application/json" };
    var t = token() || memoryToken;
    if (t) headers["Authorization"] = "Bearer " + t;
    // A server that accepts but never answers must not stall the polling for good.
    var abort = new AbortController();
    var deadline = setTimeout(function () { abort.abort(); }, FETCH_TIMEOUT_MS);
    fetch("v1/dashboard", {
      headers: headers, cache: "no-store", credentials: "same-origin", signal: abort.signal,
    })
      .then(function (res) {
        if (res.status === 401) {
          showAuth(t ? "That token was not accepted. Try again." : "");
          return;
        }
        if (!res.ok) {
          offline("server answered HTTP " + res.status + ", retrying");
          return;
        }
        return res.json().then(function (data) {
          try {
            render(data);
          } catch (err) {
            offline("could not show the server's answer (" + err + "), retrying");
            return;
          }
          schedule();
        }, function () {
          offline("server sent a bad answer, retrying");
        });
      })
      .catch(function () { offline("server unreachable, retrying"); })
      .finally(function () { clearTimeout(deadline); });
  }

  // ---- auth -------------------------------------------------------------------------------

  function showAuth(message) {
    clearTimeout(pollTimer);
    if (message) { storeToken(""); memoryToken = ""; }
    setText("token-error", message);
    statusPill("token needed", "warn");
    $("token-input").value = "";
    setState("auth");
    $("token-input").focus();
  }

  $("token-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var value = $("token-input").value;
    if (!value) return;
    storeToken(value);
    memoryToken = value;
    $("token-input").value = "";
    setText("token-error", "");
    setState("loading");
    statusPill("loading", "idle");
    poll();
  });

  // ---- tables -----------------------------------------------------------------------------

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function cmp(a, b) { return a < b ? -1 : a > b ? 1 : 0; }

  function Table(id, filterId, infoId, sortKey, desc, columns, makeRow) {
    this.tbody = $(id).tBodies[0];
    this.heads = $(id).tHead.rows[0].cells;
    this.filter = $(filterId);
    this.info = $(infoId);
    this.sortKey = sortKey;
    this.desc = desc;
    this.columns = columns;   // sort key -> function(row) giving a comparable value
    this.makeRow = makeRow;
    this.rows = [];
    var self = this;
    this.filter.addEventListener("input", function () { self.draw(); });
    for (var i = 0; i < this.heads.length; i++) {
      this.heads[i].addEventListener("click", function (ev) {
        var k = ev.currentTarget.dataset.sort;
        if (self.sortKey === k) self.desc = !self.desc;
        else { self.sortKey = k; self.desc = k === "waiters" || k === "idle"; }
        self.draw();
      });
    }
  }

  Table.prototype.set = function (rows) { this.rows = rows; this.draw(); };

  Table.prototype.draw = function () {
    var q = this.filter.value.trim().toLowerCase();
    var shown = q ? this.rows.filter(function (r) { return r.lkey.indexOf(q) >= 0; }) : this.rows.slice();
    var get = this.columns[this.sortKey];
    var sign = this.desc ? -1 : 1;
    shown.sort(function (a, b) {
      var va = get(a), vb = get(b);
      // Missing values (no lease) sort last in both directions.
      if (va === null || vb === null) return va === vb ? cmp(a.key, b.key) : va === null ? 1 : -1;
      return sign * cmp(va, vb) || cmp(a.key, b.key) || cmp(a.kind, b.kind);
    });
    var frag = document.createDocumentFragment();
    var n = Math.min(shown.length, MAX_ROWS);
    for (var i = 0; i < n; i++) frag.appendChild(this.makeRow(shown[i]));
    if (n === 0) {
      var tr = el("tr");
      var td = el("td", "empty", this.rows.length ? "no key matches the filter" : "none");
      td.colSpan = this.heads.length;
      tr.appendChild(td);
      frag.appendChild(tr);
    }
    this.tbody.replaceChildren(frag);
    for (var h = 0; h < this.heads.length; h++) {
      var th = this.heads[h];
      if (th.dataset.sort === this.sortKey) th.setAttribute("aria-sort", this.desc ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    }
    var total = this.rows.length;
    var text;
    if (shown.length > MAX_ROWS) text = "showing " + group(MAX_ROWS) + " of " + group(shown.length);
    else if (q) text = group(shown.length) + " of " + group(total) + " match";
    else text = group(total) + (total === 1 ? " key" : " keys");
    if (shown.length > MAX_ROWS && q) text += " matching (" + group(total) + " in all)";
    this.info.textContent = text;
  };

  function leaseLeft(row) {
    if (row.lease === null) return null;
    return Math.max(0, row.lease - (performance.now() - receivedAt) / 1000);
  }

  function paintLease(td, row) {
    var left = leaseLeft(row);
    td.textContent = left === null ? "\\u2013" : left.toFixed(1) + " s";
    td.className = "num lease" + (left !== null && left < 5 ? " low" : "");
  }

  function ownerText(row) {
    if (row.kind === "lock") return row.owners.length ? "conn " + row.owners[0] : "no holder";
    var n = row.owners.length;
    if (n === 0) return "no holders";
    var ids = row.owners.slice(0, MAX_OWNERS).map(function (c) { return "conn " + c; });
    if (n > MAX_OWNERS) ids.push("\\u2026");
    return n + (n === 1 ? " holder: " : " holders: ") + ids.join(", ");
  }

  var held = new Table("held-table", "held-filter", "held-info", "waiters", true, {
    kind: function (r) { return r.kind; },
    key: function (r) { return r.key; },
    owner: function (r) { return r.owners.length ? r.owners[0] : 0; },
    lease: function (r) { return r.lease; },
    waiters: function (r) { return r.waiters; },
  }, function (r) {
    var tr = el("tr", r.owners.length ? "" : "queued");
    tr.dataset.key = r.key;
    tr.dataset.kind = r.kind;
    var kind = el("td", "", r.kind); kind.dataset.col = "kind"; tr.appendChild(kind);
    var key = el("td", "key", r.key); key.dataset.col = "key"; key.title = r.key; tr.appendChild(key);
    var owner = el("td", "owner", ownerText(r)); owner.dataset.col = "owner";
    if (r.kind === "semaphore") {
      owner.title = r.owners.map(function (c) { return "conn " + c; }).join(", ");
      owner.appendChild(el("span", "muted", " (limit " + r.limit + ")"));
    }
    tr.appendChild(owner);
    var lease = el("td"); lease.dataset.col = "lease"; paintLease(lease, r); tr.appendChild(lease);
    var w = el("td", "num", String(r.waiters)); w.dataset.col = "waiters"; tr.appendChild(w);
    tr.leaseRow = r;
    return tr;
  });

  var idle = new Table("idle-table", "idle-filter", "idle-info", "key", false, {
    kind: function (r) { return r.kind; },
    key: function (r) { return r.key; },
    idle: function (r) { return r.idle; },
  }, function (r) {
    var tr = el("tr");
    tr.dataset.key = r.key;
    tr.dataset.kind = r.kind;
    var kind = el("td", "", r.kind); kind.dataset.col = "kind"; tr.appendChild(kind);
    var key = el("td", "key", r.key); key.dataset.col = "key"; key.title = r.key; tr.appendChild(key);
    var i = el("td", "num", seconds(r.idle)); i.dataset.col = "idle"; tr.appendChild(i);
    return tr;
  });

  // Counts the lease columns down between polls (and while the server is unreachable).
  setInterval(function () {
    var rows = held.tbody.rows;
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].leaseRow) paintLease(rows[i].cells[3], rows[i].leaseRow);
    }
  }, 1000);

  // ---- queue wait -------------------------------------------------------------------------

  // Estimates a quantile from per-bucket counts by linear interpolation inside the bucket that
  // holds it. Returns { s, over } where over means "above the last bound".
  function quantile(bounds, counts, total, q) {
    if (!(total > 0)) return null;
    var rank = q * total, seen = 0;
    for (var i = 0; i < counts.length; i++) {
      var c = counts[i] || 0;
      if (c > 0 && seen + c >= rank) {
        if (i >= bounds.length) return { s: bounds[bounds.length - 1], over: true };
        var lo = i === 0 ? 0 : bounds[i - 1];
        return { s: lo + (bounds[i] - lo) * Math.max(0, rank - seen) / c, over: false };
      }
      seen += c;
    }
    return { s: bounds[bounds.length - 1], over: true };
  }

  function showQuantile(id, value) {
    var e = $(id);
    if (value === null) { e.textContent = "\\u2013"; delete e.dataset.ms; return; }
    e.textContent = (value.over ? "> " : "") + ms(value.s);
    e.dataset.ms = String(value.s * 1000);
  }

  // Short axis labels: "0.5ms", "25ms", "2.5s".
  function boundLabel(s) {
    return s < 1 ? String(Math.round(s * 1e6) / 1000) + "ms" : String(s) + "s";
  }

  function drawQueueWait(qw) {
    var bounds = qw.bounds_s || [], counts = qw.counts || [];
    var total = 0, max = 0;
    for (var i = 0; i < counts.length; i++) { total += counts[i]; if (counts[i] > max) max = counts[i]; }
    var bars = document.createDocumentFragment(), labels = document.createDocumentFragment();
    for (var j = 0; j < counts.length; j++) {
      var col = el("div", "col");
      var label = j < bounds.length ? boundLabel(bounds[j]) : ">" + boundLabel(bounds[bounds.length - 1]);
      col.title = (j < bounds.length ? "\\u2264 " : "") + label + ": " + group(counts[j]);
      col.appendChild(el("div", "n", counts[j] ? group(counts[j]) : ""));
      var bar = el("div", counts[j] ? "bar" : "bar zero");
      // Square-root scale, so that a single slow grant stays visible next to thousands of fast
      // ones; the exact count is printed above each bar.
      bar.style.height = (max ? Math.max(1, 100 * Math.sqrt(counts[j] / max)) : 1) + "%";
      col.appendChild(bar);
      bars.appendChild(col);
      labels.appendChild(el("span", "", label));
    }
    $("qw-bars").replaceChildren(bars);
    $("qw-labels").replaceChildren(labels);
    var count = qw.count || total;
    setText("qw-count", "of " + group(count) + (count === 1 ? " grant" : " grants") + " since start");
    showQuantile("qw-p50", quantile(bounds, counts, total, 0.5));
    showQuantile("qw-p99", quantile(bounds, counts, total, 0.99));
    setText("qw-mean", count > 0 ? ms(qw.sum_s / count) : "\\u2013");
  }

  // ---- render -----------------------------------------------------------------------------

  var TOTALS = [
    ["requests", "requests"], ["grants", "grants"], ["releases", "releases"],
    ["timeouts", "timeouts"], ["lease_expiries", "lease expiries"], ["renewals", "renewals"],
    ["errors", "errors"], ["auth_failures", "auth failures"],
    ["connections_accepted", "conns accepted"], ["connections_rejected", "conns rejected"],
  ];

  function render(d) {
    var now = performance.now();
    receivedAt = now;
    setText("hdr-version", d.version || "?");
    setText("hdr-uptime", seconds(d.uptime_s));
    var ready = $("hdr-ready");
    ready.textContent = d.ready ? "ready" : "draining";
    ready.className = "pill " + (d.ready ? "ok" : "warn");
    ready.hidden = false;

    var locks = d.locks || [], sems = d.semaphores || [];
    var locksHeld = 0, lockWaiters = 0, semHolders = 0, semWaiters = 0;
    var rows = [];
    locks.forEach(function (l) {
      var owned = l.owner_conn_id > 0;
      if (owned) locksHeld++;
      lockWaiters += l.waiters;
      rows.push({
        kind: "lock", key: l.key, lkey: l.key.toLowerCase(), owners: owned ? [l.owner_conn_id] : [],
        lease: owned ? l.lease_expires_in_s : null, waiters: l.waiters,
      });
    });
    sems.forEach(function (s) {
      var holders = s.holders || [];
      semHolders += holders.length;
      semWaiters += s.waiters;
      var lease = null;
      holders.forEach(function (h) { if (lease === null || h.lease_expires_in_s < lease) lease = h.lease_expires_in_s; });
      rows.push({
        kind: "semaphore", key: s.key, lkey: s.key.toLowerCase(), limit: s.limit,
        owners: holders.map(function (h) { return h.conn_id; }), lease: lease, waiters: s.waiters,
      });
    });
    setText("tile-connections", group(d.connections));
    setText("tile-locks-held", group(locksHeld));
    setText("tile-lock-waiters", group(lockWaiters));
    setText("tile-sem-holders", group(semHolders));
    setText("tile-sem-waiters", group(semWaiters));
    setText("tile-keys", group(d.keys));

    var totals = d.totals || {};
    var tot = document.createDocumentFragment();
    TOTALS.forEach(function (t) {
      var span = el("span", "", t[1] + " ");
      span.appendChild(el("b", "", group(totals[t[0]] || 0)));
      tot.appendChild(span);
    });
    $("totals").replaceChildren(tot);
    var reqRate = null, grantRate = null;
    if (prev) {
      var dt = (now - prev.at) / 1000;
      var dr = totals.requests - prev.totals.requests, dg = totals.grants - prev.totals.grants;
      // A counter that went down means the server restarted: no rate for this interval.
      if (dt > 0 && dr >= 0 && dg >= 0) { reqRate = dr / dt; grantRate = dg / dt; }
    }
    prev = { totals: totals, at: now };
    setText("rate-requests", rate(reqRate));
    setText("rate-grants", rate(grantRate));

    drawQueueWait(d.queue_wait || {});

    held.set(rows);
    var idleRows = [];
    (d.idle_locks || []).forEach(function (k) {
      idleRows.push({ kind: "lock", key: k.key, lkey: k.key.toLowerCase(), idle: k.idle_s });
    });
    (d.idle_semaphores || []).forEach(function (k) {
      idleRows.push({ kind: "semaphore", key: k.key, lkey: k.key.toLowerCase(), idle: k.idle_s });
    });
    idle.set(idleRows);

    statusPill("live", "ok");
    setText("banner", "");
    setState("live");
    rendered++;
    body.dataset.updated = String(rendered);
  }

  poll();
})();
</script>
</body>
</html>
`;
