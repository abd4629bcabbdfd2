#include "arch/golden/fixed_scan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <optional>
#include <stdexcept>

#include "arch/golden/seeded_random.hpp"
#include "arch/numerics/numerics.hpp"

namespace ssmsoc::fixed {

using numerics::FixedFormat;
using numerics::Function;
using numerics::Wide;

namespace {

std::size_t sz(int v) { return static_cast<std::size_t>(v); }

// ---------------------------------------------------------------------------------------
// The two arithmetics of the datapath. Both offer the same operations; the kernels below
// are written once over them. Names: d = data_format, s = state_format.

// Fixed point: every operation is integer arithmetic on raw values (numerics.hpp).
class FixedOps {
 public:
  using V = std::int64_t;

  FixedOps(const ScanUnit& unit)
      : d_(numerics::fixed_format(unit.data_format)),
        s_(numerics::fixed_format(unit.state_format)),
        exp_(Function::exp, unit.exp_approx, d_, s_) {
    if (unit.softplus_approx) softplus_.emplace(Function::softplus, *unit.softplus_approx, d_, d_);
    if (unit.silu_approx) silu_.emplace(Function::silu, *unit.silu_approx, d_, d_);
  }

  V data(float x) const { return numerics::quantize(x, d_); }
  V state(float x) const { return numerics::quantize(x, s_); }
  V state_from_raw(std::int64_t raw) const {
    if (raw > s_.max_raw() || raw < s_.min_raw())
      throw std::invalid_argument(fmt::format("state: raw value {} is outside the state format", raw));
    return raw;
  }
  std::int64_t raw(V v) const { return v; }
  float to_float(V v) const { return static_cast<float>(numerics::to_double(v, s_)); }

  V add_d(V a, V b) const { return numerics::add(a, b, d_); }
  V add_s(V a, V b) const { return numerics::add(a, b, s_); }
  V mul_dd_d(V a, V b) const { return numerics::multiply(a, d_, b, d_, d_); }
  V mul_dd_s(V a, V b) const { return numerics::multiply(a, d_, b, d_, s_); }
  V mul_sd_s(V a, V b) const { return numerics::multiply(a, s_, b, d_, s_); }
  V mul_ss_s(V a, V b) const { return numerics::multiply(a, s_, b, s_, s_); }
  V exp(V x) const { return exp_(x); }
  V softplus(V x) const { return (*softplus_)(x); }
  V silu(V x) const { return (*silu_)(x); }

  // <h, C>: the exact sum of the exact products, rounded once to s (order-independent, so
  // any lane count and adder tree gives the same bits).
  struct Acc {
    Wide sum = 0;
  };
  void accumulate(Acc& acc, V h, V c) const { acc.sum += Wide(h) * c; }
  V result(const Acc& acc) const {
    const Wide r = numerics::shift_round(acc.sum, d_.frac_bits);
    return numerics::saturate(r, s_);
  }

 private:
  FixedFormat d_, s_;
  numerics::Approximator exp_;
  std::optional<numerics::Approximator> softplus_, silu_;
};

// Float formats: each operation in fp32, its result rounded to the destination format.
class FloatOps {
 public:
  using V = float;

  FloatOps(const ScanUnit& unit)
      : d_(unit.data_format.type),
        s_(unit.state_format.type),
        exp_(unit.exp_approx),
        softplus_(unit.softplus_approx.value_or(Approximation{})),
        silu_(unit.silu_approx.value_or(Approximation{})) {}

  V data(float x) const { return r_d(x); }
  V state(float x) const { return r_s(x); }
  V state_from_raw(std::int64_t raw) const { return numerics::from_float_bits(raw, s_); }
  std::int64_t raw(V v) const { return numerics::float_bits(v, s_); }
  float to_float(V v) const { return v; }

  V add_d(V a, V b) const { return r_d(a + b); }
  V add_s(V a, V b) const { return r_s(a + b); }
  V mul_dd_d(V a, V b) const { return r_d(a * b); }
  V mul_dd_s(V a, V b) const { return r_s(a * b); }
  V mul_sd_s(V a, V b) const { return r_s(a * b); }
  V mul_ss_s(V a, V b) const { return r_s(a * b); }
  V exp(V x) const { return numerics::approximate_float(Function::exp, exp_, x, s_); }
  V softplus(V x) const { return numerics::approximate_float(Function::softplus, softplus_, x, d_); }
  V silu(V x) const { return numerics::approximate_float(Function::silu, silu_, x, d_); }

  // <h, C> summed in order k = 0..N-1 as the golden kernels do, each step rounded to s.
  struct Acc {
    float sum = 0;
  };
  void accumulate(Acc& acc, V h, V c) const { acc.sum = r_s(acc.sum + r_s(h * c)); }
  V result(const Acc& acc) const { return acc.sum; }

 private:
  float r_d(float x) const { return numerics::round_to(x, d_); }
  float r_s(float x) const { return numerics::round_to(x, s_); }
  NumberType d_, s_;
  Approximation exp_, softplus_, silu_;
};

// ---------------------------------------------------------------------------------------
// The datapath, written once over FixedOps and FloatOps.

template <class Ops>
class Datapath {
 public:
  using V = typename Ops::V;

  Datapath(const ScanUnit& unit, bool has_D, bool has_z)
      : ops_(unit),
        fused_softplus_(unit.fuses(FusedOp::delta_softplus)),
        fused_d_(has_D && unit.fuses(FusedOp::d_skip)),
        // The gate multiplies y + D*u, so it runs in the unit only when the D skip does
        // (or there is none); otherwise the vector unit does it after the D skip.
        fused_gate_(has_z && unit.fuses(FusedOp::silu_gate) && (!has_D || fused_d_)) {}

  const Ops& ops() const { return ops_; }

  // dt' from the raw delta: bias add and softplus in the unit when delta_softplus is
  // fused, else in float32 on the vector unit (golden::softplus) and then quantized.
  V dt(float delta, const float* bias, bool softplus) const {
    if (fused_softplus_) {
      V v = ops_.add_d(ops_.data(delta), ops_.data(bias ? *bias : 0.0f));
      return softplus ? ops_.softplus(v) : v;
    }
    float f = delta + (bias ? *bias : 0.0f);
    if (softplus) f = golden::softplus(f);
    return ops_.data(f);
  }

  // Mamba-1 update of one channel's N states: h = exp(dt*A)*h + (dt*B)*u; returns <h, C>.
  V mamba1_step(std::span<V> h, V dt, V u, std::span<const V> A, std::span<const V> B, std::span<const V> C) const {
    typename Ops::Acc acc;
    for (std::size_t k = 0; k < h.size(); ++k) {
      const V decay = ops_.exp(ops_.mul_dd_d(dt, A[k]));
      const V increment = ops_.mul_sd_s(ops_.mul_dd_s(dt, B[k]), u);
      h[k] = ops_.add_s(ops_.mul_ss_s(decay, h[k]), increment);
      ops_.accumulate(acc, h[k], C[k]);
    }
    return ops_.result(acc);
  }

  // Mamba-2 update of one (head, p) row: h = h*decay + (dt*x)*B; returns <h, C>.
  V mamba2_step(std::span<V> h, V decay, V dt, V x, std::span<const V> B, std::span<const V> C) const {
    typename Ops::Acc acc;
    const V dtx = ops_.mul_dd_s(dt, x);
    for (std::size_t k = 0; k < h.size(); ++k) {
      h[k] = ops_.add_s(ops_.mul_ss_s(h[k], decay), ops_.mul_sd_s(dtx, B[k]));
      ops_.accumulate(acc, h[k], C[k]);
    }
    return ops_.result(acc);
  }
  V decay(V dt, V A) const { return ops_.exp(ops_.mul_dd_d(dt, A)); }

  // out = y + D*u, then out *= silu(z): the fused parts in the unit (giving out_raw), the
  // rest in float32 on the vector unit with the original float inputs.
  float finish(V y, float u, const float* D, const float* z, std::int64_t& out_raw) const {
    V o = y;
    if (fused_d_) o = ops_.add_s(o, ops_.mul_dd_s(ops_.data(*D), ops_.data(u)));
    if (fused_gate_) o = ops_.mul_sd_s(o, ops_.silu(ops_.data(*z)));
    out_raw = ops_.raw(o);
    float out = ops_.to_float(o);
    if (D && !fused_d_) out = out + *D * u;
    if (z && !fused_gate_) out *= golden::silu(*z);
    return out;
  }

  // The starting state: the raw values when given, else the float state quantized, else 0.
  std::vector<V> initial_state(std::size_t size, std::span<const float> state,
                               std::span<const std::int64_t> raw) const {
    std::vector<V> h(size, ops_.state(0.0f));
    if (!raw.empty()) {
      if (raw.size() != size)
        throw std::invalid_argument(fmt::format("state: expected {} raw values, got {}", size, raw.size()));
      for (std::size_t i = 0; i < size; ++i) h[i] = ops_.state_from_raw(raw[i]);
    } else if (!state.empty()) {
      for (std::size_t i = 0; i < size; ++i) h[i] = ops_.state(state[i]);
    }
    return h;
  }

  std::vector<V> data(std::span<const float> values) const {
    std::vector<V> q(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) q[i] = ops_.data(values[i]);
    return q;
  }

  void set_state(ScanOutput& r, const std::vector<V>& h) const {
    r.result.state.resize(h.size());
    r.state_raw.resize(h.size());
    for (std::size_t i = 0; i < h.size(); ++i) {
      r.result.state[i] = ops_.to_float(h[i]);
      r.state_raw[i] = ops_.raw(h[i]);
    }
  }

 private:
  Ops ops_;
  bool fused_softplus_, fused_d_, fused_gate_;
};

const float* at(std::span<const float> v, std::size_t i) { return v.empty() ? nullptr : &v[i]; }

// Checks that the unit can run a problem: present, the mode, N <= max_state, formats
// either both fixed or both float, and a wide enough accumulator for the dot product.
void check_unit(const ScanUnit& unit, ScanMode mode, int state) {
  if (!unit.present) throw std::invalid_argument("scan unit: the profile has no scan unit");
  if (!unit.supports(mode))
    throw std::invalid_argument(fmt::format("scan unit: does not run {} recurrences", name_of(mode)));
  if (state < 1 || state > unit.max_state)
    throw std::invalid_argument(
        fmt::format("state: N = {} is outside 1..{} (the scan unit's max_state)", state, unit.max_state));
  const bool data_fixed = numerics::is_fixed(unit.data_format), state_fixed = numerics::is_fixed(unit.state_format);
  if (data_fixed != state_fixed)
    throw std::invalid_argument(
        "scan unit: a fixed-point data format with a float state format (or the reverse) is not modelled");
  if (data_fixed &&
      unit.data_format.total_bits() + unit.state_format.total_bits() + std::bit_width(unsigned(state)) > 126)
    throw std::invalid_argument("scan unit: the <h, C> accumulator would need more than 126 bits");
}

template <class Ops>
ScanOutput run_selective_scan(const golden::SelectiveScanArgs& a, const ScanUnit& unit,
                              std::span<const std::int64_t> initial_raw) {
  const std::size_t b = sz(a.batch), d = sz(a.dim), l = sz(a.length), n = sz(a.state), g = sz(a.groups);
  golden::check_shapes(a);
  const Datapath<Ops> dp(unit, !a.D.empty(), !a.z.empty());
  using V = typename Ops::V;
  const std::vector<V> A = dp.data(a.A);
  // B and C transposed to [batch, groups, length, state], quantized.
  std::vector<V> B(b * g * l * n), C(b * g * l * n);
  for (std::size_t gi = 0; gi < b * g; ++gi)
    for (std::size_t k = 0; k < n; ++k)
      for (std::size_t t = 0; t < l; ++t) {
        B[(gi * l + t) * n + k] = dp.ops().data(a.B[(gi * n + k) * l + t]);
        C[(gi * l + t) * n + k] = dp.ops().data(a.C[(gi * n + k) * l + t]);
      }
  std::vector<V> h = dp.initial_state(b * d * n, {}, initial_raw);
  ScanOutput r;
  r.result.out.resize(b * d * l);
  r.out_raw.resize(b * d * l);
  for (std::size_t bi = 0; bi < b; ++bi)
    for (std::size_t di = 0; di < d; ++di) {
      const std::size_t row = (bi * d + di) * l;
      const std::size_t group = bi * g + di / (d / g);
      const std::span<V> state(&h[(bi * d + di) * n], n);
      for (std::size_t t = 0; t < l; ++t) {
        const V dt = dp.dt(a.delta[row + t], at(a.delta_bias, di), a.delta_softplus);
        const V y = dp.mamba1_step(state, dt, dp.ops().data(a.u[row + t]), std::span<const V>(&A[di * n], n),
                                   std::span<const V>(&B[(group * l + t) * n], n),
                                   std::span<const V>(&C[(group * l + t) * n], n));
        r.result.out[row + t] = dp.finish(y, a.u[row + t], at(a.D, di), at(a.z, row + t), r.out_raw[row + t]);
      }
    }
  dp.set_state(r, h);
  return r;
}

template <class Ops>
ScanOutput run_state_update(const golden::StateUpdateArgs& a, const ScanUnit& unit,
                            std::span<const std::int64_t> state_raw) {
  const std::size_t b = sz(a.batch), d = sz(a.dim), n = sz(a.state), g = sz(a.groups);
  golden::check_shapes(a, state_raw.empty());
  const Datapath<Ops> dp(unit, !a.D.empty(), !a.z.empty());
  using V = typename Ops::V;
  const std::vector<V> A = dp.data(a.A), B = dp.data(a.B), C = dp.data(a.C);
  std::vector<V> h = dp.initial_state(b * d * n, a.state_in, state_raw);
  ScanOutput r;
  r.result.out.resize(b * d);
  r.out_raw.resize(b * d);
  for (std::size_t bi = 0; bi < b; ++bi)
    for (std::size_t di = 0; di < d; ++di) {
      const std::size_t i = bi * d + di;
      const std::size_t group = (bi * g + di / (d / g)) * n;
      const V dt = dp.dt(a.dt[i], at(a.dt_bias, di), a.dt_softplus);
      const V y =
          dp.mamba1_step(std::span<V>(&h[i * n], n), dt, dp.ops().data(a.x[i]), std::span<const V>(&A[di * n], n),
                         std::span<const V>(&B[group], n), std::span<const V>(&C[group], n));
      r.result.out[i] = dp.finish(y, a.x[i], at(a.D, di), at(a.z, i), r.out_raw[i]);
    }
  dp.set_state(r, h);
  return r;
}

template <class Ops>
ScanOutput run_multihead(const golden::MultiHeadStateUpdateArgs& a, const ScanUnit& unit,
                         std::span<const std::int64_t> state_raw) {
  const std::size_t b = sz(a.batch), hs = sz(a.heads), p = sz(a.head_dim), n = sz(a.state), g = sz(a.groups);
  golden::check_shapes(a, state_raw.empty());
  const Datapath<Ops> dp(unit, !a.D.empty(), !a.z.empty());
  using V = typename Ops::V;
  const std::vector<V> B = dp.data(a.B), C = dp.data(a.C);
  std::vector<V> h = dp.initial_state(b * hs * p * n, a.state_in, state_raw);
  ScanOutput r;
  r.result.out.resize(b * hs * p);
  r.out_raw.resize(b * hs * p);
  for (std::size_t bi = 0; bi < b; ++bi)
    for (std::size_t hi = 0; hi < hs; ++hi) {
      const V dt = dp.dt(a.dt[bi * hs + hi], at(a.dt_bias, hi), a.dt_softplus);
      const V decay = dp.decay(dt, dp.ops().data(a.A[hi]));
      const std::size_t group = (bi * g + hi / (hs / g)) * n;
      for (std::size_t pi = 0; pi < p; ++pi) {
        const std::size_t i = (bi * hs + hi) * p + pi;
        const V y = dp.mamba2_step(std::span<V>(&h[i * n], n), decay, dt, dp.ops().data(a.x[i]),
                                   std::span<const V>(&B[group], n), std::span<const V>(&C[group], n));
        r.result.out[i] = dp.finish(y, a.x[i], at(a.D, hi), at(a.z, i), r.out_raw[i]);
      }
    }
  dp.set_state(r, h);
  return r;
}

template <class Ops>
ScanOutput run_ssd(const SsdArgs& a, const ScanUnit& unit, std::span<const std::int64_t> initial_raw) {
  golden::check_shapes(a, initial_raw.empty());
  const std::size_t b = sz(a.batch), l = sz(a.length), hs = sz(a.heads), p = sz(a.head_dim), n = sz(a.state),
                    g = sz(a.groups);
  const Datapath<Ops> dp(unit, !a.D.empty(), false);
  using V = typename Ops::V;
  const std::vector<V> B = dp.data(a.B), C = dp.data(a.C);
  std::vector<V> h = dp.initial_state(b * hs * p * n, a.initial_state, initial_raw);
  ScanOutput r;
  r.result.out.resize(b * l * hs * p);
  r.out_raw.resize(b * l * hs * p);
  for (std::size_t bi = 0; bi < b; ++bi)
    for (std::size_t t = 0; t < l; ++t)
      for (std::size_t hi = 0; hi < hs; ++hi) {
        const V dt = dp.ops().data(a.dt[(bi * l + t) * hs + hi]);
        const V decay = dp.decay(dt, dp.ops().data(a.A[hi]));
        const std::size_t group = ((bi * l + t) * g + hi / (hs / g)) * n;
        for (std::size_t pi = 0; pi < p; ++pi) {
          const std::size_t i = ((bi * l + t) * hs + hi) * p + pi;
          const V y =
              dp.mamba2_step(std::span<V>(&h[((bi * hs + hi) * p + pi) * n], n), decay, dt, dp.ops().data(a.x[i]),
                             std::span<const V>(&B[group], n), std::span<const V>(&C[group], n));
          r.result.out[i] = dp.finish(y, a.x[i], at(a.D, hi), nullptr, r.out_raw[i]);
        }
      }
  dp.set_state(r, h);
  return r;
}

}  // namespace

ScanOutput selective_scan(const golden::SelectiveScanArgs& args, const ScanUnit& unit,
                          std::span<const std::int64_t> initial_state_raw) {
  check_unit(unit, ScanMode::mamba1, args.state);
  return numerics::is_fixed(unit.data_format) ? run_selective_scan<FixedOps>(args, unit, initial_state_raw)
                                              : run_selective_scan<FloatOps>(args, unit, initial_state_raw);
}

ScanOutput selective_state_update(const golden::StateUpdateArgs& args, const ScanUnit& unit,
                                  std::span<const std::int64_t> state_raw) {
  check_unit(unit, ScanMode::mamba1, args.state);
  return numerics::is_fixed(unit.data_format) ? run_state_update<FixedOps>(args, unit, state_raw)
                                              : run_state_update<FloatOps>(args, unit, state_raw);
}

ScanOutput selective_state_update_multihead(const golden::MultiHeadStateUpdateArgs& args, const ScanUnit& unit,
                                            std::span<const std::int64_t> state_raw) {
  check_unit(unit, ScanMode::mamba2, args.state);
  return numerics::is_fixed(unit.data_format) ? run_multihead<FixedOps>(args, unit, state_raw)
                                              : run_multihead<FloatOps>(args, unit, state_raw);
}

ScanOutput ssd_sequential(const SsdArgs& args, const ScanUnit& unit, std::span<const std::int64_t> initial_state_raw) {
  check_unit(unit, ScanMode::mamba2, args.state);
  return numerics::is_fixed(unit.data_format) ? run_ssd<FixedOps>(args, unit, initial_state_raw)
                                              : run_ssd<FloatOps>(args, unit, initial_state_raw);
}

// ---------------------------------------------------------------------------------------

namespace {

using Random = SeededRandom;

void compare(const std::vector<float>& actual, const std::vector<float>& expected, double& max_abs, double& max_rel) {
  double error = 0, scale = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    error = std::max(error, std::fabs(double(actual[i]) - expected[i]));
    scale = std::max(scale, std::fabs(double(expected[i])));
  }
  max_abs = error;
  max_rel = scale > 0 ? error / scale : error;
}

}  // namespace

golden::SelectiveScanArgs Mamba1Operands::args() const {
  golden::SelectiveScanArgs a;
  a.batch = batch, a.dim = dim, a.length = length, a.state = state;
  a.u = u, a.delta = delta, a.delta_bias = delta_bias, a.A = A, a.B = B, a.C = C, a.D = D, a.z = z;
  a.delta_softplus = true;
  return a;
}

SsdArgs Mamba2Operands::args() const {
  SsdArgs a;
  a.batch = batch, a.length = length, a.heads = heads, a.head_dim = head_dim, a.state = state;
  a.x = x, a.dt = dt, a.A = A, a.B = B, a.C = C, a.D = D;
  return a;
}

namespace {

// softplus^-1 of dt drawn log-uniform in [0.001, 0.1]: dt + log(-expm1(-dt)), as the
// official Mamba initialisation sets dt_bias.
std::vector<float> realistic_dt_biases(Random& random, std::size_t count) {
  std::vector<float> bias(count);
  for (auto& b : bias) {
    const double dt = std::exp(random.uniform(std::log(0.001), std::log(0.1)));
    b = static_cast<float>(dt + std::log(-std::expm1(-dt)));
  }
  return bias;
}

// A = -exp(A_log), A_log = log(U(1, 16)).
std::vector<float> realistic_decays(Random& random, std::size_t count) {
  std::vector<float> A(count);
  for (auto& a : A) a = static_cast<float>(-random.uniform(1.0, 16.0));
  return A;
}

std::vector<float> dt_raw(Random& random, std::size_t count) {
  std::vector<float> v = random.normals(count);
  for (auto& x : v) x = static_cast<float>(kRealisticDtRawSigma * x);
  return v;
}

}  // namespace

Mamba1Operands realistic_mamba1_operands(std::uint64_t seed, int batch, int dim, int length, int state) {
  Random random(seed);
  Mamba1Operands o;
  o.batch = batch, o.dim = dim, o.length = length, o.state = state;
  const std::size_t bdl = sz(batch * dim * length), bnl = sz(batch * state * length);
  o.delta_bias = realistic_dt_biases(random, sz(dim));
  o.A = realistic_decays(random, sz(dim * state));
  o.D = random.uniforms(sz(dim), 0.5, 1.5);
  o.delta = dt_raw(random, bdl);
  o.u = random.normals(bdl), o.z = random.normals(bdl);
  o.B = random.normals(bnl), o.C = random.normals(bnl);
  return o;
}

Mamba2Operands realistic_mamba2_operands(std::uint64_t seed, int batch, int length, int heads, int head_dim,
                                         int state) {
  Random random(seed);
  Mamba2Operands o;
  o.batch = batch, o.length = length, o.heads = heads, o.head_dim = head_dim, o.state = state;
  const std::vector<float> bias = realistic_dt_biases(random, sz(heads));
  o.A = realistic_decays(random, sz(heads));
  o.D = random.uniforms(sz(heads), 0.5, 1.5);
  o.dt = dt_raw(random, sz(batch * length * heads));
  for (std::size_t i = 0; i < o.dt.size(); ++i) o.dt[i] = golden::softplus(o.dt[i] + bias[i % sz(heads)]);
  o.x = random.normals(sz(batch * length * heads * head_dim));
  o.B = random.normals(sz(batch * length * state)), o.C = random.normals(sz(batch * length * state));
  return o;
}

ErrorRow selective_scan_error(const std::string& profile, const ScanUnit& unit, std::uint64_t seed) {
  const Mamba1Operands o = realistic_mamba1_operands(seed, 1, 16, kErrorTableLength, std::min(16, unit.max_state));
  const golden::SelectiveScanArgs a = o.args();
  ErrorRow row{profile, "selective_scan", fmt::format("b={} d={} L={} N={}", a.batch, a.dim, a.length, a.state)};
  const ScanOutput actual = selective_scan(a, unit);
  const golden::ScanResult expected = golden::selective_scan(a);
  compare(actual.result.out, expected.out, row.out_abs, row.out_rel);
  compare(actual.result.state, expected.state, row.state_abs, row.state_rel);
  return row;
}

ErrorRow ssd_error(const std::string& profile, const ScanUnit& unit, std::uint64_t seed) {
  const Mamba2Operands o = realistic_mamba2_operands(seed, 1, kErrorTableLength, 4, 8, std::min(64, unit.max_state));
  const SsdArgs a = o.args();
  ErrorRow row{profile, "ssd",
               fmt::format("b={} L={} H={} P={} N={}", a.batch, a.length, a.heads, a.head_dim, a.state)};
  const ScanOutput actual = ssd_sequential(a, unit);
  const golden::ScanResult expected = golden::ssd_sequential(a);
  compare(actual.result.out, expected.out, row.out_abs, row.out_rel);
  compare(actual.result.state, expected.state, row.state_abs, row.state_rel);
  return row;
}

std::vector<ErrorRow> error_table(std::uint64_t seed) {
  std::vector<ErrorRow> rows;
  for (const auto& file : shipped_profile_files()) {
    const Profile profile = load_profile_file(file);
    const ScanUnit& unit = profile.tile.scan;
    if (!unit.present) continue;
    if (unit.supports(ScanMode::mamba1)) rows.push_back(selective_scan_error(profile.name, unit, seed));
    if (unit.supports(ScanMode::mamba2)) rows.push_back(ssd_error(profile.name, unit, seed));
  }
  return rows;
}

std::string error_table_markdown(const std::vector<ErrorRow>& rows) {
  std::string s =
      "| profile | kernel | shape | out max abs | out max rel | state max abs | state max rel |\n"
      "| --- | --- | --- | --- | --- | --- | --- |\n";
  for (const auto& r : rows)
    s += fmt::format("| {} | {} | {} | {:.2e} | {:.2e} | {:.2e} | {:.2e} |\n", r.profile, r.kernel, r.shape, r.out_abs,
                     r.out_rel, r.state_abs, r.state_rel);
  return s;
}

}  // namespace ssmsoc::fixed
