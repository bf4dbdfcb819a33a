/**
 * Fuzz seeds taken from the golden conformance transcripts (tests/conformance/scenarios): for
 * every scenario and connection, the byte strings the scenario writes on that connection, in
 * order (`send`, `send_raw` and `send_hex` steps). The fuzzer replays short runs of them,
 * often mutated, so that the requests real clients send are the starting point of mutation.
 *
 * @module
 */

import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The default scenario directory, next to this folder. */
export const SCENARIO_DIR: string = fileURLToPath(
  new URL("../conformance/scenarios/", import.meta.url),
);

interface Step {
  conn?: unknown;
  send?: unknown;
  send_raw?: unknown;
  send_hex?: unknown;
}

/** UTF-8 text as a byte string (one char per byte). */
function utf8Bytes(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/** The bytes one step writes, as a byte string, or undefined if it writes nothing. */
function stepBytes(step: Step): string | undefined {
  if (Array.isArray(step.send)) return utf8Bytes(step.send.map((l) => `${l}\n`).join(""));
  if (typeof step.send_raw === "string") return utf8Bytes(step.send_raw);
  if (typeof step.send_hex === "string") {
    const hex = step.send_hex.replace(/\s+/g, "");
    let s = "";
    for (let i = 0; i + 1 < hex.length; i += 2) {
      s += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
    }
    return s;
  }
  return undefined;
}

/**
 * Loads every scenario's writes, grouped per scenario and connection. `{token:X}`
 * placeholders stay in the text; the generator replaces them.
 *
 * @param dir The scenario directory.
 * @returns One array of writes (byte strings) per scenario connection, in file order.
 */
export function loadTranscripts(dir: string = SCENARIO_DIR): string[][] {
  const out: string[][] = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith(".json")).sort()) {
    const scenario = JSON.parse(readFileSync(`${dir}/${name}`, "utf8")) as { steps?: Step[] };
    const perConn = new Map<string, string[]>();
    for (const step of scenario.steps ?? []) {
      const bytes = stepBytes(step);
      if (bytes === undefined || bytes === "") continue;
      const conn = String(step.conn ?? "");
      const list = perConn.get(conn) ?? [];
      list.push(bytes);
      perConn.set(conn, list);
    }
    out.push(...perConn.values());
  }
  return out;
}
