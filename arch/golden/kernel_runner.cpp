#include "arch/golden/kernel_runner.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>
#include <stdexcept>

#include "arch/golden/fixed_scan.hpp"
#include "arch/golden/kernels.hpp"
#include "arch/golden/mamba3.hpp"
#include "arch/spec/config_tree.hpp"

namespace ssmsoc {

using namespace golden;

KernelFlags parse_kernel_flags(const std::string& text, const std::string& where) {
  KernelFlags flags;
  std::stringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ConfigError(fmt::format("{}: flags: expected name=value, got '{}'", where, item));
    flags[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return flags;
}

namespace {

using Shape = std::vector<std::int64_t>;

// The largest integer flag (chunk_size, group_size): a chunk of 10^9 tokens once allocated
// 12.5 GB before failing.
constexpr double kMaxIntegerFlag = 4096;

// The inputs of one run: tensors by name and the effective flags, with errors that name
// the source, the kernel and the tensor or flag.
class Inputs {
 public:
  Inputs(const SafetensorsFile& file, std::string source, std::string kernel, KernelFlags flags, const ScanUnit* unit)
      : file_(file), source_(std::move(source)), kernel_(std::move(kernel)), flags_(std::move(flags)), unit_(unit) {}

  const KernelFlags& flags() const { return flags_; }
  // The scan unit to run bit-accurately, or null for the float golden kernels.
  const ScanUnit* unit() const { return unit_; }
  void require_float() const {
    if (unit_) fail("has no bit-accurate version (the scan unit runs the scan and state-update kernels)");
  }

  std::vector<float> tensor(const std::string& name) const { return finite(name, get(name).to_f32()); }
  std::vector<float> optional(const std::string& name) const {
    auto it = file_.tensors.find(name);
    return it == file_.tensors.end() ? std::vector<float>{} : finite(name, it->second.to_f32());
  }
  bool has(const std::string& name) const { return file_.tensors.count(name) != 0; }
  // The tensor, if present, has exactly this shape (another shape with the same element count
  // would be read in the wrong layout).
  void expect(const std::string& name, const Shape& expected) const {
    auto it = file_.tensors.find(name);
    if (it == file_.tensors.end() || it->second.shape == expected) return;
    // Another element count is reported by the kernel itself, with its own message.
    if (element_count(it->second.shape) != element_count(expected)) return;
    fail(fmt::format("tensor '{}': expected shape {}, got {}", name, shape_text(expected),
                     shape_text(it->second.shape)));
  }
  const Shape& shape(const std::string& name) const { return get(name).shape; }
  int dim(const std::string& name, std::size_t axis, std::size_t rank) const {
    const Shape& s = shape(name);
    if (s.size() != rank) fail(fmt::format("tensor '{}': expected {} dimensions, got {}", name, rank, s.size()));
    return static_cast<int>(s[axis]);
  }

  // The flags the kernel read: the only ones --flag may set.
  const std::set<std::string>& flags_read() const { return read_; }

  bool flag(const std::string& name, bool fallback) const {
    read_.insert(name);
    auto it = flags_.find(name);
    if (it == flags_.end()) return fallback;
    if (it->second == "1" || it->second == "true") return true;
    if (it->second == "0" || it->second == "false") return false;
    fail(fmt::format("flags: '{}' expected 0 or 1, got '{}'", name, it->second));
  }
  double number(const std::string& name) const {
    const std::string& text = required_flag(name);
    try {
      std::size_t used = 0;
      const double value = std::stod(text, &used);
      if (used == text.size()) return value;
    } catch (const std::exception&) {
    }
    fail(fmt::format("flags: '{}' expected a number, got '{}'", name, text));
  }
  int integer(const std::string& name) const {
    const double value = number(name);
    if (!(value >= 1 && value <= kMaxIntegerFlag) || value != static_cast<int>(value))
      fail(fmt::format("flags: '{}' expected an integer in 1..{}, got '{}'", name, kMaxIntegerFlag,
                       required_flag(name)));
    return static_cast<int>(value);
  }
  golden::Activation activation() const {
    const std::string& text = required_flag("activation");
    if (text == "silu" || text == "swish") return golden::Activation::silu;
    if (text == "none") return golden::Activation::none;
    fail(fmt::format("flags: 'activation' expected silu or none, got '{}'", text));
  }

  [[noreturn]] void fail(const std::string& message) const {
    throw ConfigError(fmt::format("{}: kernel {}: {}", source_, kernel_, message));
  }

 private:
  const Tensor& get(const std::string& name) const {
    auto it = file_.tensors.find(name);
    if (it == file_.tensors.end()) fail(fmt::format("tensor '{}': missing", name));
    return it->second;
  }
  static std::int64_t element_count(const Shape& shape) {
    std::int64_t count = 1;
    for (std::int64_t d : shape) count *= d;
    return count;
  }
  static std::string shape_text(const Shape& shape) {
    std::string out = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
    return out + "]";
  }
  // Kernel inputs must be finite: a NaN or infinity would only come back as NaN outputs.
  std::vector<float> finite(const std::string& name, std::vector<float> values) const {
    const auto bad = std::find_if(values.begin(), values.end(), [](float v) { return !std::isfinite(v); });
    if (bad != values.end())
      fail(fmt::format("tensor '{}': element {} is {}, expected finite inputs", name, bad - values.begin(), *bad));
    return values;
  }
  const std::string& required_flag(const std::string& name) const {
    read_.insert(name);
    auto it = flags_.find(name);
    if (it == flags_.end()) fail(fmt::format("flags: '{}' missing", name));
    return it->second;
  }

  const SafetensorsFile& file_;
  std::string source_, kernel_;
  KernelFlags flags_;
  const ScanUnit* unit_;
  mutable std::set<std::string> read_;
};

// State updates, one step at a time, on the float kernels or on the scan unit; on the unit
// the raw state is carried from step to step, as the hardware keeps it.
class Stepper {
 public:
  explicit Stepper(const ScanUnit* unit) : unit_(unit) {}
  ScanResult step(const StateUpdateArgs& a) {
    if (!unit_) return selective_state_update(a);
    return keep(fixed::selective_state_update(a, *unit_, raw_));
  }
  ScanResult step(const MultiHeadStateUpdateArgs& a) {
    if (!unit_) return selective_state_update_multihead(a);
    return keep(fixed::selective_state_update_multihead(a, *unit_, raw_));
  }

 private:
  ScanResult keep(fixed::ScanOutput output) {
    raw_ = std::move(output.state_raw);
    return std::move(output.result);
  }
  const ScanUnit* unit_;
  std::vector<std::int64_t> raw_;
};

using Outputs = std::map<std::string, Tensor>;

Outputs conv1d(const Inputs& in) {
  in.require_float();
  const int b = in.dim("x", 0, 3), d = in.dim("x", 1, 3), l = in.dim("x", 2, 3), w = in.dim("weight", 1, 2);
  in.expect("weight", {d, w});
  in.expect("bias", {d});
  in.expect("initial_states", {b, d, w - 1});
  (void)l;
  const ConvResult r = causal_conv1d(b, d, l, w, in.tensor("x"), in.tensor("weight"), in.optional("bias"),
                                     in.optional("initial_states"), in.activation());
  return {{"out", Tensor::from_f32(in.shape("x"), r.out)},
          {"final_states", Tensor::from_f32({b, d, w - 1}, r.conv_state)}};
}

Outputs conv1d_update(const Inputs& in, bool multistep) {
  in.require_float();
  const std::string state = multistep ? "conv_state0" : "conv_state";
  const bool stepped = in.shape("x").size() == 3;
  const int b = in.dim(state, 0, 3), d = in.dim(state, 1, 3), s = in.dim(state, 2, 3);
  const int t = stepped ? in.dim("x", 2, 3) : 1;
  in.expect("x", stepped ? Shape{b, d, t} : Shape{b, d});
  const int w = in.dim("weight", 1, 2);
  in.expect("weight", {d, w});
  in.expect("bias", {d});
  const ConvResult r = causal_conv1d_update(b, d, t, in.dim("weight", 1, 2), s, in.tensor("x"), in.tensor(state),
                                            in.tensor("weight"), in.optional("bias"), in.activation());
  return {{"out", Tensor::from_f32(in.shape("x"), r.out)},
          {multistep ? "final_conv_state" : "new_conv_state", Tensor::from_f32({b, d, s}, r.conv_state)}};
}

Outputs norm(const Inputs& in, bool gated) {
  in.require_float();
  const int n = in.dim("weight", 0, 1);
  const Shape& x_shape = in.shape("x");
  if (x_shape.empty() || x_shape.back() != n)
    in.fail(fmt::format("tensor 'x': expected a last dimension of {} (the weight's), got {} dimensions ending in {}", n,
                        x_shape.size(), x_shape.empty() ? 0 : x_shape.back()));
  in.expect("z", x_shape);
  const auto x = in.tensor("x");
  const int rows = static_cast<int>(x.size() / std::max(n, 1));
  const float eps = static_cast<float>(in.number("eps"));
  std::vector<float> out = gated ? gated_rmsnorm(rows, n, in.integer("group_size"), x, in.optional("z"),
                                                 in.tensor("weight"), eps, in.flag("norm_before_gate", false))
                                 : rmsnorm(rows, n, x, in.tensor("weight"), eps);
  return {{"out", Tensor::from_f32(in.shape("x"), out)}};
}

Outputs scan(const Inputs& in) {
  SelectiveScanArgs a;
  a.batch = in.dim("u", 0, 3), a.dim = in.dim("u", 1, 3), a.length = in.dim("u", 2, 3);
  a.state = in.dim("A", 1, 2);
  const bool grouped = in.shape("B").size() == 4;  // [b, G, N, L] or [b, N, L]
  a.groups = grouped ? in.dim("B", 1, 4) : 1;
  const Shape bd{a.batch, a.dim, a.length},
      bc = grouped ? Shape{a.batch, a.groups, a.state, a.length} : Shape{a.batch, a.state, a.length};
  in.expect("delta", bd), in.expect("z", bd), in.expect("A", {a.dim, a.state});
  in.expect("B", bc), in.expect("C", bc), in.expect("D", {a.dim}), in.expect("delta_bias", {a.dim});
  const auto u = in.tensor("u"), delta = in.tensor("delta"), A = in.tensor("A"), B = in.tensor("B"), C = in.tensor("C"),
             D = in.optional("D"), z = in.optional("z"), bias = in.optional("delta_bias");
  a.u = u, a.delta = delta, a.A = A, a.B = B, a.C = C, a.D = D, a.z = z, a.delta_bias = bias;
  a.delta_softplus = in.flag("delta_softplus", false);
  const ScanResult r = in.unit() ? fixed::selective_scan(a, *in.unit()).result : selective_scan(a);
  return {{"out", Tensor::from_f32(in.shape("u"), r.out)},
          {"last_state", Tensor::from_f32({a.batch, a.dim, a.state}, r.state)}};
}

// The tensors shared by both state-update layouts, then one step. `a` holds the dimensions.
template <class Args>
Outputs run_state_update(const Inputs& in, Args a) {
  const auto state = in.tensor("state"), x = in.tensor("x"), dt = in.tensor("dt"), A = in.tensor("A"),
             B = in.tensor("B"), C = in.tensor("C"), D = in.optional("D"), z = in.optional("z"),
             bias = in.optional("dt_bias");
  a.state_in = state, a.x = x, a.dt = dt, a.A = A, a.B = B, a.C = C, a.D = D, a.z = z, a.dt_bias = bias;
  a.dt_softplus = in.flag("dt_softplus", false);
  const ScanResult r = Stepper(in.unit()).step(a);
  return {{"out", Tensor::from_f32(in.shape("x"), r.out)}, {"new_state", Tensor::from_f32(in.shape("state"), r.state)}};
}

Outputs state_update(const Inputs& in) {
  StateUpdateArgs a;
  a.batch = in.dim("x", 0, 2), a.dim = in.dim("x", 1, 2), a.state = in.dim("A", 1, 2);
  a.groups = in.shape("B").size() == 3 ? in.dim("B", 1, 3) : 1;
  const Shape bc = in.shape("B").size() == 3 ? Shape{a.batch, a.groups, a.state} : Shape{a.batch, a.state};
  in.expect("state", {a.batch, a.dim, a.state}), in.expect("dt", {a.batch, a.dim}), in.expect("z", {a.batch, a.dim});
  in.expect("B", bc), in.expect("C", bc), in.expect("D", {a.dim}), in.expect("dt_bias", {a.dim});
  return run_state_update(in, a);
}

Outputs state_update_multihead(const Inputs& in) {
  MultiHeadStateUpdateArgs a;
  a.batch = in.dim("x", 0, 3), a.heads = in.dim("x", 1, 3), a.head_dim = in.dim("x", 2, 3);
  a.state = in.dim("state", 3, 4), a.groups = in.dim("B", 1, 3);
  in.expect("state", {a.batch, a.heads, a.head_dim, a.state}), in.expect("z", {a.batch, a.heads, a.head_dim});
  in.expect("B", {a.batch, a.groups, a.state}), in.expect("C", {a.batch, a.groups, a.state});
  in.expect("A", {a.heads}), in.expect("D", {a.heads}), in.expect("dt_bias", {a.heads});
  return run_state_update(in, a);
}

// Column t of a [..., L] tensor: [...].
std::vector<float> step_of(const std::vector<float>& v, std::size_t length, std::size_t t) {
  std::vector<float> column(v.size() / length);
  for (std::size_t i = 0; i < column.size(); ++i) column[i] = v[i * length + t];
  return column;
}

// L decode steps of the Mamba-1 state update, in the scan's [b, D, L] layout.
Outputs state_update_multistep(const Inputs& in) {
  const int b = in.dim("u", 0, 3), d = in.dim("u", 1, 3), l = in.dim("u", 2, 3), n = in.dim("A", 1, 2);
  in.expect("delta", {b, d, l}), in.expect("z", {b, d, l}), in.expect("A", {d, n}), in.expect("B", {b, n, l});
  in.expect("C", {b, n, l}), in.expect("D", {d}), in.expect("delta_bias", {d}), in.expect("state0", {b, d, n});
  const auto u = in.tensor("u"), delta = in.tensor("delta"), A = in.tensor("A"), B = in.tensor("B"), C = in.tensor("C"),
             D = in.optional("D"), z = in.optional("z"), bias = in.optional("delta_bias");
  std::vector<float> state = in.tensor("state0"), out(u.size());
  Stepper stepper(in.unit());
  for (int t = 0; t < l; ++t) {
    const auto x = step_of(u, l, t), dt = step_of(delta, l, t), Bt = step_of(B, l, t), Ct = step_of(C, l, t);
    const auto zt = z.empty() ? z : step_of(z, l, t);
    StateUpdateArgs a;
    a.batch = b, a.dim = d, a.state = n;
    a.state_in = state, a.x = x, a.dt = dt, a.A = A, a.B = Bt, a.C = Ct, a.D = D, a.z = zt, a.dt_bias = bias;
    a.dt_softplus = in.flag("dt_softplus", false);
    ScanResult r = stepper.step(a);
    state = std::move(r.state);
    for (std::size_t i = 0; i < r.out.size(); ++i) out[i * l + t] = r.out[i];
  }
  return {{"out", Tensor::from_f32(in.shape("u"), out)}, {"last_state", Tensor::from_f32({b, d, n}, state)}};
}

SsdArgs ssd_args(const Inputs& in, std::vector<std::vector<float>>& storage) {
  SsdArgs a;
  a.batch = in.dim("x", 0, 4), a.length = in.dim("x", 1, 4), a.heads = in.dim("x", 2, 4);
  a.head_dim = in.dim("x", 3, 4), a.groups = in.dim("B", 2, 4), a.state = in.dim("B", 3, 4);
  const Shape bc{a.batch, a.length, a.groups, a.state};
  in.expect("dt", {a.batch, a.length, a.heads}), in.expect("A", {a.heads}), in.expect("B", bc), in.expect("C", bc);
  in.expect("D", {a.heads}), in.expect("initial_states", {a.batch, a.heads, a.head_dim, a.state});
  in.expect("z", in.shape("x")), in.expect("dt_bias", {a.heads});
  storage = {in.tensor("x"),
             in.tensor("dt"),
             in.tensor("A"),
             in.tensor("B"),
             in.tensor("C"),
             in.optional("D"),
             in.optional("initial_states")};
  a.x = storage[0], a.dt = storage[1], a.A = storage[2], a.B = storage[3], a.C = storage[4], a.D = storage[5];
  a.initial_state = storage[6];
  return a;
}

Outputs ssd(const Inputs& in) {
  std::vector<std::vector<float>> storage;
  const SsdArgs a = ssd_args(in, storage);
  // The scan unit runs the recurrence, so on it both results are the unit's.
  const ScanResult sequential = in.unit() ? fixed::ssd_sequential(a, *in.unit()).result : ssd_sequential(a);
  const ScanResult chunked = in.unit() ? sequential : ssd_chunked(a, in.integer("chunk_size"));
  const Shape state_shape{a.batch, a.heads, a.head_dim, a.state};
  return {{"y", Tensor::from_f32(in.shape("x"), chunked.out)},
          {"final_state", Tensor::from_f32(state_shape, chunked.state)},
          {"y_sequential", Tensor::from_f32(in.shape("x"), sequential.out)},
          {"final_state_sequential", Tensor::from_f32(state_shape, sequential.state)}};
}

// L decode steps of the Mamba-2 multi-head state update, in the SSD layout.
Outputs ssd_decode_multistep(const Inputs& in) {
  std::vector<std::vector<float>> storage;
  const SsdArgs s = ssd_args(in, storage);
  const std::size_t b = s.batch, l = s.length, h = s.heads, p = s.head_dim, g = s.groups, n = s.state;
  const auto z = in.optional("z"), bias = in.optional("dt_bias");
  std::vector<float> state = s.initial_state.empty()
                                 ? std::vector<float>(b * h * p * n)
                                 : std::vector<float>(s.initial_state.begin(), s.initial_state.end());
  std::vector<float> y(s.x.size());
  Stepper stepper(in.unit());
  auto rows = [&](std::span<const float> v, std::size_t t, std::size_t width) {
    std::vector<float> out;
    for (std::size_t bi = 0; bi < b; ++bi) {
      const auto begin = v.begin() + static_cast<std::ptrdiff_t>((bi * l + t) * width);
      out.insert(out.end(), begin, begin + static_cast<std::ptrdiff_t>(width));
    }
    return out;
  };
  for (std::size_t t = 0; t < l; ++t) {
    const auto x = rows(s.x, t, h * p), dt = rows(s.dt, t, h), Bt = rows(s.B, t, g * n), Ct = rows(s.C, t, g * n);
    const auto zt = z.empty() ? z : rows(z, t, h * p);
    MultiHeadStateUpdateArgs a;
    a.batch = s.batch, a.heads = s.heads, a.head_dim = s.head_dim, a.state = s.state, a.groups = s.groups;
    a.state_in = state, a.x = x, a.dt = dt, a.A = s.A, a.B = Bt, a.C = Ct, a.D = s.D, a.z = zt, a.dt_bias = bias;
    a.dt_softplus = in.flag("dt_softplus", false);
    ScanResult r = stepper.step(a);
    state = std::move(r.state);
    for (std::size_t bi = 0; bi < b; ++bi) std::copy_n(&r.out[bi * h * p], h * p, &y[(bi * l + t) * h * p]);
  }
  return {{"y", Tensor::from_f32(in.shape("x"), y)},
          {"final_state", Tensor::from_f32({s.batch, s.heads, s.head_dim, s.state}, state)}};
}

// ---- Mamba-3 (mamba3.hpp). The dimensions come from the tensors; the files' other flags
// (has_D, rotate, seqlen, ...) describe them. Outputs: out and the cache after the last token.

// An integer flag, or `fallback` when the file has none.
int integer_or(const Inputs& in, const std::string& name, int fallback) {
  return in.flags().count(name) ? in.integer(name) : fallback;
}

Outputs mamba3_outputs(Mamba3Result r, const Shape& out_shape, int batch, int heads, int head_dim, int state,
                       int rope_angles, const Shape& k_shape) {
  return {{"out", Tensor::from_f32(out_shape, std::move(r.out))},
          {"angle_state", Tensor::from_f32({batch, heads, rope_angles}, std::move(r.angle_state))},
          {"ssm_state", Tensor::from_f32({batch, heads, head_dim, state}, std::move(r.ssm_state))},
          {"k_state", Tensor::from_f32(k_shape, std::move(r.k_state))},
          {"v_state", Tensor::from_f32({batch, heads, head_dim}, std::move(r.v_state))}};
}

// The SISO and MIMO scans' shared inputs: q, k [b, L, (rank,) G, N], v [b, L, H, P], adt, dt,
// trap [b, H, L], angles [b, L, H, S], q_bias, k_bias [H, (rank,) N], D [H], z [b, L, H, P],
// init_* (the cache). `storage` keeps the values the spans view.
template <class Args>
void mamba3_scan_inputs(const Inputs& in, Args& a, std::size_t qk_rank,
                        std::map<std::string, std::vector<float>>& storage) {
  a.batch = in.dim("v", 0, 4), a.length = in.dim("v", 1, 4), a.heads = in.dim("v", 2, 4),
  a.head_dim = in.dim("v", 3, 4);
  a.groups = in.dim("q", qk_rank - 2, qk_rank), a.state = in.dim("q", qk_rank - 1, qk_rank);
  a.rope_angles = in.dim("angles", 3, 4);
  const Shape bhl{a.batch, a.heads, a.length};
  in.expect("adt", bhl), in.expect("dt", bhl), in.expect("trap", bhl), in.expect("D", {a.heads});
  in.expect("angles", {a.batch, a.length, a.heads, a.rope_angles}), in.expect("z", in.shape("v"));
  in.expect("init_angle_state", {a.batch, a.heads, a.rope_angles});
  in.expect("init_ssm_state", {a.batch, a.heads, a.head_dim, a.state});
  in.expect("init_v_state", {a.batch, a.heads, a.head_dim});
  for (const char* name : {"q", "k", "v", "adt", "dt", "trap", "angles", "q_bias", "k_bias"})
    storage[name] = in.tensor(name);
  for (const char* name : {"D", "z", "init_angle_state", "init_ssm_state", "init_k_state", "init_v_state"})
    storage[name] = in.optional(name);
  a.q = storage["q"], a.k = storage["k"], a.v = storage["v"], a.adt = storage["adt"], a.dt = storage["dt"];
  a.trap = storage["trap"], a.angles = storage["angles"], a.q_bias = storage["q_bias"], a.k_bias = storage["k_bias"];
  a.D = storage["D"], a.z = storage["z"];
  a.init_angle_state = storage["init_angle_state"], a.init_ssm_state = storage["init_ssm_state"];
  a.init_k_state = storage["init_k_state"], a.init_v_state = storage["init_v_state"];
}

// mamba3_scan (prefill) and mamba3_step_multistep (L decode steps): SISO, interleaved pairs.
Outputs mamba3_siso(const Inputs& in, bool steps) {
  in.require_float();
  Mamba3ScanArgs a;
  std::map<std::string, std::vector<float>> storage;
  mamba3_scan_inputs(in, a, 4, storage);
  const Shape bgn{a.batch, a.length, a.groups, a.state};
  in.expect("k", bgn), in.expect("q_bias", {a.heads, a.state}), in.expect("k_bias", {a.heads, a.state});
  in.expect("init_k_state", {a.batch, a.heads, a.state});
  Mamba3Result r = steps ? mamba3_step_multistep(a) : mamba3_scan(a);
  return mamba3_outputs(std::move(r), in.shape("v"), a.batch, a.heads, a.head_dim, a.state, a.rope_angles,
                        {a.batch, a.heads, a.state});
}

// mamba3_mimo_scan: rank R from q [b, L, R, G, N], halved pairs; mimo_x, mimo_o, mimo_z
// [H, R, P], norm_weight [H, P] (the fused out-projection norm).
Outputs mamba3_mimo(const Inputs& in) {
  in.require_float();
  Mamba3MimoScanArgs a;
  std::map<std::string, std::vector<float>> storage;
  mamba3_scan_inputs(in, a, 5, storage);
  a.rank = in.dim("q", 2, 5);
  const Shape rank_dim{a.heads, a.rank, a.head_dim};
  in.expect("k", in.shape("q")), in.expect("q_bias", {a.heads, a.rank, a.state});
  in.expect("k_bias", {a.heads, a.rank, a.state}), in.expect("init_k_state", {a.batch, a.rank, a.heads, a.state});
  in.expect("mimo_x", rank_dim), in.expect("mimo_o", rank_dim), in.expect("mimo_z", rank_dim);
  in.expect("norm_weight", {a.heads, a.head_dim});
  const auto mimo_x = in.tensor("mimo_x"), mimo_o = in.tensor("mimo_o"), mimo_z = in.optional("mimo_z"),
             norm_weight = in.optional("norm_weight");
  a.mimo_x = mimo_x, a.mimo_o = mimo_o, a.mimo_z = mimo_z, a.norm_weight = norm_weight;
  if (in.flags().count("eps")) a.eps = static_cast<float>(in.number("eps"));
  Mamba3Result r = mamba3_mimo_scan(a);
  return mamba3_outputs(std::move(r), in.shape("v"), a.batch, a.heads, a.head_dim, a.state, a.rope_angles,
                        {a.batch, a.rank, a.heads, a.state});
}

// mamba3_mixer: the Mamba3 module with its state_dict weights W.<name>; u [b, L, d_model].
// From the flags: is_mimo, is_outproj_norm (default: whether W.mimo_x / W.norm.weight are
// given), ngroups (1), num_rope_angles (else from rope_fraction, default 0.5), A_floor
// (1e-4), has_initial_states (default: whether init_* are given; then L Mamba3.step calls).
Outputs mamba3_mixer_kernel(const Inputs& in) {
  in.require_float();
  Mamba3MixerArgs a;
  a.batch = in.dim("u", 0, 3), a.length = in.dim("u", 1, 3), a.d_model = in.dim("u", 2, 3);
  a.heads = in.dim("W.D", 0, 1), a.state = in.dim("W.B_norm.weight", 0, 1), a.rank = in.dim("W.B_bias", 1, 3);
  a.head_dim = in.dim("W.out_proj.weight", 1, 2) / std::max(a.heads, 1);
  a.groups = integer_or(in, "ngroups", 1);
  a.mimo = in.flag("is_mimo", in.has("W.mimo_x"));
  a.outproj_norm = in.flag("is_outproj_norm", in.has("W.norm.weight"));
  a.rope_angles =
      in.flags().count("num_rope_angles")
          ? in.integer("num_rope_angles")
          : mamba3_rope_angles(a.state, in.flags().count("rope_fraction") ? in.number("rope_fraction") : 0.5);
  a.A_floor = in.flags().count("A_floor") ? static_cast<float>(in.number("A_floor")) : 1e-4f;
  a.decode = in.flag("has_initial_states", in.has("init_ssm_state"));
  std::map<std::string, std::vector<float>> v;
  for (const char* name : {"u", "W.in_proj.weight", "W.out_proj.weight", "W.B_norm.weight", "W.C_norm.weight",
                           "W.B_bias", "W.C_bias", "W.D", "W.dt_bias"})
    v[name] = in.tensor(name);
  for (const char* name : {"W.mimo_x", "W.mimo_o", "W.mimo_z", "W.norm.weight", "init_angle_state", "init_ssm_state",
                           "init_k_state", "init_v_state"})
    v[name] = in.optional(name);
  a.u = v["u"], a.in_proj = v["W.in_proj.weight"], a.out_proj = v["W.out_proj.weight"];
  a.B_norm = v["W.B_norm.weight"], a.C_norm = v["W.C_norm.weight"], a.B_bias = v["W.B_bias"], a.C_bias = v["W.C_bias"];
  a.D = v["W.D"], a.dt_bias = v["W.dt_bias"], a.norm = v["W.norm.weight"];
  a.mimo_x = v["W.mimo_x"], a.mimo_o = v["W.mimo_o"], a.mimo_z = v["W.mimo_z"];
  a.init_angle_state = v["init_angle_state"], a.init_ssm_state = v["init_ssm_state"];
  a.init_k_state = v["init_k_state"], a.init_v_state = v["init_v_state"];
  Mamba3Result r = mamba3_mixer(a);
  return mamba3_outputs(std::move(r), in.shape("u"), a.batch, a.heads, a.head_dim, a.state, a.rope_angles,
                        {a.batch, a.rank, a.heads, a.state});
}

using KernelFunction = std::function<Outputs(const Inputs&)>;

const std::map<std::string, KernelFunction>& kernel_table() {
  static const std::map<std::string, KernelFunction> table{
      {"causal_conv1d", conv1d},
      {"causal_conv1d_update", [](const Inputs& in) { return conv1d_update(in, false); }},
      {"causal_conv1d_update_multistep", [](const Inputs& in) { return conv1d_update(in, true); }},
      {"rmsnorm", [](const Inputs& in) { return norm(in, false); }},
      {"gated_rmsnorm", [](const Inputs& in) { return norm(in, true); }},
      {"selective_scan", scan},
      {"selective_state_update", state_update},
      {"selective_state_update_mh", state_update_multihead},
      {"selective_state_update_multistep", state_update_multistep},
      {"ssd", ssd},
      {"ssd_decode_multistep", ssd_decode_multistep},
      {"mamba3_scan", [](const Inputs& in) { return mamba3_siso(in, false); }},
      {"mamba3_step_multistep", [](const Inputs& in) { return mamba3_siso(in, true); }},
      {"mamba3_mimo_scan", mamba3_mimo},
      {"mamba3_mixer", mamba3_mixer_kernel},
  };
  return table;
}

}  // namespace

std::vector<std::string> golden_kernel_names() {
  std::vector<std::string> names;
  for (const auto& [name, run] : kernel_table()) names.push_back(name);
  return names;
}

SafetensorsFile run_kernel_case(const SafetensorsFile& input, const std::string& source, const KernelRequest& request) {
  auto meta = [&](const std::string& key) {
    auto it = input.metadata.find(key);
    return it == input.metadata.end() ? std::string{} : it->second;
  };
  const std::string kernel = request.kernel.empty() ? meta("kernel") : request.kernel;
  if (kernel.empty()) throw ConfigError(fmt::format("{}: metadata: no 'kernel' (and none given)", source));
  auto entry = kernel_table().find(kernel);
  if (entry == kernel_table().end()) {
    std::string known;
    for (const auto& name : golden_kernel_names()) known += (known.empty() ? "" : ", ") + name;
    throw ConfigError(fmt::format("{}: unknown kernel '{}'; known kernels: {}", source, kernel, known));
  }
  KernelFlags flags = parse_kernel_flags(meta("flags"), source);
  for (const auto& [name, value] : request.overrides) flags[name] = value;
  // Parameters some files give as separate metadata keys rather than flags.
  for (const char* key : {"eps", "group_size", "chunk_size", "activation"})
    if (!flags.count(key) && !meta(key).empty()) flags[key] = meta(key);
  const Inputs inputs(input, source, kernel, flags, request.unit);

  Outputs produced;
  try {
    produced = entry->second(inputs);
  } catch (const std::invalid_argument& e) {
    inputs.fail(e.what());
  }
  // --flag sets only what the kernel reads: a file's other flags describe it (width, has_bias)
  // and follow from the tensors, so overriding them would only mislabel the output.
  for (const auto& [name, value] : request.overrides) {
    if (inputs.flags_read().count(name)) continue;
    std::string used;
    for (const auto& read : inputs.flags_read()) used += (used.empty() ? "" : ", ") + read;
    inputs.fail(
        fmt::format("--flag {}: not a flag this kernel reads (it reads: {})", name, used.empty() ? "none" : used));
  }
  SafetensorsFile result;
  std::string flag_text;
  for (const auto& [name, value] : flags)
    flag_text += fmt::format("{}{}={}", flag_text.empty() ? "" : ",", name, value);
  result.metadata = {{"kernel", kernel}, {"flags", flag_text}, {"format", request.format_name}};
  std::stringstream names(meta("outputs"));
  std::string name;
  bool listed = false;
  while (std::getline(names, name, ',')) {
    if (name.empty()) continue;
    listed = true;
    auto it = produced.find(name);
    if (it == produced.end()) inputs.fail(fmt::format("metadata: output '{}' is not one this kernel produces", name));
    result.tensors.emplace(name, std::move(it->second));
  }
  if (!listed) result.tensors = std::move(produced);
  return result;
}

}  // namespace ssmsoc
