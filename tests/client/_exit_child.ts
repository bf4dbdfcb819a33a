// Child process for exit_test.ts: takes and releases locks on the server at argv[1] in the way
// argv[0] names, prints "done" after its last release, and never closes anything. The parent
// measures how long the process then takes to exit.
import process from "node:process";
import { DflockClient, DflockdLockApi, DistributedLock } from "../../mod.ts";

const [mode, address] = process.argv.slice(-2);
const servers = [address!];

if (mode === "client") {
  const client = new DflockClient({ servers });
  for (let i = 0; i < 20; i++) await client.withLock(`exit:${i}`, () => {});
  // A queue place on a taken key parks an exclusive connection in the pool as well.
  const held = await client.acquireLock("exit:taken");
  const waiter = client.lock("exit:taken");
  if (await waiter.enqueue() !== "queued") throw new Error("not queued");
  await held.release();
  if (!await waiter.wait(5)) throw new Error("the waiter was not granted");
  await waiter.release();
  console.log(`done ${JSON.stringify(client.stats().servers[0])}`);
} else if (mode === "standalone") {
  const lock = new DistributedLock({ key: "exit:standalone", servers });
  if (!await lock.acquire()) throw new Error("not acquired");
  await lock.release();
  console.log("done");
} else if (mode === "lockapi") {
  const api = new DflockdLockApi({ servers });
  const lock = await api.tryAcquire("exit:lockapi", 30);
  if (lock === undefined) throw new Error("not acquired");
  await lock.release();
  console.log("done");
} else if (mode === "false") {
  // The parent holds the key: the acquire times out and returns false.
  const lock = new DistributedLock({ key: "exit:held", servers, acquireTimeoutS: 1 });
  if (await lock.acquire()) throw new Error("acquired a held key");
  console.log("done");
} else {
  throw new Error(`unknown mode ${mode}`);
}
