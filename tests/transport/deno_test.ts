import { detectRuntime } from "../../src/transport/auto.ts";
import { denoAdapter } from "../../src/transport/deno.ts";
import { transportSuite } from "./_suite.ts";

// Deno's TLS client (rustls) rejects a CA:TRUE certificate used as a server certificate.
transportSuite("denoAdapter", denoAdapter, {
  skip: detectRuntime() !== "deno",
  acceptsCaAsLeaf: false,
});
