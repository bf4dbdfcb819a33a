/**
 * The dflock version, printed by `dflock version`, `dflock --version` and
 * `dflock serve --version`, with the runtime that runs it. Keep {@linkcode VERSION} equal to
 * `version` in deno.json.
 *
 * @module
 */

import process from "node:process";
import { detectRuntime } from "../transport/auto.ts";

/** The package version. */
export const VERSION = "0.1.0";

/** The Go dflockd release whose wire protocol and configuration this server reproduces. */
export const DFLOCKD_COMPAT = "1.10.0";

/**
 * The runtime running this process and its version: `Deno 2.9.6`, `Bun 1.4.5` or
 * `Node 20.20.2`. Deno and Bun report a Node version too, so the runtime is detected first.
 *
 * @returns The runtime's name and version.
 */
export function runtimeDescription(): string {
  const versions = process.versions as Readonly<Record<string, string | undefined>>;
  switch (detectRuntime()) {
    case "deno":
      return `Deno ${versions["deno"] ?? "(unknown version)"}`;
    case "bun":
      return `Bun ${versions["bun"] ?? "(unknown version)"}`;
    case "node":
      return `Node ${versions["node"] ?? "(unknown version)"}`;
  }
}

/**
 * The line `version` and `--version` print (with its newline), e.g.
 * `dflock 0.1.0 (Node 20.20.2; dflockd 1.10.0 compatible)`.
 *
 * @returns The version line.
 */
export function versionLine(): string {
  return `dflock ${VERSION} (${runtimeDescription()}; dflockd ${DFLOCKD_COMPAT} compatible)\n`;
}
