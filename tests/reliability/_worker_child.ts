/**
 * A worker in its own process for the mutual-exclusion test. Usage (after the runtime's own
 * arguments): `<port> <key> <worker> <count> <hangAt>`.
 *
 * Protocol on stdio, one JSON object per line:
 * - out `{"t":"ready"}` once started; in `sync <k>`, out `{"t":"sync","k":k,"c":<now>}`
 *   (clock samples, see `_history.ts`); in `go` starts the workload;
 * - out `{"t":"enter","s":{...}}` when a critical section starts (child clock) and
 *   `{"t":"sec","s":{...}}` when it is complete; section `hangAt` never ends (the parent
 *   kills the process in it); out `{"t":"done"}` at the end, then the process exits.
 *
 * @module
 */

import process from "node:process";
import { DistributedLock } from "../../mod.ts";
import type { ChildSection } from "./_history.ts";

function send(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const [portText, key, worker, countText, hangText] = process.argv.slice(-5);
const port = Number(portText);
const count = Number(countText);
const hangAt = Number(hangText);

async function run(): Promise<void> {
  for (let i = 0; i < count; i++) {
    const lock = new DistributedLock({
      key: key!,
      servers: [`127.0.0.1:${port}`],
      leaseTtlS: 1,
      acquireTimeoutS: 60,
    });
    const call = performance.now();
    if (!await lock.acquire()) {
      await lock.close();
      continue;
    }
    const s: ChildSection = {
      key: key!,
      limit: 1,
      worker: worker!,
      token: lock.token!,
      fence: lock.fence === undefined ? null : String(lock.fence),
      lease: lock.lease!,
      call,
      enter: performance.now(),
    };
    const onAbort = (): void => {
      s.abort = performance.now();
      s.abortReason = (lock.signal.reason as Error)?.name;
    };
    if (lock.signal.aborted) onAbort();
    else lock.signal.addEventListener("abort", onAbort, { once: true });
    send({ t: "enter", s });
    if (i === hangAt) {
      await new Promise(() => {}); // Frozen until killed.
    }
    await new Promise((r) => setTimeout(r, i % 3));
    s.exit = performance.now();
    try {
      await lock.release();
      s.released = "ok";
    } catch (err) {
      s.released = (err as Error).name;
    }
    await lock.close();
    send({ t: "sec", s });
  }
}

let started = false;
let buffered = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk: string) => {
  buffered += chunk;
  let nl: number;
  while ((nl = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, nl).trim();
    buffered = buffered.slice(nl + 1);
    if (line.startsWith("sync ")) {
      send({ t: "sync", k: Number(line.slice(5)), c: performance.now() });
    } else if (line === "go" && !started) {
      started = true;
      run().then(
        () => {
          process.stdout.write(JSON.stringify({ t: "done" }) + "\n", () => process.exit(0));
        },
        (err) => {
          send({ t: "error", message: String(err) });
          process.exit(1);
        },
      );
    }
  }
});
send({ t: "ready" });
