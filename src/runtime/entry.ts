/**
 * Is a module the program's entry point? Deno and Bun answer with `import.meta.main`; Node 20
 * has no such flag, so the module's URL is compared with the script path in `process.argv[1]`.
 *
 * @module
 */

import { realpathSync } from "node:fs";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { detectRuntime } from "../transport/auto.ts";

/** The part of `import.meta` this check reads (`main` exists on Deno and Bun only). */
export interface ImportMetaLike {
  /** The module's URL. */
  readonly url: string;
}

/**
 * Tells whether the module whose `import.meta` is given is the script being run.
 *
 * @param meta The caller's `import.meta`.
 * @returns True when the runtime started with this module as its entry point.
 */
export function isMainModule(meta: ImportMetaLike): boolean {
  const main = (meta as { main?: unknown }).main;
  if (detectRuntime() !== "node") return main === true;
  if (typeof main === "boolean") return main;
  const script = process.argv[1];
  if (script === undefined || script === "") return false;
  let path = script;
  try {
    path = realpathSync(script);
  } catch {
    // Keep the path as given when it cannot be resolved.
  }
  return pathToFileURL(path).href === meta.url;
}
