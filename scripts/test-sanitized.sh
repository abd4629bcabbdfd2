#!/usr/bin/env bash
# Builds the whole suite with ASan + UBSan (-DSSMSOC_SANITIZE=ON, ./build-asan or
# $SSMSOC_BUILD_DIR) and runs it. Any sanitizer report fails its test: UBSan reports are
# fatal (-fno-sanitize-recover) and ASan exits non-zero. Extra arguments go to ctest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${SSMSOC_BUILD_DIR:-$root/build-asan}
SSMSOC_BUILD_DIR=$build_dir "$root/scripts/setup.sh" -DSSMSOC_SANITIZE=ON
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" "$@"
