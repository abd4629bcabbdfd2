#include "arch/golden/scan_algorithms.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <filesystem>
#include <stdexcept>

#include "arch/golden/fixed_scan.hpp"
#include "arch/golden/kernel_runner.hpp"
#include "arch/golden/safetensors.hpp"
#include "arch/golden/seeded_random.hpp"
#include "arch/numerics/numerics.hpp"
#include "arch/spec/engine_cycles.hpp"

namespace ssmsoc::scanalgo {

namespace {

std::size_t sz(int v) { return static_cast<std::size_t>(v); }

// a*b + c on the vector unit: one rounding when it fuses, else a rounded product and a
// rounded sum.
float mul_add(float a, float b, float c, bool fused) { return fused ? std::fma(a, b, c) : a * b + c; }

std::size_t pow2_at_least(std::size_t n) { return std::bit_ceil(std::max<std::size_t>(n, 1)); }

// An element of the linear recurrence: h -> a h + b.
struct Affine {
  float a = 1, b = 0;
};
// (a1, b1)∘(a2, b2) = (a1 a2, a2 b1 + b2): first p, then q.
Affine combine(Affine p, Affine q, bool fused) { return {p.a * q.a, mul_add(q.a, p.b, q.b, fused)}; }

// One thread block's Blelloch scan over x (size a power of two, padded with the identity):
// x becomes the exclusive prefixes; returns the total.
Affine blelloch_block(std::vector<Affine>& x, bool fused) {
  const std::size_t n = x.size();
  for (std::size_t stride = 1; stride < n; stride *= 2)  // up-sweep
    for (std::size_t right = 2 * stride - 1; right < n; right += 2 * stride)
      x[right] = combine(x[right - stride], x[right], fused);
  const Affine total = x[n - 1];
  x[n - 1] = Affine{};
  for (std::size_t stride = n / 2; stride >= 1; stride /= 2)  // down-sweep
    for (std::size_t right = 2 * stride - 1; right < n; right += 2 * stride) {
      const Affine left = x[right - stride];
      x[right - stride] = x[right];
      x[right] = combine(x[right], left, fused);
    }
  return total;
}

// Inclusive prefixes of x as the GPU computes them: chunks of `block` elements scanned by
// one block each, the chunk totals scanned recursively, then each chunk's carry applied.
std::vector<Affine> gpu_inclusive_scan(const std::vector<Affine>& x, std::size_t block, bool fused) {
  const std::size_t chunks = (x.size() + block - 1) / block;
  std::vector<Affine> out(x.size()), totals(chunks), lanes(pow2_at_least(std::min(block, x.size())));
  for (std::size_t c = 0; c < chunks; ++c) {
    const std::size_t begin = c * block, len = std::min(block, x.size() - begin);
    std::fill(lanes.begin(), lanes.end(), Affine{});
    std::copy_n(x.begin() + static_cast<std::ptrdiff_t>(begin), len, lanes.begin());
    totals[c] = blelloch_block(lanes, fused);
    for (std::size_t i = 0; i < len; ++i) out[begin + i] = combine(lanes[i], x[begin + i], fused);
  }
  if (chunks <= 1) return out;
  const std::vector<Affine> carries = gpu_inclusive_scan(totals, block, fused);
  for (std::size_t c = 1; c < chunks; ++c)
    for (std::size_t i = c * block; i < std::min(x.size(), (c + 1) * block); ++i)
      out[i] = combine(carries[c - 1], out[i], fused);
  return out;
}

// The vector unit's elementwise front end of Mamba-1 for one (batch, channel): dt per step.
float mamba1_dt(const golden::SelectiveScanArgs& a, std::size_t row, std::size_t di, std::size_t t) {
  float dt = a.delta[row + t] + (a.delta_bias.empty() ? 0.0f : a.delta_bias[di]);
  return a.delta_softplus ? golden::softplus(dt) : dt;
}

// out = y + D u, then the SiLU gate, in fp32 on the vector unit.
float mamba1_post(const golden::SelectiveScanArgs& a, float y, std::size_t row, std::size_t di, std::size_t t,
                  bool fused) {
  const float u = a.u[row + t];
  float out = a.D.empty() ? y : mul_add(a.D[di], u, y, fused);
  if (!a.z.empty()) out *= golden::silu(a.z[row + t]);
  return out;
}

void lane_tree_dot_into(const float* x, const float* y, std::size_t n, int lanes, bool fused, std::vector<float>& acc,
                        float& result) {
  acc.assign(pow2_at_least(sz(lanes)), 0.0f);
  const std::size_t w = sz(lanes);
  for (std::size_t k = 0; k < n; ++k) acc[k % w] = mul_add(x[k], y[k], acc[k % w], fused);
  for (std::size_t width = acc.size() / 2; width >= 1; width /= 2)
    for (std::size_t i = 0; i < width; ++i) acc[i] += acc[i + width];
  result = acc[0];
}

// Indexing of the SSD layouts (kernels.hpp).

void check_silicon(const Silicon& s) {
  if (s.lanes < 1) throw std::invalid_argument("silicon: lanes must be at least 1");
  if (s.ssd_chunk < 1) throw std::invalid_argument("silicon: ssd_chunk must be at least 1");
  round_matrix_input(0.0f, s.matrix_input);  // rejects a precision that is not a matrix input
}

}  // namespace

std::string_view algorithm_name(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::native_scan_unit:
      return "native-scan-unit";
    case Algorithm::blelloch_prefix_scan:
      return "blelloch-prefix-scan";
    case Algorithm::chunked_ssd_matrix:
      return "chunked-ssd-matrix";
    case Algorithm::sequential_vector_scan:
      return "sequential-vector-scan";
  }
  return "?";
}

float round_matrix_input(float x, Precision precision) {
  switch (precision) {
    case Precision::fp32:
      return x;
    case Precision::bf16:
      return numerics::round_to(x, NumberType::bf16);
    case Precision::fp16:
      return numerics::round_to(x, NumberType::fp16);
    case Precision::tf32: {
      // 10 fraction bits: drop 13 of fp32's 23, to nearest even; the exponent range is fp32's.
      if (!std::isfinite(x)) return x;
      const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
      const std::uint32_t rounded = (bits + 0x0FFFu + ((bits >> 13) & 1u)) & ~0x1FFFu;
      return std::bit_cast<float>(rounded);
    }
    default:
      break;
  }
  throw std::invalid_argument(
      fmt::format("round_matrix_input: {} is not a floating matrix input precision", name_of(precision)));
}

Silicon silicon_of(const Profile& profile) {
  Silicon s;
  s.family = profile.family;
  s.lanes = profile.tile.vector.lanes;
  const VectorUnit& v = profile.tile.vector;
  s.fused_fma = v[VectorFunction::fma].cycles_per_element <
                v[VectorFunction::mul].cycles_per_element + v[VectorFunction::add].cycles_per_element;
  s.matrix_input = matrix_float_precision(profile.tile.matrix).value_or(Precision::fp32);
  s.ssd_chunk = kDefaultSsdChunk;
  return s;
}

namespace {

std::string vector_precision(const Silicon& s) {
  return fmt::format("fp32 vector, {} lanes, {}", s.lanes, s.fused_fma ? "fused FMA" : "separate mul and add");
}

std::string matrix_precision(const Silicon& s) {
  return fmt::format("{} matrix inputs, fp32 accumulation; fp32 vector, {}", name_of(s.matrix_input),
                     s.fused_fma ? "fused FMA" : "separate mul and add");
}

std::string describe(Algorithm algorithm, const Silicon& s) {
  switch (algorithm) {
    case Algorithm::blelloch_prefix_scan:
      return fmt::format("fp32 SIMT lanes, blocks of {} threads, {}", s.lanes,
                         s.fused_fma ? "fused FMA" : "separate mul and add");
    case Algorithm::chunked_ssd_matrix:
      return matrix_precision(s);
    case Algorithm::sequential_vector_scan:
      return vector_precision(s);
    case Algorithm::native_scan_unit:
      break;
  }
  return "the scan unit's data_format and state_format";
}

}  // namespace

ScanPlan plan_for(const Profile& profile) {
  ScanPlan plan;
  plan.silicon = silicon_of(profile);
  switch (profile.family) {
    case Family::scan_accelerator:
      plan.mamba1 = plan.mamba2 = Algorithm::native_scan_unit;
      break;
    case Family::gpu:
      plan.mamba1 = Algorithm::blelloch_prefix_scan;
      plan.mamba2 = Algorithm::chunked_ssd_matrix;
      break;
    case Family::npu:
      plan.mamba1 = Algorithm::sequential_vector_scan;
      plan.mamba2 = Algorithm::chunked_ssd_matrix;
      break;
    case Family::cpu:
      plan.mamba1 = plan.mamba2 = Algorithm::sequential_vector_scan;
      break;
  }
  plan.mamba1_precision = describe(plan.mamba1, plan.silicon);
  plan.mamba2_precision = describe(plan.mamba2, plan.silicon);
  return plan;
}

golden::ScanResult run_software_scan(const Profile& profile, const golden::SelectiveScanArgs& args) {
  const ScanPlan plan = plan_for(profile);
  switch (plan.mamba1) {
    case Algorithm::blelloch_prefix_scan:
      return blelloch_selective_scan(args, plan.silicon);
    case Algorithm::sequential_vector_scan:
      return sequential_selective_scan(args, plan.silicon);
    case Algorithm::native_scan_unit:
      if (!profile.tile.scan.supports(ScanMode::mamba1))
        throw std::invalid_argument(profile.name + ": the scan unit does not run mamba1");
      return fixed::selective_scan(args, profile.tile.scan).result;
    case Algorithm::chunked_ssd_matrix:
      break;
  }
  throw std::logic_error("run_software_scan: no Mamba-1 algorithm");
}

golden::ScanResult run_software_scan(const Profile& profile, const golden::SsdArgs& args) {
  const ScanPlan plan = plan_for(profile);
  switch (plan.mamba2) {
    case Algorithm::chunked_ssd_matrix:
      return chunked_ssd(args, plan.silicon);
    case Algorithm::sequential_vector_scan:
      return sequential_ssd(args, plan.silicon);
    case Algorithm::native_scan_unit:
      if (!profile.tile.scan.supports(ScanMode::mamba2))
        throw std::invalid_argument(profile.name + ": the scan unit does not run mamba2");
      return fixed::ssd_sequential(args, profile.tile.scan).result;
    case Algorithm::blelloch_prefix_scan:
      break;
  }
  throw std::logic_error("run_software_scan: no Mamba-2 algorithm");
}

// ---------------------------------------------------------------------------------------

std::vector<float> blelloch_linear_scan(std::span<const float> a, std::span<const float> b, int block, bool fused_fma) {
  if (a.size() != b.size()) throw std::invalid_argument("blelloch_linear_scan: a and b differ in length");
  if (block < 2) throw std::invalid_argument("blelloch_linear_scan: block must be at least 2");
  std::vector<Affine> x(a.size());
  for (std::size_t t = 0; t < a.size(); ++t) x[t] = {a[t], b[t]};
  const std::vector<Affine> inclusive = x.empty() ? x : gpu_inclusive_scan(x, sz(block), fused_fma);
  // h_t = (prefix ∘ ...)(h_{-1} = 0) = the prefix's b.
  std::vector<float> h(a.size());
  for (std::size_t t = 0; t < h.size(); ++t) h[t] = inclusive[t].b;
  return h;
}

std::vector<float> sequential_linear_scan(std::span<const float> a, std::span<const float> b, bool fused_fma) {
  if (a.size() != b.size()) throw std::invalid_argument("sequential_linear_scan: a and b differ in length");
  std::vector<float> h(a.size());
  float state = 0;
  for (std::size_t t = 0; t < a.size(); ++t) h[t] = state = mul_add(a[t], state, b[t], fused_fma);
  return h;
}

float lane_tree_dot(const float* x, const float* y, std::size_t n, int lanes, bool fused_fma) {
  if (lanes < 1) throw std::invalid_argument("lane_tree_dot: lanes must be at least 1");
  std::vector<float> acc;
  float result = 0;
  lane_tree_dot_into(x, y, n, lanes, fused_fma, acc, result);
  return result;
}

golden::ScanResult blelloch_selective_scan(const golden::SelectiveScanArgs& a, const Silicon& silicon) {
  golden::check_shapes(a);
  check_silicon(silicon);
  const std::size_t b = sz(a.batch), d = sz(a.dim), l = sz(a.length), n = sz(a.state), g = sz(a.groups);
  const bool fused = silicon.fused_fma;
  golden::ScanResult r{std::vector<float>(b * d * l), std::vector<float>(b * d * n)};
  if (l == 0) return r;
  std::vector<float> dt(l), as(l), bs(l), h(n * l);  // h: [state, length] of one channel
  for (std::size_t bi = 0; bi < b; ++bi)
    for (std::size_t di = 0; di < d; ++di) {
      const std::size_t row = (bi * d + di) * l, group = (bi * g + di / (d / g)) * n * l;
      for (std::size_t t = 0; t < l; ++t) dt[t] = mamba1_dt(a, row, di, t);
      for (std::size_t k = 0; k < n; ++k) {
        for (std::size_t t = 0; t < l; ++t) {
          as[t] = std::exp(dt[t] * a.A[di * n + k]);
          bs[t] = dt[t] * a.B[group + k * l + t] * a.u[row + t];
        }
        const std::vector<float> hk = blelloch_linear_scan(as, bs, std::max(2, silicon.lanes), fused);
        std::copy(hk.begin(), hk.end(), h.begin() + static_cast<std::ptrdiff_t>(k * l));
        r.state[(bi * d + di) * n + k] = hk[l - 1];
      }
      for (std::size_t t = 0; t < l; ++t) {
        float y = 0;  // each thread loops over the state index in order
        for (std::size_t k = 0; k < n; ++k) y = mul_add(h[k * l + t], a.C[group + k * l + t], y, fused);
        r.out[row + t] = mamba1_post(a, y, row, di, t, fused);
      }
    }
  return r;
}

golden::ScanResult sequential_selective_scan(const golden::SelectiveScanArgs& a, const Silicon& silicon) {
  golden::check_shapes(a);
  check_silicon(silicon);
  const std::size_t b = sz(a.batch), d = sz(a.dim), l = sz(a.length), n = sz(a.state), g = sz(a.groups);
  const bool fused = silicon.fused_fma;
  golden::ScanResult r{std::vector<float>(b * d * l), std::vector<float>(b * d * n)};
  std::vector<float> c(n), acc;
  for (std::size_t bi = 0; bi < b; ++bi)
    for (std::size_t t = 0; t < l; ++t)
      for (std::size_t di = 0; di < d; ++di) {  // the lanes sweep channels x state at each step
        const std::size_t row = (bi * d + di) * l, group = (bi * g + di / (d / g)) * n * l;
        const float dt = mamba1_dt(a, row, di, t), u = a.u[row + t];
        float* h = &r.state[(bi * d + di) * n];
        for (std::size_t k = 0; k < n; ++k) {
          h[k] = mul_add(std::exp(dt * a.A[di * n + k]), h[k], dt * a.B[group + k * l + t] * u, fused);
          c[k] = a.C[group + k * l + t];
        }
        float y = 0;
        lane_tree_dot_into(h, c.data(), n, silicon.lanes, fused, acc, y);
        r.out[row + t] = mamba1_post(a, y, row, di, t, fused);
      }
  return r;
}

golden::ScanResult sequential_ssd(const golden::SsdArgs& a, const Silicon& silicon) {
  golden::check_shapes(a);
  check_silicon(silicon);
  golden::ScanResult r = golden::ssd_start(a);
  const std::size_t p = sz(a.head_dim), n = sz(a.state);
  const bool fused = silicon.fused_fma;
  std::vector<float> acc;
  for (std::size_t bi = 0; bi < sz(a.batch); ++bi)
    for (std::size_t hi = 0; hi < sz(a.heads); ++hi) {
      const golden::SsdIndex at{a, bi, hi};
      float* s = &r.state[at.state()];
      for (std::size_t t = 0; t < sz(a.length); ++t) {
        const float dt = a.dt[at.dt(t)];
        const float decay = std::exp(dt * a.A[hi]);
        const float* B = &a.B[at.bc(t)];
        const float* C = &a.C[at.bc(t)];
        for (std::size_t pi = 0; pi < p; ++pi) {
          const float x = a.x[at.x(t) + pi], xdt = x * dt;
          float* row = s + pi * n;
          for (std::size_t k = 0; k < n; ++k) row[k] = mul_add(row[k], decay, xdt * B[k], fused);
          float y = 0;
          lane_tree_dot_into(row, C, n, silicon.lanes, fused, acc, y);
          r.out[at.x(t) + pi] = a.D.empty() ? y : mul_add(a.D[hi], x, y, fused);
        }
      }
    }
  return r;
}

golden::ScanResult chunked_ssd(const golden::SsdArgs& a, const Silicon& silicon) {
  golden::check_shapes(a);
  check_silicon(silicon);
  golden::ScanResult r = golden::ssd_start(a);
  const std::size_t p = sz(a.head_dim), n = sz(a.state), q = sz(silicon.ssd_chunk);
  const bool fused = silicon.fused_fma;
  const Precision in = silicon.matrix_input;
  const auto to_input = [in](float v) { return round_matrix_input(v, in); };
  // Per chunk: cumulative log decay; matrix inputs C, B, x (rounded), the masked weights
  // M, B scaled to the chunk's end (rounded), the rounded entering state.
  std::vector<float> cs(q), c_in(q * n), b_in(q * n), x_in(q * p), m(q * q), b_end(q * n), s_in(p * n);
  for (std::size_t bi = 0; bi < sz(a.batch); ++bi)
    for (std::size_t hi = 0; hi < sz(a.heads); ++hi) {
      const golden::SsdIndex at{a, bi, hi};
      float* s = &r.state[at.state()];
      for (std::size_t c0 = 0; c0 < sz(a.length); c0 += q) {
        const std::size_t len = std::min(q, sz(a.length) - c0);
        // Vector unit, fp32: the chunk's cumulative sum of dt*A, in step order.
        float running = 0;
        for (std::size_t i = 0; i < len; ++i) cs[i] = running += a.dt[at.dt(c0 + i)] * a.A[hi];
        for (std::size_t i = 0; i < len; ++i) {
          for (std::size_t k = 0; k < n; ++k) {
            c_in[i * n + k] = to_input(a.C[at.bc(c0 + i) + k]);
            b_in[i * n + k] = to_input(a.B[at.bc(c0 + i) + k]);
          }
          for (std::size_t pi = 0; pi < p; ++pi) x_in[i * p + pi] = to_input(a.x[at.x(c0 + i) + pi]);
        }
        // Matrix unit: C·Bᵀ (K = state), fp32 accumulation; the vector unit scales it by the
        // segment decay exp(cs_i - cs_j) and dt_j, masks j > i, and rounds it to a matrix input.
        for (std::size_t i = 0; i < len; ++i)
          for (std::size_t j = 0; j <= i; ++j) {
            float cb = 0;
            for (std::size_t k = 0; k < n; ++k) cb = std::fma(c_in[i * n + k], b_in[j * n + k], cb);
            m[i * q + j] = to_input(cb * std::exp(cs[i] - cs[j]) * a.dt[at.dt(c0 + j)]);
          }
        for (std::size_t i = 0; i < p * n; ++i) s_in[i] = to_input(s[i]);
        for (std::size_t i = 0; i < len; ++i) {
          const float into = std::exp(cs[i]);
          for (std::size_t pi = 0; pi < p; ++pi) {
            // Matrix unit: the entering state's output C·sᵀ (K = state), scaled by the decay
            // into step i; then M·x (K = steps j <= i) into the same fp32 accumulator.
            float off = 0;
            for (std::size_t k = 0; k < n; ++k) off = std::fma(c_in[i * n + k], s_in[pi * n + k], off);
            float y = off * into;
            for (std::size_t j = 0; j <= i; ++j) y = std::fma(m[i * q + j], x_in[j * p + pi], y);
            const std::size_t xi = at.x(c0 + i) + pi;
            r.out[xi] = a.D.empty() ? y : mul_add(a.D[hi], a.x[xi], y, fused);
          }
        }
        // The chunk's state: xᵀ·(B scaled by exp(cs_last - cs_j)·dt_j) on the matrix unit
        // (K = steps), then the recurrence across chunks on the vector unit in fp32.
        for (std::size_t j = 0; j < len; ++j) {
          const float w = std::exp(cs[len - 1] - cs[j]) * a.dt[at.dt(c0 + j)];
          for (std::size_t k = 0; k < n; ++k) b_end[j * n + k] = to_input(a.B[at.bc(c0 + j) + k] * w);
        }
        const float chunk_decay = std::exp(cs[len - 1]);
        for (std::size_t pi = 0; pi < p; ++pi)
          for (std::size_t k = 0; k < n; ++k) {
            float own = 0;
            for (std::size_t j = 0; j < len; ++j) own = std::fma(x_in[j * p + pi], b_end[j * n + k], own);
            s[pi * n + k] = mul_add(chunk_decay, s[pi * n + k], own, fused);
          }
      }
    }
  return r;
}

// ---------------------------------------------------------------------------------------
// Error check.

double error_bound(Algorithm algorithm, const Silicon& silicon) {
  switch (algorithm) {
    case Algorithm::blelloch_prefix_scan:
    case Algorithm::sequential_vector_scan:
      return kFp32ScanBound;
    case Algorithm::chunked_ssd_matrix:
      return 3.0 * unit_roundoff(silicon.matrix_input) + kChunkedSsdFloor;
    case Algorithm::native_scan_unit:
      break;
  }
  throw std::invalid_argument("error_bound: the native scan unit's bounds are in NUMERICS.md");
}

double unit_roundoff(Precision precision) {
  switch (precision) {
    case Precision::fp32:
      return std::ldexp(1.0, -24);
    case Precision::tf32:
    case Precision::fp16:
      return std::ldexp(1.0, -11);
    case Precision::bf16:
      return std::ldexp(1.0, -8);
    default:
      break;
  }
  throw std::invalid_argument(
      fmt::format("unit_roundoff: {} is not a floating matrix input precision", name_of(precision)));
}

std::string reference_kernel_directory() { return SSMSOC_SOURCE_KERNEL_CASE_DIR; }

namespace {

using Random = SeededRandom;

// A case's inputs, owned, with the arguments viewing them.
struct Mamba1Case {
  std::vector<std::vector<float>> storage;
  golden::SelectiveScanArgs args;
};
struct Mamba2Case {
  std::vector<std::vector<float>> storage;
  golden::SsdArgs args;
};

Mamba1Case random_mamba1(Random& random, int index) {
  static constexpr int kLengths[] = {37, 300, 128, 1, 257};
  Mamba1Case c;
  golden::SelectiveScanArgs& a = c.args;
  if (index == 0) {
    a.batch = 1, a.dim = 8, a.state = 16, a.length = 2048, a.groups = 1;
  } else {
    a.batch = 2, a.dim = 8, a.state = 16, a.length = kLengths[(index - 1) % 5], a.groups = index % 2 == 0 ? 2 : 1;
  }
  const std::size_t bdl = sz(a.batch * a.dim * a.length), bgnl = sz(a.batch * a.groups * a.state * a.length);
  c.storage = {random.normals(bdl),
               random.uniforms(bdl, -4.0, 1.0),
               random.decays(sz(a.dim * a.state)),
               random.normals(bgnl),
               random.normals(bgnl),
               random.uniforms(sz(a.dim), 0.5, 1.5),
               random.normals(bdl)};
  a.u = c.storage[0], a.delta = c.storage[1], a.A = c.storage[2], a.B = c.storage[3], a.C = c.storage[4];
  a.D = c.storage[5], a.z = c.storage[6];
  a.delta_softplus = true;
  return c;
}

Mamba2Case random_mamba2(Random& random, int index) {
  static constexpr int kLengths[] = {37, 300, 256, 1, 513};
  Mamba2Case c;
  golden::SsdArgs& a = c.args;
  if (index == 0) {
    a.batch = 1, a.length = 2048, a.heads = 2, a.head_dim = 16, a.groups = 1, a.state = 64;
  } else {
    a.batch = 2, a.length = kLengths[(index - 1) % 5], a.heads = 4, a.head_dim = 8, a.groups = 2, a.state = 32;
  }
  const std::size_t blhp = sz(a.batch * a.length * a.heads * a.head_dim),
                    blgn = sz(a.batch * a.length * a.groups * a.state);
  auto dt = random.uniforms(sz(a.batch * a.length * a.heads), -4.0, 1.0);
  for (auto& v : dt) v = golden::softplus(v);
  c.storage = {random.normals(blhp), std::move(dt),        random.decays(sz(a.heads)),
               random.normals(blgn), random.normals(blgn), random.uniforms(sz(a.heads), 0.5, 1.5)};
  if (index % 2 == 1) c.storage.push_back(random.normals(sz(a.batch * a.heads * a.head_dim * a.state)));
  a.x = c.storage[0], a.dt = c.storage[1], a.A = c.storage[2], a.B = c.storage[3], a.C = c.storage[4];
  a.D = c.storage[5];
  if (c.storage.size() > 6) a.initial_state = c.storage[6];
  return c;
}

std::vector<float> optional_tensor(const SafetensorsFile& file, const std::string& name) {
  const auto it = file.tensors.find(name);
  return it == file.tensors.end() ? std::vector<float>{} : it->second.to_f32();
}

int dim_of(const SafetensorsFile& file, const std::string& name, std::size_t axis) {
  return static_cast<int>(file.tensors.at(name).shape.at(axis));
}

bool flag(const SafetensorsFile& file, const std::string& source, const std::string& name) {
  const auto it = file.metadata.find("flags");
  if (it == file.metadata.end()) return false;
  const KernelFlags flags = parse_kernel_flags(it->second, source);
  const auto f = flags.find(name);
  return f != flags.end() && f->second == "1";
}

void reference_cases(const std::string& dir, std::vector<Mamba1Case>& mamba1, std::vector<Mamba2Case>& mamba2) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (dir.empty() || !fs::is_directory(dir, ec)) return;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".safetensors") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    const std::string stem = path.stem().string(), source = path.string();
    if (stem.rfind("selective_scan_", 0) == 0) {
      const SafetensorsFile f = read_safetensors(path);
      Mamba1Case c;
      golden::SelectiveScanArgs& a = c.args;
      a.batch = dim_of(f, "u", 0), a.dim = dim_of(f, "u", 1), a.length = dim_of(f, "u", 2);
      a.state = dim_of(f, "A", 1);
      a.groups = f.tensors.at("B").shape.size() == 4 ? dim_of(f, "B", 1) : 1;
      c.storage = {f.tensors.at("u").to_f32(), f.tensors.at("delta").to_f32(),  f.tensors.at("A").to_f32(),
                   f.tensors.at("B").to_f32(), f.tensors.at("C").to_f32(),      optional_tensor(f, "D"),
                   optional_tensor(f, "z"),    optional_tensor(f, "delta_bias")};
      a.u = c.storage[0], a.delta = c.storage[1], a.A = c.storage[2], a.B = c.storage[3], a.C = c.storage[4];
      a.D = c.storage[5], a.z = c.storage[6], a.delta_bias = c.storage[7];
      a.delta_softplus = flag(f, source, "delta_softplus");
      mamba1.push_back(std::move(c));
    } else if (stem.rfind("ssd_", 0) == 0) {
      const SafetensorsFile f = read_safetensors(path);
      if (f.tensors.count("z"))
        throw std::invalid_argument(source + ": a z gate is not part of the SSD scan this check runs");
      Mamba2Case c;
      golden::SsdArgs& a = c.args;
      a.batch = dim_of(f, "x", 0), a.length = dim_of(f, "x", 1), a.heads = dim_of(f, "x", 2);
      a.head_dim = dim_of(f, "x", 3), a.groups = dim_of(f, "B", 2), a.state = dim_of(f, "B", 3);
      std::vector<float> dt = f.tensors.at("dt").to_f32();
      const std::vector<float> bias = optional_tensor(f, "dt_bias");
      const bool softplus = flag(f, source, "dt_softplus");
      for (std::size_t i = 0; i < dt.size(); ++i) {  // decode-step files give dt before its bias and softplus
        if (!bias.empty()) dt[i] += bias[i % bias.size()];
        if (softplus) dt[i] = golden::softplus(dt[i]);
      }
      c.storage = {f.tensors.at("x").to_f32(),          std::move(dt),
                   f.tensors.at("A").to_f32(),          f.tensors.at("B").to_f32(),
                   f.tensors.at("C").to_f32(),          optional_tensor(f, "D"),
                   optional_tensor(f, "initial_states")};
      a.x = c.storage[0], a.dt = c.storage[1], a.A = c.storage[2], a.B = c.storage[3], a.C = c.storage[4];
      a.D = c.storage[5], a.initial_state = c.storage[6];
      mamba2.push_back(std::move(c));
    }
  }
}

void accumulate(const std::vector<float>& actual, const std::vector<float>& expected, SoftwareScanPart& part) {
  double error = 0, scale = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    error = std::max(error, std::fabs(double(actual[i]) - expected[i]));
    scale = std::max(scale, std::fabs(double(expected[i])));
  }
  part.max_abs = std::max(part.max_abs, error);
  part.max_rel = std::max(part.max_rel, scale > 0 ? error / scale : error);
}

}  // namespace

std::vector<SoftwareScanRow> software_scan_check(std::uint64_t seed, int random_cases) {
  return software_scan_check(seed, random_cases, reference_kernel_directory());
}

std::vector<SoftwareScanRow> software_scan_check(std::uint64_t seed, int random_cases,
                                                 const std::string& reference_dir) {
  if (random_cases < 0) throw std::invalid_argument("software_scan_check: random_cases must be at least 0");
  std::vector<Mamba1Case> mamba1;
  std::vector<Mamba2Case> mamba2;
  reference_cases(reference_dir, mamba1, mamba2);
  Random random(seed);
  for (int i = 0; i < random_cases; ++i) {
    mamba1.push_back(random_mamba1(random, i));
    mamba2.push_back(random_mamba2(random, i));
  }
  // The golden results do not depend on the profile.
  std::vector<golden::ScanResult> expected1, expected2;
  for (const auto& c : mamba1) expected1.push_back(golden::selective_scan(c.args));
  for (const auto& c : mamba2) expected2.push_back(golden::ssd_sequential(c.args));

  std::vector<SoftwareScanRow> rows;
  for (const auto& file : shipped_profile_files()) {
    const Profile profile = load_profile_file(file);
    if (profile.family == Family::scan_accelerator) continue;
    const ScanPlan plan = plan_for(profile);
    SoftwareScanRow row;
    row.profile = profile.name;
    row.algorithms = fmt::format("mamba1: {}; mamba2: {}", algorithm_name(plan.mamba1), algorithm_name(plan.mamba2));
    SoftwareScanPart p1, p2;
    p1.model = "mamba1", p1.algorithm = plan.mamba1, p1.precision = plan.mamba1_precision;
    p2.model = "mamba2", p2.algorithm = plan.mamba2, p2.precision = plan.mamba2_precision;
    for (std::size_t i = 0; i < mamba1.size(); ++i) {
      const golden::ScanResult actual = run_software_scan(profile, mamba1[i].args);
      accumulate(actual.out, expected1[i].out, p1);
      accumulate(actual.state, expected1[i].state, p1);
      p1.steps += std::int64_t{mamba1[i].args.batch} * mamba1[i].args.length;
    }
    for (std::size_t i = 0; i < mamba2.size(); ++i) {
      const golden::ScanResult actual = run_software_scan(profile, mamba2[i].args);
      accumulate(actual.out, expected2[i].out, p2);
      accumulate(actual.state, expected2[i].state, p2);
      p2.steps += std::int64_t{mamba2[i].args.batch} * mamba2[i].args.length;
    }
    p1.cases = static_cast<int>(mamba1.size()), p2.cases = static_cast<int>(mamba2.size());
    row.pass = true;
    for (SoftwareScanPart* part : {&p1, &p2}) {
      part->bound = error_bound(part->algorithm, plan.silicon);
      part->pass = part->max_rel <= part->bound;
      row.cases += part->cases, row.steps += part->steps;
      row.max_abs = std::max(row.max_abs, part->max_abs);
      row.max_rel = std::max(row.max_rel, part->max_rel);
      row.bound = std::max(row.bound, part->bound);
      row.pass = row.pass && part->pass;
    }
    row.parts = {p1, p2};
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string software_scan_markdown(const std::vector<SoftwareScanRow>& rows) {
  std::string s =
      "| profile | model | algorithm | precision | cases | steps | max abs | max rel | bound (rel) | pass |\n"
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
  for (const auto& r : rows)
    for (const auto& p : r.parts)
      s += fmt::format("| {} | {} | {} | {} | {} | {} | {:.2e} | {:.2e} | {:.2e} | {} |\n", r.profile, p.model,
                       algorithm_name(p.algorithm), p.precision, p.cases, p.steps, p.max_abs, p.max_rel, p.bound,
                       p.pass ? "yes" : "no");
  return s;
}

}  // namespace ssmsoc::scanalgo
