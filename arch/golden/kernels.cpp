#include "arch/golden/kernels.hpp"

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ssmsoc::golden {

namespace {

void expect_size(std::span<const float> tensor, std::size_t size, const char* name, bool optional = false) {
  if (optional && tensor.empty()) return;
  if (tensor.size() != size)
    throw std::invalid_argument(fmt::format("{}: expected {} elements, got {}", name, size, tensor.size()));
}

void expect_groups(int channels, int groups, const char* what) {
  if (groups <= 0 || channels % groups != 0)
    throw std::invalid_argument(fmt::format("groups: {} {} do not split into {} groups", channels, what, groups));
}

std::size_t sz(int v) { return static_cast<std::size_t>(v); }

}  // namespace

void check_shapes(const SelectiveScanArgs& a) {
  const std::size_t b = sz(a.batch), d = sz(a.dim), l = sz(a.length), n = sz(a.state), g = sz(a.groups);
  expect_groups(a.dim, a.groups, "channels");
  expect_size(a.u, b * d * l, "u");
  expect_size(a.delta, b * d * l, "delta");
  expect_size(a.A, d * n, "A");
  expect_size(a.B, b * g * n * l, "B");
  expect_size(a.C, b * g * n * l, "C");
  expect_size(a.D, d, "D", true);
  expect_size(a.z, b * d * l, "z", true);
  expect_size(a.delta_bias, d, "delta_bias", true);
}

void check_shapes(const StateUpdateArgs& a, bool with_state) {
  const std::size_t b = sz(a.batch), d = sz(a.dim), n = sz(a.state), g = sz(a.groups);
  expect_groups(a.dim, a.groups, "channels");
  if (with_state) expect_size(a.state_in, b * d * n, "state");
  expect_size(a.x, b * d, "x");
  expect_size(a.dt, b * d, "dt");
  expect_size(a.A, d * n, "A");
  expect_size(a.B, b * g * n, "B");
  expect_size(a.C, b * g * n, "C");
  expect_size(a.D, d, "D", true);
  expect_size(a.z, b * d, "z", true);
  expect_size(a.dt_bias, d, "dt_bias", true);
}

void check_shapes(const MultiHeadStateUpdateArgs& a, bool with_state) {
  const std::size_t b = sz(a.batch), hs = sz(a.heads), p = sz(a.head_dim), n = sz(a.state), g = sz(a.groups);
  expect_groups(a.heads, a.groups, "heads");
  if (with_state) expect_size(a.state_in, b * hs * p * n, "state");
  expect_size(a.x, b * hs * p, "x");
  expect_size(a.dt, b * hs, "dt");
  expect_size(a.A, hs, "A");
  expect_size(a.B, b * g * n, "B");
  expect_size(a.C, b * g * n, "C");
  expect_size(a.D, hs, "D", true);
  expect_size(a.z, b * hs * p, "z", true);
  expect_size(a.dt_bias, hs, "dt_bias", true);
}

void check_shapes(const SsdArgs& a, bool with_state) {
  const std::size_t b = sz(a.batch), l = sz(a.length), h = sz(a.heads), p = sz(a.head_dim), g = sz(a.groups),
                    n = sz(a.state);
  expect_groups(a.heads, a.groups, "heads");
  expect_size(a.x, b * l * h * p, "x");
  expect_size(a.dt, b * l * h, "dt");
  expect_size(a.A, h, "A");
  expect_size(a.B, b * l * g * n, "B");
  expect_size(a.C, b * l * g * n, "C");
  expect_size(a.D, h, "D", true);
  if (with_state) expect_size(a.initial_state, b * h * p * n, "initial_state", true);
}

ScanResult selective_scan(const SelectiveScanArgs& a) {
  check_shapes(a);
  const std::size_t b = sz(a.batch), d = sz(a.dim), l = sz(a.length), n = sz(a.state), g = sz(a.groups);
  ScanResult r{std::vector<float>(b * d * l), std::vector<float>(b * d * n)};
  const std::size_t channels_per_group = d / g;
  // Element positions in the two layouts; the arithmetic is the same in both.
  auto at = [&](std::size_t bi, std::size_t di, std::size_t t) {  // u, delta, z, out
    return a.token_major ? (bi * l + t) * d + di : (bi * d + di) * l + t;
  };
  auto step = [&](std::size_t bi, std::size_t di, std::size_t t) {
    const std::size_t i = at(bi, di, t), gi = di / channels_per_group;
    // B and C of this step: n values, contiguous in the token-major layout.
    const std::size_t bc = a.token_major ? ((bi * l + t) * g + gi) * n : (bi * g + gi) * n * l + t;
    const std::size_t stride = a.token_major ? 1 : l;
    const float* B = &a.B[bc];
    const float* C = &a.C[bc];
    float dt = a.delta[i] + (a.delta_bias.empty() ? 0.0f : a.delta_bias[di]);
    if (a.delta_softplus) dt = softplus(dt);
    const float u = a.u[i];
    const float* A = &a.A[di * n];
    float* h = &r.state[(bi * d + di) * n];
    float y = 0;
    for (std::size_t k = 0; k < n; ++k) {
      h[k] = std::exp(dt * A[k]) * h[k] + dt * B[k * stride] * u;
      y += h[k] * C[k * stride];
    }
    float out = y + (a.D.empty() ? 0.0f : a.D[di] * u);
    if (!a.z.empty()) out *= silu(a.z[i]);
    r.out[i] = out;
  };
  // Walk each layout in memory order (channels of one step are independent).
  for (std::size_t bi = 0; bi < b; ++bi)
    if (a.token_major) {
      for (std::size_t t = 0; t < l; ++t)
        for (std::size_t di = 0; di < d; ++di) step(bi, di, t);
    } else {
      for (std::size_t di = 0; di < d; ++di)
        for (std::size_t t = 0; t < l; ++t) step(bi, di, t);
    }
  return r;
}

ScanResult selective_state_update(const StateUpdateArgs& a) {
  check_shapes(a);
  const std::size_t b = sz(a.batch), d = sz(a.dim), n = sz(a.state), g = sz(a.groups);
  ScanResult r{std::vector<float>(b * d), std::vector<float>(a.state_in.begin(), a.state_in.end())};
  for (std::size_t bi = 0; bi < b; ++bi)
    for (std::size_t di = 0; di < d; ++di) {
      const std::size_t i = bi * d + di;
      const std::size_t group = (bi * g + di / (d / g)) * n;
      float dt = a.dt[i] + (a.dt_bias.empty() ? 0.0f : a.dt_bias[di]);
      if (a.dt_softplus) dt = softplus(dt);
      float* h = &r.state[i * n];
      float y = 0;
      for (std::size_t k = 0; k < n; ++k) {
        h[k] = h[k] * std::exp(dt * a.A[di * n + k]) + dt * a.B[group + k] * a.x[i];
        y += h[k] * a.C[group + k];
      }
      float out = y + (a.D.empty() ? 0.0f : a.D[di] * a.x[i]);
      if (!a.z.empty()) out *= silu(a.z[i]);
      r.out[i] = out;
    }
  return r;
}

ScanResult selective_state_update_multihead(const MultiHeadStateUpdateArgs& a) {
  check_shapes(a);
  const std::size_t b = sz(a.batch), hs = sz(a.heads), p = sz(a.head_dim), n = sz(a.state), g = sz(a.groups);
  ScanResult r{std::vector<float>(b * hs * p), std::vector<float>(a.state_in.begin(), a.state_in.end())};
  for (std::size_t bi = 0; bi < b; ++bi)
    for (std::size_t hi = 0; hi < hs; ++hi) {
      float dt = a.dt[bi * hs + hi] + (a.dt_bias.empty() ? 0.0f : a.dt_bias[hi]);
      if (a.dt_softplus) dt = softplus(dt);
      const float decay = std::exp(dt * a.A[hi]);
      const std::size_t group = (bi * g + hi / (hs / g)) * n;
      for (std::size_t pi = 0; pi < p; ++pi) {
        const std::size_t i = (bi * hs + hi) * p + pi;
        float* h = &r.state[i * n];
        float y = 0;
        for (std::size_t k = 0; k < n; ++k) {
          h[k] = h[k] * decay + dt * a.x[i] * a.B[group + k];
          y += h[k] * a.C[group + k];
        }
        float out = y + (a.D.empty() ? 0.0f : a.D[hi] * a.x[i]);
        if (!a.z.empty()) out *= silu(a.z[i]);
        r.out[i] = out;
      }
    }
  return r;
}

namespace {

// Convolves one channel's inputs preceded by its history; window[j] for j < history is
// the past, then the new inputs. Output t uses window[history - (width-1) + t ...].
void convolve(std::span<const float> window, std::size_t history, std::size_t steps, std::span<const float> weight,
              float bias, Activation activation, float* out) {
  const std::size_t width = weight.size();
  for (std::size_t t = 0; t < steps; ++t) {
    float acc = bias;
    const std::size_t start = history + 1 + t - width;
    for (std::size_t k = 0; k < width; ++k) acc += weight[k] * window[start + k];
    out[t] = activation == Activation::silu ? silu(acc) : acc;
  }
}

}  // namespace

ConvResult causal_conv1d(int batch, int dim, int length, int width, std::span<const float> x,
                         std::span<const float> weight, std::span<const float> bias,
                         std::span<const float> initial_states, Activation activation) {
  const std::size_t b = sz(batch), d = sz(dim), l = sz(length), w = sz(width), s = w - 1;
  if (width < 1) throw std::invalid_argument("width: must be at least 1");
  expect_size(x, b * d * l, "x");
  expect_size(weight, d * w, "weight");
  expect_size(bias, d, "bias", true);
  expect_size(initial_states, b * d * s, "initial_states", true);
  ConvResult r{std::vector<float>(b * d * l), std::vector<float>(b * d * s)};
  std::vector<float> window(s + l);
  for (std::size_t bi = 0; bi < b; ++bi)
    for (std::size_t di = 0; di < d; ++di) {
      const std::size_t row = bi * d + di;
      for (std::size_t j = 0; j < s; ++j) window[j] = initial_states.empty() ? 0.0f : initial_states[row * s + j];
      std::copy_n(&x[row * l], l, &window[s]);
      convolve(window, s, l, weight.subspan(di * w, w), bias.empty() ? 0.0f : bias[di], activation, &r.out[row * l]);
      std::copy_n(&window[l], s, &r.conv_state[row * s]);
    }
  return r;
}

ConvResult causal_conv1d_update(int batch, int dim, int steps, int width, int state_len, std::span<const float> x,
                                std::span<const float> conv_state, std::span<const float> weight,
                                std::span<const float> bias, Activation activation) {
  const std::size_t b = sz(batch), d = sz(dim), t = sz(steps), w = sz(width), s = sz(state_len);
  if (width < 1 || state_len < width - 1)
    throw std::invalid_argument(
        fmt::format("conv_state: length {} is shorter than width-1 = {}", state_len, width - 1));
  expect_size(x, b * d * t, "x");
  expect_size(conv_state, b * d * s, "conv_state");
  expect_size(weight, d * w, "weight");
  expect_size(bias, d, "bias", true);
  ConvResult r{std::vector<float>(b * d * t), std::vector<float>(b * d * s)};
  std::vector<float> window(s + t);
  for (std::size_t bi = 0; bi < b; ++bi)
    for (std::size_t di = 0; di < d; ++di) {
      const std::size_t row = bi * d + di;
      std::copy_n(&conv_state[row * s], s, window.begin());
      std::copy_n(&x[row * t], t, &window[s]);
      convolve(window, s, t, weight.subspan(di * w, w), bias.empty() ? 0.0f : bias[di], activation, &r.out[row * t]);
      std::copy_n(&window[t], s, &r.conv_state[row * s]);
    }
  return r;
}

namespace {

// v / sqrt(mean(v^2) + eps) for one group, in place.
void normalise(float* v, std::size_t n, float eps) {
  float sum_sq = 0;
  for (std::size_t i = 0; i < n; ++i) sum_sq += v[i] * v[i];
  const float scale = 1.0f / std::sqrt(sum_sq / static_cast<float>(n) + eps);
  for (std::size_t i = 0; i < n; ++i) v[i] *= scale;
}

}  // namespace

std::vector<float> rmsnorm(int rows, int n, std::span<const float> x, std::span<const float> weight, float eps) {
  return gated_rmsnorm(rows, n, n, x, {}, weight, eps, false);
}

std::vector<float> gated_rmsnorm(int rows, int n, int group_size, std::span<const float> x, std::span<const float> z,
                                 std::span<const float> weight, float eps, bool norm_before_gate) {
  const std::size_t r = sz(rows), c = sz(n), gs = sz(group_size);
  if (group_size <= 0 || n % group_size != 0)
    throw std::invalid_argument(fmt::format("group_size: {} channels do not split into groups of {}", n, group_size));
  expect_size(x, r * c, "x");
  expect_size(z, r * c, "z", true);
  expect_size(weight, c, "weight");
  std::vector<float> out(x.begin(), x.end());
  for (std::size_t i = 0; i < r * c; ++i)
    if (!z.empty() && !norm_before_gate) out[i] *= silu(z[i]);
  for (std::size_t g = 0; g < r * c; g += gs) normalise(&out[g], gs, eps);
  for (std::size_t i = 0; i < r * c; ++i) {
    out[i] *= weight[i % c];
    if (!z.empty() && norm_before_gate) out[i] *= silu(z[i]);
  }
  return out;
}

namespace {

float dot(const float* a, const float* b, std::size_t n) {
  float acc = 0;
  for (std::size_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

}  // namespace

ScanResult ssd_start(const SsdArgs& a) {
  ScanResult r{std::vector<float>(a.x.size()), std::vector<float>(sz(a.batch) * a.heads * a.head_dim * a.state)};
  if (!a.initial_state.empty()) std::copy(a.initial_state.begin(), a.initial_state.end(), r.state.begin());
  return r;
}

ScanResult ssd_sequential(const SsdArgs& a) {
  check_shapes(a);
  ScanResult r = ssd_start(a);
  const std::size_t p = sz(a.head_dim), n = sz(a.state);
  for (std::size_t bi = 0; bi < sz(a.batch); ++bi)
    for (std::size_t hi = 0; hi < sz(a.heads); ++hi) {
      const SsdIndex at{a, bi, hi};
      float* s = &r.state[at.state()];
      for (std::size_t t = 0; t < sz(a.length); ++t) {
        const float dt = a.dt[at.dt(t)];
        const float decay = std::exp(dt * a.A[hi]);
        const float* B = &a.B[at.bc(t)];
        const float* C = &a.C[at.bc(t)];
        for (std::size_t pi = 0; pi < p; ++pi) {
          const float x = a.x[at.x(t) + pi];
          float* row = s + pi * n;
          for (std::size_t k = 0; k < n; ++k) row[k] = row[k] * decay + x * dt * B[k];
          r.out[at.x(t) + pi] = dot(row, C, n) + (a.D.empty() ? 0.0f : a.D[hi] * x);
        }
      }
    }
  return r;
}

ScanResult ssd_chunked(const SsdArgs& a, int chunk_size) {
  check_shapes(a);
  if (chunk_size < 1) throw std::invalid_argument("chunk_size: must be at least 1");
  ScanResult r = ssd_start(a);
  const std::size_t l = sz(a.length), p = sz(a.head_dim), n = sz(a.state), q = sz(chunk_size);
  const std::size_t heads_per_group = sz(a.heads) / sz(a.groups);
  // cb[t][j] = C_t · B_j for the steps j <= t of t's chunk: shared by a group's heads.
  // decay[i][j] = exp(sum of log decays over steps (j, i]) inside a chunk, summed directly
  // rather than as a cumsum difference to keep float32 accuracy.
  std::vector<float> cb(l * q), decay(q * q), y(p), chunk_state(p * n);
  for (std::size_t bi = 0; bi < sz(a.batch); ++bi)
    for (std::size_t hi = 0; hi < sz(a.heads); ++hi) {
      const SsdIndex at{a, bi, hi};
      if (hi % heads_per_group == 0)
        for (std::size_t t = 0; t < l; ++t)
          for (std::size_t j = t - t % q; j <= t; ++j) cb[t * q + j % q] = dot(&a.C[at.bc(t)], &a.B[at.bc(j)], n);
      float* s = &r.state[at.state()];
      for (std::size_t c0 = 0; c0 < l; c0 += q) {
        const std::size_t len = std::min(q, l - c0);
        for (std::size_t i = 0; i < len; ++i) {
          float segment = 0;
          for (std::size_t j = i + 1; j-- > 0;) {
            decay[i * q + j] = std::exp(segment);
            segment += a.dt[at.dt(c0 + j)] * a.A[hi];
          }
        }
        float into_chunk = 0;  // log decay from the chunk's start to step i, inclusive
        for (std::size_t i = 0; i < len; ++i) {
          into_chunk += a.dt[at.dt(c0 + i)] * a.A[hi];
          const float* C = &a.C[at.bc(c0 + i)];
          // Off-diagonal: the state entering the chunk, decayed to step i.
          const float entering = std::exp(into_chunk);
          for (std::size_t pi = 0; pi < p; ++pi) y[pi] = entering * dot(s + pi * n, C, n);
          // Diagonal block: (C_i · B_j) · decay(j, i) · dt_j · x_j over the chunk's steps j <= i.
          for (std::size_t j = 0; j <= i; ++j) {
            const float w = cb[(c0 + i) * q + j] * decay[i * q + j] * a.dt[at.dt(c0 + j)];
            const float* x = &a.x[at.x(c0 + j)];
            for (std::size_t pi = 0; pi < p; ++pi) y[pi] += w * x[pi];
          }
          for (std::size_t pi = 0; pi < p; ++pi)
            r.out[at.x(c0 + i) + pi] = y[pi] + (a.D.empty() ? 0.0f : a.D[hi] * a.x[at.x(c0 + i) + pi]);
        }
        // The chunk's own state, then the recurrence across chunks.
        std::fill(chunk_state.begin(), chunk_state.end(), 0.0f);
        for (std::size_t j = 0; j < len; ++j) {
          const float w = decay[(len - 1) * q + j] * a.dt[at.dt(c0 + j)];
          const float* B = &a.B[at.bc(c0 + j)];
          for (std::size_t pi = 0; pi < p; ++pi) {
            const float wx = w * a.x[at.x(c0 + j) + pi];
            for (std::size_t k = 0; k < n; ++k) chunk_state[pi * n + k] += wx * B[k];
          }
        }
        const float chunk_decay = std::exp(into_chunk);
        for (std::size_t i = 0; i < p * n; ++i) s[i] = chunk_decay * s[i] + chunk_state[i];
      }
    }
  return r;
}

std::vector<float> linear(int rows, int in, int out, std::span<const float> x, std::span<const float> weight,
                          std::span<const float> bias) {
  expect_size(x, sz(rows) * sz(in), "x");
  expect_size(weight, sz(out) * sz(in), "weight");
  expect_size(bias, sz(out), "bias", true);
  std::vector<float> y(sz(rows) * sz(out));
  if (y.empty()) return y;
  // OpenBLAS's sgemm: float32 products accumulated in float32 in blocks, as torch's CPU
  // matmul does; one thread, so the result does not depend on the machine's load.
  static const bool single_threaded = (openblas_set_num_threads(1), true);
  (void)single_threaded;
  for (std::size_t r = 0; !bias.empty() && r < sz(rows); ++r) std::copy(bias.begin(), bias.end(), &y[r * out]);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, x.data(), in, weight.data(), in,
              bias.empty() ? 0.0f : 1.0f, y.data(), out);
  return y;
}

void apply_rope(std::span<float> x, int tokens, int heads, int head_dim, int rotary_dim, float theta,
                std::span<const std::int64_t> positions) {
  if (rotary_dim % 2 != 0 || rotary_dim > head_dim)
    throw std::invalid_argument(
        fmt::format("rotary_dim: {} must be even and at most head_dim {}", rotary_dim, head_dim));
  if (x.size() != sz(tokens) * heads * head_dim || positions.size() != sz(tokens))
    throw std::invalid_argument("apply_rope: x must be [tokens, heads, head_dim] and positions [tokens]");
  const std::size_t half = sz(rotary_dim) / 2;
  std::vector<float> inv_freq(half);
  for (std::size_t i = 0; i < half; ++i)
    inv_freq[i] = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(rotary_dim));
  for (std::size_t t = 0; t < sz(tokens); ++t)
    for (std::size_t h = 0; h < sz(heads); ++h) {
      float* v = &x[(t * heads + h) * head_dim];
      for (std::size_t i = 0; i < half; ++i) {
        const float angle = static_cast<float>(positions[t]) * inv_freq[i];
        const float c = std::cos(angle), s = std::sin(angle);
        const float a = v[i], b = v[i + half];
        v[i] = a * c - b * s;
        v[i + half] = b * c + a * s;
      }
    }
}

void KvCache::append(int tokens, std::span<const float> k, std::span<const float> v) {
  const std::size_t per_token = sz(kv_heads_) * head_dim_;
  expect_size(k, sz(tokens) * per_token, "k");
  expect_size(v, sz(tokens) * per_token, "v");
  reserve(length_ + tokens);
  for (std::size_t t = 0; t < sz(tokens); ++t)
    for (std::size_t h = 0; h < sz(kv_heads_); ++h) {
      const std::size_t from = t * per_token + h * head_dim_;
      const std::size_t to = (h * capacity_ + length_ + t) * head_dim_;
      std::copy_n(&k[from], head_dim_, &k_[to]);
      std::copy_n(&v[from], head_dim_, &v_[to]);
    }
  length_ += tokens;
}

void KvCache::reserve(int length) {
  if (length <= capacity_) return;
  const int capacity = std::max(length, 2 * capacity_);
  std::vector<float> k(sz(kv_heads_) * capacity * head_dim_), v(k.size());
  for (std::size_t h = 0; h < sz(kv_heads_); ++h) {
    std::copy_n(k_.data() + h * capacity_ * head_dim_, sz(length_) * head_dim_, k.data() + h * capacity * head_dim_);
    std::copy_n(v_.data() + h * capacity_ * head_dim_, sz(length_) * head_dim_, v.data() + h * capacity * head_dim_);
  }
  k_ = std::move(k);
  v_ = std::move(v);
  capacity_ = capacity;
}

std::vector<float> causal_attention(std::span<const float> q, int tokens, int heads, const KvCache& cache,
                                    float scale) {
  const std::size_t d = sz(cache.head_dim());
  expect_size(q, sz(tokens) * heads * d, "q");
  if (tokens > cache.length()) throw std::invalid_argument("causal_attention: more queries than cached positions");
  expect_groups(heads, cache.kv_heads(), "query heads");
  const int group = heads / cache.kv_heads();
  std::vector<float> out(q.size()), scores(sz(cache.length()));
  for (std::size_t t = 0; t < sz(tokens); ++t) {
    const int position = cache.length() - tokens + static_cast<int>(t);
    for (std::size_t h = 0; h < sz(heads); ++h) {
      const int kv = static_cast<int>(h) / group;
      const float* query = &q[(t * heads + h) * d];
      float max_score = -INFINITY;
      for (int j = 0; j <= position; ++j)
        max_score = std::max(max_score, scores[j] = dot(query, cache.key(kv, j), d) * scale);
      float sum = 0;
      for (int j = 0; j <= position; ++j) sum += scores[j] = std::exp(scores[j] - max_score);
      float* o = &out[(t * heads + h) * d];
      for (int j = 0; j <= position; ++j) {
        const float p = scores[j] / sum;
        const float* value = cache.value(kv, j);
        for (std::size_t i = 0; i < d; ++i) o[i] += p * value[i];
      }
    }
  }
  return out;
}

std::vector<Route> route_topk(int tokens, int experts, int k, std::span<const float> logits, Routing routing,
                              bool normalize, std::span<const float> correction_bias, float scale) {
  expect_size(logits, sz(tokens) * experts, "router logits");
  expect_size(correction_bias, sz(experts), "correction_bias", true);
  if (k < 1 || k > experts) throw std::invalid_argument(fmt::format("top-k: k = {} of {} experts", k, experts));
  std::vector<Route> routes(sz(tokens));
  std::vector<float> score(sz(experts)), choice(sz(experts));
  std::vector<int> order(sz(experts));
  for (std::size_t t = 0; t < sz(tokens); ++t) {
    const float* row = &logits[t * experts];
    const float max_logit = *std::max_element(row, row + experts);
    float sum = 0;
    for (std::size_t e = 0; e < sz(experts); ++e) {
      switch (routing) {
        case Routing::softmax_topk:
          sum += score[e] = std::exp(row[e] - max_logit);
          break;
        case Routing::topk_softmax:
          score[e] = row[e];
          break;
        case Routing::sigmoid_topk:
          score[e] = 1.0f / (1.0f + std::exp(-row[e]));
          break;
      }
      choice[e] = score[e] + (correction_bias.empty() ? 0.0f : correction_bias[e]);
    }
    if (routing == Routing::softmax_topk)
      for (auto& p : score) p /= sum;
    for (int e = 0; e < experts; ++e) order[e] = e;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return choice[a] > choice[b]; });
    Route& route = routes[t];
    route.experts.assign(order.begin(), order.begin() + k);
    for (int e : route.experts) route.weights.push_back(score[e]);
    if (routing == Routing::topk_softmax) {
      const float top = route.weights.front();
      float total = 0;
      for (auto& w : route.weights) total += w = std::exp(w - top);
      for (auto& w : route.weights) w /= total;
    } else if (normalize) {
      float total = 0;
      for (float w : route.weights) total += w;
      for (auto& w : route.weights) w /= total;
    }
    for (auto& w : route.weights) w *= scale;
  }
  return routes;
}

}  // namespace ssmsoc::golden
