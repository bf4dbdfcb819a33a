/**
 * Child processes of `shared_client.ts`: the lock server it measures (the Go dflockd reference
 * binary, our own server through its CLI, or an external `DFLOCKD_ADDR`) and a throw-away
 * `redis-server` for the redis-semaphore comparison, each optionally pinned with `taskset`.
 * Also a free-port picker and a count of this process's open connections to a port (from
 * `/proc/net/tcp`, Linux only).
 *
 * @module
 */

import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import net from "node:net";
import process from "node:process";
import { parseAddr } from "./client_target.ts";
import { startTarget } from "./server_target.ts";

/** A running server the benchmark talks to. */
export interface BenchServer {
  /** Host to connect to (always loopback for the children). */
  readonly hostname: string;
  /** Port to connect to. */
  readonly port: number;
  /** What it is, for the report. */
  readonly label: string;
  /** Its version string, when known. */
  readonly version: string;
  /** Stops the child (nothing for an external server). */
  stop(): Promise<void>;
}

/** Server flags that keep the limits out of the way: many keys, no idle timeouts or GC. */
const DFLOCKD_FLAGS = [
  "--max-locks",
  "1000000",
  "--read-timeout",
  "600",
  "--gc-max-idle",
  "3600",
];

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close).
 *
 * @returns The port number.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => port > 0 ? resolve(port) : reject(new Error("no port from listen(0)")));
    });
  });
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => {
      sock.destroy();
      resolve(false);
    });
  });
}

/**
 * Spawns `argv` (under `taskset -c cpus` when given), keeps its stderr tail for messages,
 * and waits until 127.0.0.1:`port` accepts connections.
 */
export async function spawnListening(
  what: string,
  exe: string,
  args: string[],
  port: number,
  cpus: string | undefined,
  timeoutMs: number,
): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  const [cmd, argv] = cpus === undefined ? [exe, args] : ["taskset", ["-c", cpus, exe, ...args]];
  const child = spawn(cmd, argv, { stdio: ["ignore", "ignore", "pipe"] });
  let tail = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (t: string) => {
    tail = (tail + t).slice(-4096);
  });
  let exited: string | null = null;
  let spawnError: Error | null = null;
  const done = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      exited = `${code ?? signal}`;
      resolve();
    })
  );
  child.once("error", (e) => {
    spawnError = e;
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null || spawnError !== null) return;
    child.kill();
    const force = setTimeout(() => child.kill("SIGKILL"), 5000);
    await done;
    clearTimeout(force);
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (spawnError !== null) throw new Error(`${what}: ${(spawnError as Error).message}`);
    if (exited !== null) throw new Error(`${what} exited (${exited}): ${tail.trim()}`);
    if (await tryConnect(port)) return { child, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${what} did not listen on 127.0.0.1:${port} in ${timeoutMs} ms: ${tail}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function versionOf(exe: string, args: string[]): string {
  const r = spawnSync(exe, args, { encoding: "utf8", timeout: 10_000 });
  return r.status === 0 ? (r.stdout || r.stderr).trim().split("\n")[0]! : "?";
}

/** Which lock server to run against. */
export type ServerKind = "go" | "dflock";

/**
 * Starts the lock server: `DFLOCKD_ADDR` when set (nothing started), else the Go dflockd
 * binary (`kind` `go`, started on a free port picked first, because it logs the configured
 * port rather than the bound one) or our server as a child process (`serve --port 0`).
 * Both children get `--max-locks 1000000 --read-timeout 600 --gc-max-idle 3600`.
 *
 * @param kind `go` or `dflock`.
 * @param goBinary Path of the Go binary (for `go`).
 * @param cpus CPU list for `taskset -c`, or undefined.
 * @param timeoutMs How long to wait for it to listen.
 * @returns The running server.
 * @throws {Error} When it cannot be started.
 */
export async function startLockServer(
  kind: ServerKind,
  goBinary: string | undefined,
  cpus: string | undefined,
  timeoutMs: number,
): Promise<BenchServer> {
  const external = process.env.DFLOCKD_ADDR;
  if (external !== undefined && external !== "") {
    const { hostname, port } = parseAddr(external);
    return {
      hostname,
      port,
      label: `DFLOCKD_ADDR ${external}`,
      version: "?",
      stop: () => Promise.resolve(),
    };
  }
  const where = cpus === undefined ? "" : `, CPU ${cpus}`;
  if (kind === "go") {
    if (goBinary === undefined || !existsSync(goBinary)) {
      throw new Error(`--server go: no binary at ${goBinary ?? "(none: --go-server/DFLOCKD_GO)"}`);
    }
    const port = await freePort();
    const args = ["--host", "127.0.0.1", "--port", String(port), ...DFLOCKD_FLAGS];
    const { stop } = await spawnListening("Go dflockd", goBinary, args, port, cpus, timeoutMs);
    return {
      hostname: "127.0.0.1",
      port,
      label: `Go dflockd ${goBinary} (child process${where})`,
      version: versionOf(goBinary, ["--version"]),
      stop,
    };
  }
  const child = await startTarget("server", {
    cpus,
    serverArgs: DFLOCKD_FLAGS,
    startTimeoutMs: timeoutMs,
  });
  return {
    hostname: "127.0.0.1",
    port: child.port,
    label: `dflock server (child process${where})`,
    version: "source",
    stop: () => child.stop(),
  };
}

/**
 * Starts `redis-server` on a free loopback port without persistence.
 *
 * @param cpus CPU list for `taskset -c`, or undefined.
 * @param timeoutMs How long to wait for it to listen.
 * @param exe The redis-server executable.
 * @returns The running server, or a string saying why it could not run.
 */
export async function startRedis(
  cpus: string | undefined,
  timeoutMs: number,
  exe = "redis-server",
): Promise<BenchServer | string> {
  const version = versionOf(exe, ["--version"]);
  if (version === "?") return `${exe} not found or not runnable`;
  const port = await freePort();
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--daemonize",
    "no",
  ];
  try {
    const { stop } = await spawnListening("redis-server", exe, args, port, cpus, timeoutMs);
    const where = cpus === undefined ? "" : `, CPU ${cpus}`;
    return { hostname: "127.0.0.1", port, label: `redis-server (child${where})`, version, stop };
  } catch (e) {
    return `redis-server failed to start: ${(e as Error).message}`;
  }
}

/**
 * Established TCP connections from this machine to 127.0.0.1:`port` whose client side is in
 * this process's network namespace (`/proc/net/tcp` and `tcp6`; both ends of a loopback
 * connection are listed, only the side whose remote port is `port` is counted).
 *
 * @param port The server port.
 * @returns The count, or null when `/proc/net/tcp` is not readable.
 */
export function connectionsTo(port: number): number | null {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  let count = 0;
  let readable = false;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    readable = true;
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4) continue;
      if (f[3] === "01" && f[2]!.endsWith(`:${hex}`)) count++;
    }
  }
  return readable ? count : null;
}
