// A GEMM that starts from a fused residual (compiler::fuse_residual_adds), compiled by the
// mapper and emitter for generated shapes and run on the simulated chip in functional mode:
// C = R + A · Wᵀ to float32 rounding, by whichever mapping the mapper takes (split by n, by
// m, or by m with the weights broadcast: in passes over a tile's rows, by groups of tiles).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <fmt/format.h>

#include "compiler/codegen.hpp"
#include "compiler/mapping.hpp"
#include "compiler/memory_plan.hpp"
#include "tests/sim/planned_arenas.hpp"
#include "tests/sim/sim_support.hpp"
#include "tests/support.hpp"

namespace ssmsoc::sim {
namespace {

using compiler::Module;
using compiler::Prim;
using compiler::PrimOp;
using compiler::TensorDef;
using compiler::TensorKind;
using compiler::View;

struct Outcome {
  double max_error = 0, scale = 0;
  bool broadcast = false;
  bool passes = false;        // broadcast in passes over the tiles' rows
  bool groups = false;        // broadcast by groups of tiles, each its share of the columns
  bool split_k = false;       // by k, the partials summed in a second pass
  int slots = 2;              // of A and B blocks in flight
  std::int64_t c_chunks = 1;  // broadcast: the C stores and residual loads spread over the k steps
};

Outcome run_fused_gemm(const Profile& profile, std::int64_t m, std::int64_t n, std::int64_t k, unsigned seed,
                       bool residual = true) {
  Module mod;
  mod.precision = Precision::fp32;
  mod.phase = compiler::Phase{"prefill", static_cast<int>(m), 1, 0, static_cast<int>(m), false, false};
  auto tensor = [&](const char* name, TensorKind kind, std::int64_t rows, std::int64_t cols) {
    mod.tensors.push_back(TensorDef{name, kind, rows, cols, 32});
    return View{static_cast<int>(mod.tensors.size()) - 1};
  };
  PrimOp op;
  op.kind = Prim::gemm;
  op.name = "out_proj";
  op.m = m, op.n = n, op.k = k;
  op.precision = Precision::fp32;
  op.in = {tensor("a", TensorKind::activation, m, k), tensor("w", TensorKind::weight, n, k),
           tensor("r", TensorKind::activation, m, n)};
  if (!residual) op.in.pop_back();  // "r" stays, unused
  op.out = {tensor("c", TensorKind::activation, m, n)};
  mod.ops.push_back(op);
  const compiler::MemoryPlan plan = compiler::plan_memory({&mod}, profile, "fused", 1, static_cast<int>(m));
  const compiler::CostModel cost(profile);
  const compiler::OpMapping mapping = compiler::choose_mapping(mod.ops[0], mod, plan, profile, cost);
  const compiler::CodegenResult g = compiler::generate_program(mod, 0, plan, {mapping}, profile);

  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  auto random = [&](std::int64_t count) {
    std::vector<float> v(static_cast<std::size_t>(count));
    for (float& x : v) x = d(rng);
    return v;
  };
  const std::vector<float> a = random(m * k), w = random(n * k), r = random(m * n);
  test::PlannedArenas arenas(plan, 0);
  arenas.place(0, a);
  if (residual) arenas.place(2, r);
  SimOptions options;
  options.functional = true;
  arenas.into(options);
  options.memory_in["w"] = test::bytes_of(w);
  const SimResult result = simulate_in_child(profile, g.program, options);
  const std::vector<float> out = arenas.read(result, 3, std::size_t(m * n));

  Outcome o;
  o.broadcast = mapping.b_broadcast;
  o.passes = mapping.b_broadcast && mapping.m_b < mapping.tiles[0].size();
  o.groups = mapping.b_broadcast && mapping.b_groups > 1;
  o.split_k = mapping.partition == compiler::Partition::k;
  o.slots = mapping.sram.slots;
  o.c_chunks = mapping.b_broadcast ? mapping.c_chunks : 1;
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double want = residual ? r[std::size_t(i * n + j)] : 0.0;
      for (std::int64_t x = 0; x < k; ++x) want += double(a[std::size_t(i * k + x)]) * w[std::size_t(j * k + x)];
      const double got = out.at(std::size_t(i * n + j));
      o.max_error = std::max(o.max_error, std::abs(got - want));
      o.scale = std::max(o.scale, std::abs(want));
    }
  return o;
}

TEST(FusedResidualGemm, EqualsResidualPlusProductForGeneratedShapesAndEveryMapping) {
  // krsna-dc, and 16 of its tiles with 128 KiB each and a 64 KiB global buffer: the
  // activations then live in DRAM and the mapper splits by m or broadcasts the weights.
  const Profile small = load_profile(test::small_dc_profile_file().string());
  std::mt19937 rng(23);
  auto pick = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  int broadcast = 0, other = 0;
  for (int i = 0; i < 10; ++i) {
    const Profile& profile = i % 2 ? test::dc() : small;
    const std::int64_t m = i % 5 == 0 ? 1 : pick(16, 320), n = 16 * pick(1, 40), k = 32 * pick(1, 12);
    SCOPED_TRACE(fmt::format("{}: m={} n={} k={}", profile.name, m, n, k));
    const Outcome o = run_fused_gemm(profile, m, n, k, 100u + unsigned(i));
    EXPECT_LE(o.max_error, 1e-5 * std::max(1.0, o.scale));
    (o.broadcast ? broadcast : other) += 1;
  }
  // Bigger weights on the small chip: broadcasting them beats reading them once per tile.
  const Outcome big = run_fused_gemm(small, 256, 512, 384, 7);
  EXPECT_TRUE(big.broadcast);
  EXPECT_LE(big.max_error, 1e-5 * std::max(1.0, big.scale));
  // More rows than a tile holds beside the blocks (about 70 per tile of 1 kB each): in passes.
  // Two heights, the last tile shorter than the others (1055 = 15 x 66 + 65).
  for (const std::int64_t m : {1100, 1055}) {
    const Outcome tall = run_fused_gemm(small, m, 512, 256, 8);
    EXPECT_TRUE(tall.passes) << m;
    EXPECT_LE(tall.max_error, 1e-5 * std::max(1.0, tall.scale)) << m;
  }
  EXPECT_GT(other, 0);
  // krsna-dc's 64 tiles on 1,024 rows: 16 rows each would leave its 64 x 64 arrays a quarter
  // used; four groups of 16 tiles, 64 rows each, each group a quarter of the columns.
  const Outcome wide = run_fused_gemm(test::dc(), 1024, 1024, 256, 9);
  EXPECT_TRUE(wide.groups);
  EXPECT_LE(wide.max_error, 1e-5 * std::max(1.0, wide.scale));
  // One token through wide weights (as a decode step's projections on krsna-dc): small weight
  // blocks whose loads wait out HBM's latency, in more than two slots.
  const Outcome streaming = run_fused_gemm(test::dc(), 1, 4096, 512, 11);
  EXPECT_GT(streaming.slots, 2);
  EXPECT_LE(streaming.max_error, 1e-5 * std::max(1.0, streaming.scale));
  // One or a few tokens through a long k (Mamba-1's x_proj in decode): krsna-dc's arrays
  // stream k at 2 cycles a step, so the tiles split k and sum their partials, with and
  // without a residual (tile 0's partial starts from it).
  for (const std::int64_t m : {1, 3})
    for (const bool residual : {true, false}) {
      const Outcome narrow = run_fused_gemm(test::dc(), m, 192, 5120, 10, residual);
      EXPECT_TRUE(narrow.split_k) << m;
      EXPECT_LE(narrow.max_error, 1e-5 * std::max(1.0, narrow.scale)) << m << " " << residual;
    }
}

// The weights broadcast over several k steps per n block, whose C stores (and residual loads)
// go out in pieces of every tile's rows, one piece a step (OpMapping::c_chunks): generated
// shapes on the small chip with a narrow DRAM (its share per step is what makes the pieces
// pay), with and without a residual, some in passes over the rows; still C = R + A · Wᵀ.
TEST(FusedResidualGemm, SpreadStoresAndResidualLoadsKeepTheResult) {
  const Profile narrow = load_profile(test::write_file("dc-16-tiles-narrow-dram.yaml", R"(base: krsna-dc
description: krsna-dc with 16 tiles of 128 KiB, a 64 KiB global buffer and a 100 GB/s DRAM
tiles: {count: 16, grid: {rows: 4, cols: 4}}
tile: {sram: {size_bytes: 128 KiB}}
global_buffer: {size_bytes: 64 KiB}
dram: {bandwidth_gb_per_s: 100}
)")
                                          .string());
  std::mt19937 rng(41);
  auto pick = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  int spread = 0, spread_passes = 0;
  for (int i = 0; i < 8; ++i) {
    const std::int64_t m = i % 2 ? pick(900, 1500) : pick(200, 700), n = 16 * pick(8, 40), k = 64 * pick(3, 8);
    const bool residual = i % 4 != 3;
    SCOPED_TRACE(fmt::format("m={} n={} k={} residual={}", m, n, k, residual));
    const Outcome o = run_fused_gemm(narrow, m, n, k, 200u + unsigned(i), residual);
    EXPECT_LE(o.max_error, 1e-5 * std::max(1.0, o.scale));
    spread += o.broadcast && o.c_chunks > 1;
    spread_passes += o.passes && o.c_chunks > 1;
  }
  EXPECT_GE(spread, 4);
  EXPECT_GE(spread_passes, 1);
}

}  // namespace
}  // namespace ssmsoc::sim
