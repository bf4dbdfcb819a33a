/**
 * A differential check against the reference Go dflockd (a tool, not a test: no test may need
 * Go). Random single-connection sessions from the fuzzer's {@linkcode FrameGenerator} (valid
 * requests, mutations, pipelined batches, over-long lines, invalid UTF-8, huge numbers) are sent
 * byte for byte to the Go server and to dflock's, each session on a fresh key prefix, the writing
 * side then half-closed; the two answer streams are compared line by line, request by request.
 *
 * Compared as they are, except: lock tokens (32 random hex digits), a `stats` body's seconds,
 * connection ids and count are masked and its arrays compared as sorted elements (Go lists them
 * in map order; its seconds are checked separately for Go's `Duration.Seconds()` form); `ping`
 * (which the newer servers answer and v1.10 does not) is left out. Blocking requests are kept to those that cannot wait (the fuzzer's
 * `ServerView` judges that), so both servers answer at once.
 *
 * Usage (from the repository root; build the Go server with ../shared/reference/build.sh):
 *
 *     node_modules/.bin/deno run -A tests/fuzz/diff_go.ts --go-dflockd /tmp/goref/dflockd \
 *       [--sessions 300] [--frames 40] [--seed 1] [--only N]
 *
 * `--only N` runs session N alone and prints its bytes and both answer streams (without the
 * keys the sessions before it leave behind, so a difference that depends on them may not show).
 *
 * Prints each difference (the request, both answers) and a summary; exits 1 when any differs.
 *
 * @module
 */

import net from "node:net";
import process from "node:process";
import { freePort, spawnListening } from "../../bench/_shared_procs.ts";
import { bytesToByteString, byteStringToBytes } from "../../src/protocol/utf8.ts";
import { startTestServer } from "../_helpers/server.ts";
import { FrameGenerator } from "./frames.ts";
import { Prng } from "./prng.ts";
import { escapeBytes } from "./responses.ts";
import { ServerView, type Triple } from "./server_view.ts";

/** How long one session may take on one server before the comparison gives up on it. */
const SESSION_DEADLINE_MS = 5_000;

interface Options {
  goDflockd: string;
  sessions: number;
  frames: number;
  seed: number;
  /** Run only this session, printing its bytes and both answer streams. */
  only: number | undefined;
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    goDflockd: "",
    sessions: 300,
    frames: 40,
    seed: 1,
    only: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    const count = (): number => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new RangeError(`${argv[i]}: expected a count`);
      i++;
      return n;
    };
    switch (argv[i]) {
      case "--go-dflockd":
        options.goDflockd = value ?? "";
        i++;
        break;
      case "--sessions":
        options.sessions = count();
        break;
      case "--frames":
        options.frames = count();
        break;
      case "--seed":
        options.seed = count();
        break;
      case "--only": {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 0) {
          throw new RangeError("--only: expected a session number");
        }
        options.only = n;
        i++;
        break;
      }
      default:
        throw new RangeError(`unknown argument ${argv[i]}`);
    }
  }
  if (options.goDflockd === "") {
    throw new RangeError("--go-dflockd PATH is needed (build: ../shared/reference/build.sh)");
  }
  return options;
}

/** Starts the Go server with its defaults; resolves once it accepts connections. */
async function startGo(binary: string): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const args = ["--host", "127.0.0.1", "--port", String(port)];
  const { stop } = await spawnListening("Go dflockd", binary, args, port, undefined, 10_000);
  return { port, stop };
}

/**
 * Sends `bytes`, half-closes, and collects everything the server sends until it closes.
 *
 * @returns The answer bytes (a byte string), or `null` past the deadline.
 */
function runSession(port: number, bytes: string): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let out = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(null);
    }, SESSION_DEADLINE_MS);
    socket.on("data", (chunk: Uint8Array) => out += bytesToByteString(chunk));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
    socket.end(byteStringToBytes(bytes));
  });
}

/**
 * The elements of each array in a `stats` body, as raw text (string-aware, so keys with
 * brackets or quotes do not split), each array's elements sorted: Go lists them in map order.
 */
function statsShape(body: string): string {
  const arrays: string[] = [];
  let current: string[] | null = null;
  let start = -1;
  let depth = 0;
  let inString = false;
  let head = "";
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === "[" && depth === 1) {
      current = [];
      head = body.slice(Math.max(0, body.lastIndexOf(",", i) + 1), i);
    } else if (c === "{" || c === "[") {
      if (depth === 2 && current !== null) start = i;
    } else if (c === "}" && depth === 3 && current !== null) {
      current.push(body.slice(start, i + 1));
    } else if (c === "]" && depth === 2 && current !== null) {
      arrays.push(head + "[" + current.sort().join(",") + "]");
      current = null;
    }
    if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
  }
  return arrays.join(";");
}

/**
 * An answer line with what may differ between two servers masked: lock tokens (32 random hex
 * digits), seconds with a fraction (idle and lease times), connection ids; a `stats` body's
 * arrays as sorted elements.
 */
function normalize(line: string): string {
  const masked = line
    .replace(/\b[0-9a-f]{32}\b/g, "<token>")
    .replace(/("(?:idle_s|lease_expires_in_s)":)[0-9.e+-]+/g, "$1<s>")
    .replace(/("owner_conn_id":)\d+/g, "$1<id>")
    .replace(/("connections":)\d+/g, "$1<n>");
  return masked.startsWith("ok {") ? "ok " + statsShape(masked.slice(3)) : masked;
}

/**
 * Whether every number of seconds in a `stats` line is what Go's `Duration.Seconds()` gives
 * for a whole number of nanoseconds (its sum of whole and fractional seconds, without the noise
 * of a division of milliseconds).
 */
function goSeconds(line: string): boolean {
  for (const m of line.matchAll(/"(?:idle_s|lease_expires_in_s)":([0-9.e+-]+)/g)) {
    const v = Number(m[1]);
    const ns = Math.round(v * 1e9);
    const rest = ns % 1e9;
    if ((ns - rest) / 1e9 + rest / 1e9 !== v) return false;
  }
  return true;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const go = await startGo(options.goDflockd);
  const ours = await startTestServer();
  let requests = 0;
  let differences = 0;
  try {
    for (let s = options.only ?? 0; s < (options.only ?? options.sessions - 1) + 1; s++) {
      const gen = new FrameGenerator(new Prng(options.seed * 1_000_003 + s), {
        keyPrefix: `d${options.seed}-${s}-`,
      });
      const view = new ServerView();
      let bytes = "";
      for (let f = 0; f < options.frames && !view.closed; f++) {
        const frame = gen.frame(view, 0);
        bytes += frame.bytes;
        view.feed(frame.bytes);
      }
      const [fromGo, fromUs] = await Promise.all([
        runSession(go.port, bytes),
        runSession(ours.addr.port, bytes),
      ]);
      if (fromGo === null || fromUs === null) {
        differences++;
        console.log(
          `session ${s}: no end within ${SESSION_DEADLINE_MS} ms ` +
            `(Go ${fromGo === null ? "timed out" : "closed"}, dflock ${
              fromUs === null ? "timed out" : "closed"
            })`,
        );
        continue;
      }
      if (options.only !== undefined) {
        console.log(`sent:   ${escapeBytes(bytes)}`);
        console.log(`go:     ${escapeBytes(fromGo)}`);
        console.log(`dflock: ${escapeBytes(fromUs)}`);
      }
      // Pair each answer line with the request the server read.
      const triples: Triple[] = new ServerView().feed(bytes).requests;
      const goLines = fromGo.split("\n");
      const ourLines = fromUs.split("\n");
      const n = Math.max(goLines.length, ourLines.length);
      for (let i = 0; i < n; i++) {
        const t = triples[i];
        if (t?.command === "ping") continue;
        requests++;
        const a = goLines[i];
        const b = ourLines[i];
        if (b !== undefined && !goSeconds(b)) {
          differences++;
          console.log(
            `session ${s}, answer ${i}: seconds not as Go's Duration.Seconds() writes them`,
          );
          console.log(`  dflock: ${escapeBytes(b).slice(0, 300)}`);
          break;
        }
        if (a === b || (a !== undefined && b !== undefined && normalize(a) === normalize(b))) {
          continue;
        }
        differences++;
        const req = t === undefined
          ? "(no request: after the last one)"
          : escapeBytes(`${t.command}\n${t.key}\n${t.arg}`);
        console.log(`session ${s}, answer ${i}: ${req}`);
        console.log(`  go:     ${a === undefined ? "(none)" : escapeBytes(a)}`);
        console.log(`  dflock: ${b === undefined ? "(none)" : escapeBytes(b)}`);
        break; // the rest of the session follows from this one
      }
    }
  } finally {
    await go.stop();
    await ours.close({ force: true });
  }
  console.log(
    `${options.sessions} sessions, ${requests} answers compared, ${differences} differences`,
  );
  process.exitCode = differences === 0 ? 0 : 1;
}

await main();
