/**
 * In-memory {@linkcode CliIo} for tests: captured stdout/stderr, a fake file system and
 * signals that the test raises itself.
 *
 * @module
 */

import type { CliIo, StopSignal } from "../../src/cli/io.ts";

/** A {@linkcode CliIo} plus the test's handles on it. */
export interface FakeIo extends CliIo {
  /** Captured stdout. */
  out: string;
  /** Captured stderr. */
  err: string;
  /** Calls the installed handlers of `signal`; returns how many ran. */
  raise(signal: StopSignal): number;
  /** Number of handlers currently installed. */
  handlerCount(): number;
}

/**
 * Creates a fake process.
 *
 * @param env Environment variables.
 * @param files Path to content; other paths fail to read.
 * @returns The fake.
 */
export function fakeIo(
  env: Record<string, string> = {},
  files: Record<string, string> = {},
): FakeIo {
  const handlers = new Set<{ signal: StopSignal; fn: () => void }>();
  const io: FakeIo = {
    env,
    out: "",
    err: "",
    readTextFile(path) {
      const text = files[path];
      return text === undefined
        ? Promise.reject(new Error(`ENOENT: ${path}`))
        : Promise.resolve(text);
    },
    writeStdout(text) {
      io.out += text;
    },
    writeStderr(text) {
      io.err += text;
    },
    onSignal(signal, fn) {
      const entry = { signal, fn };
      handlers.add(entry);
      return () => void handlers.delete(entry);
    },
    raise(signal) {
      let n = 0;
      for (const h of [...handlers]) {
        if (h.signal === signal) {
          h.fn();
          n++;
        }
      }
      return n;
    },
    handlerCount: () => handlers.size,
  };
  return io;
}
