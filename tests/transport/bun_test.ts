import { detectRuntime } from "../../src/transport/auto.ts";
import { bunAdapter } from "../../src/transport/bun.ts";
import { transportSuite } from "./_suite.ts";

transportSuite("bunAdapter", bunAdapter, {
  skip: detectRuntime() !== "bun",
  acceptsCaAsLeaf: true,
});
