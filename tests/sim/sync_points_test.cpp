// Sync points (Program 1.4): a compiled model's Programs with their WAIT/SIGNAL commands
// folded into the engine commands run exactly as the unfolded ones, in far fewer commands.
#include <gtest/gtest.h>

#include <array>
#include <map>

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
TEST(UtilizationTimeline, KeepsEveryBusyCycleWhileItsBucketsWiden) {
  sim::UtilizationTimeline t;
  const std::uint64_t w = t.bucket_cycles;
  t.add(SSM_ENGINE_MATRIX, 0, w + w / 2);  // the first bucket and half the second
  EXPECT_EQ(t.busy[SSM_ENGINE_MATRIX], (std::vector<std::uint64_t>{w, w / 2}));
  // Past kBuckets buckets, pairs merge until the end fits: 3 doublings for 5x the span.
  const std::uint64_t end = 5 * w * sim::UtilizationTimeline::kBuckets;
  t.add(SSM_ENGINE_DMA, end - 10, end);
  EXPECT_EQ(t.bucket_cycles, 8 * w);
  EXPECT_EQ(t.busy[SSM_ENGINE_MATRIX], (std::vector<std::uint64_t>{w + w / 2}));
  ASSERT_EQ(t.busy[SSM_ENGINE_DMA].size(), (end - 1) / (8 * w) + 1);
  EXPECT_EQ(t.busy[SSM_ENGINE_DMA].back(), 10u);
  // An interval over a bucket boundary splits at it.
  t.add(SSM_ENGINE_SCAN, 8 * w - 3, 8 * w + 4);
  EXPECT_EQ(t.busy[SSM_ENGINE_SCAN], (std::vector<std::uint64_t>{3, 4}));
}

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
  // The ops' work, traffic and dynamic energy add up to the run's; leakage is the rest.
  std::map<std::string, std::uint64_t> macs;
  std::uint64_t scan_steps = 0, sram_read = 0, sram_write = 0, run_sram_read = 0, run_sram_write = 0;
  double lane_cycles = 0, byte_hops = 0, op_joules = 0, leakage = 0;
  for (const sim::OpStats& o : result.ops) {
    for (const auto& [precision, count] : o.macs) macs[precision] += count;
    scan_steps += o.scan_lane_steps, lane_cycles += o.vector_lane_cycles, byte_hops += o.noc_byte_hops;
    sram_read += o.sram_read_bytes, sram_write += o.sram_write_bytes;
    for (const auto& [component, joules] : o.energy_j) {
      EXPECT_NE(component, "leakage");
      op_joules += joules;
    }
  }
  for (const auto& tile : result.tiles) run_sram_read += tile.sram_read_bytes, run_sram_write += tile.sram_write_bytes;
  for (const sim::EnergyItem& item : result.energy)
    if (item.component == "leakage") leakage += item.joules;
  EXPECT_EQ(macs, result.macs);
  EXPECT_EQ(scan_steps, result.scan_lane_steps);
  EXPECT_DOUBLE_EQ(lane_cycles, result.vector_lane_cycles);
  EXPECT_DOUBLE_EQ(byte_hops, result.noc_byte_hops);
  EXPECT_EQ(sram_read, run_sram_read);
  EXPECT_EQ(sram_write, run_sram_write);
  EXPECT_GT(leakage, 0);
  EXPECT_NEAR(op_joules + leakage, result.energy_j, 1e-9 * result.energy_j);
  // The timeline holds every busy cycle, in at most kBuckets buckets covering the run.
  const sim::UtilizationTimeline& timeline = result.timeline;
  for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e) {
    std::uint64_t sum = 0;
    for (std::uint64_t b : timeline.busy[e]) {
      EXPECT_LE(b, timeline.bucket_cycles * std::uint64_t(profile.tile_count));
      sum += b;
    }
    EXPECT_EQ(sum, busy[e]) << e;
    EXPECT_LE(timeline.busy[e].size(), sim::UtilizationTimeline::kBuckets);
  }
  EXPECT_GT(timeline.bucket_cycles * sim::UtilizationTimeline::kBuckets, result.cycles / 2);
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

namespace ssmsoc {
namespace {

// count_actions gives what a simulation counts, for Programs of different models, phases and
// chips; set_time adds the leakage of the time given.
TEST(CountActions, EqualWhatASimulationCounts) {
  struct Case {
    const char* profile;
    const char* model;
    std::size_t phase;
  };
  for (const Case& k : {Case{"krsna-mobile", "mamba-130m", 0}, Case{"krsna-dc", "mamba2-130m", 2},
                        Case{"krsna-wear", "pythia-160m", 0}}) {
    const Profile profile = load_profile(k.profile);
    compiler::Scenario scenario;
    scenario.prompt_tokens = 48;
    scenario.generate_tokens = 3;
    const compiler::CompileResult r = compiler::compile(
        compiler::load_model(std::string("workloads/models/") + k.model + ".yaml"), scenario, profile);
    const Program& program = r.phases.at(k.phase).program;
    const sim::SimResult ran = sim::simulate_in_child(profile, program, sim::SimOptions{});
    sim::SimResult counted = sim::count_actions(profile, program);
    SCOPED_TRACE(k.model);
    EXPECT_EQ(counted.dram_read_bytes, ran.dram_read_bytes);
    EXPECT_EQ(counted.dram_write_bytes, ran.dram_write_bytes);
    EXPECT_EQ(counted.global_buffer_read_bytes, ran.global_buffer_read_bytes);
    EXPECT_EQ(counted.global_buffer_write_bytes, ran.global_buffer_write_bytes);
    EXPECT_EQ(counted.macs, ran.macs);
    EXPECT_EQ(counted.scan_lane_steps, ran.scan_lane_steps);
    EXPECT_DOUBLE_EQ(counted.vector_lane_cycles, ran.vector_lane_cycles);
    EXPECT_DOUBLE_EQ(counted.noc_byte_hops, ran.noc_byte_hops);
    EXPECT_EQ(counted.commands, ran.commands);
    ASSERT_EQ(counted.tiles.size(), ran.tiles.size());
    for (std::size_t t = 0; t < ran.tiles.size(); ++t) {
      EXPECT_EQ(counted.tiles[t].sram_read_bytes, ran.tiles[t].sram_read_bytes) << t;
      EXPECT_EQ(counted.tiles[t].sram_write_bytes, ran.tiles[t].sram_write_bytes) << t;
    }
    sim::set_time(profile, counted, ran.cycles);
    EXPECT_DOUBLE_EQ(counted.seconds, ran.seconds);
    EXPECT_NEAR(counted.energy_j, ran.energy_j, 1e-12 * ran.energy_j);
  }
}

}  // namespace
}  // namespace ssmsoc
