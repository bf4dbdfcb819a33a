/**
 * Starting dflock's server for a conformance scenario: embedded (`serve()`) or as a CLI
 * process, plus the `startup_failure` check. Both kinds sit behind {@linkcode ServerHandle}.
 *
 * @module
 */

import { spawn } from "node:child_process";
import net from "node:net";
import { join } from "node:path";
import process from "node:process";
import { serve } from "../../src/server/mod.ts";
import type { ServerOptions } from "../../src/server/options.ts";
import { type CliResult, runCli, startCli } from "../_helpers/cli_process.ts";
import type { Scenario, ScenarioServer } from "./replayer.ts";

/** A running server under test. */
export interface ServerHandle {
  /** Listening port on 127.0.0.1. */
  readonly port: number;
  /**
   * Sends a signal (process mode only).
   *
   * @throws {Error} for an embedded server
   */
  signal(name: string): void;
  /** Waits up to `ms` for the process to exit; its exit code, or undefined if still running. */
  waitExit(ms: number): Promise<number | undefined>;
  /** Stops the server (if still running); a problem description, or null when it went fine. */
  stop(): Promise<string | null>;
  /** The last lines the server logged, for failure messages. */
  logTail(): string;
}

const FILE_OPTIONS = new Set(["tls_cert", "tls_key", "auth_token_file"]);
const STOP_TIMEOUT_MS = 5000;
const LOG_TAIL_LINES = 30;

function camel(name: string): string {
  return name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
}

function serverOptions(server: ScenarioServer | undefined): [string, string | number | boolean][] {
  const out: [string, string | number | boolean][] = [];
  for (const [key, value] of Object.entries(server ?? {})) {
    if (key === "env" || typeof value === "object") continue;
    out.push([key, value]);
  }
  return out;
}

function tail(text: string): string {
  return text.trimEnd().split("\n").slice(-LOG_TAIL_LINES).join("\n");
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Starts the server embedded in this process on 127.0.0.1 with a free port.
 *
 * @param scenario the scenario (its `server` options are mapped onto {@linkcode ServerOptions})
 * @param fixtures directory of the fixture files
 * @returns the running server
 */
export async function startInProcess(scenario: Scenario, fixtures: string): Promise<ServerHandle> {
  const log: string[] = [];
  const options: Record<string, unknown> = {
    host: "127.0.0.1",
    port: 0,
    log: (line: string) => {
      log.push(line);
      if (log.length > LOG_TAIL_LINES) log.shift();
    },
  };
  for (const [key, value] of serverOptions(scenario.server)) {
    options[camel(key)] = FILE_OPTIONS.has(key) ? join(fixtures, String(value)) : value;
  }
  const server = await serve(options as ServerOptions);
  let stopped = false;
  return {
    port: server.addr.port,
    signal(name: string): void {
      throw new Error(`cannot send ${name} to an embedded server`);
    },
    waitExit(): Promise<number | undefined> {
      return Promise.reject(new Error("an embedded server has no exit code"));
    },
    async stop(): Promise<string | null> {
      if (stopped) return null;
      stopped = true;
      const result = await withTimeout(server.close(), STOP_TIMEOUT_MS);
      return result === "timeout"
        ? `server.close() did not finish within ${STOP_TIMEOUT_MS} ms after all clients left`
        : null;
    },
    logTail: () => log.join("\n"),
  };
}

/**
 * The command line flags for a scenario: `--flag value`, booleans as `--flag=true/false`.
 *
 * @param server the scenario's server options
 * @param fixtures directory of the fixture files
 * @returns flags (without the subcommand, host and port)
 */
export function scenarioFlags(server: ScenarioServer | undefined, fixtures: string): string[] {
  const flags: string[] = [];
  for (const [key, value] of serverOptions(server)) {
    const flag = `--${key.replaceAll("_", "-")}`;
    if (typeof value === "boolean") flags.push(`${flag}=${value}`);
    else flags.push(flag, FILE_OPTIONS.has(key) ? join(fixtures, String(value)) : String(value));
  }
  return flags;
}

/**
 * The scenario's environment variables for the server process (the CLI helper drops every
 * inherited `DFLOCKD_*` variable).
 *
 * @param server the scenario's server options
 * @returns environment variables to add
 */
export function scenarioEnv(server: ScenarioServer | undefined): Record<string, string> {
  const extra = server?.env;
  return typeof extra === "object" ? { ...extra } : {};
}

function serveArgs(scenario: Scenario, fixtures: string): string[] {
  return [
    "serve",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    ...scenarioFlags(scenario.server, fixtures),
  ];
}

/**
 * Starts the server as a CLI process (`serve --host 127.0.0.1 --port 0 ...`), waiting for its
 * `listening on` line (no probe connection).
 *
 * @param scenario the scenario
 * @param fixtures directory of the fixture files
 * @returns the running server
 */
export async function startProcess(scenario: Scenario, fixtures: string): Promise<ServerHandle> {
  const cli = await startCli(serveArgs(scenario, fixtures), { env: scenarioEnv(scenario.server) });
  let exitCode: number | undefined;
  const exited = cli.exited.then(
    (exit) => (exitCode = exit.code ?? -1),
    () => (exitCode = -1),
  );
  return {
    port: cli.port,
    signal(name: string): void {
      cli.signal(name as "SIGTERM" | "SIGINT" | "SIGKILL");
    },
    async waitExit(ms: number): Promise<number | undefined> {
      const result = await withTimeout(exited, ms);
      return result === "timeout" ? undefined : result;
    },
    async stop(): Promise<string | null> {
      if (exitCode !== undefined) return null;
      cli.signal("SIGKILL");
      await withTimeout(exited, STOP_TIMEOUT_MS);
      return null;
    },
    logTail: () => tail(cli.stderrText()),
  };
}

/**
 * Runs a `startup_failure` scenario: the server must exit with the given code within the time
 * limit, its output containing each expected string.
 *
 * @param scenario the scenario (with `startup_failure`)
 * @param fixtures directory of the fixture files
 * @param slowdown multiplier for the time limit
 * @returns null when it behaved, otherwise the reason
 */
export async function startupFailure(
  scenario: Scenario,
  fixtures: string,
  slowdown: number,
): Promise<string | null> {
  const want = scenario.startup_failure;
  if (want === undefined) return "not a startup_failure scenario";
  const includes = typeof want.stderr_includes === "string"
    ? [want.stderr_includes]
    : want.stderr_includes;
  const ms = (want.within_ms ?? 5000) * slowdown;
  let result: CliResult;
  try {
    result = await runCli(serveArgs(scenario, fixtures), {
      env: scenarioEnv(scenario.server),
      timeoutMs: ms,
    });
  } catch (err) {
    return `the server did not exit as expected: ${(err as Error).message}`;
  }
  const output = result.stdout + result.stderr;
  const problems: string[] = [];
  if (result.code !== want.code) {
    problems.push(`exit code ${result.code ?? result.signal}, expected ${want.code}`);
  }
  for (const s of includes) {
    if (!output.includes(s)) problems.push(`output lacks ${JSON.stringify(s)}`);
  }
  return problems.length === 0
    ? null
    : `${problems.join("; ")}; output: ${JSON.stringify(tail(output))}`;
}

// ---- an external server binary (the Go reference), for checking scenarios by hand ----

/** Asks the kernel for a free port on 127.0.0.1 (a listener opened and closed at once). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

interface ExternalProcess {
  readonly exited: Promise<number>;
  output(): string;
  signal(name: string): void;
}

function spawnExternal(binary: string, args: string[], env: Record<string, string>) {
  const clean: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("DFLOCKD_")) clean[name] = value;
  }
  const child = spawn(binary, args, {
    env: { ...clean, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.setEncoding("utf8");
  child.stderr?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => output += chunk);
  child.stderr?.on("data", (chunk: string) => output += chunk);
  const exited = new Promise<number>((resolve) => {
    child.once("error", () => resolve(-1));
    child.once("close", (code) => resolve(code ?? -1));
  });
  const proc: ExternalProcess = {
    exited,
    output: () => output,
    signal(name: string): void {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(child.pid, name);
      } catch {
        // Already gone.
      }
    },
  };
  return { child, proc };
}

function externalArgs(port: number, scenario: Scenario, fixtures: string): string[] {
  return [
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    ...scenarioFlags(scenario.server, fixtures),
  ];
}

/**
 * Starts an external server binary that takes the Go server's flags (the reference Go dflockd
 * built by `shared/reference/build.sh`) on a free port, and waits for its `listening` log line
 * (the Go server logs it once its listener is open; no probe connection).
 *
 * @param binary path of the server executable
 * @param scenario the scenario
 * @param fixtures directory of the fixture files
 * @returns the running server
 * @throws {Error} when it exits or does not log `listening` within 10 s
 */
export async function startExternal(
  binary: string,
  scenario: Scenario,
  fixtures: string,
): Promise<ServerHandle> {
  const port = await freePort();
  const { child, proc } = spawnExternal(
    binary,
    externalArgs(port, scenario, fixtures),
    scenarioEnv(scenario.server),
  );
  let exitCode: number | undefined;
  void proc.exited.then((code) => exitCode = code);
  const listening = new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (/listening/.test(proc.output())) resolve();
    };
    child.stderr?.on("data", check);
    child.stdout?.on("data", check);
    void proc.exited.then((code) => reject(new Error(`exited (${code}): ${proc.output()}`)));
  });
  listening.catch(() => {}); // a late exit after a timeout is reported by the timeout
  const started = await withTimeout(listening, 10_000);
  if (started === "timeout") {
    proc.signal("SIGKILL");
    throw new Error(`no listening line within 10 s: ${proc.output()}`);
  }
  return {
    port,
    signal: (name: string) => proc.signal(name),
    async waitExit(ms: number): Promise<number | undefined> {
      const result = await withTimeout(proc.exited, ms);
      return result === "timeout" ? undefined : result;
    },
    async stop(): Promise<string | null> {
      if (exitCode !== undefined) return null;
      proc.signal("SIGKILL");
      await withTimeout(proc.exited, STOP_TIMEOUT_MS);
      return null;
    },
    logTail: () => tail(proc.output()),
  };
}

/**
 * {@linkcode startupFailure} for an external server binary.
 *
 * @param binary path of the server executable
 * @param scenario the scenario (with `startup_failure`)
 * @param fixtures directory of the fixture files
 * @param slowdown multiplier for the time limit
 * @returns null when it behaved, otherwise the reason
 */
export async function externalStartupFailure(
  binary: string,
  scenario: Scenario,
  fixtures: string,
  slowdown: number,
): Promise<string | null> {
  const want = scenario.startup_failure;
  if (want === undefined) return "not a startup_failure scenario";
  const includes = typeof want.stderr_includes === "string"
    ? [want.stderr_includes]
    : want.stderr_includes;
  const { proc } = spawnExternal(
    binary,
    externalArgs(await freePort(), scenario, fixtures),
    scenarioEnv(scenario.server),
  );
  const code = await withTimeout(proc.exited, (want.within_ms ?? 5000) * slowdown);
  if (code === "timeout") {
    proc.signal("SIGKILL");
    await proc.exited;
    return `the server did not exit: ${JSON.stringify(tail(proc.output()))}`;
  }
  const problems: string[] = [];
  if (code !== want.code) problems.push(`exit code ${code}, expected ${want.code}`);
  for (const s of includes) {
    if (!proc.output().includes(s)) problems.push(`output lacks ${JSON.stringify(s)}`);
  }
  return problems.length === 0
    ? null
    : `${problems.join("; ")}; output: ${JSON.stringify(tail(proc.output()))}`;
}
