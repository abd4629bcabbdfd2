#!/usr/bin/env bash
# The mapper's table (compiler/README.md): every shipped workload on the native chips,
# simulated at a 2,048-token prompt and batch-1 decode, against its bounds and the cost model.
# Prints Markdown; a workload that does not fit a chip's DRAM is listed as such.
#   scripts/mapping-table.sh [PROMPT] [PROFILES...]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ssmsoc=${SSMSOC_BINARY:-$root/build/ssmsoc}
prompt=${1:-2048}
shift || true
profiles=("${@:-krsna-wear krsna-mobile krsna-dc}")
read -r -a profiles <<<"${profiles[*]}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
echo "| workload | chip | TTFT ms | bound ms | prefill efficiency | prefill estimate | decode ms | bound ms | decode efficiency | decode estimate |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for model in "$root"/workloads/models/*.yaml; do
  name=$(basename "$model" .yaml)
  for profile in "${profiles[@]}"; do
    out=$scratch/$name-$profile
    if ! "$ssmsoc" run --profile "$profile" --model "$model" --prompt "$prompt" --generate 3 --out "$out" \
      >/dev/null 2>"$scratch/err"; then
      echo "| $name | $profile | does not fit: $(head -c 120 "$scratch/err" | tr '\n|' '  ') | | | | | | | |"
      continue
    fi
    /usr/bin/python3 - "$out/summary.json" "$name" "$profile" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
ph = {p["phase"]: p for p in s["phases"]}
def est(p):
    return f'{100 * (p["estimated_cycles_per_run"] / p["cycles_per_run"] - 1):+.1f} %'
pre = [p for n, p in ph.items() if n.startswith("prefill")]
cyc = sum(p["cycles_per_run"] * p["runs"] for p in pre)
estc = sum(p["estimated_cycles_per_run"] * p["runs"] for p in pre)
dec = ph.get("decode")
ttft, tb = s["time_to_first_token"]["value"] * 1e3, s["time_to_first_token_bound"]["value"] * 1e3
row = [sys.argv[2], sys.argv[3], f"{ttft:.4g}", f"{tb:.4g}", f"{tb / ttft:.2f}", f"{100 * (estc / cyc - 1):+.1f} %"]
if dec:
    d, db = s["decode_latency_per_token"]["value"] * 1e3, s["decode_latency_bound"]["value"] * 1e3
    row += [f"{d:.4g}", f"{db:.4g}", f"{db / d:.2f}", est(dec)]
else:
    row += ["", "", "", ""]
print("| " + " | ".join(row) + " |")
PY
  done
done
