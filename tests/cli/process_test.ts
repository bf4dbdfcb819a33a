import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { runCli, startCli } from "../_helpers/cli_process.ts";

/** A plain TCP client that hands out response lines. */
async function client(port: number): Promise<{ socket: Socket; line(): Promise<string> }> {
  const socket = connect({ host: "127.0.0.1", port });
  socket.setNoDelay(true);
  socket.setEncoding("utf8");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  let buffer = "";
  const waiting: ((line: string) => void)[] = [];
  const lines: string[] = [];
  socket.on("data", (chunk: string) => {
    buffer += chunk;
    for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      const next = waiting.shift();
      if (next) next(line);
      else lines.push(line);
    }
  });
  socket.on("error", () => {});
  return {
    socket,
    line: () => {
      const ready = lines.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no response within 5 s")), 5000);
        waiting.push((line) => {
          clearTimeout(timer);
          resolve(line);
        });
      });
    },
  };
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });
}

describe("dflock serve as a process", () => {
  test("listens on --port 0, serves a lock, stops with exit 0 on SIGTERM", async () => {
    const cli = await startCli(["serve", "--host", "127.0.0.1", "--port", "0"]);
    try {
      assert.ok(cli.port > 0);
      assert.match(cli.stderrText(), /dflock: listening on 127\.0\.0\.1:\d+\n/);
      const c = await client(cli.port);
      try {
        c.socket.write("l\nk\n0\n");
        assert.match(await c.line(), /^ok [0-9a-f]{32} 33$/);
      } finally {
        c.socket.destroy();
      }
      cli.signal("SIGTERM");
      const exit = await cli.exited;
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.match(cli.stderrText(), /dflock: stopped\n/);
    } finally {
      cli.signal("SIGKILL");
      await cli.exited;
    }
  });

  test("environment variables apply and flags beat them", async () => {
    const cli = await startCli(["serve", "--port", "0", "--max-waiters", "2"], {
      env: { DFLOCKD_DEFAULT_LEASE_TTL_S: "44", DFLOCKD_MAX_WAITERS: "9" },
    });
    try {
      assert.match(cli.stderrText(), /\(default-lease-ttl=44, max-waiters=2\)/);
      const c = await client(cli.port);
      try {
        c.socket.write("l\nk\n0\n");
        assert.match(await c.line(), /^ok [0-9a-f]{32} 44$/);
      } finally {
        c.socket.destroy();
      }
      cli.signal("SIGINT");
      assert.equal((await cli.exited).code, 0);
    } finally {
      cli.signal("SIGKILL");
      await cli.exited;
    }
  });

  test("SIGTERM drains: refuses new connections, exits 0 once the client leaves", async () => {
    const cli = await startCli(["serve", "--port", "0"]);
    try {
      const c = await client(cli.port);
      try {
        c.socket.write("l\nk\n0\n");
        const token = /^ok ([0-9a-f]{32}) 33$/.exec(await c.line())?.[1];
        assert.ok(token);
        cli.signal("SIGTERM");
        // Wait for the drain to begin (the listener closes at once).
        let closed = false;
        for (let i = 0; i < 100 && !closed; i++) {
          if (cli.stderrText().includes("draining")) closed = await refused(cli.port);
          if (!closed) await new Promise((resolve) => setTimeout(resolve, 20));
        }
        assert.ok(closed, "new connections are refused during the drain");
        c.socket.write(`r\nk\n${token}\n`);
        assert.equal(await c.line(), "ok");
      } finally {
        c.socket.destroy();
      }
      assert.deepEqual(await cli.exited, { code: 0, signal: null });
    } finally {
      cli.signal("SIGKILL");
      await cli.exited;
    }
  });

  test("invalid configuration: message and exit 1", async () => {
    const r = await runCli(["serve", "--port", "0", "--max-locks", "0"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /configuration error: --max-locks must be > 0 \(got 0\)/);
    const e = await runCli(["serve", "--port", "0"], { env: { DFLOCKD_GC_MAX_UNUSED_TIME: "0" } });
    assert.equal(e.code, 1);
    assert.match(e.stderr, /--gc-max-idle must be > 0/);
  });

  test("unknown flag: the error, a pointer to --help and exit 1", async () => {
    const r = await runCli(["serve", "--no-auto-release-on-disconnect"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /flag provided but not defined: -no-auto-release-on-disconnect/);
    assert.match(r.stderr, /\nRun ".+ --help" for usage\.\n$/);
  });

  test("TLS certificate without key: exit 1", async () => {
    const r = await runCli(["serve", "--port", "0", "--tls-cert", "/nonexistent/cert.pem"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /tls/);
  });

  test("--version exits 0; top-level help and unknown commands", async () => {
    const v = await runCli(["serve", "--version"]);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^dflock \d+\.\d+\.\d+/);
    const h = await runCli(["--help"]);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /serve/);
    const u = await runCli(["frobnicate"]);
    assert.equal(u.code, 2);
    assert.match(u.stderr, /unknown command "frobnicate"/);
  });
});
