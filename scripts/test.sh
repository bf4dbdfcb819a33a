#!/usr/bin/env bash
# The whole check, as `npm test` runs it: format, lint, type checks, the test suite under Deno and
# Bun, then the npm build and the same suite under Node on that build, then a consumer project
# installed from the packed tarball (scripts/check_consumer.ts). Every step runs even when
# an earlier one failed; the script fails if any step failed. Each runner's output is kept in
# .test-output/ and the closing line sums the tests of all three runtimes.
# pipefail: a step's status is its command's, not tee's.
set -uo pipefail
cd "$(dirname "$0")/.."

bin=node_modules/.bin
out=.test-output
# A previous npm build would be picked up by `bun test` (its path filter matches npm/esm/tests).
rm -rf "$out" npm
mkdir -p "$out"

failed_steps=()
total_pass=0
total_fail=0

step() {
  local name=$1
  shift
  echo "==> $name: $*"
  local start=$SECONDS
  if "$@" 2>&1 | tee "$out/$name.log"; then
    echo "<== $name ok ($((SECONDS - start)) s)"
  else
    echo "<== $name FAILED ($((SECONDS - start)) s)"
    failed_steps+=("$name")
  fi
}

# Adds one runner's counts, read from its log, to the totals.
count() {
  local name=$1 kind=$2 log="$out/$1.log" pass=0 fail=0 line
  case $kind in
    deno)
      line=$(grep -aE '[0-9]+ passed.*\| [0-9]+ failed' "$log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g')
      # "N passed (M steps) | F failed (G steps)": node:test cases inside describe() are steps.
      pass=$(echo "$line" | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^passed/) { n = $(i-1); if ($(i+1) ~ /^\([0-9]+$/ && $(i+2) ~ /^step/) n += substr($(i+1), 2) } print n + 0}')
      fail=$(echo "$line" | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^failed/) { n = $(i-1); if ($(i+1) ~ /^\([0-9]+$/ && $(i+2) ~ /^step/) n += substr($(i+1), 2) } print n + 0}')
      ;;
    bun)
      pass=$(grep -aE '^ *[0-9]+ pass$' "$log" | tail -1 | tr -dc 0-9)
      fail=$(grep -aE '^ *[0-9]+ fail$' "$log" | tail -1 | tr -dc 0-9)
      ;;
    node)
      pass=$(grep -aE '^(#|ℹ) pass [0-9]+' "$log" | tail -1 | tr -dc 0-9)
      fail=$(grep -aE '^(#|ℹ) fail [0-9]+' "$log" | tail -1 | tr -dc 0-9)
      ;;
  esac
  pass=${pass:-0}
  fail=${fail:-0}
  # A runner that could not report at all counts as one failure.
  if [ "$pass" = 0 ] && [ "$fail" = 0 ]; then fail=1; fi
  echo "$name: $pass passed, $fail failed"
  total_pass=$((total_pass + pass))
  total_fail=$((total_fail + fail))
}

step fmt "$bin/deno" fmt --check
step lint "$bin/deno" lint
step check "$bin/deno" check mod.ts src tests scripts bench
step check-protocol-pure "$bin/tsc" -p tsconfig.protocol.json
step check-transport-pure "$bin/deno" test -A tests/transport/import_graph_test.ts
# Every TypeScript example in the README, with the npm names mapped to the sources.
step readme "$bin/deno" check --import-map tests/docs/readme_import_map.json --doc-only README.md
step doc-lint "$bin/deno" doc --lint mod.ts src/server/mod.ts src/transport/mod.ts src/cli/main.ts src/testing.ts
step jsdoc "$bin/deno" run -A scripts/check_jsdoc.ts
# Type-checks every JSDoc example: in the entry points and in src/, where the exports live.
step doc-examples "$bin/deno" check --doc mod.ts src
step publish-dry-run "$bin/deno" publish --dry-run --allow-dirty --quiet
step test-deno "$bin/deno" test -A tests/
step test-bun "$bin/bun" test --timeout 120000 ./tests/
step build-and-test-node "$bin/deno" run -A scripts/build_npm.ts --test
# The package as a stranger gets it: npm run pack, the example Node + TypeScript project
# installed from the tarball, compiled and run, and the installed dflock command on each runtime.
step consumer "$bin/deno" run -A scripts/check_consumer.ts

echo
echo "Per runtime:"
count test-deno deno
count test-bun bun
count build-and-test-node node
if [ ${#failed_steps[@]} -gt 0 ]; then
  echo "Failed steps: ${failed_steps[*]}"
  # A failed step that is not a test run (format, lint, types) still counts as a failure.
  if [ "$total_fail" = 0 ]; then total_fail=${#failed_steps[@]}; fi
fi
echo
echo "$total_pass passed, $total_fail failed"
[ ${#failed_steps[@]} -eq 0 ] && [ "$total_fail" = 0 ]
