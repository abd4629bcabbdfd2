// Sync points (Program 1.4): a compiled model's Programs with their WAIT/SIGNAL commands
// folded into the engine commands run exactly as the unfolded ones, in far fewer commands.
#include <gtest/gtest.h>

#include <array>

#include "arch/spec/config_tree.hpp"
#include "compiler/compiler.hpp"
#include "sim/sim.hpp"

namespace ssmsoc {
namespace {

TEST(SyncPoints, FoldedProgramsOfACompiledModelSimulateToTheSameCycles) {
  const Profile profile = load_profile("krsna-mobile");
  const compiler::ModelSpec model = compiler::load_model("workloads/models/mamba-130m.yaml");
  compiler::Scenario scenario;
  scenario.prompt_tokens = 64;
  scenario.generate_tokens = 3;
  compiler::CompileOptions unfolded_options;
  unfolded_options.fold_sync = false;
  const compiler::CompileResult folded = compiler::compile(model, scenario, profile);
  const compiler::CompileResult unfolded = compiler::compile(model, scenario, profile, unfolded_options);
  ASSERT_EQ(folded.phases.size(), unfolded.phases.size());
  for (std::size_t i = 0; i < folded.phases.size(); ++i) {
    SCOPED_TRACE(folded.phases[i].name);
    const Program& a = folded.phases[i].program;
    const Program& b = unfolded.phases[i].program;
    EXPECT_LT(double(a.command_count()), 0.6 * double(b.command_count()));
    const sim::SimResult ra = sim::simulate_in_child(profile, a, {});
    const sim::SimResult rb = sim::simulate_in_child(profile, b, {});
    EXPECT_EQ(ra.cycles, rb.cycles);
    EXPECT_EQ(ra.dram_read_bytes, rb.dram_read_bytes);
    EXPECT_EQ(ra.firmware_signals, rb.firmware_signals);
    EXPECT_LE(ra.firmware_waits, rb.firmware_waits);  // waits implied by earlier ones are gone
    EXPECT_DOUBLE_EQ(ra.energy_j, rb.energy_j);
  }
}

// Every command is attributed to the op that emitted it: engine commands to an op of their
// kind, and the per-op statistics add up to the run's.
TEST(OpStatistics, AddUpToTheRunAndFollowTheOps) {
  const Profile profile = load_profile("krsna-mobile");
  compiler::Scenario scenario;
  scenario.prompt_tokens = 64;
  scenario.generate_tokens = 3;
  const compiler::CompileResult r =
      compiler::compile(compiler::load_model("workloads/models/mamba-130m.yaml"), scenario, profile);
  const compiler::PhaseProgram& prefill = r.phases.front();
  ASSERT_EQ(prefill.command_op.size(), prefill.program.command_count());
  std::size_t index = 0;
  for (const ProgramStream& s : prefill.program.streams)
    for (const ssm_command& c : s.commands) {
      const compiler::Prim kind = prefill.tiled.at(prefill.command_op[index++]).kind;
      if (c.head.opcode == SSM_OP_GEMM) {  // a fused dt_proj runs in its scan
        EXPECT_TRUE(kind == compiler::Prim::gemm || kind == compiler::Prim::attention || kind == compiler::Prim::scan);
      }
      if (c.head.opcode == SSM_OP_SCAN) {
        EXPECT_EQ(kind, compiler::Prim::scan);
      }
      if (c.head.opcode == SSM_OP_CONV1D) {
        EXPECT_EQ(kind, compiler::Prim::conv1d);
      }
    }
  sim::SimOptions options;
  options.command_op = &prefill.command_op;
  const sim::SimResult result = sim::simulate_in_child(profile, prefill.program, options);
  ASSERT_EQ(result.ops.size(), prefill.tiled.size());
  std::array<std::uint64_t, SSM_ENGINE_COUNT> busy{}, op_busy{};
  std::uint64_t commands = 0, dram_read = 0, dram_write = 0;
  for (const auto& tile : result.tiles)
    for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e) busy[e] += tile.engines[e].busy_cycles;
  for (const sim::OpStats& o : result.ops) {
    for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e) op_busy[e] += o.busy_cycles[e];
    commands += o.commands, dram_read += o.dram_read_bytes, dram_write += o.dram_write_bytes;
  }
  EXPECT_EQ(op_busy, busy);
  EXPECT_EQ(commands, result.commands);
  EXPECT_EQ(dram_read, result.dram_read_bytes);
  EXPECT_EQ(dram_write, result.dram_write_bytes);
  // Each op's span lies inside the run and, ops being separated by barriers, after the
  // previous op's start; an op's busiest engine is busy for at most the span on each tile.
  std::uint64_t previous_first = 0;
  for (const sim::OpStats& o : result.ops) {
    if (o.commands == 0) continue;
    EXPECT_LT(o.first_cycle, o.last_cycle);
    EXPECT_LE(o.last_cycle, result.cycles);
    EXPECT_GE(o.first_cycle, previous_first);
    previous_first = o.first_cycle;
    for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e)
      EXPECT_LE(o.busy_cycles[e], std::uint64_t(profile.tile_count) * (o.last_cycle - o.first_cycle));
  }
  // The scan ops do all the scan engine's work; an in_proj reads at least its weights.
  for (std::size_t i = 0; i < prefill.tiled.size(); ++i) {
    if (prefill.tiled[i].kind != compiler::Prim::scan) {
      EXPECT_EQ(result.ops[i].busy_cycles[SSM_ENGINE_SCAN], 0u);
    }
    if (prefill.tiled[i].name == "layers.0.mamba.in_proj") {
      EXPECT_GE(result.ops[i].dram_read_bytes, 2u * 768 * 3072);  // [2 * 1536, 768] bf16
    }
  }
  // A table of the wrong length is refused.
  const std::vector<std::uint32_t> short_table(3, 0);
  options.command_op = &short_table;
  EXPECT_THROW(sim::simulate_in_child(profile, prefill.program, options), ConfigError);
}

}  // namespace
}  // namespace ssmsoc
