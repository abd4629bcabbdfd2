#!/usr/bin/env bash
# Builds the fuzz targets (clang, ./build-fuzz or $SSMSOC_FUZZ_BUILD_DIR) and runs each for a
# while; tests/fuzz/README.md describes the targets, their corpora and what a finding is.
#
#   scripts/fuzz.sh [--time SECONDS] [--jobs J] [TARGET...]
#
# --time: seconds per target (default 25); --jobs: parallel fuzzing processes per target
# (libFuzzer -fork). Targets default to all of them. Each target prints the executions it ran. Exits 1 when any target finds a crash, a sanitizer report, an
# unexpected exception, a timeout (> 10 s for one input) or more than 2 GB of memory that
# tests/fuzz/known_findings.txt does not list; the inputs are in build-fuzz/findings/TARGET/.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${SSMSOC_FUZZ_BUILD_DIR:-$root/build-fuzz}
all_targets=(fuzz_profile fuzz_safetensors fuzz_hf_config fuzz_workload fuzz_program fuzz_cli)

seconds=25 jobs=1 targets=()
while [ $# -gt 0 ]; do
  case $1 in
    --time) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    fuzz_*) targets+=("$1"); shift ;;
    *) echo "usage: $0 [--time SECONDS] [--jobs J] [TARGET...] (targets: ${all_targets[*]})" >&2; exit 2 ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

clang=$(command -v clang++-14 || command -v clang++ || true)
if [ -z "$clang" ]; then
  echo "fuzz: clang++ not found (scripts/setup.sh installs clang-14 and libclang-rt-14-dev)" >&2
  exit 1
fi
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$clang" \
    -DSSMSOC_FUZZ=ON >/dev/null
fi
cmake --build "$build_dir" --target fuzz

# Seed corpora: the inputs of the test suite and the shipped files, by kind.
seeds=$build_dir/seeds
rm -rf "$seeds"
mkdir -p "$seeds"/{fuzz_profile,fuzz_safetensors,fuzz_hf_config,fuzz_workload,fuzz_program,fuzz_cli}
copy_seeds() {  # TARGET FILE...: each file under a name made of its path, so none collide
  local target=$1 f
  shift
  for f in "$@"; do cp "$f" "$seeds/$target/$(echo "${f#"$root"/}" | tr / _)"; done
}
mapfile -t profiles < <(find "$root/arch/profiles" "$root/tests/data/profiles" -name '*.yaml')
copy_seeds fuzz_profile "${profiles[@]}"
# Small safetensors files only: a fuzzer mutates every byte of an input, so a big tensor's
# data is wasted effort (the header is what the reader parses).
mapfile -t tensors < <(find "$root/tests/data" -name '*.safetensors' -size -64k)
copy_seeds fuzz_safetensors "${tensors[@]}"
mapfile -t configs < <(find "$root/tests/data" -name '*.json')
copy_seeds fuzz_hf_config "${configs[@]}"
mapfile -t workloads < <(find "$root/workloads/models" -name '*.yaml')
copy_seeds fuzz_workload "${workloads[@]}"
"$build_dir/tests/fuzz/fuzz_program_seeds" "$seeds/fuzz_program"
copy_seeds fuzz_cli "$root"/tests/fuzz/cli_seeds/*

# Known findings (tests/fuzz/known_findings.txt): the patterns of one target.
known_patterns() {
  sed -e 's/#.*//' "$root/tests/fuzz/known_findings.txt" | awk -v t="$1" '$1 == t { sub(/^[^ \t]+[ \t]+/, ""); print }'
}

# classify TARGET INPUT: replays the input; a known finding counts in known_count, any other
# is reported and sets status=1 (returns 1).
classify() {
  local target=$1 input=$2 replay pattern known=""
  replay=$(TMPDIR=$scratch "$build_dir/tests/fuzz/$target" -rss_limit_mb=2048 -timeout=10 "$input" 2>&1 || true)
  for pattern in "${patterns[@]}"; do
    if grep -qE "$pattern" <<<"$replay"; then known=$pattern; fi
  done
  if [ -n "$known" ]; then
    known_count[$known]=$((${known_count[$known]:-0} + 1))
    return 0
  fi
  status=1
  echo "  FINDING: $input" >&2
  grep -E 'ERROR|SUMMARY|runtime error|terminate called|what\(\)|^    #[0-9] ' <<<"$replay" | head -12 | sed 's/^/    /' >&2
  return 1
}

status=0
for target in "${targets[@]}"; do
  corpus=$build_dir/corpus/$target  # grows from run to run
  findings=$build_dir/findings/$target
  rm -rf "$findings"
  mkdir -p "$corpus" "$findings"
  echo "fuzz: $target ($seconds s, $jobs job(s))"
  log=$build_dir/$target.log
  : >"$log"
  mapfile -t patterns < <(known_patterns "$target")
  declare -A known_count=() classified=()
  # Each run has a scratch folder of its own (the targets write their input there;
  # fuzz_support.hpp).
  scratch=$(mktemp -d)
  options=(-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$findings/")
  executions=0
  if [ "$jobs" -gt 1 ]; then
    # Fork mode goes on past findings (-ignore_*); every finding's input is kept.
    TMPDIR=$scratch "$build_dir/tests/fuzz/$target" -max_total_time="$seconds" -fork="$jobs" -ignore_crashes=1 \
      -ignore_ooms=1 -ignore_timeouts=1 "${options[@]}" "$corpus" "$seeds/$target" >>"$log" 2>&1 || true
    executions=$(grep -E '^#[0-9]+: cov' "$log" | tail -1 | sed -E 's/^#([0-9]+):.*/\1/')
    for input in "$findings"/*; do
      [ -e "$input" ] && classify "$target" "$input" || true
    done
  else
    # One process, restarted after a known finding (libFuzzer stops at the first) until the
    # time is used; a new finding ends the target's run.
    deadline=$((SECONDS + seconds))
    while [ $((deadline - SECONDS)) -gt 0 ]; do
      segment=$(mktemp)
      finished=0
      TMPDIR=$scratch "$build_dir/tests/fuzz/$target" -max_total_time=$((deadline - SECONDS)) "${options[@]}" \
        "$corpus" "$seeds/$target" >"$segment" 2>&1 && finished=1
      cat "$segment" >>"$log"
      ran=$(grep -E '^stat::number_of_executed_units' "$segment" | awk '{print $2}' | tail -1)
      [ -n "$ran" ] || ran=$(grep -oE '^#[0-9]+' "$segment" | tail -1 | tr -d '#')
      executions=$((executions + ${ran:-0}))
      rm -f "$segment"
      [ $finished = 1 ] && break
      new=0
      for input in "$findings"/*; do
        [ -e "$input" ] && [ -z "${classified[$input]:-}" ] || continue
        classified[$input]=1
        new=1
        classify "$target" "$input" || break 2
      done
      [ $new = 1 ] || { status=1; echo "  FINDING: the target stopped without an input (log: $log)" >&2; break; }
    done
  fi
  echo "  ${executions:-0} executions"
  for pattern in "${!known_count[@]}"; do
    echo "  known finding, ${known_count[$pattern]} input(s) (tests/fuzz/known_findings.txt: $pattern)"
  done
  unset known_count classified
  rm -rf "$scratch"
done
exit $status
