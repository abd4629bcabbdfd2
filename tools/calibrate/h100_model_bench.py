#!/usr/bin/env python3
"""End-to-end Mamba-2 model timings and power draw on an NVIDIA H100.

The kernel-level model predicts each op as kernels; these whole-model numbers check its sums.
Suites (--suites, comma-separated; default all):
  model  mamba2-2.7b/-780m/-130m in plain torch ops, random weights: prefill (batch 1, 512 and
         2048 tokens, eager) and one-token decode steps (batch 1 and 16, eager and CUDA graph)
  power  nvidia-smi power draw: idle, bf16 GEMM loop, 2 GiB copy loop, 2.7b decode-graph loop
  deploy the same models as a serving stack runs them, with the kernels of mamba_ssm (its Triton
         fused add + RMSNorm, chunked SSD, gated RMSNorm and state update; importable on
         PYTHONPATH) and this script's Triton causal conv1d (prefill and one-token update,
         as the causal_conv1d package's): prefill at 512 and 2,048 tokens (eager, and replayed
         from a CUDA graph: the GPU's own time) and decode steps at batch 1 and 16 (CUDA
         graph); records `prefill` and `decode_step`, which
         `ssmsoc calibrate` predicts with the h100-class kernel plan
  deploy_kernels  each of those kernels alone at Mamba-2 2.7B's widths (suite `deploy_kernel`):
         64 instances over distinct tensors replayed from one CUDA graph, per kernel
  deploy_power  nvidia-smi power draw while the 2.7B runs on those kernels from graphs (decode at
         batch 1 and 16, a 2,048-token prefill; suite `power`), and idle

  python3 tools/calibrate/h100_model_bench.py --out FILE [--suites model,power,deploy] [--reps 20]
  python3 tools/calibrate/h100_model_bench.py --out /tmp/smoke.json --device cpu --tiny
"""

import argparse
import datetime
import gc
import json
import math
import os
import pty
import subprocess
import sys
import threading
import time
import traceback

import torch
import torch.nn.functional as F

MODELS = [("mamba2-2.7b", 2560, 64), ("mamba2-780m", 1536, 48), ("mamba2-130m", 768, 24)]
# More of the shipped workloads' widths, for the deploy suite's --models.
WIDTHS = {name: (d, n) for name, d, n in MODELS + [("mamba2-1.3b", 2048, 48), ("mamba2-370m", 1024, 48)]}
GEMM_N, COPY_BYTES = 8192, 2 << 30  # power-suite loads
KEEP = {}  # the mamba2-2.7b batch-1 decode graph, reused by the power suite
METHOD = (
    "Mamba-2 in plain torch ops, random weights; bf16 weights/activations, fp32 dt, decays and "
    "SSM states. Prefill: chunked ssd_minimal_discrete (chunk 256, stable segsum, two-operand "
    "einsums, C.B once per group), last-token logits. Decode: conv and fp32 SSM states updated "
    "in place, same static token each step. Timing: 2-3 warm-up calls, then per repetition one "
    "call (eager) or one CUDA-graph replay (graph), back to back, between two CUDA events. "
    "Power: nvidia-smi -lms 100 in a background thread; phases of ~4 s, stats over the samples "
    "of the last 3 s; loops in ~20 ms chunks timed with events, median_us per iteration. "
    "Clocks and power limits are never changed.")


class Cfg:
    def __init__(self, name, d_model, n_layer, vocab=50280, d_state=128, headdim=64,
                 ngroups=1, chunk=256):
        self.name, self.d_model, self.n_layer, self.vocab, self.chunk = (
            name, d_model, n_layer, vocab, chunk)
        self.d_state, self.headdim, self.ngroups, self.d_conv = d_state, headdim, ngroups, 4
        self.d_inner = 2 * d_model
        self.nheads = self.d_inner // headdim
        self.conv_dim = self.d_inner + 2 * ngroups * d_state
        self.d_in_proj = 2 * self.d_inner + 2 * ngroups * d_state + self.nheads


# ---------------------------------------------------------------------------- model

def build_model(cfg, dev, dtype):
    def rnd(*shape, scale):
        return (torch.randn(*shape, device=dev) * scale).to(dtype)
    layers = []
    for _ in range(cfg.n_layer):
        dt0 = torch.exp(torch.rand(cfg.nheads, device=dev) * math.log(100.0) + math.log(1e-3))
        layers.append({
            "norm_w": torch.ones(cfg.d_model, device=dev, dtype=dtype),
            "in_w": rnd(cfg.d_in_proj, cfg.d_model, scale=cfg.d_model ** -0.5),
            "conv_w": rnd(cfg.conv_dim, cfg.d_conv, scale=cfg.d_conv ** -0.5),
            "conv_b": rnd(cfg.conv_dim, scale=0.1),
            "dt_bias": dt0 + torch.log(-torch.expm1(-dt0)),  # inverse softplus of dt0
            "A_log": torch.log(torch.rand(cfg.nheads, device=dev) * 15 + 1),
            "D": torch.ones(cfg.nheads, device=dev),
            "gnorm_w": torch.ones(cfg.d_inner, device=dev, dtype=dtype),
            # Scaled down so that the residual stream stays O(1) over many layers.
            "out_w": rnd(cfg.d_model, cfg.d_inner, scale=(2 * cfg.n_layer * cfg.d_inner) ** -0.5)})
    return {"cfg": cfg, "layers": layers, "emb": rnd(cfg.vocab, cfg.d_model, scale=1.0),
            "norm_f": torch.ones(cfg.d_model, device=dev, dtype=dtype)}


def nbytes(ts):
    return sum(t.numel() * t.element_size() for t in ts)


def weights_bytes(model):
    layers = [t for p in model["layers"] for t in p.values()]
    return nbytes([model["emb"], model["norm_f"]] + layers)


def rmsnorm(x, w, eps=1e-5):
    xf = x.float()
    return w * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def gated_rmsnorm(y, z, w, ngroups, eps=1e-5):
    """norm(y * silu(z)) over groups of d_inner / ngroups channels (norm_before_gate=False)."""
    yf = y.float() * F.silu(z.float())
    shape = yf.shape
    yf = yf.reshape(*shape[:-1], ngroups, shape[-1] // ngroups)
    yf = yf * torch.rsqrt(yf.pow(2).mean(-1, keepdim=True) + eps)
    return w * yf.reshape(shape).to(z.dtype)


def segsum(x):
    """Stable segment sum: out[..., i, j] = sum x[..., j+1..i] for j <= i, -inf above."""
    T = x.size(-1)
    x = x.unsqueeze(-1).expand(*x.shape, T)
    mask = torch.tril(torch.ones(T, T, device=x.device, dtype=torch.bool), diagonal=-1)
    x_segsum = torch.cumsum(x.masked_fill(~mask, 0), dim=-2)
    mask = torch.tril(torch.ones(T, T, device=x.device, dtype=torch.bool), diagonal=0)
    return x_segsum.masked_fill(~mask, -torch.inf)


def ssd_chunked(X, A, B, C, chunk):
    """Chunked SSD (ssd_minimal_discrete) with B, C shared per group.

    X [b, L, h, p] times dt; A [b, L, h] fp32 times dt; B, C [b, L, g, n]. Decays in fp32,
    matmuls in X's dtype. Returns Y [b, L, h, p] and the final state [b, h, p, n] (fp32).
    """
    b, L, h, p = X.shape
    g, n = B.shape[2], B.shape[3]
    hg, dt = h // g, X.dtype
    pad = (-L) % chunk
    if pad:  # zero input and zero log-decay leave the earlier outputs unchanged
        X, B, C = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (X, B, C))
        A = F.pad(A, (0, 0, 0, pad))
    c = X.shape[1] // chunk
    X = X.reshape(b, c, chunk, h, p)
    B, C = B.reshape(b, c, chunk, g, n), C.reshape(b, c, chunk, g, n)
    A = A.reshape(b, c, chunk, h).permute(0, 3, 1, 2)  # [b, h, c, l]
    A_cs = torch.cumsum(A, dim=-1)
    # 1. Diagonal blocks: C_l . B_s once per group, times the per-head decay.
    Lmat = torch.exp(segsum(A)).reshape(b, g, hg, c, chunk, chunk)
    CB = torch.einsum("bclgn,bcsgn->bgcls", C, B).unsqueeze(2)
    scores = (CB * Lmat.to(dt)).reshape(b, h, c, chunk, chunk)
    Y_diag = torch.einsum("bhcls,bcshp->bclhp", scores, X)
    # 2. State at the end of each chunk.
    decay_states = torch.exp(A_cs[..., -1:] - A_cs).permute(0, 2, 3, 1).unsqueeze(-1)
    Xd = (X * decay_states.to(dt)).reshape(b, c, chunk, g, hg, p)
    states = torch.einsum("bclgn,bclgjp->bcgjpn", B, Xd).reshape(b, c, h, p, n)
    # 3. Recurrence over chunks, fp32.
    states = torch.cat([torch.zeros_like(states[:, :1]), states], dim=1).float()
    decay_chunk = torch.exp(segsum(F.pad(A_cs[..., -1], (1, 0))))  # [b, h, c+1, c+1]
    states = torch.einsum("bhzc,bchpn->bzhpn", decay_chunk, states)
    final, states = states[:, -1], states[:, :-1].to(dt).reshape(b, c, g, hg, p, n)
    # 4. Contribution of the state entering each chunk.
    Y_off = torch.einsum("bclgn,bcgjpn->bclgjp", C, states).reshape(b, c, chunk, h, p)
    Y_off = Y_off * torch.exp(A_cs).permute(0, 2, 3, 1).unsqueeze(-1).to(dt)
    return (Y_diag + Y_off).reshape(b, c * chunk, h, p)[:, :L], final


def ssd_sequential(X, A, B, C):
    """Step-by-step recurrence; the check for ssd_chunked."""
    b, L, h, p = X.shape
    Bh, Ch = (t.repeat_interleave(h // B.shape[2], dim=2) for t in (B, C))
    state = torch.zeros(b, h, p, B.shape[3], device=X.device, dtype=X.dtype)
    ys = []
    for t in range(L):
        state = (torch.exp(A[:, t])[:, :, None, None] * state
                 + X[:, t, :, :, None] * Bh[:, t, :, None, :])
        ys.append(torch.einsum("bhpn,bhn->bhp", state, Ch[:, t]))
    return torch.stack(ys, dim=1), state


def mixer_prefill(p, cfg, u):
    b, L, _ = u.shape
    gn = cfg.ngroups * cfg.d_state
    z, xBC, dt = torch.split(F.linear(u, p["in_w"]), [cfg.d_inner, cfg.conv_dim, cfg.nheads], -1)
    xBC = F.conv1d(xBC.transpose(1, 2), p["conv_w"].unsqueeze(1), p["conv_b"],
                   padding=cfg.d_conv - 1, groups=cfg.conv_dim)
    x, B, C = torch.split(F.silu(xBC[..., :L].transpose(1, 2)), [cfg.d_inner, gn, gn], dim=-1)
    dt = F.softplus(dt.float() + p["dt_bias"])  # [b, L, h]
    x = x.reshape(b, L, cfg.nheads, cfg.headdim)
    y, _ = ssd_chunked(x * dt.unsqueeze(-1).to(x.dtype), dt * -torch.exp(p["A_log"]),
                       B.reshape(b, L, cfg.ngroups, cfg.d_state),
                       C.reshape(b, L, cfg.ngroups, cfg.d_state), cfg.chunk)
    y = y + x * p["D"].to(x.dtype).unsqueeze(-1)
    y = gated_rmsnorm(y.reshape(b, L, cfg.d_inner), z, p["gnorm_w"], cfg.ngroups)
    return F.linear(y, p["out_w"])


def mixer_step(p, cfg, u, conv_state, ssm_state):
    """One token; conv_state [b, conv_dim, d_conv] and ssm_state [b, h, p, n] fp32 in place."""
    b = u.shape[0]
    g, hg, P, N = cfg.ngroups, cfg.nheads // cfg.ngroups, cfg.headdim, cfg.d_state
    z, xBC, dt = torch.split(F.linear(u, p["in_w"]), [cfg.d_inner, cfg.conv_dim, cfg.nheads], -1)
    conv_state.copy_(torch.roll(conv_state, shifts=-1, dims=-1))
    conv_state[:, :, -1] = xBC
    xBC = F.silu(torch.sum(conv_state * p["conv_w"], dim=-1) + p["conv_b"])
    x, B, C = torch.split(xBC, [cfg.d_inner, g * N, g * N], dim=-1)
    dt = F.softplus(dt.float() + p["dt_bias"])  # [b, h]
    dA = torch.exp(dt * -torch.exp(p["A_log"]))
    xf = x.float().reshape(b, g, hg, P, 1)
    ssm_state.view(b, g, hg, P, N).mul_(dA.reshape(b, g, hg, 1, 1)).add_(
        xf * dt.reshape(b, g, hg, 1, 1) * B.float().reshape(b, g, 1, 1, N))
    y = torch.matmul(ssm_state.view(b, g, hg * P, N), C.float().reshape(b, g, N, 1))
    y = y.reshape(b, cfg.nheads, P) + p["D"].reshape(-1, 1) * xf.reshape(b, cfg.nheads, P)
    y = gated_rmsnorm(y.reshape(b, cfg.d_inner), z, p["gnorm_w"], g)
    return F.linear(y, p["out_w"])


def prefill(model, tokens):
    """Whole forward over [b, L] tokens; logits of the last token only."""
    h = F.embedding(tokens, model["emb"])
    for p in model["layers"]:
        h = h + mixer_prefill(p, model["cfg"], rmsnorm(h, p["norm_w"]))
    return F.linear(rmsnorm(h[:, -1], model["norm_f"]), model["emb"])


def decode_step(model, tok, conv_states, ssm_states):
    h = F.embedding(tok, model["emb"])
    for p, cs, ss in zip(model["layers"], conv_states, ssm_states):
        h = h + mixer_step(p, model["cfg"], rmsnorm(h, p["norm_w"]), cs, ss)
    return F.linear(rmsnorm(h, model["norm_f"]), model["emb"])


def new_states(cfg, batch, dev, dtype):
    return ([torch.zeros(batch, cfg.conv_dim, cfg.d_conv, device=dev, dtype=dtype)
             for _ in range(cfg.n_layer)],
            [torch.zeros(batch, cfg.nheads, cfg.headdim, cfg.d_state, device=dev)
             for _ in range(cfg.n_layer)])


# ---------------------------------------------------------------------------- timing, output

def pct(s, q):
    if not s:
        return None
    pos = q * (len(s) - 1)
    lo = int(pos)
    return s[lo] + (s[min(lo + 1, len(s) - 1)] - s[lo]) * (pos - lo)


def stats_us(samples):
    s = sorted(samples)
    return {"median_us": round(pct(s, 0.5), 3), "min_us": round(s[0], 3),
            "p10_us": round(pct(s, 0.1), 3), "p90_us": round(pct(s, 0.9), 3),
            "max_us": round(s[-1], 3), "repetitions": len(s)}


def time_reps(fn, reps, warmup, dev):
    """One call per repetition, issued back to back, each between two CUDA events."""
    for _ in range(warmup):
        fn()
    if dev != "cuda":
        samples = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t0) * 1e6)
        return stats_us(samples)
    torch.cuda.synchronize()
    ev = [[torch.cuda.Event(enable_timing=True) for _ in range(2)] for _ in range(reps)]
    for s, e in ev:
        s.record()
        fn()
        e.record()
    torch.cuda.synchronize()
    return stats_us([s.elapsed_time(e) * 1000.0 for s, e in ev])


def capture_graph(fn):
    """Warm up on a side stream (as the CUDA-graph docs require), then capture one call."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn()
    torch.cuda.synchronize()
    return graph, out


class Results:
    def __init__(self, path, header):
        self.path, self.header = path, header
        self.checks, self.errors, self.measurements = [], [], []

    def add(self, suite, op, shape, dtype, launch, **fields):
        rec = dict(suite=suite, op=op, shape=shape, dtype=dtype, launch=launch, set="validation")
        rec.update(fields)
        self.measurements.append(rec)
        val = "%12.2f us" % rec["median_us"] if "median_us" in rec else ""
        val += "  %s W" % rec["median_w"] if "median_w" in rec else ""
        print("  %-18s %-5s %-64s %s" % (op, launch, json.dumps(shape), val), flush=True)

    def check(self, name, **fields):
        self.checks.append(dict(name=name, **fields))
        print("  CHECK %s" % json.dumps(self.checks[-1]), flush=True)

    def guarded(self, suite, op, shape, body):
        try:
            body()
        except Exception as exc:  # one failed measurement must not stop the suite
            if torch.cuda.is_available():
                try:
                    torch.cuda.synchronize()
                except Exception:
                    pass
            text = "%s: %s" % (type(exc).__name__, exc)
            print("  ERROR %s %s %s: %s" % (suite, op, json.dumps(shape), text[:500]), flush=True)
            self.errors.append({"suite": suite, "op": op, "shape": shape, "error": text[:2000],
                                "traceback": traceback.format_exc()[-2000:]})

    def write(self):
        with open(self.path + ".tmp", "w") as f:
            json.dump({"header": self.header, "checks": self.checks, "errors": self.errors,
                       "measurements": self.measurements}, f, indent=1)
        os.replace(self.path + ".tmp", self.path)


def smi(*queries):
    """nvidia-smi --query-gpu; each query is tried in turn (older drivers lack some fields)."""
    text = "no query"
    for q in queries:
        try:
            r = subprocess.run(["nvidia-smi", "--query-gpu=" + q, "--format=csv"],
                               capture_output=True, text=True, timeout=30)
            if r.returncode == 0:
                return r.stdout.strip()
            text = (r.stdout + r.stderr).strip()
        except Exception as exc:
            text = "nvidia-smi failed: %s" % exc
    return "ERROR " + text


def clocks():
    return smi("name,driver_version,pstate,clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem,"
               "power.draw,power.limit,power.default_limit,power.max_limit,temperature.gpu",
               "name,clocks.sm,clocks.mem,power.draw,power.limit,temperature.gpu")


# ---------------------------------------------------------------------------- model suite

def run_checks(res, dev):
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False

    def ssd():
        torch.manual_seed(0)
        b, L, h, P, g, N, chunk = 2, 100, 6, 8, 2, 16, 32
        X, A = torch.randn(b, L, h, P, device=dev), -torch.rand(b, L, h, device=dev) * 0.5
        B, C = torch.randn(b, L, g, N, device=dev), torch.randn(b, L, g, N, device=dev)
        (y, fin), (y_ref, fin_ref) = ssd_chunked(X, A, B, C, chunk), ssd_sequential(X, A, B, C)
        err, scale = (y - y_ref).abs().max().item(), y_ref.abs().max().item()
        res.check("ssd_chunked_vs_sequential", dtype="fp32", max_abs_err=err, max_abs_ref=scale,
                  final_state_max_abs_err=(fin - fin_ref).abs().max().item(),
                  shape=dict(batch=b, L=L, heads=h, headdim=P, groups=g, d_state=N, chunk=chunk),
                  passed=err <= 1e-3 * max(1.0, scale))

    def decode():
        cfg = Cfg("check-tiny", 64, 2, vocab=512, d_state=16, headdim=16, ngroups=2, chunk=16)
        model, b, L = build_model(cfg, dev, torch.float32), 2, 40
        tokens = torch.randint(0, cfg.vocab, (b, L), device=dev)
        ref = prefill(model, tokens)
        conv, ssm = new_states(cfg, b, dev, torch.float32)
        for t in range(L):
            out = decode_step(model, tokens[:, t], conv, ssm)
        err, scale = (out - ref).abs().max().item(), ref.abs().max().item()
        res.check("decode_vs_prefill_last_token", dtype="fp32", max_abs_err=err,
                  max_abs_ref=scale, shape=dict(batch=b, tokens=L, layers=2, d_model=64,
                                                groups=2, chunk=cfg.chunk),
                  passed=err <= 1e-3 * max(1.0, scale))
    try:
        res.guarded("model", "check_ssd", {}, ssd)
        res.guarded("model", "check_decode", {}, decode)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def suite_model(res, args):
    dev, tiny = args.device, args.tiny
    dtype = torch.bfloat16 if dev == "cuda" else torch.float32
    dname = "bf16" if dtype == torch.bfloat16 else "fp32"
    run_checks(res, dev)
    models, lens, batches = MODELS, [512, 2048], [1, 16]
    if tiny:
        models, lens, batches = [("tiny", 128, 2)], [100, 128], [1, 4]
    for name, d_model, n_layer in models:
        cfg = Cfg(name, d_model, n_layer, **(dict(vocab=1000, chunk=64) if tiny else {}))
        res.guarded("model", "model", {"model": name},
                    lambda: run_model(res, args, cfg, dtype, dname, lens, batches))
        gc.collect()  # the model's weights go with run_model's frame
        if dev == "cuda":
            torch.cuda.empty_cache()
        res.write()


def run_model(res, args, cfg, dtype, dname, lens, batches):
    dev, reps, name, n_layer, d_model = args.device, args.reps, cfg.name, cfg.n_layer, cfg.d_model
    torch.manual_seed(1)
    model = build_model(cfg, dev, dtype)
    wb = weights_bytes(model)
    for L in lens:
        shape = dict(model=name, tokens=L, batch=1, layers=n_layer, d_model=d_model)

        def body():
            tokens = torch.randint(0, cfg.vocab, (1, L), device=dev)
            st = time_reps(lambda: prefill(model, tokens), reps, 2, dev)
            res.add("model", "prefill_torch", shape, dname, "eager", **st, weights_bytes=wb,
                    ssd_chunk=cfg.chunk, tokens_per_s=round(L / (st["median_us"] * 1e-6), 1),
                    linear_flops=2 * L * n_layer * d_model * (cfg.d_in_proj + cfg.d_inner)
                    + 2 * d_model * cfg.vocab)
        res.guarded("model", "prefill_torch", shape, body)
    for batch in batches:
        shape = dict(model=name, batch=batch, layers=n_layer, d_model=d_model)
        tok = torch.randint(0, cfg.vocab, (batch,), device=dev)
        conv, ssm = new_states(cfg, batch, dev, dtype)
        extra = dict(weights_bytes=wb, state_bytes=nbytes(conv + ssm))

        def step():
            return decode_step(model, tok, conv, ssm)

        def eager():
            st = time_reps(step, reps, 3, dev)
            res.add("model", "decode_step_torch", shape, dname, "eager", **st, **extra)

        def graph():
            g, out = capture_graph(step)
            st = time_reps(g.replay, reps, 3, dev)
            res.add("model", "decode_step_torch", shape, dname, "graph", **st, **extra)
            if name == "mamba2-2.7b" and batch == 1 and "power" in args.suites:
                KEEP["decode"] = (g, out, model, tok, conv, ssm)
        res.guarded("model", "decode_step_torch", shape, eager)
        if dev == "cuda":
            res.guarded("model", "decode_step_torch", dict(shape, launch="graph"), graph)


# ---------------------------------------------------------------------------- power suite

class PowerSampler:
    """nvidia-smi -lms 100 in a background thread; its stdout is a pty so lines are not buffered."""

    def __init__(self):
        instant = not smi("power.draw.instant").startswith("ERROR")
        self.fields = (["power.draw"] + (["power.draw.instant"] if instant else [])
                       + ["clocks.sm", "clocks.mem", "temperature.gpu"])
        self.samples = []
        cmd = ["nvidia-smi", "--query-gpu=" + ",".join(self.fields),
               "--format=csv,noheader,nounits", "-lms", "100"]
        gpu = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
        cmd += ["-i", gpu] if gpu else []
        self.fd, slave = pty.openpty()
        self.proc = subprocess.Popen(cmd, stdout=slave, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, close_fds=True)
        os.close(slave)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # EIO once nvidia-smi has exited
                break
            if not chunk:
                break
            *lines, buf = (buf + chunk).split(b"\n")
            for line in lines:
                parts = [s.strip() for s in line.decode(errors="replace").split(",")]
                if len(parts) == len(self.fields):
                    self.samples.append((time.monotonic(), [num(s) for s in parts]))

    def window(self, t1, span):
        sel = [v for t, v in list(self.samples) if t1 - span <= t <= t1]

        def col(f):
            i = self.fields.index(f) if f in self.fields else None
            return sorted(v[i] for v in sel if i is not None and v[i] is not None)
        field = "power.draw.instant" if col("power.draw.instant") else "power.draw"
        w, r = col(field), lambda x: None if x is None else round(x, 1)
        return {"median_w": r(pct(w, 0.5)), "p90_w": r(pct(w, 0.9)), "min_w": r(pct(w, 0.0)),
                "max_w": r(pct(w, 1.0)), "power_field": field, "samples": len(w),
                "median_w_power_draw": r(pct(col("power.draw"), 0.5)),
                "sm_clock_mhz": r(pct(col("clocks.sm"), 0.5)),
                "mem_clock_mhz": r(pct(col("clocks.mem"), 0.5)),
                "temperature_c_max": r(pct(col("temperature.gpu"), 1.0)), "window_s": span}

    def stop(self):
        self.proc.kill()
        self.proc.wait(10)
        self.thread.join(5)
        os.close(self.fd)


def num(s):
    try:
        return float(s)
    except ValueError:  # "[N/A]" and the like
        return None


def run_loop(fn, seconds):
    """Keep the GPU busy for `seconds` in ~20 ms chunks, with at most one chunk queued ahead."""
    fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    k = max(1, int(0.02 / max((time.perf_counter() - t0) / 3, 1e-6)))
    marks, prev = [], None
    t_start = time.monotonic()
    while time.monotonic() - t_start < seconds:
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(k):
            fn()
        e.record()
        marks.append((s, e))
        if prev is not None:
            prev.synchronize()
        prev = e
    torch.cuda.synchronize()
    return t_start, time.monotonic(), stats_us([s.elapsed_time(e) * 1e3 / k for s, e in marks]), k


def measure_idle(res, sampler, phase_s, win_s):
    """The board at rest for `phase_s`, after a second to settle: record power_idle."""
    time.sleep(1.0)
    torch.cuda.synchronize()
    t0 = time.monotonic()
    time.sleep(phase_s)
    t1 = time.monotonic()
    res.add("power", "power_idle", {}, "none", "eager", **sampler.window(t1, win_s), phase_s=round(t1 - t0, 2))


def suite_power(res, args):
    phase_s, win_s, bf16 = 4.0, 3.0, torch.bfloat16
    sampler = PowerSampler()

    def phase(op, shape, dtype, launch, fn, rate):
        t0, t1, st, k = run_loop(fn, phase_s)
        res.add("power", op, shape, dtype, launch, **st, iters_per_rep=k,
                **rate(st["median_us"] * 1e-6), **sampler.window(t1, win_s),
                phase_s=round(t1 - t0, 2))

    def gemm():
        n = GEMM_N
        a, b = (torch.randn(n, n, device="cuda", dtype=bf16) for _ in range(2))
        c = torch.empty(n, n, device="cuda", dtype=bf16)
        phase("power_gemm", dict(M=n, N=n, K=n), "bf16", "eager", lambda: torch.matmul(a, b, out=c),
              lambda t: {"tflops": round(2 * n ** 3 / t / 1e12, 1)})

    def copy():
        size = COPY_BYTES
        src = torch.randn(size // 4, device="cuda")
        dst = torch.empty_like(src)
        phase("power_copy", dict(bytes_per_buffer=size), "fp32", "eager", lambda: dst.copy_(src),
              lambda t: {"bytes": 2 * size, "gbps": round(2 * size / t / 1e9, 1)})

    def decode():
        if "decode" not in KEEP:
            cfg = Cfg(*MODELS[0])
            torch.manual_seed(1)
            model = build_model(cfg, "cuda", bf16)
            tok = torch.randint(0, cfg.vocab, (1,), device="cuda")
            conv, ssm = new_states(cfg, 1, "cuda", bf16)
            g, out = capture_graph(lambda: decode_step(model, tok, conv, ssm))
            KEEP["decode"] = (g, out, model, tok, conv, ssm)
        g, model = KEEP["decode"][0], KEEP["decode"][2]
        cfg = model["cfg"]
        phase("power_decode", dict(model=cfg.name, batch=1, layers=cfg.n_layer,
                                   d_model=cfg.d_model), "bf16", "graph", g.replay,
              lambda t: {"steps_per_s": round(1.0 / t, 1), "weights_bytes": weights_bytes(model)})

    try:
        measure_idle(res, sampler, phase_s, win_s)
        for op, body in [("power_gemm", gemm), ("power_copy", copy), ("power_decode", decode)]:
            res.guarded("power", op, {}, body)
            torch.cuda.empty_cache()
    finally:
        sampler.stop()
        KEEP.clear()
        torch.cuda.empty_cache()
        res.header["power_fields"] = sampler.fields


# ---------------------------------------------------------------------------- deploy suite

def _triton_conv():
    """Depthwise causal conv1d + SiLU over [L, D] (prefill; x rows `stride` apart) and its
    one-token update of a [b, D, W] state, one Triton kernel each (as causal_conv1d's)."""
    import triton
    import triton.language as tl

    @triton.jit
    def conv_prefill(x, stride, w, bias, y, L, D, W: tl.constexpr, BL: tl.constexpr, BD: tl.constexpr):
        t = tl.program_id(0) * BL + tl.arange(0, BL)
        d = tl.program_id(1) * BD + tl.arange(0, BD)
        dm = d < D
        acc = tl.zeros((BL, BD), dtype=tl.float32) + tl.load(bias + d, mask=dm, other=0.0).to(tl.float32)[None, :]
        for k in tl.static_range(W):
            src = t - (W - 1) + k
            m = (src[:, None] >= 0) & (t[:, None] < L) & dm[None, :]
            xv = tl.load(x + src[:, None] * stride + d[None, :], mask=m, other=0.0).to(tl.float32)
            acc += xv * tl.load(w + d * W + k, mask=dm, other=0.0).to(tl.float32)[None, :]
        out = acc / (1.0 + tl.exp(-acc))
        tl.store(y + t[:, None] * D + d[None, :], out.to(y.dtype.element_ty), mask=(t[:, None] < L) & dm[None, :])

    @triton.jit
    def conv_update(x, stride, state, w, bias, y, D, W: tl.constexpr, BD: tl.constexpr):
        b = tl.program_id(0)
        d = tl.program_id(1) * BD + tl.arange(0, BD)
        dm = d < D
        acc = tl.load(bias + d, mask=dm, other=0.0).to(tl.float32)
        row = state + b * D * W + d * W
        for k in tl.static_range(W - 1):
            v = tl.load(row + k + 1, mask=dm, other=0.0)
            tl.store(row + k, v, mask=dm)
            acc += v.to(tl.float32) * tl.load(w + d * W + k, mask=dm, other=0.0).to(tl.float32)
        xv = tl.load(x + b * stride + d, mask=dm, other=0.0)
        tl.store(row + W - 1, xv, mask=dm)
        acc += xv.to(tl.float32) * tl.load(w + d * W + W - 1, mask=dm, other=0.0).to(tl.float32)
        tl.store(y + b * D + d, (acc / (1.0 + tl.exp(-acc))).to(y.dtype.element_ty), mask=dm)

    def prefill(xBC, w, bias):  # xBC [L, D] (a column slice), w [D, W]
        L, D = xBC.shape
        y = torch.empty(L, D, device=xBC.device, dtype=xBC.dtype)
        conv_prefill[(triton.cdiv(L, 32), triton.cdiv(D, 128))](xBC, xBC.stride(0), w, bias, y, L, D,
                                                                 W=w.shape[1], BL=32, BD=128)
        return y

    def update(xBC, state, w, bias):  # xBC [b, D] (a column slice), state [b, D, W]
        b, D = xBC.shape
        y = torch.empty(b, D, device=xBC.device, dtype=xBC.dtype)
        conv_update[(b, triton.cdiv(D, 256))](xBC, xBC.stride(0), state, w, bias, y, D, W=w.shape[1], BD=256)
        return y

    return prefill, update


def deploy_kernels():
    from mamba_ssm.ops.triton.layer_norm import rms_norm_fn
    from mamba_ssm.ops.triton.layernorm_gated import rmsnorm_fn
    from mamba_ssm.ops.triton.selective_state_update import selective_state_update
    from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined
    conv_prefill, conv_update = _triton_conv()
    return dict(rms_norm_fn=rms_norm_fn, rmsnorm_fn=rmsnorm_fn, state_update=selective_state_update,
                chunk_scan=mamba_chunk_scan_combined, conv_prefill=conv_prefill, conv_update=conv_update)


def deploy_prefill(model, k, tokens):
    """mamba_ssm's MambaLMHeadModel forward at generation (inference_params): per layer the fused
    residual add + RMSNorm, in_proj, causal conv1d + SiLU, the chunked SSD with its final state,
    the gated RMSNorm, out_proj; the last token's logits."""
    cfg = model["cfg"]
    gn = cfg.ngroups * cfg.d_state
    h = F.embedding(tokens[0], model["emb"])  # [L, d]
    residual = None
    for p in model["layers"]:
        hn, residual = k["rms_norm_fn"](h, p["norm_w"], None, residual=residual, prenorm=True,
                                        residual_in_fp32=True, eps=1e-5)
        zxbcdt = F.linear(hn, p["in_w"])
        z, xBC, dt = torch.split(zxbcdt, [cfg.d_inner, cfg.conv_dim, cfg.nheads], -1)
        xBC = k["conv_prefill"](xBC, p["conv_w"], p["conv_b"])
        x, B, C = torch.split(xBC, [cfg.d_inner, gn, gn], -1)
        L = x.shape[0]
        y, _ = k["chunk_scan"](x.reshape(1, L, cfg.nheads, cfg.headdim), dt.unsqueeze(0), -torch.exp(p["A_log"]),
                               B.reshape(1, L, cfg.ngroups, cfg.d_state), C.reshape(1, L, cfg.ngroups, cfg.d_state),
                               chunk_size=cfg.chunk, D=p["D"], dt_bias=p["dt_bias"], dt_softplus=True,
                               return_final_states=True)
        y = k["rmsnorm_fn"](y.reshape(L, cfg.d_inner), p["gnorm_w"], None, z=z, eps=1e-5,
                            group_size=cfg.d_inner // cfg.ngroups, norm_before_gate=False)
        h = F.linear(y, p["out_w"])
    hn = k["rms_norm_fn"](h[-1:], model["norm_f"], None, residual=residual[-1:], prenorm=False,
                          residual_in_fp32=True, eps=1e-5)
    return F.linear(hn, model["emb"])


def step_operands(model):
    """Per layer the state update's A [h, p, n], dt bias and D [h, p] as views, A = -exp(A_log)
    computed once (as vLLM stores it; mamba_ssm's module recomputes it each step)."""
    cfg = model["cfg"]
    hp = (cfg.nheads, cfg.headdim)
    return ([(-torch.exp(p["A_log"]))[:, None, None].expand(*hp, cfg.d_state) for p in model["layers"]],
            [p["dt_bias"][:, None].expand(*hp) for p in model["layers"]],
            [p["D"][:, None].expand(*hp) for p in model["layers"]])


def deploy_step(model, k, tok, conv_states, ssm_states, A_hpn, dt_bias_hp, D_hp):
    """mamba_ssm's Mamba2.step per layer (with the causal_conv1d update), fused add + norms."""
    cfg = model["cfg"]
    gn = cfg.ngroups * cfg.d_state
    h = F.embedding(tok, model["emb"])  # [b, d]
    residual = None
    for p, cs, ss, A, dtb, D in zip(model["layers"], conv_states, ssm_states, A_hpn, dt_bias_hp, D_hp):
        hn, residual = k["rms_norm_fn"](h, p["norm_w"], None, residual=residual, prenorm=True,
                                        residual_in_fp32=True, eps=1e-5)
        zxbcdt = F.linear(hn, p["in_w"])
        z, xBC, dt = torch.split(zxbcdt, [cfg.d_inner, cfg.conv_dim, cfg.nheads], -1)
        xBC = k["conv_update"](xBC, cs, p["conv_w"], p["conv_b"])
        x, B, C = torch.split(xBC, [cfg.d_inner, gn, gn], -1)
        b = x.shape[0]
        y = k["state_update"](ss, x.reshape(b, cfg.nheads, cfg.headdim),
                              dt.unsqueeze(-1).expand(b, cfg.nheads, cfg.headdim), A,
                              B.reshape(b, cfg.ngroups, cfg.d_state), C.reshape(b, cfg.ngroups, cfg.d_state), D,
                              z=None, dt_bias=dtb, dt_softplus=True)
        y = k["rmsnorm_fn"](y.reshape(b, cfg.d_inner), p["gnorm_w"], None, z=z, eps=1e-5,
                            group_size=cfg.d_inner // cfg.ngroups, norm_before_gate=False)
        h = F.linear(y, p["out_w"])
    hn = k["rms_norm_fn"](h, model["norm_f"], None, residual=residual, prenorm=False, residual_in_fp32=True,
                          eps=1e-5)
    return F.linear(hn, model["emb"])


def suite_deploy(res, args):
    if args.device != "cuda":
        raise RuntimeError("the deploy suite runs Triton kernels: CUDA only")
    k = deploy_kernels()
    models, lens, batches = MODELS, [512, 2048], [1, 16]
    if args.models:
        models = [(name, WIDTHS[name][0], WIDTHS[name][1]) for name in args.models.split(",")]
    if args.lens:
        lens = [int(x) for x in args.lens.split(",")]
    if args.batches:
        batches = [int(x) for x in args.batches.split(",")]
    if args.tiny:
        models, lens, batches = [("tiny", 128, 2)], [100, 128], [1, 4]
    for name, d_model, n_layer in models:
        cfg = Cfg(name, d_model, n_layer, **(dict(vocab=1000, chunk=64) if args.tiny else dict(vocab=50288)))
        res.guarded("deploy", "model", {"model": name}, lambda: run_deploy(res, args, k, cfg, lens, batches))
        gc.collect()
        torch.cuda.empty_cache()
        res.write()


def run_deploy(res, args, k, cfg, lens, batches):
    dev, reps, name = args.device, args.reps, cfg.name
    torch.manual_seed(1)
    model = build_model(cfg, dev, torch.bfloat16)
    wb = weights_bytes(model)
    for L in lens:
        shape = dict(model=name, tokens=L, batch=1, precision="bf16")

        tokens = torch.randint(0, cfg.vocab, (1, L), device=dev)

        def eager():
            st = time_reps(lambda: deploy_prefill(model, k, tokens), reps, 3, dev)
            res.add("model", "prefill", shape, "bf16", "eager", **st, weights_bytes=wb, ssd_chunk=cfg.chunk,
                    stack="mamba_ssm")

        def graph():  # the GPU's own time: eager, the host's Triton launches bind
            g, _ = capture_graph(lambda: deploy_prefill(model, k, tokens))
            st = time_reps(g.replay, reps, 3, dev)
            res.add("model", "prefill", shape, "bf16", "graph", **st, weights_bytes=wb, ssd_chunk=cfg.chunk,
                    stack="mamba_ssm")
        res.guarded("model", "prefill", shape, eager)
        res.guarded("model", "prefill", dict(shape, launch="graph"), graph)
    A_hpn, dt_bias_hp, D_hp = step_operands(model)
    for batch in batches:
        # A decode step after a 2,048-token prompt (a pure SSM: the context does not matter).
        shape = dict(model=name, tokens=2048, batch=batch, precision="bf16")
        tok = torch.randint(0, cfg.vocab, (batch,), device=dev)
        conv, ssm = new_states(cfg, batch, dev, torch.bfloat16)

        def graph():
            g, _ = capture_graph(lambda: deploy_step(model, k, tok, conv, ssm, A_hpn, dt_bias_hp, D_hp))
            st = time_reps(g.replay, reps, 3, dev)
            res.add("model", "decode_step", shape, "bf16", "graph", **st, weights_bytes=wb,
                    state_bytes=nbytes(conv + ssm), stack="mamba_ssm")
        res.guarded("model", "decode_step", shape, graph)



def suite_deploy_kernels(res, args):
    """Each kernel of the deploy suite's layers alone: `copies` instances over distinct tensors
    (as a model's layers are: cold in L2) replayed from one CUDA graph; per kernel the replay
    time / copies. Mamba-2 2.7B's widths."""
    if args.device != "cuda":
        raise RuntimeError("the deploy_kernels suite runs Triton kernels: CUDA only")
    k = deploy_kernels()
    dev, bf = "cuda", torch.bfloat16
    cfg = Cfg("mamba2-2.7b", 2560, 64)
    copies = 8 if args.tiny else 64
    d, di, cd, h, P, N = cfg.d_model, cfg.d_inner, cfg.conv_dim, cfg.nheads, cfg.headdim, cfg.d_state

    def timed(op, shape, make, call, calibrates, **extra):
        def body():
            inputs = [make() for _ in range(copies)]
            g, _ = capture_graph(lambda: [call(*x) for x in inputs])
            st = time_reps(g.replay, args.reps, 3, dev)
            st = {key: (round(v / copies, 3) if key.endswith("_us") else v) for key, v in st.items()}
            res.add("deploy_kernel", op, dict(shape, copies=copies), "bf16", "graph", **st, stack="mamba_ssm", **extra)
            # The smallest and largest shape of each kernel calibrate, the ones between validate.
            res.measurements[-1]["set"] = "calibration" if calibrates else "validation"
        res.guarded("deploy_kernel", op, shape, body)

    for M in [1, 16, 512, 2048]:
        timed("rms_norm_add", dict(M=M, D=d),
              lambda: (torch.randn(M, d, device=dev, dtype=bf), torch.randn(M, d, device=dev),
                       torch.ones(d, device=dev, dtype=bf)),
              lambda x, r, w: k["rms_norm_fn"](x, w, None, residual=r, prenorm=True, residual_in_fp32=True,
                                               eps=1e-5),
              M in (1, 2048), bytes=M * d * (2 + 4 + 2 + 4))
        timed("gated_rms_norm", dict(M=M, D=di),
              lambda: (torch.randn(M, di, device=dev, dtype=bf), torch.randn(M, di, device=dev, dtype=bf),
                       torch.ones(di, device=dev, dtype=bf)),
              lambda y, z, w: k["rmsnorm_fn"](y, w, None, z=z, eps=1e-5, group_size=di, norm_before_gate=False),
              M in (1, 2048), bytes=M * di * 2 * 3)
    for b in [1, 16]:
        A = (-torch.rand(h, device=dev) * 8 - 1)[:, None, None].expand(h, P, N)
        dtb = torch.rand(h, device=dev)[:, None].expand(h, P)
        D = torch.ones(h, device=dev)[:, None].expand(h, P)
        timed("state_update", dict(batch=b, heads=h, head_dim=P, d_state=N),
              lambda: (torch.zeros(b, h, P, N, device=dev), torch.randn(b, h, P, device=dev, dtype=bf),
                       torch.rand(b, h, device=dev, dtype=bf), torch.randn(b, 1, N, device=dev, dtype=bf),
                       torch.randn(b, 1, N, device=dev, dtype=bf)),
              lambda st, x, dt, B, C: k["state_update"](st, x, dt.unsqueeze(-1).expand(b, h, P), A, B, C, D,
                                                        z=None, dt_bias=dtb, dt_softplus=True),
              b == 1, bytes=b * h * P * N * 8)
        timed("conv_update", dict(batch=b, D=cd, width=4),
              lambda: (torch.randn(b, cd, device=dev, dtype=bf), torch.zeros(b, cd, 4, device=dev, dtype=bf),
                       torch.randn(cd, 4, device=dev, dtype=bf), torch.randn(cd, device=dev, dtype=bf)),
              lambda x, st, w, bias: k["conv_update"](x, st, w, bias), b == 1, bytes=b * cd * (2 + 16 + 2))
    for L in [512, 2048]:
        timed("conv_prefill", dict(L=L, D=cd, width=4),
              lambda: (torch.randn(L, cd, device=dev, dtype=bf), torch.randn(cd, 4, device=dev, dtype=bf),
                       torch.randn(cd, device=dev, dtype=bf)),
              lambda x, w, bias: k["conv_prefill"](x, w, bias), L == 2048, bytes=L * cd * 4)
        timed("chunk_scan", dict(L=L, heads=h, head_dim=P, d_state=N, chunk=cfg.chunk),
              lambda: (torch.randn(1, L, h, P, device=dev, dtype=bf), torch.randn(1, L, h, device=dev, dtype=bf),
                       torch.randn(1, L, 1, N, device=dev, dtype=bf), torch.randn(1, L, 1, N, device=dev, dtype=bf)),
              lambda x, dt, B, C: k["chunk_scan"](x, dt, -torch.ones(h, device=dev), B, C, chunk_size=cfg.chunk,
                                                  D=torch.ones(h, device=dev), dt_bias=torch.zeros(h, device=dev),
                                                  dt_softplus=True, return_final_states=True),
              L == 2048, flops=2 * L * h * P * N * 2 + 2 * L * cfg.chunk * h * P)


def suite_deploy_power(res, args):
    """nvidia-smi power draw while Mamba-2 2.7B runs on the deploy suite's kernels, replayed from
    CUDA graphs back to back: a decode step at batch 1 and 16, a 2,048-token prefill; and idle."""
    if args.device != "cuda":
        raise RuntimeError("the deploy_power suite runs Triton kernels: CUDA only")
    k = deploy_kernels()
    phase_s, win_s, bf = 4.0, 3.0, torch.bfloat16
    cfg = Cfg("mamba2-2.7b", 2560, 64, vocab=50288)
    torch.manual_seed(1)
    model = build_model(cfg, "cuda", bf)
    A_hpn, dt_bias_hp, D_hp = step_operands(model)
    sampler = PowerSampler()

    def phase(op, shape, fn):
        t0, t1, st, iters = run_loop(fn, phase_s)
        res.add("power", op, shape, "bf16", "graph", **st, iters_per_rep=iters, **sampler.window(t1, win_s),
                phase_s=round(t1 - t0, 2), weights_bytes=weights_bytes(model), stack="mamba_ssm")

    def decode(batch):
        def body():
            tok = torch.randint(0, cfg.vocab, (batch,), device="cuda")
            conv, ssm = new_states(cfg, batch, "cuda", bf)
            g, _ = capture_graph(lambda: deploy_step(model, k, tok, conv, ssm, A_hpn, dt_bias_hp, D_hp))
            phase("power_decode_step", dict(model=cfg.name, tokens=2048, batch=batch, precision="bf16"), g.replay)
        return body

    def prefill():
        tokens = torch.randint(0, cfg.vocab, (1, 2048), device="cuda")
        g, _ = capture_graph(lambda: deploy_prefill(model, k, tokens))
        phase("power_prefill", dict(model=cfg.name, tokens=2048, batch=1, precision="bf16"), g.replay)

    try:
        measure_idle(res, sampler, phase_s, win_s)
        for op, body in [("power_decode_step", decode(1)), ("power_decode_step", decode(16)),
                         ("power_prefill", prefill)]:
            res.guarded("power", op, {}, body)
            torch.cuda.empty_cache()
    finally:
        sampler.stop()
        res.header["power_fields"] = sampler.fields

# ---------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--suites", default="model,power")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--tiny", action="store_true", help="tiny dims, 2 layers, no power suite")
    ap.add_argument("--models", default="", help="deploy suite: comma-separated names of WIDTHS (default the three)")
    ap.add_argument("--lens", default="", help="deploy suite: prompt lengths (default 512,2048)")
    ap.add_argument("--batches", default="", help="deploy suite: decode batches (default 1,16)")
    args = ap.parse_args()
    suites = {"model": suite_model, "power": suite_power, "deploy": suite_deploy,
              "deploy_kernels": suite_deploy_kernels, "deploy_power": suite_deploy_power}
    args.suites = [s.strip() for s in args.suites.split(",") if s.strip()]
    for s in args.suites:
        if s not in suites:
            ap.error("unknown suite %r" % s)
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("CUDA is required (--device cuda) but not available")
    if args.tiny or not cuda:
        args.suites = [s for s in args.suites if s != "power"]
    try:
        import triton
        triton_version = triton.__version__
    except Exception:  # only recorded, never used
        triton_version = None
    header = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "gpu_name": torch.cuda.get_device_name(0) if cuda else "cpu",
        "torch": torch.__version__, "triton": triton_version, "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "nvidia_smi_before": clocks() if cuda else None,
        "method": METHOD, "suites": args.suites, "reps": args.reps, "tiny": args.tiny,
        "command": " ".join(sys.argv)}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    res = Results(args.out, header)
    t_all = time.time()
    with torch.no_grad():
        for name in args.suites:
            print("== suite %s" % name, flush=True)
            t0 = time.time()
            res.guarded(name, "suite", {}, lambda: suites[name](res, args))
            header.setdefault("suite_seconds", {})[name] = round(time.time() - t0, 1)
            if cuda:
                header.setdefault("nvidia_smi_after_suite", {})[name] = clocks()
            res.write()
    header["total_seconds"] = round(time.time() - t_all, 1)
    res.write()
    print("wrote %s (%d measurements, %d checks, %d errors)" % (
        args.out, len(res.measurements), len(res.checks), len(res.errors)), flush=True)


if __name__ == "__main__":
    main()
