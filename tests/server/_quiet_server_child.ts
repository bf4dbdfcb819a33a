// Child process for server_test.ts: runs an embedded server with `debug` on, so it has lines to
// log (listening, a connection opened and closed), serves one client and closes. Mode "default"
// leaves `log` unset (must print nothing); mode "stderr" passes a logger that writes to stderr,
// which shows the parent would see any line the server logs. Prints "done PORT" on stdout.
import * as net from "node:net";
import process from "node:process";
import { serve } from "../../src/server/mod.ts";

const mode = process.argv[process.argv.length - 1];
const log = mode === "stderr"
  ? (line: string) => void process.stderr.write(`${line}\n`)
  : undefined;
const server = await serve({ port: 0, debug: true, ...(log === undefined ? {} : { log }) });
const socket = net.connect(server.addr.port, "127.0.0.1");
socket.setEncoding("latin1");
const answer = await new Promise<string>((resolve, reject) => {
  socket.once("error", reject);
  socket.once("data", resolve);
  socket.write("ping\n_\n_\n");
});
if (answer !== "ok\n") throw new Error(`unexpected answer ${JSON.stringify(answer)}`);
socket.end();
// The graceful close waits until the server has seen this connection close (and logged it).
await server.close();
process.stdout.write(`done ${server.addr.port}\n`);
