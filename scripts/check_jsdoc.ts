/**
 * Checks the JSDoc of the public API: every exported declaration reachable from the package's
 * entry points (the `exports` of `deno.json`) and every public method, getter and constructor of
 * an exported class must have a summary line. Exported functions and classes, where a reader
 * learns how to call things, must also carry a titled example (`@example Title` followed by a
 * fenced block). Nothing more is demanded: an `@param` that only restates the parameter's name,
 * or an example for a constant or a type, teaches nothing, so write them where they do.
 *
 * Reads the output of `deno doc --json`, so it runs under Deno:
 * `deno run -A scripts/check_jsdoc.ts`. Prints every problem and exits with status 1 if there
 * is any.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";

/** One JSDoc tag, as `deno doc --json` prints it (only the fields read here). */
interface DocTag {
  kind: string;
  name?: string;
  doc?: string;
}

/** A JSDoc block. */
interface JsDoc {
  doc?: string;
  tags?: DocTag[];
}

/** A function parameter. */
interface Param {
  kind: string;
  name?: string;
  left?: Param;
}

/** A type, reduced to its printed form. */
interface TsType {
  repr?: string;
  kind?: string;
  value?: unknown;
}

/** The signature part of a function or method. */
interface FunctionDef {
  params: Param[];
  returnType?: TsType;
}

/** A class method, getter or setter. */
interface ClassMethod {
  name: string;
  kind: string;
  jsDoc?: JsDoc;
  accessibility?: string;
  functionDef: FunctionDef;
  location: { filename: string; line: number };
}

/** A class constructor. */
interface ClassConstructor {
  jsDoc?: JsDoc;
  accessibility?: string;
  params: Param[];
  location: { filename: string; line: number };
}

/** One declaration of an exported symbol. */
interface Declaration {
  kind: string;
  jsDoc?: JsDoc;
  location: { filename: string; line: number };
  def?: {
    params?: Param[];
    returnType?: TsType;
    methods?: ClassMethod[];
    constructors?: ClassConstructor[];
  };
}

/** The `deno doc --json` output (format version 2). */
interface DocJson {
  nodes: Record<string, { symbols: { name: string; declarations: Declaration[] }[] }>;
}

const root = new URL("../", import.meta.url);
const denoJson = JSON.parse(readFileSync(new URL("deno.json", root), "utf8")) as {
  exports: Record<string, string>;
};
const entries = [...new Set(Object.values(denoJson.exports))];

const run = spawnSync(process.execPath, ["doc", "--json", ...entries], {
  cwd: root,
  encoding: "utf8",
  maxBuffer: 256 * 1024 * 1024,
});
if (run.status !== 0) {
  console.error(run.stderr);
  console.error("check_jsdoc: `deno doc --json` failed");
  process.exit(1);
}
const doc = JSON.parse(run.stdout) as DocJson;

const problems: string[] = [];
const seen = new Set<string>();

/** `file:line` relative to the repository root. */
function where(location: { filename: string; line: number }): string {
  return `${location.filename.replace(root.href, "")}:${location.line}`;
}

/** The first line of the summary, trimmed. */
function summary(jsDoc: JsDoc | undefined): string {
  return (jsDoc?.doc ?? "").trim().split("\n")[0]?.trim() ?? "";
}

/** Whether some `@example` has a title line before its code. */
function hasTitledExample(jsDoc: JsDoc | undefined): boolean {
  return (jsDoc?.tags ?? []).some((tag) => {
    if (tag.kind !== "example") return false;
    const first = (tag.doc ?? "").split("\n")[0]?.trim() ?? "";
    return first !== "" && !first.startsWith("```") && (tag.doc ?? "").includes("```");
  });
}

/** Records the problems of one declaration: its summary, and an example where one is due. */
function checkDoc(label: string, jsDoc: JsDoc | undefined, needExample: boolean): void {
  if (summary(jsDoc) === "") problems.push(`${label}: no summary`);
  if (needExample && !hasTitledExample(jsDoc)) problems.push(`${label}: no titled @example`);
}

let checked = 0;
for (const module of Object.values(doc.nodes)) {
  for (const symbol of module.symbols) {
    for (const decl of symbol.declarations) {
      if (decl.kind === "reference" || decl.kind === "import") continue;
      const key = `${decl.location.filename}:${decl.location.line}:${symbol.name}`;
      if (seen.has(key)) continue;
      seen.add(key);
      checked++;
      const label = `${where(decl.location)} ${symbol.name}`;
      switch (decl.kind) {
        case "function":
          checkDoc(label, decl.jsDoc, true);
          break;
        case "class": {
          checkDoc(label, decl.jsDoc, true);
          for (const ctor of decl.def?.constructors ?? []) {
            if (ctor.accessibility === "private") continue;
            checked++;
            checkDoc(`${where(ctor.location)} ${symbol.name}.constructor`, ctor.jsDoc, false);
          }
          for (const method of decl.def?.methods ?? []) {
            if (method.accessibility === "private" || method.accessibility === "protected") {
              continue;
            }
            checked++;
            checkDoc(
              `${where(method.location)} ${symbol.name}.${method.name}`,
              method.jsDoc,
              false,
            );
          }
          break;
        }
        case "interface":
        case "typeAlias":
        case "variable":
          checkDoc(label, decl.jsDoc, false);
          break;
        default:
          if (summary(decl.jsDoc) === "") problems.push(`${label}: no summary`);
      }
    }
  }
}

if (problems.length > 0) {
  for (const problem of problems) console.error(problem);
  console.error(`check_jsdoc: ${problems.length} problem(s) in ${checked} exported declarations`);
  process.exit(1);
}
console.log(`check_jsdoc: ${checked} exported declarations documented`);
