#!/usr/bin/env bash
# Installs the Debian packages ssmsoc needs (only those missing), then configures and
# builds it in ./build (or $SSMSOC_BUILD_DIR). Safe to run again: a second run installs
# nothing and rebuilds only what changed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${SSMSOC_BUILD_DIR:-$root/build}
build_type=${SSMSOC_BUILD_TYPE:-RelWithDebInfo}

packages=(
  build-essential cmake ninja-build ccache pkg-config clang-format
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libfmt-dev libgtest-dev
  verilator zlib1g-dev libbenchmark-dev libopenblas-dev libsqlite3-dev libpagmo-dev
  libopenmpi-dev openmpi-bin  # sweeps under mpirun
  libsystemc-dev gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf
  clang-14 libclang-rt-14-dev  # the fuzz targets (libFuzzer; scripts/fuzz.sh)
  chromium  # the report tests render pages headless
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ccache hits across fresh clones when paths are relative to the source root.
export CCACHE_BASEDIR="$root"
export CCACHE_NOHASHDIR=1
if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" "$@"
elif [ $# -gt 0 ]; then
  cmake "$build_dir" "$@"
fi
cmake --build "$build_dir"
