#include "kernels.hpp"

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

float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }
float silu(float x) { return x / (1.0f + std::exp(-x)); }

ScanResult selective_scan(const SelectiveScanArgs& a) {
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
  ScanResult r{std::vector<float>(b * d * l), std::vector<float>(b * d * n)};
  const std::size_t channels_per_group = d / g;
  for (std::size_t bi = 0; bi < b; ++bi)
    for (std::size_t di = 0; di < d; ++di) {
      const std::size_t row = (bi * d + di) * l;
      const std::size_t group = (bi * g + di / channels_per_group) * n * l;
      float* h = &r.state[(bi * d + di) * n];
      for (std::size_t t = 0; t < l; ++t) {
        float dt = a.delta[row + t] + (a.delta_bias.empty() ? 0.0f : a.delta_bias[di]);
        if (a.delta_softplus) dt = softplus(dt);
        const float u = a.u[row + t];
        float y = 0;
        for (std::size_t k = 0; k < n; ++k) {
          h[k] = std::exp(dt * a.A[di * n + k]) * h[k] + dt * a.B[group + k * l + t] * u;
          y += h[k] * a.C[group + k * l + t];
        }
        float out = y + (a.D.empty() ? 0.0f : a.D[di] * u);
        if (!a.z.empty()) out *= silu(a.z[row + t]);
        r.out[row + t] = out;
      }
    }
  return r;
}

ScanResult selective_state_update(const StateUpdateArgs& a) {
  const std::size_t b = sz(a.batch), d = sz(a.dim), n = sz(a.state), g = sz(a.groups);
  expect_groups(a.dim, a.groups, "channels");
  expect_size(a.state_in, b * d * n, "state");
  expect_size(a.x, b * d, "x");
  expect_size(a.dt, b * d, "dt");
  expect_size(a.A, d * n, "A");
  expect_size(a.B, b * g * n, "B");
  expect_size(a.C, b * g * n, "C");
  expect_size(a.D, d, "D", true);
  expect_size(a.z, b * d, "z", true);
  expect_size(a.dt_bias, d, "dt_bias", true);
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
  const std::size_t b = sz(a.batch), hs = sz(a.heads), p = sz(a.head_dim), n = sz(a.state), g = sz(a.groups);
  expect_groups(a.heads, a.groups, "heads");
  expect_size(a.state_in, b * hs * p * n, "state");
  expect_size(a.x, b * hs * p, "x");
  expect_size(a.dt, b * hs, "dt");
  expect_size(a.A, hs, "A");
  expect_size(a.B, b * g * n, "B");
  expect_size(a.C, b * g * n, "C");
  expect_size(a.D, hs, "D", true);
  expect_size(a.z, b * hs * p, "z", true);
  expect_size(a.dt_bias, hs, "dt_bias", true);
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

}  // namespace ssmsoc::golden
