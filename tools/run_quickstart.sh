#!/usr/bin/env bash
# Quickstart: installs what is missing, builds the `release` preset and starts the
# OpenAI-compatible server on the built-in model (models/goldfinch-byte-small) at
# http://127.0.0.1:8000. Extra arguments go to `goldfinch serve` (see `goldfinch serve --help`),
# e.g. `tools/run_quickstart.sh --port 9000 --api-key-file keys.txt`. Stop it with Ctrl-C.
# Works from any directory.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
tools/install_deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target goldfinch
exec build/release/cli/goldfinch serve "$@"
