#include "rtl/scan_unit/harness.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "arch/golden/kernel_runner.hpp"
#include "arch/golden/kernels.hpp"
#include "arch/golden/safetensors.hpp"
#include "arch/numerics/numerics.hpp"

namespace ssmsoc::rtl {

namespace {

std::size_t sz(int v) { return static_cast<std::size_t>(v); }

// Float values into raw values of the unit's formats, as the bit-accurate model quantizes
// them (FixedOps::data/state, FloatOps::data/state followed by the raw bit pattern).
class Quantizer {
 public:
  explicit Quantizer(const ScanUnit& unit)
      : fixed_(numerics::is_fixed(unit.data_format)),
        data_type_(unit.data_format.type),
        state_type_(unit.state_format.type) {
    if (fixed_) {
      d_ = numerics::fixed_format(unit.data_format);
      s_ = numerics::fixed_format(unit.state_format);
    }
  }
  std::int64_t data(float x) const {
    return fixed_ ? numerics::quantize(x, d_) : numerics::float_bits(numerics::round_to(x, data_type_), data_type_);
  }
  std::int64_t state(float x) const {
    return fixed_ ? numerics::quantize(x, s_) : numerics::float_bits(numerics::round_to(x, state_type_), state_type_);
  }
  // The bias that makes the unit's bias add an identity: +0 would turn a dt of -0 into +0
  // in a float unit, -0 leaves every value alone.
  std::int64_t no_bias() const { return data(-0.0f); }

 private:
  bool fixed_;
  NumberType data_type_, state_type_;
  numerics::FixedFormat d_{}, s_{};
};

const float* at(const std::vector<float>& v, std::size_t i) { return v.empty() ? nullptr : &v[i]; }

class JobBuilder {
 public:
  JobBuilder(const ScanUnit& unit) : q_(unit), fused_softplus_(unit.fuses(FusedOp::delta_softplus)), unit_(unit) {}

  // Appends N raw data values; returns their offset.
  template <class F>
  std::size_t vector(int n, F&& value_of) {
    const std::size_t offset = job.vectors.size();
    for (int k = 0; k < n; ++k) job.vectors.push_back(q_.data(value_of(k)));
    return offset;
  }

  // dt' operands: raw delta and bias for a unit that fuses the softplus; else dt' computed
  // in float32 by the vector unit and quantized (Datapath::dt).
  void set_dt(StepOperands& s, float delta, const float* bias, bool softplus) const {
    if (fused_softplus_) {
      s.dt = q_.data(delta);
      s.bias = q_.data(bias ? *bias : 0.0f);
      return;
    }
    float f = delta + (bias ? *bias : 0.0f);
    if (softplus) f = golden::softplus(f);
    s.dt = q_.data(f);
    s.bias = 0;
  }

  Run run(bool mamba2, int n, bool softplus, bool has_D, bool has_z) const {
    Run r;
    r.mamba2 = mamba2;
    r.n = n;
    r.softplus = softplus && fused_softplus_;
    r.d_skip = has_D && unit_.fuses(FusedOp::d_skip);
    r.gate = has_z && unit_.fuses(FusedOp::silu_gate) && (!has_D || r.d_skip);
    return r;
  }

  // The starting state of run `i` (N values): raw, else the float state quantized, else 0.
  std::vector<std::int64_t> start(std::size_t i, int n, const std::vector<float>& state,
                                  const std::vector<std::int64_t>& raw) const {
    std::vector<std::int64_t> h(sz(n), q_.state(0.0f));
    for (std::size_t k = 0; k < sz(n); ++k) {
      if (!raw.empty())
        h[k] = raw.at(i * sz(n) + k);
      else if (!state.empty())
        h[k] = q_.state(state.at(i * sz(n) + k));
    }
    return h;
  }

  const Quantizer& quantizer() const { return q_; }
  Job job;

 private:
  Quantizer q_;
  bool fused_softplus_;
  const ScanUnit& unit_;
};

void check_raw_size(const std::vector<std::int64_t>& raw, std::size_t size) {
  if (!raw.empty() && raw.size() != size)
    throw std::invalid_argument(fmt::format("starting state: expected {} raw values, got {}", size, raw.size()));
}

}  // namespace

Job make_job(const Phase& p, const ScanUnit& unit, const std::vector<std::int64_t>& initial_raw) {
  JobBuilder jb(unit);
  const std::size_t b = sz(p.batch), d = sz(p.dim), hp = sz(p.head_dim), l = sz(p.length), n = sz(p.state),
                    g = sz(p.groups);
  const bool has_D = !p.D.empty(), has_z = !p.z.empty();
  switch (p.kernel) {
    case Kernel::selective_scan: {
      check_raw_size(initial_raw, b * d * n);
      jb.job.out_count = b * d * l;
      jb.job.state_count = b * d * n;
      std::vector<std::size_t> a_off(d), b_off(b * g * l), c_off(b * g * l);
      for (std::size_t di = 0; di < d; ++di) a_off[di] = jb.vector(p.state, [&](int k) { return p.A[di * n + sz(k)]; });
      for (std::size_t gi = 0; gi < b * g; ++gi)
        for (std::size_t t = 0; t < l; ++t) {
          b_off[gi * l + t] = jb.vector(p.state, [&](int k) { return p.B[(gi * n + sz(k)) * l + t]; });
          c_off[gi * l + t] = jb.vector(p.state, [&](int k) { return p.C[(gi * n + sz(k)) * l + t]; });
        }
      for (std::size_t bi = 0; bi < b; ++bi)
        for (std::size_t di = 0; di < d; ++di) {
          Run r = jb.run(false, p.state, p.softplus, has_D, has_z);
          const std::size_t ch = bi * d + di, row = ch * l, group = bi * g + di / (d / g);
          r.h0 = jb.start(ch, p.state, {}, initial_raw);
          r.state_index = ch * n;
          for (std::size_t t = 0; t < l; ++t) {
            StepOperands s;
            jb.set_dt(s, p.delta[row + t], at(p.bias, di), p.softplus);
            s.u = jb.quantizer().data(p.u[row + t]);
            s.d = has_D ? jb.quantizer().data(p.D[di]) : 0;
            s.z = has_z ? jb.quantizer().data(p.z[row + t]) : 0;
            s.a_lanes = a_off[di];
            s.b = b_off[group * l + t];
            s.c = c_off[group * l + t];
            s.out_index = row + t;
            r.steps.push_back(s);
          }
          jb.job.runs.push_back(std::move(r));
        }
      break;
    }
    case Kernel::state_update: {
      check_raw_size(initial_raw, b * d * n);
      jb.job.out_count = b * d;
      jb.job.state_count = b * d * n;
      std::vector<std::size_t> a_off(d), b_off(b * g), c_off(b * g);
      for (std::size_t di = 0; di < d; ++di) a_off[di] = jb.vector(p.state, [&](int k) { return p.A[di * n + sz(k)]; });
      for (std::size_t gi = 0; gi < b * g; ++gi) {
        b_off[gi] = jb.vector(p.state, [&](int k) { return p.B[gi * n + sz(k)]; });
        c_off[gi] = jb.vector(p.state, [&](int k) { return p.C[gi * n + sz(k)]; });
      }
      for (std::size_t bi = 0; bi < b; ++bi)
        for (std::size_t di = 0; di < d; ++di) {
          const std::size_t i = bi * d + di, group = bi * g + di / (d / g);
          Run r = jb.run(false, p.state, p.softplus, has_D, has_z);
          r.h0 = jb.start(i, p.state, p.state_in, initial_raw);
          r.state_index = i * n;
          StepOperands s;
          jb.set_dt(s, p.delta[i], at(p.bias, di), p.softplus);
          s.u = jb.quantizer().data(p.u[i]);
          s.d = has_D ? jb.quantizer().data(p.D[di]) : 0;
          s.z = has_z ? jb.quantizer().data(p.z[i]) : 0;
          s.a_lanes = a_off[di];
          s.b = b_off[group];
          s.c = c_off[group];
          s.out_index = i;
          r.steps.push_back(s);
          jb.job.runs.push_back(std::move(r));
        }
      break;
    }
    case Kernel::state_update_multihead: {
      check_raw_size(initial_raw, b * d * hp * n);
      jb.job.out_count = b * d * hp;
      jb.job.state_count = b * d * hp * n;
      std::vector<std::size_t> b_off(b * g), c_off(b * g);
      for (std::size_t gi = 0; gi < b * g; ++gi) {
        b_off[gi] = jb.vector(p.state, [&](int k) { return p.B[gi * n + sz(k)]; });
        c_off[gi] = jb.vector(p.state, [&](int k) { return p.C[gi * n + sz(k)]; });
      }
      for (std::size_t bi = 0; bi < b; ++bi)
        for (std::size_t hi = 0; hi < d; ++hi) {
          const std::size_t group = bi * g + hi / (d / g);
          for (std::size_t pi = 0; pi < hp; ++pi) {
            const std::size_t i = (bi * d + hi) * hp + pi;
            Run r = jb.run(true, p.state, p.softplus, has_D, has_z);
            r.h0 = jb.start(i, p.state, p.state_in, initial_raw);
            r.state_index = i * n;
            StepOperands s;
            jb.set_dt(s, p.delta[bi * d + hi], at(p.bias, hi), p.softplus);
            s.a = jb.quantizer().data(p.A[hi]);
            s.u = jb.quantizer().data(p.u[i]);
            s.d = has_D ? jb.quantizer().data(p.D[hi]) : 0;
            s.z = has_z ? jb.quantizer().data(p.z[i]) : 0;
            s.b = b_off[group];
            s.c = c_off[group];
            s.out_index = i;
            r.steps.push_back(s);
            jb.job.runs.push_back(std::move(r));
          }
        }
      break;
    }
    case Kernel::ssd: {
      check_raw_size(initial_raw, b * d * hp * n);
      jb.job.out_count = b * l * d * hp;
      jb.job.state_count = b * d * hp * n;
      std::vector<std::size_t> b_off(b * l * g), c_off(b * l * g);
      for (std::size_t gi = 0; gi < b * l * g; ++gi) {
        b_off[gi] = jb.vector(p.state, [&](int k) { return p.B[gi * n + sz(k)]; });
        c_off[gi] = jb.vector(p.state, [&](int k) { return p.C[gi * n + sz(k)]; });
      }
      for (std::size_t bi = 0; bi < b; ++bi)
        for (std::size_t hi = 0; hi < d; ++hi)
          for (std::size_t pi = 0; pi < hp; ++pi) {
            const std::size_t row = (bi * d + hi) * hp + pi;
            Run r = jb.run(true, p.state, false, has_D, false);
            r.h0 = jb.start(row, p.state, p.state_in, initial_raw);
            r.state_index = row * n;
            for (std::size_t t = 0; t < l; ++t) {
              StepOperands s;
              s.dt = jb.quantizer().data(p.delta[(bi * l + t) * d + hi]);  // dt after softplus
              s.bias = jb.quantizer().no_bias();
              s.a = jb.quantizer().data(p.A[hi]);
              const std::size_t i = ((bi * l + t) * d + hi) * hp + pi;
              s.u = jb.quantizer().data(p.u[i]);
              s.d = has_D ? jb.quantizer().data(p.D[hi]) : 0;
              const std::size_t group = (bi * l + t) * g + hi / (d / g);
              s.b = b_off[group];
              s.c = c_off[group];
              s.out_index = i;
              r.steps.push_back(s);
            }
            jb.job.runs.push_back(std::move(r));
          }
      break;
    }
  }
  return std::move(jb.job);
}

fixed::ScanOutput expected_output(const Phase& p, const ScanUnit& unit, const std::vector<std::int64_t>& raw) {
  switch (p.kernel) {
    case Kernel::selective_scan: {
      golden::SelectiveScanArgs a;
      a.batch = p.batch, a.dim = p.dim, a.length = p.length, a.state = p.state, a.groups = p.groups;
      a.u = p.u, a.delta = p.delta, a.A = p.A, a.B = p.B, a.C = p.C, a.D = p.D, a.z = p.z, a.delta_bias = p.bias;
      a.delta_softplus = p.softplus;
      return fixed::selective_scan(a, unit, raw);
    }
    case Kernel::state_update: {
      golden::StateUpdateArgs a;
      a.batch = p.batch, a.dim = p.dim, a.state = p.state, a.groups = p.groups;
      a.state_in = p.state_in, a.x = p.u, a.dt = p.delta, a.A = p.A, a.B = p.B, a.C = p.C, a.D = p.D, a.z = p.z;
      a.dt_bias = p.bias, a.dt_softplus = p.softplus;
      return fixed::selective_state_update(a, unit, raw);
    }
    case Kernel::state_update_multihead: {
      golden::MultiHeadStateUpdateArgs a;
      a.batch = p.batch, a.heads = p.dim, a.head_dim = p.head_dim, a.state = p.state, a.groups = p.groups;
      a.state_in = p.state_in, a.x = p.u, a.dt = p.delta, a.A = p.A, a.B = p.B, a.C = p.C, a.D = p.D, a.z = p.z;
      a.dt_bias = p.bias, a.dt_softplus = p.softplus;
      return fixed::selective_state_update_multihead(a, unit, raw);
    }
    case Kernel::ssd: {
      golden::SsdArgs a;
      a.batch = p.batch, a.length = p.length, a.heads = p.dim, a.head_dim = p.head_dim, a.groups = p.groups;
      a.state = p.state;
      a.x = p.u, a.dt = p.delta, a.A = p.A, a.B = p.B, a.C = p.C, a.D = p.D, a.initial_state = p.state_in;
      return fixed::ssd_sequential(a, unit, raw);
    }
  }
  throw std::invalid_argument("unknown kernel");
}

namespace {

// "batch 0, channel 3, step 7" for an output or state index of a phase.
std::string describe(const Phase& p, bool state, std::size_t index) {
  const std::size_t d = sz(p.dim), hp = sz(p.head_dim), l = sz(p.length), n = sz(p.state);
  switch (p.kernel) {
    case Kernel::selective_scan:
      if (state) return fmt::format("batch {}, channel {}, state {}", index / (d * n), index / n % d, index % n);
      return fmt::format("batch {}, channel {}, step {}", index / (d * l), index / l % d, index % l);
    case Kernel::state_update:
      if (state) return fmt::format("batch {}, channel {}, state {}", index / (d * n), index / n % d, index % n);
      return fmt::format("batch {}, channel {}", index / d, index % d);
    case Kernel::state_update_multihead:
      if (state)
        return fmt::format("batch {}, head {}, row {}, state {}", index / (d * hp * n), index / (hp * n) % d,
                           index / n % hp, index % n);
      return fmt::format("batch {}, head {}, row {}", index / (d * hp), index / hp % d, index % hp);
    case Kernel::ssd:
      if (state)
        return fmt::format("batch {}, head {}, row {}, state {}", index / (d * hp * n), index / (hp * n) % d,
                           index / n % hp, index % n);
      return fmt::format("batch {}, head {}, row {}, step {}", index / (l * d * hp), index / hp % d, index % hp,
                         index / (d * hp) % l);
  }
  return "?";
}

const char* kernel_name(Kernel k) {
  switch (k) {
    case Kernel::selective_scan:
      return "selective_scan";
    case Kernel::state_update:
      return "selective_state_update";
    case Kernel::state_update_multihead:
      return "selective_state_update_multihead";
    case Kernel::ssd:
      return "ssd_sequential";
  }
  return "?";
}

}  // namespace

CaseResult run_case(ScanEngine& engine, const Case& c, const ScanUnit& unit) {
  CaseResult result;
  std::vector<std::int64_t> rtl_state = c.initial_state_raw, model_state = c.initial_state_raw;
  for (std::size_t pi = 0; pi < c.phases.size(); ++pi) {
    const Phase& phase = c.phases[pi];
    const Job job = make_job(phase, unit, rtl_state);
    const auto start = std::chrono::steady_clock::now();
    JobOutput out = engine.run(job, c.drive);
    result.rtl_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const fixed::ScanOutput expected = expected_output(phase, unit, model_state);
    result.steps += static_cast<long>(out.out_raw.size());
    result.lane_steps += static_cast<long>(out.lane_steps);
    result.cycles += out.cycles;
    auto compare = [&](const std::vector<std::int64_t>& rtl, const std::vector<std::int64_t>& want,
                       const std::vector<std::uint64_t>& cycles, bool state) {
      if (rtl.size() != want.size())
        throw std::logic_error(
            fmt::format("{}: the RTL gave {} values, the model {}", c.name, rtl.size(), want.size()));
      for (std::size_t i = 0; i < rtl.size(); ++i) {
        if (rtl[i] == want[i]) continue;
        ++result.mismatches;
        if (result.first.found) continue;
        Mismatch& m = result.first;
        m.found = true;
        m.phase = static_cast<int>(pi);
        m.state = state;
        m.index = i;
        m.element = describe(phase, state, i);
        m.rtl = rtl[i];
        m.expected = want[i];
        m.cycle = cycles[i];
        m.message =
            fmt::format("case '{}'{}: {} {} [{}]: rtl {} (0x{:x}), expected {} (0x{:x}), at cycle {}", c.name,
                        c.phases.size() > 1 ? fmt::format(" phase {}", pi) : std::string(), kernel_name(phase.kernel),
                        state ? "final state" : "out", m.element, m.rtl, static_cast<std::uint64_t>(m.rtl), m.expected,
                        static_cast<std::uint64_t>(m.expected), m.cycle);
      }
    };
    compare(out.out_raw, expected.out_raw, out.out_cycle, false);
    compare(out.state_raw, expected.state_raw, out.state_cycle, true);
    rtl_state = out.state_raw;
    model_state = expected.state_raw;
    result.jobs.push_back(std::move(out));
  }
  return result;
}

Timing timing_of(const ScanUnit& unit) { return Timing{unit.lanes, unit.pipeline_depth, &unit}; }

// ---------------------------------------------------------------------------------------
// Reference data.

namespace {

std::vector<float> tensor(const SafetensorsFile& f, const std::string& name) {
  auto it = f.tensors.find(name);
  if (it == f.tensors.end()) throw std::invalid_argument("tensor '" + name + "' missing");
  return it->second.to_f32();
}
std::vector<float> optional(const SafetensorsFile& f, const std::string& name) {
  auto it = f.tensors.find(name);
  return it == f.tensors.end() ? std::vector<float>{} : it->second.to_f32();
}
int dim(const SafetensorsFile& f, const std::string& name, std::size_t axis) {
  return static_cast<int>(f.tensors.at(name).shape.at(axis));
}
std::size_t rank(const SafetensorsFile& f, const std::string& name) { return f.tensors.at(name).shape.size(); }

bool flag(const KernelFlags& flags, const std::string& name) {
  auto it = flags.find(name);
  return it != flags.end() && (it->second == "1" || it->second == "true");
}

// Column t of a [..., L] tensor.
std::vector<float> step_of(const std::vector<float>& v, std::size_t length, std::size_t t) {
  std::vector<float> column(v.size() / length);
  for (std::size_t i = 0; i < column.size(); ++i) column[i] = v[i * length + t];
  return column;
}

Case refdata_case(const std::filesystem::path& file) {
  const SafetensorsFile f = read_safetensors(file);
  const std::string kernel = f.metadata.count("kernel") ? f.metadata.at("kernel") : "";
  const KernelFlags flags =
      parse_kernel_flags(f.metadata.count("flags") ? f.metadata.at("flags") : "", file.filename().string());
  Case c;
  c.name = file.stem().string();
  if (kernel == "selective_scan") {
    Phase p;
    p.kernel = Kernel::selective_scan;
    p.batch = dim(f, "u", 0), p.dim = dim(f, "u", 1), p.length = dim(f, "u", 2), p.state = dim(f, "A", 1);
    p.groups = rank(f, "B") == 4 ? dim(f, "B", 1) : 1;
    p.u = tensor(f, "u"), p.delta = tensor(f, "delta"), p.A = tensor(f, "A"), p.B = tensor(f, "B");
    p.C = tensor(f, "C"), p.D = optional(f, "D"), p.z = optional(f, "z"), p.bias = optional(f, "delta_bias");
    p.softplus = flag(flags, "delta_softplus");
    c.phases.push_back(std::move(p));
  } else if (kernel == "selective_state_update") {
    Phase p;
    p.kernel = Kernel::state_update;
    p.batch = dim(f, "x", 0), p.dim = dim(f, "x", 1), p.state = dim(f, "A", 1);
    p.groups = rank(f, "B") == 3 ? dim(f, "B", 1) : 1;
    p.state_in = tensor(f, "state"), p.u = tensor(f, "x"), p.delta = tensor(f, "dt"), p.A = tensor(f, "A");
    p.B = tensor(f, "B"), p.C = tensor(f, "C"), p.D = optional(f, "D"), p.z = optional(f, "z");
    p.bias = optional(f, "dt_bias");
    p.softplus = flag(flags, "dt_softplus");
    c.phases.push_back(std::move(p));
  } else if (kernel == "selective_state_update_mh") {
    Phase p;
    p.kernel = Kernel::state_update_multihead;
    p.batch = dim(f, "x", 0), p.dim = dim(f, "x", 1), p.head_dim = dim(f, "x", 2), p.state = dim(f, "state", 3);
    p.groups = dim(f, "B", 1);
    p.state_in = tensor(f, "state"), p.u = tensor(f, "x"), p.delta = tensor(f, "dt"), p.A = tensor(f, "A");
    p.B = tensor(f, "B"), p.C = tensor(f, "C"), p.D = optional(f, "D"), p.z = optional(f, "z");
    p.bias = optional(f, "dt_bias");
    p.softplus = flag(flags, "dt_softplus");
    c.phases.push_back(std::move(p));
  } else if (kernel == "selective_state_update_multistep") {
    // L decode steps, each resuming the state the previous one stored.
    const int b = dim(f, "u", 0), d = dim(f, "u", 1), l = dim(f, "u", 2), n = dim(f, "A", 1);
    const auto u = tensor(f, "u"), delta = tensor(f, "delta"), B = tensor(f, "B"), C = tensor(f, "C"),
               z = optional(f, "z");
    for (int t = 0; t < l; ++t) {
      Phase p;
      p.kernel = Kernel::state_update;
      p.batch = b, p.dim = d, p.state = n;
      if (t == 0) p.state_in = tensor(f, "state0");
      p.u = step_of(u, sz(l), sz(t)), p.delta = step_of(delta, sz(l), sz(t)), p.A = tensor(f, "A");
      p.B = step_of(B, sz(l), sz(t)), p.C = step_of(C, sz(l), sz(t)), p.D = optional(f, "D");
      if (!z.empty()) p.z = step_of(z, sz(l), sz(t));
      p.bias = optional(f, "delta_bias");
      p.softplus = flag(flags, "dt_softplus");
      c.phases.push_back(std::move(p));
    }
  } else if (kernel == "ssd") {
    Phase p;
    p.kernel = Kernel::ssd;
    p.batch = dim(f, "x", 0), p.length = dim(f, "x", 1), p.dim = dim(f, "x", 2), p.head_dim = dim(f, "x", 3);
    p.groups = dim(f, "B", 2), p.state = dim(f, "B", 3);
    p.u = tensor(f, "x"), p.delta = tensor(f, "dt"), p.A = tensor(f, "A"), p.B = tensor(f, "B");
    p.C = tensor(f, "C"), p.D = optional(f, "D"), p.state_in = optional(f, "initial_states");
    c.phases.push_back(std::move(p));
  } else if (kernel == "ssd_decode_multistep") {
    const std::size_t b = sz(dim(f, "x", 0)), l = sz(dim(f, "x", 1)), h = sz(dim(f, "x", 2)), hp = sz(dim(f, "x", 3)),
                      g = sz(dim(f, "B", 2)), n = sz(dim(f, "B", 3));
    const auto x = tensor(f, "x"), dt = tensor(f, "dt"), B = tensor(f, "B"), C = tensor(f, "C"), z = optional(f, "z");
    auto rows = [&](const std::vector<float>& v, std::size_t t, std::size_t width) {
      std::vector<float> out;
      for (std::size_t bi = 0; bi < b; ++bi) {
        const auto begin = v.begin() + static_cast<std::ptrdiff_t>((bi * l + t) * width);
        out.insert(out.end(), begin, begin + static_cast<std::ptrdiff_t>(width));
      }
      return out;
    };
    for (std::size_t t = 0; t < l; ++t) {
      Phase p;
      p.kernel = Kernel::state_update_multihead;
      p.batch = static_cast<int>(b), p.dim = static_cast<int>(h), p.head_dim = static_cast<int>(hp);
      p.state = static_cast<int>(n), p.groups = static_cast<int>(g);
      if (t == 0) {
        p.state_in = optional(f, "initial_states");
        if (p.state_in.empty()) p.state_in.assign(b * h * hp * n, 0.0f);
      }
      p.u = rows(x, t, h * hp), p.delta = rows(dt, t, h), p.B = rows(B, t, g * n), p.C = rows(C, t, g * n);
      if (!z.empty()) p.z = rows(z, t, h * hp);
      p.A = tensor(f, "A"), p.D = optional(f, "D"), p.bias = optional(f, "dt_bias");
      p.softplus = flag(flags, "dt_softplus");
      c.phases.push_back(std::move(p));
    }
  } else {
    throw std::invalid_argument(fmt::format("{}: kernel '{}' is not a scan kernel", file.string(), kernel));
  }
  return c;
}

}  // namespace

std::filesystem::path default_refdata_directory() { return SSMSOC_RTL_REFDATA_DIR; }

std::vector<Case> refdata_cases(const std::filesystem::path& directory) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".safetensors") continue;
    if (name.starts_with("selective_scan_") || name.starts_with("selective_state_update") || name.starts_with("ssd_"))
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<Case> cases;
  for (const auto& file : files) cases.push_back(refdata_case(file));
  return cases;
}

// ---------------------------------------------------------------------------------------
// Random cases.

namespace {

class Draw {
 public:
  explicit Draw(std::uint64_t seed) : engine_(seed) {}
  double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(engine_); }
  int integer(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(engine_); }
  bool chance(double p) { return uniform(0, 1) < p; }
  float normal() { return static_cast<float>(std::normal_distribution<double>(0, 1)(engine_)); }
  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
};

// Value ranges of a unit: the largest finite magnitudes that stay sensible (fixed: beyond
// the format, so inputs saturate; float: large but finite, so no infinities appear).
struct Ranges {
  float huge_data = 0, max_dt = 0, huge_state = 0;
};

Ranges ranges_of(const ScanUnit& unit) {
  Ranges r;
  if (numerics::is_fixed(unit.data_format)) {
    const auto d = numerics::fixed_format(unit.data_format), s = numerics::fixed_format(unit.state_format);
    r.huge_data = static_cast<float>(d.max_value() * 4);
    r.max_dt = static_cast<float>(d.max_value());
    r.huge_state = static_cast<float>(s.max_value() * 4);
  } else {
    r.huge_data = 1e3f;
    r.max_dt = 1e2f;
    r.huge_state = 1e4f;
  }
  return r;
}

// A random phase of `kernel` with edge values mixed in when `edgy`.
Phase random_phase(Draw& draw, const ScanUnit& unit, Kernel kernel, bool edgy) {
  const Ranges range = ranges_of(unit);
  Phase p;
  p.kernel = kernel;
  const int lanes = unit.lanes, max_n = unit.max_state;
  const int choices[] = {1, max_n, std::min(lanes, max_n), std::min(lanes + 1, max_n), draw.integer(1, max_n)};
  p.state = choices[draw.integer(0, 4)];
  p.batch = draw.integer(1, 2);
  const bool mamba2 = kernel == Kernel::state_update_multihead || kernel == Kernel::ssd;
  p.dim = mamba2 ? draw.integer(1, 3) : draw.integer(1, 4);
  p.head_dim = mamba2 ? draw.integer(1, 3) : 1;
  p.groups = (p.dim % 2 == 0 && draw.chance(0.5)) ? 2 : 1;
  const bool sequence = kernel == Kernel::selective_scan || kernel == Kernel::ssd;
  p.length = sequence ? (draw.chance(0.2) ? 1 : draw.integer(2, 24)) : 1;
  const std::size_t b = sz(p.batch), d = sz(p.dim), hp = sz(p.head_dim), l = sz(p.length), n = sz(p.state),
                    g = sz(p.groups);

  auto value = [&](float typical) {
    if (edgy && draw.chance(0.05)) return draw.chance(0.5) ? range.huge_data : -range.huge_data;
    if (edgy && draw.chance(0.05)) return 0.0f;
    return typical;
  };
  auto normals = [&](std::size_t count) {
    std::vector<float> v(count);
    for (auto& x : v) x = value(draw.normal());
    return v;
  };
  auto dts = [&](std::size_t count, bool raw_softplus) {
    std::vector<float> v(count);
    for (auto& x : v) {
      x = raw_softplus ? static_cast<float>(draw.uniform(-4.0, 1.0)) : static_cast<float>(draw.uniform(0.0, 0.5));
      if (edgy && draw.chance(0.08)) x = 0.0f;
      if (edgy && draw.chance(0.05)) x = range.max_dt;
    }
    return v;
  };
  auto decays = [&](std::size_t count) {
    std::vector<float> v(count);
    for (auto& x : v) {
      x = static_cast<float>(-std::exp(draw.uniform(0.0, std::log(16.0))));
      if (edgy && draw.chance(0.05)) x = -range.huge_data;
    }
    return v;
  };
  auto states = [&](std::size_t count) {
    std::vector<float> v(count);
    for (auto& x : v) {
      x = 2.0f * draw.normal();
      if (edgy && draw.chance(0.05)) x = draw.chance(0.5) ? range.huge_state : -range.huge_state;
    }
    return v;
  };
  const bool with_D = draw.chance(0.7), with_z = kernel != Kernel::ssd && draw.chance(0.6);
  p.softplus = kernel != Kernel::ssd && draw.chance(0.7);
  const bool with_bias = kernel != Kernel::ssd && draw.chance(0.5);
  switch (kernel) {
    case Kernel::selective_scan:
      p.u = normals(b * d * l), p.delta = dts(b * d * l, p.softplus), p.A = decays(d * n);
      p.B = normals(b * g * n * l), p.C = normals(b * g * n * l);
      if (with_z) p.z = normals(b * d * l);
      if (with_D) p.D = normals(d);
      if (with_bias) p.bias = normals(d);
      break;
    case Kernel::state_update:
      p.state_in = states(b * d * n);
      p.u = normals(b * d), p.delta = dts(b * d, p.softplus), p.A = decays(d * n);
      p.B = normals(b * g * n), p.C = normals(b * g * n);
      if (with_z) p.z = normals(b * d);
      if (with_D) p.D = normals(d);
      if (with_bias) p.bias = normals(d);
      break;
    case Kernel::state_update_multihead:
      p.state_in = states(b * d * hp * n);
      p.u = normals(b * d * hp), p.delta = dts(b * d, p.softplus), p.A = decays(d);
      p.B = normals(b * g * n), p.C = normals(b * g * n);
      if (with_z) p.z = normals(b * d * hp);
      if (with_D) p.D = normals(d);
      if (with_bias) p.bias = normals(d);
      break;
    case Kernel::ssd:
      if (draw.chance(0.5)) p.state_in = states(b * d * hp * n);
      p.u = normals(b * l * d * hp), p.delta = dts(b * l * d, false), p.A = decays(d);
      p.B = normals(b * l * g * n), p.C = normals(b * l * g * n);
      if (with_D) p.D = normals(d);
      break;
  }
  return p;
}

// Splits a sequence phase at step `at` into two phases (the second resumes the first's state).
std::vector<Phase> split(const Phase& p, int at) {
  const std::size_t b = sz(p.batch), d = sz(p.dim), hp = sz(p.head_dim), l = sz(p.length), n = sz(p.state),
                    g = sz(p.groups);
  std::vector<Phase> parts(2, p);
  const std::size_t lens[2] = {sz(at), l - sz(at)};
  for (int part = 0; part < 2; ++part) {
    Phase& q = parts[sz(part)];
    const std::size_t t0 = part == 0 ? 0 : sz(at), len = lens[part];
    q.length = static_cast<int>(len);
    if (part == 1) q.state_in.clear();
    if (p.kernel == Kernel::selective_scan) {
      // [.., L] layouts: u, delta, z [b, d, L]; B, C [b, g, n, L].
      auto cut = [&](const std::vector<float>& v, std::size_t rows) {
        std::vector<float> out;
        if (v.empty()) return out;
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t t = 0; t < len; ++t) out.push_back(v[r * l + t0 + t]);
        return out;
      };
      q.u = cut(p.u, b * d), q.delta = cut(p.delta, b * d), q.z = cut(p.z, b * d);
      q.B = cut(p.B, b * g * n), q.C = cut(p.C, b * g * n);
    } else {
      // [b, L, ...] layouts: x [b, L, H, P]; dt [b, L, H]; B, C [b, L, G, N].
      auto cut = [&](const std::vector<float>& v, std::size_t width) {
        std::vector<float> out;
        for (std::size_t bi = 0; bi < b; ++bi)
          for (std::size_t t = 0; t < len; ++t)
            for (std::size_t i = 0; i < width; ++i) out.push_back(v[((bi * l) + t0 + t) * width + i]);
        return out;
      };
      q.u = cut(p.u, d * hp), q.delta = cut(p.delta, d), q.B = cut(p.B, g * n), q.C = cut(p.C, g * n);
    }
  }
  return parts;
}

}  // namespace

std::vector<Case> random_cases(const ScanUnit& unit, std::uint64_t seed, int count) {
  Draw draw(seed);
  std::vector<Kernel> kernels;
  if (unit.supports(ScanMode::mamba1)) kernels.insert(kernels.end(), {Kernel::selective_scan, Kernel::state_update});
  if (unit.supports(ScanMode::mamba2)) kernels.insert(kernels.end(), {Kernel::state_update_multihead, Kernel::ssd});
  std::vector<Case> cases;
  for (int i = 0; i < count; ++i) {
    const Kernel kernel = kernels[sz(draw.integer(0, static_cast<int>(kernels.size()) - 1))];
    const bool edgy = draw.chance(0.4);
    Phase p = random_phase(draw, unit, kernel, edgy);
    Case c;
    c.name = fmt::format("random {} #{} ({}, N={}, L={}{})", seed, i, kernel_name(kernel), p.state, p.length,
                         edgy ? ", edge values" : "");
    if (draw.chance(0.25)) {
      c.drive.in_stall = draw.uniform(0.0, 0.5);
      c.drive.out_stall = draw.uniform(0.0, 0.5);
      c.drive.seed = seed * 1000 + static_cast<std::uint64_t>(i);
    }
    const bool sequence = kernel == Kernel::selective_scan || kernel == Kernel::ssd;
    if (sequence && p.length >= 2 && draw.chance(0.3)) {
      c.name += ", resumed";
      c.phases = split(p, draw.integer(1, p.length - 1));
    } else if (!sequence && draw.chance(0.3)) {
      // Two decode steps: the second resumes the first's stored state.
      c.name += ", 2 decode steps";
      Phase second = p;
      for (auto& v : second.u) v = draw.normal();
      for (auto& v : second.delta) v = static_cast<float>(draw.uniform(-4.0, 1.0));
      for (auto& v : second.B) v = draw.normal();
      for (auto& v : second.C) v = draw.normal();
      second.state_in.clear();
      c.phases = {p, second};
    } else {
      c.phases = {p};
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

}  // namespace ssmsoc::rtl
