#include "compiler/cost_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>

#include "arch/spec/engine_cycles.hpp"
#include "arch/spec/program.hpp"

namespace ssmsoc::compiler {

namespace {

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }
std::uint64_t count(std::int64_t x) { return static_cast<std::uint64_t>(std::max<std::int64_t>(x, 0)); }

}  // namespace

CostModel::CostModel(const Profile& profile) : profile_(profile) {
  const std::optional<Precision> float_matrix = matrix_float_precision(profile.tile.matrix);
  has_float_matrix_ = float_matrix.has_value();
  ssd_precision_ = float_matrix.value_or(Precision::fp32);
  busiest_port_tiles_.resize(static_cast<std::size_t>(profile.tile_count) + 1);
  for (int t = 0; t <= profile.tile_count; ++t)
    busiest_port_tiles_[static_cast<std::size_t>(t)] = busiest_memory_port_tiles(profile, t);
  for (const bool dram : {false, true}) {
    const ssm_memory src = dram ? SSM_MEM_DRAM : SSM_MEM_GLOBAL_BUFFER;
    load_latency_[dram] = dma_latency_cycles(profile, src, 0, SSM_MEM_TILE_SRAM);
    delivery_bytes_per_cycle_[dram] = memory_delivery_bytes_per_cycle(profile, src);
  }
  sram_bytes_per_cycle_ = memory_bytes_per_cycle(profile, SSM_MEM_TILE_SRAM);
}

// Every estimate of a compute command is its time alone on its tile: its engine's cycles or
// its operands' traffic through the tile SRAM's ports, whichever is longer
// (uncontended_compute_cycles, as the simulator times a lone command); the command is built
// from the dimensions, its operands at offset 0.
namespace {

std::uint32_t u32(std::int64_t x) { return static_cast<std::uint32_t>(count(x)); }

}  // namespace

double CostModel::gemm_cycles(std::int64_t m, std::int64_t n, std::int64_t k, Precision p) const {
  GemmArgs g;
  g.m = u32(m), g.n = u32(n), g.k = u32(k), g.lda = u32(k), g.ldb = u32(k), g.ldc = u32(n);
  g.precision = static_cast<ssm_precision>(p);
  g.transpose_b = true;
  return double(uncontended_compute_cycles(profile_, gemm_command(g)));
}

double CostModel::scan_cycles(std::int64_t channels, std::int64_t head_dim, std::int64_t state,
                              std::int64_t length) const {
  return scan_cycles(head_dim > 1 ? SSM_SCAN_SSD : SSM_SCAN_SELECTIVE, channels, head_dim, state, length);
}

double CostModel::scan_cycles(ssm_scan_variant variant, std::int64_t channels, std::int64_t head_dim,
                              std::int64_t state, std::int64_t length) const {
  Work w;
  w.variant = variant, w.channels = channels, w.head_dim = head_dim, w.state = state, w.length = length;
  return scan_work_cycles(w);
}

double CostModel::scan_work_cycles(const Work& w) const {
  ScanArgs s;
  s.variant = w.variant;
  s.channels = u32(w.channels), s.head_dim = u32(w.head_dim), s.state = u32(w.state), s.length = u32(w.length);
  s.groups = u32(std::max<std::int64_t>(1, w.groups));
  s.softplus = w.softplus;
  if (w.gate) s.z = ssm_ref{};
  if (w.skip) s.d = ssm_ref{};
  if (w.softplus) s.dt_bias = ssm_ref{};
  return double(uncontended_compute_cycles(profile_, scan_command(s)));
}

double CostModel::vector_cycles(ssm_vector_function f, std::int64_t rows, std::int64_t cols) const {
  return vector_cycles(f, rows, cols, 0);
}

double CostModel::vector_cycles(ssm_vector_function f, std::int64_t rows, std::int64_t cols,
                                std::uint32_t param1) const {
  VectorArgs v;
  v.function = f, v.rows = u32(rows), v.cols = u32(cols), v.param1 = param1;
  return double(uncontended_compute_cycles(profile_, vector_command(v)));
}

double CostModel::conv1d_cycles(std::int64_t channels, std::int64_t length, std::int64_t width, bool silu) const {
  Conv1dArgs c;
  c.channels = u32(channels), c.length = u32(length), c.width = u32(width), c.silu = silu;
  return double(uncontended_compute_cycles(profile_, conv1d_command(c)));
}

double CostModel::work_cycles(const Work& w) const {
  switch (w.opcode) {
    case SSM_OP_GEMM:
      return gemm_cycles(w.m, w.n, w.k, w.precision);
    case SSM_OP_SCAN:
      return scan_work_cycles(w);
    default:
      return vector_cycles(w.function, w.rows, w.cols, w.param1);
  }
}

double CostModel::work_cycles(const std::vector<Work>& ws) const {
  double c = 0;
  for (const Work& w : ws) c += work_cycles(w);
  return c;
}

double CostModel::tile_share_bytes_per_cycle(bool dram, int tiles) const {
  const double link = profile_.noc.link_bytes_per_cycle;
  return std::min({delivery_bytes_per_cycle_[dram] / std::max(1, tiles),
                   link / busiest_port_tiles_.at(static_cast<std::size_t>(std::clamp(tiles, 1, profile_.tile_count))),
                   sram_bytes_per_cycle_});
}

double CostModel::dma_cycles(std::int64_t bytes, bool dram, int tiles) const {
  return double(transfer_cycles(load_latency_[dram], count(bytes), tile_share_bytes_per_cycle(dram, tiles)));
}

double CostModel::dma_stream_cycles(std::int64_t bytes, bool dram, int tiles) const {
  return dma_stream_cycles(double(transfer_cycles(0, count(bytes), tile_share_bytes_per_cycle(dram, tiles))), dram);
}

double CostModel::dma_stream_cycles(double moving, bool dram) const {
  const double outstanding = profile_.tile.dma.outstanding_transfers;
  return std::max(moving, (moving + double(load_latency_[dram])) / outstanding);
}

double CostModel::dma_exposed_latency(bool dram) const {
  const double outstanding = profile_.tile.dma.outstanding_transfers;
  return double(load_latency_[dram]) * (outstanding - 1) / outstanding;
}

double CostModel::dma_cycles(std::int64_t bytes, ssm_memory src, ssm_memory dst, std::int64_t route_hops) const {
  return double(uncontended_dma_cycles(profile_, src, dst, count(bytes), count(route_hops)));
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
    if (op.dt_rank > 0) out.push_back(mm(L, c, op.dt_rank, op.precision));  // dt = dt_low · dt_projᵀ
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

namespace {

// Cycles of `macs` multiply-accumulates at every tile's peak for `p`.
double matrix_peak_cycles(const Profile& profile, double macs, Precision p) {
  const auto& rates = profile.tile.matrix.macs_per_cycle;
  const auto it = rates.find(p);
  const double per_tile = it != rates.end() ? double(it->second) : double(rates.begin()->second);
  return macs / (per_tile * profile.tile_count);
}

std::uint64_t view_bytes(const TensorDef& t, const View& v) {
  return static_cast<std::uint64_t>((t.rows * (v.cols ? v.cols : t.cols) * t.bits + 7) / 8);
}

// DRAM as the tiles see it: through the memory ports of the NoC.
// The bytes of view `v` an op must move at least once: a GEMM's weight rows, the rows a copy
// moves, the cached keys and values attention reads (the context and the new tokens), else
// the whole view.
std::uint64_t compulsory_bytes(const PrimOp& op, const Module& module, const View& v) {
  const TensorDef& t = module.tensors.at(v.tensor);
  const std::int64_t cols = v.cols ? v.cols : t.cols;
  auto rows_bytes = [&](std::int64_t rows) { return static_cast<std::uint64_t>((rows * cols * t.bits + 7) / 8); };
  if (op.kind == Prim::gemm && t.kind == TensorKind::weight)
    return static_cast<std::uint64_t>((std::int64_t(op.repeat) * op.n * op.k * t.bits + 7) / 8);
  if (op.kind == Prim::copy) return rows_bytes(std::min(t.rows, op.rows));
  if (op.kind == Prim::attention && t.kind == TensorKind::state)
    return rows_bytes(std::min(t.rows, std::int64_t(op.sessions) * (op.context + op.length)));
  return view_bytes(t, v);
}

// What the tiles can get of the DRAM's bandwidth; a GPU timed by its kernels gets all of it
// (its tile model's crossbar does not bound it).
double dram_bytes_per_cycle(const Profile& profile) {
  return profile.kernels ? memory_bytes_per_cycle(profile, SSM_MEM_DRAM)
                         : memory_delivery_bytes_per_cycle(profile, SSM_MEM_DRAM);
}

// The share of a tensor's bytes (at its lowered width) that crosses DRAM: a GPU timed by its
// kernels keeps a scan's SSM state at `kernels.state_bits` between tokens, and with units in
// its memory a decode step's state never crosses the bus.
double crossing_share(const Profile& profile, const PrimOp& op, const TensorDef& t) {
  if (!profile.kernels || op.kind != Prim::scan || t.kind != TensorKind::state) return 1;
  if (profile.kernels->pim && op.length == 1) return 0;
  return profile.kernels->state_bits / double(t.bits);
}

}  // namespace

Bound op_bound(const PrimOp& op, const Module& module, std::size_t module_index, const MemoryPlan& plan,
               const Profile& profile) {
  const CostModel cost(profile);
  const double tiles = profile.tile_count;
  Bound b;
  switch (op.kind) {
    case Prim::gemm:
      b.matrix_cycles = matrix_peak_cycles(profile, double(op.repeat) * op.m * op.n * op.k, op.precision);
      break;
    case Prim::attention: {
      const double keys = double(op.context) + double(op.length);
      const double macs = 2.0 * op.sessions * op.heads * op.length * keys * op.head_dim;
      b.matrix_cycles = matrix_peak_cycles(profile, macs, op.precision);
      b.vector_cycles =
          cost.vector_cycles(SSM_VEC_SOFTMAX, op.sessions * op.heads * op.length, std::int64_t(keys)) / tiles;
      break;
    }
    case Prim::scan: {
      // The kernel's commands for all channels of one session, spread over the tiles.
      for (const Work& w : scan_work(op, op.kernel, op.channels, op.length, profile)) {
        const double c = cost.work_cycles(w) * op.sessions / tiles;
        if (w.engine == SSM_ENGINE_MATRIX)
          b.matrix_cycles += c;
        else if (w.engine == SSM_ENGINE_SCAN)
          b.scan_cycles += c;
        else
          b.vector_cycles += c;
      }
      break;
    }
    case Prim::conv1d:
      b.vector_cycles =
          cost.conv1d_cycles(op.channels, op.sessions * op.length, op.width, true) / tiles;  // SiLU always follows
      break;
    case Prim::vector:
      b.vector_cycles = cost.vector_cycles(op.function, op.rows, op.cols, op.param1) / tiles;
      break;
    case Prim::copy:
      break;
  }
  // A GPU timed by its kernels: the tensor cores' work and the DRAM traffic; its scans and
  // element-wise kernels run on SIMT cores the tile model's vector peak does not describe.
  if (profile.kernels) b.scan_cycles = b.vector_cycles = 0;
  for (const auto* views : {&op.in, &op.out})
    for (const View& v : *views) {
      if (v.tensor < 0) continue;
      const TensorDef& t = module.tensors.at(v.tensor);
      if (!in_dram(module, v.tensor, plan, module_index)) continue;
      // A scan's or conv's state is read and written back.
      const bool updated = t.kind == TensorKind::state && (op.kind == Prim::scan || op.kind == Prim::conv1d);
      b.dram_bytes += static_cast<std::uint64_t>(double(compulsory_bytes(op, module, v)) * (updated ? 2 : 1) *
                                                 crossing_share(profile, op, t));
    }
  b.dram_cycles = double(b.dram_bytes) / dram_bytes_per_cycle(profile);
  return b;
}

Bound phase_bound(const Module& module, std::size_t module_index, const MemoryPlan& plan, const Profile& profile) {
  Bound b;
  std::vector<bool> counted(module.tensors.size(), false);
  for (const PrimOp& op : module.ops) {
    const Bound o = op_bound(op, module, module_index, plan, profile);
    b.matrix_cycles += o.matrix_cycles, b.scan_cycles += o.scan_cycles, b.vector_cycles += o.vector_cycles;
    for (const auto* views : {&op.in, &op.out})
      for (const View& v : *views) {
        if (v.tensor < 0) continue;
        const TensorDef& t = module.tensors.at(v.tensor);
        if (t.kind == TensorKind::activation || !in_dram(module, v.tensor, plan, module_index)) continue;
        // What an op reads of a table, a cache or a weight (a GEMM's rows: MoE runs only the
        // active experts) counts per op; a whole tensor once.
        const bool partial = op.kind == Prim::copy || op.kind == Prim::attention ||
                             (op.kind == Prim::gemm && t.kind == TensorKind::weight);
        if (!partial && counted[std::size_t(v.tensor)]) continue;
        if (!partial) counted[std::size_t(v.tensor)] = true;
        const auto bytes = static_cast<std::uint64_t>(double(partial ? compulsory_bytes(op, module, v) : t.bytes()) *
                                                      crossing_share(profile, op, t));
        // A state is read and written back; a weight is read.
        (t.kind == TensorKind::state ? b.state_bytes : b.weight_bytes) += bytes;
        b.dram_bytes += bytes * (t.kind == TensorKind::state && !partial ? 2 : 1);
      }
  }
  b.dram_cycles = double(b.dram_bytes) / dram_bytes_per_cycle(profile);
  return b;
}

}  // namespace ssmsoc::compiler
