/**
 * The server the client benchmark talks to: the one named by `DFLOCKD_ADDR=host:port`, or
 * else the project's server started as a child process on the current runtime
 * (`src/cli/main.ts serve --port 0`, port read from its `listening on HOST:PORT` stderr line).
 *
 * @module
 */

import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { detectRuntime } from "../src/transport/auto.ts";
import { waitForListening } from "./server_target.ts";

/** A running benchmark target. */
export interface ServerTarget {
  /** Host to connect to. */
  hostname: string;
  /** Port to connect to. */
  port: number;
  /** What it is, for the report: `dflock (deno child)` or `DFLOCKD_ADDR host:port`. */
  label: string;
  /** Stops the child process (nothing for an external server). */
  stop(): Promise<void>;
}

/**
 * Parses `host:port` (`[v6]:port` allowed).
 *
 * @param addr The address.
 * @returns Host and port.
 * @throws {RangeError} When malformed.
 */
export function parseAddr(addr: string): { hostname: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(addr.trim());
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`DFLOCKD_ADDR: expected host:port, got ${JSON.stringify(addr)}`);
  }
  return { hostname: m[1]!, port };
}

/** Path of a source file relative to this one: `.ts` from source, `.js` from the build. */
function sourcePath(relative: string): string {
  const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  return fileURLToPath(new URL(relative + ext, import.meta.url));
}

/**
 * Starts the benchmark target: `DFLOCKD_ADDR` when set, else our server as a child process.
 *
 * @param startTimeoutMs How long to wait for the child's `listening on` line.
 * @param cpus When given, the child runs under `taskset -c cpus`.
 * @returns The target.
 * @throws {Error} When the child exits or does not report its port in time.
 */
export async function startTarget(startTimeoutMs: number, cpus?: string): Promise<ServerTarget> {
  const external = process.env.DFLOCKD_ADDR;
  if (external !== undefined && external !== "") {
    const { hostname, port } = parseAddr(external);
    return { hostname, port, label: `DFLOCKD_ADDR ${external}`, stop: () => Promise.resolve() };
  }
  const runtime = detectRuntime();
  const main = sourcePath("../src/cli/main");
  const args = runtime === "deno"
    ? ["run", "-A", main, "serve", "--port", "0"]
    : [main, "serve", "--port", "0"];
  const [exe, argv] = cpus === undefined
    ? [process.execPath, args]
    : ["taskset", ["-c", cpus, process.execPath, ...args]];
  const child: ChildProcess = spawn(exe, argv, { stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const { hostname, port } = await waitForListening(child, "server child", startTimeoutMs);
  return {
    hostname,
    port,
    label: `dflock server (${runtime} child process${cpus === undefined ? "" : `, CPU ${cpus}`})`,
    async stop(): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill();
      const force = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(force);
    },
  };
}
