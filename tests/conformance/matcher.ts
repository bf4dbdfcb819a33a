/**
 * The pure part of the conformance replayer: `expect` patterns, `expect_stats` JSON templates,
 * the binding tables for `{token:X}` and `{id:X}`, and `{token:X}` substitution in requests.
 * See FORMAT.md ("Patterns in expect", "JSON templates in expect_stats").
 *
 * @module
 */

/** Binding tables: name to value, one table for tokens and one for connection ids. */
export interface Bindings {
  /** `{token:X}` bindings. */
  tokens: Map<string, string>;
  /** `{id:X}` bindings (decimal text of the id). */
  ids: Map<string, string>;
}

/** The outcome of a match: `null` when it matched, otherwise why it did not. */
export type Mismatch = string | null;

/** One placeholder of a compiled pattern. */
export interface Slot {
  /** Placeholder kind. */
  kind: "token" | "int" | "num" | "id" | "any";
  /** Binding name for `{token:X}` and `{id:X}`. */
  name?: string;
  /** Inclusive range for `{int:LO..HI}` and `{num:LO..HI}`. */
  range?: [number, number];
  /** The placeholder as written, for messages. */
  text: string;
}

/** A pattern compiled to an anchored regular expression with one group per placeholder. */
export interface CompiledPattern {
  /** The pattern as written in the scenario. */
  source: string;
  /** Anchored expression, one capture group per slot. */
  regex: RegExp;
  /** The placeholders in order of appearance. */
  slots: Slot[];
}

const PLACEHOLDER =
  /\{(?:token(?::([^{}\s]+))?|(int|num)(?::(-?\d+(?:\.\d+)?)\.\.(-?\d+(?:\.\d+)?))?|id:([^{}\s]+)|any)\}/g;
const SINGLE_PLACEHOLDER = new RegExp(`^(?:${PLACEHOLDER.source})$`);
const TOKEN_RE = "[0-9a-f]{32}";
const INT_RE = "-?\\d+";
const NUM_RE = "-?(?:0|[1-9]\\d*)(?:\\.\\d+)?(?:[eE][+-]?\\d+)?";
const ID_RE = "\\d+";
const ANY_RE = "[\\s\\S]*";

/**
 * Creates empty binding tables.
 *
 * @returns fresh tables
 */
export function newBindings(): Bindings {
  return { tokens: new Map(), ids: new Map() };
}

/**
 * Copies binding tables (for trying a match without committing to it).
 *
 * @param b tables to copy
 * @returns an independent copy
 */
export function cloneBindings(b: Bindings): Bindings {
  return { tokens: new Map(b.tokens), ids: new Map(b.ids) };
}

/**
 * Replaces the contents of `target` with those of `source` (commit or roll back).
 *
 * @param target tables to overwrite
 * @param source tables to copy from
 */
export function assignBindings(target: Bindings, source: Bindings): void {
  target.tokens = new Map(source.tokens);
  target.ids = new Map(source.ids);
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function slotFromMatch(m: RegExpMatchArray): Slot {
  const text = m[0];
  if (text.startsWith("{token")) {
    return m[1] === undefined ? { kind: "token", text } : { kind: "token", name: m[1], text };
  }
  if (m[2] === "int" || m[2] === "num") {
    const slot: Slot = { kind: m[2], text };
    if (m[3] !== undefined && m[4] !== undefined) slot.range = [Number(m[3]), Number(m[4])];
    return slot;
  }
  if (m[5] !== undefined) return { kind: "id", name: m[5], text };
  return { kind: "any", text };
}

function slotRegex(slot: Slot): string {
  switch (slot.kind) {
    case "token":
      return TOKEN_RE;
    case "int":
      return INT_RE;
    case "num":
      return NUM_RE;
    case "id":
      return ID_RE;
    case "any":
      return ANY_RE;
  }
}

/**
 * Compiles an `expect` pattern. Text outside the recognised placeholders is literal
 * (including braces that do not form a placeholder, as in a raw stats line).
 *
 * @param pattern the pattern as written in the scenario
 * @returns the compiled pattern
 */
export function compilePattern(pattern: string): CompiledPattern {
  const slots: Slot[] = [];
  let source = "^";
  let last = 0;
  for (const m of pattern.matchAll(PLACEHOLDER)) {
    const index = m.index ?? 0;
    source += escapeRegex(pattern.slice(last, index));
    const slot = slotFromMatch(m);
    slots.push(slot);
    source += `(${slotRegex(slot)})`;
    last = index + m[0].length;
  }
  source += escapeRegex(pattern.slice(last)) + "$";
  return { source: pattern, regex: new RegExp(source), slots };
}

function bind(table: Map<string, string>, what: string, name: string, value: string): Mismatch {
  const bound = table.get(name);
  if (bound !== undefined) {
    return bound === value ? null : `${what} ${name} is bound to ${bound}, got ${value}`;
  }
  for (const [other, v] of table) {
    if (v === value) return `${what} ${value} is already bound to ${other}, cannot bind ${name}`;
  }
  table.set(name, value);
  return null;
}

function checkRange(slot: Slot, value: number): Mismatch {
  if (slot.range === undefined) return null;
  const [lo, hi] = slot.range;
  return value >= lo && value <= hi ? null : `${value} is outside ${slot.text}`;
}

/**
 * Checks one captured value against its slot, binding names in `b` (mutated).
 *
 * @param slot the placeholder
 * @param text the captured text
 * @param b binding tables, updated on success (possibly partly updated on failure)
 * @returns null or the reason for the mismatch
 */
function checkSlot(slot: Slot, text: string, b: Bindings): Mismatch {
  switch (slot.kind) {
    case "token":
      return slot.name === undefined ? null : bind(b.tokens, "token", slot.name, text);
    case "id":
      return bind(b.ids, "id", slot.name ?? "", String(BigInt(text)));
    case "int":
    case "num":
      return checkRange(slot, Number(text));
    case "any":
      return null;
  }
}

/**
 * Matches a whole line against a pattern. Bindings change only when the line matches.
 *
 * @param pattern the pattern text or a compiled pattern
 * @param line the response line (without its `\n`)
 * @param b binding tables
 * @returns null when it matched, otherwise the reason
 */
export function matchLine(pattern: string | CompiledPattern, line: string, b: Bindings): Mismatch {
  const compiled = typeof pattern === "string" ? compilePattern(pattern) : pattern;
  const m = compiled.regex.exec(line);
  if (m === null) return "line does not match the pattern";
  const work = cloneBindings(b);
  for (let i = 0; i < compiled.slots.length; i++) {
    const slot = compiled.slots[i];
    const text = m[i + 1];
    if (slot === undefined || text === undefined) return "internal: missing capture";
    const why = checkSlot(slot, text, work);
    if (why !== null) return why;
  }
  assignBindings(b, work);
  return null;
}

function describeValue(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 120 ? text.slice(0, 117) + "..." : text;
}

function matchNumberPlaceholder(
  template: string,
  value: unknown,
  b: Bindings,
): Mismatch | undefined {
  const m = SINGLE_PLACEHOLDER.exec(template);
  if (m === null) return undefined;
  const slot = slotFromMatch(m);
  if (slot.kind === "any") return null;
  if (slot.kind === "token") return undefined; // a string pattern
  if (typeof value !== "number") {
    return `expected a number for ${template}, got ${describeValue(value)}`;
  }
  if ((slot.kind === "int" || slot.kind === "id") && !Number.isInteger(value)) {
    return `expected an integer for ${template}, got ${value}`;
  }
  if (slot.kind === "id") {
    if (value < 0) return `expected a non-negative id for ${template}, got ${value}`;
    return bind(b.ids, "id", slot.name ?? "", String(value));
  }
  return checkRange(slot, value);
}

function matchArray(template: unknown[], value: unknown[], b: Bindings, path: string): Mismatch {
  if (value.length !== template.length) {
    return `${path}: expected ${template.length} elements, got ${value.length}: ${
      describeValue(value)
    }`;
  }
  const used = new Array<boolean>(value.length).fill(false);
  let firstWhy: Mismatch = null;
  const place = (i: number): boolean => {
    if (i === template.length) return true;
    for (let j = 0; j < value.length; j++) {
      if (used[j]) continue;
      const snapshot = cloneBindings(b);
      const why = matchValue(template[i], value[j], b, `${path}[${j}]`);
      if (why === null) {
        used[j] = true;
        if (place(i + 1)) return true;
        used[j] = false;
      } else if (firstWhy === null) {
        firstWhy = why;
      }
      assignBindings(b, snapshot);
    }
    return false;
  };
  const before = cloneBindings(b);
  if (place(0)) return null;
  assignBindings(b, before);
  return `${path}: no one-to-one pairing with the template (first mismatch: ${firstWhy}); got ${
    describeValue(value)
  }`;
}

function matchObject(
  template: Record<string, unknown>,
  value: unknown,
  b: Bindings,
  path: string,
): Mismatch {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return `${path}: expected an object, got ${describeValue(value)}`;
  }
  const record = value as Record<string, unknown>;
  const want = Object.keys(template).sort();
  const got = Object.keys(record).sort();
  if (want.join("\n") !== got.join("\n")) {
    return `${path}: expected keys [${want.join(", ")}], got [${got.join(", ")}]`;
  }
  for (const key of Object.keys(template)) {
    const why = matchValue(template[key], record[key], b, `${path}.${key}`);
    if (why !== null) return why;
  }
  return null;
}

function matchValue(template: unknown, value: unknown, b: Bindings, path: string): Mismatch {
  if (typeof template === "string") {
    const placeholder = matchNumberPlaceholder(template, value, b);
    if (placeholder !== undefined) return placeholder === null ? null : `${path}: ${placeholder}`;
    if (typeof value !== "string") {
      return `${path}: expected a string matching ${JSON.stringify(template)}, got ${
        describeValue(value)
      }`;
    }
    const why = matchLine(template, value, b);
    return why === null
      ? null
      : `${path}: ${JSON.stringify(value)} vs ${JSON.stringify(template)}: ${why}`;
  }
  if (Array.isArray(template)) {
    if (!Array.isArray(value)) return `${path}: expected an array, got ${describeValue(value)}`;
    return matchArray(template, value, b, path);
  }
  if (typeof template === "object" && template !== null) {
    return matchObject(template as Record<string, unknown>, value, b, path);
  }
  return Object.is(template, value) || template === value
    ? null
    : `${path}: expected ${describeValue(template)}, got ${describeValue(value)}`;
}

/**
 * Matches a parsed JSON value against an `expect_stats` template. Bindings change only when
 * the whole value matches.
 *
 * @param template the template from the scenario
 * @param value the parsed JSON from the server
 * @param b binding tables
 * @returns null when it matched, otherwise the reason (with a path such as `$.locks[0].key`)
 */
export function matchTemplate(template: unknown, value: unknown, b: Bindings): Mismatch {
  const work = cloneBindings(b);
  const why = matchValue(template, value, work, "$");
  if (why === null) assignBindings(b, work);
  return why;
}

/**
 * Matches a stats response line: `ok ` followed by JSON matching the template.
 *
 * @param template the template from the scenario
 * @param line the response line
 * @param b binding tables
 * @returns null when it matched, otherwise the reason
 */
export function matchStatsLine(template: unknown, line: string, b: Bindings): Mismatch {
  if (!line.startsWith("ok ")) return "line does not start with 'ok '";
  let value: unknown;
  try {
    value = JSON.parse(line.slice(3));
  } catch (err) {
    return `invalid JSON after 'ok ': ${(err as Error).message}`;
  }
  return matchTemplate(template, value, b);
}

/**
 * Replaces each `{token:X}` in request text by its bound value.
 *
 * @param text a `send` line or `send_raw` string
 * @param b binding tables
 * @returns the text with tokens substituted
 * @throws {Error} when a token name is not bound yet
 */
export function substituteTokens(text: string, b: Bindings): string {
  return text.replace(/\{token:([^{}\s]+)\}/g, (_whole, name: string) => {
    const value = b.tokens.get(name);
    if (value === undefined) throw new Error(`token ${name} is not bound yet`);
    return value;
  });
}
