#!/usr/bin/env bash
# The 100-connection server load driven by a Go load generator (load.go), against a Go echo
# floor (echo_floor.go), the dflock server and the dflock echo floor on each runtime. Every
# target runs on CPU 0 and the generator on CPU 1. Prints ops/s, p50, p99 and the target's
# user and system CPU per op (from /proc/<pid>/stat). Needs `go` and `taskset`; Node needs the
# npm build first (node_modules/.bin/deno run -A scripts/build_npm.ts --no-test).
#
# With DFLOCKD_GO=PATH (a built Go dflockd, e.g. from ../shared/reference/build.sh) the Go
# dflockd is measured first, so that every floor can be read as a fraction of it.
#
# Usage (from the repository root): [DFLOCKD_GO=PATH] bash bench/reference/run.sh [RUNS] [ROUNDS]
set -euo pipefail
runs=${1:-3}
rounds=${2:-1000}
conns=100
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$root/bench/reference" && go build -o "$work/go-echo" echo_floor.go && go build -o "$work/go-load" load.go)
tick=$(getconf CLK_TCK)

# measure NAME COMMAND...: starts the target on CPU 0, warms up, then runs the generator.
measure() {
  local name=$1
  shift
  taskset -c 0 "$@" 2>"$work/err" &
  local pid=$!
  local port=""
  for _ in $(seq 100); do
    # Ours log "listening on HOST:PORT"; the Go servers log their bound address (addr=HOST:PORT).
    port=$(grep -o 'listening on [0-9.]*:[0-9]*\|addr=[0-9.]*:[1-9][0-9]*' "$work/err" 2>/dev/null |
      head -1 | sed 's/.*://' || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    echo "$name: did not start: $(cat "$work/err")" >&2
    kill "$pid" 2>/dev/null || true
    return 1
  fi
  taskset -c 1 "$work/go-load" -addr "127.0.0.1:$port" -c $conns -r 200 >/dev/null
  for run in $(seq "$runs"); do
    read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    local out
    out=$(taskset -c 1 "$work/go-load" -addr "127.0.0.1:$port" -c $conns -r "$rounds")
    read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    local ops=$((conns * rounds))
    printf '| %-22s | %d | %s | %s | %s |\n' "$name" "$run" "$(echo "$out" | sed 's/ops\/s \([0-9]*\) p50 \([0-9.]*\) ms p99 \([0-9.]*\) ms/\1 | \2 | \3/')" \
      "$(( (u1 - u0) * 1000000 / tick / ops ))" "$(( (s1 - s0) * 1000000 / tick / ops ))"
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cd "$root"
deno=node_modules/.bin/deno
bun=node_modules/.bin/bun
echo "Go load generator, $conns connections x $rounds pairs, target on CPU 0, generator on CPU 1, $(nproc) cores, $(date -u +%F)"
echo
echo "| target | run | ops/s | p50 ms | p99 ms | target user us/op | target sys us/op |"
echo "|---|---|---|---|---|---|---|"
if [ -n "${DFLOCKD_GO:-}" ]; then
  # The Go dflockd logs the port it was given, so give it a free one.
  go_port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
  measure "Go dflockd" "$DFLOCKD_GO" --host 127.0.0.1 --port "$go_port"
fi
measure "Go echo floor" "$work/go-echo"
measure "dflock server, Bun" $bun src/cli/main.ts serve --host 127.0.0.1 --port 0
measure "dflock echo floor, Bun" $bun bench/floor.ts --serve --port 0
measure "dflock server, Deno" $deno run -A src/cli/main.ts serve --host 127.0.0.1 --port 0
measure "dflock echo floor, Deno" $deno run -A bench/floor.ts --serve --port 0
if [ -f npm/esm/src/cli/main.js ]; then
  measure "dflock server, Node" node npm/esm/src/cli/main.js serve --host 127.0.0.1 --port 0
  measure "dflock echo floor, Node" node npm/esm/bench/floor.js --serve --port 0
fi
