// The compiler's cost model and the simulator count the same cycles per command: for seeded
// random commands of every kind on every shipped profile, CostModel's estimate of the
// command's dimensions equals the simulator's cycles of the command alone on its tile
// (compute engines: uncontended_compute_cycles, the engine's cycles or its operands' traffic
// through the tile SRAM's ports, whichever is longer; DMA: the uncontended transfer through
// the fabric's route).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "arch/spec/engine_cycles.hpp"
#include "arch/spec/program.hpp"
#include "compiler/cost_model.hpp"
#include "sim/timing.hpp"
#include "tests/sim/sim_support.hpp"

namespace ssmsoc::sim {
namespace {

using compiler::CostModel;
using compiler::Work;

constexpr int kCasesPerKind = 200;

std::vector<Profile> shipped_profiles() {
  std::vector<Profile> profiles;
  for (const auto& file : shipped_profile_files()) profiles.push_back(load_profile(file.stem().string()));
  return profiles;
}

class Draw {
 public:
  explicit Draw(const std::string& seed) : rng_(static_cast<std::uint32_t>(std::hash<std::string>{}(seed))) {}
  std::uint32_t between(std::uint32_t lo, std::uint32_t hi) {
    return std::uniform_int_distribution<std::uint32_t>(lo, hi)(rng_);
  }
  bool coin() { return between(0, 1) == 1; }

 private:
  std::mt19937 rng_;
};

TEST(CostModelAgreesWithSimulator, GemmOfRandomShapesAndEveryPrecisionOfTheArray) {
  for (const Profile& profile : shipped_profiles()) {
    const CostModel cost(profile);
    Draw draw(profile.name + "/gemm");
    std::vector<Precision> precisions;
    for (const auto& [precision, macs] : profile.tile.matrix.macs_per_cycle) precisions.push_back(precision);
    for (int i = 0; i < kCasesPerKind; ++i) {
      const std::uint32_t m = draw.between(1, 700), n = draw.between(1, 700), k = draw.between(1, 700);
      const Precision p = precisions[draw.between(0, static_cast<std::uint32_t>(precisions.size() - 1))];
      const ssm_command command = gemm_command({.m = m,
                                                .n = n,
                                                .k = k,
                                                .lda = k,
                                                .ldb = k,
                                                .ldc = n,
                                                .precision = static_cast<ssm_precision>(p),
                                                .transpose_b = true});
      Work work;
      work.engine = SSM_ENGINE_MATRIX;
      work.opcode = SSM_OP_GEMM;
      work.m = m, work.n = n, work.k = k, work.precision = p;
      const double simulated = static_cast<double>(uncontended_compute_cycles(profile, command));
      EXPECT_EQ(cost.gemm_cycles(m, n, k, p), simulated) << profile.name << " " << m << "x" << n << "x" << k;
      EXPECT_EQ(cost.work_cycles(work), simulated) << profile.name << " " << m << "x" << n << "x" << k;
    }
  }
}

TEST(CostModelAgreesWithSimulator, ScanOfEveryVariantWithRandomShapesAndFlags) {
  for (const Profile& profile : shipped_profiles()) {
    const ScanUnit& unit = profile.tile.scan;
    if (!unit.present) continue;  // no SCAN command runs there (the simulator refuses it)
    const CostModel cost(profile);
    Draw draw(profile.name + "/scan");
    for (ssm_scan_variant variant :
         {SSM_SCAN_SELECTIVE, SSM_SCAN_STATE_UPDATE, SSM_SCAN_MULTIHEAD_UPDATE, SSM_SCAN_SSD})
      for (int i = 0; i < kCasesPerKind; ++i) {
        const bool mamba2 = variant == SSM_SCAN_MULTIHEAD_UPDATE || variant == SSM_SCAN_SSD;
        Work work;
        work.engine = SSM_ENGINE_SCAN;
        work.opcode = SSM_OP_SCAN;
        work.variant = variant;
        work.channels = draw.between(1, 96);
        work.head_dim = mamba2 ? draw.between(1, 64) : 1;
        work.state = draw.between(1, static_cast<std::uint32_t>(unit.max_state));
        work.length = draw.between(1, 300);
        work.groups = 1;
        work.softplus = draw.coin(), work.gate = draw.coin(), work.skip = draw.coin();
        const ssm_command command = scan_command({.variant = variant,
                                                  .channels = static_cast<std::uint32_t>(work.channels),
                                                  .head_dim = static_cast<std::uint32_t>(work.head_dim),
                                                  .length = static_cast<std::uint32_t>(work.length),
                                                  .state = static_cast<std::uint32_t>(work.state),
                                                  .d = work.skip ? ref(0) : kNoOperand,
                                                  .z = work.gate ? ref(0) : kNoOperand,
                                                  .dt_bias = work.softplus ? ref(0) : kNoOperand,
                                                  .softplus = work.softplus});
        EXPECT_EQ(cost.work_cycles(work), static_cast<double>(uncontended_compute_cycles(profile, command)))
            << profile.name << " variant " << variant << ": " << work.channels << " channels, head_dim "
            << work.head_dim << ", N=" << work.state << ", L=" << work.length;
      }
  }
}

TEST(CostModelAgreesWithSimulator, VectorOfEveryFunctionWithRandomShapes) {
  std::vector<ssm_vector_function> functions;
  for (int f = SSM_VEC_ADD; f <= SSM_VEC_CONVERT; ++f) functions.push_back(static_cast<ssm_vector_function>(f));
  for (int f = SSM_VEC_RMSNORM; f <= SSM_VEC_SCALE; ++f) functions.push_back(static_cast<ssm_vector_function>(f));
  for (const Profile& profile : shipped_profiles()) {
    const CostModel cost(profile);
    Draw draw(profile.name + "/vector");
    for (ssm_vector_function f : functions)
      for (int i = 0; i < kCasesPerKind / 4; ++i) {
        Work work;
        work.function = f;
        work.rows = draw.between(1, 64);
        work.cols = draw.between(1, 5000);
        work.param1 = f == SSM_VEC_TOPK ? draw.between(1, 8) : 0;
        const ssm_command command = vector_command({.function = f,
                                                    .rows = static_cast<std::uint32_t>(work.rows),
                                                    .cols = static_cast<std::uint32_t>(work.cols),
                                                    .param1 = work.param1});
        const double simulated = static_cast<double>(uncontended_compute_cycles(profile, command));
        EXPECT_EQ(cost.work_cycles(work), simulated) << profile.name << " function " << f;
        EXPECT_EQ(cost.vector_cycles(f, work.rows, work.cols, work.param1), simulated)
            << profile.name << " function " << f;
      }
  }
}

TEST(CostModelAgreesWithSimulator, Conv1dWithRandomShapes) {
  for (const Profile& profile : shipped_profiles()) {
    const CostModel cost(profile);
    Draw draw(profile.name + "/conv1d");
    for (int i = 0; i < kCasesPerKind; ++i) {
      const std::uint32_t channels = draw.between(1, 4096), length = draw.between(1, 300), width = draw.between(1, 4);
      const bool silu = draw.coin();
      const ssm_command command =
          conv1d_command({.channels = channels, .length = length, .width = width, .silu = silu});
      EXPECT_EQ(cost.conv1d_cycles(channels, length, width, silu),
                static_cast<double>(uncontended_compute_cycles(profile, command)))
          << profile.name;
    }
  }
}

TEST(CostModelAgreesWithSimulator, DmaOfRandomSizesIsTheUncontendedTransfer) {
  for (const Profile& profile : shipped_profiles()) {
    const CostModel cost(profile);
    const Network network(profile);
    Draw draw(profile.name + "/dma");
    const std::uint32_t last_tile = static_cast<std::uint32_t>(profile.tile_count - 1);
    for (int i = 0; i < kCasesPerKind; ++i) {
      const ssm_command command = dma_command({.row_bytes = draw.between(1, 1 << 16), .rows = draw.between(1, 16)});
      const std::uint64_t bytes = std::uint64_t{command.dma.rows} * command.dma.row_bytes;
      const MemoryPlace tile{SSM_MEM_TILE_SRAM, static_cast<int>(draw.between(0, last_tile))};
      const MemoryPlace other_tile{SSM_MEM_TILE_SRAM, static_cast<int>(draw.between(0, last_tile))};
      const MemoryPlace dram{SSM_MEM_DRAM, 0}, global_buffer{SSM_MEM_GLOBAL_BUFFER, 0};
      const std::vector<std::pair<MemoryPlace, MemoryPlace>> transfers{
          {dram, tile}, {global_buffer, tile}, {tile, dram}, {tile, other_tile}, {dram, global_buffer}};
      for (const auto& [src, dst] : transfers) {
        const DmaPath path = dma_path(profile, network, command.dma, src, {dst});
        const double simulated = static_cast<double>(dma_cycles(path));
        EXPECT_EQ(cost.dma_cycles(static_cast<std::int64_t>(bytes), src.memory, dst.memory,
                                  static_cast<std::int64_t>(path.route_hops)),
                  simulated)
            << profile.name << " " << bytes << " B from memory " << src.memory << " to " << dst.memory;
        // The tiling's load estimate is the same transfer without the route's hops.
        if (dst.memory == SSM_MEM_TILE_SRAM && src.memory != SSM_MEM_TILE_SRAM) {
          EXPECT_EQ(
              cost.dma_cycles(static_cast<std::int64_t>(bytes), src.memory == SSM_MEM_DRAM, 1) +
                  static_cast<double>(path.route_hops * static_cast<std::uint64_t>(profile.noc.hop_latency_cycles)),
              simulated)
              << profile.name << " " << bytes << " B from memory " << src.memory;
        }
      }
    }
  }
}

TEST(CostModelAgreesWithSimulator, MobileScanOf64ChannelsIsOneBeatPerStep) {
  // krsna-mobile: 32 lanes, pipeline depth 6. 64 channels x 8 steps, each of ceil(16 / 32) = 1
  // beat: 512 beats, then 6 + 5 cycles of pipeline and output stages = 523 (not the 262 of
  // packing 64 x 16 states into 32 lanes: a step's states share no beat with another's).
  const Profile& profile = test::mobile();
  const ssm_command command = scan_command({.variant = SSM_SCAN_SELECTIVE, .channels = 64, .length = 8, .state = 16});
  EXPECT_EQ(uncontended_compute_cycles(profile, command), 523u);
  EXPECT_EQ(CostModel(profile).scan_cycles(64, 1, 16, 8), 523.0);
}

TEST(CostModelAgreesWithSimulator, OutputStationaryGemmTilesMAndN) {
  // krsna-dc: 64x64 output-stationary, fp32 at 512 MACs/cycle: 100x64x32 is ceil(100/64) x
  // ceil(64/64) = 2 tiles, each streaming k = 32 at 64*64/512 = 8 cycles: 2 * 256 + 126 = 638.
  EXPECT_EQ(CostModel(test::dc()).gemm_cycles(100, 64, 32, Precision::fp32), 638.0);
}

}  // namespace
}  // namespace ssmsoc::sim
