#!/usr/bin/env bash
# Builds the whole suite with ASan + UBSan (-DSSMSOC_SANITIZE=ON, ./build-asan or
# $SSMSOC_BUILD_DIR) and runs it. Any sanitizer report fails its test: UBSan reports are
# fatal (-fno-sanitize-recover) and ASan exits non-zero. Extra arguments go to ctest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${SSMSOC_BUILD_DIR:-$root/build-asan}
SSMSOC_BUILD_DIR=$build_dir "$root/scripts/setup.sh" -DSSMSOC_SANITIZE=ON
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Left out: SimFailure.EnginesFailingTogetherGiveOneError. When a kernel throws inside an
# engine's SystemC thread (a coroutine on a stack of SystemC's own, which ASan is not told
# about), ASan's __asan_handle_no_return cannot unpoison that stack ("ASan is ignoring
# requested __asan_handle_no_return", google/sanitizers#189); the next exception on the main
# stack (the run's ConfigError reaching main) then trips over the stale poison inside ASan's
# own sigaltstack interceptor (stack-use-after-scope in PlatformUnpoisonStacks). A false
# positive of libasan with coroutines, not a bug of ssmsoc; the test runs in the normal build.
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" -E '^SimFailure\.EnginesFailingTogetherGiveOneError$' "$@"
