#!/usr/bin/env bash
# scripts/synth-scan-unit.sh refuses what it cannot synthesize with one line and exit status 1,
# before it needs yosys: an unknown profile, a float-format unit, a chip without a scan unit,
# and an option it does not know.  Usage: tests/scripts/synth_scan_unit_test.sh (SCAN_UNIT_GEN set).
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
failures=0
expect_error() {  # expect_error "needle" args...
  local needle=$1
  shift
  local err rc
  err=$(YOSYS=/nonexistent/yosys bash "$root/scripts/synth-scan-unit.sh" "$@" 2>&1 >/dev/null)
  rc=$?
  if [[ $rc -ne 1 || $err != *"$needle"* ]]; then
    echo "synth-scan-unit.sh $*: rc $rc, stderr: $err (expected rc 1 and '$needle')"
    failures=$((failures + 1))
  fi
}
expect_error "unknown profile 'no-such-chip'" no-such-chip
expect_error "krsna-dc has a floating-point scan unit" krsna-dc
expect_error "the profile has no scan unit" h100-class
expect_error "unknown option --fast" krsna-wear --fast
expect_error "yosys not found" krsna-wear
exit $((failures > 0))
