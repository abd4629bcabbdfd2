// Mamba-3 golden kernels: the semantics of the official Mamba3 layer (state-spaces/mamba
// e9594ce, mamba_ssm/modules/mamba3.py: forward = prefill, step = decode, and the SISO /
// MIMO kernels and pure-PyTorch references it relies on), in float32 storage with float32
// accumulation like the other golden kernels (kernels.hpp). The reference data
// (tests/data/kernels/mamba3_*, REFDATA-MANIFEST.md "## Mamba-3") was made from the same
// equations in float64.
//
// Per batch b and head h (q = C and k = B after their RMSNorm, v = x; head h reads B/C group
// g = h / (heads / groups)), for t = 0..L-1:
//   theta_t = wrap(theta_{t-1} + pi * tanh(angles_t) * dt_t)        wrap(a) = a - 2pi floor(a / 2pi)
//   qr_t = Rot(theta_t)(q_t[g] + q_bias[h]),  kr_t = Rot(theta_t)(k_t[g] + k_bias[h])
//   lam = sigmoid(trap_t), alpha = exp(adt_t), beta = (1 - lam) dt_t alpha, gamma = lam dt_t
//   h_t = alpha h_{t-1} + beta v_{t-1} kr_{t-1}^T + gamma v_t kr_t^T      (state [head_dim, state])
//   y_t = h_t qr_t + D v_t, out_t = y_t * silu(z_t)
// The trapezoid reads the previous token's (kr, v): at t = 0 they come from the cache.
// Rot turns the first `rope_angles` pairs of the state dimension by theta_t[i]:
// (a, b) -> (a cos - b sin, a sin + b cos); SISO pairs are interleaved (2i, 2i+1), MIMO
// pairs are halved (i, i + state/2), as the official kernels do; other dims pass unchanged.
//
// The decode cache (Mamba3.allocate_inference_cache) is what each kernel returns and takes
// back as its initial state: angle_state [batch, heads, rope_angles] (kept in [0, 2pi)),
// ssm_state [batch, heads, head_dim, state], k_state = the last biased and rotated k
// (SISO [batch, heads, state], MIMO [batch, rank, heads, state]), v_state = the last raw v
// [batch, heads, head_dim]. An absent initial tensor (empty span) is zeros, a fresh
// sequence. All arrays are row-major; a mismatched or empty shape throws
// std::invalid_argument naming the tensor, the expected and the given size.
#pragma once

#include <span>
#include <vector>

namespace ssmsoc::golden {

// The outputs of every Mamba-3 kernel: out and the cache after the last token.
struct Mamba3Result {
  std::vector<float> out;          // scans: [batch, length, heads, head_dim]; mixer: [batch, length, d_model]
  std::vector<float> angle_state;  // [batch, heads, rope_angles], in [0, 2pi)
  std::vector<float> ssm_state;    // [batch, heads, head_dim, state]
  std::vector<float> k_state;      // SISO [batch, heads, state]; MIMO and mixer [batch, rank, heads, state]
  std::vector<float> v_state;      // [batch, heads, head_dim]
};

// SISO scan (mamba3_siso_combined; mamba3_siso_fwd_ref). q, k [batch, length, groups,
// state]; v, z [batch, length, heads, head_dim]; adt (= A dt), dt (after softplus), trap
// (before the sigmoid) [batch, heads, length]; angles (before the tanh) [batch, length,
// heads, rope_angles]; q_bias, k_bias [heads, state]; D [heads]. Optional: D, z, init_*.
struct Mamba3ScanArgs {
  int batch = 0, length = 0, heads = 0, head_dim = 0, groups = 1, state = 0, rope_angles = 0;
  std::span<const float> q, k, v, adt, dt, trap, angles, q_bias, k_bias, D, z;
  std::span<const float> init_angle_state, init_ssm_state, init_k_state, init_v_state;
};
// The prefill: one pass over the L tokens from the initial cache.
Mamba3Result mamba3_scan(const Mamba3ScanArgs& args);
// The decode path (Mamba3.step, mamba3_siso_step): L single-token steps, each reading the
// cache the previous one returned (angles reduced into [0, 2pi), states in float32).
// Same inputs and results as mamba3_scan; length 1 is one decode step.
Mamba3Result mamba3_step_multistep(const Mamba3ScanArgs& args);

// MIMO scan of rank R (mamba3_mimo, mamba3_MIMO_chunk_ref with halved rotation). As the SISO
// scan with a rank index: q, k [batch, length, rank, groups, state]; q_bias, k_bias [heads,
// rank, state]; mimo_x, mimo_o, mimo_z [heads, rank, head_dim]; norm_weight [heads, head_dim].
// Per rank: v_r = v * mimo_x[h, r]; h_t sums the R outer products of each trapezoid term;
// y_r = h_t qr_r + D v_r; with norm_weight y_r = y_r / sqrt(mean_P(y_r^2) + eps) *
// norm_weight[h] (the fused out-projection norm, before the gate); with z y_r *=
// silu(z * mimo_z[h, r]); out = sum_r y_r * mimo_o[h, r]. v_state keeps the raw v (not
// multiplied by mimo_x). Required: mimo_x, mimo_o, and mimo_z when z is given; optional: D,
// z, norm_weight, init_*.
struct Mamba3MimoScanArgs {
  int batch = 0, length = 0, heads = 0, head_dim = 0, groups = 1, state = 0, rope_angles = 0, rank = 1;
  std::span<const float> q, k, v, adt, dt, trap, angles, q_bias, k_bias, D, z;
  std::span<const float> mimo_x, mimo_o, mimo_z, norm_weight;
  float eps = 1e-5f;
  std::span<const float> init_angle_state, init_ssm_state, init_k_state, init_v_state;
};
Mamba3Result mamba3_mimo_scan(const Mamba3MimoScanArgs& args);
// The MIMO decode path (Mamba3.step): L single-token steps from the cache.
Mamba3Result mamba3_mimo_step_multistep(const Mamba3MimoScanArgs& args);

// The whole Mamba3 mixer (mamba_ssm/modules/mamba3.py, Mamba3.forward / Mamba3.step) with its
// state_dict weights. u [batch, length, d_model]; d_inner = heads * head_dim;
// in_proj [2 d_inner + 2 rank groups state + 3 heads + rope_angles, d_model] splits each
// token into [z (d_inner), x (d_inner), B (rank groups state, '(r g n)'), C (likewise),
// dd_dt, dd_A, trap (heads each), angles (rope_angles, shared by every head)]; no conv1d.
// B = RMSNorm_state(B) * B_norm, C = RMSNorm_state(C) * C_norm (eps); A = min(-heavy_tail(dd_A),
// -A_floor) with heavy_tail(a) = 1 + a (a >= 0), 1 / (1 - a) (a < 0); dt = softplus(dd_dt +
// dt_bias); adt = A dt. Then the SISO (rank 1) or MIMO scan with q = C, k = B, v = x,
// q_bias = C_bias, k_bias = B_bias [heads, rank, state]; without outproj_norm y is gated by
// silu(z); with it y = RMSNormGated(group = head_dim, norm before gate)(y, z) with weight
// norm [d_inner] (MIMO: fused per rank before the contraction). out = y out_projᵀ,
// out_proj [d_model, d_inner]. The cache uses the MIMO layouts (k_state [batch, rank, heads,
// state], rank 1 for SISO). decode: run the tokens as L Mamba3.step calls (what a cache
// implies in the official module) rather than one prefill scan; the results agree.
struct Mamba3MixerArgs {
  int batch = 0, length = 0, d_model = 0, heads = 0, head_dim = 0, groups = 1, state = 0, rope_angles = 0, rank = 1;
  bool mimo = false, outproj_norm = false, decode = false;
  float A_floor = 1e-4f, eps = 1e-5f;
  std::span<const float> u;
  std::span<const float> in_proj, out_proj, B_norm, C_norm, B_bias, C_bias, D, dt_bias;
  std::span<const float> mimo_x, mimo_o, mimo_z, norm;  // mimo_*: MIMO only; norm: outproj_norm only
  std::span<const float> init_angle_state, init_ssm_state, init_k_state, init_v_state;
};
Mamba3Result mamba3_mixer(const Mamba3MixerArgs& args);

// The number of rotary angles of a Mamba3 layer: split = int(state * rope_fraction) rounded
// down to even, angles = split / 2 (state / 4 for the default rope_fraction 0.5).
int mamba3_rope_angles(int state, double rope_fraction);
// The width of Mamba3's in_proj output for these dimensions.
int mamba3_in_proj_size(int heads, int head_dim, int groups, int state, int rope_angles, int rank);

// The shape checks, for other implementations of the kernels.
void check_shapes(const Mamba3ScanArgs& args);
void check_shapes(const Mamba3MimoScanArgs& args);
void check_shapes(const Mamba3MixerArgs& args);

}  // namespace ssmsoc::golden
