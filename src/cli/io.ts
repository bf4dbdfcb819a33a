/**
 * What the `dflock` commands need from the process, as one injectable object so commands can
 * be tested in-process. {@linkcode processIo} binds it to the real process.
 *
 * @module
 */

import { readTextFile } from "../runtime/files.ts";
import {
  env,
  launchFacts,
  onSignal,
  optionalEnv,
  readTextFileIfAllowed,
  stderrIsTty,
  writeStderr,
  writeStdout,
} from "../runtime/process.ts";
import { describeProgram, type Program, PROGRAM_ENV_NAMES } from "./_program.ts";

/** Signals that stop the server gracefully. */
export type StopSignal = "SIGINT" | "SIGTERM";

/**
 * Process facilities used by the commands.
 *
 * @example Capture the output of a command
 * ```ts
 * import { type CliIo, main } from "@dflock/dflock/cli";
 *
 * let out = "";
 * const io: CliIo = {
 *   env: {},
 *   readTextFile: () => Promise.reject(new Error("no files")),
 *   writeStdout: (text) => void (out += text),
 *   writeStderr: (text) => void (out += text),
 *   onSignal: () => () => {},
 * };
 * await main(["version"], { io });
 * console.log(out);
 * ```
 */
export interface CliIo {
  /**
   * The environment variables. The real one reads each variable when asked (so Deno needs
   * `--allow-env` only for the variables a command uses) and lists none.
   */
  env: Readonly<Record<string, string | undefined>>;
  /**
   * How the user started this command line, for hints such as `Run "dflock serve --help"`
   * (`dflock`, `npx dflock`, `deno run -A src/cli/main.ts`). @default {"dflock"}
   */
  program?: string;
  /**
   * Package scripts that run a subcommand, by subcommand (`{ serve: "npm run serve --" }`),
   * preferred over {@linkcode CliIo.program} in hints. @default {{}}
   */
  commands?: Readonly<Record<string, string>>;
  /** Whether stderr is a terminal (`run` then shows its wait). @default {() => false} */
  stderrIsTty?(): boolean;
  /** Reads a text file; rejects when it cannot be read. */
  readTextFile(path: string): Promise<string>;
  /** Writes text to stdout. */
  writeStdout(text: string): void;
  /** Writes text to stderr. */
  writeStderr(text: string): void;
  /** Installs a signal handler; returns a function that removes it. */
  onSignal(signal: StopSignal, handler: () => void): () => void;
}

/** Names that are never environment lookups (JavaScript probes objects for them). */
const NOT_VARIABLES: ReadonlySet<string> = new Set([
  "then",
  "toJSON",
  "constructor",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "isPrototypeOf",
  "propertyIsEnumerable",
  "toLocaleString",
  "__proto__",
]);

function isVariableName(name: string | symbol): name is string {
  return typeof name === "string" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) &&
    !NOT_VARIABLES.has(name);
}

/**
 * The environment as an object that reads one variable per property access. On Deno a
 * variable that is not granted throws `EnvPermissionError` (from `src/runtime/process.ts`).
 */
function lazyEnv(): Readonly<Record<string, string | undefined>> {
  return new Proxy<Record<string, string | undefined>>({}, {
    get: (_target, name) => (isVariableName(name) ? env(name) : undefined),
    has: (_target, name) => isVariableName(name) && env(name) !== undefined,
    set: () => false,
    deleteProperty: () => false,
    defineProperty: () => false,
    ownKeys: () => [],
  });
}

/** Reads package.json's scripts when a package script started us (`npm start`). */
function packageScripts(
  vars: Record<string, string | undefined>,
): Record<string, unknown> | undefined {
  const event = vars.npm_lifecycle_event;
  const path = vars.npm_package_json;
  if (event === undefined || event === "npx" || event === "bunx" || path === undefined) {
    return undefined;
  }
  const text = readTextFileIfAllowed(path);
  if (text === undefined) return undefined;
  try {
    const scripts = (JSON.parse(text) as { scripts?: unknown }).scripts;
    return typeof scripts === "object" && scripts !== null
      ? scripts as Record<string, unknown>
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How the running process was started (see `src/cli/_program.ts`); reads only variables and
 * files that are already allowed.
 */
function launchedProgram(): Program {
  const vars: Record<string, string | undefined> = {};
  for (const name of PROGRAM_ENV_NAMES) vars[name] = optionalEnv(name);
  return describeProgram({ ...launchFacts(), env: vars, scripts: packageScripts(vars) });
}

/**
 * The real process: environment, files, stdout/stderr and signals.
 *
 * @returns A {@linkcode CliIo} for the running process.
 */
export function processIo(): CliIo {
  let program: Program | undefined;
  const launched = (): Program => (program ??= launchedProgram());
  return {
    env: lazyEnv(),
    get program() {
      return launched().program;
    },
    get commands() {
      return launched().commands;
    },
    stderrIsTty,
    readTextFile,
    writeStdout,
    writeStderr,
    onSignal,
  };
}

/**
 * The command line that runs a subcommand, for hints: a package script that runs it, else
 * {@linkcode CliIo.program} and the subcommand.
 *
 * @param io Where the program name comes from.
 * @param command The subcommand (`serve`).
 * @returns `dflock serve`, `npm run serve --`, `deno run -A src/cli/main.ts serve`, ...
 */
export function commandLine(io: CliIo, command: string): string {
  return io.commands?.[command] ?? `${io.program ?? "dflock"} ${command}`;
}
