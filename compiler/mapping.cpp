#include "compiler/mapping.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/engine_cycles.hpp"

namespace ssmsoc::compiler {

namespace {

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }
std::int64_t row_bytes(const TensorDef& t, std::int64_t cols) { return (cols * t.bits + 7) / 8; }

// [0, extent) in consecutive ranges of `per`.
std::vector<Range> split(std::int64_t extent, std::int64_t per) {
  std::vector<Range> out;
  for (std::int64_t b = 0; b < extent; b += per) out.push_back(Range{b, std::min(extent, b + per)});
  return out;
}

bool elementwise(ssm_vector_function f) {
  return f <= SSM_VEC_CONVERT && f != SSM_VEC_REDUCE_SUM && f != SSM_VEC_REDUCE_MAX;
}

struct GemmBlocks {
  std::int64_t mb = 1, nb = 1, kb = 1;
  double cycles = 0;
  std::int64_t steps = 0;
  int slots = 2;  // of A and B blocks in flight
};
using GemmKey = std::tuple<std::int64_t, std::int64_t, std::int64_t, int, int, int, Precision, int, bool, bool, int>;

class Chooser {
 public:
  Chooser(const Module& mod, std::size_t module_index, const MemoryPlan& plan, const Profile& profile,
          const CostModel& cost)
      : mod_(mod),
        module_index_(module_index),
        plan_(plan),
        profile_(profile),
        cost_(cost),
        tiles_(profile.tile_count) {
    sram_ = static_cast<std::uint64_t>(profile.tile.sram.size_bytes);
  }

  OpMapping choose(const PrimOp& op) {
    OpMapping m;
    m.name = op.name;
    m.kind = op.kind;
    switch (op.kind) {
      case Prim::gemm:
        gemm(op, m);
        break;
      case Prim::vector:
        vector(op, m);
        break;
      case Prim::conv1d:
        conv1d(op, m);
        break;
      case Prim::scan:
        scan(op, m);
        break;
      case Prim::attention:
        attention(op, m);
        break;
      case Prim::copy:
        copy(op, m);
        break;
    }
    // The barrier after the op: the control core takes the last tile's signal (an interrupt)
    // and dispatches the next op's first commands.
    m.cycles += profile_.control.interrupt_latency_cycles + dispatch();
    return m;
  }

 private:
  const TensorDef& tensor(const View& v) const { return mod_.tensors.at(v.tensor); }
  std::int64_t bits(const View& v) const { return tensor(v).bits; }
  bool in_dram(const View& v) const { return compiler::in_dram(mod_, v.tensor, plan_, module_index_); }
  // A transfer in a tile's stream of them (CostModel::dma_stream_cycles).
  double dma_cycles(std::int64_t bytes, bool dram, int tiles) const {
    return cost_.dma_stream_cycles(bytes, dram, tiles);
  }
  // The latency a command waiting for a stream's last transfer sees beyond the stream: a
  // step's compute for its first loads, the barrier for the op's last stores.
  double exposed(bool dram) const { return cost_.dma_exposed_latency(dram); }
  double dispatch() const { return profile_.control.dispatch_latency_cycles; }
  // The control core passing a signal from one engine to the next: its interrupt, then the
  // dispatch of the waiting command.
  double sync() const { return profile_.control.interrupt_latency_cycles + dispatch(); }
  // A step of `steps` steps buffered in `slots` slots on one engine against its loads and
  // stores on the DMA: the longer of the two, or, where slots are refilled, a slot's round
  // trip (its loads, their latency, the signal to the engine, the compute, the signal back)
  // over the slots where that is longer.
  double step_cycles(double compute, double dma, double wait, std::int64_t steps, int slots = 2) const {
    const double round_trip = steps > slots ? (compute + dma + wait + 2 * sync()) / slots : 0.0;
    return std::max({compute, dma, round_trip});
  }
  // The cycles of a list of (bytes, from or to DRAM) transfers on a tile's DMA.
  double transfers(std::initializer_list<std::pair<std::int64_t, bool>> list, int tiles) const {
    double cycles = 0;
    for (const auto& [bytes, dram] : list)
      if (bytes > 0) cycles += dma_cycles(bytes, dram, tiles);
    return cycles;
  }
  // An op of `steps` double-buffered steps, each `compute` on its engine against `step_dma`
  // on the DMA (the step's loads and the previous step's stores), in `runs` runs that each
  // start by loading the resident operands (`resident_dma`: weights, states) and end by
  // storing (`end_dma`: states): within a run the first loads (and their latency,
  // `load_wait`), the last compute and stores do not overlap; runs do not overlap (a reload
  // waits for the previous steps); the barrier waits for the last store's latency
  // (`store_wait`).
  double pipelined(std::int64_t steps, double compute, double step_dma, std::int64_t runs, double resident_dma,
                   double end_dma, double load_wait, double store_wait) const {
    runs = std::max<std::int64_t>(1, std::min(runs, steps));
    return double(steps) * step_cycles(compute, step_dma, load_wait, steps) +
           double(runs) * (resident_dma + std::min(compute, step_dma) + end_dma + load_wait) + store_wait;
  }

  // A broadcast of `bytes` from memory by each of `leaders` tiles in each of `groups` groups
  // at once: the memory's share per leader, or a port link's share among the leaders of the
  // groups on one memory edge (a group's tiles span the columns), whichever is less.
  double broadcast_cycles(std::int64_t bytes, bool dram, int leaders, int groups) const {
    const ssm_memory src = dram ? SSM_MEM_DRAM : SSM_MEM_GLOBAL_BUFFER;
    const int edges = std::max<int>(1, static_cast<int>(profile_.noc.memory_edges.size()));
    const int per_edge = (groups + edges - 1) / edges;
    const double share = std::min(memory_delivery_bytes_per_cycle(profile_, src) / double(leaders * groups),
                                  double(profile_.noc.link_bytes_per_cycle) / double(leaders * per_edge));
    return cost_.dma_stream_cycles(std::ceil(double(bytes) / share), dram);
  }

  // A GEMM's fused residual (gemm_blocks' `residual`): none (0), on chip (1), in DRAM (2).
  int residual_memory(const PrimOp& op) const {
    if (op.kind != Prim::gemm || op.in.size() < 3) return 0;
    return in_dram(op.in[2]) ? 2 : 1;
  }

  // --- GEMM ---------------------------------------------------------------------------------
  // `residual`: none (0), a fused residual on chip (1) or in DRAM (2), loaded per C block.
  // C accumulates in float32 and is stored in `c_bits` (the DMA narrows a 16-bit output).
  GemmBlocks gemm_blocks(std::int64_t m, std::int64_t n, std::int64_t k, int a_bits, int b_bits, int c_bits,
                         Precision p, int tiles, bool a_dram, bool c_dram, int residual) {
    const GemmKey key = std::make_tuple(m, n, k, a_bits, b_bits, c_bits, p, tiles, a_dram, c_dram, residual);
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
          const std::int64_t out_blocks = ceil_div(m, mb) * ceil_div(n, nb), ksteps = ceil_div(k, kb);
          const std::int64_t steps = out_blocks * ksteps;
          const double compute = cost_.gemm_cycles(mb, nb, kb, p);
          // A block costs at least its steps' compute (a step is never shorter): one past 1.02 x
          // the fastest so far cannot be chosen below, whatever its slots.
          if (fastest >= 0 && double(steps) * compute > fastest * 1.02) continue;
          for (int slots = 2; slots <= kMaxSlots; ++slots) {
            const std::uint64_t a = (mb * kb * a_bits + 7) / 8, b = (nb * kb * b_bits + 7) / 8, c = mb * nb * 4;
            if (std::uint64_t(slots) * (a + b) + 2 * c > sram_) continue;
            const double load = dma_cycles(b, true, tiles) + dma_cycles(a, a_dram, tiles);
            // More slots than two keep more loads in flight where a slot's round trip is longer
            // than two steps (small blocks, long latency).
            const double step = step_cycles(compute, load, exposed(true), steps, slots);
            // Steps overlap one's loads with the previous one's GEMM; the first loads and the
            // last GEMM do not (a single step is its loads, then its GEMM).
            const double c_traffic = dma_cycles((mb * nb * c_bits + 7) / 8, c_dram, tiles) +
                                     (residual ? dma_cycles(c, residual == 2, tiles) : 0.0);
            const double cycles = double(steps) * step + std::min(compute, load) + exposed(true) +
                                  double(out_blocks) * c_traffic + exposed(c_dram);
            all.push_back(GemmBlocks{mb, nb, kb, cycles, steps, slots});
            if (fastest < 0 || cycles < fastest) fastest = cycles;
          }
        }
    if (all.empty())
      throw ConfigError(
          fmt::format("{}: no GEMM block of {}x{}x{} fits the tile SRAM of {} bytes", profile_.name, m, n, k, sram_));
    // Within 2% of the fastest, the fewest (largest) steps win: every step costs commands,
    // semaphores and interrupts that the estimate does not see; then the fewest slots.
    GemmBlocks best;
    best.cycles = -1;
    for (const GemmBlocks& g : all) {
      if (g.cycles > fastest * 1.02) continue;
      if (best.cycles < 0 || g.steps < best.steps ||
          (g.steps == best.steps && (g.slots < best.slots || (g.slots == best.slots && g.cycles < best.cycles))))
        best = g;
    }
    gemm_memo_[key] = best;
    return best;
  }

  void gemm(const PrimOp& op, OpMapping& m) {
    const View& a = op.in[0];
    const TensorDef& w = mod_.tensors.at(op.in[1].tensor);
    const int a_bits = tensor(a).bits, b_bits = w.bits, c_bits = tensor(op.out[0]).bits;
    const Precision p = op.precision;
    const std::int64_t min_cols = std::max(profile_.tile.matrix.cols, 16), min_rows = 16;
    const std::int64_t parts_n = std::min<std::int64_t>(tiles_, ceil_div(op.n, min_cols));
    const std::int64_t parts_m = std::min<std::int64_t>(tiles_, ceil_div(op.m, min_rows));
    const bool by_n = parts_n >= parts_m;
    // Each tile's (repeat, m, n) ranges.
    Range repeat{0, op.repeat}, rows{0, op.m}, cols{0, op.n};
    if (op.repeat >= tiles_) {
      m.partition = Partition::repeat;
      m.extent = op.repeat;
      m.tiles = split(op.repeat, ceil_div(op.repeat, tiles_));
      repeat = m.tiles[0];
    } else if (by_n) {
      m.partition = Partition::n;
      m.extent = op.n;
      m.tiles = split(op.n, ceil_div(ceil_div(op.n, parts_n), 16) * 16);
      // Columns narrower than the array leave part of it idle, but where the weights bound
      // the GEMM (few rows: decode) more tiles bring them at more links' bandwidth.
      const std::int64_t parts_fine = std::min<std::int64_t>(tiles_, ceil_div(op.n, 16));
      if (parts_fine > parts_n) {
        const std::vector<Range> fine = split(op.n, ceil_div(ceil_div(op.n, parts_fine), 8) * 8);
        const bool a_dram = in_dram(a), c_dram = in_dram(op.out[0]);
        const GemmBlocks wide = gemm_blocks(op.m, m.tiles[0].size(), op.k, a_bits, b_bits, c_bits, p,
                                            static_cast<int>(m.tiles.size()), a_dram, c_dram, residual_memory(op));
        const GemmBlocks narrow = gemm_blocks(op.m, fine[0].size(), op.k, a_bits, b_bits, c_bits, p,
                                              static_cast<int>(fine.size()), a_dram, c_dram, residual_memory(op));
        if (narrow.cycles < 0.98 * wide.cycles) m.tiles = fine;
      }
      cols = m.tiles[0];
    } else {
      m.partition = Partition::m;
      m.extent = op.m;
      m.tiles = split(op.m, ceil_div(op.m, parts_m));
      rows = m.tiles[0];
    }
    const int tiles = static_cast<int>(m.tiles.size());
    const GemmBlocks blocks = gemm_blocks(rows.size(), cols.size(), op.k, a_bits, b_bits, c_bits, p, tiles, in_dram(a),
                                          in_dram(op.out[0]), residual_memory(op));
    m.m_b = blocks.mb, m.n_b = blocks.nb, m.k_b = blocks.kb;
    const std::uint64_t abytes = (blocks.mb * blocks.kb * a_bits + 7) / 8;
    const std::uint64_t bbytes = (blocks.nb * blocks.kb * b_bits + 7) / 8;
    const std::uint64_t cbytes = blocks.mb * blocks.nb * 4;
    // Two C accumulators resident (one is stored while the next fills), A and B per slot.
    m.sram = SramLayout{align64(2 * cbytes), align64(abytes + bbytes), blocks.slots};
    for (const Range& t : m.tiles) {
      const Range r = m.partition == Partition::repeat ? t : Range{0, op.repeat};
      const Range mr = m.partition == Partition::m ? t : Range{0, op.m};
      const Range nr = m.partition == Partition::n ? t : Range{0, op.n};
      m.steps = std::max(m.steps, r.size() * ceil_div(mr.size(), blocks.mb) * ceil_div(nr.size(), blocks.nb) *
                                      ceil_div(op.k, blocks.kb));
    }
    m.cycles = blocks.cycles * double(std::max<std::int64_t>(1, repeat.size()));
    if (op.repeat == 1) broadcast_if_faster(op, a_bits, b_bits, m);
    if (op.repeat == 1) split_k_if_faster(op, a_bits, b_bits, m);
  }

  // GEMM by k (OpMapping::k_partials), taken for at most 16 rows when the table of partials
  // fits the global buffer's free part and the cost model finds it 2 % faster than `m` as
  // chosen: per tile its share of k (multiples of 32) for all n, then the barrier, the sums.
  void split_k_if_faster(const PrimOp& op, int a_bits, int b_bits, OpMapping& m) {
    if (op.m > 16 || op.k < 64) return;
    const std::int64_t k_t = ceil_div(ceil_div(op.k, tiles_), 32) * 32;
    const std::vector<Range> ks = split(op.k, k_t);
    const int used = static_cast<int>(ks.size());
    if (used < 2) return;
    const std::uint64_t gb = static_cast<std::uint64_t>(profile_.global_buffer.size_bytes);
    const std::uint64_t at = global_buffer_free_offset(plan_, module_index_);
    const std::int64_t cells = op.m * op.n;  // rows of the table
    const std::uint64_t table = std::uint64_t(cells) * std::uint64_t(used) * 4;
    if (at + table > gb) return;
    // Phase 1: A's slice and the partial C resident; a slot per n block of weight rows.
    const std::uint64_t resident =
        align64(std::uint64_t(op.m * k_t * a_bits + 7) / 8) + align64(std::uint64_t(cells) * 4);
    std::int64_t nb = op.n;
    while (nb > 16 && resident + 2 * align64(std::uint64_t(nb * k_t * b_bits + 7) / 8) > sram_) nb = ceil_div(nb, 2);
    const std::uint64_t slot = align64(std::uint64_t(nb * k_t * b_bits + 7) / 8);
    if (resident + 2 * slot > sram_) return;
    const std::int64_t n_steps = ceil_div(op.n, nb);
    const bool w_dram = in_dram(op.in[1]), a_dram = in_dram(op.in[0]), c_dram = in_dram(op.out[0]);
    const double first = dma_cycles((op.m * k_t * a_bits + 7) / 8, a_dram, used) +
                         (residual_memory(op) ? dma_cycles(cells * 4, residual_memory(op) == 2, 1) : 0.0);
    const double phase1 =
        first +
        pipelined(n_steps, cost_.gemm_cycles(op.m, nb, k_t, op.precision),
                  dma_cycles((nb * k_t * b_bits + 7) / 8, w_dram, used), 1, 0, 0, exposed(w_dram), exposed(w_dram)) +
        cost_.dma_cycles(cells * 4, SSM_MEM_TILE_SRAM, SSM_MEM_GLOBAL_BUFFER, 0);
    // Phase 2: the table's rows over the tiles, each summing its rows' `used` partials.
    const std::int64_t rows_per = std::max<std::int64_t>(16, ceil_div(cells, tiles_));
    const std::int64_t rows = std::min(rows_per, cells);
    const std::uint64_t sums = align64(std::uint64_t(rows) * (std::uint64_t(used) + 1) * 4);
    if (resident + 2 * std::max(slot, sums) > sram_) return;
    const double phase2 = dma_cycles(rows * used * 4, false, int(ceil_div(cells, rows_per))) +
                          cost_.vector_cycles(SSM_VEC_REDUCE_SUM, rows, used) +
                          dma_cycles((rows * tensor(op.out[0]).bits + 7) / 8, c_dram, 1) + exposed(false) +
                          exposed(c_dram) + profile_.control.interrupt_latency_cycles + dispatch();
    const double cycles = phase1 + phase2;
    if (cycles >= m.cycles * 0.98) return;
    m.partition = Partition::k;
    m.extent = op.k;
    m.tiles = ks;
    m.m_b = op.m, m.n_b = nb, m.k_b = k_t;
    m.b_broadcast = false;
    m.b_groups = 1;
    m.k_partials = at;
    m.reduce_rows = split(cells, rows_per);
    m.steps = n_steps;
    m.cycles = cycles;
    m.sram = SramLayout{resident, std::max(slot, sums), 2};
  }

  // OpMapping::c_chunks of a broadcast GEMM: every tile's C block and residual block cross the
  // weights' memory once per n block; spread over c steps, a step carries the broadcast's
  // block and 1/c of them, which is to fit in what the memory delivers during the compute.
  template <class Candidate>
  std::int64_t c_chunks(const PrimOp& op, const Candidate& c) const {
    const bool w_dram = in_dram(op.in[1]);
    const int residual = residual_memory(op);
    const bool c_shares = in_dram(op.out[0]) == w_dram, r_shares = residual && (residual == 2) == w_dram;
    const std::int64_t k_steps = ceil_div(op.k, c.kb);
    const std::int64_t block = c.rows * c.nb * (tensor(op.out[0]).bits + 7) / 8;
    const double moved = double(c.tiles.size()) * double((c_shares ? block : 0) + (r_shares ? c.rows * c.nb * 4 : 0));
    if (k_steps == 1 || moved == 0) return 1;
    const double deliver = memory_delivery_bytes_per_cycle(profile_, w_dram ? SSM_MEM_DRAM : SSM_MEM_GLOBAL_BUFFER);
    const double room = cost_.gemm_cycles(c.rows, c.nb, c.kb, op.precision) * deliver -
                        double(c.groups) * double((c.nb * c.kb * tensor(op.in[1]).bits + 7) / 8);
    if (room <= 0) return k_steps;
    return std::clamp<std::int64_t>(static_cast<std::int64_t>(std::ceil(moved / room)), 1, k_steps);
  }

  // GEMM by m with the weights broadcast (OpMapping::b_broadcast), taken when it fits and the
  // cost model finds it at least 2 % faster than `m` as chosen. Per step every tile runs its
  // rows x n_b x k_b while the leaders bring the next B block (one slice each, at their
  // share of the memory); each tile loads its rows of A once and stores a C block per n block.
  void broadcast_if_faster(const PrimOp& op, int a_bits, int b_bits, OpMapping& m) {
    const bool w_dram = in_dram(op.in[1]), a_dram = in_dram(op.in[0]), c_dram = in_dram(op.out[0]);
    const Precision p = op.precision;
    const int out_bits = tensor(op.out[0]).bits;
    struct Candidate {
      int groups;
      std::int64_t group_cols, rows, nb, kb, steps;
      int leaders;
      double cycles;
      std::uint64_t resident, slot;
      std::vector<Range> tiles;
    };
    std::vector<Candidate> all;
    // Groups of tiles, each its share of the columns (a broadcast mask names at most 64 tiles).
    for (int groups = 1; groups <= 4 && (groups == 1 || tiles_ <= 64); groups *= 2) {
      if (tiles_ % groups) break;
      const std::int64_t group_cols = ceil_div(ceil_div(op.n, groups), 16) * 16;
      if (groups > 1 && ceil_div(op.n, group_cols) < groups) break;
      const std::int64_t rows_per_tile = std::max<std::int64_t>(16, ceil_div(op.m, tiles_ / groups));
      const std::vector<Range> row_ranges = split(op.m, rows_per_tile);
      const int per_group = static_cast<int>(row_ranges.size());
      if (per_group < 2) continue;
      const int used = per_group * groups;
      std::vector<Range> tile_ranges;
      for (int g = 0; g < groups; ++g) tile_ranges.insert(tile_ranges.end(), row_ranges.begin(), row_ranges.end());
      // Passes: when a tile's rows of A do not fit beside the blocks, it keeps `rows` of them
      // at a time and the weights are broadcast once per pass.
      for (std::int64_t passes = 1; passes <= 8; passes *= 2) {
        const std::int64_t rows = ceil_div(rows_per_tile, passes);
        if (passes > 1 && rows < 16) break;
        const std::uint64_t a_resident = align64((rows * op.k * a_bits + 7) / 8);
        for (std::int64_t nb = 16; nb <= std::max<std::int64_t>(16, group_cols) && nb <= 4096; nb *= 2) {
          const std::uint64_t c_resident = align64(2 * std::uint64_t(rows * nb * 4));
          if (a_resident + c_resident > sram_) break;
          for (std::int64_t kb = 32; kb < op.k * 2; kb *= 2) {
            const std::int64_t k_b = std::min(kb, op.k);
            if ((k_b * b_bits) % 8) continue;
            const std::uint64_t slot = align64((nb * k_b * b_bits + 7) / 8);
            if (a_resident + c_resident + 2 * slot > sram_) break;
            const std::int64_t n_blocks = ceil_div(group_cols, nb), k_steps = ceil_div(op.k, k_b);
            const std::int64_t steps = passes * n_blocks * k_steps;
            const double compute = cost_.gemm_cycles(rows, nb, k_b, p);
            // A C block's store, on every tile's DMA once per n block: it overlaps the next
            // block's steps (a leader's DMA also brings its slices then); only the last one shows.
            const std::int64_t c_block = (rows * nb * out_bits + 7) / 8;
            const double store = dma_cycles(c_block, c_dram, used) +
                                 (residual_memory(op) ? dma_cycles(c_block, residual_memory(op) == 2, used) : 0.0);
            for (int leaders = 1; leaders <= per_group && leaders * 16 <= nb; leaders *= 2) {
              const std::int64_t slice = ceil_div(nb, leaders);
              // Every group's leaders read at once; a broadcast from memory enters through the
              // memory port of each of its tiles' columns, so each port link carries every
              // leader's slice of the groups on its edge.
              const double bring = broadcast_cycles((slice * k_b * b_bits + 7) / 8, w_dram, leaders, groups);
              const double step = step_cycles(compute, bring + store / double(k_steps), exposed(w_dram), steps);
              // As gemm_blocks: per pass, the rows of A, then the first block's broadcast and
              // the last GEMM do not overlap.
              const double cycles = double(passes) * (dma_cycles(std::int64_t(a_resident), a_dram, used) +
                                                      std::min(compute, bring) + exposed(w_dram)) +
                                    double(steps) * step + store + exposed(c_dram);
              all.push_back(Candidate{groups, group_cols, rows, nb, k_b, steps, leaders, cycles,
                                      a_resident + c_resident, slot, tile_ranges});
            }
            if (k_b == op.k) break;
          }
        }
      }
    }
    double fastest = -1;
    for (const Candidate& c : all)
      if (fastest < 0 || c.cycles < fastest) fastest = c.cycles;
    // Taken only when clearly faster than `m`; then, within 2 % of the fastest, the fewest
    // steps (and leaders) win, as in gemm_blocks.
    if (all.empty() || fastest >= m.cycles * 0.98) return;
    const Candidate* best = nullptr;
    for (const Candidate& c : all) {
      if (c.cycles > fastest * 1.02) continue;
      if (!best || c.steps < best->steps || (c.steps == best->steps && c.leaders < best->leaders) ||
          (c.steps == best->steps && c.leaders == best->leaders && c.cycles < best->cycles))
        best = &c;
    }
    m.m_b = best->rows, m.n_b = best->nb, m.k_b = best->kb;
    m.b_leaders = best->leaders;
    m.b_groups = best->groups;
    m.b_group_cols = best->group_cols;
    m.c_chunks = c_chunks(op, *best);
    m.steps = best->steps;
    m.cycles = best->cycles;
    m.sram = SramLayout{best->resident, best->slot, 2};
    m.b_broadcast = true;
    m.partition = Partition::m;
    m.extent = op.m;
    m.tiles = best->tiles;
  }

  // --- VECTOR -------------------------------------------------------------------------------
  void vector(const PrimOp& op, OpMapping& m) {
    const ssm_vector_function f = op.function;
    const bool by_cols = elementwise(f) && op.rows < tiles_;
    const std::int64_t parts =
        by_cols ? std::min<std::int64_t>(tiles_, ceil_div(op.cols, 64)) : std::min<std::int64_t>(tiles_, op.rows);
    m.partition = by_cols ? Partition::cols : Partition::rows;
    m.extent = by_cols ? op.cols : op.rows;
    const std::int64_t per = by_cols ? ceil_div(ceil_div(m.extent, parts), 2) * 2 : ceil_div(m.extent, parts);
    m.tiles = split(m.extent, per);
    const bool convert_after = tensor(op.out[0]).bits < 32 && f != SSM_VEC_CONVERT;
    std::int64_t inputs = 0;
    for (std::size_t i = 0; i < op.in.size(); ++i)
      if (!vector_weight_input(op, i)) ++inputs;
    const bool weight = vector_weight_input(op, 1) || vector_weight_input(op, 2);
    const std::uint64_t resident = align64(weight ? std::uint64_t(op.cols) * 4 : 0);
    // Column blocks when a whole row does not fit (row-wise functions then run per block,
    // their reduction finished across blocks: the same element work).
    std::int64_t cols = by_cols ? per : op.cols;
    // TOPK writes indices [rows, k] (or, with TOPK_MASK, the masked row).
    const bool indices = f == SSM_VEC_TOPK && !(op.flags & SSM_VEC_TOPK_MASK);
    auto per_row = [&](std::int64_t c) {
      return std::uint64_t(inputs) * c * 4 + (indices ? 4 * op.param1 : std::uint64_t(c) * 4);
    };
    const std::uint64_t free = sram_ > resident ? sram_ - resident : 0;
    int slots = per_row(cols) > free / 2 ? 1 : 2;
    while (cols > 16 && per_row(cols) > free / std::uint64_t(slots)) cols = ceil_div(cols, 2);
    if (per_row(cols) > free / std::uint64_t(slots))
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
    const std::uint64_t budget = free / std::uint64_t(slots) & ~std::uint64_t{63};
    // Equal row blocks (a short last block would cost a whole step's fixed part).
    const std::int64_t tile_rows = by_cols ? op.rows : per;
    const std::int64_t most_rows = std::max<std::int64_t>(1, std::min<std::int64_t>(tile_rows, budget / per_row(cols)));
    m.rows_b = ceil_div(tile_rows, ceil_div(tile_rows, most_rows));
    m.cols_b = cols;
    // RoPE: a block stays inside one session (its rows are consecutive positions).
    m.row_period = f == SSM_VEC_ROPE ? mod_.phase.tokens : 0;
    m.sram = SramLayout{resident, align64(std::uint64_t(m.rows_b) * per_row(cols)), slots};
    for (const Range& t : m.tiles) {
      const Range r = by_cols ? Range{0, op.rows} : t;
      const Range c = by_cols ? t : Range{0, op.cols};
      std::int64_t row_blocks = 0;
      for (std::int64_t row = r.begin; row < r.end; ++row_blocks) {
        const std::int64_t b = std::min(m.rows_b, r.end - row);
        row += m.row_period ? std::min(b, m.row_period - row % m.row_period) : b;
      }
      m.steps = std::max(m.steps, row_blocks * ceil_div(c.size(), cols));
    }
    const int tiles = static_cast<int>(m.tiles.size());
    // A step loads each data input and stores the output, one transfer each; the weight
    // row is loaded once.
    const std::int64_t out_bytes =
        indices ? m.rows_b * std::int64_t(op.param1) * 4 : (m.rows_b * cols * tensor(op.out[0]).bits + 7) / 8;
    double step_dma = dma_cycles(out_bytes, in_dram(op.out[0]), tiles);
    double resident_dma = 0;
    for (std::size_t i = 0; i < op.in.size(); ++i) {
      if (vector_weight_input(op, i))
        resident_dma += dma_cycles(op.cols * 4, true, tiles);
      else
        step_dma += dma_cycles((m.rows_b * cols * tensor(op.in[i]).bits + 7) / 8, in_dram(op.in[i]), tiles);
    }
    // The first loads wait for DRAM where the weight row or an input lives there.
    m.cycles =
        pipelined(m.steps, cost_.vector_cycles(f, m.rows_b, cols, op.param1) * (convert_after ? 2 : 1), step_dma, 1,
                  resident_dma, 0, exposed(resident_dma > 0 || in_dram(op.in[0])), exposed(in_dram(op.out[0])));
  }

  // --- CONV1D -------------------------------------------------------------------------------
  void conv1d(const PrimOp& op, OpMapping& m) {
    const std::int64_t channels = op.channels, width = op.width, L = op.length;
    const std::int64_t parts = std::min<std::int64_t>(tiles_, ceil_div(channels, 16));
    const std::int64_t per = ceil_div(channels, parts);
    // A second output (in the matrix precision) is converted in SRAM beside the first.
    const int converted_bits = op.out.size() > 1 ? tensor(op.out[1]).bits : 0;
    // Per channel and token: the input and output in float32, and the converted output.
    const std::uint64_t token_bytes = std::uint64_t(per) * 8 + std::uint64_t(per) * converted_bits / 8;
    // Resident: the weights, bias and state of the tile's channels.
    const std::uint64_t resident = align64(std::uint64_t(per) * (2 * width + 1) * 4);
    const std::uint64_t budget = (sram_ - resident) / 2 & ~std::uint64_t{63};
    // Equal token blocks: a short last block would cost a whole step's fixed part.
    const std::int64_t longest = std::max<std::int64_t>(1, std::min<std::int64_t>(L, budget / token_bytes));
    m.length_b = ceil_div(L, ceil_div(L, longest));
    m.partition = Partition::channels;
    m.extent = channels;
    m.tiles = split(channels, per);
    m.sram = SramLayout{resident, align64(std::uint64_t(m.length_b) * token_bytes), 2};
    // One step per session (decode): the state rides in the step's slot (as the scan's).
    const std::uint64_t state_slot_bytes = align64(std::uint64_t(per * width) * 4);
    const std::uint64_t fixed = align64(std::uint64_t(per) * (width + 1) * 4);
    if (m.length_b >= L && fixed + 2 * (m.sram.slot_bytes + state_slot_bytes) <= sram_) {
      m.state_in_slot = true;
      m.sram = SramLayout{fixed, m.sram.slot_bytes + state_slot_bytes, 2};
    }
    m.steps = op.sessions * ceil_div(L, m.length_b);
    const int tiles = static_cast<int>(m.tiles.size());
    const double step =
        cost_.vector_cycles(SSM_VEC_FMA, m.length_b, per * width) + cost_.vector_cycles(SSM_VEC_SILU, m.length_b, per);
    // A step loads its tokens and stores the output (and its converted copy); each session
    // starts by loading the weights, bias and its state and ends by storing the state.
    const bool out_dram = in_dram(op.out[0]), state_dram = in_dram(op.in[3]);
    const double step_dma = transfers({{m.length_b * per * tensor(op.in[0]).bits / 8, in_dram(op.in[0])},
                                       {m.length_b * per * tensor(op.out[0]).bits / 8, out_dram},
                                       {m.length_b * per * converted_bits / 8, out_dram}},
                                      tiles);
    const std::int64_t state_bytes = per * width * 4;
    const double weights_dma = transfers({{per * width * 4, true}, {per * 4, true}}, tiles);
    const double state_dma = dma_cycles(state_bytes, state_dram, tiles);  // a load, or a store
    // The first loads include the weights (DRAM); the last store goes to the output's memory.
    const double load_wait = exposed(true), store_wait = exposed(out_dram || state_dram);
    m.cycles = m.state_in_slot
                   ? pipelined(m.steps, step, step_dma + 2 * state_dma, 1, weights_dma, 0, load_wait, store_wait)
                   : pipelined(m.steps, step, step_dma, op.sessions, weights_dma + state_dma, state_dma, load_wait,
                               store_wait);
  }

  // --- SCAN ---------------------------------------------------------------------------------
  void scan(const PrimOp& op, OpMapping& m) {
    const std::int64_t channels = op.channels, p = op.version == 2 ? op.head_dim : 1, n = op.state, g = op.groups,
                       L = op.length;
    // Mamba-2 with n_groups > 1: a step's heads must use whole groups of B and C, or share
    // one, so a tile's heads and a step's are a divisor or a multiple of the heads per group
    // (a step's also a divisor of the tile's, so no step straddles a group boundary).
    const std::int64_t per_group = op.version == 2 && g > 1 ? channels / g : 0;
    auto whole_groups = [per_group](std::int64_t heads) {
      return per_group == 0 || per_group % heads == 0 || heads % per_group == 0;
    };
    std::int64_t per = ceil_div(channels, std::min<std::int64_t>(tiles_, channels));
    if (per_group > 0) {
      if (per > per_group) per = ceil_div(per, per_group) * per_group;
      while (!whole_groups(per)) ++per;
    }
    auto step_heads = [&](std::int64_t c) {
      while (c > 1 && (per % c != 0 || !whole_groups(c))) --c;
      return c;
    };
    const bool native = op.kernel == ScanKernel::native || op.kernel == ScanKernel::native_split;
    const bool z = op.gate;
    // An output below float32 is converted in SRAM by the vector unit before it is stored.
    const int out_bits = tensor(op.out[0]).bits;
    const int passes = scan_state_passes(op, profile_);
    // A step: `cb` channels (their A, D, dt bias and state resident) for `lb` tokens, each
    // with `pb` of its head_dim rows. Mamba-2 splits a head's rows (pb < p, one head per step)
    // when a whole head does not fit: given the head's dt, B and C, each row of its state
    // evolves on its own.
    std::int64_t pb = p;
    int slots = 2;
    // A fused dt_proj (fuse_dt_projections): the block's weight rows stay resident, a step
    // loads dt's low-rank rows beside the dt it computes.
    const std::int64_t dt_low_bits = op.dt_rank > 0 ? tensor(op.in[1]).bits : 0;
    auto fixed_of = [&](std::int64_t cb) {
      return std::uint64_t((op.version == 1 ? cb * n : cb) + 2 * cb) * 4 + scan_dt_weight_bytes(op, mod_, cb);
    };
    auto resident_of = [&](std::int64_t cb) { return align64(fixed_of(cb) + std::uint64_t(cb * pb * n) * 4); };
    auto slot_bytes = [&](std::int64_t cb, std::int64_t lb) {
      std::uint64_t per_token = std::uint64_t(cb * pb * (z ? 3 : 2) + cb + 2 * g * n) * 4;
      per_token += std::uint64_t(op.dt_rank * dt_low_bits / 8);
      if (passes > 1) per_token += std::uint64_t(cb * pb) * 4 * (passes - 1);  // partial outputs
      if (out_bits < 32) per_token += std::uint64_t(cb * pb * out_bits / 8);
      // Software-scan work larger than the state needs scratch; smaller runs on the state's bytes.
      std::uint64_t scratch = 0;
      const std::uint64_t state_bytes = std::uint64_t(cb * pb * n) * 4;
      if (!native)
        for (const Work& w : scan_work(scan_rows(op, pb), op.kernel, cb, lb, profile_))
          if (scan_work_bytes(w) > state_bytes) scratch = std::max(scratch, scan_work_bytes(w));
      return align64(per_token * lb + scratch);
    };
    auto fits = [&](std::int64_t cb, std::int64_t lb) {
      return resident_of(cb) + std::uint64_t(slots) * slot_bytes(cb, lb) <= sram_;
    };
    auto shrink = [&](std::int64_t lb) {
      return op.kernel == ScanKernel::chunked_ssd && lb > op.chunk ? ceil_div(lb, 2 * op.chunk) * op.chunk
                                                                   : ceil_div(lb, 2);
    };
    std::int64_t cb = per, lb = L;
    for (std::int64_t c = per;; c = ceil_div(c, 2)) {
      const std::int64_t heads = per_group > 0 ? step_heads(c) : c;
      std::int64_t l = L;
      while (l > 1 && !fits(heads, l)) l = shrink(l);
      if (fits(heads, l)) {
        cb = heads, lb = l;
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
      slots = 1;
      cb = 1;
      lb = L;
      while (lb > 1 && !fits(cb, lb)) lb = shrink(lb);
    }
    if (!fits(cb, lb))
      throw ConfigError(fmt::format("{}: {} needs {} bytes of tile SRAM for one channel and one token; the tile has {}",
                                    profile_.name, op.name, resident_of(1) + 2 * slot_bytes(1, 1), sram_));
    // The layout and estimate of (cb channels, lb tokens) per step.
    const OpMapping base = m;
    auto layout = [&](std::int64_t step_channels, std::int64_t step_tokens) {
      OpMapping c = base;
      c.channels_b = step_channels, c.head_dim_b = pb, c.length_b = step_tokens;
      c.scan_kernel = op.kernel;
      c.sram = SramLayout{resident_of(step_channels), slot_bytes(step_channels, step_tokens), slots};
      // One step per (session, channel block) (decode): the state rides in the step's slot,
      // so one session's state loads while the previous one's scan runs; A, D and the dt bias
      // stay for all the sessions of a channel block.
      const std::uint64_t state_bytes = align64(std::uint64_t(step_channels * pb * n) * 4);
      const std::uint64_t fixed = align64(fixed_of(step_channels));
      if (step_tokens >= L && slots == 2 &&
          fixed + 2 * (slot_bytes(step_channels, step_tokens) + state_bytes) <= sram_) {
        c.state_in_slot = true;
        c.sram = SramLayout{align64(fixed), slot_bytes(step_channels, step_tokens) + state_bytes, 2};
      }
      c.partition = op.version == 2 ? Partition::heads : Partition::channels;
      // Units of work spread over the tiles: channels, or (head, row slice) pairs when a head's
      // rows are split (so the slices of one head run on several tiles).
      c.row_slices = ceil_div(p, pb);
      c.extent = channels * c.row_slices;
      c.tiles = split(c.extent, c.row_slices == 1 ? per : ceil_div(c.extent, std::min<std::int64_t>(tiles_, c.extent)));
      for (const Range& t : c.tiles) {
        // A step runs `step_channels` channels of the tile's, or one row slice.
        const std::int64_t groups = c.row_slices == 1 ? ceil_div(t.size(), step_channels) : t.size();
        c.steps = std::max(c.steps, op.sessions * groups * ceil_div(L, step_tokens));
      }
      // The first step of tile 0.
      const std::int64_t first_channels =
          c.row_slices == 1 ? std::min({step_channels, channels, c.tiles[0].size()}) : 1;
      const double step = cost_.work_cycles(
          scan_work(scan_rows(op, std::min(pb, p)), op.kernel, first_channels, std::min(step_tokens, L), profile_));
      const int tiles = static_cast<int>(c.tiles.size());
      // A step loads x, dt, B, C (and z) and stores y, one transfer each; each (session,
      // channel block) starts by loading A, D, the dt bias and its state and ends by storing
      // the state.
      const std::int64_t lbs = std::min(step_tokens, L), rows = first_channels * std::min(pb, p);
      const bool act = in_dram(op.in[0]), state_dram = in_dram(op.in[8]);
      const double step_dma = transfers(
          {{lbs * rows * bits(op.in[0]) / 8, act},
           {lbs * (op.dt_rank > 0 ? op.dt_rank * dt_low_bits : first_channels * bits(op.in[1])) / 8, in_dram(op.in[1])},
           {lbs * g * n * bits(op.in[3]) / 8, act},
           {lbs * g * n * bits(op.in[4]) / 8, act},
           {z ? lbs * rows * bits(op.in[6]) / 8 : 0, act},
           {lbs * rows * out_bits / 8, in_dram(op.out[0])}},
          tiles);
      const double weights_dma = transfers({{(op.version == 1 ? first_channels * n : first_channels) * 4, true},
                                            {first_channels * 4, true},
                                            {first_channels * 4, true},
                                            {std::int64_t(scan_dt_weight_bytes(op, mod_, first_channels)), true}},
                                           tiles);
      const double state_dma = dma_cycles(rows * n * bits(op.in[8]) / 8, state_dram, tiles);  // a load, or a store
      // The first loads include A, D and the dt bias (DRAM).
      const double load_wait = exposed(true), store_wait = exposed(in_dram(op.out[0]) || state_dram);
      if (c.state_in_slot) {
        // Runs are the channel blocks; every step also brings and returns its session's state.
        const std::int64_t runs = c.steps / std::max(1, op.sessions);
        c.cycles = pipelined(c.steps, step, step_dma + 2 * state_dma, runs, weights_dma, 0, load_wait, store_wait);
      } else {
        const std::int64_t runs = c.steps / std::max<std::int64_t>(1, ceil_div(L, step_tokens));
        c.cycles = pipelined(c.steps, step, step_dma, runs, weights_dma + state_dma, state_dma, load_wait, store_wait);
      }
      return c;
    };
    m = layout(cb, lb);
    // The search: every channel block of whole-head steps that fits, with its longest token
    // block and the halves of it down to 16 tokens; a candidate must be 5 % faster than the
    // first fit above (larger blocks mean fewer, larger commands).
    if (pb == p && slots == 2)
      for (std::int64_t c = per;; c = ceil_div(c, 2)) {
        const std::int64_t heads = per_group > 0 ? step_heads(c) : c;
        std::int64_t l = L;
        while (l > 1 && !fits(heads, l)) l = shrink(l);
        for (; fits(heads, l); l = shrink(l)) {
          const OpMapping candidate = layout(heads, l);
          if (candidate.cycles < m.cycles * 0.95) m = candidate;
          if (l <= 16 || l == shrink(l)) break;
        }
        if (c == 1) break;
      }
    // Mamba-2 heads that do not spread evenly over the tiles (mamba2-130m's 24 on 16: two heads
    // on 12 tiles, 4 idle) spread as row slices of heads (each step one slice of one head), when
    // the cost model finds that 5 % faster.
    if (op.version == 2 && pb == p && slots == 2 && channels % tiles_ != 0 && native) {
      const OpMapping whole_heads = m;
      for (std::int64_t rows = p / 2; rows >= 8 && p % rows == 0; rows /= 2) {
        pb = rows;
        std::int64_t l = L;
        while (l > 1 && !fits(1, l)) l = shrink(l);
        if (!fits(1, l)) break;
        const OpMapping candidate = layout(1, l);
        if (candidate.cycles < m.cycles * 0.95) m = candidate;
      }
      pb = m.head_dim_b;
      if (m.head_dim_b == whole_heads.head_dim_b) m = whole_heads;
    }
  }

  // --- ATTENTION ----------------------------------------------------------------------------
  void attention(const PrimOp& op, OpMapping& m) {
    const std::int64_t hd = op.head_dim, ql = op.length, kv = op.context + op.length;
    const int e_bits = tensor(op.in[0]).bits;
    const std::int64_t units = std::int64_t(op.sessions) * op.heads;
    const std::int64_t per = ceil_div(units, std::min<std::int64_t>(tiles_, units));
    // The probabilities enter the second product in the matrix precision: below fp32 the
    // vector unit converts them into a block of their own.
    auto p_bytes = [&](std::int64_t rows, std::int64_t k) {
      return e_bits < 32 ? std::uint64_t(rows * k * e_bits / 8) : 0;
    };
    const bool kv_dram = in_dram(op.in[1]), q_dram = in_dram(op.in[0]), out_dram = in_dram(op.out[0]);
    const int tiles = static_cast<int>(std::min<std::int64_t>(tiles_, units));
    // The estimate of q and kv blocks on the busiest tile: per (session, head) every query
    // block over the keys it sees (causal); a step loads its query block and a block of keys
    // and of values (the scores and probabilities stay in SRAM) and runs both products and
    // the softmax; each query block ends by storing its output.
    auto steps_of = [&](std::int64_t q, std::int64_t k) {
      std::int64_t steps = 0;
      for (std::int64_t q0 = 0; q0 < ql; q0 += q) steps += ceil_div(op.context + q0 + std::min(q, ql - q0), k);
      return per * steps;
    };
    auto estimate = [&](std::int64_t q, std::int64_t k) {
      const std::int64_t qb = q * hd * e_bits / 8, kb = k * hd * e_bits / 8;
      const double step = 2 * cost_.gemm_cycles(q, k, hd, op.precision) + cost_.vector_cycles(SSM_VEC_SOFTMAX, q, k);
      const double step_dma = transfers({{qb, q_dram}, {kb, kv_dram}, {kb, kv_dram}}, tiles);
      return pipelined(steps_of(q, k), step, step_dma, 1, 0, 0, exposed(q_dram || kv_dram), exposed(out_dram)) +
             double(per * ceil_div(ql, q)) * dma_cycles(q * hd * 4, out_dram, tiles);
    };
    // The fastest blocks whose operands fit the slots. Across key blocks the running output
    // needs an online-softmax rescale, which the Programs only time (a placeholder FMA): a
    // functional run takes all keys at once.
    std::int64_t mb = 0, kvb = 0;
    double fastest = 0;
    for (std::int64_t q : {ql, std::int64_t(256), std::int64_t(128), std::int64_t(64), std::int64_t(32),
                           std::int64_t(16), std::int64_t(8), std::int64_t(1)}) {
      if (q > ql) continue;
      for (std::int64_t k : {kv, std::int64_t(4096), std::int64_t(2048), std::int64_t(1024), std::int64_t(512),
                             std::int64_t(256), std::int64_t(128), std::int64_t(64), std::int64_t(32)}) {
        if (k > kv || (mod_.phase.functional && k < kv)) continue;
        const std::uint64_t slot = (q * hd * e_bits + 2 * k * hd * e_bits) / 8 + q * k * 4 + p_bytes(q, k);
        const std::uint64_t resident = 3 * q * hd * 4;
        if (2 * align64(slot) + align64(resident) > sram_) continue;
        const double cycles = estimate(q, k);
        if (mb == 0 || cycles < fastest) fastest = cycles, mb = q, kvb = k;
      }
    }
    if (mb == 0) {
      if (mod_.phase.functional)
        throw ConfigError(fmt::format(
            "{}: {}: functional attention over {} keys needs them in one block; the tile SRAM of {} bytes holds "
            "fewer",
            profile_.name, op.name, kv, sram_));
      throw ConfigError(
          fmt::format("{}: {}: no attention block of head_dim {} fits the tile SRAM", profile_.name, op.name, hd));
    }
    m.q_b = mb, m.kv_b = kvb;
    const std::uint64_t qbytes = (mb * hd * e_bits) / 8, kbytes = (kvb * hd * e_bits) / 8;
    // Resident: two running outputs (one is stored while the next fills) and the converted one.
    m.sram = SramLayout{align64(3 * std::uint64_t(mb * hd * 4)),
                        align64(qbytes + 2 * kbytes + mb * kvb * 4 + p_bytes(mb, kvb)), 2};
    m.partition = Partition::heads;
    m.extent = units;
    m.tiles = split(units, per);
    m.steps = steps_of(mb, kvb);
    m.cycles = fastest;
  }

  // --- COPY (DMA between shared memories) ---------------------------------------------------
  void copy(const PrimOp& op, OpMapping& m) {
    const TensorDef& src = tensor(op.in[0]);
    const TensorDef& dst = tensor(op.out[0]);
    const bool kv_append = dst.name.find("_cache") != std::string::npos;
    const std::int64_t cols = op.out[0].cols ? op.out[0].cols : dst.cols;
    // The DMA moves a piece per session (KV append) or per pass over the source's rows, from
    // shared memory to shared memory: no NoC link between, each piece its latency.
    const ssm_memory from = in_dram(op.in[0]) ? SSM_MEM_DRAM : SSM_MEM_GLOBAL_BUFFER;
    const ssm_memory to = in_dram(op.out[0]) ? SSM_MEM_DRAM : SSM_MEM_GLOBAL_BUFFER;
    double cycles = 0;
    auto piece = [&](std::int64_t rows) { cycles += cost_.dma_cycles(row_bytes(dst, cols) * rows, from, to, 0); };
    if (kv_append) {
      for (int s = 0; s < op.sessions; ++s) piece(op.rows / op.sessions);
    } else {
      for (std::int64_t r = 0; r < op.rows; r += src.rows) piece(std::min(src.rows - op.src_row0, op.rows - r));
    }
    m.partition = Partition::dma_rows;
    m.extent = op.rows;
    m.tiles = {Range{0, op.rows}};
    m.steps = 1;
    m.sram = SramLayout{0, 0, 2};
    m.cycles = cycles;
  }

  const Module& mod_;
  std::size_t module_index_;
  const MemoryPlan& plan_;
  const Profile& profile_;
  const CostModel& cost_;
  int tiles_;
  std::uint64_t sram_ = 0;
  std::map<GemmKey, GemmBlocks> gemm_memo_;
};

}  // namespace

bool vector_weight_input(const PrimOp& op, std::size_t i) {
  const ssm_vector_function f = op.function;
  const bool weight_b = f == SSM_VEC_RMSNORM || (f == SSM_VEC_TOPK && (op.flags & SSM_VEC_TOPK_BIAS));
  return (i == 1 && weight_b) || (i == 2 && f == SSM_VEC_GATED_RMSNORM);
}

std::uint64_t scan_work_bytes(const Work& w) {
  if (w.opcode == SSM_OP_GEMM)
    return std::max<std::uint64_t>(
        {std::uint64_t(w.m * w.k * 4), std::uint64_t(w.k * w.n * 4), std::uint64_t(w.m * w.n * 4)});
  if (w.opcode == SSM_OP_SCAN) return 0;
  return std::uint64_t(w.rows * w.cols * 4);
}

int scan_state_passes(const PrimOp& op, const Profile& profile) {
  return op.kernel == ScanKernel::native_split
             ? static_cast<int>(ceil_div(op.state, std::max(1, profile.tile.scan.max_state)))
             : 1;
}

std::uint64_t scan_dt_weight_bytes(const PrimOp& op, const Module& module, std::int64_t channels) {
  if (op.dt_rank <= 0) return 0;
  return align64(std::uint64_t(row_bytes(module.tensors.at(op.in[9].tensor), op.dt_rank) * channels));
}

PrimOp scan_rows(const PrimOp& op, std::int64_t head_dim_rows) {
  PrimOp rows = op;
  rows.head_dim = head_dim_rows;
  return rows;
}

OpMapping choose_mapping(const PrimOp& op, const Module& module, const MemoryPlan& plan, const Profile& profile,
                         const CostModel& cost, std::size_t module_index) {
  return Chooser(module, module_index, plan, profile, cost).choose(op);
}

std::vector<OpMapping> choose_mappings(const Module& module, std::size_t module_index, const MemoryPlan& plan,
                                       const Profile& profile) {
  const CostModel cost(profile);
  Chooser chooser(module, module_index, plan, profile, cost);
  std::vector<OpMapping> out;
  out.reserve(module.ops.size());
  for (const PrimOp& op : module.ops) out.push_back(chooser.choose(op));
  // An op that loads its first weights before the barrier hides their latency behind the
  // previous op's tail: its last stores' latency and the barrier (interrupt and dispatch).
  const std::vector<SramPlacement> places = place_in_sram(module, out, profile);
  for (std::size_t i = 1; i < out.size(); ++i) {
    const PrimOp& op = module.ops[i];
    bool loads_weights = op.kind != Prim::attention && op.kind != Prim::copy;
    if (op.kind == Prim::vector) {
      loads_weights = false;
      for (std::size_t k = 0; k < op.in.size(); ++k) loads_weights = loads_weights || vector_weight_input(op, k);
    }
    if (!places[i].prefetch || !loads_weights) continue;
    const PrimOp& previous = module.ops[i - 1];
    const bool stored_to_dram = !previous.out.empty() && previous.out[0].tensor >= 0 &&
                                in_dram(module, previous.out[0].tensor, plan, module_index);
    const double tail = cost.dma_exposed_latency(stored_to_dram) + profile.control.interrupt_latency_cycles +
                        profile.control.dispatch_latency_cycles;
    out[i].cycles -= std::min(cost.dma_exposed_latency(true), tail);
  }
  return out;
}

std::vector<SramPlacement> place_in_sram(const Module& module, const std::vector<OpMapping>& mappings,
                                         const Profile& profile) {
  const std::uint64_t sram = static_cast<std::uint64_t>(profile.tile.sram.size_bytes);
  std::vector<SramPlacement> places(mappings.size());
  std::uint64_t previous_base = 0, previous_bytes = 0;
  for (std::size_t i = 0; i < mappings.size(); ++i) {
    const OpMapping& m = mappings[i];
    const std::uint64_t bytes = m.sram.total_bytes();
    const Prim kind = module.ops.at(i).kind;
    const bool placeable = kind != Prim::copy && !(kind == Prim::gemm && m.b_broadcast);
    if (placeable && i > 0) {
      const std::uint64_t base = bytes <= previous_base ? 0 : align64(previous_base + previous_bytes);
      if (base + bytes <= sram) places[i] = SramPlacement{base, true};
    }
    previous_base = places[i].base;
    previous_bytes = bytes;
  }
  return places;
}

double estimated_cycles(const std::vector<OpMapping>& mappings) {
  double cycles = 0;
  for (const OpMapping& m : mappings) cycles += m.cycles;
  return cycles;
}

std::string_view partition_name(const OpMapping& m) {
  switch (m.partition) {
    case Partition::repeat:
      return "repeat";
    case Partition::n:
      return "n";
    case Partition::m:
      return m.b_broadcast ? "m(bcast)" : "m";
    case Partition::k:
      return "k(split)";
    case Partition::rows:
      return "rows";
    case Partition::cols:
      return "cols";
    case Partition::channels:
      return "channels";
    case Partition::heads:
      return "heads";
    case Partition::dma_rows:
      return "rows(dma)";
  }
  return "?";
}

std::string blocks_summary(const OpMapping& m) {
  const std::int64_t per = m.tiles.empty() ? 0 : m.tiles[0].size();  // units of the first (fullest) tile
  switch (m.kind) {
    case Prim::gemm:
      return m.b_broadcast ? fmt::format("m_b={} n_b={} k_b={} leaders={}{}{}", m.m_b, m.n_b, m.k_b, m.b_leaders,
                                         m.b_groups > 1 ? fmt::format(" groups={}", m.b_groups) : "",
                                         m.c_chunks > 1 ? fmt::format(" c_chunks={}", m.c_chunks) : "")
                           : fmt::format("m_b={} n_b={} k_b={}{}", m.m_b, m.n_b, m.k_b,
                                         m.sram.slots > 2 ? fmt::format(" slots={}", m.sram.slots) : "");
    case Prim::vector:
      return fmt::format("rows_b={} cols_b={}{}", m.rows_b, m.cols_b, m.sram.slots == 1 ? " single-buffered" : "");
    case Prim::conv1d:
      return fmt::format("channels={} length_b={}", per, m.length_b);
    case Prim::scan:
      return m.row_slices == 1 ? fmt::format("{}={} block={} length_b={} kernel={}", partition_name(m), per,
                                             m.channels_b, m.length_b, scan_kernel_name(m.scan_kernel))
                               : fmt::format("row_slices={} head_dim_b={} length_b={} kernel={}", per, m.head_dim_b,
                                             m.length_b, scan_kernel_name(m.scan_kernel));
    case Prim::attention:
      return fmt::format("heads={} q_b={} kv_b={}", per, m.q_b, m.kv_b);
    case Prim::copy:
      return fmt::format("rows={}", m.extent);
  }
  return "";
}

TiledOp summarize(const OpMapping& m) {
  return TiledOp{m.name,
                 m.kind,
                 static_cast<int>(m.tiles.size()),
                 std::string(partition_name(m)),
                 blocks_summary(m),
                 m.steps,
                 static_cast<std::int64_t>(m.sram.total_bytes()),
                 m.cycles,
                 0,
                 ""};
}

std::string dump_tiled(const std::vector<TiledOp>& tiled) {
  std::string out;
  for (const TiledOp& t : tiled)
    out += fmt::format("{:<9} {:<34} tiles={:<4} by {:<9} {:<44} steps={:<6} sram={:<8} est={:.0f} cycles\n",
                       prim_name(t.kind), t.name, t.tiles, t.partition, t.blocks, t.steps, t.sram_bytes, t.cycles);
  return out;
}

std::string dump_mapping(const std::vector<TiledOp>& tiled) {
  std::string out;
  for (const TiledOp& t : tiled)
    out += fmt::format("{:<9} {:<34} by {:<9} {:<44} est={:<11.0f} bound={:<11.0f} ({:<7}) x{:.2f}\n",
                       prim_name(t.kind), t.name, t.partition, t.blocks, t.cycles, t.bound_cycles, t.bound_by,
                       t.bound_cycles > 0 ? t.cycles / t.bound_cycles : 0.0);
  return out;
}

}  // namespace ssmsoc::compiler
