#include "compiler/codegen.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <tuple>

#include "arch/spec/config_tree.hpp"

namespace ssmsoc::compiler {

namespace {

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }
std::uint64_t align64(std::uint64_t n) { return (n + 63) & ~std::uint64_t{63}; }
std::int64_t row_bytes(const TensorDef& t, std::int64_t cols) { return (cols * t.bits + 7) / 8; }
constexpr std::uint64_t kSegmentBytes = std::uint64_t{1} << 31;  // ssm_ref offsets are 32-bit

std::string gib(std::uint64_t bytes) { return fmt::format("{:.2f} GiB", double(bytes) / double(1ull << 30)); }
std::string mib(std::uint64_t bytes) { return fmt::format("{:.2f} MiB", double(bytes) / double(1ull << 20)); }

// Liveness-based first-fit arena for one module's activations.
std::vector<std::int64_t> arena_offsets(const Module& mod, std::uint64_t& arena) {
  const std::size_t n = mod.tensors.size();
  std::vector<std::int64_t> first(n, -1), last(n, -1), offset(n, -1);
  for (std::size_t i = 0; i < mod.ops.size(); ++i) {
    for (const auto* views : {&mod.ops[i].in, &mod.ops[i].out})
      for (const View& v : *views) {
        if (v.tensor < 0) continue;
        if (first[v.tensor] < 0) first[v.tensor] = static_cast<std::int64_t>(i);
        last[v.tensor] = static_cast<std::int64_t>(i);
      }
  }
  struct Live {
    std::uint64_t begin, end;
    std::int64_t last;
  };
  std::vector<Live> live;
  std::vector<std::size_t> order;
  for (std::size_t t = 0; t < n; ++t)
    if (mod.tensors[t].kind == TensorKind::activation && first[t] >= 0) order.push_back(t);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return first[a] < first[b]; });
  arena = 0;
  for (std::size_t t : order) {
    std::erase_if(live, [&](const Live& l) { return l.last < first[t]; });
    std::sort(live.begin(), live.end(), [](const Live& a, const Live& b) { return a.begin < b.begin; });
    const std::uint64_t size = align64(mod.tensors[t].bytes());
    std::uint64_t at = 0;
    for (const Live& l : live) {
      if (at + size <= l.begin) break;
      at = std::max(at, l.end);
    }
    live.push_back(Live{at, at + size, last[t]});
    offset[t] = static_cast<std::int64_t>(at);
    arena = std::max(arena, at + size);
  }
  return offset;
}

}  // namespace

MemoryPlan plan_memory(const std::vector<const Module*>& modules, const Profile& profile, const std::string& model,
                       int batch, int context) {
  MemoryPlan plan;
  plan.batch = batch;
  plan.context = context;
  std::uint64_t state_total = 0;
  for (const Module* mod : modules) {
    for (const TensorDef& t : mod->tensors) {
      if (t.kind == TensorKind::weight && !plan.weights.count(t.name)) {
        plan.weights[t.name] = Placement{SSM_MEM_DRAM, 0, t.bytes()};
      } else if (t.kind == TensorKind::state && !plan.states.count(t.name)) {
        plan.states[t.name] = Placement{SSM_MEM_DRAM, 0, t.bytes()};
        state_total += align64(t.bytes());
        const bool kv = t.name.find("_cache") != std::string::npos;
        (kv ? plan.kv_bytes_per_session : plan.ssm_state_bytes_per_session) += t.bytes() / std::uint64_t(batch);
      }
    }
    std::uint64_t arena = 0;
    plan.activation_offsets.push_back(arena_offsets(*mod, arena));
    plan.arena_bytes.push_back(arena);
    plan.activation_bytes = std::max(plan.activation_bytes, arena);
  }
  plan.state_bytes_per_session = plan.ssm_state_bytes_per_session + plan.kv_bytes_per_session;
  // Weights first in DRAM, in name order (deterministic).
  std::uint64_t dram = 0;
  for (auto& [name, p] : plan.weights) {
    p.address = dram;
    dram += align64(p.bytes);
  }
  plan.weight_bytes = dram;
  const std::uint64_t gb = static_cast<std::uint64_t>(profile.global_buffer.size_bytes);
  const std::uint64_t cap = static_cast<std::uint64_t>(profile.dram.capacity_bytes);
  if (plan.weight_bytes > cap)
    throw ConfigError(fmt::format("{}: weights of {} ({} bytes) do not fit the {} DRAM of {} (dram.capacity_bytes)",
                                  model, gib(plan.weight_bytes), plan.weight_bytes, gib(cap), profile.name));
  std::uint64_t gb_used = 0;
  if (plan.activation_bytes <= gb) {
    plan.activation_memory = SSM_MEM_GLOBAL_BUFFER;
    gb_used = align64(plan.activation_bytes);
  } else {
    plan.activation_memory = SSM_MEM_DRAM;
    dram += align64(plan.activation_bytes);
  }
  const std::uint64_t per = std::max<std::uint64_t>(1, plan.state_bytes_per_session);
  plan.sessions_on_chip = static_cast<std::int64_t>((gb - std::min(gb, gb_used)) / per);
  plan.sessions_in_dram = static_cast<std::int64_t>((cap - std::min(cap, dram)) / per);
  if (plan.state_bytes_per_session == 0) plan.sessions_on_chip = plan.sessions_in_dram = 0;
  plan.state_memory = gb_used + state_total <= gb ? SSM_MEM_GLOBAL_BUFFER : SSM_MEM_DRAM;
  std::uint64_t at = plan.state_memory == SSM_MEM_GLOBAL_BUFFER ? gb_used : dram;
  for (auto& [name, p] : plan.states) {
    p.memory = plan.state_memory;
    p.address = at;
    at += align64(p.bytes);
  }
  if (plan.state_memory == SSM_MEM_DRAM) dram = at;
  if (dram > cap)
    throw ConfigError(
        fmt::format("{}: weights {} + state cache {} ({} sessions of {} tokens) + activations exceed the {} DRAM of {} "
                    "(dram.capacity_bytes)",
                    model, gib(plan.weight_bytes), gib(state_total), batch, context, gib(cap), profile.name));
  return plan;
}

std::string dump_memory_plan(const MemoryPlan& p) {
  auto where = [](ssm_memory m) { return m == SSM_MEM_GLOBAL_BUFFER ? "global buffer" : "DRAM"; };
  std::string out;
  out += fmt::format("weights: {} in DRAM ({} tensors)\n", gib(p.weight_bytes), p.weights.size());
  out += fmt::format("activations: arena of {} in the {} (largest phase)\n", mib(p.activation_bytes),
                     where(p.activation_memory));
  out += fmt::format(
      "state cache per session at {} tokens: {} bytes (SSM and conv states {} bytes, KV cache {} bytes); {} "
      "sessions in the {}\n",
      p.context, p.state_bytes_per_session, p.ssm_state_bytes_per_session, p.kv_bytes_per_session, p.batch,
      where(p.state_memory));
  out += fmt::format("sessions of {} tokens that fit: {} in the global buffer, {} in DRAM\n", p.context,
                     p.sessions_on_chip, p.sessions_in_dram);
  return out;
}

namespace {

struct Xfer {
  ssm_ref src, dst;
  std::uint32_t row_bytes = 0, rows = 1, src_stride = 0, dst_stride = 0;
};
struct Group {
  ssm_engine engine;
  std::vector<ssm_command> commands;
};
struct Step {
  std::vector<Xfer> loads;
  std::vector<Group> groups;
  std::vector<Xfer> stores;
  std::uint32_t need_stored = 0;
  int slot = -1;  // the slot the loads fill (for the store fence)
  // The loads refill the resident region (the next session's or channel block's states):
  // the previous step must have computed and its stores (of the old states) have left first.
  bool reload = false;
};

struct TileState {
  StreamBuilder streams[SSM_ENGINE_COUNT];
  std::uint32_t steps = 0, loaded = 0, computed = 0, stored = 0, chain = 0;
  std::vector<Xfer> pending;  // stores of the previous step
  std::uint32_t slot_store_fence[2] = {0, 0};
  int pending_slot = -1;
};

class Generator {
 public:
  Generator(const Module& mod, std::size_t index, const MemoryPlan& plan, const Profile& profile, bool fold_sync)
      : mod_(mod), plan_(plan), profile_(profile), cost_(profile), tiles_(profile.tile_count) {
    sram_ = static_cast<std::uint64_t>(profile.tile.sram.size_bytes);
    offsets_ = &plan.activation_offsets.at(index);
    tile_state_.resize(tiles_);
    for (TileState& ts : tile_state_)
      for (StreamBuilder& b : ts.streams) b = StreamBuilder(fold_sync);
    for (int t = 0; t < tiles_; ++t)
      prog_.buffers.push_back(
          ProgramBuffer{fmt::format("tile{}.sram", t), SSM_MEM_TILE_SRAM, SSM_BUF_SCRATCH, t, 0, sram_});
    arena_buffer_ = add_buffer(ProgramBuffer{"activations", plan.activation_memory, SSM_BUF_ACTIVATIONS, 0, 0,
                                             std::max<std::uint64_t>(64, plan.arena_bytes.at(index))});
    if (plan.activation_memory == SSM_MEM_DRAM) {
      // The arena follows the weights in DRAM.
      prog_.buffers.back().address = plan.weight_bytes;
    }
    segments_.resize(mod.tensors.size());
    for (std::size_t t = 0; t < mod.tensors.size(); ++t) {
      const TensorDef& d = mod.tensors[t];
      if (d.kind == TensorKind::activation) continue;
      const Placement& p = d.kind == TensorKind::weight ? plan.weights.at(d.name) : plan.states.at(d.name);
      const std::uint64_t rb = std::max<std::int64_t>(1, row_bytes(d, d.cols));
      const std::uint64_t rows_per = std::max<std::uint64_t>(1, kSegmentBytes / rb);
      const std::uint64_t count = std::max<std::uint64_t>(1, (std::uint64_t(d.rows) + rows_per - 1) / rows_per);
      for (std::uint64_t s = 0; s < count; ++s) {
        const std::uint64_t r0 = s * rows_per, r1 = std::min<std::uint64_t>(d.rows, r0 + rows_per);
        const std::string name = count == 1 ? d.name : fmt::format("{}#{}", d.name, s);
        const int b =
            add_buffer(ProgramBuffer{name, p.memory, d.kind == TensorKind::weight ? SSM_BUF_WEIGHTS : SSM_BUF_STATE, 0,
                                     p.address + r0 * rb, std::max<std::uint64_t>(1, (r1 - r0) * rb)});
        segments_[t].push_back(Segment{b, r0, r1});
      }
    }
    prog_.semaphores = static_cast<std::uint32_t>(4 * tiles_ + 1);
  }

  CodegenResult run() {
    for (const PrimOp& op : mod_.ops) {
      for (TileState& ts : tile_state_)
        for (StreamBuilder& b : ts.streams) b.set_tag(static_cast<std::uint32_t>(result_.tiled.size()));
      begin_op();
      slots_ = 2;
      TiledOp tiled;
      tiled.name = op.name;
      tiled.kind = op.kind;
      switch (op.kind) {
        case Prim::gemm:
          gemm(op, tiled);
          break;
        case Prim::vector:
          vector(op, tiled);
          break;
        case Prim::conv1d:
          conv1d(op, tiled);
          break;
        case Prim::scan:
          scan(op, tiled);
          break;
        case Prim::attention:
          attention(op, tiled);
          break;
        case Prim::copy:
          copy(op, tiled);
          break;
      }
      end_op();
      check_size(op);
      result_.estimated_cycles += tiled.cycles;
      result_.tiled.push_back(std::move(tiled));
    }
    for (int t = 0; t < tiles_; ++t)
      for (int e = 0; e < int(SSM_ENGINE_COUNT); ++e) {
        auto& cmds = tile_state_[t].streams[e];
        if (cmds.empty()) continue;
        prog_.streams.push_back(ProgramStream{t, static_cast<ssm_engine>(e), cmds.take(&result_.command_op)});
      }
    result_.program = std::move(prog_);
    return std::move(result_);
  }

 private:
  struct Segment {
    int buffer;
    std::uint64_t row0, row1;
  };

  int add_buffer(ProgramBuffer b) {
    prog_.buffers.push_back(std::move(b));
    return static_cast<int>(prog_.buffers.size()) - 1;
  }

  const TensorDef& tensor(const View& v) const { return mod_.tensors.at(v.tensor); }
  std::int64_t view_cols(const View& v) const { return v.cols ? v.cols : tensor(v).cols; }
  bool in_dram(const View& v) const {
    const TensorDef& t = tensor(v);
    if (t.kind == TensorKind::weight) return true;
    if (t.kind == TensorKind::state) return plan_.state_memory == SSM_MEM_DRAM;
    return plan_.activation_memory == SSM_MEM_DRAM;
  }

  // Shared-memory rows [row, row + rows) of a view, columns [col, col + cols) of it, as DMA
  // pieces (split where a tensor spans several buffers).
  void shared_pieces(const View& v, std::int64_t row, std::int64_t rows, std::int64_t col, std::int64_t cols,
                     const std::function<void(ssm_ref, std::int64_t first_row, std::int64_t rows)>& f) const {
    const TensorDef& t = tensor(v);
    const std::int64_t rb = row_bytes(t, t.cols);
    const std::int64_t cb = row_bytes(t, v.col0 + col);
    (void)cols;
    if (t.kind == TensorKind::activation) {
      const std::int64_t base = (*offsets_)[v.tensor];
      f(ssm_ref{static_cast<std::uint16_t>(arena_buffer_), 0, static_cast<std::uint32_t>(base + row * rb + cb)}, row,
        rows);
      return;
    }
    std::int64_t r = row;
    const std::int64_t end = row + rows;
    for (const Segment& s : segments_[v.tensor]) {
      if (r >= end) break;
      if (std::uint64_t(r) >= s.row1) continue;
      const std::int64_t n = std::min<std::int64_t>(end, s.row1) - r;
      f(ssm_ref{static_cast<std::uint16_t>(s.buffer), 0, static_cast<std::uint32_t>((r - s.row0) * rb + cb)}, r, n);
      r += n;
    }
  }

  // Loads rows x cols of a view into tile SRAM at `at`, packed (dst stride = row bytes).
  void load(std::vector<Xfer>& out, int tile, const View& v, std::int64_t row, std::int64_t rows, std::int64_t col,
            std::int64_t cols, std::uint64_t at) const {
    const TensorDef& t = tensor(v);
    const std::uint32_t rb = static_cast<std::uint32_t>(row_bytes(t, cols));
    const std::uint32_t stride = static_cast<std::uint32_t>(row_bytes(t, t.cols));
    shared_pieces(v, row, rows, col, cols, [&](ssm_ref src, std::int64_t first, std::int64_t n) {
      out.push_back(
          Xfer{src, sram(tile, at + std::uint64_t(first - row) * rb), rb, static_cast<std::uint32_t>(n), stride, rb});
    });
  }
  void store(std::vector<Xfer>& out, int tile, const View& v, std::int64_t row, std::int64_t rows, std::int64_t col,
             std::int64_t cols, std::uint64_t at) const {
    const TensorDef& t = tensor(v);
    const std::uint32_t rb = static_cast<std::uint32_t>(row_bytes(t, cols));
    const std::uint32_t stride = static_cast<std::uint32_t>(row_bytes(t, t.cols));
    shared_pieces(v, row, rows, col, cols, [&](ssm_ref dst, std::int64_t first, std::int64_t n) {
      out.push_back(
          Xfer{sram(tile, at + std::uint64_t(first - row) * rb), dst, rb, static_cast<std::uint32_t>(n), rb, stride});
    });
  }
  static ssm_ref sram(int tile, std::uint64_t at) {
    return ssm_ref{static_cast<std::uint16_t>(tile), 0, static_cast<std::uint32_t>(at)};
  }

  // --- scheduling -------------------------------------------------------------------------
  std::uint32_t sem_loaded(int t) const { return 4 * t; }
  std::uint32_t sem_computed(int t) const { return 4 * t + 1; }
  std::uint32_t sem_stored(int t) const { return 4 * t + 2; }
  std::uint32_t sem_chain(int t) const { return 4 * t + 3; }
  std::uint32_t sem_barrier() const { return 4 * tiles_; }

  static ssm_command dma(const Xfer& x) {
    return dma_command(DmaArgs{x.src, x.dst, x.row_bytes, x.rows, x.src_stride, x.dst_stride, 0});
  }

  void flush_stores(int t) {
    TileState& ts = tile_state_[t];
    if (ts.pending.empty()) return;
    auto& d = ts.streams[SSM_ENGINE_DMA];
    d.push_back(wait_command(sem_computed(t), ts.steps));
    for (const Xfer& x : ts.pending) d.push_back(dma(x));
    d.push_back(signal_command(sem_stored(t)));
    ++ts.stored;
    if (ts.pending_slot >= 0) ts.slot_store_fence[ts.pending_slot] = ts.stored;
    ts.pending.clear();
    ts.pending_slot = -1;
  }

  // Returns the `stored` value that follows this step's stores once they are flushed.
  std::uint32_t emit(int t, Step& s) {
    TileState& ts = tile_state_[t];
    auto& d = ts.streams[SSM_ENGINE_DMA];
    const std::uint32_t index = ts.steps;
    // The slot this step fills was last used `slots_` steps ago: that step must be done.
    if (index >= std::uint32_t(slots_)) d.push_back(wait_command(sem_computed(t), index - slots_ + 1));
    if (s.slot >= 0 && ts.slot_store_fence[s.slot] > 0)
      d.push_back(wait_command(sem_stored(t), ts.slot_store_fence[s.slot]));
    if (s.reload && index > 0) {
      if (ts.pending.empty()) d.push_back(wait_command(sem_computed(t), index));
      flush_stores(t);  // waits for every earlier step to compute
    }
    for (const Xfer& x : s.loads) d.push_back(dma(x));
    d.push_back(signal_command(sem_loaded(t)));
    ++ts.loaded;
    // The previous step's stores, after this step's loads are issued (double buffering).
    flush_stores(t);
    for (std::size_t g = 0; g < s.groups.size(); ++g) {
      auto& c = ts.streams[s.groups[g].engine];
      if (g == 0) {
        c.push_back(wait_command(sem_loaded(t), ts.loaded));
        if (s.need_stored) c.push_back(wait_command(sem_stored(t), s.need_stored));
      } else {
        c.push_back(wait_command(sem_chain(t), ts.chain));
      }
      for (const ssm_command& cmd : s.groups[g].commands) c.push_back(cmd);
      if (g + 1 < s.groups.size()) {
        c.push_back(signal_command(sem_chain(t)));
        ++ts.chain;
      } else {
        c.push_back(signal_command(sem_computed(t)));
      }
    }
    ++ts.steps;
    ++ts.computed;
    ts.pending = std::move(s.stores);
    ts.pending_slot = s.slot;
    return ts.pending.empty() ? ts.stored : ts.stored + 1;
  }

  void begin_op() {
    if (ops_ == 0) return;
    for (int t = 0; t < tiles_; ++t)
      tile_state_[t].streams[SSM_ENGINE_DMA].push_back(
          wait_command(sem_barrier(), static_cast<std::uint32_t>(tiles_ * ops_)));
  }
  void end_op() {
    for (int t = 0; t < tiles_; ++t) {
      flush_stores(t);
      tile_state_[t].streams[SSM_ENGINE_DMA].push_back(signal_command(sem_barrier()));
    }
    ++ops_;
  }

  // --- SRAM layout of one op on one tile: resident region, then two slots --------------
  struct Layout {
    std::uint64_t resident = 0, slot = 0;
    std::uint64_t slot_base(int s) const { return resident + std::uint64_t(s) * slot; }
    std::uint64_t total() const { return resident + 2 * slot; }
  };

  double dma_cycles(std::int64_t bytes, bool dram, int tiles) const { return cost_.dma_cycles(bytes, dram, tiles); }
  double dispatch() const { return profile_.control.dispatch_latency_cycles; }

  // Stops as soon as the Program cannot be encoded (arch/program.hpp's limit), rather than
  // after generating gigabytes of commands.
  void check_size(const PrimOp& op) const {
    std::uint64_t commands = 0;
    for (const TileState& ts : tile_state_)
      for (const StreamBuilder& b : ts.streams) commands += b.size();
    if (commands * sizeof(ssm_command) > kMaxProgramImageBytes)
      throw ConfigError(fmt::format(
          "{}: the {}-token Program passes {} commands at {}, more than a Program holds (4 GiB); a smaller prefill "
          "chunk (--prefill-chunk) makes it smaller",
          profile_.name, mod_.phase.tokens, commands, op.name));
  }

  // --- GEMM ---------------------------------------------------------------------------------
  struct GemmBlocks {
    std::int64_t mb = 1, nb = 1, kb = 1;
    double cycles = 0;
    std::int64_t steps = 0;
  };

  GemmBlocks gemm_blocks(std::int64_t m, std::int64_t n, std::int64_t k, int a_bits, int b_bits, Precision p, int tiles,
                         bool a_dram, bool c_dram) {
    const auto key = std::make_tuple(m, n, k, a_bits, tiles, a_dram, c_dram);
    if (auto it = gemm_memo_.find(key); it != gemm_memo_.end()) return it->second;
    // Powers of two from `lo`, and the even splits of `full` (multiples of `lo`): a block
    // that divides the dimension wastes no step on a remainder.
    // (Decode, m = 1, keeps the powers of two and the strict minimum: it is weight-bound and
    // one step more or less is noise there.)
    const bool many_rows = m > 1;
    auto cands = [many_rows](std::int64_t full, std::int64_t lo) {
      std::vector<std::int64_t> v{full};
      for (std::int64_t x = lo; x < full; x *= 2) v.push_back(x);
      for (std::int64_t d = 2; many_rows && d <= 64; ++d) {
        const std::int64_t x = ceil_div(ceil_div(full, d), lo) * lo;
        if (x < full && std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
      }
      return v;
    };
    std::vector<GemmBlocks> all;
    double fastest = -1;
    for (std::int64_t mb : cands(m, 8))
      for (std::int64_t nb : cands(n, 16))
        for (std::int64_t kb : cands(k, 32)) {
          if ((kb * a_bits) % 8 || (kb * b_bits) % 8) continue;
          const std::uint64_t a = (mb * kb * a_bits + 7) / 8, b = (nb * kb * b_bits + 7) / 8, c = mb * nb * 4;
          if (2 * (a + b) + 2 * c > sram_) continue;
          const std::int64_t out_blocks = ceil_div(m, mb) * ceil_div(n, nb), ksteps = ceil_div(k, kb);
          const std::int64_t steps = out_blocks * ksteps;
          const double step =
              std::max(cost_.gemm_cycles(mb, nb, kb, p), dma_cycles(b, true, tiles) + dma_cycles(a, a_dram, tiles)) +
              6 * dispatch();
          const double cycles = double(steps) * step + double(out_blocks) * dma_cycles(c, c_dram, tiles);
          all.push_back(GemmBlocks{mb, nb, kb, cycles, steps});
          if (fastest < 0 || cycles < fastest) fastest = cycles;
        }
    if (all.empty())
      throw ConfigError(
          fmt::format("{}: no GEMM block of {}x{}x{} fits the tile SRAM of {} bytes", profile_.name, m, n, k, sram_));
    // Within 2% of the fastest, the fewest (largest) steps win: every step costs commands,
    // semaphores and interrupts that the estimate does not see.
    GemmBlocks best;
    best.cycles = -1;
    for (const GemmBlocks& g : all) {
      if (g.cycles > fastest * (many_rows ? 1.02 : 1.001)) continue;
      if (best.cycles < 0 || g.steps < best.steps || (g.steps == best.steps && g.cycles < best.cycles)) best = g;
    }
    gemm_memo_[key] = best;
    return best;
  }

  void gemm(const PrimOp& op, TiledOp& tiled) {
    const View& a = op.in[0];
    const View w{op.in[1].tensor, 0, 0};
    const View& c = op.out[0];
    const int a_bits = tensor(a).bits, b_bits = tensor(w).bits;
    const Precision p = op.precision;
    const std::int64_t min_cols = std::max(profile_.tile.matrix.cols, 16), min_rows = 16;
    const std::int64_t parts_n = std::min<std::int64_t>(tiles_, ceil_div(op.n, min_cols));
    const std::int64_t parts_m = std::min<std::int64_t>(tiles_, ceil_div(op.m, min_rows));
    // Work items: (repeat, m range, n range) per tile.
    struct Part {
      std::int64_t r0, r1, m0, m1, n0, n1;
    };
    std::vector<Part> parts;
    // Staging: with the activations (and states) in DRAM the global buffer is free; a GEMM
    // split by n, whose every tile reads all of A (once per n block), then copies A into the
    // global buffer once and the tiles read it from there: DRAM sees each A byte once and
    // each weight byte once (m_b = m holds all the tokens: the weight block is loaded once
    // and used for every token of the chunk).
    const std::uint64_t a_row = static_cast<std::uint64_t>(row_bytes(tensor(a), op.k));
    const std::uint64_t a_all = a_row * std::uint64_t(op.repeat * op.m);
    const std::uint64_t w_all =
        static_cast<std::uint64_t>(row_bytes(tensor(w), op.k)) * std::uint64_t(op.repeat * op.n);
    // The global buffer's free bytes: all of it, less the state cache when it lives there.
    std::uint64_t gb_free_at = 0;
    if (plan_.state_memory == SSM_MEM_GLOBAL_BUFFER)
      for (const auto& [name, pl] : plan_.states) gb_free_at = std::max(gb_free_at, align64(pl.address + pl.bytes));
    const std::uint64_t gb_size = static_cast<std::uint64_t>(profile_.global_buffer.size_bytes);
    const bool can_stage = op.repeat < tiles_ && parts_n >= 2 && op.m >= 2 && in_dram(a) &&
                           plan_.activation_memory == SSM_MEM_DRAM && gb_free_at + a_all <= gb_size;
    bool by_n = parts_n >= parts_m;
    if (can_stage && !by_n) {
      // By n (staged) reads the weights once; by m reads them once per tile.
      const double bw = profile_.dram.bandwidth_gb_per_s * 1000.0 / profile_.clock_mhz;
      const double t_n =
          std::max(cost_.gemm_cycles(op.repeat * op.m, ceil_div(op.n, parts_n), op.k, p), double(w_all + a_all) / bw);
      const double t_m = std::max(cost_.gemm_cycles(op.repeat * ceil_div(op.m, parts_m), op.n, op.k, p),
                                  double(w_all * std::uint64_t(parts_m) + a_all) / bw);
      by_n = t_n <= t_m;
    }
    const bool staged = can_stage && by_n;
    if (op.repeat >= tiles_) {
      tiled.partition = "repeat";
      const std::int64_t per = ceil_div(op.repeat, tiles_);
      for (std::int64_t r = 0; r < op.repeat; r += per)
        parts.push_back({r, std::min<std::int64_t>(op.repeat, r + per), 0, op.m, 0, op.n});
    } else if (by_n) {
      tiled.partition = staged ? "n(staged)" : "n";
      const std::int64_t per = ceil_div(ceil_div(op.n, parts_n), 16) * 16;
      for (std::int64_t n0 = 0; n0 < op.n; n0 += per)
        parts.push_back({0, op.repeat, 0, op.m, n0, std::min(op.n, n0 + per)});
    } else {
      tiled.partition = "m";
      const std::int64_t per = ceil_div(op.m, parts_m);
      for (std::int64_t m0 = 0; m0 < op.m; m0 += per)
        parts.push_back({0, op.repeat, m0, std::min(op.m, m0 + per), 0, op.n});
    }
    tiled.tiles = static_cast<int>(parts.size());
    if (staged) {
      // The copy, split over the tiles' DMA streams, then a barrier before the GEMM.
      if (stage_buffer_ < 0)
        stage_buffer_ = add_buffer(
            ProgramBuffer{"gemm_stage", SSM_MEM_GLOBAL_BUFFER, SSM_BUF_SCRATCH, 0, gb_free_at, gb_size - gb_free_at});
      const std::int64_t rows = op.repeat * op.m, per = ceil_div(rows, tiles_);
      int t = 0;
      for (std::int64_t r0 = 0; r0 < rows; r0 += per, ++t) {
        const std::int64_t n = std::min(per, rows - r0);
        shared_pieces(a, r0, n, 0, op.k, [&](ssm_ref src, std::int64_t first, std::int64_t cnt) {
          const ssm_ref dst{static_cast<std::uint16_t>(stage_buffer_), 0, static_cast<std::uint32_t>(first * a_row)};
          tile_state_[t].streams[SSM_ENGINE_DMA].push_back(dma(Xfer{
              src, dst, static_cast<std::uint32_t>(a_row), static_cast<std::uint32_t>(cnt),
              static_cast<std::uint32_t>(row_bytes(tensor(a), tensor(a).cols)), static_cast<std::uint32_t>(a_row)}));
        });
      }
      end_op();
      begin_op();
    }
    const bool a_dram = in_dram(a) && !staged;
    const GemmBlocks blocks = gemm_blocks(parts[0].m1 - parts[0].m0, parts[0].n1 - parts[0].n0, op.k, a_bits, b_bits, p,
                                          tiled.tiles, a_dram, in_dram(c));
    // A rows x k columns from its tensor, or packed from the staging buffer.
    auto load_a = [&](std::vector<Xfer>& out, int tile, std::int64_t row, std::int64_t rows, std::int64_t k0,
                      std::int64_t kb, std::uint64_t at) {
      if (!staged) return load(out, tile, a, row, rows, k0, kb, at);
      const std::uint32_t rb = static_cast<std::uint32_t>(row_bytes(tensor(a), kb));
      const ssm_ref src{static_cast<std::uint16_t>(stage_buffer_), 0,
                        static_cast<std::uint32_t>(std::uint64_t(row) * a_row +
                                                   static_cast<std::uint64_t>(row_bytes(tensor(a), k0)))};
      out.push_back(
          Xfer{src, sram(tile, at), rb, static_cast<std::uint32_t>(rows), static_cast<std::uint32_t>(a_row), rb});
    };
    tiled.blocks = fmt::format("m_b={} n_b={} k_b={}", blocks.mb, blocks.nb, blocks.kb);
    const std::uint64_t abytes = (blocks.mb * blocks.kb * a_bits + 7) / 8;
    const std::uint64_t bbytes = (blocks.nb * blocks.kb * b_bits + 7) / 8;
    const std::uint64_t cbytes = blocks.mb * blocks.nb * 4;
    Layout lay{align64(2 * cbytes), align64(abytes + bbytes)};
    tiled.sram_bytes = static_cast<std::int64_t>(lay.total());
    for (std::size_t t = 0; t < parts.size(); ++t) {
      const Part& pt = parts[t];
      const int tile = static_cast<int>(t);
      std::int64_t steps = 0, out_block = 0;
      std::vector<std::uint32_t> c_store_value;
      for (std::int64_t r = pt.r0; r < pt.r1; ++r)
        for (std::int64_t m0 = pt.m0; m0 < pt.m1; m0 += blocks.mb)
          for (std::int64_t n0 = pt.n0; n0 < pt.n1; n0 += blocks.nb, ++out_block) {
            const std::int64_t mb = std::min(blocks.mb, pt.m1 - m0), nb = std::min(blocks.nb, pt.n1 - n0);
            const std::uint64_t c_at = std::uint64_t(out_block % 2) * cbytes;
            for (std::int64_t k0 = 0; k0 < op.k; k0 += blocks.kb, ++steps) {
              const std::int64_t kb = std::min(blocks.kb, op.k - k0);
              Step s;
              s.slot = static_cast<int>(tile_state_[tile].steps % slots_);
              const std::uint64_t base = lay.slot_base(s.slot);
              load_a(s.loads, tile, r * op.m + m0, mb, k0, kb, base);
              load(s.loads, tile, w, op.w_row0 + r * op.n + n0, nb, k0, kb, base + abytes);
              GemmArgs g;
              g.a = sram(tile, base);
              g.b = sram(tile, base + abytes);
              g.c = sram(tile, c_at);
              g.m = static_cast<std::uint32_t>(mb), g.n = static_cast<std::uint32_t>(nb);
              g.k = static_cast<std::uint32_t>(kb);
              g.lda = g.k, g.ldb = g.k, g.ldc = g.n;
              g.precision = static_cast<ssm_precision>(p);
              g.accumulate = k0 > 0;
              g.transpose_b = true;
              s.groups.push_back(Group{SSM_ENGINE_MATRIX, {gemm_command(g)}});
              if (k0 == 0 && out_block >= 2) s.need_stored = c_store_value[out_block - 2];
              const bool last = k0 + kb >= op.k;
              if (last) store(s.stores, tile, c, r * op.m + m0, mb, op.n == view_cols(c) ? n0 : n0, nb, c_at);
              const std::uint32_t after = emit(tile, s);
              if (last) c_store_value.push_back(after);
            }
          }
      tiled.steps = std::max(tiled.steps, steps);
    }
    tiled.cycles = blocks.cycles * double(std::max<std::int64_t>(1, parts.size() ? (pt_repeat(parts[0])) : 1));
  }
  template <class P>
  static std::int64_t pt_repeat(const P& p) {
    return p.r1 - p.r0;
  }

  // --- VECTOR -------------------------------------------------------------------------------
  static bool elementwise(ssm_vector_function f) {
    return f <= SSM_VEC_CONVERT && f != SSM_VEC_REDUCE_SUM && f != SSM_VEC_REDUCE_MAX;
  }

  // The ssm_precision a convert writes for an output of `bits` bits.
  std::uint32_t target_format(int bits) const {
    return bits >= 32 ? std::uint32_t{SSM_FP32} : static_cast<std::uint32_t>(mod_.precision);
  }

  void vector(const PrimOp& op, TiledOp& tiled) {
    const ssm_vector_function f = op.function;
    const bool by_cols = elementwise(f) && op.rows < tiles_;
    const std::int64_t parts =
        by_cols ? std::min<std::int64_t>(tiles_, ceil_div(op.cols, 64)) : std::min<std::int64_t>(tiles_, op.rows);
    tiled.partition = by_cols ? "cols" : "rows";
    const std::int64_t total = by_cols ? op.cols : op.rows;
    const std::int64_t per = by_cols ? ceil_div(ceil_div(total, parts), 2) * 2 : ceil_div(total, parts);
    // Operands: data inputs (rows x cols), weights (cols, resident).
    // Per-column weights, resident: RMSNORM's b, GATED_RMSNORM's c, TOPK_BIAS's b.
    const bool weight_b = f == SSM_VEC_RMSNORM || (f == SSM_VEC_TOPK && (op.flags & SSM_VEC_TOPK_BIAS));
    const bool weight_c = f == SSM_VEC_GATED_RMSNORM;
    const int out_bits = tensor(op.out[0]).bits;
    const bool convert_after = out_bits < 32 && f != SSM_VEC_CONVERT;
    const std::int64_t part_cols = by_cols ? per : op.cols;
    std::int64_t inputs = 0;
    for (std::size_t i = 0; i < op.in.size(); ++i)
      if (!((i == 1 && weight_b) || (i == 2 && weight_c))) ++inputs;
    const std::uint64_t resident = align64((weight_b || weight_c) ? std::uint64_t(op.cols) * 4 : 0);
    // Column blocks when a whole row does not fit (row-wise functions then run per block,
    // their reduction finished across blocks: the same element work).
    std::int64_t cols = part_cols;
    // TOPK writes indices [rows, k] (or, with TOPK_MASK, the masked row); ROW_B's b is one value per row.
    const bool indices = f == SSM_VEC_TOPK && !(op.flags & SSM_VEC_TOPK_MASK);
    const bool row_b = (op.flags & SSM_VEC_ROW_B) != 0;
    auto per_row = [&](std::int64_t c) {
      return std::uint64_t(inputs) * c * 4 + (indices ? 4 * op.param1 : std::uint64_t(c) * 4);
    };
    const std::uint64_t free = sram_ > resident ? sram_ - resident : 0;
    if (per_row(cols) > free / 2) slots_ = 1;
    while (cols > 16 && per_row(cols) > free / std::uint64_t(slots_)) cols = ceil_div(cols, 2);
    if (per_row(cols) > free / std::uint64_t(slots_))
      throw ConfigError(
          fmt::format("{}: {}: {} columns do not fit the tile SRAM of {} bytes", profile_.name, op.name, cols, sram_));
    // REDUCE_*: one value per row [rows, 1], the row whole in one block.
    const bool reduce = f == SSM_VEC_REDUCE_SUM || f == SSM_VEC_REDUCE_MAX;
    if (reduce && cols < op.cols)
      throw ConfigError(fmt::format("{}: {}: a row of {} columns does not fit the tile SRAM of {} bytes (reduce)",
                                    profile_.name, op.name, op.cols, sram_));
    if (f == SSM_VEC_ROPE && cols < op.cols)
      throw ConfigError(
          fmt::format("{}: {}: a row of {} columns does not fit the tile SRAM of {} bytes (RoPE splits no heads)",
                      profile_.name, op.name, op.cols, sram_));
    // Rounded down to the slots' 64-byte alignment, so the aligned slots still fit.
    const std::uint64_t budget = free / std::uint64_t(slots_) & ~std::uint64_t{63};
    const std::int64_t rb =
        std::max<std::int64_t>(1, std::min<std::int64_t>(by_cols ? op.rows : per, budget / per_row(cols)));
    Layout lay{resident, align64(std::uint64_t(rb) * per_row(cols))};
    tiled.blocks = fmt::format("rows_b={} cols_b={}{}", rb, cols, slots_ == 1 ? " single-buffered" : "");
    tiled.sram_bytes = static_cast<std::int64_t>(resident + slots_ * lay.slot);
    int tile = 0;
    for (std::int64_t p0 = 0; p0 < total; p0 += per, ++tile) {
      const std::int64_t p1 = std::min(total, p0 + per);
      const std::int64_t r0 = by_cols ? 0 : p0, r1 = by_cols ? op.rows : p1;
      const std::int64_t pc0 = by_cols ? p0 : 0, pc1 = by_cols ? p1 : op.cols;
      std::int64_t steps = 0;
      // ROPE: a block stays inside one session (its rows are consecutive positions).
      const std::int64_t tokens = mod_.phase.tokens;
      auto block_rows = [&](std::int64_t r) {
        const std::int64_t b = std::min(rb, r1 - r);
        return f == SSM_VEC_ROPE ? std::min(b, tokens - r % tokens) : b;
      };
      for (std::int64_t r = r0; r < r1; r += block_rows(r))
        for (std::int64_t c0 = pc0; c0 < pc1; c0 += cols, ++steps) {
          const std::int64_t rows = block_rows(r), cn = std::min(cols, pc1 - c0);
          Step s;
          s.slot = static_cast<int>(tile_state_[tile].steps % slots_);
          std::uint64_t at = lay.slot_base(s.slot);
          ssm_ref refs[3] = {kNoOperand, kNoOperand, kNoOperand};
          for (std::size_t i = 0; i < op.in.size(); ++i) {
            const View& v = op.in[i];
            if ((i == 1 && weight_b) || (i == 2 && weight_c)) {
              if (steps == 0) load(s.loads, tile, v, 0, 1, 0, op.cols, 0);
              refs[i] = sram(tile, std::uint64_t(c0) * 4);
              continue;
            }
            if (i == 1 && row_b) {
              load(s.loads, tile, v, r, rows, 0, 1, at);
              refs[i] = sram(tile, at);
              at += std::uint64_t(rows) * 4;
              continue;
            }
            load(s.loads, tile, v, r, rows, c0, cn, at);
            refs[i] = sram(tile, at);
            at += std::uint64_t(rows) * cn * 4;
          }
          const std::uint64_t out_at = at;
          VectorArgs va;
          va.function = f;
          va.rows = static_cast<std::uint32_t>(rows);
          va.cols = static_cast<std::uint32_t>(f == SSM_VEC_TOPK ? op.cols : cn);
          va.a = refs[0];
          va.b = refs[1];
          va.c = refs[2];
          va.out = sram(tile, out_at);
          va.param0 = op.param0;
          // convert: param1 names the target format (the output tensor's).
          va.param1 = f == SSM_VEC_CONVERT ? target_format(out_bits)
                      : f == SSM_VEC_ROPE  ? op.param1 + static_cast<std::uint32_t>(r % tokens)
                                           : op.param1;
          va.param2 = op.param2;
          va.flags = op.flags;
          std::vector<ssm_command> cmds{vector_command(va)};
          std::uint64_t result_at = out_at;
          if (convert_after) {  // into the first input's bytes, no longer needed
            VectorArgs cv;
            cv.function = SSM_VEC_CONVERT;
            cv.rows = va.rows;
            cv.cols = va.cols;
            cv.a = sram(tile, out_at);
            cv.out = refs[0];
            cv.param1 = target_format(out_bits);
            cmds.push_back(vector_command(cv));
            result_at = refs[0].offset;
          }
          s.groups.push_back(Group{SSM_ENGINE_VECTOR, std::move(cmds)});
          if (indices) {
            store(s.stores, tile, op.out[0], r, rows, 0, op.param1, result_at);
          } else if (reduce) {
            store(s.stores, tile, op.out[0], r, rows, 0, 1, result_at);
          } else {
            store(s.stores, tile, op.out[0], r, rows, c0, cn, result_at);
          }
          emit(tile, s);
        }
      tiled.steps = std::max(tiled.steps, steps);
    }
    tiled.tiles = tile;
    tiled.cycles =
        double(tiled.steps) * std::max(cost_.vector_cycles(f, rb, cols) * (convert_after ? 2 : 1),
                                       dma_cycles(rb * std::int64_t(per_row(cols)), in_dram(op.in[0]), tile));
  }

  // --- CONV1D -------------------------------------------------------------------------------
  void conv1d(const PrimOp& op, TiledOp& tiled) {
    const std::int64_t channels = op.channels, width = op.width, L = op.length;
    const std::int64_t parts = std::min<std::int64_t>(tiles_, ceil_div(channels, 16));
    const std::int64_t per = ceil_div(channels, parts);
    // A second output (in the matrix precision) is converted in SRAM beside the first.
    const int converted_bits = op.out.size() > 1 ? tensor(op.out[1]).bits : 0;
    // Per channel and token: the input and output in float32, and the converted output.
    const std::uint64_t token_bytes = std::uint64_t(per) * 8 + std::uint64_t(per) * converted_bits / 8;
    const std::uint64_t resident = align64(std::uint64_t(per) * (2 * width + 1) * 4);
    const std::uint64_t budget = (sram_ - resident) / 2 & ~std::uint64_t{63};
    const std::int64_t lb = std::max<std::int64_t>(1, std::min<std::int64_t>(L, budget / token_bytes));
    Layout lay{resident, align64(std::uint64_t(lb) * token_bytes)};
    tiled.partition = "channels";
    tiled.blocks = fmt::format("channels={} length_b={}", per, lb);
    tiled.sram_bytes = static_cast<std::int64_t>(lay.total());
    const bool decode = L == 1;
    int tile = 0;
    for (std::int64_t c0 = 0; c0 < channels; c0 += per, ++tile) {
      const std::int64_t cn = std::min(per, channels - c0);
      const std::uint64_t w_at = 0, b_at = cn * width * 4, st_at = b_at + cn * 4;
      std::int64_t steps = 0;
      for (int sess = 0; sess < op.sessions; ++sess) {
        for (std::int64_t l0 = 0; l0 < L; l0 += lb, ++steps) {
          const std::int64_t len = std::min(lb, L - l0);
          Step s;
          s.slot = static_cast<int>(tile_state_[tile].steps % slots_);
          const std::uint64_t base = lay.slot_base(s.slot);
          if (steps == 0) {
            load(s.loads, tile, op.in[1], c0, cn, 0, width, w_at);
            load(s.loads, tile, op.in[2], 0, 1, c0, cn, b_at);
          }
          if (l0 == 0) load(s.loads, tile, op.in[3], sess * channels + c0, cn, 0, width, st_at);
          s.reload = l0 == 0 && steps > 0;
          load(s.loads, tile, op.in[0], sess * L + l0, len, c0, cn, base);
          Conv1dArgs ca;
          ca.channels = static_cast<std::uint32_t>(cn);
          ca.length = static_cast<std::uint32_t>(len);
          ca.width = static_cast<std::uint32_t>(width);
          ca.state_len = static_cast<std::uint32_t>(width);
          ca.x = sram(tile, base);
          ca.weight = sram(tile, w_at);
          ca.bias = sram(tile, b_at);
          ca.state_ref = sram(tile, st_at);
          ca.out = sram(tile, base + std::uint64_t(len) * cn * 4);
          ca.silu = true;
          ca.update = decode;
          ca.load_state = !decode;
          ca.store_state = !decode;
          std::vector<ssm_command> vcmds{conv1d_command(ca)};
          const std::uint64_t out_at = base + std::uint64_t(len) * cn * 4,
                              converted_at = out_at + std::uint64_t(len) * cn * 4;
          if (converted_bits > 0) {
            VectorArgs cv;
            cv.function = SSM_VEC_CONVERT;
            cv.rows = static_cast<std::uint32_t>(len), cv.cols = static_cast<std::uint32_t>(cn);
            cv.a = sram(tile, out_at), cv.out = sram(tile, converted_at);
            cv.param1 = target_format(converted_bits);
            vcmds.push_back(vector_command(cv));
            store(s.stores, tile, op.out[1], sess * L + l0, len, c0, cn, converted_at);
          }
          s.groups.push_back(Group{SSM_ENGINE_VECTOR, std::move(vcmds)});
          store(s.stores, tile, op.out[0], sess * L + l0, len, c0, cn, out_at);
          if (l0 + len >= L) store(s.stores, tile, op.in[3], sess * channels + c0, cn, 0, width, st_at);
          emit(tile, s);
        }
      }
      tiled.steps = std::max(tiled.steps, steps);
    }
    tiled.tiles = tile;
    const double step = cost_.vector_cycles(SSM_VEC_FMA, lb, per * width) + cost_.vector_cycles(SSM_VEC_SILU, lb, per);
    tiled.cycles = double(tiled.steps) * std::max(step, dma_cycles(lb * per * 8, in_dram(op.in[0]), tile));
  }

  // --- SCAN ---------------------------------------------------------------------------------
  static std::uint64_t work_bytes(const Work& w) {
    if (w.opcode == SSM_OP_GEMM)
      return std::max<std::uint64_t>(
          {std::uint64_t(w.m * w.k * 4), std::uint64_t(w.k * w.n * 4), std::uint64_t(w.m * w.n * 4)});
    if (w.opcode == SSM_OP_SCAN) return 0;
    return std::uint64_t(w.rows * w.cols * 4);
  }

  void scan(const PrimOp& op, TiledOp& tiled) {
    const std::int64_t channels = op.channels, p = op.version == 2 ? op.head_dim : 1, n = op.state, g = op.groups,
                       L = op.length;
    const std::int64_t parts = std::min<std::int64_t>(tiles_, channels);
    const std::int64_t per = ceil_div(channels, parts);
    const bool native = op.kernel == ScanKernel::native || op.kernel == ScanKernel::native_split;
    const bool z = op.gate;
    // An output below float32 is converted in SRAM by the vector unit before it is stored.
    const int out_bits = tensor(op.out[0]).bits;
    const int passes = op.kernel == ScanKernel::native_split
                           ? static_cast<int>(ceil_div(n, std::max(1, profile_.tile.scan.max_state)))
                           : 1;
    // A step: `cb` channels (their A, D, dt bias and state resident) for `lb` tokens, each
    // with `pb` of its head_dim rows. Mamba-2 splits a head's rows (pb < p, one head per step)
    // when a whole head does not fit: given the head's dt, B and C, each row of its state
    // evolves on its own.
    std::int64_t pb = p;
    auto rows_op = [&](std::int64_t rows) {
      PrimOp o = op;
      o.head_dim = static_cast<int>(rows);
      return o;
    };
    auto resident_of = [&](std::int64_t cb) {
      return align64(std::uint64_t((op.version == 1 ? cb * n : cb) + 2 * cb + cb * pb * n) * 4);
    };
    auto slot_bytes = [&](std::int64_t cb, std::int64_t lb, std::uint64_t& scratch_out) {
      std::uint64_t per_token = std::uint64_t(cb * pb * (z ? 3 : 2) + cb + 2 * g * n) * 4;
      if (passes > 1) per_token += std::uint64_t(cb * pb) * 4 * (passes - 1);  // partial outputs
      if (out_bits < 32) per_token += std::uint64_t(cb * pb * out_bits / 8);
      scratch_out = 0;
      // Software-scan work no larger than the state runs on the state's own bytes.
      const std::uint64_t state_bytes = std::uint64_t(cb * pb * n) * 4;
      if (!native)
        for (const Work& w : scan_work(rows_op(pb), op.kernel, cb, lb, profile_))
          if (work_bytes(w) > state_bytes) scratch_out = std::max(scratch_out, work_bytes(w));
      return align64(per_token * lb + scratch_out);
    };
    auto fits = [&](std::int64_t cb, std::int64_t lb) {
      std::uint64_t sc = 0;
      return resident_of(cb) + std::uint64_t(slots_) * slot_bytes(cb, lb, sc) <= sram_;
    };
    auto shrink = [&](std::int64_t lb) {
      return op.kernel == ScanKernel::chunked_ssd && lb > op.chunk ? ceil_div(lb, 2 * op.chunk) * op.chunk
                                                                   : ceil_div(lb, 2);
    };
    std::int64_t cb = per, lb = L;
    for (std::int64_t c = per;; c = ceil_div(c, 2)) {
      std::int64_t l = L;
      while (l > 1 && !fits(c, l)) l = shrink(l);
      if (fits(c, l)) {
        cb = c, lb = l;
        if (l >= std::min<std::int64_t>(L, 32)) break;
      }
      if (c == 1) break;
    }
    if (!fits(cb, lb) && op.version == 2) {  // a head's rows in several steps
      // The most rows per step that still allow the longest token block (fewer, larger steps).
      cb = 1;
      std::int64_t best_rows = 0, best_l = 0;
      for (std::int64_t rows = ceil_div(p, 2);; rows = ceil_div(rows, 2)) {
        pb = rows;
        std::int64_t l = L;
        while (l > 1 && !fits(1, l)) l = shrink(l);
        if (fits(1, l) && l > best_l) best_rows = rows, best_l = l;
        if (best_l >= std::min<std::int64_t>(L, 32) || rows == 1) break;
      }
      if (best_rows > 0) pb = best_rows, lb = best_l;
    }
    if (!fits(cb, lb)) {  // single-buffered: a step's operands need the whole free SRAM
      slots_ = 1;
      cb = 1;
      lb = L;
      while (lb > 1 && !fits(cb, lb)) lb = shrink(lb);
    }
    std::uint64_t scratch = 0;
    if (!fits(cb, lb))
      throw ConfigError(fmt::format("{}: {} needs {} bytes of tile SRAM for one channel and one token; the tile has {}",
                                    profile_.name, op.name, resident_of(1) + 2 * slot_bytes(1, 1, scratch), sram_));
    const std::uint64_t resident = resident_of(cb);
    Layout lay{resident, slot_bytes(cb, lb, scratch)};
    tiled.partition = op.version == 2 ? "heads" : "channels";

    tiled.sram_bytes = static_cast<std::int64_t>(lay.total());
    const std::int64_t a_elems = op.version == 1 ? cb * n : cb;
    const std::uint64_t a_at = 0, d_at = a_elems * 4, bias_at = d_at + cb * 4, st_at = bias_at + cb * 4;
    // Units of work spread over the tiles: channels, or (head, row slice) pairs when a head's
    // rows are split (so the slices of one head run on several tiles).
    const std::int64_t slices = ceil_div(p, pb), units = channels * slices;
    const std::int64_t unit_per = slices == 1 ? per : ceil_div(units, std::min<std::int64_t>(tiles_, units));
    tiled.blocks = slices == 1 ? fmt::format("{}={} block={} length_b={} kernel={}", tiled.partition, per, cb, lb,
                                             scan_kernel_name(op.kernel))
                               : fmt::format("row_slices={} head_dim_b={} length_b={} kernel={}", unit_per, pb, lb,
                                             scan_kernel_name(op.kernel));
    int tile = 0;
    double step_cycles = 0;
    for (std::int64_t u0 = 0; u0 < units; u0 += unit_per, ++tile) {
      std::int64_t steps = 0;
      const std::int64_t u_end = std::min(units, u0 + unit_per);
      for (int sess = 0; sess < op.sessions; ++sess)
        for (std::int64_t u = u0; u < u_end;) {
          const std::int64_t c0 = u / slices, p0 = (u % slices) * pb;
          const std::int64_t cn = slices == 1 ? std::min({cb, channels - c0, u_end - u}) : 1;
          u += slices == 1 ? cn : 1;
          const std::int64_t pw = std::min(pb, p - p0);  // head_dim rows of this step
          const std::int64_t col = c0 * p + p0;          // its first column of x, z and out
          for (std::int64_t l0 = 0; l0 < L; l0 += lb, ++steps) {
            const std::int64_t len = std::min(lb, L - l0);
            const std::int64_t row = sess * L + l0;
            Step s;
            s.slot = static_cast<int>(tile_state_[tile].steps % slots_);
            const std::uint64_t base = lay.slot_base(s.slot);
            if (l0 == 0) {
              load(s.loads, tile, op.in[2], op.version == 1 ? c0 : 0, op.version == 1 ? cn : 1,
                   op.version == 1 ? 0 : c0, op.version == 1 ? n : cn, a_at);
              load(s.loads, tile, op.in[5], 0, 1, c0, cn, d_at);
              load(s.loads, tile, op.in[7], 0, 1, c0, cn, bias_at);
            }
            const std::int64_t state_row = (sess * channels + c0) * p + p0;
            if (l0 == 0) load(s.loads, tile, op.in[8], state_row, cn * pw, 0, n, st_at);
            s.reload = l0 == 0 && steps > 0;
            std::uint64_t at = base;
            const std::uint64_t x_at = at;
            load(s.loads, tile, op.in[0], row, len, col, cn * pw, at);
            at += std::uint64_t(len * cn * pw) * 4;
            const std::uint64_t dt_at = at;
            load(s.loads, tile, op.in[1], row, len, c0, cn, at);
            at += std::uint64_t(len * cn) * 4;
            const std::uint64_t b_at = at;
            load(s.loads, tile, op.in[3], row, len, 0, g * n, at);
            at += std::uint64_t(len * g * n) * 4;
            const std::uint64_t c_at = at;
            load(s.loads, tile, op.in[4], row, len, 0, g * n, at);
            at += std::uint64_t(len * g * n) * 4;
            std::uint64_t z_at = 0;
            if (z) {
              z_at = at;
              load(s.loads, tile, op.in[6], row, len, col, cn * pw, at);
              at += std::uint64_t(len * cn * pw) * 4;
            }
            const std::uint64_t out_at = at;
            at += std::uint64_t(len * cn * pw) * 4;
            const std::uint64_t partial_at = at;
            at += std::uint64_t(len * cn * pw) * 4 * (passes - 1);
            const std::uint64_t converted_at = at;
            if (out_bits < 32) at += std::uint64_t(len * cn * pw * out_bits / 8);
            const std::uint64_t scratch_at = at;
            const auto work = scan_work(rows_op(pw), op.kernel, cn, len, profile_);
            if (tile == 0 && steps == 0) step_cycles = cost_.work_cycles(work);
            int pass = 0;
            for (const Work& w : work) {
              ssm_command cmd;
              if (w.opcode == SSM_OP_SCAN) {
                ScanArgs sa;
                sa.variant = w.variant;
                sa.channels = static_cast<std::uint32_t>(cn);
                sa.head_dim = static_cast<std::uint32_t>(pw);
                sa.length = static_cast<std::uint32_t>(len);
                sa.state = static_cast<std::uint32_t>(w.state);
                sa.groups = static_cast<std::uint32_t>(w.groups);
                sa.x = sram(tile, x_at);
                sa.dt = sram(tile, dt_at);
                sa.a = sram(tile, a_at);
                sa.b = sram(tile, b_at + pass * w.state * 4);
                sa.c = sram(tile, c_at + pass * w.state * 4);
                if (w.skip) sa.d = sram(tile, d_at);
                if (w.gate) sa.z = sram(tile, z_at);
                if (w.softplus) sa.dt_bias = sram(tile, bias_at);
                sa.state_ref = sram(tile, st_at + std::uint64_t(pass) * cn * pw * w.state * 4);
                sa.out = sram(tile, pass == 0 ? out_at : partial_at + std::uint64_t(pass - 1) * len * cn * pw * 4);
                sa.softplus = w.softplus;
                sa.load_state = true;
                sa.store_state = true;
                cmd = scan_command(sa);
                ++pass;
              } else if (w.opcode == SSM_OP_GEMM) {
                GemmArgs ga;
                const bool on_state = work_bytes(w) <= std::uint64_t(cn * pw * n) * 4;
                ga.a = ga.b = ga.c = sram(tile, on_state ? st_at : scratch_at);
                ga.m = static_cast<std::uint32_t>(w.m), ga.n = static_cast<std::uint32_t>(w.n);
                ga.k = static_cast<std::uint32_t>(w.k);
                ga.precision = static_cast<ssm_precision>(w.precision);
                cmd = gemm_command(ga);
              } else {
                VectorArgs va;
                va.function = w.function;
                va.rows = static_cast<std::uint32_t>(w.rows);
                va.cols = static_cast<std::uint32_t>(w.cols);
                if (native) {
                  // Epilogues of the native unit on the real operands (dt in place, gate, D skip, partial sums).
                  const std::uint64_t target = w.function == SSM_VEC_SOFTPLUS ? dt_at : out_at;
                  va.a = va.out = sram(tile, target);
                  va.b = sram(tile, w.function == SSM_VEC_ADD ? partial_at : z ? z_at : out_at);
                  va.c = sram(tile, out_at);
                  if (w.function == SSM_VEC_SILU) va.a = va.out = sram(tile, z_at);
                } else {
                  const bool on_state = work_bytes(w) <= std::uint64_t(cn * pw * n) * 4;
                  va.a = va.b = va.c = va.out = sram(tile, on_state ? st_at : scratch_at);
                }
                cmd = vector_command(va);
              }
              if (s.groups.empty() || s.groups.back().engine != w.engine) s.groups.push_back(Group{w.engine, {}});
              s.groups.back().commands.push_back(cmd);
            }
            if (out_bits < 32) {
              VectorArgs cv;
              cv.function = SSM_VEC_CONVERT;
              cv.rows = static_cast<std::uint32_t>(len), cv.cols = static_cast<std::uint32_t>(cn * pw);
              cv.a = sram(tile, out_at), cv.out = sram(tile, converted_at);
              cv.param1 = target_format(out_bits);
              if (s.groups.empty() || s.groups.back().engine != SSM_ENGINE_VECTOR)
                s.groups.push_back(Group{SSM_ENGINE_VECTOR, {}});
              s.groups.back().commands.push_back(vector_command(cv));
            }
            store(s.stores, tile, op.out[0], row, len, col, cn * pw, out_bits < 32 ? converted_at : out_at);
            if (l0 + len >= L) store(s.stores, tile, op.in[8], state_row, cn * pw, 0, n, st_at);
            emit(tile, s);
          }
        }
      tiled.steps = std::max(tiled.steps, steps);
    }
    tiled.tiles = tile;
    tiled.cycles = double(tiled.steps) * std::max(step_cycles, dma_cycles(lay.slot, in_dram(op.in[0]), tile));
  }

  // --- ATTENTION ----------------------------------------------------------------------------
  void attention(const PrimOp& op, TiledOp& tiled) {
    const View& q = op.in[0];
    const View& kc = op.in[1];
    const View& vc = op.in[2];
    const std::int64_t hd = op.head_dim, ql = op.length, kv = op.context + op.length;
    const std::int64_t group = op.heads / op.kv_heads;
    const int e_bits = tensor(q).bits;
    const std::int64_t max_ctx = mod_.phase.max_context;
    const std::int64_t units = std::int64_t(op.sessions) * op.heads;
    const std::int64_t parts = std::min<std::int64_t>(tiles_, units);
    const std::int64_t per = ceil_div(units, parts);
    // The probabilities enter the second product in the matrix precision: below fp32 the
    // vector unit converts them into a block of their own.
    const bool convert_p = e_bits < 32;
    auto p_bytes = [&](std::int64_t m, std::int64_t k) { return convert_p ? std::uint64_t(m * k * e_bits / 8) : 0; };
    // Block sizes: the largest q and kv blocks whose operands fit the slots.
    std::int64_t mb = 1, kvb = 1;
    std::uint64_t best = 0;
    for (std::int64_t m : {ql, std::int64_t(256), std::int64_t(128), std::int64_t(64), std::int64_t(32),
                           std::int64_t(16), std::int64_t(8), std::int64_t(1)}) {
      if (m > ql) continue;
      for (std::int64_t k : {kv, std::int64_t(4096), std::int64_t(2048), std::int64_t(1024), std::int64_t(512),
                             std::int64_t(256), std::int64_t(128), std::int64_t(64), std::int64_t(32)}) {
        if (k > kv) continue;
        const std::uint64_t slot = (m * hd * e_bits + 2 * k * hd * e_bits) / 8 + m * k * 4 + p_bytes(m, k);
        const std::uint64_t resident = 3 * m * hd * 4;
        if (2 * align64(slot) + align64(resident) > sram_) continue;
        if (std::uint64_t(m * k) > best) best = m * k, mb = m, kvb = k;
      }
    }
    if (best == 0)
      throw ConfigError(
          fmt::format("{}: {}: no attention block of head_dim {} fits the tile SRAM", profile_.name, op.name, hd));
    // Across key blocks the running output needs an online-softmax rescale, which the
    // Programs only time (a placeholder FMA); a functional run must see all keys at once.
    if (mod_.phase.functional && kvb < kv)
      throw ConfigError(fmt::format(
          "{}: {}: functional attention over {} keys needs them in one block; the tile SRAM of {} bytes holds {}",
          profile_.name, op.name, kv, sram_, kvb));
    const std::uint64_t qbytes = (mb * hd * e_bits) / 8, kbytes = (kvb * hd * e_bits) / 8;
    const std::uint64_t obytes = mb * hd * 4;
    Layout lay{align64(3 * obytes), align64(qbytes + 2 * kbytes + mb * kvb * 4 + p_bytes(mb, kvb))};
    tiled.partition = "heads";
    tiled.blocks = fmt::format("heads={} q_b={} kv_b={}", per, mb, kvb);
    tiled.sram_bytes = static_cast<std::int64_t>(lay.total());
    int tile = 0;
    for (std::int64_t u0 = 0; u0 < units; u0 += per, ++tile) {
      std::int64_t steps = 0, block = 0;
      std::vector<std::uint32_t> o_store;
      for (std::int64_t u = u0; u < std::min(units, u0 + per); ++u) {
        const std::int64_t sess = u / op.heads, head = u % op.heads, kvh = head / group;
        for (std::int64_t q0 = 0; q0 < ql; q0 += mb, ++block) {
          const std::int64_t m = std::min(mb, ql - q0);
          const std::uint64_t o_at = std::uint64_t(block % 2) * obytes, op_at = 2 * obytes;
          const std::int64_t visible = op.context + q0 + m;  // causal: keys up to the block's last query
          for (std::int64_t k0 = 0; k0 < visible; k0 += kvb, ++steps) {
            const std::int64_t k = std::min(kvb, visible - k0);
            Step s;
            s.slot = static_cast<int>(tile_state_[tile].steps % slots_);
            const std::uint64_t base = lay.slot_base(s.slot);
            const std::uint64_t k_at = base + qbytes, v_at = k_at + kbytes, s_at = v_at + kbytes;
            const std::uint64_t p_at = convert_p ? s_at + std::uint64_t(mb * kvb * 4) : s_at;
            load(s.loads, tile, q, sess * ql + q0, m, head * hd, hd, base);
            load(s.loads, tile, kc, sess * max_ctx + k0, k, kvh * hd, hd, k_at);
            load(s.loads, tile, vc, sess * max_ctx + k0, k, kvh * hd, hd, v_at);
            GemmArgs qk;
            qk.a = sram(tile, base), qk.b = sram(tile, k_at), qk.c = sram(tile, s_at);
            qk.m = static_cast<std::uint32_t>(m), qk.n = static_cast<std::uint32_t>(k);
            qk.k = static_cast<std::uint32_t>(hd);
            qk.precision = static_cast<ssm_precision>(op.precision);
            qk.transpose_b = true;
            s.groups.push_back(Group{SSM_ENGINE_MATRIX, {gemm_command(qk)}});
            VectorArgs sm;
            sm.function = SSM_VEC_SOFTMAX;
            sm.rows = qk.m, sm.cols = qk.n;
            sm.a = sm.out = sram(tile, s_at);
            sm.param0 = op.param0;
            const std::int64_t offset = op.context + q0 - k0;
            if (offset < k) {
              sm.flags = SSM_VEC_CAUSAL;
              sm.param1 = static_cast<std::uint32_t>(std::max<std::int64_t>(0, offset));
            }
            std::vector<ssm_command> vcmds{vector_command(sm)};
            if (convert_p) {
              VectorArgs cp;
              cp.function = SSM_VEC_CONVERT;
              cp.rows = qk.m, cp.cols = qk.n;
              cp.a = sram(tile, s_at), cp.out = sram(tile, p_at);
              cp.param1 = target_format(e_bits);
              vcmds.push_back(vector_command(cp));
            }
            if (k0 > 0) {  // online softmax: rescale the running output
              VectorArgs rs;
              rs.function = SSM_VEC_FMA;
              rs.rows = qk.m, rs.cols = static_cast<std::uint32_t>(hd);
              rs.a = rs.b = rs.c = rs.out = sram(tile, o_at);
              vcmds.push_back(vector_command(rs));
            }
            s.groups.push_back(Group{SSM_ENGINE_VECTOR, std::move(vcmds)});
            GemmArgs pv;
            pv.a = sram(tile, p_at), pv.b = sram(tile, v_at), pv.c = sram(tile, o_at);
            pv.m = qk.m, pv.n = static_cast<std::uint32_t>(hd), pv.k = qk.n;
            pv.ldb = pv.n;
            pv.precision = qk.precision;
            pv.accumulate = k0 > 0;
            s.groups.push_back(Group{SSM_ENGINE_MATRIX, {gemm_command(pv)}});
            if (k0 == 0 && block >= 2) s.need_stored = o_store[block - 2];
            const bool last = k0 + k >= visible;
            if (last) {
              VectorArgs cv;
              cv.function = SSM_VEC_CONVERT;
              cv.rows = qk.m, cv.cols = static_cast<std::uint32_t>(hd);
              cv.a = sram(tile, o_at), cv.out = sram(tile, op_at);
              cv.param1 = target_format(e_bits);
              s.groups.push_back(Group{SSM_ENGINE_VECTOR, {vector_command(cv)}});
              store(s.stores, tile, op.out[0], sess * ql + q0, m, head * hd, hd, op_at);
            }
            const std::uint32_t after = emit(tile, s);
            if (last) o_store.push_back(after);
          }
        }
      }
      tiled.steps = std::max(tiled.steps, steps);
    }
    tiled.tiles = tile;
    const double step =
        2 * cost_.gemm_cycles(mb, kvb, hd, op.precision) + cost_.vector_cycles(SSM_VEC_SOFTMAX, mb, kvb);
    tiled.cycles = double(tiled.steps) * std::max(step, dma_cycles(lay.slot, in_dram(kc), tile));
  }

  // --- COPY (DMA between shared memories) ---------------------------------------------------
  void copy(const PrimOp& op, TiledOp& tiled) {
    const View& src = op.in[0];
    const View& dst = op.out[0];
    const std::int64_t cols = view_cols(dst);
    const std::int64_t src_rows = tensor(src).rows;
    const bool kv_append = tensor(dst).name.find("_cache") != std::string::npos;
    auto& d = tile_state_[0].streams[SSM_ENGINE_DMA];
    std::int64_t bytes = 0;
    auto piece = [&](std::int64_t s_row, std::int64_t d_row, std::int64_t rows) {
      const std::uint32_t rb = static_cast<std::uint32_t>(row_bytes(tensor(dst), cols));
      std::vector<std::pair<ssm_ref, std::int64_t>> srcs;
      shared_pieces(src, s_row, rows, 0, cols, [&](ssm_ref r, std::int64_t first, std::int64_t) {
        srcs.push_back({r, first});
      });
      shared_pieces(dst, d_row, rows, 0, cols, [&](ssm_ref r, std::int64_t first, std::int64_t n) {
        // Sources are activations or a single-buffer range in practice; take the first piece.
        const ssm_ref s = srcs.front().first;
        ssm_ref sr = s;
        sr.offset += static_cast<std::uint32_t>((first - d_row) * row_bytes(tensor(src), tensor(src).cols));
        d.push_back(dma_command(DmaArgs{sr, r, rb, static_cast<std::uint32_t>(n),
                                        static_cast<std::uint32_t>(row_bytes(tensor(src), tensor(src).cols)),
                                        static_cast<std::uint32_t>(row_bytes(tensor(dst), tensor(dst).cols)), 0}));
        bytes += std::int64_t(rb) * n;
      });
    };
    if (kv_append) {
      const std::int64_t per = op.rows / op.sessions;
      for (int s = 0; s < op.sessions; ++s) piece(s * per, s * mod_.phase.max_context + op.dst_row0, per);
    } else {
      for (std::int64_t r = 0; r < op.rows; r += src_rows)
        piece(op.src_row0, op.dst_row0 + r, std::min(src_rows - op.src_row0, op.rows - r));
    }
    tiled.partition = "rows(dma)";
    tiled.tiles = 1;
    tiled.steps = 1;
    tiled.blocks = fmt::format("rows={}", op.rows);
    tiled.cycles = dma_cycles(bytes, true, 1);
  }

  const Module& mod_;
  const MemoryPlan& plan_;
  const Profile& profile_;
  CostModel cost_;
  int tiles_;
  std::uint64_t sram_ = 0;
  const std::vector<std::int64_t>* offsets_ = nullptr;
  Program prog_;
  int arena_buffer_ = 0;
  int stage_buffer_ = -1;  // the global-buffer copy of a GEMM's A (see gemm)
  std::vector<std::vector<Segment>> segments_;
  std::vector<TileState> tile_state_;
  std::uint32_t ops_ = 0;
  int slots_ = 2;  // 2: double buffering; 1: a step's operands need the whole free SRAM
  CodegenResult result_;
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, int, int, bool, bool>, GemmBlocks> gemm_memo_;
};

}  // namespace

CodegenResult tile_and_generate(const Module& module, std::size_t module_index, const MemoryPlan& plan,
                                const Profile& profile, bool fold_sync) {
  return Generator(module, module_index, plan, profile, fold_sync).run();
}

std::string dump_tiled(const std::vector<TiledOp>& tiled) {
  std::string out;
  for (const TiledOp& t : tiled)
    out += fmt::format("{:<9} {:<34} tiles={:<4} by {:<9} {:<44} steps={:<6} sram={:<8} est={:.0f} cycles\n",
                       prim_name(t.kind), t.name, t.tiles, t.partition, t.blocks, t.steps, t.sram_bytes, t.cycles);
  return out;
}

std::string dump_schedule(const Program& program) {
  std::string out = fmt::format("# {} streams, {} commands, {} semaphores, {} buffers\n", program.streams.size(),
                                program.command_count(), program.semaphores, program.buffers.size());
  for (const ProgramStream& s : program.streams) {
    std::size_t counts[8] = {};
    for (const ssm_command& c : s.commands) ++counts[c.head.opcode & 7];
    out += fmt::format(
        "tile {:<4} {:<7} {:>8} commands: dma {} gemm {} scan {} conv1d {} vector {} signal {} wait {}\n", s.tile,
        engine_name(s.engine), s.commands.size(), counts[SSM_OP_DMA], counts[SSM_OP_GEMM], counts[SSM_OP_SCAN],
        counts[SSM_OP_CONV1D], counts[SSM_OP_VECTOR], counts[SSM_OP_SIGNAL], counts[SSM_OP_WAIT]);
  }
  return out;
}

}  // namespace ssmsoc::compiler
