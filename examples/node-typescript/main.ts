// A Node + TypeScript consumer of the dflock npm package. It starts the embedded dflockd server on
// a free loopback port, holds a lock with `await using`, and shows what the server sees while the
// lock is held and after it is released.
//
// From a checkout: `npm ci && npm run pack` at its root (this builds ../../npm, which
// package.json points at), then here: `npm install && npm run build && npm start`. In a project
// of your own, `npm install /path/to/dflock-<version>.tgz` (the path `npm run pack` prints).
import { DflockClient } from "dflock";
import { serve } from "dflock/server";

// Port 0 asks the system for a free port; the server's log lines are not needed here.
await using server = await serve({ host: "127.0.0.1", port: 0, log: () => {} });
const address = `${server.addr.hostname}:${server.addr.port}`;
console.log(`server: listening on ${address}`);

/** The keys the server lists as held, or "none". */
function heldKeys(): string {
  const keys = server.stats().locks.map((lock) => lock.key);
  return keys.length === 0 ? "none" : keys.join(", ");
}

{
  await using client = new DflockClient({ servers: [address] });
  {
    await using lock = await client.acquireLock("example/nightly");
    console.log(`client: holding ${lock.key}, fence ${lock.fence}`);
    console.log(`server: held locks: ${heldKeys()}`);
  } // released here
  console.log(`server: held locks after release: ${heldKeys()}`);
} // the client's connections close here

console.log("done");
