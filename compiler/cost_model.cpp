#include "compiler/cost_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "arch/golden/scan_algorithms.hpp"

namespace ssmsoc::compiler {

namespace {

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// Passes of a vector function over rows x cols (composites as their basic functions).
std::vector<std::pair<VectorFunction, std::int64_t>> passes(ssm_vector_function f, std::int64_t rows,
                                                            std::int64_t cols) {
  const std::int64_t e = rows * cols;
  using V = VectorFunction;
  switch (f) {
    case SSM_VEC_RMSNORM:
      return {{V::mul, e}, {V::reduce_sum, e}, {V::rsqrt, rows}, {V::mul, e}, {V::mul, e}};
    case SSM_VEC_GATED_RMSNORM:
      return {{V::silu, e}, {V::mul, e}, {V::mul, e}, {V::reduce_sum, e}, {V::rsqrt, rows}, {V::mul, e}, {V::mul, e}};
    case SSM_VEC_SOFTMAX:
      return {{V::reduce_max, e}, {V::add, e}, {V::exp, e}, {V::reduce_sum, e}, {V::recip, rows}, {V::mul, e}};
    case SSM_VEC_TOPK:
      return {{V::reduce_max, e}, {V::max, e}};
    case SSM_VEC_ROPE:
      return {{V::mul, e}, {V::fma, e}};
    case SSM_VEC_SCALE:
      return {{V::mul, e}};
    default:
      return {{static_cast<V>(f), e}};
  }
}

}  // namespace

CostModel::CostModel(const Profile& profile) : profile_(profile) {
  const double hz = profile.clock_mhz * 1e6;
  dram_bytes_per_cycle_ = profile.dram.bandwidth_gb_per_s * 1e9 / hz;
  gb_bytes_per_cycle_ = double(profile.global_buffer.banks) * profile.global_buffer.bytes_per_cycle_per_bank;
  dram_latency_cycles_ = std::ceil(profile.dram.latency_ns * profile.clock_mhz / 1000.0);
  const auto silicon = scanalgo::silicon_of(profile);
  ssd_precision_ = silicon.matrix_input;
  for (Precision p : {Precision::fp32, Precision::tf32, Precision::bf16, Precision::fp16})
    if (profile.tile.matrix.macs_per_cycle.count(p)) has_float_matrix_ = true;
}

double CostModel::gemm_cycles(std::int64_t m, std::int64_t n, std::int64_t k, Precision p) const {
  const MatrixArray& a = profile_.tile.matrix;
  auto it = a.macs_per_cycle.find(p);
  const double macs = it != a.macs_per_cycle.end() ? double(it->second) : double(a.macs_per_cycle.begin()->second) / 4;
  const double padded = double(m) * double(ceil_div(n, a.cols) * a.cols) * double(ceil_div(k, a.rows) * a.rows);
  return std::ceil(padded / macs) + a.rows + a.cols;
}

double CostModel::scan_cycles(std::int64_t channels, std::int64_t head_dim, std::int64_t state,
                              std::int64_t length) const {
  const ScanUnit& s = profile_.tile.scan;
  return double(s.pipeline_depth) + double(ceil_div(channels * head_dim * state, std::max(1, s.lanes))) * length;
}

double CostModel::vector_cycles(ssm_vector_function f, std::int64_t rows, std::int64_t cols) const {
  const VectorUnit& v = profile_.tile.vector;
  double cycles = 0;
  for (auto [fn, elements] : passes(f, rows, cols)) {
    const VectorCost& c = v[fn];
    cycles += std::ceil(double(elements) * c.cycles_per_element / v.lanes) + c.latency_cycles;
  }
  return cycles;
}

double CostModel::work_cycles(const Work& w) const {
  switch (w.opcode) {
    case SSM_OP_GEMM:
      return gemm_cycles(w.m, w.n, w.k, w.precision);
    case SSM_OP_SCAN:
      return scan_cycles(w.channels, w.head_dim, w.state, w.length);
    default:
      return vector_cycles(w.function, w.rows, w.cols);
  }
}

double CostModel::work_cycles(const std::vector<Work>& ws) const {
  double c = 0;
  for (const Work& w : ws) c += work_cycles(w);
  return c;
}

double CostModel::dma_cycles(std::int64_t bytes, bool dram, int tiles) const {
  const double bw = dram ? dram_bytes_per_cycle_ : gb_bytes_per_cycle_;
  const double link = profile_.noc.link_bytes_per_cycle;
  const double share = std::min(link, bw / std::max(1, tiles));
  return std::ceil(double(bytes) / share) + (dram ? dram_latency_cycles_ : profile_.global_buffer.latency_cycles);
}

namespace {

Work vec(ssm_vector_function f, std::int64_t rows, std::int64_t cols) {
  Work w;
  w.engine = SSM_ENGINE_VECTOR;
  w.opcode = SSM_OP_VECTOR;
  w.function = f;
  w.rows = rows;
  w.cols = cols;
  return w;
}

Work mm(std::int64_t m, std::int64_t n, std::int64_t k, Precision p) {
  Work w;
  w.engine = SSM_ENGINE_MATRIX;
  w.opcode = SSM_OP_GEMM;
  w.m = m, w.n = n, w.k = k, w.precision = p;
  return w;
}

}  // namespace

std::vector<Work> scan_work(const PrimOp& op, ScanKernel kernel, std::int64_t c, std::int64_t length,
                            const Profile& profile) {
  const ScanUnit& unit = profile.tile.scan;
  const std::int64_t p = op.version == 2 ? op.head_dim : 1, n = op.state, L = length;
  const std::int64_t g =
      op.version == 2 ? std::max<std::int64_t>(1, op.groups * c / std::max<std::int64_t>(1, op.channels)) : 1;
  const std::int64_t cp = c * p;  // output columns
  std::vector<Work> out;
  const bool decode = L == 1 && op.length == 1;
  if (kernel == ScanKernel::native || kernel == ScanKernel::native_split) {
    const bool softplus = op.softplus && unit.fuses(FusedOp::delta_softplus);
    const bool gate = op.gate && unit.fuses(FusedOp::silu_gate) && kernel == ScanKernel::native;
    const bool skip = op.skip && unit.fuses(FusedOp::d_skip);
    if (op.softplus && !softplus) out.push_back(vec(SSM_VEC_SOFTPLUS, L, c));
    const int passes = kernel == ScanKernel::native ? 1 : static_cast<int>(ceil_div(n, std::max(1, unit.max_state)));
    for (int i = 0; i < passes; ++i) {
      Work w;
      w.engine = SSM_ENGINE_SCAN;
      w.opcode = SSM_OP_SCAN;
      w.variant = op.version == 1 ? (decode ? SSM_SCAN_STATE_UPDATE : SSM_SCAN_SELECTIVE)
                                  : (decode ? SSM_SCAN_MULTIHEAD_UPDATE : SSM_SCAN_SSD);
      w.channels = c, w.head_dim = p, w.length = L, w.state = ceil_div(n, passes), w.groups = g;
      w.softplus = softplus;
      w.gate = gate;
      w.skip = skip && i == 0;
      out.push_back(w);
    }
    if (passes > 1) out.push_back(vec(SSM_VEC_ADD, L * (passes - 1), cp));
    if (op.skip && !skip) out.push_back(vec(SSM_VEC_FMA, L, cp));
    if (op.gate && !gate) {
      out.push_back(vec(SSM_VEC_SILU, L, cp));
      out.push_back(vec(SSM_VEC_MUL, L, cp));
    }
    return out;
  }
  const std::int64_t e = cp * n;  // state elements per token
  if (op.softplus) out.push_back(vec(SSM_VEC_SOFTPLUS, L, c));
  if (kernel == ScanKernel::chunked_ssd) {
    const Precision mp = CostModel(profile).ssd_precision();
    const std::int64_t q = std::min<std::int64_t>(op.chunk, L), nc = ceil_div(L, q);
    out.push_back(vec(SSM_VEC_ADD, L, c));           // cumulative sums of dt*A per head
    out.push_back(mm(q * nc * g, q, n, mp));         // C·Bᵀ per chunk and group
    out.push_back(vec(SSM_VEC_EXP, nc * c * q, q));  // segment-sum decays
    out.push_back(vec(SSM_VEC_MUL, nc * c * q, q));  // masked, decay-weighted scores
    out.push_back(mm(q * nc * c, p, q, mp));         // diagonal block outputs
    out.push_back(mm(n * nc * c, p, q, mp));         // chunk states
    out.push_back(vec(SSM_VEC_FMA, nc, c * p * n));  // inter-chunk recurrence
    out.push_back(mm(q * nc * c, p, n, mp));         // state-to-output
    out.push_back(vec(SSM_VEC_ADD, L, cp));          // diagonal + off-diagonal
  } else {
    if (op.version == 1) out.push_back(vec(SSM_VEC_MUL, L, e));  // dt·A per state element
    out.push_back(vec(SSM_VEC_EXP, L, op.version == 1 ? e : c));
    out.push_back(vec(SSM_VEC_MUL, L, e));  // dt·B·x
    if (kernel == ScanKernel::parallel_prefix && !decode) {
      // Blelloch up-sweep and down-sweep: each combines (a, b) pairs with a mul and an fma.
      for (int sweep = 0; sweep < 2; ++sweep) {
        out.push_back(vec(SSM_VEC_MUL, L, e));
        out.push_back(vec(SSM_VEC_FMA, L, e));
      }
    } else {
      out.push_back(vec(SSM_VEC_FMA, L, e));  // h = a·h + b, one step after another
    }
    out.push_back(vec(SSM_VEC_MUL, L, e));              // h·C
    out.push_back(vec(SSM_VEC_REDUCE_SUM, L * cp, n));  // over the state
  }
  if (op.skip) out.push_back(vec(SSM_VEC_FMA, L, cp));
  if (op.gate) {
    out.push_back(vec(SSM_VEC_SILU, L, cp));
    out.push_back(vec(SSM_VEC_MUL, L, cp));
  }
  return out;
}

namespace {

struct Candidate {
  ScanKernel kernel;
  double cycles;
  std::string note;
};

// Cycles of one session's tokens of the op on all tiles (channels split evenly), with the
// per-step latency of a sequential scan counted once per token.
double kernel_cycles(const PrimOp& op, ScanKernel k, const CostModel& cost) {
  const Profile& p = cost.profile();
  const std::int64_t c = ceil_div(op.channels, std::min<std::int64_t>(p.tile_count, op.channels));
  const auto work = scan_work(op, k, c, op.length, p);
  double cycles = cost.work_cycles(work);
  if (k == ScanKernel::sequential_vector && op.length > 1) {
    const VectorUnit& v = p.tile.vector;
    cycles += double(op.length - 1) * (v[VectorFunction::fma].latency_cycles + v[VectorFunction::mul].latency_cycles +
                                       v[VectorFunction::reduce_sum].latency_cycles);
  }
  return cycles;
}

}  // namespace

void select_scan_kernels(Module& module, const Profile& profile) {
  const CostModel cost(profile);
  const ScanUnit& unit = profile.tile.scan;
  std::map<std::string, std::pair<ScanKernel, std::string>> memo;
  for (PrimOp& op : module.ops) {
    if (op.kind != Prim::scan) continue;
    const std::string key =
        fmt::format("{}/{}/{}/{}/{}/{}", op.version, op.channels, op.head_dim, op.state, op.groups, op.length);
    if (auto it = memo.find(key); it != memo.end()) {
      op.kernel = it->second.first;
      op.kernel_reason = it->second.second;
      continue;
    }
    const ScanMode mode = op.version == 1 ? ScanMode::mamba1 : ScanMode::mamba2;
    const bool decode = op.length == 1;
    const std::string model = fmt::format("Mamba-{} N={}", op.version, op.state);
    std::vector<Candidate> cands;
    auto add = [&](ScanKernel k, std::string note = "") { cands.push_back({k, kernel_cycles(op, k, cost), note}); };
    std::string why;
    if (unit.present && unit.supports(mode) && op.state <= unit.max_state) {
      op.kernel = ScanKernel::native;
      const double native = kernel_cycles(op, ScanKernel::native, cost);
      op.kernel_reason =
          fmt::format("{}: native-scan-unit ({} lanes/tile, N={} <= max_state {}, mode {} supported): {:.0f} cycles",
                      model, unit.lanes, op.state, unit.max_state, name_of(mode), native);
      memo[key] = {op.kernel, op.kernel_reason};
      continue;
    }
    if (!unit.present) {
      why = fmt::format("{} has no scan unit ({})", profile.name, name_of(profile.family));
    } else if (!unit.supports(mode)) {
      why = fmt::format("the scan unit does not run {}", name_of(mode));
    } else {
      why = fmt::format("N={} exceeds the scan unit's max_state {}", op.state, unit.max_state);
    }
    const bool ssd = op.version == 2 && !decode && cost.has_float_matrix();
    switch (profile.family) {
      case Family::scan_accelerator:
        if (unit.present && unit.supports(mode))
          add(ScanKernel::native_split, fmt::format("{} passes", ceil_div(op.state, std::max(1, unit.max_state))));
        if (ssd) add(ScanKernel::chunked_ssd);
        add(ScanKernel::sequential_vector);
        break;
      case Family::gpu:
        if (!decode) add(ScanKernel::parallel_prefix);
        if (ssd) add(ScanKernel::chunked_ssd);
        if (decode) add(ScanKernel::sequential_vector, "one step");
        break;
      case Family::npu:
        if (ssd) add(ScanKernel::chunked_ssd);
        add(ScanKernel::sequential_vector);
        break;
      case Family::cpu:
        add(ScanKernel::sequential_vector);
        break;
    }
    std::stable_sort(cands.begin(), cands.end(),
                     [](const Candidate& a, const Candidate& b) { return a.cycles < b.cycles; });
    std::string list;
    for (const Candidate& c : cands)
      list += fmt::format("{}{}{} {:.0f} cycles", list.empty() ? "" : ", ", scan_kernel_name(c.kernel),
                          c.note.empty() ? "" : " (" + c.note + ")", c.cycles);
    op.kernel = cands.front().kernel;
    op.kernel_reason =
        fmt::format("{}: {}; chose {} by the cost model ({})", model, why, scan_kernel_name(op.kernel), list);
    memo[key] = {op.kernel, op.kernel_reason};
  }
}

}  // namespace ssmsoc::compiler
