#!/usr/bin/env python3
"""Fit figures of a profile's kernels: section to the calibration records of a measurement file.

Each trial writes a profile that takes everything from the named one (`base:`) and overrides
the fitted figures, runs `ssmsoc calibrate --set calibration` on it and scores the largest
|log(predicted / measured)| over the records it predicts. The search is coordinate descent
over each figure's range, on a grid that narrows around the best point each round; it is
deterministic. The validation records are never seen by the fit; the script prints their
error with the fitted figures at the end.

Usage:
  tools/calibrate/fit_kernels.py --profile hexagon-npu-class \\
      --measurements tools/calibrate/published/hexagon-npu-class.json \\
      --fit dram_efficiency=0.1:0.9 --fit matrix_efficiency=0.02:1 --fit graph_gap_us=1:500:log \\
      [--tie launch_gap_us=graph_gap_us] [--only gemm/graph] [--ssmsoc build/ssmsoc]

--only SUITE/LAUNCH scores only those records (the GEMM figures on the GEMMs replayed from
graphs); --measurements repeated scores the records of several files together; --fix
NAME=VALUE holds a figure at a value (a discrete one, tried over a list).

Python standard library only.
"""

import argparse
import itertools
import math
import os
import re
import subprocess
import sys
import tempfile

ROW = re.compile(r"^(\S+)\s+(\S+)\s+(\S+)\s+(calibration|validation)\s+([0-9.]+)\s+([0-9.]+)\s+([-+0-9.]+)%")


def parse_range(text):
    name, spec = text.split("=", 1)
    parts = spec.split(":")
    lo, hi = float(parts[0]), float(parts[1])
    if not 0 < lo < hi:
        raise SystemExit("--fit %s: expected 0 < lo < hi" % text)
    return name, lo, hi, len(parts) > 2 and parts[2] == "log"


def predict(args, values, subset):
    """The (measured, predicted) pairs of `subset` records with the figures set to `values`."""
    lines = ["base: %s" % args.profile, "description: fit of %s" % args.profile, "kernels:"]
    for name, value in sorted(values.items()):
        lines.append("  %s: {value: %.6g, source: %s}" % (name, value, args.source))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "fit.yaml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        rows = []
        for measurements in args.measurements:
            out = subprocess.run([args.ssmsoc, "calibrate", "--profile", path, "--set", subset,
                                  "--measurements", measurements],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit("ssmsoc calibrate failed: %s" % out.stderr.strip())
            for line in out.stdout.splitlines():
                m = ROW.match(line)
                if m and (args.only is None or "%s/%s" % (m.group(1), m.group(3)) == args.only):
                    rows.append((line, float(m.group(5)), float(m.group(6))))
    return rows


def score(rows):
    """Sum of squared log errors (smooth for the search); the largest error is reported too."""
    return sum(math.log(p / m) ** 2 for _, m, p in rows if m > 0 and p > 0)


def largest(rows):
    return max(abs(p / m - 1) for _, m, p in rows if m > 0 and p > 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", required=True)
    parser.add_argument("--measurements", action="append", required=True,
                        help="a measurement file; repeated, the records of all are scored together")
    parser.add_argument("--fit", action="append", required=True, help="NAME=LO:HI[:log]")
    parser.add_argument("--tie", action="append", default=[], help="NAME=OTHER: NAME takes OTHER's value")
    parser.add_argument("--fix", action="append", default=[], help="NAME=VALUE: NAME held at VALUE")
    parser.add_argument("--only", default=None, help="SUITE/LAUNCH: score only these records (e.g. gemm/graph)")
    parser.add_argument("--source", default=None, help="the sources: key the figures cite (default PROFILE's fit key)")
    parser.add_argument("--ssmsoc", default="build/ssmsoc")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--points", type=int, default=9)
    parser.add_argument("--coarse", type=int, default=5, help="points per figure of the first, joint grid")
    args = parser.parse_args()
    ranges = [parse_range(t) for t in args.fit]
    ties = dict(t.split("=", 1) for t in args.tie)
    if args.source is None:
        args.source = args.profile.split("-")[0] + "-fit"

    fixed = {name: float(value) for name, value in (t.split("=", 1) for t in args.fix)}

    def full(values):
        v = dict(fixed, **values)
        for name, other in ties.items():
            v[name] = v[other]
        return v

    def grid(lo, hi, log, n):
        if log:
            return [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]
        return [lo + (hi - lo) * i / (n - 1) for i in range(n)]

    bounds = {name: (lo, hi, log) for name, lo, hi, log in ranges}
    # A coarse grid over every figure at once first: the figures interact (a longer gap and a
    # higher efficiency can give the same decode time), so one-at-a-time search from a single
    # start can stall.
    best, values = None, None
    names = sorted(bounds)
    points = [grid(*bounds[n][:2], bounds[n][2], args.coarse) for n in names]
    for combo in itertools.product(*points):
        trial = dict(zip(names, combo))
        s = score(predict(args, full(trial), "calibration"))
        if best is None or s < best - 1e-12:
            best, values = s, trial
    for round_ in range(args.rounds):
        for name in sorted(bounds):
            lo, hi, log = bounds[name]
            for candidate in grid(lo, hi, log, args.points):
                trial = dict(values, **{name: candidate})
                s = score(predict(args, full(trial), "calibration"))
                if s < best - 1e-12:
                    best, values = s, trial
            # Narrow the range around the best value for the next round.
            v = values[name]
            if log:
                f = (hi / lo) ** 0.25
                bounds[name] = (max(lo, v / f), min(hi, v * f), log)
            else:
                w = (hi - lo) / 4
                bounds[name] = (max(lo, v - w), min(hi, v + w), log)
        rows = predict(args, full(values), "calibration")
        print("round %d: largest |error| %.1f%%  %s" % (round_ + 1, 100 * largest(rows),
              ", ".join("%s=%.4g" % kv for kv in sorted(full(values).items()))), flush=True)
    print("\nfitted figures:")
    for name, value in sorted(full(values).items()):
        print("  %s: %.4g" % (name, value))
    for subset in ("calibration", "validation"):
        print("\n%s records:" % subset)
        for line, _, _ in predict(args, full(values), subset):
            print("  " + line)


if __name__ == "__main__":
    sys.exit(main())
