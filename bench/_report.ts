/**
 * The benchmark report, as functions: server results (JSON written by `server_load.ts --out`)
 * and client results (`client_load.ts --out`) to Markdown, and the server results to an SVG bar
 * chart drawn by the small code below (no plotting library). `bench/report.ts` is the command
 * that writes `docs/bench.md` and `docs/bench.svg` with them.
 *
 * @module
 */

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Summary } from "./_stats.ts";
import type { ClientReport, ClientRow } from "./client_load.ts";
import type { Row, SuiteResult } from "./server_suite.ts";

/** One chart panel: a metric per runtime for server and echo floor. */
interface Panel {
  title: string;
  unit: string;
  /** For each runtime label: server and echo summaries (either may be missing). */
  groups: { runtime: string; server: Summary | null; echo: Summary | null }[];
}

/** Targets from the issue. */
const TARGET_RATIO = 0.7;
const TARGET_P99_MS = 4;
const TARGET_KIB_PER_HOLD = 11;

/**
 * Loads the results documents from files or from `bench/results/`.
 *
 * @param files Paths; empty means every JSON file in `bench/results/`.
 * @returns The suite results, sorted by runtime name.
 */
export function loadResults(files: string[]): SuiteResult[] {
  return loadDocs(files).server;
}

/**
 * Loads server and client results documents from files or from `bench/results/`.
 *
 * @param files Paths; empty means every JSON file in `bench/results/`.
 * @returns Both kinds, each sorted by runtime name.
 */
export function loadDocs(files: string[]): { server: SuiteResult[]; client: ClientReport[] } {
  let paths = files;
  if (paths.length === 0) {
    const dir = join("bench", "results");
    paths = readdirSync(dir).filter((f) => f.endsWith(".json")).sort().map((f) => join(dir, f));
  }
  const server: SuiteResult[] = [];
  const client: ClientReport[] = [];
  for (const path of paths) {
    try {
      const doc = JSON.parse(readFileSync(path, "utf8")) as { kind?: string; rows?: unknown };
      if (!Array.isArray(doc.rows)) continue;
      if (doc.kind === "dflock-server-bench") server.push(doc as SuiteResult);
      else if (doc.kind === "dflock-client-bench") client.push(doc as ClientReport);
    } catch (e) {
      console.error(`skipping ${path}: ${e}`);
    }
  }
  const byRuntime = (a: { runtime: string }, b: { runtime: string }): number =>
    a.runtime.localeCompare(b.runtime);
  return { server: server.sort(byRuntime), client: client.sort(byRuntime) };
}

/**
 * The client benchmark as Markdown: per runtime and scenario, every target's ops/s and the
 * ratios the issue sets goals for.
 *
 * @param reports Client results documents.
 * @returns Markdown text (empty without reports).
 */
export function clientMarkdown(reports: ClientReport[]): string {
  if (reports.length === 0) return "";
  const first = reports[0]!;
  const out: string[] = [];
  const cell = (row: ClientRow | undefined): string =>
    row === undefined ? "-" : `${range(row.opsPerSec, int)}`;
  const ratio = (r: ClientReport, scenario: string, num: string, den: string): string => {
    const q = r.ratios.find((x) =>
      x.scenario === scenario && x.numerator === num && x.denominator === den
    );
    if (q === undefined) return "-";
    const met = q.met === null ? "" : q.met ? " met" : " MISSED";
    return `${range(q.ratio, pct)}${met}`;
  };
  out.push(
    "## Client",
    "",
    `\`bench/client_load.ts\` against ${
      first.server.replace(/\(.*\)/, "").trim()
    } (a child process ` +
      `on the same runtime; ${
        first.config.pin ? "server on CPU 0, client on CPU 1, `--pin`" : "not pinned"
      }). concurrent = ${first.config.workers} workers x ` +
      `${first.config.rounds} pairs (raw-per-conn and withLock ${first.config.lockRounds}), ` +
      `sequential = 1 x ${first.config.seqRounds} (${first.config.lockSeqRounds}); medians of ` +
      `${first.config.runs} interleaved runs (min-max); ratios per run index. raw = pre-encoded ` +
      `requests on the transport's channel, no library; raw-per-conn = the same with a new ` +
      `connection per pair, the floor of withLock's connection per lock.`,
    "",
    "| runtime | scenario | raw ops/s | low-level ops/s | low-level / raw (goal 90%) | raw-per-conn ops/s | withLock ops/s | withLock / low-level (goal 33%) | withLock / raw-per-conn | raw-per-conn / raw |",
    "| ------- | -------- | --------- | --------------- | -------------------------- | ------------------ | -------------- | ------------------------------- | ----------------------- | ------------------ |",
  );
  for (const r of reports) {
    const name = `${r.runtime.charAt(0).toUpperCase()}${r.runtime.slice(1)} ${r.version}`;
    for (const scenario of ["concurrent", "sequential"]) {
      const get = (t: string): ClientRow | undefined =>
        r.rows.find((x) => x.scenario === scenario && x.target === t);
      if (get("raw") === undefined && get("withLock") === undefined) continue;
      out.push(
        `| ${name} | ${scenario} | ${cell(get("raw"))} | ${cell(get("low-level"))} | ${
          ratio(r, scenario, "low-level", "raw")
        } | ${cell(get("raw-per-conn"))} | ${cell(get("withLock"))} | ${
          ratio(r, scenario, "withLock", "low-level")
        } | ${ratio(r, scenario, "withLock", "raw-per-conn")} | ${
          ratio(r, scenario, "raw-per-conn", "raw")
        } |`,
      );
    }
  }
  out.push("");
  return out.join("\n");
}

function label(r: SuiteResult): string {
  const name = r.runtime.charAt(0).toUpperCase() + r.runtime.slice(1);
  return `${name} ${r.runtimeVersion}`;
}

function find(
  r: SuiteResult,
  scenario: string,
  target: string,
  placement?: string,
): Row | undefined {
  return r.rows.find((row) =>
    row.scenario === scenario && row.target === target &&
    (placement === undefined || row.placement === placement)
  );
}

/** `12345.6` -> `12 346`. */
function int(v: number): string {
  return Math.round(v).toString().replace(/\B(?=(\d{3})+(?!\d))/g, " ");
}

function range(s: Summary | null | undefined, f: (v: number) => string): string {
  if (s === null || s === undefined) return "-";
  return `${f(s.median)} (${f(s.min)}-${f(s.max)})`;
}

const ms = (v: number): string => v.toFixed(v < 1 ? 3 : 2);
const pct = (v: number): string => `${(v * 100).toFixed(0)}%`;
const mib = (v: number): string => (v / 1024).toFixed(1);
const kib = (v: number): string => (v / 1024).toFixed(2);
const cpu = (row: Row | undefined): string =>
  row?.targetCpuUsPerOp ? row.targetCpuUsPerOp.median.toFixed(0) : "-";

function scenarioName(row: Row): string {
  switch (row.scenario) {
    case "uncontended":
      return `${row.connections} conns x ${row.rounds}, own keys`;
    case "sequential":
      return `1 conn x ${row.rounds}, ${row.placement}`;
    case "contended":
      return `${row.connections} conns x ${row.rounds}, one key`;
    case "hold":
      return `${row.connections} conns holding a lock`;
  }
}

function placementNote(results: SuiteResult[]): string {
  const pinned = results.every((r) => r.pinned);
  return pinned
    ? "Server (and echo floor) pinned to CPU 0 and the load generator to CPU 1 (`--pin`, " +
      "`taskset`); `same-core` rows run the generator on CPU 0 too."
    : "Processes unpinned.";
}

/**
 * Builds the Markdown report.
 *
 * @param results Suite results, one per runtime.
 * @returns Markdown text.
 */
export function markdown(results: SuiteResult[]): string {
  const first = results[0];
  if (first === undefined) return "No results.\n";
  const out: string[] = [];
  const dates = [...new Set(results.map((r) => r.date.slice(0, 10)))].join(", ");
  out.push(
    `Machine: ${first.nproc} cores (${first.cpuModel}); ${
      results.map(label).join(", ")
    }; ${dates}. ` +
      `Every figure is the median of ${
        String(first.config.runs)
      } interleaved runs, min-max in parentheses; ` +
      `server/floor ratios are taken per run pair. One op = one acquire+release pair (two round ` +
      `trips). ${placementNote(results)}`,
    "",
  );
  out.push(
    `One-minute load average at start and end of each runtime's run (other jobs on the same ` +
      `machine): ${
        results.map((r) =>
          `${label(r)} ${r.loadAverage ? r.loadAverage.map((v) => v.toFixed(1)).join(" / ") : "?"}`
        ).join(", ")
      }.`,
    "",
  );
  out.push(
    "| scenario | runtime | server ops/s | echo floor ops/s | server / floor | p50 ms | p99 ms | server RSS MiB | CPU us/op server / floor |",
    "| -------- | ------- | ------------ | ---------------- | -------------- | ------ | ------ | -------------- | ------------------------ |",
  );
  const order: [string, string | undefined][] = [
    ["uncontended", undefined],
    ["sequential", "cross-core"],
    ["sequential", "same-core"],
    ["sequential", "unpinned"],
    ["contended", undefined],
  ];
  for (const [scenario, placement] of order) {
    for (const r of results) {
      const server = find(r, scenario, "server", placement);
      const echo = find(r, scenario, "echo", placement);
      const row = server ?? echo;
      if (row === undefined) continue;
      out.push(
        `| ${scenarioName(row)} | ${label(r)} | ${range(server?.opsPerSec, int)} | ${
          range(echo?.opsPerSec, int)
        } | ${range(server?.ratioToEcho, pct)} | ${range(server?.p50Ms, ms)} | ${
          range(server?.p99Ms, ms)
        } | ${range(server?.rssKiB, mib)} | ${cpu(server)} / ${cpu(echo)} |`,
      );
    }
  }
  out.push("");
  out.push(
    `| ${
      holdCount(results)
    } connections each holding one lock | server KiB per held lock | echo floor KiB per connection | server RSS idle MiB | server RSS held MiB | connect+acquire /s | p99 ms |`,
    "| ---------------------------------------- | ------------------------ | ----------------------------- | ------------------ | ------------------- | ------------------ | ------ |",
  );
  for (const r of results) {
    const server = find(r, "hold", "server");
    const echo = find(r, "hold", "echo");
    if (server === undefined && echo === undefined) continue;
    const idle = server?.runs.map((x) => x.idleRssKiB ?? NaN) ?? [];
    const idleMedian = idle.length > 0 ? [...idle].sort((a, b) => a - b)[idle.length >> 1]! : NaN;
    out.push(
      `| ${label(r)} | ${range(server?.bytesPerHold, kib)} | ${range(echo?.bytesPerHold, kib)} | ${
        Number.isNaN(idleMedian) ? "-" : mib(idleMedian)
      } | ${range(server?.rssKiB, mib)} | ${range(server?.opsPerSec, int)} | ${
        range(server?.p99Ms, ms)
      } |`,
    );
  }
  out.push("");
  out.push(
    `Targets: server >= ${
      pct(TARGET_RATIO)
    } of the echo floor at 100 connections; p99 under ${TARGET_P99_MS} ms ` +
      `there (pinned); at most ${TARGET_KIB_PER_HOLD} KiB RSS per held lock at 10 000 connections.`,
    "",
    "| runtime | server / floor (100 conns) | p99 at 100 conns | KiB per held lock |",
    "| ------- | -------------------------- | ---------------- | ----------------- |",
  );
  for (const r of results) {
    const u = find(r, "uncontended", "server");
    const h = find(r, "hold", "server");
    const check = (ok: boolean | null, text: string): string =>
      ok === null ? "-" : `${text} ${ok ? "met" : "MISSED"}`;
    out.push(
      `| ${label(r)} | ${
        check(
          u?.ratioToEcho ? u.ratioToEcho.median >= TARGET_RATIO : null,
          u?.ratioToEcho ? pct(u.ratioToEcho.median) : "",
        )
      } | ${
        check(u ? u.p99Ms.median < TARGET_P99_MS : null, u ? `${ms(u.p99Ms.median)} ms` : "")
      } | ${
        check(
          h?.bytesPerHold ? h.bytesPerHold.median / 1024 <= TARGET_KIB_PER_HOLD : null,
          h?.bytesPerHold ? kib(h.bytesPerHold.median) : "",
        )
      } |`,
    );
  }
  out.push("");
  return out.join("\n");
}

function holdCount(results: SuiteResult[]): string {
  const row = results.flatMap((r) => r.rows).find((row) => row.scenario === "hold");
  return row === undefined ? "-" : int(row.connections);
}

function panels(results: SuiteResult[]): Panel[] {
  const make = (
    title: string,
    unit: string,
    scenario: string,
    placement: string | undefined,
    pick: (row: Row) => Summary | null,
  ): Panel => ({
    title,
    unit,
    groups: results.map((r) => {
      const s = find(r, scenario, "server", placement);
      const e = find(r, scenario, "echo", placement);
      return {
        runtime: label(r),
        server: s ? pick(s) : null,
        echo: e ? pick(e) : null,
      };
    }),
  });
  const ops = (row: Row): Summary => row.opsPerSec;
  const list = [
    make("100 conns, own keys", "ops/s", "uncontended", undefined, ops),
    make("10 conns, one key", "ops/s", "contended", undefined, ops),
    make("1 conn, cross-core", "ops/s", "sequential", "cross-core", ops),
    make("1 conn, same-core", "ops/s", "sequential", "same-core", ops),
    make("1 conn, unpinned", "ops/s", "sequential", "unpinned", ops),
    make(`${holdCount(results)} held locks`, "KiB RSS per conn", "hold", undefined, (row) => {
      const b = row.bytesPerHold;
      return b === null ? null : { median: b.median / 1024, min: b.min / 1024, max: b.max / 1024 };
    }),
  ];
  return list.filter((p) => p.groups.some((g) => g.server !== null || g.echo !== null));
}

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A "nice" axis maximum (1, 2, 4, 6 or 8 times a power of ten) at or above `v`. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 4, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmtAxis(v: number): string {
  if (v >= 1000) return `${(v / 1000).toFixed(v % 1000 === 0 ? 0 : 1)}k`;
  return v % 1 === 0 ? v.toFixed(0) : v.toFixed(1);
}

/**
 * Draws the bar chart: one panel per scenario, a group of bars per runtime, the server next
 * to its echo floor, with min-max whiskers.
 *
 * @param results Suite results, one per runtime.
 * @returns SVG document text.
 */
export function svg(results: SuiteResult[]): string {
  const list = panels(results);
  const cols = 3;
  const pw = 300;
  const ph = 230;
  const top = 64;
  const rowsCount = Math.max(1, Math.ceil(list.length / cols));
  const width = cols * pw + 20;
  const height = top + rowsCount * ph + 30;
  const colors = { server: "#3b6fb6", echo: "#b8c4d6" };
  const o: string[] = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  );
  const first = results[0];
  const title = "dflock server vs echo floor (median of runs, whiskers min-max)";
  const sub = first === undefined
    ? "no results"
    : `${results.map(label).join(", ")}; ${first.nproc} cores (${first.cpuModel}); ${
      first.date.slice(0, 10)
    }; ${first.pinned ? "server CPU 0, generator CPU 1" : "unpinned"}`;
  o.push(`<text x="10" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`);
  o.push(`<text x="10" y="38" fill="#444">${esc(sub)}</text>`);
  o.push(
    `<rect x="${width - 190}" y="46" width="10" height="10" fill="${colors.server}"/>`,
    `<text x="${width - 176}" y="55">server</text>`,
    `<rect x="${width - 120}" y="46" width="10" height="10" fill="${colors.echo}"/>`,
    `<text x="${width - 106}" y="55">echo floor</text>`,
  );
  list.forEach((panel, index) => {
    const x0 = 10 + (index % cols) * pw;
    const y0 = top + Math.floor(index / cols) * ph;
    const left = x0 + 44;
    const right = x0 + pw - 14;
    const plotTop = y0 + 26;
    const plotBottom = y0 + ph - 40;
    let max = 0;
    for (const g of panel.groups) {
      for (const s of [g.server, g.echo]) if (s !== null) max = Math.max(max, s.max, s.median);
    }
    const yMax = niceMax(max);
    const y = (v: number): number => plotBottom - (v / yMax) * (plotBottom - plotTop);
    o.push(
      `<text x="${x0 + 4}" y="${y0 + 14}" font-weight="bold">${esc(panel.title)}</text>`,
      `<text x="${right}" y="${y0 + 14}" text-anchor="end" fill="#666">${esc(panel.unit)}</text>`,
    );
    for (let t = 0; t <= 4; t++) {
      const v = (yMax * t) / 4;
      const yy = y(v).toFixed(1);
      o.push(
        `<line x1="${left}" y1="${yy}" x2="${right}" y2="${yy}" stroke="#e4e4e4"/>`,
        `<text x="${left - 4}" y="${yy}" dy="3" text-anchor="end" fill="#666">${fmtAxis(v)}</text>`,
      );
    }
    o.push(
      `<line x1="${left}" y1="${plotBottom}" x2="${right}" y2="${plotBottom}" stroke="#888"/>`,
    );
    const groupW = (right - left) / Math.max(1, panel.groups.length);
    const barW = Math.min(30, groupW / 3);
    panel.groups.forEach((g, gi) => {
      const cx = left + groupW * (gi + 0.5);
      const bars: [Summary | null, string, number][] = [
        [g.server, colors.server, cx - barW - 1],
        [g.echo, colors.echo, cx + 1],
      ];
      for (const [s, color, bx] of bars) {
        if (s === null) continue;
        const h = plotBottom - y(s.median);
        o.push(
          `<rect x="${bx.toFixed(1)}" y="${y(s.median).toFixed(1)}" width="${
            barW.toFixed(1)
          }" height="${h.toFixed(1)}" fill="${color}"/>`,
        );
        const wx = (bx + barW / 2).toFixed(1);
        o.push(
          `<line x1="${wx}" y1="${y(s.min).toFixed(1)}" x2="${wx}" y2="${
            y(s.max).toFixed(1)
          }" stroke="#222"/>`,
        );
        o.push(
          `<text x="${wx}" y="${(y(s.max) - 3).toFixed(1)}" text-anchor="middle" ` +
            `font-size="9" fill="#333">${fmtAxis(Number(s.median.toPrecision(3)))}</text>`,
        );
      }
      o.push(
        `<text x="${cx.toFixed(1)}" y="${plotBottom + 14}" text-anchor="middle">${
          esc(g.runtime.split(" ")[0] ?? "")
        }</text>`,
        `<text x="${cx.toFixed(1)}" y="${plotBottom + 26}" text-anchor="middle" fill="#666" ` +
          `font-size="9">${esc(g.runtime.split(" ")[1] ?? "")}</text>`,
      );
    });
  });
  o.push("</svg>", "");
  return o.join("\n");
}

/**
 * Formats Markdown the way `deno fmt` does for our content: table columns padded to equal
 * width and paragraphs wrapped at 100 columns, so the generated file passes `deno fmt --check`.
 *
 * @param text Markdown with unpadded tables and one-line paragraphs.
 * @returns The tidied Markdown.
 */
export function tidyMarkdown(text: string): string {
  const lines = text.split("\n");
  const out: string[] = [];
  for (let i = 0; i < lines.length;) {
    if (lines[i]!.startsWith("|")) {
      const block: string[][] = [];
      while (i < lines.length && lines[i]!.startsWith("|")) {
        block.push(lines[i]!.slice(1, -1).split(" | ").map((c) => c.trim()));
        i++;
      }
      const widths = block[0]!.map((_, c) =>
        Math.max(3, ...block.map((r, ri) => ri === 1 ? 3 : (r[c] ?? "").length))
      );
      block.forEach((r, ri) => {
        const cells = widths.map((w, c) => ri === 1 ? "-".repeat(w) : (r[c] ?? "").padEnd(w));
        out.push(`| ${cells.join(" | ")} |`);
      });
      continue;
    }
    out.push(...wrap(lines[i]!, 100));
    i++;
  }
  return out.join("\n");
}

function wrap(line: string, width: number): string[] {
  if (line.length <= width || line.startsWith("#")) return [line];
  const words = line.split(" ");
  const out: string[] = [];
  let current = "";
  for (const word of words) {
    if (current !== "" && current.length + 1 + word.length > width) {
      out.push(current);
      current = word;
    } else {
      current = current === "" ? word : `${current} ${word}`;
    }
  }
  if (current !== "") out.push(current);
  return out;
}
