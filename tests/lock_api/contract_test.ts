import { DflockdLockApi } from "../../src/lock_api.ts";
import type { Lock } from "../../src/lock_api.ts";
import { startTestServer } from "../_helpers/server.ts";
import { InMemoryLock } from "../../src/testing.ts";
import { lockApiContract } from "./_contract.ts";
import { pollFor } from "./_helpers.ts";
import { closeDefaultClients } from "../../src/client/core.ts";

lockApiContract("InMemoryLock", () => {
  let now = 1_000_000;
  const api = new InMemoryLock(() => now);
  return Promise.resolve({
    a: api,
    b: api,
    expire: (ttlS: number, probe: () => Promise<Lock | undefined>) => {
      now += ttlS * 1000 - 1;
      return probe().then(async (early) => {
        if (early !== undefined) throw new Error("the lock expired before its TTL");
        now += 1;
        return await probe();
      });
    },
    close: () => Promise.resolve(),
  });
});

lockApiContract("DflockdLockApi", async () => {
  const server = await startTestServer();
  const servers = [`127.0.0.1:${server.addr.port}`];
  const a = new DflockdLockApi({ servers });
  const b = new DflockdLockApi({ servers });
  return {
    a,
    b,
    // A 1 s lease plus the server's 1 s sweep: free again within ~2 s; poll up to 3.5 s.
    expire: (_ttlS: number, probe: () => Promise<Lock | undefined>) => pollFor(probe, 3500),
    close: async () => {
      await a.close();
      await b.close();
      await closeDefaultClients();
      await server.close();
    },
  };
});
