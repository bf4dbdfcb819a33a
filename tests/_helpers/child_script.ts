/**
 * The one way tests run a test script of their own as a child process on the current runtime:
 * the `.ts` file beside the sources, its compiled `.js` in the npm build (Node).
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** How the child ended. */
export interface ChildResult {
  /** Exit status, or `null` when killed. */
  code: number | null;
  /** Everything it wrote to stdout. */
  stdout: string;
  /** Everything it wrote to stderr. */
  stderr: string;
}

/** Options of {@linkcode runChildScript}. */
export interface ChildOptions {
  /** Called with the child and all of its stdout so far, on every chunk. */
  onStdout?: (child: ChildProcess, stdout: string) => void;
  /** Kill the child (SIGKILL) after this long. @default {20000} */
  timeoutMs?: number;
  /** V8 flags for the child (Node and Deno; Bun has no V8). */
  v8Flags?: readonly string[];
}

/**
 * Runs `script` (a URL of a `.ts` test script) with `args`; kills it after `timeoutMs`.
 *
 * @param script The script, e.g. `new URL("./_child.ts", import.meta.url)`.
 * @param args Its arguments.
 * @param options A stdout observer, the time limit, V8 flags.
 * @returns How it ended.
 */
export function runChildScript(
  script: URL,
  args: readonly string[],
  options: ChildOptions = {},
): Promise<ChildResult> {
  const { onStdout, timeoutMs = 20_000, v8Flags = [] } = options;
  if (v8Flags.length > 0 && "Bun" in globalThis) {
    throw new TypeError("V8 flags need Node or Deno (Bun runs JavaScriptCore)");
  }
  const source = fileURLToPath(script);
  const path = existsSync(source) ? source : source.replace(/\.ts$/, ".js");
  const argv = "Deno" in globalThis
    ? ["run", "-A", ...(v8Flags.length > 0 ? [`--v8-flags=${v8Flags.join(",")}`] : []), path]
    : [...v8Flags, path];
  argv.push(...args);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"] });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      stdout += text;
      onStdout?.(child, stdout);
    });
    child.stderr.setEncoding("utf8").on("data", (text: string) => stderr += text);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
