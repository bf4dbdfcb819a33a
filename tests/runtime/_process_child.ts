// Child process for process_test.ts.
// Mode "io": echoes its arguments, writes to stderr, exits with 3.
// Mode "signal": waits for SIGTERM, unsubscribes (twice), exits with 4.
import { args, exit, onSignal, writeStderr, writeStdout } from "../../src/runtime/process.ts";

const argv = args();
if (argv[0] === "signal") {
  const keepAlive = setInterval(() => {}, 1000);
  const off = onSignal("SIGTERM", () => {
    off();
    off();
    clearInterval(keepAlive);
    writeStdout("got SIGTERM\n");
    exit(4);
  });
  writeStdout("ready\n");
} else {
  writeStdout(`${JSON.stringify(argv)}\n`);
  writeStderr("to stderr\n");
  exit(3);
}
