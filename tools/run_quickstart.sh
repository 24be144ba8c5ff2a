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
  if [[ -f models/goldfinch-byte-small/config.json ]]; then
    # The built-in model (byte-level, trained on public-domain text).
    set -- --prompt "And it came to pass" --max-tokens 200 --temperature 0.8 --seed 1
  else
    # Until the built-in model ships: a small random-weight golden model from ../shared, token
    # ids in and out (its output is not text).
    echo "[quickstart] no built-in model yet: generating ids with ../shared/golden/gf_L6_D128_hs64_V1000_T47" >&2
    set -- --model ../shared/golden/gf_L6_D128_hs64_V1000_T47 --tokens 11,33,45,261 \
      --max-tokens 32 --print-ids
  fi
fi
exec build/release/cli/goldfinch generate "$@"
