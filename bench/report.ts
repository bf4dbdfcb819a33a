/**
 * Writes the benchmark report: `docs/bench.md` (server, client, shared-client and versus-Go
 * sections) and `docs/bench.svg` (the server chart) from the JSON results in `bench/results/`.
 *
 * Usage: `deno run -A bench/report.ts [--md docs/bench.md] [--svg docs/bench.svg] [FILE...]`
 * (also `bun bench/report.ts`, `node npm/esm/bench/report.js`). Without files it reads every
 * `bench/results/*.json` whose `kind` is `dflock-server-bench`, `dflock-client-bench`,
 * `dflock-shared-client-bench` or `dflock-vs-go-bench`; other files are skipped. Each section
 * ("## Server", "## Client", "## Shared client", "## Versus Go dflockd") is generated from the
 * documents of its kind when there are any, and otherwise kept as it is in the existing Markdown
 * file, as are the file's header lines; the SVG is only rewritten when there are server results.
 *
 * @module
 */

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import {
  BENCH_MD_HEADER,
  clientMarkdown,
  loadDocs,
  markdown,
  mergeSections,
  SECTIONS,
  sharedClientMarkdown,
  svg,
  tidyMarkdown,
  vsGoMarkdown,
} from "./_report.ts";

function main(): void {
  const argv = process.argv.slice(2);
  let mdPath = join("docs", "bench.md");
  let svgPath = join("docs", "bench.svg");
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--md") mdPath = argv[++i] ?? mdPath;
    else if (arg === "--svg") svgPath = argv[++i] ?? svgPath;
    else if (arg.startsWith("--")) throw new RangeError(`unknown argument ${arg}`);
    else files.push(arg);
  }
  const { server, client, shared, vsGo } = loadDocs(files);
  if (server.length + client.length + shared.length + vsGo.length === 0) {
    throw new Error(
      "no dflock-server-bench, dflock-client-bench, dflock-shared-client-bench or " +
        "dflock-vs-go-bench results found",
    );
  }
  const generated: Record<(typeof SECTIONS)[number], string | undefined> = {
    Server: server.length > 0 ? "## Server\n\n" + markdown(server) : undefined,
    Client: client.length > 0 ? clientMarkdown(client) : undefined,
    "Shared client": shared.length > 0 ? sharedClientMarkdown(shared) : undefined,
    "Versus Go dflockd": vsGo.length > 0 ? vsGoMarkdown(vsGo) : undefined,
  };
  const tidied = Object.fromEntries(
    Object.entries(generated).map(([k, v]) => [k, v === undefined ? v : tidyMarkdown(v)]),
  );
  const existing = existsSync(mdPath) ? readFileSync(mdPath, "utf8") : BENCH_MD_HEADER;
  const md = mergeSections(existing, tidied);
  writeFileSync(mdPath, md);
  const written = [mdPath];
  if (server.length > 0) {
    writeFileSync(svgPath, svg(server));
    written.push(svgPath);
  }
  console.log(md);
  const kept = SECTIONS.filter((s) => generated[s] === undefined);
  console.error(
    `wrote ${written.join(" and ")}` +
      (kept.length > 0
        ? `; no results for ${kept.map((s) => `"## ${s}"`).join(", ")}: kept from ${mdPath}`
        : ""),
  );
}

try {
  main();
} catch (e) {
  console.error(e);
  process.exit(1);
}
