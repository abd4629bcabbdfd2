#include "arch/golden/mamba3.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>

#include "arch/golden/kernels.hpp"

namespace ssmsoc::golden {

namespace {

std::size_t sz(int v) { return static_cast<std::size_t>(v); }

using Dims = std::initializer_list<std::pair<const char*, int>>;

std::size_t count(Dims dims) {
  std::size_t n = 1;
  for (const auto& d : dims) n *= sz(d.second);
  return n;
}

// "[batch 2, length 33, heads 4]"
std::string layout(Dims dims) {
  std::string text = "[";
  for (const auto& [name, value] : dims) text += fmt::format("{}{} {}", text.size() > 1 ? ", " : "", name, value);
  return text + "]";
}

void expect_shape(std::span<const float> tensor, const char* name, Dims dims, bool optional = false) {
  if (optional && tensor.empty()) return;
  if (tensor.size() != count(dims))
    throw std::invalid_argument(
        fmt::format("{}: expected {} elements {}, got {}", name, count(dims), layout(dims), tensor.size()));
}

void expect_positive(int value, const char* name) {
  if (value < 1) throw std::invalid_argument(fmt::format("{}: expected at least 1, got {}", name, value));
}

void expect_groups(int heads, int groups) {
  if (groups < 1 || heads % groups != 0)
    throw std::invalid_argument(fmt::format("groups: {} heads do not split into {} groups", heads, groups));
}

enum class Pairs { interleaved, halved };

void expect_rope_angles(int rope_angles, int state, Pairs pairs) {
  if (pairs == Pairs::halved && state % 2 != 0)
    throw std::invalid_argument(fmt::format("state: the halved rotation needs an even state size, got {}", state));
  if (rope_angles < 0 || 2 * rope_angles > state)
    throw std::invalid_argument(
        fmt::format("rope_angles: expected 0..{} (pairs of a state of {}), got {}", state / 2, state, rope_angles));
}

// One view of the SISO and MIMO scans: SISO is rank 1 with interleaved pairs and no
// mimo_* projections (an absent projection is a factor of 1, which changes no bit).
struct Core {
  int batch = 0, length = 0, heads = 0, head_dim = 0, groups = 1, state = 0, angles = 0, rank = 1;
  Pairs pairs = Pairs::interleaved;
  std::span<const float> q, k, v, adt, dt, trap, theta_in, q_bias, k_bias, D, z;
  std::span<const float> mimo_x, mimo_o, mimo_z, norm_weight;
  float eps = 1e-5f;
  std::span<const float> init_angle_state, init_ssm_state, init_k_state, init_v_state;
};

// The sizes every kernel has, and the decode cache it may start from (k_state with a rank
// index unless `k_without_rank`: the SISO kernels' [batch, heads, state]).
void check_dimensions(int batch, int length, int heads, int head_dim, int groups, int state, int rank, int angles,
                      Pairs pairs) {
  expect_positive(batch, "batch");
  expect_positive(length, "length");
  expect_positive(heads, "heads");
  expect_positive(head_dim, "head_dim");
  expect_positive(state, "state");
  expect_positive(rank, "rank");
  expect_groups(heads, groups);
  expect_rope_angles(angles, state, pairs);
}
void check_cache(std::span<const float> angle, std::span<const float> ssm, std::span<const float> k,
                 std::span<const float> v, int B, int H, int P, int N, int S, int R, bool k_without_rank) {
  expect_shape(angle, "init_angle_state", {{"batch", B}, {"heads", H}, {"rope_angles", S}}, true);
  expect_shape(ssm, "init_ssm_state", {{"batch", B}, {"heads", H}, {"head_dim", P}, {"state", N}}, true);
  if (k_without_rank)
    expect_shape(k, "init_k_state", {{"batch", B}, {"heads", H}, {"state", N}}, true);
  else
    expect_shape(k, "init_k_state", {{"batch", B}, {"rank", R}, {"heads", H}, {"state", N}}, true);
  expect_shape(v, "init_v_state", {{"batch", B}, {"heads", H}, {"head_dim", P}}, true);
}

void check_core(const Core& c, bool siso) {
  check_dimensions(c.batch, c.length, c.heads, c.head_dim, c.groups, c.state, c.rank, c.angles, c.pairs);
  const int B = c.batch, L = c.length, H = c.heads, P = c.head_dim, G = c.groups, N = c.state, S = c.angles, R = c.rank;
  if (siso) {
    expect_shape(c.q, "q", {{"batch", B}, {"length", L}, {"groups", G}, {"state", N}});
    expect_shape(c.k, "k", {{"batch", B}, {"length", L}, {"groups", G}, {"state", N}});
    expect_shape(c.q_bias, "q_bias", {{"heads", H}, {"state", N}});
    expect_shape(c.k_bias, "k_bias", {{"heads", H}, {"state", N}});
  } else {
    expect_shape(c.q, "q", {{"batch", B}, {"length", L}, {"rank", R}, {"groups", G}, {"state", N}});
    expect_shape(c.k, "k", {{"batch", B}, {"length", L}, {"rank", R}, {"groups", G}, {"state", N}});
    expect_shape(c.q_bias, "q_bias", {{"heads", H}, {"rank", R}, {"state", N}});
    expect_shape(c.k_bias, "k_bias", {{"heads", H}, {"rank", R}, {"state", N}});
  }
  expect_shape(c.v, "v", {{"batch", B}, {"length", L}, {"heads", H}, {"head_dim", P}});
  expect_shape(c.adt, "adt", {{"batch", B}, {"heads", H}, {"length", L}});
  expect_shape(c.dt, "dt", {{"batch", B}, {"heads", H}, {"length", L}});
  expect_shape(c.trap, "trap", {{"batch", B}, {"heads", H}, {"length", L}});
  expect_shape(c.theta_in, "angles", {{"batch", B}, {"length", L}, {"heads", H}, {"rope_angles", S}});
  expect_shape(c.D, "D", {{"heads", H}}, true);
  expect_shape(c.z, "z", {{"batch", B}, {"length", L}, {"heads", H}, {"head_dim", P}}, true);
  if (!siso) {
    expect_shape(c.mimo_x, "mimo_x", {{"heads", H}, {"rank", R}, {"head_dim", P}});
    expect_shape(c.mimo_o, "mimo_o", {{"heads", H}, {"rank", R}, {"head_dim", P}});
    if (!c.z.empty() && c.mimo_z.empty())
      throw std::invalid_argument(fmt::format("mimo_z: required with z, expected {} elements {}",
                                              count({{"heads", H}, {"rank", R}, {"head_dim", P}}),
                                              layout({{"heads", H}, {"rank", R}, {"head_dim", P}})));
    expect_shape(c.mimo_z, "mimo_z", {{"heads", H}, {"rank", R}, {"head_dim", P}}, true);
    expect_shape(c.norm_weight, "norm_weight", {{"heads", H}, {"head_dim", P}}, true);
  }
  check_cache(c.init_angle_state, c.init_ssm_state, c.init_k_state, c.init_v_state, B, H, P, N, S, R, siso);
}

std::vector<float> copy_or_zeros(std::span<const float> init, std::size_t size) {
  return init.empty() ? std::vector<float>(size, 0.0f) : std::vector<float>(init.begin(), init.end());
}

// The cache before the first token: the initial one, or zeros.
Mamba3Result start(const Core& c) {
  const std::size_t B = sz(c.batch), H = sz(c.heads), P = sz(c.head_dim), N = sz(c.state), R = sz(c.rank);
  Mamba3Result r;
  r.out.assign(B * sz(c.length) * H * P, 0.0f);
  r.angle_state = copy_or_zeros(c.init_angle_state, B * H * sz(c.angles));
  r.ssm_state = copy_or_zeros(c.init_ssm_state, B * H * P * N);
  r.k_state = copy_or_zeros(c.init_k_state, B * R * H * N);
  r.v_state = copy_or_zeros(c.init_v_state, B * H * P);
  return r;
}

constexpr double kTwoPi = 6.283185307179586476925286766559;
constexpr float kPi = 3.14159265358979323846f;

// a - 2pi floor(a / 2pi), with 2pi exact (in double) so that repeated reductions do not
// drift by float(2pi)'s rounding error; the result is stored in float32.
float wrap_angle(float a) {
  const double w = double(a) - kTwoPi * std::floor(double(a) / kTwoPi);
  const float f = static_cast<float>(w);
  return f >= static_cast<float>(kTwoPi) ? 0.0f : f;
}

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// Rotates x [state] in place by the angles whose cos/sin are given.
void rotate(float* x, const std::vector<float>& cos_t, const std::vector<float>& sin_t, std::size_t N, Pairs pairs) {
  for (std::size_t i = 0; i < cos_t.size(); ++i) {
    const std::size_t i0 = pairs == Pairs::interleaved ? 2 * i : i;
    const std::size_t i1 = pairs == Pairs::interleaved ? 2 * i + 1 : i + N / 2;
    const float a = x[i0], b = x[i1];
    x[i0] = a * cos_t[i] - b * sin_t[i];
    x[i1] = a * sin_t[i] + b * cos_t[i];
  }
}

// Runs the recurrence over all tokens, starting from and updating r's cache in place.
void run(const Core& c, Mamba3Result& r) {
  const std::size_t B = sz(c.batch), L = sz(c.length), H = sz(c.heads), P = sz(c.head_dim), G = sz(c.groups),
                    N = sz(c.state), S = sz(c.angles), R = sz(c.rank);
  const std::size_t heads_per_group = H / G;
  std::vector<float> cos_t(S), sin_t(S), qr(R * N), kr(R * N), vr(R * P), vprev(R * P), y(R * P);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t h = 0; h < H; ++h) {
      const std::size_t g = h / heads_per_group, bh = b * H + h;
      // data() + offset: a layer without rotary angles (S = 0) has an empty angle state.
      float* theta = r.angle_state.data() + bh * S;
      float* state = r.ssm_state.data() + bh * P * N;
      float* v_last = r.v_state.data() + bh * P;
      auto k_last = [&](std::size_t rk) { return r.k_state.data() + ((b * R + rk) * H + h) * N; };
      auto x_factor = [&](std::size_t rk, std::size_t p) {
        return c.mimo_x.empty() ? 1.0f : c.mimo_x[(h * R + rk) * P + p];
      };
      const float D = c.D.empty() ? 0.0f : c.D[h];
      for (std::size_t t = 0; t < L; ++t) {
        const std::size_t bht = bh * L + t, token = (b * L + t) * H + h;
        const float dt = c.dt[bht], adt = c.adt[bht];
        // Cumulative rotary angles, reduced into [0, 2pi).
        for (std::size_t i = 0; i < S; ++i) {
          theta[i] = wrap_angle(theta[i] + kPi * std::tanh(c.theta_in[token * S + i]) * dt);
          cos_t[i] = std::cos(theta[i]);
          sin_t[i] = std::sin(theta[i]);
        }
        // q and k of each rank: bias, then rotation.
        for (std::size_t rk = 0; rk < R; ++rk) {
          const std::size_t qk = (((b * L + t) * R + rk) * G + g) * N, bias = (h * R + rk) * N;
          for (std::size_t n = 0; n < N; ++n) {
            qr[rk * N + n] = c.q[qk + n] + c.q_bias[bias + n];
            kr[rk * N + n] = c.k[qk + n] + c.k_bias[bias + n];
          }
          rotate(&qr[rk * N], cos_t, sin_t, N, c.pairs);
          rotate(&kr[rk * N], cos_t, sin_t, N, c.pairs);
        }
        const float lam = sigmoid(c.trap[bht]), alpha = std::exp(adt);
        const float beta = (1.0f - lam) * dt * alpha, gamma = lam * dt;
        const float* v = &c.v[token * P];
        for (std::size_t rk = 0; rk < R; ++rk)
          for (std::size_t p = 0; p < P; ++p) {
            vr[rk * P + p] = v[p] * x_factor(rk, p);
            vprev[rk * P + p] = v_last[p] * x_factor(rk, p);
          }
        // The trapezoid: the previous token's outer products and the current one's.
        for (std::size_t p = 0; p < P; ++p) {
          float* hp = &state[p * N];
          for (std::size_t n = 0; n < N; ++n) {
            float previous = 0, current = 0;
            for (std::size_t rk = 0; rk < R; ++rk) {
              previous += vprev[rk * P + p] * k_last(rk)[n];
              current += vr[rk * P + p] * kr[rk * N + n];
            }
            hp[n] = alpha * hp[n] + beta * previous + gamma * current;
          }
        }
        // Outputs per rank, the norm and gate, the rank contraction.
        for (std::size_t rk = 0; rk < R; ++rk) {
          float* yr = &y[rk * P];
          for (std::size_t p = 0; p < P; ++p) {
            float acc = 0;
            for (std::size_t n = 0; n < N; ++n) acc += state[p * N + n] * qr[rk * N + n];
            yr[p] = acc + D * vr[rk * P + p];
          }
          if (!c.norm_weight.empty()) {
            float squares = 0;
            for (std::size_t p = 0; p < P; ++p) squares += yr[p] * yr[p];
            const float scale = 1.0f / std::sqrt(squares / static_cast<float>(P) + c.eps);
            for (std::size_t p = 0; p < P; ++p) yr[p] = yr[p] * scale * c.norm_weight[h * P + p];
          }
          if (!c.z.empty())
            for (std::size_t p = 0; p < P; ++p)
              yr[p] *= silu(c.z[token * P + p] * (c.mimo_z.empty() ? 1.0f : c.mimo_z[(h * R + rk) * P + p]));
        }
        float* out = &r.out[token * P];
        for (std::size_t p = 0; p < P; ++p) {
          float acc = 0;
          for (std::size_t rk = 0; rk < R; ++rk)
            acc += y[rk * P + p] * (c.mimo_o.empty() ? 1.0f : c.mimo_o[(h * R + rk) * P + p]);
          out[p] = acc;
        }
        // The cache for the next token: the rotated k, the raw v.
        for (std::size_t rk = 0; rk < R; ++rk) std::copy_n(&kr[rk * N], N, k_last(rk));
        std::copy_n(v, P, v_last);
      }
    }
}

Mamba3Result scan(const Core& c, bool siso) {
  check_core(c, siso);
  Mamba3Result r = start(c);
  run(c, r);
  return r;
}

// Token t's inputs of a [batch, length, rest] tensor, as [batch, 1, rest].
std::vector<float> token_slice(std::span<const float> x, std::size_t B, std::size_t L, std::size_t t) {
  if (x.empty()) return {};
  const std::size_t rest = x.size() / (B * L);
  std::vector<float> s(B * rest);
  for (std::size_t b = 0; b < B; ++b) std::copy_n(&x[(b * L + t) * rest], rest, &s[b * rest]);
  return s;
}

// Token t's values of a [batch, heads, length] tensor, as [batch, heads, 1].
std::vector<float> column_slice(std::span<const float> x, std::size_t BH, std::size_t L, std::size_t t) {
  std::vector<float> s(BH);
  for (std::size_t i = 0; i < BH; ++i) s[i] = x[i * L + t];
  return s;
}

// The decode path: each token is a one-token scan from the cache the last one returned.
Mamba3Result step_multistep(const Core& c, bool siso) {
  check_core(c, siso);
  const std::size_t B = sz(c.batch), L = sz(c.length), H = sz(c.heads), P = sz(c.head_dim);
  Mamba3Result r = start(c);
  std::vector<float> out_all = std::move(r.out);
  for (std::size_t t = 0; t < L; ++t) {
    const std::vector<float> q = token_slice(c.q, B, L, t), k = token_slice(c.k, B, L, t),
                             v = token_slice(c.v, B, L, t), z = token_slice(c.z, B, L, t),
                             angles = token_slice(c.theta_in, B, L, t), adt = column_slice(c.adt, B * H, L, t),
                             dt = column_slice(c.dt, B * H, L, t), trap = column_slice(c.trap, B * H, L, t);
    Core one = c;
    one.length = 1;
    one.q = q, one.k = k, one.v = v, one.z = z, one.theta_in = angles, one.adt = adt, one.dt = dt, one.trap = trap;
    r.out.assign(B * H * P, 0.0f);
    run(one, r);
    for (std::size_t b = 0; b < B; ++b) std::copy_n(&r.out[b * H * P], H * P, &out_all[(b * L + t) * H * P]);
  }
  r.out = std::move(out_all);
  return r;
}

// The inputs both forms share.
template <class Args>
Core common(const Args& a) {
  Core c;
  c.batch = a.batch, c.length = a.length, c.heads = a.heads, c.head_dim = a.head_dim, c.groups = a.groups;
  c.state = a.state, c.angles = a.rope_angles;
  c.q = a.q, c.k = a.k, c.v = a.v, c.adt = a.adt, c.dt = a.dt, c.trap = a.trap, c.theta_in = a.angles;
  c.q_bias = a.q_bias, c.k_bias = a.k_bias, c.D = a.D, c.z = a.z;
  c.init_angle_state = a.init_angle_state, c.init_ssm_state = a.init_ssm_state;
  c.init_k_state = a.init_k_state, c.init_v_state = a.init_v_state;
  return c;
}

Core core(const Mamba3ScanArgs& a) {
  Core c = common(a);
  c.rank = 1, c.pairs = Pairs::interleaved;
  return c;
}

Core core(const Mamba3MimoScanArgs& a) {
  Core c = common(a);
  c.rank = a.rank, c.pairs = Pairs::halved;
  c.mimo_x = a.mimo_x, c.mimo_o = a.mimo_o, c.mimo_z = a.mimo_z, c.norm_weight = a.norm_weight, c.eps = a.eps;
  return c;
}

float heavy_tail(float a) { return a >= 0.0f ? 1.0f + a : 1.0f / (1.0f - a); }

}  // namespace

void check_shapes(const Mamba3ScanArgs& args) { check_core(core(args), true); }
void check_shapes(const Mamba3MimoScanArgs& args) { check_core(core(args), false); }

Mamba3Result mamba3_scan(const Mamba3ScanArgs& args) { return scan(core(args), true); }
Mamba3Result mamba3_step_multistep(const Mamba3ScanArgs& args) { return step_multistep(core(args), true); }
Mamba3Result mamba3_mimo_scan(const Mamba3MimoScanArgs& args) { return scan(core(args), false); }
Mamba3Result mamba3_mimo_step_multistep(const Mamba3MimoScanArgs& args) { return step_multistep(core(args), false); }

int mamba3_rope_angles(int state, double rope_fraction) {
  if (state < 1) throw std::invalid_argument(fmt::format("state: expected at least 1, got {}", state));
  if (!(rope_fraction >= 0.0 && rope_fraction <= 1.0))
    throw std::invalid_argument(fmt::format("rope_fraction: expected 0..1, got {}", rope_fraction));
  int split = static_cast<int>(state * rope_fraction);
  split -= split % 2;
  return split / 2;
}

int mamba3_in_proj_size(int heads, int head_dim, int groups, int state, int rope_angles, int rank) {
  return 2 * heads * head_dim + 2 * rank * groups * state + 3 * heads + rope_angles;
}

void check_shapes(const Mamba3MixerArgs& a) {
  check_dimensions(a.batch, a.length, a.heads, a.head_dim, a.groups, a.state, a.rank, a.rope_angles,
                   a.mimo ? Pairs::halved : Pairs::interleaved);
  expect_positive(a.d_model, "d_model");
  if (!a.mimo && a.rank != 1) throw std::invalid_argument(fmt::format("rank: a SISO mixer has rank 1, got {}", a.rank));
  const int B = a.batch, L = a.length, H = a.heads, P = a.head_dim, N = a.state, R = a.rank, DI = H * P;
  const int in_size = mamba3_in_proj_size(H, P, a.groups, N, a.rope_angles, R);
  expect_shape(a.u, "u", {{"batch", B}, {"length", L}, {"d_model", a.d_model}});
  expect_shape(a.in_proj, "in_proj.weight", {{"in_proj outputs", in_size}, {"d_model", a.d_model}});
  expect_shape(a.out_proj, "out_proj.weight", {{"d_model", a.d_model}, {"d_inner", DI}});
  expect_shape(a.B_norm, "B_norm.weight", {{"state", N}});
  expect_shape(a.C_norm, "C_norm.weight", {{"state", N}});
  expect_shape(a.B_bias, "B_bias", {{"heads", H}, {"rank", R}, {"state", N}});
  expect_shape(a.C_bias, "C_bias", {{"heads", H}, {"rank", R}, {"state", N}});
  expect_shape(a.D, "D", {{"heads", H}});
  expect_shape(a.dt_bias, "dt_bias", {{"heads", H}});
  for (auto [tensor, name] : {std::pair{a.mimo_x, "mimo_x"}, {a.mimo_o, "mimo_o"}, {a.mimo_z, "mimo_z"}}) {
    if (a.mimo)
      expect_shape(tensor, name, {{"heads", H}, {"rank", R}, {"head_dim", P}});
    else if (!tensor.empty())
      throw std::invalid_argument(fmt::format("{}: given to a SISO mixer (MIMO only)", name));
  }
  if (a.outproj_norm)
    expect_shape(a.norm, "norm.weight", {{"d_inner", DI}});
  else if (!a.norm.empty())
    throw std::invalid_argument("norm.weight: given without outproj_norm");
  check_cache(a.init_angle_state, a.init_ssm_state, a.init_k_state, a.init_v_state, B, H, P, N, a.rope_angles, R,
              false);
}

Mamba3Result mamba3_mixer(const Mamba3MixerArgs& a) {
  check_shapes(a);
  const std::size_t B = sz(a.batch), L = sz(a.length), H = sz(a.heads), P = sz(a.head_dim), G = sz(a.groups),
                    N = sz(a.state), S = sz(a.rope_angles), R = sz(a.rank), DI = H * P, RGN = R * G * N;
  const std::size_t in_size = sz(mamba3_in_proj_size(a.heads, a.head_dim, a.groups, a.state, a.rope_angles, a.rank));
  const std::size_t tokens = B * L;
  const std::vector<float> zx =
      linear(static_cast<int>(tokens), a.d_model, static_cast<int>(in_size), a.u, a.in_proj, {});
  // Split each token's projection; q = C and k = B keep the '(r g n)' order, [batch, length, rank, groups, state].
  std::vector<float> z(tokens * DI), x(tokens * DI), k_raw(tokens * RGN), q_raw(tokens * RGN), angles(tokens * H * S);
  std::vector<float> adt(B * H * L), dt(B * H * L), trap(B * H * L);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t t = 0; t < L; ++t) {
      const std::size_t token = b * L + t;
      const float* row = &zx[token * in_size];
      std::copy_n(row, DI, &z[token * DI]);
      std::copy_n(row + DI, DI, &x[token * DI]);
      std::copy_n(row + 2 * DI, RGN, &k_raw[token * RGN]);
      std::copy_n(row + 2 * DI + RGN, RGN, &q_raw[token * RGN]);
      const float* dd_dt = row + 2 * DI + 2 * RGN;
      const float* dd_A = dd_dt + H;
      const float* trap_row = dd_A + H;
      const float* angle_row = trap_row + H;
      for (std::size_t h = 0; h < H; ++h) {
        const float A = std::min(-heavy_tail(dd_A[h]), -a.A_floor);
        const float delta = softplus(dd_dt[h] + a.dt_bias[h]);
        const std::size_t bht = (b * H + h) * L + t;
        dt[bht] = delta;
        adt[bht] = A * delta;
        trap[bht] = trap_row[h];
        std::copy_n(angle_row, S, &angles[(token * H + h) * S]);  // the same angles for every head
      }
    }
  const int rows = static_cast<int>(tokens * R * G);
  const std::vector<float> k = rmsnorm(rows, a.state, k_raw, a.B_norm, a.eps);
  const std::vector<float> q = rmsnorm(rows, a.state, q_raw, a.C_norm, a.eps);

  Mamba3Result r;
  const bool gate_in_scan = a.mimo || !a.outproj_norm;
  if (a.mimo) {
    Mamba3MimoScanArgs s;
    s.batch = a.batch, s.length = a.length, s.heads = a.heads, s.head_dim = a.head_dim, s.groups = a.groups;
    s.state = a.state, s.rope_angles = a.rope_angles, s.rank = a.rank;
    s.q = q, s.k = k, s.v = x, s.adt = adt, s.dt = dt, s.trap = trap, s.angles = angles;
    s.q_bias = a.C_bias, s.k_bias = a.B_bias, s.D = a.D, s.z = z;
    s.mimo_x = a.mimo_x, s.mimo_o = a.mimo_o, s.mimo_z = a.mimo_z, s.eps = a.eps;
    if (a.outproj_norm) s.norm_weight = a.norm;
    s.init_angle_state = a.init_angle_state, s.init_ssm_state = a.init_ssm_state;
    s.init_k_state = a.init_k_state, s.init_v_state = a.init_v_state;
    r = a.decode ? mamba3_mimo_step_multistep(s) : mamba3_mimo_scan(s);
  } else {
    Mamba3ScanArgs s;
    s.batch = a.batch, s.length = a.length, s.heads = a.heads, s.head_dim = a.head_dim, s.groups = a.groups;
    s.state = a.state, s.rope_angles = a.rope_angles;
    s.q = q, s.k = k, s.v = x, s.adt = adt, s.dt = dt, s.trap = trap, s.angles = angles;
    s.q_bias = a.C_bias, s.k_bias = a.B_bias, s.D = a.D;  // [heads, 1, state] = [heads, state]
    if (gate_in_scan) s.z = z;
    s.init_angle_state = a.init_angle_state, s.init_ssm_state = a.init_ssm_state;
    s.init_k_state = a.init_k_state, s.init_v_state = a.init_v_state;  // [batch, 1, heads, state]
    r = a.decode ? mamba3_step_multistep(s) : mamba3_scan(s);
  }
  // r.out: y [batch, length, heads, head_dim] = [tokens, d_inner].
  if (!gate_in_scan)
    r.out = gated_rmsnorm(static_cast<int>(tokens), static_cast<int>(DI), a.head_dim, r.out, z, a.norm, a.eps, true);
  r.out = linear(static_cast<int>(tokens), static_cast<int>(DI), a.d_model, r.out, a.out_proj, {});
  return r;
}

}  // namespace ssmsoc::golden
