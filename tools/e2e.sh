#!/usr/bin/env bash
# Runs the end-to-end tests of `goldfinch serve` (tests/e2e: node:test + the official `openai`
# npm client, Node >= 20). Each test file starts its own server on a free port and stops it.
#
# Usage: tools/e2e.sh [test files or node --test options...]   (default: every tests/e2e/*.test.mjs)
# Env:   GF_GOLDFINCH_BIN  the goldfinch binary (default: build/release/cli/goldfinch)
#
# Installs tests/e2e/node_modules with `npm ci` when it is missing or older than
# package-lock.json (needs the npm registry once). Test files run one at a time because several
# tests measure timing on a small machine. Exits with node's status (0 = all passed).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
e2e="$root/tests/e2e"

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "e2e.sh: '$tool' not found (Node.js >= 20 is needed)" >&2; exit 1; }
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
if (( node_major < 20 )); then
  echo "e2e.sh: Node.js >= 20 needed, found $(node --version)" >&2
  exit 1
fi

export GF_GOLDFINCH_BIN="${GF_GOLDFINCH_BIN:-$root/build/release/cli/goldfinch}"
if [[ ! -x "$GF_GOLDFINCH_BIN" ]]; then
  echo "e2e.sh: goldfinch binary not found at $GF_GOLDFINCH_BIN (set GF_GOLDFINCH_BIN)" >&2
  exit 1
fi

# node_modules is stale when its stamp does not match package.json + package-lock.json.
stamp="$e2e/node_modules/.gf-e2e-stamp"
want=$(cat "$e2e/package.json" "$e2e/package-lock.json" | sha256sum | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "e2e.sh: installing tests/e2e/node_modules (npm ci)"
  (cd "$e2e" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi

cd "$root"
if (( $# == 0 )); then
  set -- tests/e2e/
fi
exec node --test --test-concurrency=1 --test-timeout=300000 --test-reporter=spec "$@"
