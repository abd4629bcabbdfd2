// Sync points (Program 1.4): a compiled model's Programs with their WAIT/SIGNAL commands
// folded into the engine commands run exactly as the unfolded ones, in far fewer commands.
#include <gtest/gtest.h>

#include "compiler.hpp"
#include "config_tree.hpp"
#include "sim.hpp"

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
    EXPECT_LT(a.command_count(), b.command_count() / 2);
    const sim::SimResult ra = sim::simulate_in_child(profile, a, {});
    const sim::SimResult rb = sim::simulate_in_child(profile, b, {});
    EXPECT_EQ(ra.cycles, rb.cycles);
    EXPECT_EQ(ra.dram_read_bytes, rb.dram_read_bytes);
    EXPECT_EQ(ra.firmware_signals, rb.firmware_signals);
    EXPECT_LT(ra.firmware_waits, rb.firmware_waits);  // waits implied by earlier ones are gone
    EXPECT_DOUBLE_EQ(ra.energy_j, rb.energy_j);
  }
}

}  // namespace
}  // namespace ssmsoc
