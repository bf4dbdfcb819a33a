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
  /**
   * Resolves once captured stderr satisfies `test` (checked after every write); rejects after
   * `ms` with the stderr so far.
   */
  waitForErr(test: (err: string) => boolean, ms?: number): Promise<void>;
}

/** Extra settings of {@linkcode fakeIo}. */
export interface FakeIoOptions {
  /** `CliIo.program`. */
  program?: string;
  /** `CliIo.commands`. */
  commands?: Record<string, string>;
  /** What `stderrIsTty()` answers; left out: no such method (as a plain test io). */
  stderrIsTty?: boolean;
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
  options: FakeIoOptions = {},
): FakeIo {
  const handlers = new Set<{ signal: StopSignal; fn: () => void }>();
  const errListeners = new Set<() => void>();
  const io: FakeIo = {
    env,
    ...(options.program === undefined ? {} : { program: options.program }),
    ...(options.commands === undefined ? {} : { commands: options.commands }),
    ...(options.stderrIsTty === undefined ? {} : { stderrIsTty: () => options.stderrIsTty! }),
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
      for (const listener of [...errListeners]) listener();
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
    waitForErr(test, ms = 10_000) {
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!test(io.err)) return;
          clearTimeout(timer);
          errListeners.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          errListeners.delete(check);
          reject(new Error(`stderr did not match within ${ms} ms:\n${JSON.stringify(io.err)}`));
        }, ms);
        errListeners.add(check);
        check();
      });
    },
  };
  return io;
}
