/**
 * Internal: the command line that starts `dflock` again, the way this process was started, for
 * hints such as `Run "npx dflock stats --help"` and the demo's `Next: ...`. A hint must work
 * where the user typed the command: from a checkout that is `deno run -A src/cli/main.ts` or
 * `node npm/esm/src/cli/main.js` (no `dflock` on the `PATH`), under npx `npx dflock`, and under
 * `npm start` the package's own scripts.
 *
 * {@linkcode describeProgram} is pure: the process facts come in as {@linkcode Launch}.
 *
 * @module
 */

import type { LaunchFacts } from "../runtime/process.ts";

/** The environment variables {@linkcode describeProgram} reads (all optional). */
export const PROGRAM_ENV_NAMES: readonly string[] = [
  "npm_lifecycle_event",
  "npm_config_user_agent",
  "npm_config_local_prefix",
  "npm_package_json",
  "INIT_CWD",
];

/** How this process was started. */
export interface Launch extends LaunchFacts {
  /** Values of the {@linkcode PROGRAM_ENV_NAMES} that are set. */
  env: Readonly<Record<string, string | undefined>>;
  /** The `scripts` of the package.json named by `npm_package_json`, when it could be read. */
  scripts?: Readonly<Record<string, unknown>>;
}

/** What {@linkcode describeProgram} finds. */
export interface Program {
  /** The command that starts `dflock`; a subcommand and its flags follow it. */
  program: string;
  /**
   * Package scripts that run one subcommand, by subcommand: `{ serve: "npm run serve --" }`.
   * Flags follow them.
   */
  commands: Record<string, string>;
}

const SCRIPT_EXTENSION = /\.(?:[cm]?[jt]s|tsx|jsx)$/;

/** POSIX shell quoting, only when needed. */
function quote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

function trimSlash(path: string): string {
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

/** `path` relative to `dir` when inside it (`src/cli/main.ts`), else unchanged. */
function relativeTo(path: string, dir: string | undefined): string {
  if (dir === undefined || !path.startsWith("/")) return path;
  const base = trimSlash(dir);
  if (path === base) return ".";
  const prefix = base === "/" ? "/" : `${base}/`;
  return path.startsWith(prefix) ? path.slice(prefix.length) : path;
}

/** Makes a relative path runnable as a command word (`./dflock` rather than `dflock`). */
function asCommand(path: string): string {
  return path.includes("/") ? path : `./${path}`;
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** The project directory of a runtime installed from npm (`/p` for `/p/node_modules/deno/deno`). */
function npmProjectOf(execPath: string): string | undefined {
  const at = execPath.lastIndexOf("/node_modules/");
  return at < 0 ? undefined : execPath.slice(0, at) || "/";
}

function isInside(path: string | undefined, dir: string): boolean {
  if (path === undefined) return false;
  const base = trimSlash(dir);
  return path === base || path.startsWith(base === "/" ? "/" : `${base}/`);
}

/**
 * Works out the command that starts `dflock` the way this process was started.
 *
 * @param launch The runtime, its executable, the entry script, the working directory, a few
 *   npm variables and the package's scripts.
 * @returns The program (`dflock`, `npx dflock`, `deno run -A src/cli/main.ts`,
 *   `npx deno run -A src/cli/main.ts`, `node npm/esm/src/cli/main.js`) and the package scripts
 *   that run a subcommand.
 *
 * @example A checkout run with deno on the PATH
 * ```ts ignore
 * describeProgram({
 *   runtime: "deno", execPath: "/usr/bin/deno", execOnPath: true,
 *   script: "/src/dflock/src/cli/main.ts", scriptOnPath: false,
 *   cwd: "/src/dflock", env: {},
 * }).program; // "deno run -A src/cli/main.ts"
 * ```
 */
export function describeProgram(launch: Launch): Program {
  const env = launch.env;
  const event = env.npm_lifecycle_event;
  const agent = env.npm_config_user_agent ?? "";
  const bun = agent.startsWith("bun/");
  const runner = event === "npx" || event === "bunx" ? event : undefined;
  // Started by a package script (`npm start`, `npm run serve`, `bun run ...`): the user's shell
  // is in INIT_CWD (npm) or npm_config_local_prefix (bun), and node_modules/.bin is on the
  // script's PATH only.
  // Only when that script runs this very entry point: a process started further down (a test
  // run by `npm test`, say) inherits the npm variables too, but not npm's working directory.
  const scripted = event !== undefined && event !== "" && runner === undefined &&
    scriptRunsUs(launch, event);
  const userCwd = scripted
    ? (env.INIT_CWD ?? (bun ? env.npm_config_local_prefix : undefined) ?? launch.cwd)
    : launch.cwd;
  const commands = scripted ? scriptCommands(launch, event, bun ? "bun" : "npm") : {};
  const script = launch.script;
  if (script === undefined) return { program: "dflock", commands };

  if (script.startsWith("https://jsr.io/@dflock/dflock/")) {
    return { program: "deno run -A jsr:@dflock/dflock/cli", commands };
  }

  if (!SCRIPT_EXTENSION.test(script)) {
    // An installed bin (`node_modules/.bin/dflock`, `/usr/local/bin/dflock`).
    const name = baseName(script);
    if (runner !== undefined) return { program: `${runner} ${quote(name)}`, commands };
    if (scripted) return { program: `${bun ? "bunx" : "npx"} ${quote(name)}`, commands };
    if (launch.scriptOnPath !== false) return { program: quote(name), commands };
    return { program: quote(asCommand(relativeTo(script, userCwd))), commands };
  }

  // Another program that calls main() itself: its own command line is not ours.
  if (!/^main\.[cm]?[jt]s$/.test(baseName(script))) return { program: "dflock", commands };

  const name = baseName(launch.execPath).replace(/\.exe$/, "");
  const project = npmProjectOf(launch.execPath);
  let runtime: string;
  // A package script's PATH has node_modules/.bin dirs the user's shell does not have.
  const fromProject = project !== undefined && (name === "deno" || name === "bun");
  if (launch.execOnPath === true && !(scripted && fromProject)) {
    runtime = quote(name);
  } else if (fromProject && project !== undefined) {
    // Installed from npm (as in a checkout after `npm ci`): the project's node_modules/.bin
    // has it, which npx (bunx) finds from anywhere inside the project.
    runtime = isInside(userCwd, project)
      ? `${bun ? "bunx" : "npx"} ${name}`
      : quote(launch.execPath);
  } else if (launch.execOnPath === undefined) {
    runtime = quote(name); // PATH not readable: the usual install puts it there
  } else {
    runtime = quote(launch.execPath);
  }
  const path = quote(relativeTo(script, userCwd));
  const run = launch.runtime === "deno" ? " run -A" : "";
  return { program: `${runtime}${run} ${path}`, commands };
}

/** Whether the package script `event` starts this entry point (or this bin) itself. */
function scriptRunsUs(launch: Launch, event: string): boolean {
  const text = launch.scripts?.[event];
  if (typeof text !== "string" || launch.script === undefined) return false;
  const words = text.trim().split(/\s+/);
  if (!SCRIPT_EXTENSION.test(launch.script)) return words.includes(baseName(launch.script));
  const entry = relativeTo(launch.script, launch.cwd);
  return words.some((w) => w === entry || w === `./${entry}`);
}

/**
 * The package scripts that run exactly `<this script> <subcommand>`, as the command that runs
 * each: with `"start": "deno run -A src/cli/main.ts demo"` running now and
 * `"serve": "deno run -A src/cli/main.ts serve"` beside it, `{ serve: "npm run serve --",
 * demo: "npm start --" }`.
 */
function scriptCommands(launch: Launch, event: string, manager: string): Record<string, string> {
  const out: Record<string, string> = {};
  const scripts = launch.scripts;
  const current = scripts?.[event];
  if (scripts === undefined || typeof current !== "string" || launch.script === undefined) {
    return out;
  }
  // npm runs the script in the package directory: the script names the entry point relative
  // to it, as we were given it.
  const entry = relativeTo(launch.script, launch.cwd);
  const words = current.trim().split(/\s+/);
  const at = words.findIndex((w) => w === entry || w === `./${entry}`);
  if (at < 0) return out;
  const prefix = words.slice(0, at + 1).join(" ");
  for (const [name, text] of Object.entries(scripts)) {
    if (typeof text !== "string") continue;
    const w = text.trim().split(/\s+/);
    if (w.length !== at + 2 || w.slice(0, at + 1).join(" ") !== prefix) continue;
    const sub = w[at + 1] ?? "";
    if (!/^[a-z]+$/.test(sub) || sub in out) continue;
    out[sub] = manager === "npm" && name === "start"
      ? "npm start --"
      : `${manager} run ${quote(name)} --`;
  }
  return out;
}
