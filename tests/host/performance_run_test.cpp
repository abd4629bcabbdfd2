// Performance and functional runs (host/performance_run.hpp, host/functional_run.hpp): the
// serving figures follow from the simulated runs of the phases, by hand-worked numbers, by
// recomputation from a real simulation, and as scenarios vary.
#include "host/performance_run.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdint>
#include <fstream>
#include <numeric>
#include <random>

#include "arch/golden/safetensors.hpp"
#include "arch/golden/seeded_random.hpp"
#include "arch/hf/checkpoint.hpp"
#include "arch/spec/profile.hpp"
#include "compiler/compiler.hpp"
#include "host/functional_run.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

const std::string kTinyMamba2 = "tests/data/models/mamba2";  // a tiny Mamba-2 checkpoint folder

compiler::PhaseProgram phase_named(const std::string& name, int runs, std::vector<std::string> ops = {}) {
  compiler::PhaseProgram p;
  p.name = name;
  p.runs = runs;
  for (const auto& op : ops) {
    compiler::TiledOp tiled;
    tiled.name = op;
    p.tiled.push_back(tiled);
  }
  return p;
}

// One run: `tiles` tiles whose engines are each busy `busy[e]` cycles.
sim::SimResult simulated(double seconds, double energy_j, std::uint64_t cycles, std::uint64_t dram_bytes, int tiles,
                         const std::array<std::uint64_t, SSM_ENGINE_COUNT>& busy) {
  sim::SimResult r;
  r.seconds = seconds;
  r.energy_j = energy_j;
  r.cycles = cycles;
  r.dram_read_bytes = dram_bytes;
  r.tiles.resize(std::size_t(tiles));
  for (auto& tile : r.tiles)
    for (std::size_t e = 0; e < SSM_ENGINE_COUNT; ++e) tile.engines[e].busy_cycles = busy[e];
  return r;
}

// Two prefill chunks, the logits and three decode steps, batch 2, 4 generated tokens.
TEST(ServingFigures, HandWorkedScenario) {
  compiler::CompileResult compiled;
  compiled.phases.push_back(phase_named("prefill", 2));
  compiled.phases.push_back(phase_named("logits", 1));
  compiled.phases.push_back(phase_named("decode", 3));
  const std::array<std::uint64_t, SSM_ENGINE_COUNT> quarter = [] {
    std::array<std::uint64_t, SSM_ENGINE_COUNT> b{};
    b[0] = 250;
    return b;
  }();
  const std::vector<sim::SimResult> runs = {simulated(0.5, 1.0, 1000, 100, 2, quarter),
                                            simulated(0.1, 0.2, 1000, 10, 2, {}),
                                            simulated(0.25, 0.5, 1000, 20, 2, quarter)};
  compiler::Scenario scenario;
  scenario.prompt_tokens = 64;
  scenario.generate_tokens = 4;
  scenario.batch = 2;
  const host::ServingFigures f = host::serving_figures(compiled, runs, scenario);
  EXPECT_DOUBLE_EQ(f.time_to_first_token_s, 2 * 0.5 + 0.1);
  EXPECT_DOUBLE_EQ(f.decode_latency_s, 0.25);
  EXPECT_DOUBLE_EQ(f.decode_tokens_per_s, 8.0);  // 2 sessions every 0.25 s
  EXPECT_DOUBLE_EQ(f.total_s, 1.0 + 0.1 + 0.75);
  EXPECT_DOUBLE_EQ(f.energy_j, 2.0 + 0.2 + 1.5);
  EXPECT_DOUBLE_EQ(f.dram_bytes, 200 + 10 + 60);
  EXPECT_DOUBLE_EQ(f.energy_per_token_j, 0.25);  // 0.5 J a step for 2 tokens
  EXPECT_DOUBLE_EQ(f.average_power_w, 3.7 / 1.85);
  EXPECT_DOUBLE_EQ(f.generated_tokens, 8.0);
  // Engine 0 is busy 250 of 1000 cycles in 5 of the 6 runs.
  EXPECT_DOUBLE_EQ(f.utilization[0], 5.0 * 250 / 6000);
  for (std::size_t e = 1; e < SSM_ENGINE_COUNT; ++e) EXPECT_EQ(f.utilization[e], 0.0);
  ASSERT_EQ(f.phases.size(), 3u);
  EXPECT_EQ(f.phases[2].phase, "decode");
  EXPECT_EQ(f.phases[2].runs, 3);
  EXPECT_EQ(f.phases[2].cycles_per_run, 1000u);
  EXPECT_DOUBLE_EQ(f.phases[2].seconds_per_run, 0.25);
}

// Without decode steps (one generated token comes from the logits) nothing is divided by 0.
TEST(ServingFigures, NoDecodeStepsGiveZeroRates) {
  compiler::CompileResult compiled;
  compiled.phases.push_back(phase_named("prefill", 1));
  compiled.phases.push_back(phase_named("logits", 1));
  compiler::Scenario scenario;
  scenario.generate_tokens = 1;
  const host::ServingFigures f =
      host::serving_figures(compiled, {simulated(0.3, 0.6, 10, 0, 1, {}), simulated(0.1, 0.2, 10, 0, 1, {})}, scenario);
  EXPECT_DOUBLE_EQ(f.time_to_first_token_s, 0.4);
  EXPECT_EQ(f.decode_latency_s, 0.0);
  EXPECT_EQ(f.decode_tokens_per_s, 0.0);
  EXPECT_EQ(f.energy_per_token_j, 0.0);
  EXPECT_DOUBLE_EQ(f.average_power_w, 2.0);
}

// Ops are taken over all layers and ranked by their share of the engine-busy cycles.
TEST(ServingFigures, BusiestOpsGroupTheLayers) {
  compiler::CompileResult compiled;
  compiled.phases.push_back(phase_named("decode", 1, {"layers.0.mamba.in_proj", "layers.1.mamba.in_proj", "lm_head"}));
  sim::SimResult r = simulated(1, 1, 100, 0, 1, {});
  r.ops.resize(3);
  r.ops[0].busy_cycles[0] = 30;
  r.ops[0].dram_read_bytes = 5;
  r.ops[1].busy_cycles[1] = 30;
  r.ops[1].dram_write_bytes = 7;
  r.ops[2].busy_cycles[0] = 40;
  compiler::Scenario scenario;
  const auto ops = host::serving_figures(compiled, {r}, scenario).phases[0].ops;
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].name, "mamba.in_proj");
  EXPECT_DOUBLE_EQ(ops[0].busy_share, 0.6);
  EXPECT_DOUBLE_EQ(ops[0].dram_bytes, 12);
  EXPECT_EQ(ops[1].name, "lm_head");
  EXPECT_DOUBLE_EQ(ops[1].busy_share, 0.4);
}

host::PerformanceRun tiny_run(int prompt, int generate, int batch) {
  compiler::Scenario scenario;
  scenario.prompt_tokens = prompt;
  scenario.generate_tokens = generate;
  scenario.batch = batch;
  host::PerformanceOptions options;
  options.compile.prefill_chunk = 16;
  return host::run_performance(compiler::load_model(kTinyMamba2), scenario, load_profile("krsna-mobile"), options);
}

// Only the phases asked for are simulated (serve's step shapes): those time as in a whole run,
// the others are left empty.
TEST(PerformanceRun, OnlyThePhasesAskedForAreSimulated) {
  compiler::Scenario scenario;
  scenario.prompt_tokens = 40, scenario.generate_tokens = 5, scenario.batch = 2;
  host::PerformanceOptions options;
  options.compile.prefill_chunk = 16;
  const auto model = compiler::load_model(kTinyMamba2);
  const Profile profile = load_profile("krsna-mobile");
  const host::PerformanceRun whole = host::run_performance(model, scenario, profile, options);
  options.only_phases = {"decode"};
  const host::PerformanceRun decode = host::run_performance(model, scenario, profile, options);
  ASSERT_EQ(decode.simulated.size(), whole.simulated.size());
  for (std::size_t i = 0; i < whole.compiled.phases.size(); ++i) {
    SCOPED_TRACE(whole.compiled.phases[i].name);
    const bool asked = whole.compiled.phases[i].name == "decode";
    EXPECT_EQ(decode.simulated[i].cycles, asked ? whole.simulated[i].cycles : 0u);
    EXPECT_EQ(decode.simulated[i].energy_j, asked ? whole.simulated[i].energy_j : 0.0);
  }
  EXPECT_EQ(decode.figures.decode_latency_s, whole.figures.decode_latency_s);
  EXPECT_EQ(decode.figures.time_to_first_token_s, 0.0);
}

// The figures of a real simulation, recomputed here from the runs of its phases.
TEST(PerformanceRun, FiguresFollowFromTheSimulatedPhases) {
  const host::PerformanceRun run = tiny_run(40, 5, 2);
  const auto& phases = run.compiled.phases;
  ASSERT_EQ(run.simulated.size(), phases.size());
  std::vector<std::string> names;
  for (const auto& p : phases) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"prefill", "prefill-rest", "logits", "decode"}));  // 2 x 16 + 8
  double ttft = 0, energy = 0, total = 0;
  for (std::size_t i = 0; i + 1 < phases.size(); ++i) ttft += phases[i].runs * run.simulated[i].seconds;
  for (std::size_t i = 0; i < phases.size(); ++i) {
    energy += phases[i].runs * run.simulated[i].energy_j;
    total += phases[i].runs * run.simulated[i].seconds;
  }
  const sim::SimResult& decode = run.simulated.back();
  EXPECT_EQ(phases.back().runs, 4);  // the first token comes from the logits
  const host::ServingFigures& f = run.figures;
  EXPECT_GT(ttft, 0);
  EXPECT_DOUBLE_EQ(f.time_to_first_token_s, ttft);
  EXPECT_DOUBLE_EQ(f.decode_latency_s, decode.seconds);
  EXPECT_DOUBLE_EQ(f.decode_tokens_per_s, 2 / decode.seconds);
  EXPECT_DOUBLE_EQ(f.energy_j, energy);
  EXPECT_DOUBLE_EQ(f.total_s, total);
  EXPECT_DOUBLE_EQ(f.energy_per_token_j, decode.energy_j / 2);
  EXPECT_DOUBLE_EQ(f.average_power_w, energy / total);
  EXPECT_DOUBLE_EQ(f.generated_tokens, 10);
  for (double u : f.utilization) {
    EXPECT_GE(u, 0.0);
    EXPECT_LE(u, 1.0);
  }
  ASSERT_EQ(f.phases.size(), phases.size());
  for (std::size_t i = 0; i < phases.size(); ++i) {
    EXPECT_EQ(f.phases[i].commands, phases[i].program.command_count());
    EXPECT_EQ(f.phases[i].cycles_per_run, run.simulated[i].cycles);
    EXPECT_GT(f.phases[i].cycles_per_run, 0u);
    double share = 0;
    for (const auto& op : f.phases[i].ops) share += op.busy_share;
    EXPECT_NEAR(share, 1.0, 1e-12) << phases[i].name;
  }

  // summary.json carries the same figures with their units.
  const auto summary = host::summary_json(run);
  EXPECT_EQ(summary["time_to_first_token"]["value"], f.time_to_first_token_s);
  EXPECT_EQ(summary["time_to_first_token"]["unit"], "s");
  EXPECT_EQ(summary["decode_throughput"]["unit"], "tokens/s");
  EXPECT_EQ(summary["energy_per_generated_token"]["value"], f.energy_per_token_j);
  EXPECT_EQ(summary["energy_per_generated_token"]["unit"], "J/token");
  EXPECT_EQ(summary["scenario"]["batch"], 2);
  EXPECT_EQ(summary["phases"].size(), phases.size());
  const auto stats = host::stats_json(run, load_profile("krsna-mobile"));
  ASSERT_EQ(stats.size(), phases.size());
  EXPECT_EQ(stats[3]["phase"], "decode");
  EXPECT_EQ(stats[3]["runs"], 4);
  EXPECT_EQ(stats[3]["stats"]["ops"][0]["name"], phases[3].tiled[0].name);
}

// Over generated scenarios of a pure SSM: the prefill does not depend on how many tokens
// follow, a decode step not on the context, so energy and time grow linearly with the
// generated tokens by one decode step each.
TEST(PerformanceRun, FiguresScaleWithTheScenario) {
  SeededRandom random(7);
  for (int trial = 0; trial < 3; ++trial) {
    const int prompt = 8 + int(random.next() % 40), generate = 2 + int(random.next() % 6);
    const int batch = 1 + int(random.next() % 3);
    SCOPED_TRACE(testing::Message() << "prompt " << prompt << ", generate " << generate << ", batch " << batch);
    const host::ServingFigures a = tiny_run(prompt, generate, batch).figures;
    const host::ServingFigures b = tiny_run(prompt, generate + 3, batch).figures;
    EXPECT_GT(a.decode_latency_s, 0);
    EXPECT_DOUBLE_EQ(b.time_to_first_token_s, a.time_to_first_token_s);
    EXPECT_DOUBLE_EQ(b.decode_latency_s, a.decode_latency_s);
    EXPECT_DOUBLE_EQ(b.energy_per_token_j, a.energy_per_token_j);
    const double step_energy = a.energy_per_token_j * batch;
    EXPECT_NEAR(b.energy_j - a.energy_j, 3 * step_energy, 1e-9 * b.energy_j);
    EXPECT_NEAR(b.total_s - a.total_s, 3 * a.decode_latency_s, 1e-9 * b.total_s);
    EXPECT_DOUBLE_EQ(b.generated_tokens - a.generated_tokens, 3.0 * batch);
    EXPECT_DOUBLE_EQ(a.decode_tokens_per_s * a.decode_latency_s, batch);
  }
}

// A shipped workload on a shipped profile: a 300-token prompt, 3 generated tokens.
host::PerformanceRun run_shipped(const std::string& model, const std::string& profile) {
  compiler::Scenario scenario;
  scenario.prompt_tokens = 300;
  scenario.generate_tokens = 3;
  return host::run_performance(compiler::load_model("workloads/models/" + model + ".yaml"), scenario,
                               load_profile(profile));
}

// A functional run adds up its simulated runs per phase and compares with the golden model.
// A bound is what no mapping beats: the simulated chip never beats it either (over an SSM, a
// transformer with its KV cache and an MoE hybrid on three chips), and it is not vacuous.
TEST(PerformanceRun, NoPhaseBeatsItsBound) {
  for (const auto& [model, profile] : {std::pair{"mamba-130m", "krsna-mobile"}, std::pair{"pythia-160m", "krsna-wear"},
                                       std::pair{"granite-4.0-h-tiny", "krsna-dc"}}) {
    SCOPED_TRACE(std::string(model) + " on " + profile);
    const host::PerformanceRun r = run_shipped(model, profile);
    const host::ServingFigures& f = r.figures;
    EXPECT_GT(f.time_to_first_token_bound_s, 0.05 * f.time_to_first_token_s);
    EXPECT_LE(f.time_to_first_token_bound_s, f.time_to_first_token_s);
    EXPECT_GT(f.decode_bound_s, 0.05 * f.decode_latency_s);
    EXPECT_LE(f.decode_bound_s, f.decode_latency_s);
    for (const host::PhaseFigures& p : f.phases) {
      EXPECT_GT(p.bound_cycles_per_run, 0) << p.phase;
      EXPECT_LE(p.efficiency(), 1.0) << p.phase;
      EXPECT_TRUE(p.bound_by == "compute" || p.bound_by == "DRAM") << p.bound_by;
    }
  }
}

// The cost model as the fast tier: each phase's estimate within 10 % of the SystemC model's
// cycles, on each native chip, SSM, hybrid and transformer workloads (compiler/README.md,
// "Where the mapper stands", tabulates every shipped workload at 2,048 tokens).
TEST(PerformanceRun, TheCostModelAgreesWithTheSimulationWithinTenPercent) {
  for (const auto& [model, profile] :
       {std::pair{"mamba-130m", "krsna-wear"}, std::pair{"mamba2-130m", "krsna-mobile"},
        std::pair{"pythia-160m", "krsna-dc"}, std::pair{"granite-4.0-h-tiny", "krsna-dc"}}) {
    SCOPED_TRACE(std::string(model) + " on " + profile);
    const host::PerformanceRun r = run_shipped(model, profile);
    for (const host::PhaseFigures& p : r.figures.phases)
      EXPECT_NEAR(p.estimated_cycles_per_run / double(p.cycles_per_run), 1.0, 0.10) << p.phase;
  }
}

// A generated workload of `layers` layers: Mamba-1, Mamba-2, Llama, or a Granite-4.0-H hybrid
// whose attention layers come every `period` layers (`regular`) or at uneven places.
std::string random_workload(SeededRandom& random, int family, int layers, bool regular) {
  const int hidden = 64 * (1 + int(random.next() % 4));
  std::string y = fmt::format(
      "name: generated\nsource: generated by the test\nhidden_size: {}\nnum_hidden_layers: {}\nvocab_size: {}\n",
      hidden, layers, 512 + 64 * int(random.next() % 16));
  const int head_dim = 16 << (random.next() % 3), state = 16 << (random.next() % 3);
  switch (family) {
    case 0:
      return y + fmt::format(
                     "model_type: mamba\nintermediate_size: {}\nstate_size: {}\nconv_kernel: 4\ntime_step_rank: {}\n"
                     "use_bias: false\nuse_conv_bias: true\nlayer_norm_epsilon: 1e-05\ntie_word_embeddings: true\n",
                     2 * hidden, state, hidden / 16);
    case 1:
      return y + fmt::format(
                     "model_type: mamba2\nexpand: 2\nnum_heads: {}\nhead_dim: {}\nn_groups: 1\nstate_size: {}\n"
                     "conv_kernel: 4\nchunk_size: {}\nuse_bias: false\nuse_conv_bias: true\nlayer_norm_epsilon: "
                     "1e-05\ntie_word_embeddings: true\n",
                     2 * hidden / head_dim, head_dim, state, 64 << (random.next() % 3));
    case 2:
      return y + fmt::format(
                     "model_type: llama\nnum_attention_heads: {}\nnum_key_value_heads: {}\nhead_dim: 32\n"
                     "intermediate_size: {}\nrope_theta: 10000.0\nrms_norm_eps: 1e-05\ntie_word_embeddings: true\n"
                     "hidden_act: silu\n",
                     hidden / 32, hidden / 64, 3 * hidden);
    default: {
      const int period = 2 + int(random.next() % 3);
      std::vector<std::string> types;
      for (int l = 0; l < layers; ++l)
        types.push_back((regular ? l % period == period - 1 : l == 1 || l == 4) ? "\"attention\"" : "\"mamba\"");
      return y + fmt::format(
                     "model_type: granitemoehybrid\nlayer_types: [{}]\nnum_attention_heads: {}\n"
                     "num_key_value_heads: {}\nmamba_n_heads: {}\nmamba_d_head: {}\nmamba_n_groups: 1\n"
                     "mamba_d_state: {}\nmamba_d_conv: 4\nmamba_chunk_size: 64\nmamba_expand: 2\n"
                     "mamba_conv_bias: true\nmamba_proj_bias: false\nnum_local_experts: 4\nnum_experts_per_tok: 2\n"
                     "intermediate_size: 64\nshared_intermediate_size: 128\nposition_embedding_type: nope\n"
                     "attention_multiplier: 0.03\nembedding_multiplier: 12\nresidual_multiplier: 0.22\n"
                     "logits_scaling: 6\nrms_norm_eps: 1e-05\ntie_word_embeddings: true\nhidden_act: silu\n",
                     fmt::join(types, ", "), hidden / 32, hidden / 64, 2 * hidden / head_dim, head_dim, state);
    }
  }
}

// Timing from two layer prefixes (CompileOptions::sample_layers) gives what simulating every
// layer gives, phase by phase and op by op, over generated workloads, scenarios and chips: the
// commands and DRAM bytes exactly, the time and energy within a few tenths of a per cent (a
// chip may repeat itself over a few layers, not one, and the samples average over six); a
// layer pattern that does not repeat is simulated whole.
TEST(PerformanceRun, SampledLayersTimeAsEveryLayer) {
  SeededRandom random(11);
  const std::string profiles[] = {"krsna-wear", "krsna-mobile", "krsna-dc"};
  constexpr double kTolerance = 0.005;
  int sampled_phases = 0;
  double worst = 0;
  const auto near = [&](double a, double b, double scale) {
    worst = std::max(worst, std::abs(a - b) / std::max(scale, 1e-30));
    return std::abs(a - b) <= kTolerance * scale;
  };
  for (int trial = 0; trial < 8; ++trial) {
    const int family = trial % 4, layers = 12 + int(random.next() % 13);
    const bool regular = trial != 7;
    const auto file = test::temp_dir() / fmt::format("generated-{}.yaml", trial);
    const std::string workload = random_workload(random, family, layers, regular);
    std::ofstream(file) << workload;
    compiler::Scenario scenario;
    scenario.prompt_tokens = 16 + int(random.next() % 300);
    scenario.generate_tokens = 2 + int(random.next() % 4);
    scenario.batch = 1 + int(random.next() % 3);
    const Profile profile = load_profile(profiles[random.next() % 3]);
    SCOPED_TRACE(testing::Message() << "trial " << trial << " on " << profile.name << ", prompt "
                                    << scenario.prompt_tokens << ", batch " << scenario.batch << ":\n"
                                    << workload);
    const compiler::ModelSpec model = compiler::load_model(file);
    host::PerformanceOptions every;
    every.all_layers = true;
    const host::PerformanceRun whole = host::run_performance(model, scenario, profile, every);
    const host::PerformanceRun sampled = host::run_performance(model, scenario, profile);
    const host::ServingFigures &a = sampled.figures, &b = whole.figures;
    EXPECT_TRUE(near(a.time_to_first_token_s, b.time_to_first_token_s, b.time_to_first_token_s));
    EXPECT_TRUE(near(a.decode_latency_s, b.decode_latency_s, b.decode_latency_s));
    EXPECT_TRUE(near(a.energy_j, b.energy_j, b.energy_j));
    EXPECT_DOUBLE_EQ(a.dram_bytes, b.dram_bytes);
    for (std::size_t e = 0; e < SSM_ENGINE_COUNT; ++e) EXPECT_TRUE(near(a.utilization[e], b.utilization[e], 1)) << e;
    ASSERT_EQ(sampled.compiled.phases.size(), whole.compiled.phases.size());
    for (std::size_t i = 0; i < a.phases.size(); ++i) {
      const compiler::PhaseProgram& phase = sampled.compiled.phases[i];
      SCOPED_TRACE(phase.name);
      EXPECT_EQ(a.phases[i].commands, b.phases[i].commands);
      EXPECT_EQ(a.phases[i].layers, phase.name == "logits" ? 0 : layers);
      if (!regular) {
        EXPECT_TRUE(phase.samples.empty());
      }
      if (phase.samples.empty()) {
        EXPECT_EQ(a.phases[i].simulated_layers, a.phases[i].layers);
        EXPECT_EQ(a.phases[i].cycles_per_run, b.phases[i].cycles_per_run);
        continue;
      }
      ++sampled_phases;
      EXPECT_EQ(a.phases[i].simulated_layers,
                (compiler::kWarmupPeriods + phase.averaged_periods) * phase.layer_period + layers % phase.layer_period);
      EXPECT_LT(a.phases[i].simulated_layers, layers);
      const sim::SimResult &x = sampled.simulated[i], &y = whole.simulated[i];
      const double cycles = double(y.cycles);
      EXPECT_TRUE(near(double(x.cycles), cycles, cycles));
      EXPECT_EQ(x.dram_read_bytes, y.dram_read_bytes);
      EXPECT_EQ(x.dram_write_bytes, y.dram_write_bytes);
      EXPECT_EQ(x.commands, y.commands);
      EXPECT_EQ(x.firmware_signals, y.firmware_signals);
      ASSERT_EQ(x.ops.size(), y.ops.size());
      for (std::size_t o = 0; o < x.ops.size(); ++o) {
        SCOPED_TRACE(phase.tiled[o].name);
        EXPECT_EQ(x.ops[o].commands, y.ops[o].commands);
        EXPECT_EQ(x.ops[o].dram_read_bytes + x.ops[o].dram_write_bytes,
                  y.ops[o].dram_read_bytes + y.ops[o].dram_write_bytes);
        EXPECT_TRUE(near(double(x.ops[o].first_cycle), double(y.ops[o].first_cycle), cycles));
        EXPECT_TRUE(near(double(x.ops[o].last_cycle), double(y.ops[o].last_cycle), cycles));
        for (std::size_t e = 0; e < SSM_ENGINE_COUNT; ++e)  // as the op at its place in a sampled period
          EXPECT_NEAR(double(x.ops[o].busy_cycles[e]), double(y.ops[o].busy_cycles[e]),
                      0.1 * double(y.ops[o].busy_cycles[e]) + 1);
      }
    }
  }
  EXPECT_GE(sampled_phases, 10);  // the draws do exercise sampling
  std::printf("largest difference of the sampled runs: %.4f %%\n", 100 * worst);
}

TEST(FunctionalRun, TotalsThePhasesAndComparesWithTheGoldenModel) {
  const host::FunctionalDriver driver(load_hf_checkpoint(kTinyMamba2), load_profile("krsna-dc"));
  const SafetensorsFile ref = read_safetensors(kTinyMamba2 + "/reference.safetensors");
  host::FunctionalRequest request;
  const Tensor& ids = ref.tensors.at("input_ids");
  request.batch = int(ids.shape[0]);
  request.length = int(ids.shape[1]);
  request.ids = ids.to_i64();
  const Tensor& prompt = ref.tensors.at("gen_prompt_ids");
  request.gen_batch = int(prompt.shape[0]);
  request.gen_length = int(prompt.shape[1]);
  request.prompt = prompt.to_i64();
  request.generate = 3;
  const host::FunctionalRun run = host::run_functional(driver, "mamba2", request);

  // The forward prefill and the generation's prefill, then 2 decode steps.
  ASSERT_EQ(run.phases.size(), 2u);
  EXPECT_EQ(run.phases[0].phase, "prefill");
  EXPECT_EQ(run.phases[0].runs, 2);
  EXPECT_EQ(run.phases[1].phase, "decode");
  EXPECT_EQ(run.phases[1].runs, 2);
  EXPECT_DOUBLE_EQ(run.seconds, run.phases[0].seconds + run.phases[1].seconds);
  EXPECT_DOUBLE_EQ(run.energy_j, run.phases[0].energy_j + run.phases[1].energy_j);
  EXPECT_GT(run.phases[1].cycles, 0u);
  EXPECT_LT(run.max_logits_error, 1e-4);  // fp32 chip
  EXPECT_LT(run.max_gen_logits_error, 1e-4);
  EXPECT_TRUE(run.generated_ids_equal_golden);
  const int vocab = driver.checkpoint().vocab_size;
  EXPECT_EQ(run.tensors.tensors.at("logits").shape, (std::vector<std::int64_t>{request.batch, request.length, vocab}));
  EXPECT_EQ(run.tensors.tensors.at("gen_new_ids").shape, (std::vector<std::int64_t>{request.gen_batch, 3}));

  const auto summary = host::summary_json(run);
  EXPECT_EQ(summary["mode"], "functional");
  EXPECT_EQ(summary["generated_tokens"], 3);
  EXPECT_EQ(summary["simulated_time"]["value"], run.seconds);
  EXPECT_EQ(summary["phases"][1]["runs"], 2);
}

}  // namespace
}  // namespace ssmsoc

namespace ssmsoc {
namespace {

// tile.scan.state_storage: an SSM state kept in fp8 or bf16 between tokens moves a quarter or
// half of float32's bytes; nothing else of a decode step changes. Mamba-2 130M on krsna-mobile
// at random batches: the decode step's DRAM bytes fall by exactly the states' saved bytes, read
// and written, and the memory plan's state per session shrinks alike.
TEST(PerformanceRun, ANarrowStateStorageMovesOnlyTheStatesFewerBytes) {
  const compiler::ModelSpec model = compiler::load_model("workloads/models/mamba2-130m.yaml");
  std::mt19937 rng(5);
  for (const char* format : {"fp8", "bf16"}) {
    const auto file = test::write_file(fmt::format("mobile-{}.yaml", format),
                                       fmt::format("base: krsna-mobile\ndescription: krsna-mobile, states in {}\n"
                                                   "tile: {{scan: {{state_storage: {}}}}}\n",
                                                   format, format));
    const Profile narrow = load_profile(file.string());
    const double bytes_per_element = std::string(format) == "fp8" ? 1 : 2;
    compiler::Scenario s;
    s.prompt_tokens = 16;
    s.generate_tokens = 3;
    s.batch = 1 + int(rng() % 8);
    host::PerformanceOptions every_layer;
    every_layer.all_layers = true;
    const auto wide_run = host::run_performance(model, s, load_profile("krsna-mobile"), every_layer);
    const auto narrow_run = host::run_performance(model, s, narrow, every_layer);
    auto decode_bytes = [](const host::PerformanceRun& r) {
      const sim::SimResult& d = r.simulated.back();
      return double(d.dram_read_bytes + d.dram_write_bytes);
    };
    const double elements = double(s.batch) * 24 * 24 * 64 * 128;  // layers x heads x head_dim x N
    EXPECT_EQ(decode_bytes(wide_run) - decode_bytes(narrow_run), elements * (4 - bytes_per_element) * 2) << format;
    EXPECT_EQ(double(wide_run.compiled.memory.ssm_state_bytes_per_session -
                     narrow_run.compiled.memory.ssm_state_bytes_per_session),
              24 * 24 * 64 * 128 * (4 - bytes_per_element))
        << format;
    EXPECT_LT(narrow_run.figures.decode_latency_s, wide_run.figures.decode_latency_s) << format;
  }
}

}  // namespace
}  // namespace ssmsoc
