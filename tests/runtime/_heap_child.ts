/**
 * Child of `heap_test.ts`: with `apply`, calls `keepYoungGenerationSmall()` first; then keeps
 * 200 000 small objects alive (what makes V8 grow its young generation) and prints
 * `{"applied":..,"newSpace":..}` (the young generation's size in bytes).
 *
 * @module
 */

import { getHeapSpaceStatistics } from "node:v8";
import { keepYoungGenerationSmall } from "../../src/runtime/heap.ts";
import { args, writeStdout } from "../../src/runtime/process.ts";

const applied = args()[0] === "apply" ? await keepYoungGenerationSmall() : false;
const kept: { n: number; pair: number[]; text: string }[] = [];
for (let i = 0; i < 200_000; i++) kept.push({ n: i, pair: [i, i + 1], text: `item ${i}` });
const newSpace = getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_size;
writeStdout(JSON.stringify({ applied, newSpace, kept: kept.length }) + "\n");
