// Mappings as values: properties of the chosen mappings of generated GEMM, scan and vector
// ops on every shipped profile, one mapping worked by hand, and the emitter following them.
#include "compiler/mapping.hpp"

#include <gtest/gtest.h>

#include <random>
#include <utility>

#include "arch/spec/config_tree.hpp"
#include "compiler/codegen.hpp"
#include "compiler/memory_plan.hpp"

namespace ssmsoc::compiler {
namespace {

int bits_of(Precision p) {
  static constexpr int bits[] = {4, 8, 8, 16, 16, 32, 32, 64};
  return bits[static_cast<int>(p)];
}

// A Module of one op over tensors made for it, and its memory plan.
struct OneOp {
  Module module;
  MemoryPlan plan;
  const PrimOp& op() const { return module.ops.at(0); }
};

int add_tensor(Module& m, const std::string& name, TensorKind kind, std::int64_t rows, std::int64_t cols,
               int bits = 32) {
  m.tensors.push_back(TensorDef{name, kind, rows, cols, bits});
  return static_cast<int>(m.tensors.size()) - 1;
}

OneOp planned(Module m, const Profile& profile, int tokens) {
  m.phase = Phase{"prefill", tokens, 1, 0, tokens, false, false};
  OneOp one{std::move(m), {}};
  one.plan = plan_memory({&one.module}, profile, "generated", 1, tokens);
  return one;
}

// C[repeat * m, n] = A[repeat * m, k] · W[repeat * n, k]ᵀ in the profile's matrix precision.
OneOp gemm_op(const Profile& profile, std::int64_t m, std::int64_t n, std::int64_t k, int repeat) {
  Module mod;
  mod.precision = choose_precision(profile, "");
  const int bits = bits_of(mod.precision);
  PrimOp op;
  op.kind = Prim::gemm;
  op.name = "gemm";
  op.m = m, op.n = n, op.k = k, op.repeat = repeat;
  op.precision = mod.precision;
  op.in = {View{add_tensor(mod, "a", TensorKind::activation, repeat * m, k, bits)},
           View{add_tensor(mod, "w", TensorKind::weight, repeat * n, k, bits)}};
  op.out = {View{add_tensor(mod, "c", TensorKind::activation, repeat * m, n)}};
  mod.ops.push_back(op);
  return planned(std::move(mod), profile, static_cast<int>(m));
}

// A Mamba-1 (channels, N) or Mamba-2 (heads, head_dim, N, groups) scan of `length` tokens,
// with the kernel select_scan_kernels picks for the profile.
OneOp scan_op(const Profile& profile, int version, std::int64_t channels, std::int64_t head_dim, std::int64_t state,
              std::int64_t groups, std::int64_t length) {
  Module mod;
  mod.precision = choose_precision(profile, "");
  const std::int64_t width = channels * head_dim;
  PrimOp op;
  op.kind = Prim::scan;
  op.name = "scan";
  op.version = version;
  op.channels = channels, op.head_dim = head_dim, op.state = state, op.groups = groups, op.length = length;
  op.softplus = op.skip = true;
  op.gate = version == 1;
  const int z = version == 1 ? add_tensor(mod, "z", TensorKind::activation, length, width) : -1;
  op.in = {View{add_tensor(mod, "x", TensorKind::activation, length, width)},
           View{add_tensor(mod, "dt", TensorKind::activation, length, channels)},
           View{add_tensor(mod, "A", TensorKind::weight, version == 1 ? channels : 1, version == 1 ? state : channels)},
           View{add_tensor(mod, "B", TensorKind::activation, length, groups * state)},
           View{add_tensor(mod, "C", TensorKind::activation, length, groups * state)},
           View{add_tensor(mod, "D", TensorKind::weight, 1, channels)},
           View{z},
           View{add_tensor(mod, "dt_bias", TensorKind::weight, 1, channels)},
           View{add_tensor(mod, "ssm_state", TensorKind::state, width, state)}};
  op.out = {View{add_tensor(mod, "y", TensorKind::activation, length, width)}};
  mod.ops.push_back(op);
  select_scan_kernels(mod, profile);
  return planned(std::move(mod), profile, static_cast<int>(length));
}

// A VECTOR op over rows x cols (RMSNORM with its per-column weight, ADD with two inputs).
OneOp vector_op(const Profile& profile, ssm_vector_function f, std::int64_t rows, std::int64_t cols) {
  Module mod;
  PrimOp op;
  op.kind = Prim::vector;
  op.name = "vector";
  op.function = f;
  op.rows = rows, op.cols = cols;
  op.in = {View{add_tensor(mod, "x", TensorKind::activation, rows, cols)}};
  if (f == SSM_VEC_RMSNORM) op.in.push_back(View{add_tensor(mod, "norm", TensorKind::weight, 1, cols)});
  if (f == SSM_VEC_ADD) op.in.push_back(View{add_tensor(mod, "y", TensorKind::activation, rows, cols)});
  op.out = {View{add_tensor(mod, "out", TensorKind::activation, rows, cols)}};
  mod.ops.push_back(op);
  return planned(std::move(mod), profile, static_cast<int>(rows));
}

std::vector<Profile> shipped_profiles() {
  std::vector<Profile> out;
  for (const auto& file : shipped_profile_files()) out.push_back(load_profile_file(file));
  return out;
}

// What every mapping must be: the tiles it uses exist, its partition covers the dimension
// once, its regions are aligned, do not overlap and fit the tile SRAM.
void expect_well_formed(const OpMapping& m, const Profile& profile, std::int64_t extent) {
  SCOPED_TRACE(profile.name + ": " + dump_tiled({summarize(m)}));
  ASSERT_FALSE(m.tiles.empty());
  EXPECT_LE(m.tiles.size(), std::size_t(profile.tile_count));
  EXPECT_EQ(m.extent, extent);
  std::int64_t next = 0;
  for (const Range& r : m.tiles) {
    EXPECT_EQ(r.begin, next);
    EXPECT_GT(r.size(), 0);
    next = r.end;
  }
  EXPECT_EQ(next, extent);
  EXPECT_TRUE(m.sram.slots >= 1 && m.sram.slots <= kMaxSlots);
  EXPECT_EQ(m.sram.resident_bytes % 64, 0u);
  EXPECT_EQ(m.sram.slot_bytes % 64, 0u);
  for (int s = 0; s < m.sram.slots; ++s) {
    EXPECT_GE(m.sram.slot_base(s), s == 0 ? m.sram.resident_bytes : m.sram.slot_base(s - 1) + m.sram.slot_bytes);
  }
  EXPECT_LE(m.sram.slot_base(m.sram.slots - 1) + m.sram.slot_bytes, std::uint64_t(profile.tile.sram.size_bytes));
  EXPECT_GE(m.steps, 1);
  EXPECT_GT(m.cycles, 0);
}

// Per tile, the commands of `opcode` in the Program.
std::vector<std::int64_t> commands_per_tile(const Program& p, int tiles, unsigned opcode) {
  std::vector<std::int64_t> count(tiles, 0);
  for (const ProgramStream& s : p.streams)
    for (const ssm_command& c : s.commands)
      if (c.head.opcode == opcode) ++count.at(s.tile);
  return count;
}

// Emits the mapping and checks the Program: it validates against the profile (every tile
// operand inside the tile SRAM) and the busiest tile runs `steps` x `per_step` commands of
// `opcode` (per_step 0: not counted).
void expect_emits(const OneOp& one, const OpMapping& m, const Profile& profile, unsigned opcode, int per_step) {
  const CodegenResult g = generate_program(one.module, 0, one.plan, {m}, profile);
  EXPECT_NO_THROW(validate_program(g.program, m.name, &profile));
  if (per_step == 0) return;
  const auto count = commands_per_tile(g.program, profile.tile_count, opcode);
  EXPECT_EQ(*std::max_element(count.begin(), count.end()), m.steps * per_step) << m.name << " on " << profile.name;
  for (std::size_t t = m.tiles.size(); t < count.size(); ++t) EXPECT_EQ(count[t], 0) << "tile " << t;
}

TEST(GemmMapping, GeneratedShapesOnEveryProfile) {
  std::mt19937 rng(7);
  int broadcast = 0, groups = 0, split_k = 0;
  auto pick = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  for (const Profile& profile : shipped_profiles()) {
    for (int i = 0; i < 12; ++i) {
      const std::int64_t m = i % 4 == 0 ? 1 : pick(2, 600), n = 16 * pick(1, 256), k = 32 * pick(1, 128);
      const int repeat = i % 6 == 5 ? static_cast<int>(pick(2, 24)) : 1;
      const OneOp one = gemm_op(profile, m, n, k, repeat);
      const CostModel cost(profile);
      const OpMapping map = choose_mapping(one.op(), one.module, one.plan, profile, cost);
      const std::int64_t extent = map.partition == Partition::repeat ? repeat
                                  : map.partition == Partition::n    ? n
                                  : map.partition == Partition::k    ? k
                                                                     : m;
      ASSERT_TRUE(map.partition == Partition::repeat || map.partition == Partition::n ||
                  map.partition == Partition::m || map.partition == Partition::k);
      if (map.partition == Partition::k) {  // few rows; the sums' rows cover the m x n cells once
        EXPECT_LE(m, 16);
        EXPECT_EQ(repeat, 1);
        std::int64_t next = 0;
        for (const Range& r : map.reduce_rows) EXPECT_EQ(r.begin, std::exchange(next, r.end));
        EXPECT_EQ(next, m * n);
        EXPECT_LE(map.reduce_rows.size(), std::size_t(profile.tile_count));
        ++split_k;
      }
      if (map.b_groups > 1) {  // each group of tiles covers the rows, its share of the columns
        ASSERT_TRUE(map.b_broadcast);
        ASSERT_EQ(map.tiles.size() % std::size_t(map.b_groups), 0u);
        EXPECT_GE(map.b_group_cols * map.b_groups, n);
        EXPECT_LT(map.b_group_cols * (map.b_groups - 1), n);
        const std::size_t per_group = map.tiles.size() / std::size_t(map.b_groups);
        OpMapping group = map;
        group.tiles.resize(per_group);
        for (std::size_t t = 0; t < map.tiles.size(); ++t) EXPECT_EQ(map.tiles[t], map.tiles[t % per_group]);
        expect_well_formed(group, profile, extent);
        ++groups;
      } else {
        expect_well_formed(map, profile, extent);
      }
      // The blocks lie inside the dimensions; A and B of a block fill one slot, two C
      // accumulators the resident region.
      EXPECT_TRUE(map.m_b >= 1 && map.m_b <= m && map.n_b >= 1 && map.n_b <= n && map.k_b >= 1 && map.k_b <= k);
      const int bits = bits_of(one.op().precision);
      if (map.b_broadcast) {  // a slot holds the B block; C twice and the tile's rows of A stay
        EXPECT_EQ(map.partition, Partition::m);
        EXPECT_EQ(repeat, 1);
        EXPECT_LE(std::uint64_t(map.n_b * map.k_b * bits / 8), map.sram.slot_bytes);
        EXPECT_LE(std::uint64_t(2 * map.m_b * map.n_b * 4 + map.m_b * k * bits / 8), map.sram.resident_bytes);
        EXPECT_TRUE(map.b_leaders >= 1 && map.b_leaders <= int(map.tiles.size()) && map.n_b >= 16 * map.b_leaders);
        ++broadcast;
      } else if (map.partition == Partition::k) {  // a slot holds the weight block; A's slice and C stay
        EXPECT_LE(std::uint64_t(map.n_b * map.k_b * bits / 8), map.sram.slot_bytes);
        EXPECT_LE(std::uint64_t(m * map.k_b * bits / 8 + m * n * 4), map.sram.resident_bytes);
      } else {
        EXPECT_LE(std::uint64_t((map.m_b + map.n_b) * map.k_b * bits / 8), map.sram.slot_bytes);
        EXPECT_LE(std::uint64_t(2 * map.m_b * map.n_b * 4), map.sram.resident_bytes);
      }
      // One GEMM command per step (split over k: then the sums, on the vector unit).
      expect_emits(one, map, profile, SSM_OP_GEMM, 1);
    }
  }
  EXPECT_GT(broadcast, 0) << "no generated shape took the broadcast mapping";
  EXPECT_GT(groups, 0) << "no generated shape took the broadcast by groups of tiles";
  EXPECT_GT(split_k, 0) << "no generated shape took the split over k";
}

TEST(ScanMapping, GeneratedWidthsStatesAndLengthsOnEveryProfile) {
  std::mt19937 rng(11);
  auto pick = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  const std::int64_t states[] = {4, 16, 64, 128};
  int mapped = 0, state_in_slot = 0;
  for (const Profile& profile : shipped_profiles()) {
    for (int i = 0; i < 8; ++i) {
      const int version = i % 2 ? 2 : 1;
      const std::int64_t channels = version == 1 ? 16 * pick(1, 96) : 8 * pick(1, 8);
      const std::int64_t head_dim = version == 1 ? 1 : 32 * pick(1, 2), state = states[pick(0, 3)];
      const std::int64_t length = i % 4 == 3 ? 1 : pick(2, 300);
      const OneOp one = scan_op(profile, version, channels, head_dim, state, version == 1 ? 1 : 2, length);
      const CostModel cost(profile);
      OpMapping map;
      try {
        map = choose_mapping(one.op(), one.module, one.plan, profile, cost);
      } catch (const ConfigError& e) {  // no step of one channel and one token fits
        EXPECT_NE(std::string(e.what()).find("bytes of tile SRAM for one channel and one token"), std::string::npos);
        continue;
      }
      ++mapped;
      expect_well_formed(map, profile, channels * map.row_slices);
      EXPECT_EQ(map.partition, version == 2 ? Partition::heads : Partition::channels);
      EXPECT_TRUE(map.channels_b >= 1 && map.channels_b <= channels && map.length_b >= 1 && map.length_b <= length);
      EXPECT_EQ(map.row_slices, (head_dim + map.head_dim_b - 1) / map.head_dim_b);
      // Resident: A (Mamba-1: a row of N per channel), D, dt bias and the block's states; the
      // states in the slot instead where a (session, channel block) is one step.
      const std::int64_t cb = map.channels_b, pb = map.head_dim_b;
      const std::uint64_t state_bytes = std::uint64_t(cb * pb * state) * 4;
      EXPECT_EQ(map.state_in_slot, map.state_in_slot && map.length_b == length);
      state_in_slot += map.state_in_slot;
      EXPECT_LE(std::uint64_t(((version == 1 ? cb * state : cb) + 2 * cb) * 4) + (map.state_in_slot ? 0 : state_bytes),
                map.sram.resident_bytes);
      // A slot: per token x, out (and z), dt, B and C of the block.
      EXPECT_LE(
          std::uint64_t((cb * pb * (version == 1 ? 3 : 2) + cb + 2 * one.op().groups * state) * 4 * map.length_b) +
              (map.state_in_slot ? state_bytes : 0),
          map.sram.slot_bytes);
      const bool native = one.op().kernel == ScanKernel::native || one.op().kernel == ScanKernel::native_split;
      expect_emits(one, map, profile, SSM_OP_SCAN, native ? scan_state_passes(one.op(), profile) : 0);
    }
  }
  EXPECT_GT(mapped, 40);
  EXPECT_GT(state_in_slot, 0);  // the one-token scans at least
}

// Mamba-2 heads that do not divide over the tiles spread as row slices: mamba2-130m's 24
// heads of 64 rows (N = 128) at 512 tokens on krsna-mobile's 16 tiles as whole heads would run
// 2 on 12 tiles and leave 4 idle; as 48 half-head slices, 3 on every tile, with one slice of
// one head per step. The same heads on 8 tiles (3 each) stay whole.
TEST(ScanMapping, HeadsThatDoNotDivideOverTheTilesSpreadAsRowSlices) {
  const Profile mobile = load_profile("krsna-mobile");
  const OneOp uneven = scan_op(mobile, 2, 24, 64, 128, 1, 512);
  const OpMapping map = choose_mapping(uneven.op(), uneven.module, uneven.plan, mobile, CostModel(mobile));
  EXPECT_EQ(map.row_slices, 2);
  EXPECT_EQ(map.head_dim_b, 32);
  EXPECT_EQ(map.channels_b, 1);
  ASSERT_EQ(map.tiles.size(), 16u);
  for (const Range& t : map.tiles) EXPECT_EQ(t.size(), 3);
  expect_well_formed(map, mobile, 24 * map.row_slices);
  expect_emits(uneven, map, mobile, SSM_OP_SCAN, 1);

  Profile eight = mobile;
  eight.tile_count = 8;
  eight.grid_rows = 2, eight.grid_cols = 4;
  const OneOp even = scan_op(eight, 2, 24, 64, 128, 1, 512);
  const OpMapping whole = choose_mapping(even.op(), even.module, even.plan, eight, CostModel(eight));
  EXPECT_EQ(whole.row_slices, 1);
  EXPECT_EQ(whole.head_dim_b, 64);
}

TEST(VectorMapping, GeneratedSizesOnEveryProfile) {
  std::mt19937 rng(13);
  auto pick = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  const ssm_vector_function functions[] = {SSM_VEC_ADD, SSM_VEC_SILU, SSM_VEC_RMSNORM, SSM_VEC_SOFTMAX};
  for (const Profile& profile : shipped_profiles()) {
    for (int i = 0; i < 12; ++i) {
      const ssm_vector_function f = functions[i % 4];
      // RMSNORM's weight row stays resident: at most an eighth of the SRAM here.
      const std::int64_t max_cols = f == SSM_VEC_RMSNORM ? profile.tile.sram.size_bytes / 32 : 20000;
      const std::int64_t rows = i % 3 == 0 ? pick(1, 3) : pick(1, 2048), cols = pick(1, max_cols);
      const OneOp one = vector_op(profile, f, rows, cols);
      const CostModel cost(profile);
      const OpMapping map = choose_mapping(one.op(), one.module, one.plan, profile, cost);
      const bool by_cols = map.partition == Partition::cols;
      expect_well_formed(map, profile, by_cols ? cols : rows);
      EXPECT_EQ(by_cols, f != SSM_VEC_SOFTMAX && f != SSM_VEC_RMSNORM && rows < profile.tile_count);
      EXPECT_TRUE(map.rows_b >= 1 && map.rows_b <= rows && map.cols_b >= 1 && map.cols_b <= cols);
      // A slot: the block of each data input and of the output; resident: RMSNORM's weight.
      const std::int64_t inputs = f == SSM_VEC_ADD ? 2 : 1;
      EXPECT_LE(std::uint64_t(map.rows_b * map.cols_b * (inputs + 1) * 4), map.sram.slot_bytes);
      EXPECT_EQ(map.sram.resident_bytes, f == SSM_VEC_RMSNORM ? align64(std::uint64_t(cols) * 4) : 0u);
      expect_emits(one, map, profile, SSM_OP_VECTOR, 1);  // float32 out: one command per step
    }
  }
}

// krsna-wear: 4 tiles of 256 KiB SRAM, a 16 x 16 bf16 array; activations in the global buffer.
// GEMM m=16 n=64 k=128 (16 rows: one tile's worth, so the weights broadcast, which splits by
// rows, is no candidate):
//   parts by n: min(4 tiles, ceil(64 / 16 columns)) = 4; by m: min(4, ceil(16 / 16 rows)) = 1
//   -> by n, ceil(ceil(64/4) / 16) x 16 = 16 columns per tile: n 0-15, 16-31, 32-47, 48-63.
//   Blocks of the tile's m=16 n=16 k=128: candidates m_b in {16, 8}, n_b {16}, k_b
//   {128, 32, 64}, and 2 to 4 slots. The DMA keeps 4 transfers in flight
//   (tile.dma.outstanding_transfers), so a step's loads cost their bytes, not a latency each;
//   what bounds a small step is its slot's round trip (loads, their latency, the control
//   core's signal to the array, the GEMM, the signal back), which a third slot spreads over
//   three steps. Four steps of k_b = 32 (A and B blocks of 16 x 32 x 2 = 1024 B) in three
//   slots are the fastest, and the fewest steps within 2 % of that.
//   SRAM: resident 2 C = 2048 B, slots of A + B = 2048 B each: 2048 + 3 x 2048 = 8192 B.
TEST(GemmMapping, SmallGemmOnKrsnaWearWorkedByHand) {
  const Profile profile = load_profile("krsna-wear");
  ASSERT_EQ(profile.tile_count, 4);
  ASSERT_EQ(profile.tile.sram.size_bytes, 256 * 1024);
  ASSERT_EQ(profile.tile.matrix.cols, 16);
  ASSERT_EQ(profile.tile.dma.outstanding_transfers, 4);
  const OneOp one = gemm_op(profile, 16, 64, 128, 1);
  ASSERT_EQ(one.op().precision, Precision::bf16);
  ASSERT_EQ(one.plan.activation_memory.at(0), SSM_MEM_GLOBAL_BUFFER);
  const CostModel cost(profile);
  const OpMapping m = choose_mapping(one.op(), one.module, one.plan, profile, cost);
  EXPECT_EQ(m.partition, Partition::n);
  EXPECT_FALSE(m.b_broadcast);
  EXPECT_EQ(m.extent, 64);
  EXPECT_EQ(m.tiles, (std::vector<Range>{{0, 16}, {16, 32}, {32, 48}, {48, 64}}));
  EXPECT_EQ(m.m_b, 16);
  EXPECT_EQ(m.n_b, 16);
  EXPECT_EQ(m.k_b, 32);
  EXPECT_EQ(m.sram.resident_bytes, 2048u);
  EXPECT_EQ(m.sram.slot_bytes, 2048u);
  EXPECT_EQ(m.sram.slots, 3);
  EXPECT_EQ(m.sram.total_bytes(), 8192u);
  EXPECT_EQ(m.steps, 4);
  // Each step: its GEMM against its loads (B from DRAM, A from the global buffer, 4 tiles
  // sharing them), or the slot's round trip over the 3 slots (where slots are refilled); then the first loads (and
  // their latency) and the last GEMM that do not overlap, the store of C and its latency, and
  // the barrier after the op (the control core's interrupt and a dispatch).
  const double sync = profile.control.interrupt_latency_cycles + profile.control.dispatch_latency_cycles;
  auto estimate = [&](std::int64_t kb, int slots) {
    const double gemm = cost.gemm_cycles(16, 16, kb, Precision::bf16);
    const double loads = cost.dma_stream_cycles(16 * kb * 2, true, 4) + cost.dma_stream_cycles(16 * kb * 2, false, 4);
    const double wait = cost.dma_exposed_latency(true);
    const std::int64_t steps = 128 / kb;
    const double round_trip = steps > slots ? (gemm + loads + wait + 2 * sync) / slots : 0.0;
    const double step = std::max({gemm, loads, round_trip});
    return double(steps) * step + std::min(gemm, loads) + wait + cost.dma_stream_cycles(1024, false, 4) +
           cost.dma_exposed_latency(false) + sync;
  };
  EXPECT_GT(cost.dma_exposed_latency(true), 0.0);
  EXPECT_DOUBLE_EQ(m.cycles, estimate(32, 3));
  EXPECT_LT(estimate(32, 3), estimate(32, 2));   // the third slot pays
  EXPECT_GT(estimate(64, 2), 1.02 * m.cycles);   // two larger steps are slower by more than 2 %
  EXPECT_GT(estimate(128, 2), 1.02 * m.cycles);  // and one step more so
  const std::string line = dump_tiled({summarize(m)});
  EXPECT_EQ(line.substr(0, line.find(" est=")),
            "gemm      gemm                               tiles=4    by n         m_b=16 n_b=16 k_b=32 slots=3"
            "                 steps=4      sram=8192    ");
}

// krsna-dc decode, Mamba-2.8B's out_proj: m=1 n=2560 k=5120, weight-bound (26 MB). The
// array's 64 columns would give ceil(2560 / 64) = 40 tiles of 64 columns, 32 of them on the
// north edge's 8 memory ports: 4 tiles share a port link (128 B/cycle: 32 B/cycle each) for
// 655 kB each, 20.5 k cycles. Forty columns on each of the 64 tiles also put 4 on each of
// the 16 ports, for 410 kB each: 12.8 k cycles, the bound. The mapper takes the 64 tiles.
TEST(GemmMapping, OneTokenGemmOnKrsnaDcSpreadsItsWeightsOverEveryMemoryPort) {
  const Profile profile = load_profile("krsna-dc");
  const OneOp one = gemm_op(profile, 1, 2560, 5120, 1);
  const CostModel cost(profile);
  const OpMapping m = choose_mapping(one.op(), one.module, one.plan, profile, cost);
  EXPECT_EQ(m.partition, Partition::n);
  ASSERT_EQ(m.tiles.size(), 64u);
  for (const Range& r : m.tiles) EXPECT_EQ(r.size(), 40);
  // Each tile's weights at 128 / 4 B/cycle: 40 x 5120 x 2 / 32 = 12,800 cycles at least.
  EXPECT_GE(m.cycles, 12800.0);
  EXPECT_LE(m.cycles, 1.5 * 12800.0);
  EXPECT_DOUBLE_EQ(cost.dma_cycles(40 * 5120 * 2, true, 64) - cost.dma_cycles(0, true, 64), 12800.0);
  EXPECT_DOUBLE_EQ(cost.dma_cycles(64 * 5120 * 2, true, 40) - cost.dma_cycles(0, true, 40), 20480.0);
}

// krsna-mobile (16 tiles of 512 KiB, 512 bf16 MACs per tile and cycle, 51.2 B/cycle of DRAM):
// Mamba-2.8B's in_proj at 512 tokens, m=512 n=10240 k=2560: A (2.6 MB of bf16) fits the
// global buffer and stays there, C (21 MB of float32) spills to DRAM (plan_memory's split
// arena). By n each tile would read A once per n block; by m each would read all 52 MB of
// weights. Broadcast: 16 tiles of 32 rows, each keeping its 32 x 2560 bf16 rows of A
// (163,840 B) and two 32 x n_b float32 C blocks; a slot holds an n_b x k_b B block. The
// fewest steps within 2 % of the fastest: n_b=32 (the B block 32 x 2560 = 163,840 B per slot),
// k_b=2560, one leader (its 163,840 B at the whole 51.2 B/cycle take 3,200 cycles, under the
// 32 x 32 x 2560 GEMM's), 320 steps. Resident 163,840 + 8,192 = 172,032 B; 2 slots: 499,712 B.
// The bound: 512 x 10240 x 2560 MACs / (16 x 512) = 1,638,400 cycles of compute against
// 73,400,320 compulsory DRAM bytes (weights and C once) / 51.2 = 1,433,600 cycles.
TEST(GemmMapping, WeightsBroadcastOnKrsnaMobileWorkedByHand) {
  const Profile profile = load_profile("krsna-mobile");
  const OneOp one = gemm_op(profile, 512, 10240, 2560, 1);
  ASSERT_EQ(one.plan.activation_memory.at(0), SSM_MEM_GLOBAL_BUFFER);
  ASSERT_FALSE(one.plan.activation_spilled.at(0).at(std::size_t(one.op().in[0].tensor)));
  ASSERT_TRUE(one.plan.activation_spilled.at(0).at(std::size_t(one.op().out[0].tensor)));
  const CostModel cost(profile);
  const OpMapping m = choose_mapping(one.op(), one.module, one.plan, profile, cost);
  EXPECT_TRUE(m.b_broadcast);
  EXPECT_EQ(m.partition, Partition::m);
  ASSERT_EQ(m.tiles.size(), 16u);
  for (std::size_t t = 0; t < 16; ++t) EXPECT_EQ(m.tiles[t], (Range{std::int64_t(t) * 32, std::int64_t(t + 1) * 32}));
  EXPECT_EQ(m.m_b, 32);
  EXPECT_EQ(m.n_b, 32);
  EXPECT_EQ(m.k_b, 2560);
  EXPECT_EQ(m.b_leaders, 1);
  EXPECT_EQ(m.steps, 320);
  EXPECT_EQ(m.sram.resident_bytes, 172032u);
  EXPECT_EQ(m.sram.slot_bytes, 163840u);
  EXPECT_EQ(m.sram.total_bytes(), 499712u);
  // The rows of A once, then per step the GEMM or the B block plus a share of the C store,
  // whichever is longer (the slot's round trip is shorter here); the first block's broadcast,
  // its latency and the last GEMM do not overlap; the last C store and its latency; the
  // barrier after the op.
  const double store = cost.dma_stream_cycles(32 * 32 * 4, true, 16);
  const double gemm = cost.gemm_cycles(32, 32, 2560, Precision::bf16);
  const double bring = std::max(3200.0, (3200.0 + cost.dma_cycles(0, true, 1)) / 8);
  const double sync = profile.control.interrupt_latency_cycles + profile.control.dispatch_latency_cycles;
  const double wait = cost.dma_exposed_latency(true);
  ASSERT_GT(gemm, bring + store);
  ASSERT_GT(gemm, (gemm + bring + store + wait + 2 * sync) / 2);
  EXPECT_DOUBLE_EQ(m.cycles, cost.dma_stream_cycles(163840, false, 16) + 320 * gemm + std::min(gemm, bring) + wait +
                                 store + wait + sync);
  const Bound b = op_bound(one.op(), one.module, 0, one.plan, profile);
  EXPECT_DOUBLE_EQ(b.matrix_cycles, 1638400.0);
  EXPECT_EQ(b.dram_bytes, 73400320u);
  EXPECT_DOUBLE_EQ(b.dram_cycles, 1433600.0);
  EXPECT_STREQ(b.bound_by(), "compute");
  EXPECT_GT(m.cycles, b.cycles());
  EXPECT_LT(m.cycles, 1.4 * b.cycles());
  // Emitted: one GEMM per step on every tile, and one broadcast of the B block per step.
  expect_emits(one, m, profile, SSM_OP_GEMM, 1);
  const CodegenResult g = generate_program(one.module, 0, one.plan, {m}, profile);
  std::int64_t broadcasts = 0;
  for (const ProgramStream& st : g.program.streams)
    for (const ssm_command& c : st.commands)
      if (c.head.opcode == SSM_OP_DMA && (c.head.flags & SSM_DMA_BROADCAST)) {
        ++broadcasts;
        EXPECT_EQ(st.tile, 0);
        EXPECT_EQ(c.dma.tile_mask_low, 0xFFFFu);
      }
  EXPECT_EQ(broadcasts, 320);
}

TEST(Mapping, EmittingWithoutAMappingPerOpIsAnError) {
  const Profile profile = load_profile("krsna-wear");
  const OneOp one = gemm_op(profile, 32, 64, 128, 1);
  EXPECT_THROW(generate_program(one.module, 0, one.plan, {}, profile), std::logic_error);
}

}  // namespace
}  // namespace ssmsoc::compiler
