#!/usr/bin/env bash
# The side-by-side benchmark against the reference Go dflockd in one command (about 7 minutes on
# 2 cores; run it on a quiet machine): builds what is missing, runs bench/vs_go.ts (5 reps, Go
# dflockd and the dflock server on Bun, Deno and Node under the Go load generator, servers on
# CPU 0 and load on CPU 1), writes bench/results/vs-go.json and regenerates the "Versus Go
# dflockd" section of docs/bench.md (the other sections are kept).
#
# Usage (from anywhere): bash bench/vs_go.sh [--no-build] [vs_go.ts options, e.g. --runs 7]
#   GOREF=DIR   where the Go dflockd and its bench are (default /tmp/goref); built there from
#               ../shared/reference (build.sh, which installs golang-go when `go` is missing)
#               when absent.
#   --no-build  do not rebuild npm/ (Node runs the npm build; by default it is rebuilt so that
#               Node measures the current sources).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
ref=${GOREF:-/tmp/goref}
reference_src=${DFLOCK_REFERENCE_DIR:-$root/../shared/reference}
build=1
if [ "${1:-}" = "--no-build" ]; then
  build=0
  shift
fi
if [ ! -x "$ref/dflockd" ] || [ ! -x "$ref/bench" ] || ! command -v go >/dev/null; then
  bash "$reference_src/build.sh" "$ref"
fi
if [ "$build" = 1 ]; then
  node_modules/.bin/deno run -A scripts/build_npm.ts
fi
mkdir -p bench/results
node_modules/.bin/deno run -A bench/vs_go.ts --go-dflockd "$ref/dflockd" --go-bench "$ref/bench" \
  --out bench/results/vs-go.json "$@"
node_modules/.bin/deno run -A bench/report.ts bench/results/vs-go.json >/dev/null
echo "wrote bench/results/vs-go.json and the \"Versus Go dflockd\" section of docs/bench.md"
