#!/usr/bin/env bash
# Quickstart: installs dependencies, builds the `release` preset and runs
# `goldfinch generate` with the given arguments (default: --prompt "The " --max-tokens 64).
# Works from any directory.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
tools/install_deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target goldfinch

if [[ $# -eq 0 ]]; then
  set -- --prompt "The " --max-tokens 64
fi
exec build/release/cli/goldfinch generate "$@"
