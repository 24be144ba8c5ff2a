#!/usr/bin/env bash
# Installs the Debian 12 packages goldfinch-serve needs to build, test and format.
# Idempotent: prints nothing and changes nothing when every package is already installed.
# Otherwise runs `apt-get update` and installs only the missing packages (needs root or sudo),
# printing one line per action; apt's own output is shown only if it fails.
# GF_SKIP_PYTHON=1 skips python3-torch (large; needed only by the tests labelled `python`).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libopenblas-dev
  libboost-dev nlohmann-json3-dev libspdlog-dev prometheus-cpp-dev libssl-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc grpc-proto
  prometheus curl
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-numpy
  clang-format clang-tidy
)
# Node.js and npm run the end-to-end tests with the official OpenAI SDK; a machine may already
# have them from elsewhere (e.g. a newer Node with its own npm), in which case Debian's are skipped.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
if [[ "${GF_SKIP_PYTHON:-0}" != "1" ]]; then
  packages+=(python3-torch)
fi

say() { echo "install_deps: $*"; }

if ! command -v dpkg-query >/dev/null 2>&1; then
  say "dpkg-query not found: this script supports Debian 12; install the equivalents of: ${packages[*]}" >&2
  exit 1
fi

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  say "missing packages (${missing[*]}) and not root, no sudo: install them as root" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Runs an apt-get command quietly; on failure shows its output and stops.
run_apt() {
  if ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@" >"$log" 2>&1; then
    cat "$log" >&2
    say "apt-get $* failed" >&2
    exit 1
  fi
}

say "apt-get update"
run_apt update -qq
say "installing ${missing[*]}"
run_apt install -y -qq --no-install-recommends "${missing[@]}"
say "done"
