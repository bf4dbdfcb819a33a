/**
 * Child script of `messages_test.ts`, run by Deno without `--allow-net`: connects to the port
 * in its first argument and prints the error as one JSON line.
 *
 * @module
 */

import process from "node:process";
import { connect, isRetryable } from "../../mod.ts";

try {
  const conn = await connect({ port: Number(process.argv[2]), connectTimeoutMs: 5_000 });
  await conn.close();
  console.log(JSON.stringify({ connected: true }));
} catch (err) {
  const e = err as { name?: string; code?: string; message?: string };
  console.log(JSON.stringify({
    name: e.name,
    code: e.code,
    message: e.message,
    retryable: isRetryable(err),
  }));
}
