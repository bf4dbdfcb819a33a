import { detectRuntime } from "../../src/transport/auto.ts";
import { nodeAdapter } from "../../src/transport/node.ts";
import { transportSuite } from "./_suite.ts";

transportSuite("nodeAdapter", nodeAdapter, {
  // Also run under Bun, where node:net / node:tls pass the whole suite. Deno's node:tls
  // compatibility layer does not (a TLS echo stalls), so Deno skips it.
  skip: detectRuntime() === "deno",
  acceptsCaAsLeaf: true,
});
