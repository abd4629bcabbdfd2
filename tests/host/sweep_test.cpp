// host/sweep: a spec's mistakes named at their place; the design points of each strategy; the
// Pareto front against its definition on random sets; the two tiers' rows in SQLite, resumed
// without repeats, sharded and merged; the estimate tier equal to the compiler's estimate.
#include "host/sweep.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <random>
#include <set>

#include "arch/golden/fixed_scan.hpp"
#include "compiler/compiler.hpp"
#include "tests/support.hpp"

namespace ssmsoc::host {
namespace {

// A small sweep of krsna-wear on a short Mamba-1 prompt: fast enough to simulate.
std::string spec_text(const std::string& axes, const std::string& extra = "") {
  return "name: t\nbase: krsna-wear\naxes:\n" + axes +
         "workloads:\n  - {model: mamba-130m, prompt: 32, generate: 3}\n"
         "objectives: [time_to_first_token, energy_per_token, area]\n" +
         extra;
}
const std::string kTwoAxes =
    "  - key: dram.bandwidth_gb_per_s\n    values: [8, 32]\n"
    "  - keys: [tile.sram.size_bytes, area_mm2.sram.value]\n    values: [[128 KiB, 0.06], [256 KiB, 0.12]]\n";

// The area of the sweep's 128 KiB points (area_mm2.sram 0.06 per tile), as text.
std::string derive_figures_text() {
  Profile p = load_profile("krsna-wear");
  const double base = derive_figures(p).total_area_mm2;
  return fmt::format("{}", base - p.tile_count * (p.area.sram.value - 0.06) + 1e-9);
}

SweepSpec spec_of(const std::string& text, const std::string& name = "sweep.yaml") {
  return load_sweep_spec(test::write_file(name, text));
}

std::string error_of(const std::string& text) {
  try {
    spec_of(text, "bad.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(SweepSpec, ReadsAxesWorkloadsObjectivesAndSearch) {
  const SweepSpec s =
      spec_of(spec_text("  - key: dram.bandwidth_gb_per_s\n    range: {from: 4, to: 64, count: 5, scale: log}\n"
                        "  - key: tile.scan.lanes\n    range: {from: 16, to: 64, count: 3, integer: true}\n",
                        "search: {strategy: latin_hypercube, samples: 7, seed: 3}\nconfirm: {sample: 2}\n"));
  ASSERT_EQ(s.axes.size(), 2u);
  ASSERT_EQ(s.axes[0].values.size(), 5u);
  const double expected[] = {4, 8, 16, 32, 64};  // log spacing
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(std::stod(s.axes[0].values[std::size_t(i)][0].scalar), expected[i], 1e-9);
  EXPECT_EQ(s.axes[1].values[1][0].scalar, "40");
  EXPECT_EQ(s.strategy, Strategy::latin_hypercube);
  EXPECT_EQ(s.samples, 7);
  EXPECT_EQ(s.seed, 3u);
  EXPECT_EQ(s.confirm_sample, 2);
  ASSERT_EQ(s.objectives.size(), 3u);
  EXPECT_EQ(s.objectives[2], Metric::area);
  EXPECT_EQ(s.workloads[0].scenario.prompt_tokens, 32);
}

TEST(SweepSpec, AWorkloadTakesAShippedScenarioAndOverridesIt) {
  std::string text = spec_text(kTwoAxes);
  text.replace(text.find("{model: mamba-130m, prompt: 32, generate: 3}"), 44,
               "{model: mamba-130m, scenario: edge-short}\n  - {model: mamba-130m, scenario: edge-short, batch: 4, "
               "generate: 8}");
  const SweepSpec s = spec_of(text);
  const compiler::Scenario edge = compiler::load_scenario("workloads/scenarios/edge-short.yaml");
  ASSERT_EQ(s.workloads.size(), 2u);
  EXPECT_EQ(s.workloads[0].scenario.prompt_tokens, edge.prompt_tokens);
  EXPECT_EQ(s.workloads[0].scenario.generate_tokens, edge.generate_tokens);
  EXPECT_EQ(s.workloads[1].scenario.prompt_tokens, edge.prompt_tokens);
  EXPECT_EQ(s.workloads[1].scenario.generate_tokens, 8);
  EXPECT_EQ(s.workloads[1].scenario.batch, 4);
  text.replace(text.find("scenario: edge-short}"), 21, "scenario: edge-shrt}");
  EXPECT_NE(error_of(text).find("workloads[0].scenario: no scenario file or name 'edge-shrt'"), std::string::npos);
}

TEST(SweepSpec, BadInputNamesItsPlace) {
  const std::string axes = "  - key: dram.bandwidth_gb_per_s\n    values: [8, 32]\n";
  // A misspelt profile key, a value the profile rejects, tied values of the wrong length.
  EXPECT_NE(error_of(spec_text("  - key: tile.sram.size_byte\n    values: [128 KiB]\n"))
                .find("bad.yaml:4:10: tile.sram.size_byte: unknown key (did you mean 'size_bytes'?)"),
            std::string::npos);
  EXPECT_NE(error_of(spec_text("  - key: tile.sram.size_bytes\n    values: [128 KiB, -5]\n"))
                .find("bad.yaml:5:23: tile.sram.size_bytes: expected a size in bytes"),
            std::string::npos);
  EXPECT_NE(error_of(spec_text("  - keys: [tile.sram.size_bytes, area_mm2.sram.value]\n    values: [[128 KiB]]\n"))
                .find("axes[0].values: expected lists of 2 values, one per key"),
            std::string::npos);
  EXPECT_NE(error_of(spec_text(axes + axes)).find("dram.bandwidth_gb_per_s is already on an axis"), std::string::npos);
  EXPECT_NE(error_of(spec_text(axes, "search: {strategy: grid, samples: 3}\n")).find("search.samples"),
            std::string::npos);
  EXPECT_NE(error_of(spec_text(axes, "search: {strategy: random}\n")).find("search.samples"), std::string::npos);
  EXPECT_NE(error_of(spec_text(axes, "serch: {strategy: random}\n")).find("unknown key"), std::string::npos);
  EXPECT_NE(error_of(spec_text("  - key: dram.bandwidth_gb_per_s\n    range: {from: 0, to: 4, count: 3, "
                               "scale: log}\n"))
                .find("a log range needs from and to above 0"),
            std::string::npos);
  // An empty range, an empty list.
  EXPECT_NE(error_of(spec_text("  - key: dram.bandwidth_gb_per_s\n    range: {from: 4, to: 8, count: 0}\n"))
                .find("axes[0].range.count"),
            std::string::npos);
  EXPECT_NE(error_of(spec_text("  - key: dram.bandwidth_gb_per_s\n    values: []\n"))
                .find("axes[0].values: expected a non-empty list of values"),
            std::string::npos);
  std::string text = spec_text(axes);
  text.replace(text.find("mamba-130m"), 10, "mamba-13m");
  EXPECT_NE(error_of(text).find("bad.yaml:7:13: workloads[0].model: the workload mamba-13m: no such"),
            std::string::npos);
  text = spec_text(axes);
  text.replace(text.find("energy_per_token"), 16, "joules");
  EXPECT_NE(error_of(text).find("objectives[1]: expected one of time_to_first_token"), std::string::npos);
  // 10 axes of 4 values: more than a grid takes.
  std::string big;
  const char* keys[] = {"clock_mhz",
                        "dram.bandwidth_gb_per_s",
                        "tile.scan.lanes",
                        "tile.sram.size_bytes",
                        "global_buffer.size_bytes",
                        "tile.dma.outstanding_transfers",
                        "noc.link_bytes_per_cycle",
                        "control.dispatch_latency_cycles",
                        "control.interrupt_latency_cycles",
                        "dram.latency_ns"};
  const char* values[] = {"[200, 300, 400, 500]",
                          "[8, 16, 32, 64]",
                          "[8, 16, 32, 64]",
                          "[64 KiB, 128 KiB, 256 KiB, 512 KiB]",
                          "[256 KiB, 512 KiB, 1 MiB, 2 MiB]",
                          "[1, 2, 4, 8]",
                          "[8, 16, 32, 64]",
                          "[10, 20, 30, 40]",
                          "[10, 20, 30, 40]",
                          "[50, 60, 70, 80]"};
  for (int i = 0; i < 10; ++i) big += fmt::format("  - key: {}\n    values: {}\n", keys[i], values[i]);
  EXPECT_NE(error_of(spec_text(big)).find("more than 1000000"), std::string::npos) << error_of(spec_text(big));
}

TEST(SweepPoints, GridTakesEveryCombinationLastAxisFastest) {
  const SweepSpec s = spec_of(spec_text(kTwoAxes));
  const auto points = design_points(s);
  ASSERT_EQ(points.size(), 4u);
  EXPECT_EQ(point_indices(s, points[0]), (std::vector<int>{0, 0}));
  EXPECT_EQ(point_indices(s, points[1]), (std::vector<int>{0, 1}));
  EXPECT_EQ(point_indices(s, points[2]), (std::vector<int>{1, 0}));
  for (const PointId p : points) EXPECT_EQ(point_id(s, point_indices(s, p)), p);
  const Profile p = point_profile(s, points[1]);
  EXPECT_EQ(p.tile.sram.size_bytes, 256 * 1024);
  EXPECT_DOUBLE_EQ(p.area.sram.value, 0.12);
  EXPECT_DOUBLE_EQ(p.dram.bandwidth_gb_per_s, 8);
  EXPECT_EQ(load_profile("krsna-wear").tile.scan.lanes, p.tile.scan.lanes);  // the rest is the base's
}

TEST(SweepPoints, LatinHypercubeUsesEveryStratumOnceAndIsSeeded) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 20; ++trial) {
    const int n = 2 + int(rng() % 9);
    std::string values = "[";
    for (int v = 0; v < n; ++v) values += fmt::format("{}{}", v ? ", " : "", 8 + v);
    values += "]";
    const std::string axes = fmt::format(
        "  - key: dram.bandwidth_gb_per_s\n    values: {}\n  - key: tile.scan.lanes\n    values: {}\n", values, values);
    const auto seed = rng() % 1000;
    const SweepSpec lhs = spec_of(
        spec_text(axes, fmt::format("search: {{strategy: latin_hypercube, samples: {}, seed: {}}}\n", n, seed)));
    const auto points = design_points(lhs);
    ASSERT_EQ(points.size(), std::size_t(n));
    for (int axis = 0; axis < 2; ++axis) {
      std::set<int> used;
      for (const PointId p : points) used.insert(point_indices(lhs, p)[std::size_t(axis)]);
      EXPECT_EQ(used.size(), std::size_t(n)) << "axis " << axis << ", " << n << " samples";
    }
    EXPECT_EQ(design_points(lhs), points);  // the same seed, the same points
    SweepSpec other = lhs;
    other.seed = seed + 1;
    if (n > 3) {
      EXPECT_NE(design_points(other), points);
    }
    other.strategy = Strategy::random;
    for (const PointId p : design_points(other))
      for (const int i : point_indices(other, p)) EXPECT_TRUE(i >= 0 && i < n);
  }
}

TEST(SweepPareto, FrontIsExactlyTheUndominatedPoints) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    const std::size_t n = 1 + rng() % 30, dims = 1 + rng() % 3;
    std::vector<std::vector<double>> costs(n, std::vector<double>(dims));
    for (auto& c : costs)
      for (double& x : c) x = double(rng() % 5);  // small values: ties and duplicates
    const std::vector<std::size_t> front = pareto_front(costs);
    for (std::size_t i = 0; i < n; ++i) {
      bool dominated = false;
      for (std::size_t j = 0; j < n; ++j) {
        bool all = true, one = false;
        for (std::size_t k = 0; k < dims; ++k)
          all = all && costs[j][k] <= costs[i][k], one = one || costs[j][k] < costs[i][k];
        dominated = dominated || (all && one);
      }
      EXPECT_EQ(std::find(front.begin(), front.end(), i) != front.end(), !dominated);
    }
    EXPECT_TRUE(std::is_sorted(front.begin(), front.end()));
    EXPECT_FALSE(front.empty());
  }
}

TEST(SweepPareto, RankCorrelation) {
  EXPECT_DOUBLE_EQ(rank_correlation({1, 2, 3, 4}, {10, 20, 30, 400}), 1.0);
  EXPECT_DOUBLE_EQ(rank_correlation({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  EXPECT_NEAR(rank_correlation({1, 2, 3}, {1, 3, 2}), 0.5, 1e-12);
  EXPECT_TRUE(std::isnan(rank_correlation({1}, {1})));
  EXPECT_TRUE(std::isnan(rank_correlation({1, 1}, {1, 2})));  // no spread
}

TEST(SweepDatabase, RowsRoundTripAndMergeWithoutRepeats) {
  const auto dir = test::fresh_folder("sweep-db");
  const SweepSpec s = spec_of(spec_text(kTwoAxes));
  SweepRow row;
  row.point = 3, row.workload = 0, row.tier = Tier::simulation, row.values = "{\"x\":1}";
  row.metrics = {0.5, std::nan(""), 2, 3, 4, 5, 6};
  row.code_version = "v";
  {
    SweepDatabase a(dir / "a.db");
    EXPECT_FALSE(a.has(s, 3, 0, Tier::simulation));
    a.insert(s, row);
    a.insert(s, row);  // once only
    EXPECT_TRUE(a.has(s, 3, 0, Tier::simulation));
    EXPECT_FALSE(a.has(s, 3, 0, Tier::estimate));
    const auto rows = a.rows(s, Tier::simulation);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_DOUBLE_EQ(rows[0].metrics[0], 0.5);
    EXPECT_TRUE(std::isnan(rows[0].metrics[1]));
    EXPECT_EQ(rows[0].values, row.values);
  }
  SweepDatabase b(dir / "b.db");
  row.point = 4;
  b.insert(s, row);
  EXPECT_EQ(b.merge(dir / "a.db"), 1u);
  EXPECT_EQ(b.merge(dir / "a.db"), 0u);
  EXPECT_EQ(b.rows(s, Tier::simulation).size(), 2u);
  EXPECT_THROW(b.merge(dir / "missing.db"), ConfigError);
}

std::string dump(const std::vector<SweepRow>& rows) {
  std::string out;
  for (const SweepRow& r : rows) {
    out += fmt::format("{} {} {} {}", r.point, r.workload, r.values, r.error);
    for (const double m : r.metrics) out += fmt::format(" {}", m);
    out += "\n";
  }
  return out;
}

TEST(SweepRun, TiersResumeShardAndMerge) {
  const auto dir = test::fresh_folder("sweep-run");
  const SweepSpec s = spec_of(spec_text(kTwoAxes, "confirm: {sample: 1}\n"));
  SweepOptions o;
  o.parallel = 2;
  SweepDatabase db(dir / "all.db");
  const SweepSummary first = run_sweep(s, db, o);
  EXPECT_EQ(first.points, 4);
  EXPECT_EQ(first.estimated, 4);
  const auto estimated = db.rows(s, Tier::estimate), simulated = db.rows(s, Tier::simulation);
  ASSERT_EQ(estimated.size(), 4u);
  EXPECT_EQ(first.simulated, int(simulated.size()));
  // The estimated front (time to first token, energy per token and area) is simulated, and
  // one point more.
  std::vector<std::vector<double>> costs;
  for (const SweepRow& r : estimated) {
    EXPECT_EQ(r.error, "");
    EXPECT_GT(r.metrics[std::size_t(Metric::energy_per_token)], 0);
    costs.push_back({r.metrics[std::size_t(Metric::time_to_first_token)],
                     r.metrics[std::size_t(Metric::energy_per_token)], r.metrics[std::size_t(Metric::area)]});
  }
  const std::vector<std::size_t> front = pareto_front(costs);
  EXPECT_EQ(simulated.size(), std::min<std::size_t>(4, front.size() + 1));
  for (const std::size_t f : front)
    EXPECT_TRUE(std::any_of(simulated.begin(), simulated.end(), [&](const SweepRow& r) { return r.point == int(f); }));
  for (const SweepRow& r : simulated) {
    EXPECT_GT(r.metrics[std::size_t(Metric::energy_per_token)], 0);
    EXPECT_GT(r.metrics[std::size_t(Metric::time_to_first_token)], 0);
  }
  // The estimate is the compiler's for that design.
  compiler::CompileOptions co;
  co.programs = false;
  const compiler::CompileResult c = compiler::compile(compiler::load_workload("mamba-130m"), s.workloads[0].scenario,
                                                      point_profile(s, point_id(s, {1, 0})), co);
  double ttft = 0;
  for (const auto& p : c.phases)
    if (p.name != "decode")
      ttft += p.estimated_cycles * p.runs / (point_profile(s, point_id(s, {1, 0})).clock_mhz * 1e6);
  EXPECT_NEAR(estimated[2].metrics[std::size_t(Metric::time_to_first_token)], ttft, 1e-12);
  EXPECT_DOUBLE_EQ(estimated[2].metrics[std::size_t(Metric::area)],
                   derive_figures(point_profile(s, point_id(s, {1, 0}))).total_area_mm2);

  // A second run computes nothing; the front is the simulated one.
  const SweepSummary again = run_sweep(s, db, o);
  EXPECT_EQ(again.estimated + again.simulated, 0);
  EXPECT_EQ(again.reused, int(estimated.size() + simulated.size()));
  EXPECT_EQ(dump(db.rows(s, Tier::simulation)), dump(simulated));
  EXPECT_FALSE(simulated_front(s, db).empty());

  // Two shards merged hold every estimate row, equal to the whole run's (deterministic).
  for (int k = 0; k < 2; ++k) {
    SweepDatabase shard(dir / fmt::format("shard{}.db", k));
    o.shard = k, o.shards = 2;
    run_sweep(s, shard, o);
  }
  SweepDatabase merged(dir / "merged.db");
  merged.merge(dir / "shard0.db");
  merged.merge(dir / "shard1.db");
  EXPECT_EQ(dump(merged.rows(s, Tier::estimate)), dump(estimated));
  o.shard = 2;
  EXPECT_THROW(run_sweep(s, merged, o), ConfigError);
}

// The screening tier counts the actions of the Programs the SystemC tier runs, at the cost
// model's times: its energy and power are the simulation's but for the leakage of the time
// estimate's error. Random design points of random axes, Mamba-1, Mamba-2 and a transformer.
TEST(SweepRun, TheScreeningTiersEnergyIsTheSimulationsWithinAFewPercent) {
  std::mt19937 rng(777);
  const char* const models[] = {"mamba-130m", "mamba2-130m", "pythia-160m"};
  for (int trial = 0; trial < 3; ++trial) {
    const std::string model = models[trial];
    const int prompt = 16 + int(rng() % 48), batch = 1 + int(rng() % 3);
    const std::string text = fmt::format(
        "name: e\nbase: krsna-wear\naxes:\n  - key: dram.bandwidth_gb_per_s\n    values: [{}, {}]\n"
        "  - key: tile.vector.lanes\n    values: [{}, {}]\n"
        "workloads:\n  - {{model: {}, prompt: {}, generate: 3, batch: {}}}\n"
        "objectives: [energy_per_token, average_power, tokens_per_joule]\nconfirm: {{sample: 4}}\n",
        4 + rng() % 8, 16 + rng() % 32, 8, 16 << (rng() % 2), model, prompt, batch);
    const SweepSpec s = spec_of(text, fmt::format("energy{}.yaml", trial));
    const auto dir = test::fresh_folder(fmt::format("sweep-energy-{}", trial));
    SweepDatabase db(dir / "e.db");
    SweepOptions o;
    o.parallel = 2;
    run_sweep(s, db, o);
    const auto estimated = db.rows(s, Tier::estimate), simulated = db.rows(s, Tier::simulation);
    ASSERT_EQ(simulated.size(), 4u) << text;
    for (const SweepRow& sim_row : simulated)
      for (const SweepRow& est : estimated) {
        if (est.point != sim_row.point) continue;
        for (Metric m : {Metric::energy_per_token, Metric::average_power, Metric::tokens_per_joule}) {
          const double e = est.metrics[std::size_t(m)], v = sim_row.metrics[std::size_t(m)];
          EXPECT_NEAR(e, v, 0.05 * v) << model << " point " << est.point << " " << metric_names()[std::size_t(m)];
        }
      }
  }
}

TEST(SweepRun, APointThatFailsIsARowWithItsError) {
  // 64 MiB of DRAM does not hold the model's weights: the point fails, the other runs.
  const auto dir = test::fresh_folder("sweep-fail");
  const SweepSpec s =
      spec_of(spec_text("  - key: dram.capacity_bytes\n    values: [64 MiB, 4 GiB]\n", "confirm: {sample: 1}\n"));
  SweepDatabase db(dir / "f.db");
  SweepOptions o;
  o.parallel = 1;
  run_sweep(s, db, o);
  const auto rows = db.rows(s, Tier::estimate);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_NE(rows[0].error.find("dram.capacity_bytes"), std::string::npos) << rows[0].error;
  EXPECT_EQ(rows[1].error, "");
  const auto results = point_results(s, rows);
  EXPECT_TRUE(std::isnan(results[0].objectives[0]));
  EXPECT_FALSE(std::isnan(results[1].objectives[0]));
}

TEST(SweepSpec, ConstraintsThatNoPointMeetsAreRefused) {
  const std::string area = derive_figures_text();
  EXPECT_NE(error_of(spec_text(kTwoAxes, "constraints:\n  - {metric: area, max: 0.5}\n"))
                .find("bad.yaml:12:5: constraints[0]: no design point meets it: its area spans 2.682 to 2.922"),
            std::string::npos)
      << error_of(spec_text(kTwoAxes, "constraints:\n  - {metric: area, max: 0.5}\n"));
  EXPECT_NE(error_of(spec_text(kTwoAxes, "constraints:\n  - {metric: average_power, min: 3, max: 2}\n"))
                .find("min 3 is above max 2"),
            std::string::npos);
  EXPECT_NE(error_of(spec_text(kTwoAxes, "constraints:\n  - {metric: area}\n")).find("expected min: or max:"),
            std::string::npos);
  // Met by some point: accepted.
  EXPECT_EQ(error_of(spec_text(kTwoAxes, "constraints:\n  - {metric: area, max: " + area + "}\n")), "");
}

TEST(SweepRun, ConstraintsKeepPointsOffTheFronts) {
  // The larger SRAM's area is over the bound: only the 128 KiB points may be on a front.
  const auto dir = test::fresh_folder("sweep-constraint");
  const SweepSpec s = spec_of(spec_text(kTwoAxes, "constraints:\n  - {metric: area, max: " + derive_figures_text() +
                                                      "}\n  - {metric: average_power, max: 1000}\n"));
  SweepDatabase db(dir / "c.db");
  SweepOptions o;
  o.parallel = 2;
  run_sweep(s, db, o);
  const auto front = simulated_front(s, db);
  ASSERT_FALSE(front.empty());
  for (const PointResult& p : front) EXPECT_NE(p.values.find("128 KiB"), std::string::npos) << p.values;
  for (const PointResult& p : point_results(s, db.rows(s, Tier::estimate)))
    EXPECT_EQ(p.feasible, p.values.find("128 KiB") != std::string::npos) << p.values;
}

TEST(SweepRun, ScanErrorIsTheUnitsErrorOnRealisticOperands) {
  const auto dir = test::fresh_folder("sweep-numerics");
  const SweepSpec s = spec_of(
      "name: n\nbase: krsna-wear\naxes:\n  - key: tile.scan.data_format.frac_bits\n    values: [6, 12]\n"
      "workloads:\n  - {model: mamba-130m, prompt: 16, generate: 2}\nobjectives: [scan_error, time_to_first_token]\n");
  SweepDatabase db(dir / "n.db");
  SweepOptions o;
  o.parallel = 2;
  run_sweep(s, db, o);
  const auto rows = db.rows(s, Tier::estimate);
  ASSERT_EQ(rows.size(), 2u);
  for (const SweepRow& r : rows) {
    const Profile p = point_profile(s, r.point);
    EXPECT_DOUBLE_EQ(r.metrics[std::size_t(Metric::scan_error)],
                     fixed::selective_scan_error(p.name, p.tile.scan, fixed::kErrorTableSeed).out_rel);
  }
  // Six fraction bits lose the small dt: a larger error than twelve.
  EXPECT_GT(rows[0].metrics[std::size_t(Metric::scan_error)], rows[1].metrics[std::size_t(Metric::scan_error)]);
  for (const SweepRow& r : db.rows(s, Tier::simulation))
    EXPECT_EQ(r.metrics[std::size_t(Metric::scan_error)],
              rows[std::size_t(r.point)].metrics[std::size_t(Metric::scan_error)]);
}

const std::string kNsga2Axes =
    "  - key: dram.bandwidth_gb_per_s\n    range: {from: 4, to: 64, count: 9, scale: log}\n"
    "  - keys: [tile.sram.size_bytes, area_mm2.sram.value]\n"
    "    values: [[64 KiB, 0.03], [128 KiB, 0.06], [256 KiB, 0.12], [512 KiB, 0.24]]\n"
    "  - key: clock_mhz\n    values: [200, 300, 400, 500, 600]\n";

std::string nsga2_spec(const std::string& search, const std::string& objectives = "[time_to_first_token, area]") {
  std::string text = spec_text(kNsga2Axes, "search: " + search + "\n");
  text.replace(text.find("[time_to_first_token, energy_per_token, area]"), 45, objectives);
  return text;
}

TEST(SweepNsga2, EvolvesOnTheScreeningTierDeterministicallyAndResumes) {
  const auto dir = test::fresh_folder("sweep-nsga2");
  const SweepSpec s = spec_of(nsga2_spec("{strategy: nsga2, population: 8, generations: 4, seed: 3}"));
  EXPECT_TRUE(design_points(s).empty());
  SweepOptions o;
  o.parallel = 2;
  std::string first;
  for (const char* name : {"a.db", "b.db"}) {
    SweepDatabase db(dir / name);
    const SweepSummary summary = run_sweep(s, db, o);
    const auto estimated = db.rows(s, Tier::estimate);
    // At most the population at each generation and the start, each point once.
    EXPECT_LE(estimated.size(), 8u * 5u);
    EXPECT_EQ(summary.points, std::int64_t(estimated.size()));
    EXPECT_GE(estimated.size(), 8u / 2);
    std::set<PointId> ids;
    for (const SweepRow& r : estimated) EXPECT_TRUE(ids.insert(r.point).second);
    // The simulated front holds only points the search evaluated.
    for (const PointResult& p : simulated_front(s, db)) EXPECT_TRUE(ids.count(p.point));
    const std::string rows = dump(estimated) + dump(db.rows(s, Tier::simulation));
    if (first.empty()) first = rows;
    EXPECT_EQ(rows, first);  // the same seed, the same search
  }
  SweepDatabase db(dir / "a.db");
  const SweepSummary again = run_sweep(s, db, o);
  EXPECT_EQ(again.estimated + again.simulated, 0);
  o.shards = 2;
  EXPECT_THROW(run_sweep(s, db, o), ConfigError);
}

TEST(SweepNsga2, BadSearchesAreRefused) {
  EXPECT_NE(error_of(nsga2_spec("{strategy: nsga2, population: 10, generations: 2}")).find("multiple of 4"),
            std::string::npos);
  EXPECT_NE(
      error_of(nsga2_spec("{strategy: nsga2, population: 8, generations: 2}", "[area]")).find("two objectives or more"),
      std::string::npos);
  // Energy is screened too: NSGA-II searches on it.
  EXPECT_EQ(error_of(nsga2_spec("{strategy: nsga2, population: 8, generations: 2}", "[area, tokens_per_joule]")), "");
  EXPECT_NE(error_of(nsga2_spec("{strategy: nsga2, population: 8}")).find("search.generations"), std::string::npos);
  EXPECT_NE(error_of(nsga2_spec("{strategy: grid, population: 8}")).find("population and generations are for nsga2"),
            std::string::npos);
}

TEST(SweepRun, AnIncumbentIsScreenedByItsKernelModel) {
  // h100-class has no tile model: its kernel model is both tiers, so the screening ranks its
  // variants by what the confirmation then shows.
  const auto dir = test::fresh_folder("sweep-gpu");
  const SweepSpec s = spec_of(
      "name: g\nbase: h100-class\naxes:\n  - key: dram.bandwidth_gb_per_s\n    values: [2000, 3350, 4800]\n"
      "workloads:\n  - {model: mamba2-130m, prompt: 256, generate: 8}\n"
      "objectives: [time_to_first_token, decode_latency]\nconfirm: {sample: 2}\n");
  SweepDatabase db(dir / "g.db");
  SweepOptions o;
  o.parallel = 2;
  run_sweep(s, db, o);
  const auto estimated = db.rows(s, Tier::estimate), simulated = db.rows(s, Tier::simulation);
  ASSERT_EQ(estimated.size(), 3u);
  ASSERT_EQ(simulated.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_GT(estimated[i].metrics[std::size_t(Metric::decode_latency)], 0);
    EXPECT_EQ(dump({estimated[i]}), dump({simulated[i]}));
  }
  // More HBM bandwidth, a faster decode step.
  EXPECT_GT(estimated[0].metrics[std::size_t(Metric::decode_latency)],
            estimated[2].metrics[std::size_t(Metric::decode_latency)]);
}

TEST(SweepSpec, EveryShippedSpecLoads) {
  std::size_t specs = 0;
  for (const auto& entry : std::filesystem::directory_iterator("workloads/sweeps")) {
    if (entry.path().extension() != ".yaml") continue;
    ++specs;
    const SweepSpec s = load_sweep_spec(entry.path());
    EXPECT_FALSE(design_points(s).empty()) << entry.path();
  }
  EXPECT_GE(specs, 5u);
}

}  // namespace
}  // namespace ssmsoc::host
