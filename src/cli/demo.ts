/**
 * `dflock demo`: starts an embedded server on a free loopback port and runs in-process
 * workers against it, printing a timeline of what dflock does: FIFO lock hand-off, a
 * semaphore, two-phase acquisition and lease loss. Finishes in a few seconds.
 *
 * @module
 */

import { serve } from "../server/mod.ts";
import type { Server } from "../server/server.ts";
import { formatAddr } from "../transport/_errors.ts";
import { type CliIo, commandLine } from "./io.ts";
import { usageErrorText } from "./_usage.ts";
import { Timeline } from "./_demo_timeline.ts";
import { fifoScene, semaphoreScene, twoPhaseScene } from "./_demo_scenes.ts";
import type { DemoContext } from "./_demo_scenes.ts";
import { leaseScene } from "./_demo_lease_loss.ts";

/** Help text of `dflock demo`. */
export const DEMO_USAGE: string = `Usage: dflock demo [-h]

Starts a dflockd-compatible server on a free 127.0.0.1 port and runs workers in this
process to show what dflock does (a few seconds, then exits):
  1. five workers contend for one lock, served in FIFO order
  2. a semaphore of 2 shared by four workers
  3. two-phase acquisition: enqueue, notify, wait
  4. lease loss: a stalled worker's lease expires; a dead connection aborts lock.signal

Flags:
  -h, --help   show this help
`;

/**
 * Runs `dflock demo`.
 *
 * @param argv Arguments after `demo`.
 * @param io Process facilities (stdout gets the timeline, stderr errors).
 * @returns 0 when the demo ran to the end, 1 when something failed, 2 on a bad flag.
 */
export async function runDemo(argv: readonly string[], io: CliIo): Promise<number> {
  for (const arg of argv) {
    if (arg === "-h" || arg === "-help" || arg === "--help") {
      io.writeStdout(DEMO_USAGE);
      return 0;
    }
  }
  if (argv.length > 0) {
    const arg = argv[0] ?? "";
    const what = arg.startsWith("-") ? "unknown flag" : "unexpected argument";
    io.writeStderr(
      usageErrorText(io, "demo", `${what} ${JSON.stringify(arg)}`),
    );
    return 2;
  }
  const t = new Timeline((text) => io.writeStdout(text));
  let server: Server | undefined;
  try {
    server = await serve({
      host: "127.0.0.1",
      port: 0,
      leaseSweepInterval: 0.1,
      shutdownTimeout: 2,
      log: () => {},
    });
    const address = formatAddr(server.addr);
    t.say(`dflock demo: embedded server on ${address}; times are seconds since start`);
    const ctx: DemoContext = { t, server, address };
    await fifoScene(ctx);
    await semaphoreScene(ctx);
    await twoPhaseScene(ctx);
    await leaseScene(ctx);
    // The hint names the command the way this demo was started (a checkout has no `dflock`).
    const next = `${commandLine(io, "serve")} --help`;
    t.say(`\nDone in ${(t.elapsedMs / 1000).toFixed(1)} s. Next: ${next}`);
    return 0;
  } catch (error) {
    io.writeStderr(
      `dflock demo: ${error instanceof Error ? (error.stack ?? error.message) : error}\n`,
    );
    return 1;
  } finally {
    await server?.close();
  }
}
