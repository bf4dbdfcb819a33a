/**
 * Conformance replayer: runs one golden scenario (FORMAT.md) against dflock's own server,
 * either embedded in the test process (`serve()`) or as a CLI process, and throws a
 * {@linkcode ReplayError} naming the scenario, the step and what arrived when it fails.
 *
 * @module
 */

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  type Bindings,
  matchLine,
  matchStatsLine,
  newBindings,
  substituteTokens,
} from "./matcher.ts";
import { ReplayConn } from "./replay_conn.ts";
import {
  externalStartupFailure,
  type ServerHandle,
  startExternal,
  startInProcess,
  startProcess,
  startupFailure,
} from "./servers.ts";

/** Server options of a scenario: Go flag names with `_`, plus `env`. */
export type ScenarioServer = Record<string, string | number | boolean | Record<string, string>>;

/** One step of a scenario (see FORMAT.md, "Steps"). */
export interface Step {
  /** Connection the step acts on (opened on first use). */
  conn?: string;
  /** Lines to write, each followed by `\n`, as one write. */
  send?: string[];
  /** Text to write exactly (UTF-8). */
  send_raw?: string;
  /** Bytes to write, in hex (spaces ignored). */
  send_hex?: string;
  /** Pattern for the next response line. */
  expect?: string;
  /** JSON template for the next line (`ok ` + JSON). */
  expect_stats?: unknown;
  /** Nothing may arrive for this many ms. */
  expect_silence_ms?: number;
  /** The server must close the connection. */
  expect_closed?: boolean;
  /** With `expect_closed`: bytes before the close are allowed. */
  ignore_data?: boolean;
  /** Open this connection now. */
  connect?: string;
  /** Close this connection completely. */
  close?: string;
  /** Half-close this connection. */
  shutdown?: string;
  /** Wait this long. */
  sleep_ms?: number;
  /** Signal to send to the server process. */
  signal?: string;
  /** A new connection attempt must be refused. */
  expect_connect_refused?: string;
  /** The server process must exit with this code. */
  expect_server_exit?: { code: number };
  /** Upper time bound for the check. */
  within_ms?: number;
  /** `false`: open the connection as plain TCP even on a TLS server. */
  tls?: boolean;
}

/** A golden scenario file. */
export interface Scenario {
  /** Same as the file name without `.json`. */
  name: string;
  /** What the scenario pins down. */
  about: string;
  /** Server options that differ from the defaults. */
  server?: ScenarioServer;
  /** The script. */
  steps?: Step[];
  /** Instead of steps: the server must refuse to start. */
  startup_failure?: { code: number; stderr_includes: string | string[]; within_ms?: number };
}

/** How to run the server for a scenario. */
export type ReplayMode = "in-process" | "process";

/** Replay settings. */
export interface ReplayOptions {
  /** Multiplier for `within_ms` upper bounds (never for silence). @default {2} */
  slowdown?: number;
  /** Force a mode; by default a process is used only where the scenario needs one. */
  mode?: ReplayMode;
  /**
   * Run the scenario against this server executable instead of dflock's own server: a
   * binary that takes the Go server's flags, such as the reference Go dflockd built by
   * `shared/reference/build.sh` (to check a hand-written scenario against the real thing).
   */
  external?: string;
}

/** A failed scenario, with the scenario name and (when it applies) the step index. */
export class ReplayError extends Error {
  /** Scenario name. */
  readonly scenario: string;
  /** Index of the failing step, or -1 for setup and the end-of-scenario check. */
  readonly step: number;

  /**
   * @param scenario scenario name
   * @param step step index or -1
   * @param message what went wrong
   */
  constructor(scenario: string, step: number, message: string) {
    super(`${scenario}: ${step >= 0 ? `step ${step}: ` : ""}${message}`);
    this.name = "ReplayError";
    this.scenario = scenario;
    this.step = step;
  }
}

/** Failure inside a step; the runner adds scenario and step. */
class StepFailure extends Error {}

const DEFAULT_WITHIN_MS = 2000;
const DEFAULT_EXIT_WITHIN_MS = 5000;
const CONNECT_TIMEOUT_MS = 5000;

/**
 * The conformance directory (holding `scenarios/` and `fixtures/`): next to this file, or
 * under the working directory when running from a build output that lacks the data files.
 *
 * @returns absolute path
 * @throws {Error} when neither place has the scenarios
 */
export function conformanceDir(): string {
  const candidates = [
    fileURLToPath(new URL(".", import.meta.url)),
    join(process.cwd(), "tests", "conformance"),
  ];
  for (const dir of candidates) {
    if (existsSync(join(dir, "scenarios"))) return dir;
  }
  throw new Error(`conformance scenarios not found in ${candidates.join(" or ")}`);
}

/**
 * Reads every scenario file, sorted by name.
 *
 * @param dir the conformance directory
 * @param subdir the folder under `dir` to read: `scenarios` (the golden transcripts recorded
 *   from the Go server) or `scenarios/derived` (written by hand from the Go source, see the
 *   README there)
 * @returns the scenarios
 */
export function loadScenarios(
  dir: string = conformanceDir(),
  subdir: string = "scenarios",
): Scenario[] {
  const scenarioDir = join(dir, subdir);
  return readdirSync(scenarioDir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(scenarioDir, f), "utf8")) as Scenario);
}

/**
 * Whether a scenario needs a real server process (signals, exit codes, environment,
 * startup failures).
 *
 * @param s the scenario
 * @returns true when it must run as a process
 */
export function needsProcess(s: Scenario): boolean {
  if (s.startup_failure !== undefined || s.server?.env !== undefined) return true;
  return (s.steps ?? []).some((step) =>
    step.signal !== undefined || step.expect_server_exit !== undefined
  );
}

/**
 * The `within_ms` multiplier from `DFLOCK_CONFORMANCE_SLOWDOWN` (default 2).
 *
 * @returns the multiplier
 */
export function slowdownFromEnv(): number {
  const raw = process.env.DFLOCK_CONFORMANCE_SLOWDOWN;
  const value = raw === undefined || raw === "" ? 2 : Number(raw);
  return Number.isFinite(value) && value > 0 ? value : 2;
}

function stepText(step: Step): string {
  const text = JSON.stringify(step);
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

function hexBytes(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, "");
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(clean)) throw new StepFailure(`bad send_hex ${hex}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** State of one scenario run. */
class Run {
  readonly scenario: Scenario;
  readonly server: ServerHandle;
  readonly slowdown: number;
  readonly bindings: Bindings = newBindings();
  readonly conns = new Map<string, ReplayConn>();
  readonly useTls: boolean;

  constructor(scenario: Scenario, server: ServerHandle, slowdown: number) {
    this.scenario = scenario;
    this.server = server;
    this.slowdown = slowdown;
    this.useTls = scenario.server?.tls_cert !== undefined;
  }

  within(step: Step, fallback: number): number {
    return (step.within_ms ?? fallback) * this.slowdown;
  }

  async open(name: string, tlsFlag: boolean | undefined): Promise<ReplayConn> {
    if (this.conns.has(name)) throw new StepFailure(`connection ${name} is already open`);
    const conn = await ReplayConn.open(
      name,
      this.server.port,
      this.useTls && tlsFlag !== false,
      CONNECT_TIMEOUT_MS * this.slowdown,
    ).catch((err: Error) => {
      throw new StepFailure(err.message);
    });
    this.conns.set(name, conn);
    return conn;
  }

  async conn(step: Step): Promise<ReplayConn> {
    const name = step.conn ?? "";
    const conn = this.conns.get(name);
    if (conn !== undefined) {
      if (conn.clientClosed) throw new StepFailure(`connection ${name} was closed by the client`);
      return conn;
    }
    return await this.open(name, step.tls);
  }

  existing(name: string): ReplayConn {
    const conn = this.conns.get(name);
    if (conn === undefined) throw new StepFailure(`connection ${name} was never opened`);
    return conn;
  }

  async runStep(step: Step): Promise<void> {
    if (step.connect !== undefined) await this.open(step.connect, step.tls);
    if (step.close !== undefined) this.existing(step.close).destroy();
    if (step.shutdown !== undefined) this.existing(step.shutdown).shutdown();
    if (step.sleep_ms !== undefined) await delay(step.sleep_ms);
    if (step.signal !== undefined) this.server.signal(step.signal);
    if (step.expect_connect_refused !== undefined) await this.expectRefused(step);
    if (step.expect_server_exit !== undefined) await this.expectExit(step);
    if (step.conn === undefined) return;
    const conn = await this.conn(step);
    await this.send(conn, step);
    if (step.expect !== undefined) await this.expectLine(conn, step, step.expect);
    if (step.expect_stats !== undefined) await this.expectLine(conn, step, step.expect_stats);
    if (step.expect_silence_ms !== undefined) await this.expectSilence(conn, step);
    if (step.expect_closed === true) await this.expectClosed(conn, step);
  }

  async send(conn: ReplayConn, step: Step): Promise<void> {
    let bytes: Uint8Array | undefined;
    const encoder = new TextEncoder();
    try {
      if (step.send !== undefined) {
        const text = step.send.map((line) => `${substituteTokens(line, this.bindings)}\n`);
        bytes = encoder.encode(text.join(""));
      } else if (step.send_raw !== undefined) {
        bytes = encoder.encode(substituteTokens(step.send_raw, this.bindings));
      } else if (step.send_hex !== undefined) {
        bytes = hexBytes(step.send_hex);
      }
    } catch (err) {
      throw new StepFailure((err as Error).message);
    }
    if (bytes !== undefined) await conn.write(bytes);
  }

  async expectLine(conn: ReplayConn, step: Step, pattern: unknown): Promise<void> {
    const stats = typeof pattern !== "string";
    const shown = JSON.stringify(pattern);
    const ms = this.within(step, DEFAULT_WITHIN_MS);
    await conn.waitUntil(() => conn.hasLine || conn.state !== "open", ms);
    const line = conn.takeLine();
    if (line === undefined) {
      const why = conn.state === "open" ? `nothing within ${ms} ms` : "connection closed";
      throw new StepFailure(
        `${conn.name}: expected ${shown}, got no line (${why}; ${conn.describeUnread()})`,
      );
    }
    const why = stats
      ? matchStatsLine(pattern, line, this.bindings)
      : matchLine(pattern, line, this.bindings);
    if (why !== null) {
      throw new StepFailure(
        `${conn.name}: expected ${shown}, got ${JSON.stringify(line)} (${why})`,
      );
    }
  }

  async expectSilence(conn: ReplayConn, step: Step): Promise<void> {
    const ms = step.expect_silence_ms ?? 0;
    if (conn.hasUnread || conn.state !== "open") {
      throw new StepFailure(
        `${conn.name}: expected ${ms} ms of silence, but already have ${conn.describeUnread()}`,
      );
    }
    const start = conn.arrivals;
    const started = performance.now();
    if (await conn.waitUntil(() => conn.arrivals !== start, ms)) {
      const after = Math.round(performance.now() - started);
      throw new StepFailure(
        `${conn.name}: expected ${ms} ms of silence, but after ${after} ms got ${conn.describeUnread()}`,
      );
    }
  }

  async expectClosed(conn: ReplayConn, step: Step): Promise<void> {
    const ms = this.within(step, DEFAULT_WITHIN_MS);
    const ignore = step.ignore_data === true;
    const ready = (): boolean => conn.state !== "open" || (!ignore && conn.hasUnread);
    await conn.waitUntil(ready, ms);
    if (ignore) conn.discard();
    if (conn.hasUnread) {
      throw new StepFailure(`${conn.name}: expected a close, got ${conn.describeUnread()}`);
    }
    if (conn.state === "open") {
      throw new StepFailure(`${conn.name}: expected a close within ${ms} ms; still open`);
    }
  }

  async expectRefused(step: Step): Promise<void> {
    const result = await ReplayConn.probeRefused(
      this.server.port,
      this.within(step, DEFAULT_WITHIN_MS),
    );
    if (!result.startsWith("refused")) {
      throw new StepFailure(`expected the connection attempt to be refused, got ${result}`);
    }
  }

  async expectExit(step: Step): Promise<void> {
    const want = step.expect_server_exit?.code;
    const ms = this.within(step, DEFAULT_EXIT_WITHIN_MS);
    const code = await this.server.waitExit(ms);
    if (code === undefined) throw new StepFailure(`expected server exit ${want} within ${ms} ms`);
    if (code !== want) throw new StepFailure(`expected server exit code ${want}, got ${code}`);
  }

  async finalCheck(): Promise<void> {
    await delay(20);
    for (const conn of this.conns.values()) {
      if (conn.clientClosed || !conn.hasUnread) continue;
      throw new StepFailure(`unexpected data left on ${conn.name}: ${conn.describeUnread()}`);
    }
  }

  destroyAll(): void {
    for (const conn of this.conns.values()) conn.destroy();
  }
}

/**
 * Runs one scenario against dflock's server.
 *
 * @param scenario the scenario
 * @param options replay settings
 * @returns once the scenario passed
 * @throws {ReplayError} when it fails
 */
export async function runScenario(scenario: Scenario, options: ReplayOptions = {}): Promise<void> {
  const slowdown = options.slowdown ?? slowdownFromEnv();
  const dir = conformanceDir();
  const fixtures = join(dir, "fixtures");
  const external = options.external;
  if (scenario.startup_failure !== undefined) {
    const why = external === undefined
      ? await startupFailure(scenario, fixtures, slowdown)
      : await externalStartupFailure(external, scenario, fixtures, slowdown);
    if (why !== null) throw new ReplayError(scenario.name, -1, why);
    return;
  }
  const mode = options.mode ?? (needsProcess(scenario) ? "process" : "in-process");
  let server: ServerHandle;
  try {
    server = external !== undefined
      ? await startExternal(external, scenario, fixtures)
      : mode === "process"
      ? await startProcess(scenario, fixtures)
      : await startInProcess(scenario, fixtures);
  } catch (err) {
    throw new ReplayError(scenario.name, -1, `server did not start: ${(err as Error).message}`);
  }
  const run = new Run(scenario, server, slowdown);
  let failure: ReplayError | undefined;
  const steps = scenario.steps ?? [];
  let index = 0;
  try {
    for (; index < steps.length; index++) {
      const step = steps[index];
      if (step !== undefined) await run.runStep(step);
    }
    index = -1;
    await run.finalCheck();
  } catch (err) {
    const step = index >= 0 ? steps[index] : undefined;
    const where = step === undefined ? "" : `${stepText(step)}: `;
    const message = err instanceof StepFailure ? err.message : String((err as Error)?.stack ?? err);
    failure = new ReplayError(scenario.name, index, `${where}${message}`);
  } finally {
    run.destroyAll();
  }
  const stopProblem = await server.stop();
  if (failure !== undefined) {
    const log = server.logTail();
    if (log !== "") failure.message += `\n--- server log (tail) ---\n${log}`;
    throw failure;
  }
  if (stopProblem !== null) throw new ReplayError(scenario.name, -1, stopProblem);
}
