// host::reproduce: a spec's points run as `ssmsoc run` runs them and set against the paper; a
// bad spec fails before anything runs, naming its place; every shipped reproduction stays
// within the tolerance its spec states.
#include "host/reproduction.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <random>

#include "arch/spec/config_tree.hpp"
#include "tests/support.hpp"

namespace ssmsoc::host {
namespace {

std::string spec_text(const std::string& points) {
  return "design: Test design\npaper: A. Author, a paper (2025)\nprofile: krsna-mobile\npoints:\n" + points;
}

std::string error_of(const std::string& text) {
  const auto file = test::write_file("reproduction.yaml", text);
  try {
    load_reproduction(file);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Reproduction, EveryMeasureIsTheRunsOwnFigure) {
  // Random figures: each measure is its formula of them, whatever the values.
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> draw(0.01, 10);
  for (int i = 0; i < 50; ++i) {
    ServingFigures f;
    f.decode_latency_s = draw(rng) * 1e-3;
    f.time_to_first_token_s = draw(rng) * 1e-1;
    f.total_s = f.time_to_first_token_s + 100 * f.decode_latency_s;
    f.energy_per_token_j = draw(rng) * 1e-2;
    compiler::Scenario s;
    s.batch = 1 + i % 7;
    s.prompt_tokens = 64 * (1 + i % 5);
    s.generate_tokens = 101;
    f.decode_tokens_per_s = s.batch / f.decode_latency_s;
    f.generated_tokens = double(s.batch) * s.generate_tokens;
    EXPECT_DOUBLE_EQ(measured(f, s, Measure::decode_tokens_per_s), f.decode_tokens_per_s);
    EXPECT_DOUBLE_EQ(measured(f, s, Measure::decode_latency_ms), f.decode_latency_s * 1e3);
    EXPECT_DOUBLE_EQ(measured(f, s, Measure::time_to_first_token_ms), f.time_to_first_token_s * 1e3);
    EXPECT_DOUBLE_EQ(measured(f, s, Measure::prefill_tokens_per_s),
                     s.batch * s.prompt_tokens / f.time_to_first_token_s);
    EXPECT_DOUBLE_EQ(measured(f, s, Measure::generation_tokens_per_s), f.generated_tokens / f.total_s);
    EXPECT_DOUBLE_EQ(measured(f, s, Measure::decode_tokens_per_j), 1 / f.energy_per_token_j);
    // Power: a step's energy over its time.
    EXPECT_NEAR(measured(f, s, Measure::decode_power_w), f.energy_per_token_j * s.batch / f.decode_latency_s,
                1e-9 * measured(f, s, Measure::decode_power_w));
  }
}

TEST(Reproduction, PointsAreTheirRunsFiguresAndShareEqualRuns) {
  // Two measures of one run and one of another batch: the first two come from the same
  // figures, each equal to run_performance's, and the ratio is predicted / paper.
  const auto file = test::write_file(
      "small.yaml",
      spec_text(
          R"(  - {name: decode, model: mamba-130m, prompt: 32, generate: 3, measure: decode_tokens_per_s, paper: 100, source: T1}
  - {name: energy, model: mamba-130m, prompt: 32, generate: 3, measure: decode_tokens_per_j, paper: 50, source: T1}
  - {name: batch 4, model: mamba-130m, prompt: 32, generate: 3, batch: 4, measure: decode_latency_ms, paper: 1, source: F2, tolerance: 3, gap: a test}
)"));
  const ReproductionSpec spec = load_reproduction(file);
  ASSERT_EQ(spec.points.size(), 3u);
  EXPECT_EQ(spec.points[2].scenario.batch, 4);
  const std::vector<ReproducedPoint> r = reproduce({spec});
  ASSERT_EQ(r.size(), 3u);
  const Profile mobile = load_profile("krsna-mobile");
  const compiler::ModelSpec model = compiler::load_workload("mamba-130m");
  const ServingFigures b1 = run_performance(model, spec.points[0].scenario, mobile).figures;
  const ServingFigures b4 = run_performance(model, spec.points[2].scenario, mobile).figures;
  for (const ReproducedPoint& p : r) EXPECT_TRUE(p.not_run.empty()) << p.not_run;
  EXPECT_DOUBLE_EQ(r[0].predicted, b1.decode_tokens_per_s);
  EXPECT_DOUBLE_EQ(r[1].predicted, 1 / b1.energy_per_token_j);
  EXPECT_DOUBLE_EQ(r[2].predicted, b4.decode_latency_s * 1e3);
  EXPECT_GT(b4.decode_tokens_per_s, b1.decode_tokens_per_s);  // weights shared by the batch
  EXPECT_DOUBLE_EQ(r[0].ratio(), r[0].predicted / 100);
  EXPECT_EQ(r[0].within(), std::abs(r[0].predicted / 100 - 1) <= 0.25);
  // The table has a row per point, the JSON every figure with its unit.
  const std::string table = reproduction_table(r);
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 2 + 3);
  const auto json = reproduction_json(r);
  ASSERT_EQ(json["points"].size(), 3u);
  EXPECT_EQ(json["points"][1]["predicted"]["unit"], "tokens/J");
  EXPECT_DOUBLE_EQ(json["points"][1]["predicted"]["value"].get<double>(), r[1].predicted);
  EXPECT_EQ(json["points"][2]["gap"], "a test");
}

TEST(Reproduction, APointThatCannotRunSaysWhyAndIsNotWithin) {
  // Mamba-2.8B's weights do not fit krsna-wear's DRAM.
  const auto file = test::write_file(
      "wear.yaml", spec_text("  - {name: big, profile: krsna-wear, model: mamba-2.8b, prompt: 16, generate: 2, "
                             "measure: decode_tokens_per_s, paper: 1, source: T1}\n"));
  const std::vector<ReproducedPoint> r = reproduce({load_reproduction(file)});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_NE(r[0].not_run.find("capacity"), std::string::npos) << r[0].not_run;
  EXPECT_FALSE(r[0].within());
  EXPECT_NE(reproduction_table(r).find("did not run"), std::string::npos);
}

TEST(Reproduction, ABadSpecNamesItsPlaceBeforeAnythingRuns) {
  const std::string point =
      "{name: p, model: mamba-130m, prompt: 8, generate: 4, measure: decode_tokens_per_s, "
      "paper: 1, source: T1";
  struct Case {
    std::string points, expected;
  } cases[] = {
      {"  - " + point + ", colour: red}\n", "5:"},  // unknown key, on the point's line
      {"  - " + point + ", colour: red}\n", "colour"},
      {"  - {name: p, model: no-such-model, prompt: 8, generate: 4, measure: decode_tokens_per_s, paper: 1, "
       "source: T1}\n",
       "no-such-model"},
      {"  - " + point + ", profile: no-such-chip}\n", "no profile named 'no-such-chip'"},
      {"  - " + point + ", tolerance: 0.4}\n", "say why in `gap`"},
      {"  - {name: p, model: mamba-130m, prompt: 8, generate: 1, measure: decode_latency_ms, paper: 1, source: T1}\n",
       "at least 2 generated tokens"},
      {"  - {name: p, model: mamba-130m, prompt: 8, generate: 4, measure: tokens, paper: 1, source: T1}\n",
       "decode_tokens_per_s"},  // the choices are listed
      {"  - " + point + ", paper: -3}\n", "paper"},
      {"  - " + point + ", precision: int3}\n", "unknown precision \"int3\""},
      {"  - " + point + ", precision: fp64}\n", "krsna-mobile has no fp64 matrix unit"},
      {"  []\n", "points"},
  };
  for (const Case& c : cases) {
    const std::string error = error_of(spec_text(c.points));
    EXPECT_NE(error.find("reproduction.yaml:"), std::string::npos) << c.points << " -> " << error;
    EXPECT_NE(error.find(c.expected), std::string::npos) << c.points << " -> " << error;
  }
  EXPECT_NE(error_of("design: x\npaper: y\npoints: []\n").find("non-empty"), std::string::npos);
  EXPECT_NE(error_of("paper: y\npoints: [{}]\n").find("design"), std::string::npos);
}

// The shipped reproductions (workloads/validation): each point within the tolerance its spec
// states, the tolerance above 25 % only where the spec says what the paper measured otherwise.
TEST(Reproduction, EveryShippedReproductionStaysWithinItsStatedTolerance) {
  const std::vector<ReproductionSpec> specs = load_reproductions(validation_directory());
  for (const ReproductionSpec& spec : specs) {
    for (const ReproducedPoint& p : reproduce({spec})) {
      EXPECT_TRUE(p.not_run.empty()) << spec.design << " " << p.point.name << ": " << p.not_run;
      EXPECT_TRUE(p.within()) << spec.design << " " << p.point.name << ": " << p.predicted << " against "
                              << p.point.paper << " (ratio " << p.ratio() << ")";
      if (p.point.tolerance > 0.25) {
        EXPECT_FALSE(p.point.gap.empty());
      }
    }
  }
  EXPECT_GE(specs.size(), 3u);
}

}  // namespace
}  // namespace ssmsoc::host
