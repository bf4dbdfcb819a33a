/**
 * Fuzz frames for the dflockd server: valid requests of every command with random keys and
 * arguments, pipelined batches and floods, random bytes, over-long lines, missing lines and
 * mutations (byte flips, insertions, deletions, truncations, CRs, NULs, invalid UTF-8, huge
 * numbers), and runs of the conformance transcripts' writes, replayed or mutated, when
 * transcripts are given. Frames are byte strings (one char per byte). Every frame is checked against the
 * connection's {@linkcode ServerView} so that nothing can block for long.
 *
 * @module
 */

import type { Prng } from "./prng.ts";
import { assess, type ServerView } from "./server_view.ts";

/** Every command the fuzzer sends (v1.10 commands plus the newer `ping`). */
export const FUZZ_COMMANDS = [
  "l",
  "e",
  "w",
  "r",
  "n",
  "sl",
  "se",
  "sw",
  "sr",
  "sn",
  "stats",
  "auth",
  "ping",
] as const;

/** Fuzzers never name keys starting with this; the witnesses own them. */
export const WITNESS_PREFIX = "witness";

/** A generated frame. */
export interface Frame {
  /** What produced it, for reports and coverage checks. */
  kind: string;
  /** The bytes to write, as a byte string. */
  bytes: string;
  /** Requests in it that may block about 1 s. */
  slow: number;
}

/** Options for {@linkcode FrameGenerator}. */
export interface GeneratorOptions {
  /** Prefix of the fuzzers' own keys. @default {"fz"} */
  keyPrefix?: string;
  /** Number of keys in the shared pool. @default {24} */
  poolSize?: number;
  /**
   * Seed writes per scenario connection (see `transcripts.ts`); `{token:X}` placeholders are
   * replaced by learned or random tokens. @default {none}
   */
  transcripts?: readonly (readonly string[])[];
}

const INVALID_UTF8 = [
  "\xff",
  "\xfe",
  "\xc3",
  "\xe2\x82",
  "\xed\xa0\x80",
  "\xc0\xaf",
  "\xf8\x88\x80",
];
const HUGE_NUMBERS = [
  "9223372036",
  "9223372037",
  "18446744074",
  "99999999999999999999",
  "9223372036854775807",
  "9223372036854775808",
  "-9223372036854775808",
  "-1",
  "-0",
  "+0",
  "+1",
  "007",
  "1e3",
  "0x10",
  "1.5",
  "1_0",
  "\xd9\xa5", // ARABIC-INDIC DIGIT FIVE
];
/** Separators between fields: Go white space in ASCII and UTF-8, and plain junk. */
const SEPARATORS = [
  " ",
  " ",
  " ",
  "  ",
  "\t",
  "\x0b",
  "\x0c",
  "\xc2\xa0",
  "\xc2\x85",
  "\xe3\x80\x80",
];

function hex32(prng: Prng): string {
  let s = "";
  for (let i = 0; i < 32; i++) s += "0123456789abcdef"[prng.int(16)];
  return s;
}

function randomBytes(prng: Prng, n: number, lineDensity: number): string {
  let s = "";
  for (let i = 0; i < n; i++) {
    s += prng.chance(lineDensity) ? "\n" : String.fromCharCode(prng.int(256));
  }
  return s;
}

/** Produces fuzz frames from a seeded generator. */
export class FrameGenerator {
  #prng: Prng;
  #pool: string[];
  #tokens: [string, string][] = [];
  #kinds = new Map<string, number>();
  #transcripts: readonly (readonly string[])[];

  /**
   * Creates a generator.
   *
   * @param prng The random source (owned by this generator from now on).
   * @param options Key prefix and pool size.
   */
  constructor(prng: Prng, options: GeneratorOptions = {}) {
    this.#prng = prng;
    const prefix = options.keyPrefix ?? "fz";
    const size = options.poolSize ?? 24;
    this.#pool = [];
    this.#transcripts = (options.transcripts ?? []).filter((t) => t.length > 0);
    for (let i = 0; i < size; i++) this.#pool.push(`${prefix}${i}`);
    // Keys with bytes that stress escaping and byte comparison (all valid keys).
    this.#pool.push(
      `${prefix}-\x00nul`,
      `${prefix}\xff\xfe`,
      `${prefix}-\xc3\xa9`,
      `${prefix}<&>`,
      `${prefix}"\\`,
      `${prefix}\x0bvt`,
      `${prefix}\xc2\xa0nbsp`,
      `${prefix}\x01\x1f\x7f`,
      `${prefix}\xe2\x80\xa8`,
    );
  }

  /** How many frames of each kind were made so far. */
  get kinds(): ReadonlyMap<string, number> {
    return this.#kinds;
  }

  /**
   * Remembers a token the server handed out, so later `r`/`n` can use real tokens.
   *
   * @param key The key it was granted on.
   * @param line The response line (`ok <token> <n>` or `acquired <token> <n>`).
   */
  learn(key: string, line: string): void {
    const m = /^(?:ok|acquired) ([0-9a-f]{32}) /.exec(line);
    if (m === null) return;
    this.#tokens.push([key, m[1] as string]);
    if (this.#tokens.length > 64) this.#tokens.shift();
  }

  #key(): string {
    const p = this.#prng;
    const r = p.next();
    if (r < 0.9) return p.pick(this.#pool);
    if (r < 0.95) return this.#pool[0] + randomBytes(p, p.range(1, 12), 0).replace(/[\n]/g, "");
    return p.pick(["", " ", "a b", "a\tb", "x\ry", "\r", "fz\x85"]);
  }

  #sep(): string {
    return this.#prng.chance(0.85) ? " " : this.#prng.pick(SEPARATORS);
  }

  #timeout(slowOk: boolean): string {
    const p = this.#prng;
    if (slowOk && p.chance(0.02)) return "1";
    return p.chance(0.9) ? "0" : p.pick(["00", "+0", "-0", "000"]);
  }

  #lease(): string | undefined {
    const p = this.#prng;
    if (p.chance(0.4)) return undefined;
    if (p.chance(0.02)) return p.pick(["9223372036", "9223372037", "18446744074", "0", "-3"]);
    return String(p.range(1, 3));
  }

  #token(key: string): string {
    const p = this.#prng;
    const r = p.next();
    const own = this.#tokens.filter(([k]) => k === key);
    if (r < 0.55 && own.length > 0) return (p.pick(own) as [string, string])[1];
    if (r < 0.7 && this.#tokens.length > 0) return (p.pick(this.#tokens) as [string, string])[1];
    if (r < 0.85) return hex32(p);
    return p.pick(["", " ", "zz", hex32(p) + " extra", hex32(p).toUpperCase(), "\xff"]);
  }

  #args(...fields: (string | undefined)[]): string {
    const present = fields.filter((f): f is string => f !== undefined);
    const p = this.#prng;
    let s = present.join(this.#sep());
    if (present.length > 1 && p.chance(0.1)) s = present.join(this.#sep() + this.#sep());
    if (p.chance(0.05)) s = this.#sep() + s;
    if (p.chance(0.05)) s = s + this.#sep();
    return s;
  }

  /**
   * One well-formed request (arguments may still be out of range now and then).
   *
   * @param command The command, or a random one.
   * @param slowOk Whether a 1 s timeout may be used.
   * @returns The three lines, each ending in `\n` (sometimes `\r\n`).
   */
  request(command?: string, slowOk = true): string {
    const p = this.#prng;
    const cmd = command ?? p.pick(FUZZ_COMMANDS);
    const key = this.#key();
    const limit = String(p.range(1, 4));
    let arg: string;
    switch (cmd) {
      case "l":
        arg = this.#args(this.#timeout(slowOk), this.#lease());
        break;
      case "sl":
        arg = this.#args(this.#timeout(slowOk), limit, this.#lease());
        break;
      case "e":
        arg = this.#args(this.#lease());
        break;
      case "se":
        arg = this.#args(limit, this.#lease());
        break;
      case "w":
      case "sw":
        arg = this.#args(this.#timeout(slowOk));
        break;
      case "r":
      case "sr":
        arg = this.#args(this.#token(key));
        break;
      case "n":
      case "sn":
        arg = this.#args(this.#token(key), this.#lease());
        break;
      case "auth":
        arg = p.pick(["secret", "", hex32(p)]);
        break;
      default:
        arg = p.pick(["", "_", "ignored args \xff"]);
    }
    const eol = p.chance(0.05) ? p.pick(["\r\n", "\r\r\n"]) : "\n";
    const keyLine = cmd === "stats" || cmd === "ping" ? p.pick(["", "_", key]) : key;
    return `${cmd}${eol}${keyLine}${eol}${arg}${eol}`;
  }

  #batch(n: number, slowOk: boolean): string {
    let s = "";
    for (let i = 0; i < n; i++) s += this.request(undefined, slowOk);
    return s;
  }

  #overlong(): string {
    const p = this.#prng;
    const n = p.chance(0.3) ? p.pick([255, 256, 257, 258]) : p.range(257, 2000);
    let body = "";
    for (let i = 0; i < n; i++) body += p.chance(0.9) ? "x" : String.fromCharCode(p.range(11, 255));
    const end = p.pick(["\n", "\n", "\r\n", "\r\r\n", ""]);
    const where = p.int(3);
    const req = this.request(undefined, false).split("\n");
    req[where] = body + end.replace(/\n$/, "");
    // Without an end the line stays open and the server keeps discarding what follows.
    return end === "" ? req.slice(0, where + 1).join("\n") : req.join("\n");
  }

  #mutate(s: string): string {
    const p = this.#prng;
    const pos = (): number => p.int(s.length + 1);
    switch (p.int(12)) {
      case 0: { // flip one bit
        if (s.length === 0) return s;
        const i = p.int(s.length);
        return s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ (1 << p.int(8))) +
          s.slice(i + 1);
      }
      case 1: { // insert random bytes
        const i = pos();
        return s.slice(0, i) + randomBytes(p, p.range(1, 4), 0.1) + s.slice(i);
      }
      case 2: { // delete a few bytes
        const i = p.int(Math.max(1, s.length));
        return s.slice(0, i) + s.slice(i + p.range(1, 4));
      }
      case 3: // truncate
        return s.slice(0, pos());
      case 4: { // CR, anywhere or before a line end
        const i = p.chance(0.5) ? pos() : Math.max(0, s.indexOf("\n", p.int(s.length)));
        return s.slice(0, i) + "\r".repeat(p.range(1, 3)) + s.slice(i);
      }
      case 5: { // NUL bytes
        const i = pos();
        return s.slice(0, i) + "\x00".repeat(p.range(1, 3)) + s.slice(i);
      }
      case 6: { // invalid UTF-8
        const i = pos();
        return s.slice(0, i) + p.pick(INVALID_UTF8) + s.slice(i);
      }
      case 7: { // replace a number by a huge or odd one
        const runs = [...s.matchAll(/[0-9]+/g)];
        if (runs.length === 0) return s + p.pick(HUGE_NUMBERS);
        const m = p.pick(runs);
        const at = m.index ?? 0;
        return s.slice(0, at) + p.pick(HUGE_NUMBERS) + s.slice(at + m[0].length);
      }
      case 8: { // over-long line inside
        const i = pos();
        return s.slice(0, i) + "y".repeat(p.range(257, 2000)) + s.slice(i);
      }
      case 9: { // drop a line
        const lines = s.split("\n");
        lines.splice(p.int(lines.length), 1);
        return lines.join("\n");
      }
      case 10: { // duplicate a line
        const lines = s.split("\n");
        const i = p.int(lines.length);
        lines.splice(i, 0, lines[i] as string);
        return lines.join("\n");
      }
      default: // splice in a truncated request
        return s.slice(0, pos()) + this.request(undefined, false).slice(0, p.range(0, 12));
    }
  }

  #missingLines(): string {
    const p = this.#prng;
    const lines = this.request(undefined, false).split("\n").slice(0, 3);
    const keep = p.range(1, 2);
    const head = lines.slice(0, keep).join("\n") + "\n";
    return p.chance(0.5) ? head : head + this.#batch(p.range(1, 3), false);
  }

  #boundary(): string {
    const p = this.#prng;
    const k = this.#pool[0] as string;
    switch (p.int(4)) {
      case 0: // a 256-byte key: legal length
        return `l\n${k}${"k".repeat(256 - k.length)}\n0 1\n`;
      case 1: // 255 bytes plus CR: 256 counted, legal
        return `e\n${k}${"k".repeat(255 - k.length)}\r\n1\n`;
      case 2: // 256 visible bytes plus CR: too long
        return `e\n${k}${"k".repeat(256 - k.length)}\r\n1\n`;
      default: // white space only argument lines
        return `l\n${k}\n \t \n` + `w\n${k}\n\xc2\xa0\n` + `n\n${k}\n \n`;
    }
  }

  /** A run of one to four consecutive writes of one transcript connection. */
  #transcript(): string {
    const p = this.#prng;
    const writes = p.pick(this.#transcripts);
    const start = p.int(writes.length);
    const end = Math.min(writes.length, start + p.range(1, 4));
    return writes.slice(start, end).join("").replace(/\{token(?::[A-Za-z0-9_]+)?\}/g, () => {
      const r = p.next();
      if (r < 0.6 && this.#tokens.length > 0) return (p.pick(this.#tokens) as [string, string])[1];
      return r < 0.95 ? hex32(p) : p.pick(["", "zz", "\xff"]);
    });
  }

  #candidate(slowOk: boolean): [string, string] {
    const p = this.#prng;
    if (this.#transcripts.length > 0 && p.chance(0.2)) {
      let s = this.#transcript();
      if (p.chance(0.3)) return ["transcript", s];
      const n = p.range(1, 3);
      for (let i = 0; i < n; i++) s = this.#mutate(s);
      return ["transcript-mutated", s];
    }
    const r = p.next();
    if (r < 0.3) return ["single", this.request(undefined, slowOk)];
    if (r < 0.42) return ["batch", this.#batch(p.range(2, 8), slowOk)];
    if (r < 0.44) return ["flood", this.#batch(p.range(50, 400), false)];
    if (r < 0.8) {
      let s = this.#batch(p.range(1, 3), slowOk);
      const n = p.range(1, 3);
      for (let i = 0; i < n; i++) s = this.#mutate(s);
      return ["mutated", s];
    }
    if (r < 0.86) return ["random", randomBytes(p, p.range(1, 300), 0.08)];
    if (r < 0.91) return ["overlong", this.#overlong()];
    if (r < 0.95) return ["missing", this.#missingLines()];
    return ["boundary", this.#boundary()];
  }

  /**
   * The next frame for a connection in the given state. Candidates that could block for long,
   * touch witness keys or exceed the slow budget are thrown away; after ten tries the frame
   * finishes the pending request and asks for `stats`, which is always safe.
   *
   * @param view The connection's reading state (not modified).
   * @param slowLeft Slow requests the connection may still send.
   * @returns The frame.
   */
  frame(view: ServerView, slowLeft: number): Frame {
    const p = this.#prng;
    for (let attempt = 0; attempt < 10; attempt++) {
      const prefix = !view.atBoundary && p.chance(0.6) ? view.completion() : "";
      const [kind, body] = this.#candidate(slowLeft > 0);
      const bytes = prefix + body;
      if (bytes === "") continue;
      const verdict = assess(view, bytes, slowLeft, WITNESS_PREFIX);
      if (verdict.ok) return this.#count({ kind, bytes, slow: verdict.slow });
    }
    const bytes = view.completion() + "stats\n\n\n";
    return this.#count({
      kind: "fallback",
      bytes,
      slow: assess(view, bytes, slowLeft, WITNESS_PREFIX).slow,
    });
  }

  #count(f: Frame): Frame {
    this.#kinds.set(f.kind, (this.#kinds.get(f.kind) ?? 0) + 1);
    return f;
  }
}
