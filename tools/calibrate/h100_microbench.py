#!/usr/bin/env python3
"""Microbenchmarks of an NVIDIA H100 for calibrating and validating the h100-class profile.

Suites (pick with --suites, comma-separated; default all):
  launch      kernel launch, CUDA graph replay and host round-trip overhead
  memory      device-to-device copy, pure read and pure write bandwidth
  gemm        bf16 projections of Mamba, Mamba-2 and Llama models, plus a square sweep
  gemm_shapes bf16 projections of other models (held-out shapes), graph-replayed, each with
              the kernels cuBLAS chose (names and grids, from the PyTorch profiler)
  elementwise SiLU, add, RMSNorm (torch ops and fused), softplus at [M, D]
  attention   scaled_dot_product_attention, causal prefill and single-token decode
  ssm         Mamba-1 selective scan and state update, Mamba-2 SSD and state update

Every timed measurement is written as one record with suite, op, shape, dtype,
median_us, min_us, p10_us, p90_us, repetitions and derived throughput, and a
"set" field ("calibration" or "validation").

Usage:
  python3 tools/calibrate/h100_microbench.py --out FILE [--suites gemm,memory,...]

Needs torch (CUDA) and triton; nothing else beyond the standard library.
"""

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time
import traceback

import torch
import torch.nn.functional as F

try:
    import triton
    import triton.language as tl
except ImportError:  # the torch references still import and run without triton
    triton = None
    tl = None

ALL_SUITES = ["launch", "memory", "gemm", "gemm_shapes", "elementwise", "attention", "ssm"]
BF16 = torch.bfloat16
MIB = 1 << 20
DEV = "cuda"  # tests may point this at the CPU

# Filled in by main(): repetitions per measurement, target time of one repetition,
# warm-up time, and the working-set size above which rotated buffers no longer fit in L2.
CONFIG = {
    "reps": 30,
    "target_us": 2000.0,
    "warmup_ms": 25.0,
    "rotate_bytes": 128 * MIB,
    "graph": True,
}


# ----------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------

def percentile(sorted_vals, q):
    """Linear-interpolated percentile of an already sorted list, q in [0, 1]."""
    if not sorted_vals:
        return float("nan")
    pos = q * (len(sorted_vals) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(sorted_vals) - 1)
    frac = pos - lo
    return sorted_vals[lo] * (1.0 - frac) + sorted_vals[hi] * frac


def summarize(samples_us, calls_per_rep):
    s = sorted(samples_us)
    return {
        "median_us": percentile(s, 0.5),
        "min_us": s[0],
        "p10_us": percentile(s, 0.1),
        "p90_us": percentile(s, 0.9),
        "max_us": s[-1],
        "repetitions": len(s),
        "calls_per_rep": calls_per_rep,
    }


def rotating_sets(bytes_per_set, cap=1024):
    """How many copies of the inputs to cycle through so that the working set exceeds L2."""
    if bytes_per_set <= 0:
        return 1
    return int(max(1, min(cap, math.ceil(CONFIG["rotate_bytes"] / bytes_per_set))))


def _events(n):
    return [torch.cuda.Event(enable_timing=True) for _ in range(n)]


def time_eager(fn, n_sets, reps, inner):
    """Each repetition: `inner` back-to-back calls between two CUDA events."""
    starts, ends = _events(reps), _events(reps)
    idx = 0
    for r in range(reps):
        starts[r].record()
        for _ in range(inner):
            fn(idx % n_sets)
            idx += 1
        ends[r].record()
    torch.cuda.synchronize()
    return [s.elapsed_time(e) * 1000.0 / inner for s, e in zip(starts, ends)]


def time_graph(fn, n_sets, reps, inner):
    """Capture `inner` calls in one CUDA graph; each repetition times one replay."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for i in range(min(n_sets, 3)):
            fn(i)
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for j in range(inner):
            fn(j % n_sets)
    graph.replay()
    graph.replay()
    torch.cuda.synchronize()
    starts, ends = _events(reps), _events(reps)
    for r in range(reps):
        starts[r].record()
        graph.replay()
        ends[r].record()
    torch.cuda.synchronize()
    samples = [s.elapsed_time(e) * 1000.0 / inner for s, e in zip(starts, ends)]
    del graph
    return samples


def measure(fn, n_sets=1, graph=None):
    """Time fn(i) (i selects one of n_sets rotating input sets).

    Returns {"eager": stats, "graph": stats or error text}.
    """
    if graph is None:
        graph = CONFIG["graph"]
    reps = CONFIG["reps"]
    for i in range(3):
        fn(i % n_sets)
    torch.cuda.synchronize()
    e0, e1 = _events(2)
    e0.record()
    for i in range(5):
        fn(i % n_sets)
    e1.record()
    torch.cuda.synchronize()
    t_est = max(e0.elapsed_time(e1) * 1000.0 / 5, 0.5)
    inner = int(min(1000, max(1, math.ceil(CONFIG["target_us"] / t_est))))
    n_warm = int(min(1000, max(2, CONFIG["warmup_ms"] * 1000.0 / t_est)))
    for i in range(n_warm):
        fn(i % n_sets)
    torch.cuda.synchronize()
    out = {"eager": summarize(time_eager(fn, n_sets, reps, inner), inner)}
    if graph:
        inner_g = int(min(1024, max(inner, n_sets)))
        try:
            out["graph"] = summarize(time_graph(fn, n_sets, reps, inner_g), inner_g)
        except Exception as exc:  # capture can fail for some ops; keep the eager figure
            torch.cuda.synchronize()
            out["graph"] = "graph capture failed: %s" % exc
    return out


# ----------------------------------------------------------------------------
# Result collection
# ----------------------------------------------------------------------------

class Results:
    def __init__(self, path, header):
        self.path = path
        self.header = header
        self.measurements = []
        self.checks = []
        self.errors = []

    def add(self, suite, op, shape, dtype, timing, set_name, impl="torch",
            flops=None, bytes_moved=None, **extra):
        for launch, stats in timing.items():
            if isinstance(stats, str):
                self.errors.append({"suite": suite, "op": op, "shape": shape,
                                    "launch": launch, "error": stats})
                continue
            rec = {"suite": suite, "op": op, "impl": impl, "shape": shape, "dtype": dtype,
                   "launch": launch, "set": set_name}
            rec.update({k: round(v, 4) if isinstance(v, float) else v for k, v in stats.items()})
            t = stats["median_us"] * 1e-6
            if flops is not None:
                rec["flops"] = flops
                rec["tflops"] = round(flops / t / 1e12, 3)
            if bytes_moved is not None:
                rec["bytes"] = bytes_moved
                rec["gbps"] = round(bytes_moved / t / 1e9, 2)
            rec.update(extra)
            self.measurements.append(rec)
            self._print(rec)

    def _print(self, rec):
        extra = ""
        if "tflops" in rec:
            extra += " %8.1f TFLOP/s" % rec["tflops"]
        if "gbps" in rec:
            extra += " %8.1f GB/s" % rec["gbps"]
        print("  %-11s %-28s %-6s %-44s %10.2f us [p10 %.2f p90 %.2f]%s" % (
            rec["suite"], rec["op"][:28], rec["launch"], json.dumps(rec["shape"])[:44],
            rec["median_us"], rec["p10_us"], rec["p90_us"], extra))

    def error(self, suite, op, shape, exc):
        text = "%s: %s" % (type(exc).__name__, exc)
        print("  ERROR %s %s %s: %s" % (suite, op, shape, text))
        self.errors.append({"suite": suite, "op": op, "shape": shape, "error": text[:2000],
                            "traceback": traceback.format_exc()[-2000:]})

    def check(self, name, **fields):
        rec = {"name": name}
        rec.update(fields)
        print("  CHECK %s" % json.dumps(rec))
        self.checks.append(rec)

    def write(self):
        # One measurement per line keeps the file small and diff-friendly.
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("{\n")
            f.write('"header": %s,\n' % json.dumps(self.header, indent=1))
            f.write('"checks": [\n%s\n],\n' % ",\n".join(json.dumps(c) for c in self.checks))
            f.write('"errors": [\n%s\n],\n' % ",\n".join(json.dumps(e) for e in self.errors))
            f.write('"measurements": [\n%s\n]\n' % ",\n".join(
                json.dumps(m) for m in self.measurements))
            f.write("}\n")
        os.replace(tmp, self.path)


def guarded(results, suite, op, shape, body):
    """Run one measurement; record an error instead of stopping the whole suite."""
    try:
        body()
    except Exception as exc:
        try:
            torch.cuda.synchronize()
        except Exception:
            pass
        results.error(suite, op, shape, exc)


# ----------------------------------------------------------------------------
# Environment header
# ----------------------------------------------------------------------------

def nvidia_smi(query):
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=" + query, "--format=csv"],
                             capture_output=True, text=True, timeout=30)
        return out.stdout.strip()
    except Exception as exc:
        return "nvidia-smi failed: %s" % exc


CLOCK_QUERY = "name,clocks.sm,clocks.max.sm,clocks.mem,power.limit,temperature.gpu"


def mamba_ssm_status():
    try:
        import mamba_ssm  # noqa: F401
        return "available %s" % getattr(mamba_ssm, "__version__", "?")
    except Exception as exc:
        return "not available (%s: %s)" % (type(exc).__name__, exc)


def matmul_flag(name):
    try:
        return getattr(torch.backends.cuda.matmul, name)
    except Exception:
        return None


def build_header(args):
    props = torch.cuda.get_device_properties(0)
    method = (
        "CUDA events. For each measurement: 3 calls, then 5 timed calls to estimate the "
        "per-call time t, then warm-up calls for about %.0f ms. 'eager': %d repetitions, each "
        "timing ceil(%.0f us / t) (1..1000) back-to-back launches between two CUDA events and "
        "dividing by that count, so launch-bound kernels report max(GPU time, host issue time). "
        "'graph': the same number of calls (at least one per rotating input set) captured in "
        "one CUDA graph, %d replays each timed with events, divided by the calls per graph. "
        "Inputs whose working set fits in L2 are rotated over several copies so that the "
        "working set exceeds %d MiB (about 2.5x the 50 MB L2), unless a record says "
        "cache=l2_warm. Statistics are over repetitions: median, min, p10, p90, max. "
        "Random normal data, never zeros."
        % (CONFIG["warmup_ms"], CONFIG["reps"], CONFIG["target_us"], CONFIG["reps"],
           CONFIG["rotate_bytes"] // MIB))
    header = {
        "method": method,
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "gpu_name": props.name,
        "sm_count": props.multi_processor_count,
        "l2_cache_bytes": getattr(props, "L2_cache_size", None),
        "gpu_memory_bytes": props.total_memory,
        "compute_capability": "%d.%d" % (props.major, props.minor),
        "driver": nvidia_smi("driver_version"),
        "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "torch": torch.__version__,
        "triton": triton.__version__ if triton is not None else None,
        "python": platform.python_version(),
        "mamba_ssm": mamba_ssm_status(),
        "matmul_allow_tf32": matmul_flag("allow_tf32"),
        "matmul_allow_bf16_reduced_precision_reduction":
            matmul_flag("allow_bf16_reduced_precision_reduction"),
        "clocks_before": nvidia_smi(CLOCK_QUERY),
        "clocks_after": None,
        "suites": args.suites,
        "config": dict(CONFIG),
        "command": " ".join(sys.argv),
    }
    return header


# ----------------------------------------------------------------------------
# Suite: launch and graph overhead
# ----------------------------------------------------------------------------

if triton is not None:
    @triton.jit
    def tiny_kernel(x_ptr):
        tl.store(x_ptr, tl.load(x_ptr) + 1.0)


def suite_launch(res):
    n_launch = 10000
    reps = max(20, CONFIG["reps"] // 1)
    a = torch.randn(1, device=DEV, dtype=torch.float32)
    shape = {"launches": n_launch, "elements": 1}

    def eager_loop(launch_one, op, impl):
        for _ in range(200):
            launch_one()
        torch.cuda.synchronize()
        starts, ends = _events(reps), _events(reps)
        host = []
        for r in range(reps):
            t0 = time.perf_counter()
            starts[r].record()
            for _ in range(n_launch):
                launch_one()
            ends[r].record()
            host.append((time.perf_counter() - t0) * 1e6 / n_launch)
            torch.cuda.synchronize()
        dev = [s.elapsed_time(e) * 1000.0 / n_launch for s, e in zip(starts, ends)]
        stats = summarize(dev, n_launch)
        hstats = summarize(host, n_launch)
        res.add("launch", op, shape, "fp32", {"eager": stats}, "calibration", impl=impl,
                host_issue_median_us=round(hstats["median_us"], 4),
                host_issue_p10_us=round(hstats["p10_us"], 4),
                host_issue_p90_us=round(hstats["p90_us"], 4),
                note="per-launch time of %d back-to-back launches, GPU-side events; "
                     "host_issue_* is the host time to issue one launch" % n_launch)

    guarded(res, "launch", "add_1elem", shape,
            lambda: eager_loop(lambda: a.add_(1.0), "add_1elem", "torch"))
    if triton is not None:
        guarded(res, "launch", "triton_tiny", shape,
                lambda: eager_loop(lambda: tiny_kernel[(1,)](a), "triton_tiny", "triton-own"))

    def graph_many():
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            a.add_(1.0)
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(n_launch):
                a.add_(1.0)
        g.replay()
        torch.cuda.synchronize()
        starts, ends = _events(reps), _events(reps)
        for r in range(reps):
            starts[r].record()
            g.replay()
            ends[r].record()
        torch.cuda.synchronize()
        dev = [s.elapsed_time(e) * 1000.0 / n_launch for s, e in zip(starts, ends)]
        res.add("launch", "add_1elem", shape, "fp32", {"graph": summarize(dev, n_launch)},
                "calibration", note="one graph of %d kernels; per-kernel time of a replay"
                % n_launch)

        # A graph of one kernel, replayed back to back: cost of one graph launch.
        g1 = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g1):
            a.add_(1.0)
        for _ in range(100):
            g1.replay()
        torch.cuda.synchronize()
        n_rep = 2000
        starts, ends = _events(reps), _events(reps)
        for r in range(reps):
            starts[r].record()
            for _ in range(n_rep):
                g1.replay()
            ends[r].record()
        torch.cuda.synchronize()
        dev = [s.elapsed_time(e) * 1000.0 / n_rep for s, e in zip(starts, ends)]
        res.add("launch", "graph_replay_1kernel", {"replays": n_rep, "elements": 1}, "fp32",
                {"eager": summarize(dev, n_rep)}, "calibration",
                note="per-replay time of a one-kernel graph replayed back to back")

    guarded(res, "launch", "add_1elem graph", shape, graph_many)

    def round_trip():
        for _ in range(100):
            a.add_(1.0)
            torch.cuda.synchronize()
        samples = []
        for _ in range(1000):
            t0 = time.perf_counter()
            a.add_(1.0)
            torch.cuda.synchronize()
            samples.append((time.perf_counter() - t0) * 1e6)
        res.add("launch", "round_trip_add_sync", {"elements": 1}, "fp32",
                {"host": summarize(samples, 1)}, "calibration",
                note="host wall time of one launch plus torch.cuda.synchronize(); "
                     "statistics over 1000 single samples")

    guarded(res, "launch", "round_trip", {"elements": 1}, round_trip)
    del a


# ----------------------------------------------------------------------------
# Suite: memory bandwidth
# ----------------------------------------------------------------------------

if triton is not None:
    @triton.jit
    def read_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr, ITERS: tl.constexpr):
        pid = tl.program_id(0).to(tl.int64)
        base = pid * BLOCK * ITERS
        acc = tl.zeros([BLOCK], dtype=tl.float32)
        for i in range(ITERS):
            offs = base + i * BLOCK + tl.arange(0, BLOCK)
            acc += tl.load(x_ptr + offs, mask=offs < n, other=0.0).to(tl.float32)
        tl.store(out_ptr + pid, tl.sum(acc, axis=0))


def triton_read(x, partial):
    n = x.numel()
    block = 4096
    iters = 8 if n >= block * 8 * 132 * 4 else 1
    grid = (triton.cdiv(n, block * iters),)
    read_kernel[grid](x, partial, n, BLOCK=block, ITERS=iters, num_warps=8)


def suite_memory(res):
    for size_mib in MEM_SIZES_MIB:
        nbytes = size_mib * MIB
        numel = nbytes // 2
        set_name = "validation" if size_mib == 2048 else "calibration"
        variants = ["l2_warm"] if nbytes >= 256 * MIB else ["l2_warm", "rotated"]
        for cache in variants:
            n_sets = 1 if cache == "l2_warm" else rotating_sets(2 * nbytes)
            shape = {"bytes": nbytes, "cache": cache, "rotating_sets": n_sets}
            if nbytes >= 256 * MIB:
                shape["cache"] = "single_buffer_exceeds_l2"

            def body():
                src = [torch.randn(numel, device=DEV, dtype=BF16) for _ in range(n_sets)]
                dst = [torch.empty_like(src[0]) for _ in range(n_sets)]
                res.add("memory", "copy_d2d", shape, "bf16",
                        measure(lambda i: dst[i].copy_(src[i]), n_sets), set_name,
                        bytes_moved=2 * nbytes, note="bytes = read + write")
                res.add("memory", "read_sum", shape, "bf16",
                        measure(lambda i: src[i].sum(), n_sets), set_name,
                        bytes_moved=nbytes, note="torch x.sum(), fp32 accumulation")
                if triton is not None:
                    partial = torch.empty(triton.cdiv(numel, 4096), device=DEV,
                                          dtype=torch.float32)
                    res.add("memory", "read_triton", shape, "bf16",
                            measure(lambda i: triton_read(src[i], partial), n_sets), set_name,
                            impl="triton-own", bytes_moved=nbytes,
                            note="triton kernel: each program sums 32 KiB..256 KiB")
                res.add("memory", "write_fill", shape, "bf16",
                        measure(lambda i: dst[i].fill_(1.0), n_sets), set_name,
                        bytes_moved=nbytes, note="x.fill_(1.0)")
                del src, dst

            guarded(res, "memory", "size %d MiB %s" % (size_mib, cache), shape, body)
            torch.cuda.empty_cache()


# ----------------------------------------------------------------------------
# Suite: GEMM
# ----------------------------------------------------------------------------

GEMM_M = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]

# (model, layer, N, K, whole family in validation)
GEMM_SHAPES = [
    ("mamba2-2.7b", "in_proj", 10576, 2560, False),
    ("mamba2-2.7b", "out_proj", 2560, 5120, False),
    ("mamba-2.8b", "in_proj", 10240, 2560, False),
    ("mamba-2.8b", "x_proj", 192, 5120, False),
    ("mamba-2.8b", "dt_proj", 5120, 160, False),
    ("mamba-2.8b", "out_proj", 2560, 5120, False),
    ("mamba2-780m", "in_proj", 6448, 1536, True),
    ("mamba2-780m", "out_proj", 1536, 3072, True),
    ("llama-3.2-1b", "qkv_proj", 3072, 2048, True),
    ("llama-3.2-1b", "o_proj", 2048, 2048, True),
    ("llama-3.2-1b", "gate_up_proj", 16384, 2048, True),
    ("llama-3.2-1b", "down_proj", 2048, 8192, True),
]


# Held-out projection shapes: models the "gemm" suite does not time, at M values that are not
# powers of two as well. (model, layer, N, K, set): whole models go to one set, so that a fit
# on the calibration models is judged on shapes it never saw.
GEMM_HELDOUT_M = [1, 3, 16, 48, 100, 256, 384, 1000, 1536, 3000, 4096, 8192]
GEMM_HELDOUT_SHAPES = [
    ("mamba-130m", "in_proj", 3072, 768, "calibration"),
    ("mamba-130m", "x_proj", 80, 1536, "calibration"),
    ("mamba-130m", "out_proj", 768, 1536, "calibration"),
    ("mamba-1.4b", "in_proj", 8192, 2048, "validation"),
    ("mamba-1.4b", "x_proj", 160, 4096, "validation"),
    ("mamba-1.4b", "dt_proj", 4096, 128, "validation"),
    ("mamba-1.4b", "out_proj", 2048, 4096, "validation"),
    ("mamba2-370m", "in_proj", 4384, 1024, "calibration"),
    ("mamba2-370m", "out_proj", 1024, 2048, "calibration"),
    ("mamba2-1.3b", "in_proj", 8512, 2048, "validation"),
    ("mamba2-1.3b", "out_proj", 2048, 4096, "validation"),
    ("falcon-mamba-7b", "in_proj", 16384, 4096, "calibration"),
    ("falcon-mamba-7b", "x_proj", 288, 8192, "calibration"),
    ("falcon-mamba-7b", "dt_proj", 8192, 256, "calibration"),
    ("falcon-mamba-7b", "out_proj", 4096, 8192, "calibration"),
    ("mamba-codestral-7b", "in_proj", 18560, 4096, "validation"),
    ("mamba-codestral-7b", "out_proj", 4096, 8192, "validation"),
    ("llama-3-8b", "qkv_proj", 6144, 4096, "calibration"),
    ("llama-3-8b", "o_proj", 4096, 4096, "calibration"),
    ("llama-3-8b", "gate_up_proj", 28672, 4096, "calibration"),
    ("llama-3-8b", "down_proj", 4096, 14336, "calibration"),
    ("nemotron-h-8b", "mlp_up", 21504, 4096, "validation"),
    ("nemotron-h-8b", "mlp_down", 4096, 21504, "validation"),
    ("granite-4.0-h-tiny", "in_proj", 6448, 1536, "validation"),
    ("granite-4.0-h-tiny", "expert_up", 1024, 1536, "validation"),
    ("granite-4.0-h-tiny", "expert_down", 1536, 512, "validation"),
    ("lm_head-32k", "lm_head", 32000, 4096, "calibration"),
    ("lm_head-128k", "lm_head", 128256, 2048, "validation"),
]


def gemm_kernels(fn):
    """The GPU kernels one call of fn launches, with their grids (PyTorch profiler trace)."""
    import tempfile
    from torch.profiler import ProfilerActivity, profile
    fn(0)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn(0)
        torch.cuda.synchronize()
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        prof.export_chrome_trace(f.name)
        with open(f.name) as g:
            trace = json.load(g)
    kernels = []
    for ev in trace.get("traceEvents", []):
        if ev.get("cat") == "kernel":
            args = ev.get("args", {})
            kernels.append({"name": ev.get("name", "")[:200], "grid": args.get("grid"),
                            "block": args.get("block"),
                            "registers": args.get("registers per thread"),
                            "shared_bytes": args.get("shared memory"),
                            "us": ev.get("dur")})
    return kernels


def suite_gemm_shapes(res):
    for model, layer, N, K, set_name in GEMM_HELDOUT_SHAPES:
        for M in GEMM_HELDOUT_M:
            if model.startswith("lm_head") and M > 1536:
                continue  # a prompt's logits are taken for its last token only
            gemm_one(res, model, layer, M, N, K, set_name)
        torch.cuda.empty_cache()


# Sizes of the non-GEMM suites.
MEM_SIZES_MIB = [1, 16, 256, 2048]
ELTWISE_M = [1, 128, 2048, 8192]
ELTWISE_D = [2560, 5120]
ATTN_KV = [512, 2048, 8192]
MAMBA1_D = 5120          # Mamba-2.8B d_inner
SCAN_L = [512, 2048]
STEP_BATCHES = [1, 16, 64]
SSD_SHAPE = (1, 2048, 80, 64, 128, 256)  # batch, L, heads, head_dim, d_state, chunk


def gemm_one(res, model, layer, M, N, K, set_name):
    shape = {"model": model, "layer": layer, "M": M, "N": N, "K": K}

    def body():
        set_bytes = (N * K + M * K) * 2
        n_sets = rotating_sets(set_bytes)
        xs = [torch.randn(M, K, device=DEV, dtype=BF16) for _ in range(n_sets)]
        ws = [torch.randn(N, K, device=DEV, dtype=BF16) for _ in range(n_sets)]
        shape["rotating_sets"] = n_sets
        fn = lambda i: F.linear(xs[i], ws[i])
        res.add("gemm", "linear", shape, "bf16", measure(fn, n_sets), set_name,
                flops=2 * M * N * K, bytes_moved=(M * K + N * K + M * N) * 2,
                kernels=gemm_kernels(fn),
                note="y = x @ W^T via F.linear; bytes = x + W + y once; kernels: what one "
                     "call launched, from the PyTorch profiler")
        del xs, ws

    guarded(res, "gemm", "%s/%s" % (model, layer), shape, body)


def suite_gemm(res):
    for model, layer, N, K, all_val in GEMM_SHAPES:
        for idx, M in enumerate(GEMM_M):
            set_name = "validation" if (all_val or idx % 2 == 1) else "calibration"
            gemm_one(res, model, layer, M, N, K, set_name)
        torch.cuda.empty_cache()
    for idx, M in enumerate([1, 16, 128]):
        gemm_one(res, "lm_head", "lm_head", M, 50280, 2560,
                 "validation" if idx % 2 == 1 else "calibration")
    torch.cuda.empty_cache()
    for idx, S in enumerate([256, 512, 1024, 2048, 4096, 8192]):
        gemm_one(res, "square", "square", S, S, S,
                 "validation" if idx % 2 == 1 else "calibration")
    torch.cuda.empty_cache()


# ----------------------------------------------------------------------------
# Suite: element-wise and norms
# ----------------------------------------------------------------------------

def rmsnorm_torch(x, w, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def suite_elementwise(res):
    eps = 1e-5
    for M in ELTWISE_M:
        for D in ELTWISE_D:
            shape = {"M": M, "D": D}
            md_bytes = M * D * 2

            def body():
                n_sets = rotating_sets(3 * md_bytes)
                shape["rotating_sets"] = n_sets
                xs = [torch.randn(M, D, device=DEV, dtype=BF16) for _ in range(n_sets)]
                ys = [torch.randn(M, D, device=DEV, dtype=BF16) for _ in range(n_sets)]
                w = torch.randn(D, device=DEV, dtype=BF16)
                res.add("elementwise", "silu", shape, "bf16",
                        measure(lambda i: F.silu(xs[i]), n_sets), "calibration",
                        bytes_moved=2 * md_bytes)
                res.add("elementwise", "add", shape, "bf16",
                        measure(lambda i: xs[i] + ys[i], n_sets), "calibration",
                        bytes_moved=3 * md_bytes)
                res.add("elementwise", "softplus", shape, "bf16",
                        measure(lambda i: F.softplus(xs[i]), n_sets), "calibration",
                        bytes_moved=2 * md_bytes)
                res.add("elementwise", "rmsnorm_torch_ops", shape, "bf16",
                        measure(lambda i: rmsnorm_torch(xs[i], w, eps), n_sets), "calibration",
                        bytes_moved=2 * md_bytes + D * 2,
                        note="x * rsqrt(mean(x^2) + eps) * w as separate torch ops in bf16; "
                             "bytes count one read of x and w and one write")
                if hasattr(F, "rms_norm"):
                    res.add("elementwise", "rmsnorm_fused", shape, "bf16",
                            measure(lambda i: F.rms_norm(xs[i], (D,), w, eps), n_sets),
                            "calibration", bytes_moved=2 * md_bytes + D * 2,
                            note="torch.nn.functional.rms_norm")
                del xs, ys

            guarded(res, "elementwise", "M%d D%d" % (M, D), shape, body)
        torch.cuda.empty_cache()


# ----------------------------------------------------------------------------
# Suite: attention
# ----------------------------------------------------------------------------

def suite_attention(res):
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:
        SDPBackend = None
        sdpa_kernel = None
    heads, kv_heads, head_dim = 32, 8, 64
    groups = heads // kv_heads

    # (backend name, SDPBackend member name or None for the default dispatch, gqa mode)
    variants = [
        ("flash", "FLASH_ATTENTION", "enable_gqa"),
        ("flash", "FLASH_ATTENTION", "expanded_kv"),
        ("cudnn", "CUDNN_ATTENTION", "expanded_kv"),
        ("default", None, "enable_gqa"),
    ]

    def sdpa(q, k, v, causal, gqa):
        if gqa == "enable_gqa":
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    for mode, q_len_of in [("prefill", lambda n: n), ("decode", lambda n: 1)]:
        for kv_len in ATTN_KV:
            q_len = q_len_of(kv_len)
            causal = mode == "prefill"
            set_name = "validation" if kv_len == 8192 else "calibration"
            for backend, member, gqa in variants:
                shape = {"mode": mode, "batch": 1, "heads": heads, "kv_heads": kv_heads,
                         "head_dim": head_dim, "q_len": q_len, "kv_len": kv_len,
                         "causal": causal, "backend": backend, "gqa": gqa}

                def body():
                    kv_h = kv_heads if gqa == "enable_gqa" else heads
                    kv_bytes = 2 * kv_h * kv_len * head_dim * 2
                    n_sets = rotating_sets(kv_bytes) if mode == "decode" else 1
                    shape["rotating_sets"] = n_sets
                    qs, ks, vs = [], [], []
                    for _ in range(n_sets):
                        qs.append(torch.randn(1, heads, q_len, head_dim, device=DEV,
                                              dtype=BF16))
                        k = torch.randn(1, kv_heads, kv_len, head_dim, device=DEV, dtype=BF16)
                        v = torch.randn(1, kv_heads, kv_len, head_dim, device=DEV, dtype=BF16)
                        if gqa == "expanded_kv":
                            k = k.repeat_interleave(groups, dim=1).contiguous()
                            v = v.repeat_interleave(groups, dim=1).contiguous()
                        ks.append(k)
                        vs.append(v)
                    if causal:
                        flops = 2 * heads * q_len * kv_len * head_dim  # 4*h*L^2*d / 2
                    else:
                        flops = 4 * heads * q_len * kv_len * head_dim
                    bytes_moved = kv_bytes + 2 * heads * q_len * head_dim * 2

                    def fn(i):
                        return sdpa(qs[i], ks[i], vs[i], causal, gqa)

                    if member is not None:
                        if sdpa_kernel is None:
                            raise RuntimeError("torch.nn.attention.sdpa_kernel not available")
                        with sdpa_kernel([getattr(SDPBackend, member)]):
                            fn(0)
                            torch.cuda.synchronize()
                            timing = measure(fn, n_sets)
                    else:
                        timing = measure(fn, n_sets)
                    res.add("attention", "sdpa_%s" % mode, shape, "bf16", timing, set_name,
                            flops=flops, bytes_moved=bytes_moved,
                            note="flops: causal counts half the score matrix; decode is "
                                 "is_causal=False (one query sees every key); bytes = K + V "
                                 "as passed + q + out; expanded_kv: K/V repeated to 32 heads "
                                 "before timing")
                    del qs, ks, vs

                guarded(res, "attention", "sdpa_%s_%s_%s" % (mode, backend, gqa), shape, body)
            torch.cuda.empty_cache()


# ----------------------------------------------------------------------------
# Suite: SSM scans
# ----------------------------------------------------------------------------
# Layouts (all contiguous):
#   Mamba-1 scan:   u, delta, z, out [b, L, d] bf16; B, C [b, L, n] bf16; A [d, n] fp32;
#                   D, delta_bias [d] fp32; final state [b, d, n] fp32.
#   Mamba-1 step:   state [b, d, n] fp32 (updated in place); x, dt, z, out [b, d] bf16;
#                   B, C [b, n] bf16.
#   Mamba-2 step:   state [b, h, p, n] fp32 (in place); x, z, out [b, h, p] bf16; dt [b, h] bf16;
#                   A, D, dt_bias [h] fp32; B, C [b, n] bf16 (one group).

def softplus_ref(x):
    return torch.where(x <= 20.0, torch.log1p(torch.exp(x)), x)


def mamba1_scan_ref(u, delta, A, B, C, D, z, delta_bias):
    """Sequential Mamba-1 selective scan in fp32 (the mamba_ssm selective_scan_ref math)."""
    u, delta, z, B, C = [t.float() for t in (u, delta, z, B, C)]
    dt = softplus_ref(delta + delta_bias)
    b, L, d = u.shape
    h = torch.zeros(b, d, A.shape[1], device=u.device, dtype=torch.float32)
    ys = []
    for t in range(L):
        dA = torch.exp(dt[:, t, :, None] * A)
        h = dA * h + (dt[:, t, :, None] * u[:, t, :, None]) * B[:, t, None, :]
        ys.append((h * C[:, t, None, :]).sum(-1))
    y = torch.stack(ys, dim=1)
    out = (y + u * D) * F.silu(z)
    return out, h


def mamba1_step_ref(state, x, dt, A, B, C, D, z, dt_bias):
    """One Mamba-1 decode step in torch ops; updates state in place."""
    x, dt, z, B, C = [t.float() for t in (x, dt, z, B, C)]
    dt = F.softplus(dt + dt_bias)
    dA = torch.exp(dt[:, :, None] * A)
    state.copy_(state * dA + (dt * x)[:, :, None] * B[:, None, :])
    y = (state * C[:, None, :]).sum(-1) + D * x
    return (y * F.silu(z)).to(BF16)


def mamba2_step_ref(state, x, dt, A, B, C, D, z, dt_bias):
    """One Mamba-2 decode step in torch ops; updates state in place."""
    x, dt, z, B, C = [t.float() for t in (x, dt, z, B, C)]
    dt = F.softplus(dt + dt_bias)  # [b, h]
    dA = torch.exp(dt * A)  # [b, h]
    state.copy_(state * dA[:, :, None, None]
                + (dt[:, :, None] * x)[:, :, :, None] * B[:, None, None, :])
    y = (state * C[:, None, None, :]).sum(-1) + D[None, :, None] * x
    return (y * F.silu(z)).to(BF16)


def segsum(x):
    """Stable segment sum of the ssd_minimal reference: out[..., i, j] = sum x[j+1..i]."""
    T = x.size(-1)
    x = x.unsqueeze(-1).expand(*x.shape, T)
    mask = torch.tril(torch.ones(T, T, device=x.device, dtype=torch.bool), diagonal=-1)
    x = x.masked_fill(~mask, 0)
    x_segsum = torch.cumsum(x, dim=-2)
    mask = torch.tril(torch.ones(T, T, device=x.device, dtype=torch.bool), diagonal=0)
    return x_segsum.masked_fill(~mask, -torch.inf)


def ssd_minimal(X, A, B, C, block_len):
    """Mamba-2 SSD, the 'ssd_minimal_discrete' reference in plain torch ops.

    X: [b, l, h, p]; A: [b, l, h] (already dt-scaled log decay); B, C: [b, l, h, n].
    Returns Y [b, l, h, p] and the final state [b, h, p, n].
    """
    b, l, h, p = X.shape
    n = B.shape[-1]
    c = l // block_len
    X = X.reshape(b, c, block_len, h, p)
    B = B.reshape(b, c, block_len, h, n)
    C = C.reshape(b, c, block_len, h, n)
    A = A.reshape(b, c, block_len, h).permute(0, 3, 1, 2)  # b h c l
    A_cumsum = torch.cumsum(A, dim=-1)

    # 1. Intra-chunk output (diagonal blocks).
    Lmat = torch.exp(segsum(A))
    Y_diag = torch.einsum("bclhn,bcshn,bhcls,bcshp->bclhp", C, B, Lmat, X)

    # 2. State at the end of each chunk.
    decay_states = torch.exp(A_cumsum[:, :, :, -1:] - A_cumsum)
    states = torch.einsum("bclhn,bhcl,bclhp->bchpn", B, decay_states, X)

    # 3. Inter-chunk recurrence.
    initial_states = torch.zeros_like(states[:, :1])
    states = torch.cat([initial_states, states], dim=1)
    decay_chunk = torch.exp(segsum(F.pad(A_cumsum[:, :, :, -1], (1, 0))))
    new_states = torch.einsum("bhzc,bchpn->bzhpn", decay_chunk, states)
    states, final_state = new_states[:, :-1], new_states[:, -1]

    # 4. State -> output per chunk.
    state_decay_out = torch.exp(A_cumsum)
    Y_off = torch.einsum("bclhn,bchpn,bhcl->bclhp", C, states, state_decay_out)
    Y = (Y_diag + Y_off).reshape(b, l, h, p)
    return Y, final_state


def ssd_sequential(X, A, B, C):
    """Step-by-step Mamba-2 recurrence, the check for ssd_minimal."""
    b, l, h, p = X.shape
    n = B.shape[-1]
    state = torch.zeros(b, h, p, n, device=X.device, dtype=X.dtype)
    ys = []
    for t in range(l):
        state = (torch.exp(A[:, t])[:, :, None, None] * state
                 + X[:, t, :, :, None] * B[:, t, :, None, :])
        ys.append((state * C[:, t, :, None, :]).sum(-1))
    return torch.stack(ys, dim=1), state


if triton is not None:
    @triton.jit
    def _softplus(x):
        return tl.where(x <= 20.0, tl.log(1.0 + tl.exp(x)), x)

    @triton.jit
    def mamba1_scan_seq_kernel(u_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, dtb_ptr,
                               out_ptr, hout_ptr, L, DIM,
                               NSTATE: tl.constexpr, BLOCK_D: tl.constexpr):
        # One program per (batch, block of BLOCK_D channels); sequential over time;
        # the [BLOCK_D, NSTATE] state stays in registers.
        pid_b = tl.program_id(0)
        pid_d = tl.program_id(1)
        offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
        offs_n = tl.arange(0, NSTATE)
        mask_d = offs_d < DIM
        A = tl.load(A_ptr + offs_d[:, None] * NSTATE + offs_n[None, :],
                    mask=mask_d[:, None], other=0.0)
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0)
        dtb = tl.load(dtb_ptr + offs_d, mask=mask_d, other=0.0)
        h = tl.zeros([BLOCK_D, NSTATE], dtype=tl.float32)
        row = pid_b * L * DIM
        bc_row = pid_b * L * NSTATE
        for t in range(L):
            p = row + t * DIM + offs_d
            u = tl.load(u_ptr + p, mask=mask_d, other=0.0).to(tl.float32)
            dt = _softplus(tl.load(dt_ptr + p, mask=mask_d, other=0.0).to(tl.float32) + dtb)
            z = tl.load(z_ptr + p, mask=mask_d, other=0.0).to(tl.float32)
            Bt = tl.load(B_ptr + bc_row + t * NSTATE + offs_n).to(tl.float32)
            Ct = tl.load(C_ptr + bc_row + t * NSTATE + offs_n).to(tl.float32)
            dA = tl.exp(dt[:, None] * A)
            h = dA * h + (dt * u)[:, None] * Bt[None, :]
            y = tl.sum(h * Ct[None, :], axis=1)
            out = (y + Dv * u) * (z * tl.sigmoid(z))
            tl.store(out_ptr + p, out.to(out_ptr.dtype.element_ty), mask=mask_d)
        tl.store(hout_ptr + pid_b * DIM * NSTATE + offs_d[:, None] * NSTATE + offs_n[None, :],
                 h, mask=mask_d[:, None])

    @triton.jit
    def _linrec_combine(a_l, b_l, a_r, b_r):
        # (a_l, b_l) is the earlier segment: h -> a_r * (a_l * h + b_l) + b_r
        return a_l * a_r, b_l * a_r + b_r

    @triton.jit
    def mamba1_scan_chunk_kernel(u_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, dtb_ptr,
                                 out_ptr, hout_ptr, L, DIM,
                                 NSTATE: tl.constexpr, BLOCK_D: tl.constexpr,
                                 CHUNK: tl.constexpr):
        # One program per (batch, block of channels); time in chunks of CHUNK steps, each
        # chunk scanned in parallel with tl.associative_scan over [BLOCK_D, NSTATE, CHUNK].
        pid_b = tl.program_id(0)
        pid_d = tl.program_id(1)
        offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
        offs_n = tl.arange(0, NSTATE)
        offs_t = tl.arange(0, CHUNK)
        mask_d = offs_d < DIM
        A = tl.load(A_ptr + offs_d[:, None] * NSTATE + offs_n[None, :],
                    mask=mask_d[:, None], other=0.0)
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0)
        dtb = tl.load(dtb_ptr + offs_d, mask=mask_d, other=0.0)
        h = tl.zeros([BLOCK_D, NSTATE], dtype=tl.float32)
        row = pid_b * L * DIM
        bc_row = pid_b * L * NSTATE
        for t0 in range(0, L, CHUNK):
            t = t0 + offs_t
            mask_t = t < L
            m2 = mask_d[:, None] & mask_t[None, :]
            p = row + t[None, :] * DIM + offs_d[:, None]  # [BLOCK_D, CHUNK]
            u = tl.load(u_ptr + p, mask=m2, other=0.0).to(tl.float32)
            dt = _softplus(tl.load(dt_ptr + p, mask=m2, other=0.0).to(tl.float32)
                           + dtb[:, None])
            dt = tl.where(m2, dt, 0.0)  # padded steps: decay 1, input 0 (identity)
            z = tl.load(z_ptr + p, mask=m2, other=0.0).to(tl.float32)
            pbc = bc_row + t[None, :] * NSTATE + offs_n[:, None]  # [NSTATE, CHUNK]
            Bt = tl.load(B_ptr + pbc, mask=mask_t[None, :], other=0.0).to(tl.float32)
            Ct = tl.load(C_ptr + pbc, mask=mask_t[None, :], other=0.0).to(tl.float32)
            dA = tl.exp(dt[:, None, :] * A[:, :, None])  # [BLOCK_D, NSTATE, CHUNK]
            dBu = (dt * u)[:, None, :] * Bt[None, :, :]
            a_cum, h_loc = tl.associative_scan((dA, dBu), axis=2, combine_fn=_linrec_combine)
            hs = a_cum * h[:, :, None] + h_loc
            y = tl.sum(hs * Ct[None, :, :], axis=1)  # [BLOCK_D, CHUNK]
            out = (y + Dv[:, None] * u) * (z * tl.sigmoid(z))
            tl.store(out_ptr + p, out.to(out_ptr.dtype.element_ty), mask=m2)
            h = tl.sum(tl.where((offs_t == CHUNK - 1)[None, None, :], hs, 0.0), axis=2)
        tl.store(hout_ptr + pid_b * DIM * NSTATE + offs_d[:, None] * NSTATE + offs_n[None, :],
                 h, mask=mask_d[:, None])

    @triton.jit
    def mamba1_step_kernel(state_ptr, x_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr,
                           dtb_ptr, out_ptr, DIM,
                           NSTATE: tl.constexpr, BLOCK_D: tl.constexpr):
        pid_b = tl.program_id(0)
        pid_d = tl.program_id(1)
        offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
        offs_n = tl.arange(0, NSTATE)
        mask_d = offs_d < DIM
        sp = state_ptr + pid_b * DIM * NSTATE + offs_d[:, None] * NSTATE + offs_n[None, :]
        s = tl.load(sp, mask=mask_d[:, None], other=0.0)
        xp = pid_b * DIM + offs_d
        x = tl.load(x_ptr + xp, mask=mask_d, other=0.0).to(tl.float32)
        z = tl.load(z_ptr + xp, mask=mask_d, other=0.0).to(tl.float32)
        dt = _softplus(tl.load(dt_ptr + xp, mask=mask_d, other=0.0).to(tl.float32)
                       + tl.load(dtb_ptr + offs_d, mask=mask_d, other=0.0))
        A = tl.load(A_ptr + offs_d[:, None] * NSTATE + offs_n[None, :],
                    mask=mask_d[:, None], other=0.0)
        Bv = tl.load(B_ptr + pid_b * NSTATE + offs_n).to(tl.float32)
        Cv = tl.load(C_ptr + pid_b * NSTATE + offs_n).to(tl.float32)
        Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0)
        s = s * tl.exp(dt[:, None] * A) + (dt * x)[:, None] * Bv[None, :]
        tl.store(sp, s, mask=mask_d[:, None])
        y = tl.sum(s * Cv[None, :], axis=1) + Dv * x
        y = y * (z * tl.sigmoid(z))
        tl.store(out_ptr + xp, y.to(out_ptr.dtype.element_ty), mask=mask_d)

    @triton.jit
    def mamba2_step_kernel(state_ptr, x_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr,
                           dtb_ptr, out_ptr, NHEADS, HEADDIM,
                           NSTATE: tl.constexpr, BLOCK_P: tl.constexpr):
        pid_b = tl.program_id(0)
        pid_h = tl.program_id(1)
        pid_p = tl.program_id(2)
        offs_p = pid_p * BLOCK_P + tl.arange(0, BLOCK_P)
        offs_n = tl.arange(0, NSTATE)
        mask_p = offs_p < HEADDIM
        bh = pid_b * NHEADS + pid_h
        sp = state_ptr + bh * HEADDIM * NSTATE + offs_p[:, None] * NSTATE + offs_n[None, :]
        s = tl.load(sp, mask=mask_p[:, None], other=0.0)
        xp = bh * HEADDIM + offs_p
        x = tl.load(x_ptr + xp, mask=mask_p, other=0.0).to(tl.float32)
        z = tl.load(z_ptr + xp, mask=mask_p, other=0.0).to(tl.float32)
        dt = _softplus(tl.load(dt_ptr + bh).to(tl.float32) + tl.load(dtb_ptr + pid_h))
        dA = tl.exp(dt * tl.load(A_ptr + pid_h))
        Bv = tl.load(B_ptr + pid_b * NSTATE + offs_n).to(tl.float32)
        Cv = tl.load(C_ptr + pid_b * NSTATE + offs_n).to(tl.float32)
        s = s * dA + (dt * x)[:, None] * Bv[None, :]
        tl.store(sp, s, mask=mask_p[:, None])
        y = tl.sum(s * Cv[None, :], axis=1) + tl.load(D_ptr + pid_h) * x
        y = y * (z * tl.sigmoid(z))
        tl.store(out_ptr + xp, y.to(out_ptr.dtype.element_ty), mask=mask_p)


def mamba1_scan_triton(kind, u, delta, A, B, C, D, z, delta_bias, out, hout,
                       block_d, chunk=16, num_warps=4):
    b, L, d = u.shape
    n = A.shape[1]
    grid = (b, triton.cdiv(d, block_d))
    if kind == "seq":
        mamba1_scan_seq_kernel[grid](u, delta, A, B, C, D, z, delta_bias, out, hout, L, d,
                                     NSTATE=n, BLOCK_D=block_d, num_warps=num_warps)
    else:
        mamba1_scan_chunk_kernel[grid](u, delta, A, B, C, D, z, delta_bias, out, hout, L, d,
                                       NSTATE=n, BLOCK_D=block_d, CHUNK=chunk,
                                       num_warps=num_warps)


def mamba1_step_triton(state, x, dt, A, B, C, D, z, dt_bias, out, block_d=64, num_warps=4):
    b, d = x.shape
    n = A.shape[1]
    grid = (b, triton.cdiv(d, block_d))
    mamba1_step_kernel[grid](state, x, dt, A, B, C, D, z, dt_bias, out, d,
                             NSTATE=n, BLOCK_D=block_d, num_warps=num_warps)


def mamba2_step_triton(state, x, dt, A, B, C, D, z, dt_bias, out, block_p=16, num_warps=4):
    b, h, p = x.shape
    n = B.shape[1]
    grid = (b, h, triton.cdiv(p, block_p))
    mamba2_step_kernel[grid](state, x, dt, A, B, C, D, z, dt_bias, out, h, p,
                             NSTATE=n, BLOCK_P=block_p, num_warps=num_warps)


def mamba1_inputs(b, L, d, n, device=None):
    device = device or DEV
    u = torch.randn(b, L, d, device=device, dtype=BF16)
    delta = (torch.randn(b, L, d, device=device) * 0.5 - 2.0).to(BF16)
    z = torch.randn(b, L, d, device=device, dtype=BF16)
    A = -torch.arange(1, n + 1, device=device, dtype=torch.float32).repeat(d, 1).contiguous()
    Bm = torch.randn(b, L, n, device=device, dtype=BF16)
    Cm = torch.randn(b, L, n, device=device, dtype=BF16)
    D = torch.randn(d, device=device, dtype=torch.float32)
    dtb = torch.rand(d, device=device, dtype=torch.float32) * 0.5
    return u, delta, A, Bm, Cm, D, z, dtb


def mamba1_step_inputs(b, d, n, device=None):
    device = device or DEV
    state = torch.randn(b, d, n, device=device, dtype=torch.float32)
    x = torch.randn(b, d, device=device, dtype=BF16)
    dt = (torch.randn(b, d, device=device) * 0.5 - 2.0).to(BF16)
    A = -torch.arange(1, n + 1, device=device, dtype=torch.float32).repeat(d, 1).contiguous()
    Bv = torch.randn(b, n, device=device, dtype=BF16)
    Cv = torch.randn(b, n, device=device, dtype=BF16)
    D = torch.randn(d, device=device, dtype=torch.float32)
    z = torch.randn(b, d, device=device, dtype=BF16)
    dtb = torch.rand(d, device=device, dtype=torch.float32) * 0.5
    return state, x, dt, A, Bv, Cv, D, z, dtb


def mamba2_step_inputs(b, h, p, n, device=None):
    device = device or DEV
    state = torch.randn(b, h, p, n, device=device, dtype=torch.float32)
    x = torch.randn(b, h, p, device=device, dtype=BF16)
    dt = (torch.randn(b, h, device=device) * 0.5 - 2.0).to(BF16)
    A = -torch.rand(h, device=device, dtype=torch.float32) * 8.0 - 1.0
    Bv = torch.randn(b, n, device=device, dtype=BF16)
    Cv = torch.randn(b, n, device=device, dtype=BF16)
    D = torch.randn(h, device=device, dtype=torch.float32)
    z = torch.randn(b, h, p, device=device, dtype=BF16)
    dtb = torch.rand(h, device=device, dtype=torch.float32) * 0.5
    return state, x, dt, A, Bv, Cv, D, z, dtb


def ssd_inputs(b, L, h, p, n, dtype, device=None):
    device = device or DEV
    x = torch.randn(b, L, h, p, device=device, dtype=torch.float32)
    dt = F.softplus(torch.randn(b, L, h, device=device) * 0.5 - 2.0)
    A = -torch.rand(h, device=device) * 8.0 - 1.0
    Bm = torch.randn(b, L, 1, n, device=device).expand(b, L, h, n)
    Cm = torch.randn(b, L, 1, n, device=device).expand(b, L, h, n)
    X = (x * dt[..., None]).to(dtype)
    Ad = (A * dt).to(dtype)
    return X, Ad, Bm.to(dtype), Cm.to(dtype)


def errors_of(out, ref):
    out = out.double()
    ref = ref.double()
    return {"max_abs_err": float((out - ref).abs().max()),
            "rel_err": float((out - ref).norm() / ref.norm()),
            "ref_max_abs": float(ref.abs().max())}


# Configurations of the Mamba-1 scan kernels timed: (kind, BLOCK_D, CHUNK, num_warps).
SCAN_CONFIGS = [
    ("seq", 1, 0, 1),
    ("seq", 8, 0, 1),
    ("seq", 32, 0, 2),
    ("seq", 64, 0, 4),
    ("chunk", 8, 16, 4),
    ("chunk", 16, 16, 4),
    ("chunk", 8, 32, 4),
    ("chunk", 32, 16, 8),
]


def ssm_checks(res):
    torch.manual_seed(1)
    # Mamba-1 scan, odd sizes to exercise the masks.
    b, L, d, n = 2, 100, 80, 16
    args = mamba1_inputs(b, L, d, n)
    ref_out, ref_h = mamba1_scan_ref(*args)
    for kind, block_d, chunk, warps in SCAN_CONFIGS:
        name = "mamba1_scan_%s_bd%d%s" % (kind, block_d, "_c%d" % chunk if chunk else "")

        def body():
            out = torch.full((b, L, d), float("nan"), device=DEV, dtype=BF16)
            hout = torch.full((b, d, n), float("nan"), device=DEV, dtype=torch.float32)
            mamba1_scan_triton(kind, *args, out, hout, block_d, chunk or 16, warps)
            torch.cuda.synchronize()
            e = errors_of(out, ref_out)
            eh = errors_of(hout, ref_h)
            res.check(name, impl="triton-own", shape={"b": b, "L": L, "d": d, "n": n},
                      out=e, final_state=eh,
                      passed=bool(e["rel_err"] < 1e-2 and eh["rel_err"] < 1e-3))

        guarded(res, "ssm", "check " + name, {}, body)

    # Mamba-1 step.
    def step1():
        sargs = mamba1_step_inputs(3, 200, 16)
        st_ref = sargs[0].clone()
        y_ref = mamba1_step_ref(st_ref, *sargs[1:])
        st = sargs[0].clone()
        out = torch.full((3, 200), float("nan"), device=DEV, dtype=BF16)
        mamba1_step_triton(st, *sargs[1:], out)
        torch.cuda.synchronize()
        e, es = errors_of(out, y_ref), errors_of(st, st_ref)
        res.check("mamba1_step", impl="triton-own", shape={"b": 3, "d": 200, "n": 16},
                  out=e, state=es, passed=bool(e["rel_err"] < 1e-2 and es["rel_err"] < 1e-5))

    guarded(res, "ssm", "check mamba1_step", {}, step1)

    # Mamba-2 step.
    def step2():
        sargs = mamba2_step_inputs(3, 5, 40, 128)
        st_ref = sargs[0].clone()
        y_ref = mamba2_step_ref(st_ref, *sargs[1:])
        st = sargs[0].clone()
        out = torch.full((3, 5, 40), float("nan"), device=DEV, dtype=BF16)
        mamba2_step_triton(st, *sargs[1:], out)
        torch.cuda.synchronize()
        e, es = errors_of(out, y_ref), errors_of(st, st_ref)
        res.check("mamba2_step", impl="triton-own", shape={"b": 3, "h": 5, "p": 40, "n": 128},
                  out=e, state=es, passed=bool(e["rel_err"] < 1e-2 and es["rel_err"] < 1e-5))

    guarded(res, "ssm", "check mamba2_step", {}, step2)

    # ssd_minimal against the step-by-step recurrence (float64, chunk 16, 4 chunks).
    def ssd():
        X, A, Bm, Cm = ssd_inputs(2, 64, 3, 8, 16, torch.float64)
        y, fs = ssd_minimal(X, A, Bm, Cm, 16)
        y_ref, fs_ref = ssd_sequential(X, A, Bm, Cm)
        e, es = errors_of(y, y_ref), errors_of(fs, fs_ref)
        res.check("ssd_minimal_vs_sequential", impl="torch-reference",
                  shape={"b": 2, "L": 64, "h": 3, "p": 8, "n": 16, "chunk": 16},
                  out=e, final_state=es, passed=bool(e["rel_err"] < 1e-9))

    guarded(res, "ssm", "check ssd_minimal", {}, ssd)


def suite_ssm(res):
    have_triton = triton is not None
    if have_triton:
        ssm_checks(res)

    d, n = MAMBA1_D, 16
    # (a) Mamba-1 selective scan, batch 1.
    if have_triton:
        for L in SCAN_L:
            args = mamba1_inputs(1, L, d, n)
            out = torch.empty(1, L, d, device=DEV, dtype=BF16)
            hout = torch.empty(1, d, n, device=DEV, dtype=torch.float32)
            for kind, block_d, chunk, warps in SCAN_CONFIGS:
                shape = {"batch": 1, "L": L, "d_inner": d, "d_state": n, "kernel": kind,
                         "block_d": block_d, "chunk": chunk, "num_warps": warps}

                def body():
                    res.add("ssm", "mamba1_selective_scan_fwd", shape, "bf16",
                            measure(lambda i: mamba1_scan_triton(kind, *args, out, hout,
                                                                 block_d, chunk or 16, warps)),
                            "calibration", impl="triton-own",
                            bytes_moved=4 * L * d * 2 + 2 * L * n * 2,
                            note="u, delta, z in, out [b, L, d] bf16; fp32 state; delta "
                                 "softplus; bytes = u + delta + z + out + B + C")

                guarded(res, "ssm", "mamba1_scan", shape, body)
            del args, out, hout

    # (b) Mamba-1 single-token state update.
    for batch in STEP_BATCHES:
        state_bytes = batch * d * n * 4
        n_sets = rotating_sets(state_bytes)
        shape = {"batch": batch, "d_inner": d, "d_state": n, "rotating_sets": n_sets}

        def body():
            sets = [mamba1_step_inputs(batch, d, n) for _ in range(n_sets)]
            outs = [torch.empty(batch, d, device=DEV, dtype=BF16) for _ in range(n_sets)]
            bytes_moved = 2 * state_bytes + 4 * batch * d * 2
            if have_triton:
                res.add("ssm", "mamba1_state_update", shape, "bf16",
                        measure(lambda i: mamba1_step_triton(*sets[i], outs[i]), n_sets),
                        "calibration", impl="triton-own", bytes_moved=bytes_moved,
                        note="fp32 state read and written in place; bytes = 2 x state + "
                             "x, dt, z, out")
            res.add("ssm", "mamba1_state_update", shape, "bf16",
                    measure(lambda i: mamba1_step_ref(*sets[i]), n_sets),
                    "calibration", impl="torch-reference", bytes_moved=bytes_moved,
                    note="separate torch ops in fp32")
            del sets, outs

        guarded(res, "ssm", "mamba1_state_update", shape, body)
        torch.cuda.empty_cache()

    # (c) Mamba-2 SSD, torch reference.
    b, L, h, p, ns, chunk = SSD_SHAPE
    for dtype, dname in [(torch.float32, "fp32"), (BF16, "bf16")]:
        shape = {"batch": b, "L": L, "heads": h, "head_dim": p, "d_state": ns, "chunk": chunk}

        def body():
            X, A, Bm, Cm = ssd_inputs(b, L, h, p, ns, dtype)
            res.add("ssm", "mamba2_ssd_minimal", shape, dname,
                    measure(lambda i: ssd_minimal(X, A, Bm, Cm, chunk)), "calibration",
                    impl="torch-reference",
                    note="ssd_minimal_discrete in plain torch ops (einsum, cumsum, exp); "
                         "B and C shared across heads (one group, expanded view)")
            del X, A, Bm, Cm

        guarded(res, "ssm", "mamba2_ssd_minimal", shape, body)
        torch.cuda.empty_cache()

    # (c) Mamba-2 single-token state update.
    for batch in STEP_BATCHES:
        state_bytes = batch * h * p * ns * 4
        n_sets = rotating_sets(state_bytes)
        shape = {"batch": batch, "heads": h, "head_dim": p, "d_state": ns,
                 "rotating_sets": n_sets}

        def body():
            sets = [mamba2_step_inputs(batch, h, p, ns) for _ in range(n_sets)]
            outs = [torch.empty(batch, h, p, device=DEV, dtype=BF16) for _ in range(n_sets)]
            bytes_moved = 2 * state_bytes + 3 * batch * h * p * 2
            if have_triton:
                res.add("ssm", "mamba2_state_update", shape, "bf16",
                        measure(lambda i: mamba2_step_triton(*sets[i], outs[i]), n_sets),
                        "calibration", impl="triton-own", bytes_moved=bytes_moved,
                        note="fp32 state read and written in place; bytes = 2 x state + "
                             "x, z, out")
            res.add("ssm", "mamba2_state_update", shape, "bf16",
                    measure(lambda i: mamba2_step_ref(*sets[i]), n_sets),
                    "calibration", impl="torch-reference", bytes_moved=bytes_moved,
                    note="separate torch ops in fp32")
            del sets, outs

        guarded(res, "ssm", "mamba2_state_update", shape, body)
        torch.cuda.empty_cache()

    if res.header.get("mamba_ssm", "").startswith("available"):
        guarded(res, "ssm", "mamba_ssm", {}, lambda: suite_mamba_ssm(res))


def suite_mamba_ssm(res):
    """The kernels real deployments use, when the mamba_ssm package is installed."""
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined
    d, n = 5120, 16
    for L in [512, 2048]:
        u, delta, A, Bm, Cm, D, z, dtb = mamba1_inputs(1, L, d, n)
        u_t, delta_t, z_t = [t.transpose(1, 2).contiguous() for t in (u, delta, z)]
        B_t, C_t = Bm.transpose(1, 2).contiguous(), Cm.transpose(1, 2).contiguous()
        shape = {"batch": 1, "L": L, "d_inner": d, "d_state": n}
        res.add("ssm", "mamba1_selective_scan_fwd", shape, "bf16",
                measure(lambda i: selective_scan_fn(u_t, delta_t, A, B_t, C_t, D, z_t, dtb,
                                                    delta_softplus=True)),
                "calibration", impl="mamba_ssm", bytes_moved=4 * L * d * 2 + 2 * L * n * 2)
    b, L, h, p, ns, chunk = 1, 2048, 80, 64, 128, 256
    x = torch.randn(b, L, h, p, device=DEV, dtype=BF16)
    dt = torch.randn(b, L, h, device=DEV, dtype=BF16)
    A = -torch.rand(h, device=DEV) * 8.0 - 1.0
    Bm = torch.randn(b, L, 1, ns, device=DEV, dtype=BF16)
    Cm = torch.randn(b, L, 1, ns, device=DEV, dtype=BF16)
    D = torch.randn(h, device=DEV)
    dtb = torch.rand(h, device=DEV)
    shape = {"batch": b, "L": L, "heads": h, "head_dim": p, "d_state": ns, "chunk": chunk}
    res.add("ssm", "mamba2_chunk_scan_combined", shape, "bf16",
            measure(lambda i: mamba_chunk_scan_combined(x, dt, A, Bm, Cm, chunk, D=D,
                                                        dt_bias=dtb, dt_softplus=True)),
            "calibration", impl="mamba_ssm")


# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------

SUITES = {
    "launch": suite_launch,
    "memory": suite_memory,
    "gemm": suite_gemm,
    "gemm_shapes": suite_gemm_shapes,
    "elementwise": suite_elementwise,
    "attention": suite_attention,
    "ssm": suite_ssm,
}


def print_summary(res):
    print("\n==== summary (median, eager unless marked) ====")
    best = {}
    for m in res.measurements:
        key = (m["suite"], m["op"], m.get("impl"), m["launch"])
        if "tflops" in m and m["suite"] == "gemm":
            if m["tflops"] > best.get(("peak",) + key, 0):
                best[("peak",) + key] = m["tflops"]
        if "gbps" in m and m["suite"] == "memory":
            if m["gbps"] > best.get(("bw",) + key, 0):
                best[("bw",) + key] = m["gbps"]
    for k, v in sorted(best.items()):
        print("  best %-5s %-40s %10.1f" % (k[0], "/".join(str(x) for x in k[1:]), v))
    for m in res.measurements:
        if m["suite"] in ("launch", "ssm", "attention"):
            print("  %-10s %-28s %-16s %-6s %-60s %10.2f us" % (
                m["suite"], m["op"], m.get("impl"), m["launch"],
                json.dumps(m["shape"])[:60], m["median_us"]))
    print("  checks: %d, failed: %d; errors: %d" % (
        len(res.checks), sum(1 for c in res.checks if not c.get("passed")), len(res.errors)))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--suites", default=",".join(ALL_SUITES),
                        help="comma-separated subset of: %s" % ",".join(ALL_SUITES))
    parser.add_argument("--reps", type=int, default=30, help="repetitions per measurement")
    parser.add_argument("--no-graph", action="store_true", help="skip the CUDA-graph timings")
    args = parser.parse_args()

    suites = [s.strip() for s in args.suites.split(",") if s.strip()]
    for s in suites:
        if s not in SUITES:
            parser.error("unknown suite %r" % s)
    args.suites = suites
    if not torch.cuda.is_available():
        sys.exit("CUDA is not available")
    CONFIG["reps"] = max(20, args.reps)
    CONFIG["graph"] = not args.no_graph
    l2 = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 50 * MIB)
    CONFIG["rotate_bytes"] = max(128 * MIB, int(2.5 * l2))

    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    res = Results(args.out, build_header(args))
    t_start = time.time()
    for name in suites:
        print("== suite %s" % name)
        t0 = time.time()
        try:
            SUITES[name](res)
        except Exception as exc:
            res.error(name, "suite", {}, exc)
        res.header.setdefault("suite_seconds", {})[name] = round(time.time() - t0, 1)
        res.header.setdefault("clocks_after_suite", {})[name] = nvidia_smi(CLOCK_QUERY)
        torch.cuda.empty_cache()
        res.write()
        print("== suite %s done in %.1f s" % (name, time.time() - t0))
    res.header["clocks_after"] = nvidia_smi(CLOCK_QUERY)
    res.header["total_seconds"] = round(time.time() - t_start, 1)
    res.write()
    print_summary(res)
    print("wrote %s (%d measurements, %d checks, %d errors)" % (
        args.out, len(res.measurements), len(res.checks), len(res.errors)))


if __name__ == "__main__":
    main()
