// host::compare: every pair's figures are run_performance's own, at both batches; a pair that
// cannot run says why without stopping the others; the outputs agree with each other.
#include "host/comparison.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <random>

#include "arch/spec/config_tree.hpp"
#include "tests/support.hpp"

namespace ssmsoc::host {
namespace {

compiler::Scenario scenario_of(int prompt, int generate) {
  compiler::Scenario s;
  s.prompt_tokens = prompt;
  s.generate_tokens = generate;
  return s;
}

ComparisonOptions serving_at(int batch) {
  ComparisonOptions o;
  o.serving_batch = batch;
  return o;
}

std::size_t lines_of(const std::string& s) { return std::size_t(std::count(s.begin(), s.end(), '\n')); }

TEST(Comparison, EachRowHoldsTheRunsOwnFiguresAtBothBatches) {
  const compiler::ModelSpec model = compiler::load_model("workloads/models/mamba2-130m.yaml");
  const std::vector<Profile> profiles{load_profile("krsna-dc"), load_profile("h100-class")};
  const compiler::Scenario s = scenario_of(64, 4);
  const Comparison c = compare({model}, profiles, s, serving_at(4));
  ASSERT_EQ(c.rows.size(), 2u);
  for (std::size_t i = 0; i < profiles.size(); ++i) {
    const ComparisonRow& row = c.rows[i];
    EXPECT_EQ(row.profile, profiles[i].name);
    EXPECT_EQ(row.model, "mamba2-130m");
    EXPECT_TRUE(row.not_run.empty()) << row.not_run;
    EXPECT_EQ(row.kernel_timed, profiles[i].kernels.has_value());
    compiler::Scenario serving = s;
    serving.batch = 4;
    const ServingFigures single = run_performance(model, s, profiles[i]).figures;
    const ServingFigures batched = run_performance(model, serving, profiles[i]).figures;
    EXPECT_EQ(row.single.time_to_first_token_s, single.time_to_first_token_s) << row.profile;
    EXPECT_EQ(row.single.decode_latency_s, single.decode_latency_s) << row.profile;
    EXPECT_EQ(row.single.energy_per_token_j, single.energy_per_token_j) << row.profile;
    EXPECT_EQ(row.serving.decode_tokens_per_s, batched.decode_tokens_per_s) << row.profile;
    EXPECT_EQ(row.serving.time_to_first_token_s, batched.time_to_first_token_s) << row.profile;
    EXPECT_DOUBLE_EQ(tokens_per_joule(row.single) * row.single.energy_per_token_j, 1.0);
  }
  // The outputs: one JSON row and two CSV lines per pair, the table naming each profile.
  const auto json = comparison_json(c);
  ASSERT_EQ(json["rows"].size(), 2u);
  EXPECT_EQ(json["serving_batch"], 4);
  EXPECT_EQ(json["rows"][1]["timing"], "kernels");
  EXPECT_EQ(json["rows"][0]["at_serving_batch"]["decode_throughput"]["value"].get<double>(),
            c.rows[0].serving.decode_tokens_per_s);
  EXPECT_EQ(lines_of(comparison_csv(c)), 1u + 2 * 2);
  const std::string table = comparison_table(c);
  for (const Profile& p : profiles) EXPECT_NE(table.find(p.name), std::string::npos) << table;
  // Same inputs, same bytes.
  EXPECT_EQ(comparison_json(compare({model}, profiles, s, serving_at(4))).dump(), json.dump());
}

TEST(Comparison, APairThatCannotRunSaysWhyAndTheOthersStillRun) {
  // Mamba-1.4B's 2.8 GB of bf16 weights do not fit krsna-wear's 2 GiB.
  const std::vector<compiler::ModelSpec> models{compiler::load_model("workloads/models/mamba-1.4b.yaml"),
                                                compiler::load_model("workloads/models/mamba-130m.yaml")};
  const Comparison c = compare(models, {load_profile("krsna-wear")}, scenario_of(16, 2), serving_at(2));
  ASSERT_EQ(c.rows.size(), 2u);
  EXPECT_NE(c.rows[0].not_run.find("do not fit the 2.00 GiB DRAM of krsna-wear"), std::string::npos)
      << c.rows[0].not_run;
  EXPECT_EQ(c.rows[0].single.decode_latency_s, 0);
  EXPECT_TRUE(c.rows[1].not_run.empty()) << c.rows[1].not_run;
  EXPECT_GT(c.rows[1].single.decode_latency_s, 0);
  const auto json = comparison_json(c);
  EXPECT_TRUE(json["rows"][0].contains("not_run"));
  EXPECT_FALSE(json["rows"][0].contains("at_scenario_batch"));
  const std::string csv = comparison_csv(c);
  EXPECT_EQ(lines_of(csv), 1u + 1 + 2);  // the refused pair is one line
  EXPECT_NE(comparison_table(c).find("krsna-wear did not run: "), std::string::npos);
}

// The serving batch alone may not fit (its sessions' states beside the weights): the row keeps
// its figures at the first batch and says why the second did not run.
TEST(Comparison, AServingBatchThatDoesNotFitKeepsTheFirstBatchsFigures) {
  const Comparison c = compare({compiler::load_model("workloads/models/mamba-130m.yaml")}, {load_profile("krsna-wear")},
                               scenario_of(16, 2), serving_at(2000));
  const ComparisonRow& r = c.rows.at(0);
  EXPECT_TRUE(r.not_run.empty()) << r.not_run;
  EXPECT_GT(r.single.decode_tokens_per_s, 0);
  EXPECT_NE(r.serving_not_run.find("exceed the 2.00 GiB DRAM of krsna-wear"), std::string::npos) << r.serving_not_run;
  EXPECT_EQ(r.serving.decode_tokens_per_s, 0);
  const auto json = comparison_json(c);
  EXPECT_TRUE(json["rows"][0].contains("at_scenario_batch"));
  EXPECT_TRUE(json["rows"][0].contains("serving_not_run"));
  const std::string csv = comparison_csv(c);
  ASSERT_EQ(lines_of(csv), 3u);
  const std::string last = csv.substr(csv.rfind('\n', csv.size() - 2) + 1);
  EXPECT_EQ(std::count(last.begin(), last.end(), ','), std::count(csv.begin(), csv.begin() + csv.find('\n'), ','))
      << last;  // as many fields as the header
  EXPECT_NE(comparison_table(c).find("krsna-wear did not run at batch 2000: "), std::string::npos);
}

TEST(Comparison, RejectsAnEmptyListAndABatchBelowOne) {
  const compiler::ModelSpec model = compiler::load_model("workloads/models/mamba-130m.yaml");
  const Profile profile = load_profile("h100-class");
  const compiler::Scenario s = scenario_of(16, 2);
  EXPECT_THROW(compare({}, {profile}, s), ConfigError);
  EXPECT_THROW(compare({model}, {}, s), ConfigError);
  try {
    compare({model}, {profile}, s, serving_at(0));
    FAIL() << "a serving batch of 0 was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "--serving-batch 0: expected at least 1");
  }
}

// Over generated scenarios on a kernel-timed GPU (fast to run): a decode step at the serving
// batch streams the same weights once for every session, so tokens/s and tokens/J grow with
// the batch, and time to first token does not shrink.
TEST(Comparison, ServingBatchRaisesThroughputAndTokensPerJouleOverRandomScenarios) {
  std::mt19937 rng(20261207);
  const std::vector<std::string> workloads{"mamba-130m", "mamba2-370m", "llama-3.2-1b"};
  const Profile profile = load_profile("h100-class");
  for (int trial = 0; trial < 6; ++trial) {
    const std::string name = workloads[std::size_t(trial) % workloads.size()];
    const compiler::Scenario s =
        scenario_of(std::uniform_int_distribution(8, 256)(rng), std::uniform_int_distribution(2, 16)(rng));
    const int batch = std::uniform_int_distribution(2, 32)(rng);
    const Comparison c =
        compare({compiler::load_model("workloads/models/" + name + ".yaml")}, {profile}, s, serving_at(batch));
    const ComparisonRow& r = c.rows.at(0);
    SCOPED_TRACE(fmt::format("{} prompt {} generate {} batch {}", name, s.prompt_tokens, s.generate_tokens, batch));
    ASSERT_TRUE(r.not_run.empty()) << r.not_run;
    EXPECT_GT(r.serving.decode_tokens_per_s, r.single.decode_tokens_per_s);
    EXPECT_GT(tokens_per_joule(r.serving), tokens_per_joule(r.single));
    EXPECT_GE(r.serving.time_to_first_token_s, r.single.time_to_first_token_s);
  }
}

}  // namespace
}  // namespace ssmsoc::host
