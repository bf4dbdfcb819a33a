/**
 * A strict parser of the Prometheus text exposition format 0.0.4, for tests of `/metrics`.
 *
 * Beyond the syntax (HELP and TYPE lines, metric and label names, label value escapes `\\`,
 * `\"` and `\n`, sample values including `+Inf`, `-Inf` and `NaN`, optional timestamps) it
 * checks what a scraper relies on:
 *
 * - every sample belongs to a family whose `# TYPE` line came before it (a histogram's
 *   `_bucket`, `_sum` and `_count` samples, a summary's `_sum` and `_count`, belong to the
 *   histogram or summary of the base name);
 * - a family's lines form one group, HELP and TYPE appear at most once per family, no series
 *   (name and label set) appears twice, no label name twice in one sample;
 * - counter values are not negative (nor NaN);
 * - per histogram series (its labels without `le`): `_bucket` samples with ascending `le` bounds
 *   ending in `+Inf`, cumulative counts that never decrease, a `_count` equal to the `+Inf`
 *   bucket and a `_sum`.
 *
 * Any violation throws a {@linkcode PrometheusParseError} naming the line (1-based).
 *
 * @module
 */

/** The metric types of format 0.0.4. */
export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

/** One sample line. */
export interface Sample {
  /** The sample's metric name (`x_bucket` for a histogram bucket). */
  name: string;
  /** Its labels. */
  labels: Record<string, string>;
  /** The value. */
  value: number;
  /** The timestamp (ms), when the line had one. */
  timestamp?: number;
  /** The line number (1-based). */
  line: number;
}

/** One metric family: its TYPE, HELP and samples. */
export interface MetricFamily {
  /** The family name. */
  name: string;
  /** The declared type. */
  type: MetricType;
  /** The HELP text (unescaped), when given. */
  help?: string;
  /** The samples in order. */
  samples: Sample[];
}

/** A histogram series, read back from the exposition. */
export interface HistogramSeries {
  /** Buckets in order: upper bound and cumulative count (the last bound is `Infinity`). */
  buckets: { le: number; count: number }[];
  /** The `_sum` sample. */
  sum: number;
  /** The `_count` sample. */
  count: number;
}

/** A parsed exposition. */
export interface Exposition {
  /** Families by name, in order of appearance. */
  families: Map<string, MetricFamily>;
}

/** A line of the exposition that breaks the format. */
export class PrometheusParseError extends Error {
  /** The offending line (1-based). */
  readonly line: number;

  /**
   * @param line The line number (1-based).
   * @param message What is wrong.
   * @param text The line's text, quoted in the message.
   */
  constructor(line: number, message: string, text?: string) {
    super(`line ${line}: ${message}${text === undefined ? "" : `: ${JSON.stringify(text)}`}`);
    this.name = "PrometheusParseError";
    this.line = line;
  }
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES: ReadonlySet<string> = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const TIMESTAMP = /^-?\d+$/;

/**
 * Parses a sample value as the format allows: a Go float (`1`, `-2.5e-3`), `+Inf`, `-Inf`,
 * `NaN`.
 *
 * @param text The value token.
 * @returns The number, or `undefined` when it is not a value.
 */
export function parseValue(text: string): number | undefined {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  return NUMBER.test(text) ? Number(text) : undefined;
}

/** Splits `name` off the start of `rest`; `undefined` when `rest` does not start with one. */
function takeName(re: RegExp, rest: string): [string, string] | undefined {
  const m = re.exec(rest);
  return m === null ? undefined : [m[0], rest.slice(m[0].length)];
}

/** Unescapes a HELP text (`\\` and `\n` only). */
function unescapeHelp(text: string, line: number, raw: string): string {
  return text.replace(/\\(.?)/g, (_all, c: string) => {
    if (c === "\\") return "\\";
    if (c === "n") return "\n";
    throw new PrometheusParseError(line, `bad escape \\${c} in HELP text`, raw);
  });
}

/**
 * Parses a label set `{a="x",b="y"}` at the start of `rest`.
 *
 * @returns The labels and the text after the closing brace.
 */
function parseLabels(
  rest: string,
  line: number,
  raw: string,
): [Record<string, string>, string] {
  const labels: Record<string, string> = {};
  let s = rest.slice(1); // past "{"
  for (;;) {
    s = s.replace(/^[ \t]*/, "");
    if (s.startsWith("}")) return [labels, s.slice(1)];
    const named = takeName(LABEL_NAME, s);
    if (named === undefined) throw new PrometheusParseError(line, "bad label name", raw);
    const [name, afterName] = named;
    if (Object.hasOwn(labels, name)) {
      throw new PrometheusParseError(line, `label ${name} appears twice`, raw);
    }
    s = afterName.replace(/^[ \t]*/, "");
    if (!s.startsWith("=")) throw new PrometheusParseError(line, `no = after label ${name}`, raw);
    s = s.slice(1).replace(/^[ \t]*/, "");
    if (!s.startsWith('"')) {
      throw new PrometheusParseError(line, `label ${name}'s value is not quoted`, raw);
    }
    let value = "";
    let i = 1;
    for (;;) {
      if (i >= s.length) {
        throw new PrometheusParseError(line, `label ${name}'s value is not closed`, raw);
      }
      const c = s[i]!;
      if (c === '"') break;
      if (c === "\\") {
        const e = s[i + 1];
        if (e === "\\") value += "\\";
        else if (e === '"') value += '"';
        else if (e === "n") value += "\n";
        else throw new PrometheusParseError(line, `bad escape \\${e ?? ""} in label value`, raw);
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    labels[name] = value;
    s = s.slice(i + 1).replace(/^[ \t]*/, "");
    if (s.startsWith(",")) {
      s = s.slice(1);
      continue;
    }
    if (s.startsWith("}")) return [labels, s.slice(1)];
    throw new PrometheusParseError(line, "expected , or } after a label", raw);
  }
}

/** The identity of a series: its name and its sorted labels. */
function seriesId(name: string, labels: Record<string, string>, without?: string): string {
  const keys = Object.keys(labels).filter((k) => k !== without).sort();
  return JSON.stringify([name, ...keys.map((k) => [k, labels[k]])]);
}

/**
 * Parses an exposition and checks it (see the module documentation).
 *
 * @param text The exposition text.
 * @returns The families.
 * @throws {PrometheusParseError} At the first line that breaks the format.
 */
export function parsePrometheus(text: string): Exposition {
  const families = new Map<string, MetricFamily>();
  const helps = new Set<string>();
  /** HELP texts seen before their family's TYPE line. */
  const pendingHelp = new Map<string, string>();
  /** Families whose group has ended (another family's line came after theirs). */
  const finished = new Set<string>();
  const series = new Set<string>();
  let current: string | undefined;
  const lines = text.split("\n");
  if (text !== "" && lines[lines.length - 1] !== "") {
    throw new PrometheusParseError(lines.length, "the last line does not end with a line feed");
  }
  if (text !== "") lines.pop();

  const enter = (family: string, line: number, raw: string): void => {
    if (current === family) return;
    if (finished.has(family)) {
      throw new PrometheusParseError(line, `family ${family} continues after another one`, raw);
    }
    if (current !== undefined) finished.add(current);
    current = family;
  };

  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === "") return;
    if (raw.startsWith("#")) {
      const m = /^#[ \t]+(HELP|TYPE)(?=[ \t]|$)[ \t]*(.*)$/.exec(raw);
      if (m === null) return; // a plain comment
      const named = takeName(METRIC_NAME, m[2]!);
      if (named === undefined) throw new PrometheusParseError(line, "bad metric name", raw);
      const [name, after] = named;
      if (after !== "" && !/^[ \t]/.test(after)) {
        throw new PrometheusParseError(line, "bad metric name", raw);
      }
      const rest = after.replace(/^[ \t]+/, "");
      if (m[1] === "HELP") {
        if (helps.has(name)) throw new PrometheusParseError(line, `second HELP for ${name}`, raw);
        helps.add(name);
        enter(name, line, raw);
        const family = families.get(name);
        const help = unescapeHelp(rest, line, raw);
        if (family !== undefined) family.help = help;
        else pendingHelp.set(name, help);
        return;
      }
      if (!TYPES.has(rest.trim())) {
        throw new PrometheusParseError(line, `unknown type ${JSON.stringify(rest)}`, raw);
      }
      if (families.has(name)) throw new PrometheusParseError(line, `second TYPE for ${name}`, raw);
      enter(name, line, raw);
      const family: MetricFamily = { name, type: rest.trim() as MetricType, samples: [] };
      const help = pendingHelp.get(name);
      if (help !== undefined) family.help = help;
      families.set(name, family);
      return;
    }
    const named = takeName(METRIC_NAME, raw);
    if (named === undefined) throw new PrometheusParseError(line, "bad metric name", raw);
    const [name, afterName] = named;
    let labels: Record<string, string> = {};
    let rest = afterName;
    if (rest.startsWith("{")) [labels, rest] = parseLabels(rest, line, raw);
    if (!/^[ \t]+/.test(rest)) throw new PrometheusParseError(line, "no value after the name", raw);
    const fields = rest.trim().split(/[ \t]+/);
    if (fields.length > 2) throw new PrometheusParseError(line, "text after the timestamp", raw);
    const value = parseValue(fields[0]!);
    if (value === undefined) throw new PrometheusParseError(line, "bad sample value", raw);
    const sample: Sample = { name, labels, value, line };
    if (fields.length === 2) {
      if (!TIMESTAMP.test(fields[1]!)) throw new PrometheusParseError(line, "bad timestamp", raw);
      sample.timestamp = Number(fields[1]);
    }
    const family = familyOf(families, name);
    if (family === undefined) {
      throw new PrometheusParseError(line, `sample ${name} has no TYPE line before it`, raw);
    }
    enter(family.name, line, raw);
    const id = seriesId(name, labels);
    if (series.has(id)) throw new PrometheusParseError(line, "the same series appears twice", raw);
    series.add(id);
    if (family.type === "counter" && !(value >= 0)) {
      throw new PrometheusParseError(line, "a counter is negative or NaN", raw);
    }
    if (family.type === "histogram" && name === `${family.name}_bucket`) {
      if (!Object.hasOwn(labels, "le")) {
        throw new PrometheusParseError(line, "bucket without le", raw);
      }
      const le = parseValue(labels.le!);
      if (le === undefined || Number.isNaN(le)) {
        throw new PrometheusParseError(line, `bad le ${JSON.stringify(labels.le)}`, raw);
      }
    }
    family.samples.push(sample);
  });
  for (const family of families.values()) {
    if (family.type === "histogram") checkHistogram(family);
  }
  return { families };
}

/** The family a sample name belongs to: its own, or the histogram or summary it suffixes. */
function familyOf(families: Map<string, MetricFamily>, name: string): MetricFamily | undefined {
  const own = families.get(name);
  if (own !== undefined) return own;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (m === null) return undefined;
  const base = families.get(m[1]!);
  if (base === undefined) return undefined;
  if (base.type === "histogram") return base;
  if (base.type === "summary" && m[2] !== "bucket") return base;
  return undefined;
}

/** Checks every series of a histogram family (see the module documentation). */
function checkHistogram(family: MetricFamily): void {
  const groups = new Map<
    string,
    { buckets: Sample[]; sum?: Sample; count?: Sample; first: number }
  >();
  for (const s of family.samples) {
    if (s.name === family.name) {
      throw new PrometheusParseError(
        s.line,
        `histogram ${family.name} has a bare sample (only _bucket, _sum, _count)`,
      );
    }
    const id = seriesId(family.name, s.labels, "le");
    let g = groups.get(id);
    if (g === undefined) groups.set(id, g = { buckets: [], first: s.line });
    if (s.name.endsWith("_bucket")) g.buckets.push(s);
    else if (s.name.endsWith("_sum")) g.sum = s;
    else g.count = s;
  }
  for (const g of groups.values()) {
    const last = g.buckets[g.buckets.length - 1];
    if (last === undefined) {
      throw new PrometheusParseError(g.first, `histogram ${family.name} series without buckets`);
    }
    let prevLe = -Infinity;
    let prevCount = -Infinity;
    for (const b of g.buckets) {
      const le = parseValue(b.labels.le!)!;
      if (!(le > prevLe)) throw new PrometheusParseError(b.line, "le bounds are not ascending");
      if (b.value < prevCount) {
        throw new PrometheusParseError(b.line, "bucket counts are not cumulative");
      }
      prevLe = le;
      prevCount = b.value;
    }
    if (parseValue(last.labels.le!) !== Infinity) {
      throw new PrometheusParseError(last.line, 'the last bucket is not le="+Inf"');
    }
    if (g.sum === undefined) {
      throw new PrometheusParseError(last.line, `histogram ${family.name} series without _sum`);
    }
    if (g.count === undefined) {
      throw new PrometheusParseError(last.line, `histogram ${family.name} series without _count`);
    }
    if (g.count.value !== last.value) {
      throw new PrometheusParseError(
        g.count.line,
        `_count ${g.count.value} differs from the +Inf bucket ${last.value}`,
      );
    }
  }
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}

/**
 * Finds one sample by name and exact label set.
 *
 * @param exposition A parsed exposition.
 * @param name The sample name.
 * @param labels Its labels, all of them.
 * @returns The sample, or `undefined`.
 */
export function findSample(
  exposition: Exposition,
  name: string,
  labels: Record<string, string> = {},
): Sample | undefined {
  for (const family of exposition.families.values()) {
    for (const s of family.samples) {
      if (s.name === name && sameLabels(s.labels, labels)) return s;
    }
  }
  return undefined;
}

/**
 * The value of one sample.
 *
 * @param exposition A parsed exposition.
 * @param name The sample name.
 * @param labels Its labels, all of them.
 * @returns The value.
 * @throws {Error} When there is no such sample.
 */
export function sampleValue(
  exposition: Exposition,
  name: string,
  labels: Record<string, string> = {},
): number {
  const s = findSample(exposition, name, labels);
  if (s === undefined) throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
  return s.value;
}

/**
 * One series of a histogram family.
 *
 * @param exposition A parsed exposition.
 * @param name The histogram's family name.
 * @param labels The series' labels (without `le`).
 * @returns Its buckets, sum and count.
 * @throws {Error} When the family or series is missing.
 */
export function histogram(
  exposition: Exposition,
  name: string,
  labels: Record<string, string> = {},
): HistogramSeries {
  const family = exposition.families.get(name);
  if (family === undefined || family.type !== "histogram") throw new Error(`no histogram ${name}`);
  const id = seriesId(name, labels);
  const buckets: { le: number; count: number }[] = [];
  let sum: number | undefined;
  let count: number | undefined;
  for (const s of family.samples) {
    if (seriesId(name, s.labels, "le") !== id) continue;
    if (s.name === `${name}_bucket`) {
      buckets.push({ le: parseValue(s.labels.le!)!, count: s.value });
    } else if (s.name === `${name}_sum`) sum = s.value;
    else if (s.name === `${name}_count`) count = s.value;
  }
  if (buckets.length === 0 || sum === undefined || count === undefined) {
    throw new Error(`no histogram series ${name}${JSON.stringify(labels)}`);
  }
  return { buckets, sum, count };
}
