#!/usr/bin/env bash
# The whole test suite: provisions the engine, registry and base images (idempotent),
# type-checks, then runs unit and integration tests. Extra arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/provision.sh
npx tsc -p tsconfig.json
node scripts/bundle.mjs
npx tsc -p tsconfig.test.json --noEmit
results=$(mktemp)
set +e
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@"
rc=$?
set -e
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
' "$results" || true
rm -f "$results"
exit $rc
