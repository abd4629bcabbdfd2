// Golden kernels: the reference semantics of the chip's primitives, in float32 storage
// with float32 accumulation, as the official implementations compute them
// (state-spaces/mamba selective_scan_ref and selective_state_update_ref,
// Dao-AILab causal_conv1d_ref, the gated RMSNorm of mamba_ssm). All arrays are
// row-major; optional inputs are empty spans. Shapes are checked; a mismatch throws
// std::invalid_argument naming the tensor and both shapes.
#pragma once

#include <span>
#include <vector>

namespace ssmsoc::golden {

// torch.nn.functional.softplus with threshold 20: x > 20 passes through.
float softplus(float x);
float silu(float x);

// Mamba-1 selective scan. u, delta, z: [batch, dim, length]; A: [dim, state];
// B, C: [batch, groups, state, length] (groups = 1 is the [batch, state, length] layout;
// channel d reads group d / (dim / groups)); D, delta_bias: [dim].
struct SelectiveScanArgs {
  int batch = 0, dim = 0, length = 0, state = 0, groups = 1;
  std::span<const float> u, delta, A, B, C, D, z, delta_bias;
  bool delta_softplus = false;
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

}  // namespace ssmsoc::golden
