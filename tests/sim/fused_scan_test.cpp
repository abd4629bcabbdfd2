// Mamba-1's dt_proj fused into its scan (compiler::fuse_dt_projections), compiled by the
// mapper and emitter for generated shapes and run on the simulated chip in functional mode:
// each step computes dt = dt_low · Wᵀ on its tile's matrix array and scans with it. The output
// and the final state equal the golden kernels' (dt from the same product) to float32
// rounding, for prefill (zero state, several sessions) and one-token steps (a random state).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <fmt/format.h>

#include "arch/golden/kernels.hpp"
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

struct Shape {
  std::int64_t channels, state, rank, length;
  int sessions;
};

struct Outcome {
  double out_error = 0, out_scale = 0, state_error = 0, state_scale = 0;
  std::size_t ops = 0;          // after fusion
  std::int64_t channels_b = 0;  // the scan's channel block
  std::int64_t length_b = 0;    // and token block
};

void compare(const std::vector<float>& got, const std::vector<float>& want, double& error, double& scale) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    error = std::max(error, std::abs(double(got[i]) - want[i]));
    scale = std::max(scale, std::abs(double(want[i])));
  }
}

Outcome run_fused_scan(const Profile& profile, const Shape& s, unsigned seed) {
  const std::int64_t rows = s.sessions * s.length, c = s.channels, n = s.state, r = s.rank;
  Module mod;
  mod.precision = Precision::fp32;
  mod.phase = compiler::Phase{s.length == 1 ? "decode" : "prefill",
                              static_cast<int>(s.length),
                              s.sessions,
                              0,
                              static_cast<int>(s.length),
                              false,
                              false};
  auto tensor = [&](const char* name, TensorKind kind, std::int64_t tr, std::int64_t tc) {
    mod.tensors.push_back(TensorDef{name, kind, tr, tc, 32});
    return View{static_cast<int>(mod.tensors.size()) - 1};
  };
  const View x = tensor("x", TensorKind::activation, rows, c),
             dt_low = tensor("dt_low", TensorKind::activation, rows, r),
             bc = tensor("bc", TensorKind::activation, rows, 2 * n), z = tensor("z", TensorKind::activation, rows, c),
             dt = tensor("dt", TensorKind::activation, rows, c), y = tensor("y", TensorKind::activation, rows, c),
             w = tensor("dt_proj", TensorKind::weight, c, r), a = tensor("A", TensorKind::weight, c, n),
             d = tensor("D", TensorKind::weight, 1, c), bias = tensor("dt_bias", TensorKind::weight, 1, c),
             state = tensor("ssm_state", TensorKind::state, s.sessions * c, n);
  PrimOp proj;
  proj.kind = Prim::gemm;
  proj.name = "dt_proj";
  proj.m = rows, proj.n = c, proj.k = r;
  proj.precision = Precision::fp32;
  proj.in = {dt_low, w};
  proj.out = {dt};
  PrimOp scan;
  scan.kind = Prim::scan;
  scan.name = "scan";
  scan.version = 1;
  scan.sessions = s.sessions, scan.length = s.length;
  scan.channels = c, scan.state = n;
  scan.softplus = scan.gate = scan.skip = true;
  scan.in = {x, dt, a, View{bc.tensor, 0, n}, View{bc.tensor, n, n}, d, z, bias, state};
  scan.out = {y};
  mod.ops = {proj, scan};
  const int fused = compiler::fuse_dt_projections(mod);
  const compiler::MemoryPlan plan =
      compiler::plan_memory({&mod}, profile, "fused-scan", s.sessions, static_cast<int>(s.length));
  const compiler::CostModel cost(profile);
  std::vector<compiler::OpMapping> mappings;
  for (const PrimOp& op : mod.ops) mappings.push_back(compiler::choose_mapping(op, mod, plan, profile, cost));
  const compiler::CodegenResult g = compiler::generate_program(mod, 0, plan, mappings, profile);

  std::mt19937 rng(seed);
  auto random = [&](std::int64_t count, float lo, float hi) {
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(static_cast<std::size_t>(count));
    for (float& e : v) e = u(rng);
    return v;
  };
  const auto xv = random(rows * c, -1, 1), lowv = random(rows * r, -1, 1), bcv = random(rows * 2 * n, -1, 1),
             zv = random(rows * c, -2, 2), wv = random(c * r, -0.3f, 0.3f), av = random(c * n, -2, -0.1f),
             dv = random(c, -1, 1), biasv = random(c, -3, -1),
             state0 = s.length == 1 ? random(s.sessions * c * n, -1, 1) : std::vector<float>(s.sessions * c * n);
  test::PlannedArenas arenas(plan, 0);
  arenas.place(x.tensor, xv), arenas.place(dt_low.tensor, lowv), arenas.place(bc.tensor, bcv);
  arenas.place(z.tensor, zv);
  SimOptions options;
  options.functional = true;
  arenas.into(options);
  options.memory_in["dt_proj"] = test::bytes_of(wv);
  options.memory_in["A"] = test::bytes_of(av);
  options.memory_in["D"] = test::bytes_of(dv);
  options.memory_in["dt_bias"] = test::bytes_of(biasv);
  options.memory_in["ssm_state"] = test::bytes_of(state0);
  options.memory_out.push_back("ssm_state");
  const SimResult result = simulate_in_child(profile, g.program, options);

  // Golden: dt from the same product, then the scan.
  const std::vector<float> dtv = golden::linear(int(rows), int(r), int(c), lowv, wv, {});
  std::vector<float> bv(rows * n), cv(rows * n);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      bv[std::size_t(i * n + j)] = bcv[std::size_t(i * 2 * n + j)];
      cv[std::size_t(i * n + j)] = bcv[std::size_t(i * 2 * n + n + j)];
    }
  golden::ScanResult want;
  if (s.length == 1) {
    golden::StateUpdateArgs u;
    u.batch = s.sessions, u.dim = int(c), u.state = int(n);
    u.state_in = state0, u.x = xv, u.dt = dtv, u.A = av, u.B = bv, u.C = cv, u.D = dv, u.z = zv, u.dt_bias = biasv;
    u.dt_softplus = true;
    want = golden::selective_state_update(u);
  } else {
    golden::SelectiveScanArgs sa;
    sa.batch = s.sessions, sa.dim = int(c), sa.length = int(s.length), sa.state = int(n);
    sa.u = xv, sa.delta = dtv, sa.A = av, sa.B = bv, sa.C = cv, sa.D = dv, sa.z = zv, sa.delta_bias = biasv;
    sa.delta_softplus = true, sa.token_major = true;
    want = golden::selective_scan(sa);
  }
  Outcome o;
  o.ops = mod.ops.size() + (fused ? 0 : 100);
  o.channels_b = mappings.back().channels_b;
  o.length_b = mappings.back().length_b;
  compare(arenas.read(result, y.tensor, std::size_t(rows * c)), want.out, o.out_error, o.out_scale);
  compare(test::floats_of(result.memory_out.at("ssm_state")), want.state, o.state_error, o.state_scale);
  return o;
}

TEST(FusedDtProjection, TheScanComputesDtOnItsTileForGeneratedShapes) {
  // krsna-dc, and 16 of its tiles with 128 KiB each: smaller channel and token blocks.
  const Profile small = load_profile(test::small_dc_profile_file().string());
  std::mt19937 rng(29);
  auto pick = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  bool several_blocks = false;
  for (int i = 0; i < 8; ++i) {
    const Profile& profile = i % 2 ? test::dc() : small;
    const Shape shape{16 * pick(1, 48), 4 * pick(1, 8), 8 * pick(1, 12), i % 4 == 3 ? 1 : pick(2, 160),
                      int(pick(1, 2))};
    SCOPED_TRACE(fmt::format("{}: channels={} N={} rank={} L={} sessions={}", profile.name, shape.channels, shape.state,
                             shape.rank, shape.length, shape.sessions));
    const Outcome o = run_fused_scan(profile, shape, 300u + unsigned(i));
    EXPECT_EQ(o.ops, 1u);  // the projection went into the scan
    EXPECT_LE(o.out_error, 1e-4 * std::max(1.0, o.out_scale));
    EXPECT_LE(o.state_error, 1e-4 * std::max(1.0, o.state_scale));
    several_blocks |= o.length_b < shape.length;
  }
  // A long chunk on the small chip: the weight rows stay while the token blocks pass.
  const Outcome long_chunk = run_fused_scan(small, Shape{512, 16, 64, 400, 1}, 7);
  EXPECT_EQ(long_chunk.ops, 1u);
  EXPECT_LT(long_chunk.length_b, 400);
  EXPECT_LE(long_chunk.out_error, 1e-4 * std::max(1.0, long_chunk.out_scale));
  EXPECT_LE(long_chunk.state_error, 1e-4 * std::max(1.0, long_chunk.state_scale));
  EXPECT_TRUE(several_blocks || long_chunk.length_b < 400);
}

}  // namespace
}  // namespace ssmsoc::sim
