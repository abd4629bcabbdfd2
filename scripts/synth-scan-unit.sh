#!/usr/bin/env bash
# Synthesizes the scan unit RTL of one profile with yosys (generic gates, no cell library)
# and writes its cell counts, flip-flops, NAND2 gate equivalents and an area estimate at
# the profile's process node as JSON (rtl/scan_unit/README.md, "Synthesis").
#   scripts/synth-scan-unit.sh PROFILE [--out FILE.json] [--abc]
# PROFILE: a shipped profile name (krsna-wear) or a profile YAML path. --abc adds ABC's fast
# mapping onto a small gate set (abc -fast -g ...) after the generic synthesis.
# Needs yosys (Debian: apt-get install yosys; checked with 0.23) and a built scan_unit_gen
# (cmake --build build --target scan_unit_gen; SCAN_UNIT_GEN=path overrides).
# Float-format units (krsna-dc) have no synthesizable arithmetic (a behavioural DPI-C FP
# block) and are refused.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() {
  echo "synth-scan-unit: $*" >&2
  exit 1
}

profile="" out="" abc=0
while (($#)); do
  case $1 in
  --out)
    (($# >= 2)) || die "--out needs a file"
    out=$2
    shift 2
    ;;
  --abc)
    abc=1
    shift
    ;;
  -h | --help)
    sed -n '2,12p' "$0"
    exit 0
    ;;
  -*) die "unknown option $1" ;;
  *)
    [[ -z $profile ]] || die "one PROFILE only (got $profile and $1)"
    profile=$1
    shift
    ;;
  esac
done
[[ -n $profile ]] || die "usage: scripts/synth-scan-unit.sh PROFILE [--out FILE.json] [--abc]"

# The profile's file: a path, or a shipped name (arch/profiles, arch/profiles/published).
if [[ -f $profile ]]; then
  profile_file=$(cd "$(dirname "$profile")" && pwd)/$(basename "$profile")
elif [[ -f $root/arch/profiles/$profile.yaml ]]; then
  profile_file=$root/arch/profiles/$profile.yaml
elif [[ -f $root/arch/profiles/published/$profile.yaml ]]; then
  profile_file=$root/arch/profiles/published/$profile.yaml
else
  known=$(cd "$root/arch/profiles" && ls ./*.yaml published/*.yaml | sed 's|.*/||; s|\.yaml$||' | tr '\n' ' ')
  die "unknown profile '$profile' (shipped: $known; or give a YAML path)"
fi

gen=${SCAN_UNIT_GEN:-}
if [[ -z $gen ]]; then
  for candidate in "$root/build/rtl/scan_unit/scan_unit_gen" "$root/build-rtl/rtl/scan_unit/scan_unit_gen"; do
    if [[ -x $candidate ]]; then
      gen=$candidate
      break
    fi
  done
fi
[[ -n $gen && -x $gen ]] || die "scan_unit_gen not built (cmake --build build --target scan_unit_gen, or set SCAN_UNIT_GEN)"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cfg=$scratch/scan_cfg.svh
"$gen" "$profile_file" "$cfg" || die "scan_unit_gen rejected $profile (above)"
grep -q '^`define SCAN_IS_FLOAT 1'"'"'b1' "$cfg" &&
  die "$profile has a floating-point scan unit: its arithmetic is a behavioural DPI-C block (scan_fp_pkg.sv), not synthesizable; synthesis covers fixed-point units only"
# The profile is checked first, so its errors come whether or not yosys is installed.
yosys=${YOSYS:-yosys}
command -v "$yosys" >/dev/null || die "yosys not found (Debian: apt-get install yosys)"

# The RTL sources in the order of rtl/scan_unit/CMakeLists.txt, less the FP package.
rtl=$root/rtl/scan_unit
sources=""
for f in scan_sat scan_rescale scan_add_fixed scan_mul_fixed scan_add scan_mul scan_pwl scan_exp_shift_biased scan_approx \
  scan_unit; do
  sources+=" $rtl/$f.sv"
done
abc_step=""
if ((abc)); then
  abc_step="abc -fast -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX,AOI3,OAI3,AOI4,OAI4; opt_clean; "
fi
script="read_verilog -defer -sv scan_cfg.svh${sources//$rtl\//}; hierarchy -check -top scan_unit; \
synth -flatten -top scan_unit -noabc; ${abc_step}stat -width; tee -q -o stat.json stat -json"
start=$(date +%s.%N)
(cd "$scratch" && ln -s "$rtl"/*.sv . && "$yosys" -q -l yosys.log -p "$script") >"$scratch/stdout" 2>&1 ||
  {
    tail -20 "$scratch/stdout" >&2
    die "yosys failed on $profile"
  }
end=$(date +%s.%N)
version=$("$yosys" -V)

/usr/bin/python3 - "$scratch/stat.json" "$cfg" "$profile_file" "$script" "$version" "$start" "$end" "$abc" "$root" \
  >"$scratch/result.json" <<'PY'
import json, os, re, sys
stat_file, cfg_file, profile_file, script, version, start, end, abc, root = sys.argv[1:]
stat = json.load(open(stat_file))
cells = stat["design"]["num_cells_by_type"] if "design" in stat else stat["modules"]["\\scan_unit"]["num_cells_by_type"]
macros = dict(re.findall(r"^`define (SCAN_\w+) (.*)$", open(cfg_file).read(), re.M))
num = lambda k: int(macros[k])

# NAND2 gate equivalents: the X1 cell areas of the Nangate 45 nm Open Cell Library
# (NangateOpenCellLibrary_typical.lib, PDKv1_3_v2010_12), in um2, divided by NAND2_X1's.
AREA = {"NAND2": 0.798, "NOR2": 0.798, "INV": 0.532, "AND2": 1.064, "OR2": 1.064, "XOR2": 1.596,
        "XNOR2": 1.596, "MUX2": 1.862, "AOI21": 1.064, "OAI21": 1.064, "AOI22": 1.330, "OAI22": 1.330,
        "DFF": 4.522, "DFFR": 5.320}
CELL = {  # yosys generic cell -> Nangate cells that implement it
    "$_NOT_": ["INV"], "$_BUF_": [], "$_AND_": ["AND2"], "$_OR_": ["OR2"], "$_NAND_": ["NAND2"],
    "$_NOR_": ["NOR2"], "$_XOR_": ["XOR2"], "$_XNOR_": ["XNOR2"], "$_ANDNOT_": ["INV", "NOR2"],
    "$_ORNOT_": ["INV", "NAND2"], "$_MUX_": ["MUX2"], "$_NMUX_": ["MUX2", "INV"], "$_AOI3_": ["AOI21"],
    "$_OAI3_": ["OAI21"], "$_AOI4_": ["AOI22"], "$_OAI4_": ["OAI22"]}
def flop_cells(t):
    # $_DFF_P_, $_DFF_PN0_ (async reset), $_DFFE_PP_ (enable), $_SDFF_PP0_ (sync reset), ...
    m = re.match(r"^\$_(S?)DFF(C?E?)_([PN]+)([01]?)([PN]?)_$", t)
    if not m: return None
    sync, enable, _, init, _ = m.groups()
    parts = ["DFFR" if init and not sync else "DFF"]  # async set/reset: DFFR_X1 (DFFS_X1 same area)
    if enable: parts.append("MUX2")  # no enable flop in the library: a MUX2 feedback
    if sync: parts.append("AND2")  # synchronous reset: a gate on D
    return parts
ge, unknown, ffs = {}, [], 0
for t, n in cells.items():
    parts = CELL.get(t)
    if parts is None:
        parts = flop_cells(t)
        if parts is None:
            unknown.append(t)
            continue
        ffs += n
    ge[t] = round(n * sum(AREA[p] for p in parts) / AREA["NAND2"], 1)
if unknown:
    sys.exit(f"synth-scan-unit: no NAND2 weight for the cell types {unknown}")
total_ge = sum(ge.values())
seq_ge = sum(v for t, v in ge.items() if "DFF" in t)

# um2 per NAND2 equivalent at N7 and N5: logic density in transistors per mm2 (the figures the
# profiles' area-n7 / area-n5 sources use), a NAND2 being 4 transistors: 4 / (MTr/mm2) um2.
NODES = {
    "N7": {"mtr_per_mm2": 91.2, "source": "TSMC N7 high-density logic, 91.2 MTr/mm2 (WikiChip; "
           "arch/profiles/krsna-wear.yaml source area-n7)"},
    "N5": {"mtr_per_mm2": 138.0, "source": "TSMC N5 logic, about 138 MTr/mm2 (G. Yeap et al., IEDM 2019; "
           "arch/profiles/krsna-mobile.yaml source area-n5)"}}
text = open(profile_file).read()
def scan_unit_area(path):
    # The profile's area_mm2.scan_unit, or its base's (a name of arch/profiles or a path).
    body = open(path).read()
    m = re.search(r"^\s*scan_unit:\s*\{\s*value:\s*([0-9.eE+-]+)\s*,\s*source:\s*([\w-]+)", body, re.M)
    if m:
        return {"value": float(m.group(1)), "source": m.group(2)}
    b = re.search(r"^base:\s*(\S+)", body, re.M)
    if not b:
        return None
    for candidate in (os.path.join(os.path.dirname(path), b.group(1)), f"{root}/arch/profiles/{b.group(1)}.yaml",
                      f"{root}/arch/profiles/published/{b.group(1)}.yaml"):
        if os.path.isfile(candidate):
            return scan_unit_area(candidate)
    return None
profile_area = scan_unit_area(profile_file)
node = None
if profile_area:
    n = re.search(r"-n(\d+)$", profile_area["source"])
    node = f"N{n.group(1)}" if n else None
# A block's area: its cells at the placement utilization the profiles' own logic estimates
# assume (area-n5: "at 60% utilization"), the rest of the rows being routing and fill.
UTILIZATION = 0.6
area = {}
for k, v in NODES.items():
    per_ge = 4.0 / v["mtr_per_mm2"]
    cells_mm2 = total_ge * per_ge / 1e6
    area[k] = {"um2_per_nand2": round(per_ge, 4), "source": v["source"],
               "arithmetic": f"4 transistors / {v['mtr_per_mm2']} Tr/um2 = {per_ge:.4f} um2 per NAND2; "
                             f"{total_ge:.0f} GE x {per_ge:.4f} um2 = {cells_mm2:.4f} mm2 of cells; "
                             f"/ {UTILIZATION} utilization = {cells_mm2 / UTILIZATION:.4f} mm2",
               "cells_mm2": round(cells_mm2, 4), "mm2": round(cells_mm2 / UTILIZATION, 4)}
fmt = lambda w, f: {"type": "fixed", "bits": w, "int_bits": w - f - 1, "frac_bits": f}
name = re.search(r"^name:\s*(\S+)", text, re.M)
result = {
    "profile": name.group(1) if name else profile_file.rsplit("/", 1)[-1].removesuffix(".yaml"),
    "profile_file": os.path.relpath(profile_file, root) if profile_file.startswith(root + "/") else profile_file,
    "lanes": num("SCAN_LANES"), "max_state": num("SCAN_MAX_STATE"), "pipeline_depth": num("SCAN_PIPELINE_DEPTH"),
    "data_format": fmt(num("SCAN_DATA_W"), num("SCAN_DATA_FRAC")),
    "state_format": fmt(num("SCAN_STATE_W"), num("SCAN_STATE_FRAC")),
    "fused": {"softplus": macros["SCAN_FUSE_SOFTPLUS"].endswith("1"), "d_skip": macros["SCAN_FUSE_D_SKIP"].endswith("1"),
              "silu_gate": macros["SCAN_FUSE_SILU_GATE"].endswith("1")},
    "yosys_version": version, "yosys_script": script,
    "mapping": "ABC fast mapping onto yosys' simple gates" if abc == "1" else
               "generic gates of yosys' synth without ABC (no logic minimisation across the techmapped cells)",
    "cells_total": sum(cells.values()), "cells_by_type": dict(sorted(cells.items())),
    "flip_flops": ffs,
    "nand2_equivalents": {
        "total": round(total_ge), "combinational": round(total_ge - seq_ge), "sequential": round(seq_ge),
        "by_type": dict(sorted(ge.items())),
        "cell_areas_um2": AREA,
        "cells_per_type": CELL | {"flip-flops": "DFF_X1, DFFR_X1 with an asynchronous reset; + MUX2_X1 with an "
                                  "enable, + AND2_X1 with a synchronous reset"},
        "source": "X1 cell areas of the Nangate 45 nm Open Cell Library (NangateOpenCellLibrary_typical.lib, "
                  "PDKv1_3_v2010_12) divided by NAND2_X1's 0.798 um2"},
    "area_mm2": area | {"profile_node": node, "at_profile_node": area[node]["mm2"] if node in area else None,
                        "profile_area_mm2_scan_unit": profile_area,
                        "utilization": UTILIZATION,
                        "meaning": "cells_mm2: the standard cells alone; mm2: the block at 60 % placement "
                                   "utilization (as the profiles' logic estimates, source area-n5); no timing "
                                   "closure, the state register file as flip-flops, no SRAM macros"},
    "wall_time_s": round(float(end) - float(start), 1),
}
json.dump(result, sys.stdout, indent=2)
print()
PY
if [[ -n $out ]]; then
  mkdir -p "$(dirname "$out")"
  cp "$scratch/result.json" "$out"
  echo "synth-scan-unit: $profile -> $out" >&2
else
  cat "$scratch/result.json"
fi
