// The lowered IR: one phase (a prefill chunk, or one decode step) of a model as primitive
// operations of the chip over named tensors: GEMM (projections), CONV1D, SCAN (with the
// kernel chosen for the silicon), VECTOR (norms, activations, softmax, RoPE, conversions,
// residual adds), ATTENTION (GEMM q·kᵀ + softmax + GEMM p·v over the KV cache) and COPY
// (embedding gather, KV-cache append, MoE token gather).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arch/spec/isa.h"
#include "arch/spec/profile.hpp"
#include "compiler/graph.hpp"

namespace ssmsoc::compiler {

enum class TensorKind { weight, activation, state };
struct TensorDef {
  std::string name;
  TensorKind kind = TensorKind::activation;
  std::int64_t rows = 0, cols = 0;
  int bits = 32;  // element width: activations and states float32 unless converted for a GEMM
  std::uint64_t bytes() const { return static_cast<std::uint64_t>((rows * cols * bits + 7) / 8); }
};

// A column range of a tensor (rows are always whole).
struct View {
  int tensor = -1;
  std::int64_t col0 = 0, cols = 0;  // cols = 0: the whole row
};

enum class Prim { gemm, scan, conv1d, vector, attention, copy };
std::string_view prim_name(Prim p);

// How a scan runs (select_scan_kernels): the native unit, the native unit over slices of the
// state when N exceeds max_state, Mamba-2's chunked SSD on the matrix array plus an
// inter-chunk scan, a parallel prefix scan (GPU), or a sequential vector scan (CPU).
enum class ScanKernel { native, native_split, chunked_ssd, parallel_prefix, sequential_vector };
std::string_view scan_kernel_name(ScanKernel k);

struct PrimOp {
  Prim kind = Prim::vector;
  std::string name;
  int layer = -1;
  std::vector<View> in;   // per kind, in order (see lower_graph)
  std::vector<View> out;  // per kind
  // gemm: C[m, n] = A[m, k] · W[w_row0 : w_row0 + n, :]ᵀ, `repeat` times (MoE experts, each
  // with its own slice of the weight, its own rows of A and C). With a third input R [m, n]
  // (fuse_residual_adds), C = R + A · Wᵀ: the accumulator starts from R.
  std::int64_t m = 0, n = 0, k = 0, w_row0 = 0;
  int repeat = 1;
  Precision precision = Precision::bf16;
  // vector: function over rows x cols.
  ssm_vector_function function = SSM_VEC_ADD;
  std::int64_t rows = 0, cols = 0;
  float param0 = 0;
  std::uint32_t param1 = 0;
  std::uint32_t param2 = 0;  // ROPE: head_dim | rotary_dim << 16
  std::uint8_t flags = 0;
  // conv1d / scan / attention, per session.
  int sessions = 1;
  std::int64_t length = 0;  // tokens per session in this phase
  std::int64_t channels = 0, head_dim = 1, state = 0, groups = 1, width = 0;
  int version = 1;                                    // scan: Mamba generation
  bool softplus = false, gate = false, skip = false;  // scan: fused dt softplus, silu(z) gate, D skip
  // scan (fuse_dt_projections): > 0 when in[1] is dt's low-rank input [rows, dt_rank] and
  // in[9] the dt_proj weight [channels, dt_rank]; each step computes dt on its matrix array.
  std::int64_t dt_rank = 0;
  ScanKernel kernel = ScanKernel::native;
  std::string kernel_reason;
  int state_passes = 1;  // native_split: slices of the state
  int chunk = 256;       // chunked SSD chunk length
  // attention: heads, kv_heads (head_dim above); kv length = context + length; causal.
  std::int64_t heads = 0, kv_heads = 0, context = 0;
  // copy: rows of a view, from src_row0 to dst_row0 (KV append: per session).
  std::int64_t src_row0 = 0, dst_row0 = 0;
};

struct Phase {
  std::string name;  // "prefill", "prefill-rest", "logits", "decode"
  int tokens = 1;    // per session
  int sessions = 1;
  int context = 0;           // tokens already in the cache before this phase (attention)
  int max_context = 0;       // KV cache length per session
  bool logits = true;        // computes the LM head; false: keeps each session's last hidden state
  bool logits_only = false;  // only the final norm and LM head, on the kept hidden states
  // Functional runs (CompileOptions::functional): the LM head on every token of the phase
  // (logits [sessions x tokens, vocab]) instead of keeping the last hidden state, and the
  // token embeddings read from the state tensor "input_embeddings" [sessions x tokens,
  // hidden] the host writes (the gather is done by the host) instead of a table DMA.
  bool all_logits = false;
  bool host_embeddings = false;
  // Functional runs: MoE layers run every expert on every token, weighted by routing weights
  // computed on the chip (softmax, top-k mask; 0 for the experts a token does not use).
  bool functional = false;
};

struct Module {
  Phase phase;
  Precision precision = Precision::bf16;
  Precision state_storage = Precision::fp32;  // the SSM states' format in memory
  std::vector<TensorDef> tensors;
  std::vector<PrimOp> ops;
  int tensor(const std::string& name) const;  // -1 if absent
};

// The bits of an element in `p`.
int bits_of(Precision p);

// The matrix precision of weights and GEMM inputs: `requested` if the profile supports it,
// else bf16, fp16, int8, fp32 in that order of preference among the profile's precisions.
Precision choose_precision(const Profile& profile, const std::string& requested);

// lower_graph: every graph node of one phase into primitives. Worked example, one Mamba-1
// layer of Mamba-130M (H = 768, I = 1536, N = 16, dt_rank = 48) for a 4-token prefill
// chunk of one session, bf16:
//   vector rmsnorm [4 x 768] -> xn (bf16)     gemm in_proj  m=4 n=3072 k=768 -> xz
//   conv1d 1536 ch, width 4, x = xz[:, 0:1536] -> xc (+ bf16 copy for x_proj)
//   gemm x_proj m=4 n=80 k=1536 -> dbc        vector convert dbc[:, 0:48] -> dtl (bf16)
//   gemm dt_proj m=4 n=1536 k=48 -> dt
//   scan mamba1 1536 ch, N=16, L=4: x=xc dt B=dbc[:,48:64] C=dbc[:,64:80] z=xz[:,1536:]
//   vector convert y -> y (bf16)              gemm out_proj m=4 n=768 k=1536 -> mo
//   vector add x + mo -> x'
// Scan ops carry what the model needs (softplus, gate, D skip) whatever fuses them, and
// come out with kernel = native; select_scan_kernels decides.
// `state_storage`: the SSM states' format in memory (Profile's tile.scan.state_storage).
Module lower_graph(const Graph& graph, const Phase& phase, Precision precision,
                   Precision state_storage = Precision::fp32);

// Fusion of a GEMM with the residual add that consumes its output: ADD(R, GEMM(A, W)) becomes
// GEMM(A, W, R), whose accumulators start from R, where the GEMM's float32 output feeds that
// add alone (a block's out_proj, o_proj or down_proj). It saves the output's round trip
// through memory and the add's pass: per layer of a 512-token Mamba-2.8B chunk, 5.2 MB written
// and 10.5 MB read. Only the accumulation order changes (R + Σ instead of Σ + R, float32).
// Returns the adds fused.
int fuse_residual_adds(Module& module);

// Fusion of Mamba-1's dt_proj into the scan that reads its output, where the scan runs on the
// native unit: the scan's step loads dt's low-rank rows (dt_rank columns in the matrix
// precision instead of the channels' float32), keeps its channels' rows of the dt_proj weight
// resident, and computes dt on the tile's matrix array before the scan (the same GEMM, k in
// one block). It saves dt's round trip through memory and an op with its barrier: per layer
// of a 512-token Mamba-2.8B chunk, 10.5 MB written and read. Returns the projections fused.
int fuse_dt_projections(Module& module);

std::string dump_module(const Module& module);

}  // namespace ssmsoc::compiler
