/**
 * The RSS churn probe (`rss_churn.ts`): does the server's resident memory after load stay
 * bounded, and is it reclaimable? The server runs embedded in a child process
 * (`_rss_server.ts`) that reports `process.memoryUsage()` and can force a full garbage
 * collection; this process drives the load.
 *
 * One churn round: `holds` connections each acquire their own key and hold it (the same keys
 * every round), the memory is sampled with all of them held (peak), they disconnect; then
 * `loadConnections` x `loadRounds` acquire+release pairs on own keys (also the same every round);
 * after `settleMs` the memory is sampled again (after). After the last round a forced full GC
 * (where the runtime allows one) and, `settleMs` later, a last sample.
 *
 * @module
 */

import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { runLoad } from "./load.ts";
import { openHolds } from "./server_hold.ts";
import { scriptCommand } from "./_vs_go.ts";
import type { Runtime, RuntimeBins } from "./_vs_go.ts";

/** One memory sample of the server process, bytes. */
export interface MemSample {
  /** Resident set size. */
  rss: number;
  /** JS heap reserved. */
  heapTotal: number;
  /** JS heap in use. */
  heapUsed: number;
  /** Memory of C++ objects bound to JS objects (buffers among them). */
  external: number;
  /** Of which `ArrayBuffer`s and `Buffer`s. */
  arrayBuffers: number;
  /** Whether a forced full GC ran just before. */
  gc: boolean;
}

/** The server child with its memory probe. */
export interface MemServer {
  /** Port on 127.0.0.1. */
  readonly port: number;
  /** Current memory. */
  mem(): Promise<MemSample>;
  /** Memory right after a forced full GC (`gc: false` when the runtime allows none). */
  gc(): Promise<MemSample>;
  /** Ends its stdin (it closes the server and exits); resolves on exit. */
  stop(): Promise<void>;
}

/**
 * The command line of the probe child on a runtime, with GC exposed on Node and Deno.
 *
 * @param runtime The runtime.
 * @param root The repository root.
 * @param bins The runtimes' executables.
 * @param v8Flags More V8 flags for Node and Deno (e.g. `--max-semi-space-size=1`); Bun has none.
 * @returns Executable and arguments.
 */
export function memServerCommand(
  runtime: Runtime,
  root: string,
  bins: RuntimeBins,
  v8Flags: readonly string[] = [],
): [string, string[]] {
  const [exe, args] = scriptCommand(runtime, root, "bench/_rss_server", bins);
  const flags = ["--expose-gc", ...v8Flags];
  if (runtime === "node") return [exe, [...flags, ...args]];
  if (runtime === "deno") {
    return [exe, ["run", "-A", `--v8-flags=${flags.join(",")}`, ...args.slice(2)]];
  }
  return [exe, args];
}

/**
 * Starts the probe child and waits until it listens.
 *
 * @param cmd Its command line ({@linkcode memServerCommand}), maybe under `taskset`.
 * @param cwd Working directory.
 * @param timeoutMs How long to wait for it, and for each answer.
 * @returns The running child.
 * @throws {Error} When it exits or stays silent.
 */
export function startMemServer(
  cmd: [string, string[]],
  cwd: string,
  timeoutMs: number,
): Promise<MemServer> {
  const child: ChildProcess = spawn(cmd[0], cmd[1], { cwd, stdio: ["pipe", "pipe", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  let stdout = "";
  const waiting: ((line: string) => void)[] = [];
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (text: string) => {
    stdout += text;
    for (let nl = stdout.indexOf("\n"); nl >= 0; nl = stdout.indexOf("\n")) {
      const line = stdout.slice(0, nl);
      stdout = stdout.slice(nl + 1);
      waiting.shift()?.(line);
    }
  });
  child.stdin!.on("error", () => {});
  const ask = (command: string): Promise<MemSample> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no answer to ${command} in ${timeoutMs} ms`)),
        timeoutMs,
      );
      waiting.push((line) => {
        clearTimeout(timer);
        const doc = JSON.parse(line) as MemSample & { error?: string };
        if (doc.error !== undefined) reject(new Error(doc.error));
        else resolve(doc);
      });
      child.stdin!.write(command + "\n");
    });
  return new Promise((resolve, reject) => {
    let stderr = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`probe server did not listen in ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    const onExit = (code: number | null): void => {
      clearTimeout(timer);
      reject(new Error(`probe server exited (${code}): ${stderr}`));
    };
    child.once("exit", onExit);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.stderr!.setEncoding("utf8");
    let found = false;
    child.stderr!.on("data", (text: string) => {
      if (found) return; // Keep draining.
      stderr = (stderr + text).slice(-8192);
      const m = /listening on \S+:(\d+)/.exec(stderr);
      if (m === null) return;
      found = true;
      clearTimeout(timer);
      child.off("exit", onExit);
      resolve({
        port: Number(m[1]),
        mem: () => ask("mem"),
        gc: () => ask("gc"),
        async stop(): Promise<void> {
          child.stdin!.end();
          const force = setTimeout(() => child.kill("SIGKILL"), 10_000);
          await exited;
          clearTimeout(force);
        },
      });
    });
  });
}

/** Options of {@linkcode runChurn}. */
export interface ChurnOptions {
  /** Churn rounds. */
  rounds: number;
  /** Connections holding a lock in each round. */
  holds: number;
  /** Load connections per round. */
  loadConnections: number;
  /** Pairs per load connection. */
  loadRounds: number;
  /** Pause before each `after` sample, ms. */
  settleMs: number;
  /** Bound on one round's holds or load, ms. */
  timeLimitMs: number;
}

/** What {@linkcode runChurn} measured. */
export interface ChurnResult {
  /** After a warm-up (a tenth of a round), settled. */
  idle: MemSample;
  /** Per round: with every hold open. */
  peak: MemSample[];
  /** Per round: after the holds closed and the load ran, settled. */
  after: MemSample[];
  /** After the rounds: right after a forced GC. */
  gc: MemSample;
  /** `settleMs` after that. */
  gcSettled: MemSample;
}

function settle(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function round(
  server: MemServer,
  options: ChurnOptions,
  holds: number,
  rounds: number,
): Promise<{ peak: MemSample; after: MemSample }> {
  const held = await openHolds({
    port: server.port,
    connections: holds,
    keyPrefix: "churn",
    timeLimitMs: options.timeLimitMs,
  });
  let peak: MemSample;
  try {
    peak = await server.mem();
  } finally {
    await held.close();
  }
  await runLoad({
    port: server.port,
    connections: options.loadConnections,
    rounds,
    keyPrefix: "churn-load",
    timeLimitMs: options.timeLimitMs,
  });
  await settle(options.settleMs);
  return { peak, after: await server.mem() };
}

/**
 * Runs the churn rounds against a probe server.
 *
 * @param server The probe child.
 * @param options Sizes and pauses.
 * @returns Every sample.
 */
export async function runChurn(server: MemServer, options: ChurnOptions): Promise<ChurnResult> {
  await round(
    server,
    options,
    Math.max(1, Math.ceil(options.holds / 10)),
    Math.max(1, Math.ceil(options.loadRounds / 10)),
  );
  const idle = await server.mem();
  const peak: MemSample[] = [];
  const after: MemSample[] = [];
  for (let i = 0; i < options.rounds; i++) {
    const r = await round(server, options, options.holds, options.loadRounds);
    peak.push(r.peak);
    after.push(r.after);
  }
  const gc = await server.gc();
  await settle(options.settleMs);
  const gcSettled = await server.mem();
  return { idle, peak, after, gc, gcSettled };
}
