/**
 * What an open dashboard and a Prometheus scrape ask of a server, as a process of its own for
 * `http_overhead.ts`: fetches `/v1/dashboard` and `/metrics` once a second until stdin closes,
 * then prints the number of completed polls. Every answer must be 200.
 *
 * Usage: `<runtime> bench/dashboard_poller.ts PORT` (Deno: `deno run -A ...`); `POLL_PATHS` (comma
 * list, default `/v1/dashboard,/metrics`) picks other paths, e.g. `/health` alone to separate the
 * cost of an HTTP connection from that of the data.
 *
 * @module
 */

import * as net from "node:net";
import process from "node:process";

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1) throw new RangeError("usage: dashboard_poller.ts PORT");

/**
 * One GET on a new connection, read to the end (raw HTTP on node:net: a runtime's `fetch` costs
 * this CPU, which shares a core with the load generator, several times more).
 */
function get(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let head = "";
    socket.setEncoding("latin1");
    socket.on("connect", () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    });
    socket.on("data", (chunk: string) => {
      if (head.length < 64) head += chunk;
    });
    socket.on("error", reject);
    socket.on("close", () => {
      if (/^HTTP\/1\.1 200 /.test(head)) resolve();
      else reject(new Error(`${path} answered ${JSON.stringify(head.slice(0, 40))}`));
    });
  });
}

let stop = false;
process.stdin.on("data", () => {});
process.stdin.on("end", () => stop = true);
process.stdin.on("close", () => stop = true);
let polls = 0;
while (!stop) {
  const started = performance.now();
  for (const path of (process.env.POLL_PATHS ?? "/v1/dashboard,/metrics").split(",")) {
    await get(path);
  }
  polls++;
  const left = 1000 - (performance.now() - started);
  // Bounded: the loop ends when stdin closes; each pause is at most a second.
  if (left > 0 && !stop) await new Promise((resolve) => setTimeout(resolve, left));
}
process.stdout.write(`${polls}\n`);
process.exit(0);
