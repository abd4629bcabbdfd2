// Golden kernels: the reference semantics of the chip's primitives, in float32 storage
// with float32 accumulation, as the official implementations compute them
// (state-spaces/mamba selective_scan_ref and selective_state_update_ref,
// Dao-AILab causal_conv1d_ref, the gated RMSNorm of mamba_ssm). All arrays are
// row-major; optional inputs are empty spans. Shapes are checked; a mismatch throws
// std::invalid_argument naming the tensor and both shapes.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "arch/numerics/numerics.hpp"
#include "arch/spec/model.hpp"

namespace ssmsoc::golden {

// The activations in float32 (numerics.hpp): the kernels' and the scan unit's exact mode.
using numerics::silu;
using numerics::softplus;

// Mamba-1 selective scan. u, delta, z: [batch, dim, length]; A: [dim, state];
// B, C: [batch, groups, state, length] (groups = 1 is the [batch, state, length] layout;
// channel d reads group d / (dim / groups)); D, delta_bias: [dim].
struct SelectiveScanArgs {
  int batch = 0, dim = 0, length = 0, state = 0, groups = 1;
  std::span<const float> u, delta, A, B, C, D, z, delta_bias;
  bool delta_softplus = false;
  // The models' layout instead: u, delta, z and out [batch, length, dim]; B, C [batch,
  // length, groups, state]. Same arithmetic, same results.
  bool token_major = false;
};
struct ScanResult {
  std::vector<float> out;    // [batch, dim, length] (or the decode layout for state updates)
  std::vector<float> state;  // final state: [batch, dim, state] (Mamba-1) / [batch, heads, head_dim, state]
};
ScanResult selective_scan(const SelectiveScanArgs& args);

// One decode step, Mamba-1 layout: state [batch, dim, state]; x, dt, z [batch, dim];
// A [dim, state]; B, C [batch, groups, state]; D, dt_bias [dim].
struct StateUpdateArgs {
  int batch = 0, dim = 0, state = 0, groups = 1;
  std::span<const float> state_in, x, dt, A, B, C, D, z, dt_bias;
  bool dt_softplus = false;
};
ScanResult selective_state_update(const StateUpdateArgs& args);

// One decode step, Mamba-2 multi-head layout (dt, A, D, dt_bias tied over head_dim):
// state [batch, heads, head_dim, state]; x, z [batch, heads, head_dim]; dt [batch, heads];
// A, D, dt_bias [heads]; B, C [batch, groups, state], head h reads group h / (heads / groups).
struct MultiHeadStateUpdateArgs {
  int batch = 0, heads = 0, head_dim = 0, state = 0, groups = 1;
  std::span<const float> state_in, x, dt, A, B, C, D, z, dt_bias;
  bool dt_softplus = false;
};
ScanResult selective_state_update_multihead(const MultiHeadStateUpdateArgs& args);

enum class Activation { none, silu };

// Depthwise causal conv1d. x [batch, dim, length]; weight [dim, width]; bias [dim];
// initial_states [batch, dim, width-1]. Returns out [batch, dim, length] and the final
// states [batch, dim, width-1] (the last width-1 inputs, oldest first).
struct ConvResult {
  std::vector<float> out;
  std::vector<float> conv_state;
};
ConvResult causal_conv1d(int batch, int dim, int length, int width, std::span<const float> x,
                         std::span<const float> weight, std::span<const float> bias,
                         std::span<const float> initial_states, Activation activation);

// Decode: conv_state [batch, dim, state_len] (state_len >= width-1) holds the most recent
// inputs, oldest first, and is shifted by `steps` new inputs x [batch, dim, steps].
ConvResult causal_conv1d_update(int batch, int dim, int steps, int width, int state_len, std::span<const float> x,
                                std::span<const float> conv_state, std::span<const float> weight,
                                std::span<const float> bias, Activation activation);

// RMSNorm over the last dimension `n`: x / sqrt(mean(x^2) + eps) * weight.
std::vector<float> rmsnorm(int rows, int n, std::span<const float> x, std::span<const float> weight, float eps);

// Gated RMSNorm (RMSNormGated): each contiguous group of group_size channels is
// normalised on its own; norm_before_gate=false: rmsnorm(x*silu(z))*weight, true:
// rmsnorm(x)*weight*silu(z).
std::vector<float> gated_rmsnorm(int rows, int n, int group_size, std::span<const float> x, std::span<const float> z,
                                 std::span<const float> weight, float eps, bool norm_before_gate);

// Mamba-2 SSD over a sequence, heads of head_dim channels sharing one scalar decay:
// x [batch, length, heads, head_dim]; dt [batch, length, heads] (already after softplus
// and clamping); A, D [heads]; B, C [batch, length, groups, state], head h reads group
// h / (heads / groups); initial_state [batch, heads, head_dim, state] (optional).
// y = SSD(x·dt, A·dt, B, C) + D·x; state: the final state, same layout as the initial one.
struct SsdArgs {
  int batch = 0, length = 0, heads = 0, head_dim = 0, groups = 1, state = 0;
  std::span<const float> x, dt, A, B, C, D, initial_state;
};
// Positions of one (batch, head) sequence in the SSD layouts.
struct SsdIndex {
  const SsdArgs& a;
  std::size_t b, h;
  std::size_t x(std::size_t t) const { return ((b * a.length + t) * a.heads + h) * a.head_dim; }
  std::size_t dt(std::size_t t) const { return (b * a.length + t) * a.heads + h; }
  std::size_t bc(std::size_t t) const { return ((b * a.length + t) * a.groups + h / (a.heads / a.groups)) * a.state; }
  std::size_t state() const { return (b * a.heads + h) * a.head_dim * a.state; }
};
// The result before the first step: zero outputs, the initial (or zero) state.
ScanResult ssd_start(const SsdArgs& args);
// The chunked algorithm (intra-chunk quadratic form, chunk states, inter-chunk recurrence,
// state-to-output term); any chunk_size >= 1, length need not be a multiple of it.
ScanResult ssd_chunked(const SsdArgs& args, int chunk_size);
// The same result by the step-by-step recurrence.
ScanResult ssd_sequential(const SsdArgs& args);

// y = x · Wᵀ + bias, the layout of torch.nn.Linear: x [rows, in], weight [out, in], bias [out].
std::vector<float> linear(int rows, int in, int out, std::span<const float> x, std::span<const float> weight,
                          std::span<const float> bias);

// Rotary position embedding (rotate-half form of HuggingFace): the first rotary_dim
// channels of each head of x [tokens, heads, head_dim] are rotated by position
// positions[t] with inv_freq[i] = theta^(-2i / rotary_dim); the rest pass through.
void apply_rope(std::span<float> x, int tokens, int heads, int head_dim, int rotary_dim, float theta,
                std::span<const std::int64_t> positions);

// Keys and values of one attention layer for one sequence, appended step by step:
// [kv_heads, length, head_dim] each.
class KvCache {
 public:
  KvCache(int kv_heads, int head_dim) : kv_heads_(kv_heads), head_dim_(head_dim) {}
  // Appends `tokens` new positions given as [tokens, kv_heads, head_dim].
  void append(int tokens, std::span<const float> k, std::span<const float> v);
  int length() const { return length_; }
  int kv_heads() const { return kv_heads_; }
  int head_dim() const { return head_dim_; }
  const float* key(int head, int position) const { return &k_[offset(head, position)]; }
  const float* value(int head, int position) const { return &v_[offset(head, position)]; }

 private:
  void reserve(int length);
  std::size_t offset(int head, int position) const {
    return (static_cast<std::size_t>(head) * capacity_ + position) * head_dim_;
  }
  int kv_heads_, head_dim_, length_ = 0, capacity_ = 0;
  std::vector<float> k_, v_;
};

// Causal attention with grouped-query heads over a KV cache: q [tokens, heads, head_dim]
// holds the last `tokens` positions of the cache; query head h reads kv head
// h / (heads / kv_heads). softmax(q·kᵀ·scale) in float32 with the running maximum
// subtracted. Returns [tokens, heads, head_dim].
std::vector<float> causal_attention(std::span<const float> q, int tokens, int heads, const KvCache& cache, float scale);

// Mixture-of-experts routing (the kinds are the model description's, arch/spec/model.hpp):
// for each token's router logits [experts], the chosen experts and their weights, in the
// order of decreasing score (ties: lower index first).
using Routing = ssmsoc::Routing;
struct Route {
  std::vector<int> experts;
  std::vector<float> weights;
};
std::vector<Route> route_topk(int tokens, int experts, int k, std::span<const float> logits, Routing routing,
                              bool normalize, std::span<const float> correction_bias = {}, float scale = 1.0f);

// The shape checks of the scan kernels, for other implementations of them (fixed_scan).
// `with_state`: whether the float state (state_in, initial_state) must be given.
void check_shapes(const SelectiveScanArgs& args);
void check_shapes(const StateUpdateArgs& args, bool with_state = true);
void check_shapes(const MultiHeadStateUpdateArgs& args, bool with_state = true);
void check_shapes(const SsdArgs& args, bool with_state = true);

}  // namespace ssmsoc::golden
