#!/usr/bin/env bash
# Sets up and builds (scripts/setup.sh), then runs every test. Extra arguments go to ctest
# (for example -R Profile).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
ctest --test-dir "${SSMSOC_BUILD_DIR:-$root/build}" --output-on-failure -j "$(nproc)" "$@"
