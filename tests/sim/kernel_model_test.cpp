// The kernel-level model of a GPU (sim/kernel_model.hpp) on h100-class: each kernel kind
// against its formula from the profile's figures, the properties a GEMM's waves must have and
// a phase's launch gaps (tests/host/kernel_run_test.cpp: whole runs).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "arch/spec/profile.hpp"
#include "sim/kernel_model.hpp"

namespace ssmsoc::sim {
namespace {

const Profile& h100() {
  static const Profile p = load_profile("h100-class");
  return p;
}

double dram_s(double bytes) {
  const Profile& p = h100();
  return bytes / (p.dram.bandwidth_gb_per_s * 1e9 * p.kernels->dram_efficiency.value);
}

double floor_s() { return h100().kernels->kernel_floor_us.value * 1e-6; }
// A memory-bound kernel that moves bytes adds memory_overhead_us.
double memory_overhead_s() { return h100().kernels->memory_overhead_us.value * 1e-6; }

// A GEMM streams its operands at gemm_dram_efficiency and adds gemm_overhead_us.
double gemm_dram_s(double bytes) {
  const Profile& p = h100();
  return bytes / (p.dram.bandwidth_gb_per_s * 1e9 * p.kernels->gemm_dram_efficiency.value);
}
double overhead_s() { return h100().kernels->gemm_overhead_us.value * 1e-6; }

KernelCall gemm(std::int64_t m, std::int64_t n, std::int64_t k) {
  KernelCall g;
  g.kind = KernelKind::gemm;
  g.m = m, g.n = n, g.k = k;
  g.flops = 2.0 * m * n * k;
  g.bytes = 2.0 * (m * k + n * k + m * n);
  return g;
}

TEST(KernelModel, MemoryKernelsTakeTheirBytesAtTheDramEfficiencyOrTheFloorPlusTheirFixedTime) {
  ASSERT_TRUE(h100().kernels);
  EXPECT_GT(memory_overhead_s(), 0);
  KernelCall k;
  k.kind = KernelKind::memory;
  for (const double bytes : {1e3, 1e6, 1e8, 4e9}) {
    k.bytes = bytes;
    EXPECT_DOUBLE_EQ(kernel_seconds(h100(), k), std::max(floor_s(), dram_s(bytes)) + memory_overhead_s()) << bytes;
  }
  k.bytes = 0;  // nothing to stream (a launch-path test kernel): the floor alone
  EXPECT_DOUBLE_EQ(kernel_seconds(h100(), k), floor_s());
  k.kind = KernelKind::state_update;  // bound by its state's bytes too
  k.bytes = 5e7;
  EXPECT_DOUBLE_EQ(kernel_seconds(h100(), k), dram_s(5e7) + memory_overhead_s());
}

// The chunked SSD's kernels run at ssd_matrix_efficiency of the tensor cores and add
// gemm_overhead_us per launch; attention on a profile without the wave figures (mi300-class)
// runs at fused_matrix_efficiency.
TEST(KernelModel, TheChunkedSsdAndAttentionHaveTheirOwnTensorCoreEfficiency) {
  const Profile& p = h100();
  const KernelModel& km = *p.kernels;
  EXPECT_NE(km.ssd_matrix_efficiency.value, km.fused_matrix_efficiency.value);
  const double peak = double(p.tile.matrix.macs_per_cycle.at(Precision::bf16)) * p.clock_mhz * 1e6 * p.tile_count;
  KernelCall k;
  k.precision = Precision::bf16;
  k.flops = 2e11, k.bytes = 1e6, k.launches = 5;
  k.kind = KernelKind::chunked_ssd;
  EXPECT_NEAR(kernel_seconds(p, k), 1e11 / (peak * km.ssd_matrix_efficiency.value) + 5 * overhead_s(), 1e-12);
  const Profile mi300 = load_profile("mi300-class");
  const KernelModel& mk = *mi300.kernels;
  ASSERT_TRUE(mk.attention_block_us.source.empty());
  const double mi300_peak =
      double(mi300.tile.matrix.macs_per_cycle.at(Precision::bf16)) * mi300.clock_mhz * 1e6 * mi300.tile_count;
  k.kind = KernelKind::attention, k.launches = 1;
  EXPECT_NEAR(kernel_seconds(mi300, k),
              1e11 / (mi300_peak * mk.fused_matrix_efficiency.value) + mk.gemm_overhead_us.value * 1e-6, 1e-12);
}

// FlashAttention's blocks of 128 queries in waves over the SMs: one causal head of 256 tokens is
// two blocks on two SMs, the second seeing all 256 keys; a decode step's blocks stream the keys
// and values behind their fixed time.
TEST(KernelModel, AttentionRunsItsQueryBlocksInWavesOrStreamsItsKeys) {
  const Profile& p = h100();
  const KernelModel& km = *p.kernels;
  ASSERT_FALSE(km.attention_block_us.source.empty());
  const double sm_rate =
      double(p.tile.matrix.macs_per_cycle.at(Precision::bf16)) * p.clock_mhz * 1e6 * km.attention_efficiency.value;
  const double block_s = km.attention_block_us.value * 1e-6;
  KernelCall a;
  a.kind = KernelKind::attention;
  a.precision = Precision::bf16;
  a.batch = 1, a.length = 256, a.m = 0, a.k = 64, a.causal = true;
  a.bytes = 4.0 * 256 * 64 * 2;
  EXPECT_NEAR(kernel_seconds(p, a), block_s + 2.0 * 128 * 256 * 64 / sm_rate, 1e-12);
  a.batch = 2 * p.tile_count;  // four blocks an SM: two long, two short, on each
  EXPECT_NEAR(kernel_seconds(p, a), 4 * block_s + 2.0 * 128 * (128 + 256) * 64 * 2 / sm_rate, 1e-12);
  a.batch = 32, a.length = 1, a.m = 8191, a.causal = false;  // a decode step: its keys and values stream
  a.bytes = 2.0 * 8 * 8192 * 64 * 2;
  EXPECT_NEAR(kernel_seconds(p, a), block_s + dram_s(a.bytes), 1e-12);
}

TEST(KernelModel, AGemmRunsInWavesOfItsBestBlockOrStreamsItsWeights) {
  const Profile& p = h100();
  const KernelModel& km = *p.kernels;
  const double sm_macs =
      double(p.tile.matrix.macs_per_cycle.at(Precision::bf16)) * p.clock_mhz * 1e6 * km.matrix_efficiency.value;
  // By hand: 132 SMs; M = N = 4096 in 128 x 256 blocks is 32 x 16 = 512 blocks, 4 waves.
  const KernelCall square = gemm(4096, 4096, 4096);
  double best = 0;
  for (const auto& [rows, cols] : km.gemm_blocks) {
    const double blocks = std::ceil(4096.0 / rows) * std::ceil(4096.0 / cols);
    const double t = std::ceil(blocks / p.tile_count) * rows * cols * (4096.0 + km.gemm_epilogue_depth.value) / sm_macs;
    best = best == 0 ? t : std::min(best, t);
  }
  EXPECT_DOUBLE_EQ(kernel_seconds(p, square), std::max(best, gemm_dram_s(square.bytes)) + overhead_s());
  // One token through a wide weight: the weights' bytes bind.
  const KernelCall decode = gemm(1, 10240, 2560);
  EXPECT_DOUBLE_EQ(kernel_seconds(p, decode), gemm_dram_s(decode.bytes) + overhead_s());
  EXPECT_GT(overhead_s(), 0);
  EXPECT_LT(p.kernels->gemm_dram_efficiency.value, p.kernels->dram_efficiency.value);
  // Generated shapes: never faster than the tensor cores' peak or the DRAM, never slower as M
  // grows, and a block row more than a full wave costs a wave more.
  std::mt19937 rng(5);
  std::uniform_int_distribution<std::int64_t> dim(1, 8192);
  const double peak = sm_macs / km.matrix_efficiency.value * p.tile_count;
  for (int i = 0; i < 200; ++i) {
    const std::int64_t m = dim(rng), n = dim(rng), k = dim(rng);
    const KernelCall g = gemm(m, n, k);
    const double t = kernel_seconds(p, g);
    EXPECT_GE(t * (1 + 1e-12), double(m) * n * k / peak);
    EXPECT_GE(t * (1 + 1e-12), gemm_dram_s(g.bytes) + overhead_s());
    EXPECT_GE(kernel_seconds(p, gemm(m + 1 + m / 2, n, k)) * (1 + 1e-12), t) << m << " " << n << " " << k;
  }
}

// Split-K by hand on h100-class (132 SMs, gemm_split_k_depth 2048): x_proj's 192 x 5120 at one
// token is three 64 x 64 tiles; k splits in two (5120 / 2048), so each of the six blocks does
// 64 x 64 x 2560 MACs and the partial sums' reduction follows. A 4096^3 square fills the SMs
// with 512 tiles and does not split.
TEST(KernelModel, SplitKEngagesForASkinnyLongKGemmAndNotForALargeSquare) {
  const Profile& p = h100();
  const KernelModel& km = *p.kernels;
  ASSERT_EQ(km.gemm_split_k_depth.value, 2048);
  ASSERT_EQ(km.gemm_blocks.back(), (std::pair<int, int>(64, 64)));
  const double sm_macs =
      double(p.tile.matrix.macs_per_cycle.at(Precision::bf16)) * p.clock_mhz * 1e6 * km.matrix_efficiency.value;
  const double epilogue = km.gemm_epilogue_depth.value;
  const double split = 64.0 * 64 * (2560 + epilogue) / sm_macs + km.gemm_split_k_reduce_us.value * 1e-6;
  EXPECT_NEAR(kernel_seconds(p, gemm(1, 192, 5120)), split + overhead_s(), 1e-12);
  EXPECT_LT(split, 64.0 * 64 * (5120 + epilogue) / sm_macs);            // unsplit, each of three SMs runs all of k
  const double square = 4 * 128.0 * 256 * (4096 + epilogue) / sm_macs;  // 512 tiles of 128 x 256: 4 waves
  EXPECT_NEAR(kernel_seconds(p, gemm(4096, 4096, 4096)), square + overhead_s(), 1e-12);
}

// A tile's epilogue costs gemm_epilogue_depth more elements of k: 8192 x 8192 x 256 (dt_proj's
// k) finishes first as 16,384 tiles of 64 x 64 (125 waves, against 16 of 2,048 tiles of
// 128 x 256 that hold as many MACs as 128 waves), each of 64 x 64 x (256 + 96) MACs: 37.5 % more
// than its MACs alone. Without the figure (0) the waves are the MACs alone.
TEST(KernelModel, ATilesEpilogueAddsItsDepthToEveryWave) {
  const Profile& p = h100();
  const KernelModel& km = *p.kernels;
  ASSERT_EQ(km.gemm_epilogue_depth.value, 96);
  const double sm_macs =
      double(p.tile.matrix.macs_per_cycle.at(Precision::bf16)) * p.clock_mhz * 1e6 * km.matrix_efficiency.value;
  const KernelCall g = gemm(8192, 8192, 256);
  const double waves = 125 * 64.0 * 64 * (256 + 96) / sm_macs;
  ASSERT_GT(waves, gemm_dram_s(g.bytes));  // the waves, not the bytes, bind
  EXPECT_NEAR(kernel_seconds(p, g), waves + overhead_s(), 1e-12);

  const auto file = std::filesystem::temp_directory_path() / "ssmsoc-kernel-model-no-epilogue.yaml";
  {
    std::ofstream out(file);
    out << "base: h100-class\ndescription: free epilogues\n"
           "kernels: {gemm_epilogue_depth: {value: 0, source: h100-gemm-measured-20261208}}\n";
  }
  const Profile free_epilogue = load_profile(file.string());
  std::filesystem::remove(file);
  const KernelCall square = gemm(4096, 4096, 4096);  // compute-bound: 4 waves of 128 x 256 tiles
  EXPECT_NEAR(kernel_seconds(free_epilogue, square), 4 * 128.0 * 256 * 4096 / sm_macs + overhead_s(), 1e-12);
  EXPECT_NEAR(kernel_seconds(p, square), 4 * 128.0 * 256 * (4096 + 96) / sm_macs + overhead_s(), 1e-12);
}

// With sm_stream_gb_per_s at 10 GB/s, one token through 1024 x 1024 is 16 tiles of 64 x 64 (k
// too short to split): 16 SMs stream its 2.1 MB at 160 GB/s, far below the DRAM's rate.
TEST(KernelModel, AGemmOfFewTilesStreamsAtTheRateOfItsActiveSms) {
  const auto file = std::filesystem::temp_directory_path() / "ssmsoc-kernel-model-sm-stream.yaml";
  {
    std::ofstream out(file);
    out << "base: h100-class\ndescription: slow SMs\n"
           "kernels: {sm_stream_gb_per_s: {value: 10, source: h100-measured-20261207}}\n";
  }
  const Profile slow = load_profile(file.string());
  std::filesystem::remove(file);
  const KernelCall g = gemm(1, 1024, 1024);
  EXPECT_NEAR(kernel_seconds(slow, g), g.bytes / (16 * 10e9) + overhead_s(), 1e-12);
  EXPECT_GT(g.bytes / (16 * 10e9), 10 * gemm_dram_s(g.bytes));  // the DRAM alone would not bind
}

// The new figures are validated like the others: a bad value is a one-line ConfigError that
// names the field.
TEST(KernelModel, ABadSplitKOrStreamFigureIsRefusedNamingTheField) {
  for (const auto& [file, field] : std::vector<std::pair<std::string, std::string>>{
           {"tests/data/profiles/bad/out-of-range-sm-stream.yaml", "kernels.sm_stream_gb_per_s.value"},
           {"tests/data/profiles/bad/out-of-range-split-k-depth.yaml", "kernels.gemm_split_k_depth.value"},
           {"tests/data/profiles/bad/negative-gemm-epilogue-depth.yaml", "kernels.gemm_epilogue_depth.value"},
           {"tests/data/profiles/bad/cross-split-k-reduce-without-depth.yaml", "kernels.gemm_split_k_reduce_us"}}) {
    try {
      load_profile(file);
      ADD_FAILURE() << file << " loaded";
    } catch (const ConfigError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(field), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
}

TEST(KernelModel, ASelectiveScanStepsThroughItsTokensInWavesOfBlocks) {
  const Profile& p = h100();
  const KernelModel& km = *p.kernels;
  KernelCall s;
  s.kind = KernelKind::selective_scan;
  s.channels = 5120, s.length = 2048, s.state = 16;
  s.bytes = 1e6;  // small: the recurrence binds
  const double blocks = std::ceil(5120.0 / km.scan_channels_per_block);
  const double expected = std::ceil(blocks / p.tile_count) * 2048 * 16 * km.scan_step_ns.value * 1e-9;
  EXPECT_DOUBLE_EQ(kernel_seconds(p, s), std::max(expected, floor_s()) + memory_overhead_s());
  s.length = 4096;  // twice the tokens, twice the time
  EXPECT_NEAR(kernel_seconds(p, s), 2 * std::max(expected, floor_s()) + memory_overhead_s(), 1e-12);
}

// Eager on a GPU: many kernels the host issues slower than the device runs them take the host's
// time; kernels longer than their issue take the device's; a CPU's runtime adds no run-ahead.
TEST(KernelModel, AnEagerPhaseTakesTheSlowerOfTheHostIssuingAndTheDeviceRunning) {
  const Profile& p = h100();
  const KernelModel& km = *p.kernels;
  std::mt19937 rng(9);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<KernelCall> kernels;
    double host = 0, device = 0;
    const int n = 1 + int(rng() % 40);
    for (int i = 0; i < n; ++i) {
      KernelCall k;
      k.kind = KernelKind::memory;
      k.bytes = double(rng() % 2 ? 1 : 1u << (rng() % 28));
      k.op = 0;
      kernels.push_back(k);
      host += km.launch_gap_us.value * 1e-6;
      device += kernel_seconds(p, k);
    }
    const double eager = simulate_kernels(p, kernels, 1, false).seconds;
    EXPECT_GE(eager, std::max(host, device) - 1e-12);
    EXPECT_LE(eager, host + device + 1e-12);
  }
  // n equal kernels: the first issued, then one every max(gap, device), the last running.
  for (const double bytes : {1.0, double(1u << 26)}) {
    KernelCall k;
    k.kind = KernelKind::memory;
    k.bytes = bytes;
    k.op = 0;
    const double gap = km.launch_gap_us.value * 1e-6, d = kernel_seconds(p, k);
    const std::vector<KernelCall> seven(7, k);
    EXPECT_NEAR(simulate_kernels(p, seven, 1, false).seconds, gap + d + 6 * std::max(gap, d), 1e-12) << bytes;
  }
  // A CPU's runtime: each op takes at least its overhead, one after the other.
  const Profile xeon = load_profile("xeon-amx-class");
  KernelCall tiny;
  tiny.kind = KernelKind::memory;
  tiny.bytes = 1;
  tiny.op = 0;
  const std::vector<KernelCall> three(3, tiny);
  EXPECT_NEAR(simulate_kernels(xeon, three, 1, false).seconds,
              3 * std::max(kernel_seconds(xeon, tiny), xeon.kernels->launch_gap_us.value * 1e-6), 1e-12);
}

TEST(KernelModel, APhaseAddsTheLaunchGapsOrTheGraphsGaps) {
  const Profile& p = h100();
  const KernelModel& km = *p.kernels;
  KernelCall tiny;
  tiny.kind = KernelKind::memory;
  tiny.bytes = 1;
  tiny.op = 0;
  KernelCall big = gemm(4096, 4096, 4096);
  big.op = 1;
  const std::vector<KernelCall> kernels{tiny, big, tiny};
  const SimResult eager = simulate_kernels(p, kernels, 2, false);
  const SimResult graph = simulate_kernels(p, kernels, 2, true);
  const double t_tiny = kernel_seconds(p, tiny), t_big = kernel_seconds(p, big);
  // Launched one by one, the host issues each kernel (a GEMM at its own, longer gap) ahead of
  // the device; a kernel starts once issued and once the one before it has ended.
  const double gap = km.launch_gap_us.value * 1e-6, gemm_gap = km.gemm_launch_gap_us.value * 1e-6;
  ASSERT_GT(gemm_gap, gap);
  const double end1 = gap + t_tiny;
  const double end2 = std::max(gap + gemm_gap, end1) + t_big;
  const double end3 = std::max(2 * gap + gemm_gap, end2) + t_tiny;
  EXPECT_NEAR(eager.seconds, end3, 1e-12);
  EXPECT_GT(t_big, 2 * gap);  // the big GEMM hides the last tiny kernel's issue
  EXPECT_NEAR(eager.seconds, gap + gemm_gap + t_big + t_tiny, 1e-12);
  EXPECT_NEAR(graph.seconds, 2 * t_tiny + t_big + 3 * km.graph_gap_us.value * 1e-6, 1e-12);
  EXPECT_EQ(eager.dram_read_bytes, std::uint64_t(2 + big.bytes));
  ASSERT_EQ(eager.ops.size(), 2u);
  EXPECT_EQ(eager.ops[0].commands, 2u);
  EXPECT_EQ(eager.ops[1].commands, 1u);
  EXPECT_GT(eager.ops[1].busy_cycles[SSM_ENGINE_MATRIX], 0u);
  EXPECT_EQ(eager.macs.at("bf16"), std::uint64_t(4096) * 4096 * 4096);
  EXPECT_GT(eager.energy_j, 0);
}

}  // namespace
}  // namespace ssmsoc::sim
