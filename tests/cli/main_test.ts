import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { main, USAGE } from "../../src/cli/main.ts";
import type { ServerHandle } from "../../src/cli/serve.ts";
import { isMainModule } from "../../src/runtime/entry.ts";
import { fakeIo } from "./_fake_io.ts";

describe("dflock main", () => {
  test("isMainModule is false for a module that is not the script being run", () => {
    // main.ts was imported above without running (the test process is still alive).
    assert.equal(isMainModule({ url: "file:///not/the/script.js" }), false);
    assert.equal(
      isMainModule({ url: new URL("../../src/cli/main.ts", import.meta.url).href }),
      false,
    );
  });

  test("--help and help list the subcommands on stdout, exit 0", async () => {
    for (const arg of ["--help", "-h", "help"]) {
      const io = fakeIo();
      assert.equal(await main([arg], { io }), 0);
      assert.equal(io.out, USAGE);
      assert.match(io.out, /serve/);
      assert.equal(io.err, "");
    }
  });

  test("no command or an unknown one: the problem and a pointer to --help, exit 2", async () => {
    const none = fakeIo();
    assert.equal(await main([], { io: none }), 2);
    assert.equal(
      none.err,
      "dflock: missing command: serve, stats, run, ping, demo or version\n" +
        'Run "dflock --help" for usage.\n',
    );
    const bad = fakeIo();
    assert.equal(await main(["lockit"], { io: bad }), 2);
    assert.equal(bad.err, 'dflock: unknown command "lockit"\nRun "dflock --help" for usage.\n');
    assert.equal(bad.out, "");
    const flag = fakeIo();
    assert.equal(await main(["--nope"], { io: flag }), 2);
    assert.equal(flag.err, 'dflock: unknown flag --nope\nRun "dflock --help" for usage.\n');
  });

  test("--version prints the version", async () => {
    const io = fakeIo();
    assert.equal(await main(["--version"], { io }), 0);
    assert.match(io.out, /^dflock \d+\.\d+\.\d+/);
  });

  test("serve passes its flags to the server", async () => {
    const io = fakeIo();
    let finish!: () => void;
    const closed = new Promise<void>((resolve) => (finish = resolve));
    let seenPort: number | undefined;
    const code = main(["serve", "-port", "0x10"], {
      io,
      startServer: (options) => {
        seenPort = options.port;
        const handle: ServerHandle = {
          addr: { hostname: "127.0.0.1", port: 16 },
          close: () => {
            finish();
            return closed;
          },
          closed,
        };
        return Promise.resolve(handle);
      },
    });
    for (let i = 0; i < 100 && io.handlerCount() < 2; i++) await Promise.resolve();
    for (let i = 0; i < 100 && !io.err.includes("listening"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.equal(seenPort, 16);
    io.raise("SIGTERM");
    assert.equal(await code, 0);
  });
});
