/**
 * The server's view of a fuzzed byte stream, modelled from docs/protocol.md section 2 and 2.6:
 * lines end at `\n`, trailing `\r`s are stripped, a line of more than 256 bytes (counting any
 * `\r`) is discarded up to its `\n` and then answered `error` before the server closes, and
 * every three complete lines form one request that gets exactly one response.
 *
 * The fuzzer uses it to predict how many responses each write must produce (so a missing,
 * extra or late response is caught) and to refuse frames that could block for long.
 *
 * @module
 */

/** The longest legal request line, in bytes, before its `\n`. */
export const MAX_LINE = 256;

/** One complete request as the server sees it (trailing CRs removed). Byte strings. */
export interface Triple {
  /** The command line. */
  command: string;
  /** The key line. */
  key: string;
  /** The argument line. */
  arg: string;
}

/** What one write does to the server's reading state. */
export interface FeedResult {
  /** The requests completed by this write, in order; each gets one response line. */
  requests: Triple[];
  /** True if an over-long line ended in this write: one more `error`, then the server closes. */
  closes: boolean;
}

/** Removes all trailing carriage returns. */
function stripCr(line: string): string {
  let end = line.length;
  while (end > 0 && line.charCodeAt(end - 1) === 13) end--;
  return line.slice(0, end);
}

/** The server's reading state for one connection. */
export class ServerView {
  #lines: string[] = [];
  #partial = "";
  #discarding = false;
  #closed = false;

  /**
   * A copy with the same state, to try a frame without committing to it.
   *
   * @returns The copy.
   */
  clone(): ServerView {
    const copy = new ServerView();
    copy.#lines = [...this.#lines];
    copy.#partial = this.#partial;
    copy.#discarding = this.#discarding;
    copy.#closed = this.#closed;
    return copy;
  }

  /** True once the server has answered an over-long line and closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True while the server is discarding the rest of an over-long line. */
  get discarding(): boolean {
    return this.#discarding;
  }

  /** True between requests: no complete line and no byte of the next request read yet. */
  get atBoundary(): boolean {
    return this.#lines.length === 0 && this.#partial === "" && !this.#discarding;
  }

  /**
   * Feeds the bytes of one write.
   *
   * @param bytes A byte string (one char per byte).
   * @returns The requests it completes and whether the server closes after it.
   */
  feed(bytes: string): FeedResult {
    const requests: Triple[] = [];
    let closes = false;
    for (let i = 0; i < bytes.length && !this.#closed; i++) {
      const ch = bytes.charCodeAt(i);
      if (this.#discarding) {
        if (ch === 10) {
          this.#closed = true;
          closes = true;
        }
        continue;
      }
      if (ch === 10) {
        this.#lines.push(stripCr(this.#partial));
        this.#partial = "";
        if (this.#lines.length === 3) {
          const [command, key, arg] = this.#lines as [string, string, string];
          requests.push({ command, key, arg });
          this.#lines = [];
        }
      } else if (this.#partial.length === MAX_LINE) {
        this.#discarding = true;
        this.#partial = "";
      } else {
        this.#partial += bytes[i];
      }
    }
    return { requests, closes };
  }

  /**
   * The bytes that finish the request in progress (end the partial line, add empty lines).
   *
   * @returns Newlines only; empty at a boundary.
   */
  completion(): string {
    if (this.#closed || this.atBoundary) return "";
    if (this.#discarding) return "\n";
    const pending = this.#lines.length + (this.#partial === "" ? 0 : 1);
    return "\n".repeat(this.#partial === "" ? 3 - pending : 4 - pending);
  }
}

/** Commands whose first argument is a timeout during which the server may block. */
const BLOCKING = new Set(["l", "sl", "w", "sw"]);

/**
 * How long a request could block the connection, judged conservatively from the first run of
 * ASCII digits in its argument (the timeout, if the request parses at all).
 *
 * @param t The request.
 * @returns `none` (never blocks), `slow` (at most about 1 s) or `long` (could block longer).
 */
export function blockRisk(t: Triple): "none" | "slow" | "long" {
  if (!BLOCKING.has(t.command)) return "none";
  const m = /[0-9]+/.exec(t.arg);
  if (m === null) return "none";
  const digits = m[0].replace(/^0+/, "");
  if (digits === "") return "none";
  return digits === "1" ? "slow" : "long";
}

/** The verdict on a candidate frame. */
export interface Assessment {
  /** Safe to send: nothing blocks long, no witness key is touched, the slow budget holds. */
  ok: boolean;
  /** Requests in the frame itself that may block about 1 s. */
  slow: number;
}

/**
 * Checks a candidate frame against the connection's current state. A frame is accepted only if
 * it, and the completion that would follow it, stay safe: so a fallback always exists.
 *
 * @param view The connection's state (not modified).
 * @param frame The candidate bytes.
 * @param slowLeft How many slow requests the connection may still send.
 * @param forbiddenKeyPrefix Keys the fuzzers must never name.
 * @returns The verdict.
 */
export function assess(
  view: ServerView,
  frame: string,
  slowLeft: number,
  forbiddenKeyPrefix: string,
): Assessment {
  const trial = view.clone();
  const first = trial.feed(frame);
  const after = trial.feed(trial.completion());
  let slow = 0;
  let tail = 0;
  let ok = true;
  const check = (t: Triple, isTail: boolean): void => {
    const risk = blockRisk(t);
    if (risk === "long") ok = false;
    if (risk === "slow") isTail ? tail++ : slow++;
    if (t.key.startsWith(forbiddenKeyPrefix)) ok = false;
  };
  for (const t of first.requests) check(t, false);
  for (const t of after.requests) check(t, true);
  return { ok: ok && slow + tail <= slowLeft, slow };
}
