// Functional runs on an fp32 chip (krsna-dc) equal the golden model on random valid
// checkpoints of every family (random_models.hpp), not only on the shipped ones: prefill
// logits at every position and greedy generation with decode steps, within float rounding.
// A seeded sample of small models runs here; build/tests/functional_fidelity runs a larger
// one (host/README.md).
#include <gtest/gtest.h>

#include <algorithm>

#include <fmt/format.h>

#include "arch/hf/checkpoint.hpp"
#include "arch/spec/profile.hpp"
#include "compiler/compiler.hpp"
#include "host/functional_driver.hpp"
#include "tests/host/functional_fidelity.hpp"
#include "tests/host/random_models.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

constexpr int kModelsPerFamily = 4;

class FunctionalEqualsGolden : public ::testing::TestWithParam<ModelFamily> {};

TEST_P(FunctionalEqualsGolden, OnRandomCheckpoints) {
  const Profile profile = load_profile("krsna-dc");
  for (int seed = 1; seed <= kModelsPerFamily; ++seed) {
    const test::RandomModel m = test::random_model(GetParam(), std::uint64_t(seed));
    SCOPED_TRACE(test::describe(m));
    const test::Fidelity f = test::functional_fidelity(m, profile);
    EXPECT_LE(f.forward_error, f.bound()) << test::fidelity_text(f);
    EXPECT_LE(f.generate_error, f.bound()) << test::fidelity_text(f);
    EXPECT_TRUE(f.ids_equal) << test::fidelity_text(f);
  }
}

INSTANTIATE_TEST_SUITE_P(Families, FunctionalEqualsGolden, ::testing::ValuesIn(test::random_model_families()),
                         [](const ::testing::TestParamInfo<ModelFamily>& family) {
                           return std::string(model_type_name(family.param));
                         });

// On a chip of 6 tiles the heads do not spread one per tile: a tile's heads, and a step's,
// span several groups of B and C or part of one (krsna-dc's 64 tiles give most of these
// models one head per tile).
TEST(FunctionalEqualsGolden, WithSeveralHeadsPerTile) {
  const Profile profile = load_profile(test::write_file("dc-6-tiles.yaml", R"(base: krsna-dc
description: krsna-dc with 6 tiles of 64 KiB
tiles: {count: 6, grid: {rows: 2, cols: 3}}
tile: {sram: {size_bytes: 64 KiB}}
)")
                                           .string());
  for (ModelFamily family : {ModelFamily::mamba2, ModelFamily::bamba, ModelFamily::nemotron_h, ModelFamily::zamba2})
    for (int seed = 1; seed <= kModelsPerFamily; ++seed) {
      const test::RandomModel m = test::random_model(family, std::uint64_t(seed));
      SCOPED_TRACE(test::describe(m));
      const test::Fidelity f = test::functional_fidelity(m, profile);
      EXPECT_TRUE(f.passed()) << test::fidelity_text(f);
    }
}

// A shipped test checkpoint (tests/data/models/FAMILY) for 3 sessions of 64 prompt tokens,
// token i of them (i * stride + offset) mod the vocabulary, and 2 generated tokens.
test::RandomModel three_sessions(const char* family, std::size_t stride, std::size_t offset) {
  test::RandomModel m;
  m.name = family;
  m.checkpoint = load_hf_checkpoint(std::filesystem::path(SSMSOC_TEST_DATA_DIR) / "models" / family);
  m.batch = 3, m.prompt_length = 64, m.prefill_chunk = 0, m.new_tokens = 2;
  m.ids.resize(std::size_t(m.batch * m.prompt_length));
  for (std::size_t i = 0; i < m.ids.size(); ++i)
    m.ids[i] = std::int64_t((i * stride + offset) % std::size_t(m.checkpoint.vocab_size));
  return m;
}

// Its prompt compiled as the functional runtime compiles it.
compiler::CompileResult compile_prefill(const test::RandomModel& m, const Profile& profile) {
  compiler::ModelSpec spec;
  static_cast<ModelConfig&>(spec) = m.checkpoint;
  compiler::Scenario scenario;
  scenario.prompt_tokens = m.prompt_length, scenario.batch = m.batch, scenario.generate_tokens = 0;
  return compiler::compile(spec, scenario, profile, host::functional_compile_options(profile));
}

// The shipped test checkpoints with enough tokens (batch x prompt) that projections split by
// tokens with the weights broadcast to every tile (OpMapping::b_broadcast): still equal to
// the golden model.
TEST(FunctionalEqualsGolden, WithTheWeightsBroadcast) {
  // 16 tiles of 128 KiB and a small global buffer: most activations live in DRAM, so
  // splitting by n would read them once per n block.
  const Profile profile = load_profile(test::small_dc_profile_file().string());
  for (const char* family : {"mamba2", "bamba"}) {
    SCOPED_TRACE(family);
    const test::RandomModel m = three_sessions(family, 7, 3);
    const compiler::CompileResult compiled = compile_prefill(m, profile);
    int broadcast = 0;
    for (const compiler::OpMapping& map : compiled.phases.at(0).mappings) broadcast += map.b_broadcast;
    EXPECT_GT(broadcast, 0) << compiler::dump_tiled(compiled.phases.at(0).tiled);

    const test::Fidelity f = test::functional_fidelity(m, profile);
    EXPECT_TRUE(f.passed()) << test::fidelity_text(f);
  }
}

// A global buffer a little too small for the activations: the prefill arena splits between
// it and DRAM (compiler::plan_memory), tensor by tensor; prefill and decode of three sessions
// still equal the golden model.
TEST(FunctionalEqualsGolden, WithActivationArenasSplitBetweenGlobalBufferAndDram) {
  for (const char* family : {"mamba1", "mamba2", "bamba"}) {
    SCOPED_TRACE(family);
    const test::RandomModel m = three_sessions(family, 5, 1);
    // The states and 60 % of the largest arena, in whole 64 KiB (the banks' rows): the states
    // stay on chip, the arena splits.
    const compiler::MemoryPlan roomy = compile_prefill(m, load_profile("krsna-dc")).memory;
    const std::uint64_t gb_kib =
        ((roomy.state_bytes_per_session * std::uint64_t(m.batch) + roomy.activation_bytes * 6 / 10) / 65536 + 1) * 64;
    const Profile profile =
        load_profile(test::write_file(fmt::format("dc-split-{}.yaml", family),
                                      fmt::format("base: krsna-dc\ndescription: krsna-dc with a {} KiB global buffer\n"
                                                  "global_buffer: {{size_bytes: {} KiB}}\n",
                                                  gb_kib, gb_kib))
                         .string());
    const compiler::MemoryPlan split = compile_prefill(m, profile).memory;
    EXPECT_GT(*std::max_element(split.spill_bytes.begin(), split.spill_bytes.end()), 0u)
        << compiler::dump_memory_plan(split);
    const test::Fidelity f = test::functional_fidelity(m, profile);
    EXPECT_TRUE(f.passed()) << test::fidelity_text(f);
  }
}

// The suite's sample holds the issue's reproducers: Mamba-1 with projection biases
// (use_bias, once refused), Mamba-2 and the hybrids with n_groups > 1 (once 0.07-0.7 off).
TEST(FunctionalEqualsGoldenSample, HoldsBiasesAndGroups) {
  auto any = [](ModelFamily family, auto predicate) {
    for (int seed = 1; seed <= kModelsPerFamily; ++seed)
      if (predicate(test::random_model(family, std::uint64_t(seed)).checkpoint.mamba)) return true;
    return false;
  };
  EXPECT_TRUE(any(ModelFamily::mamba, [](const MambaShape& s) { return s.proj_bias; }));
  for (ModelFamily family : {ModelFamily::mamba2, ModelFamily::bamba, ModelFamily::granitemoehybrid,
                             ModelFamily::falcon_h1, ModelFamily::nemotron_h, ModelFamily::zamba2})
    EXPECT_TRUE(any(family, [](const MambaShape& s) { return s.groups > 1; })) << model_type_name(family);
}

}  // namespace
}  // namespace ssmsoc
