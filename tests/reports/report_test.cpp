// reports/: a report of runs made here (random models, chips, prompts and batches) carries
// every headline figure of summary.json exactly, its per-op energy adds up to the run's, a
// chart per breakdown, scaling where the prompts differ, a sweep's Pareto front and its
// pairs of objectives; the same inputs give the same bytes; bad inputs are one-line errors
// naming the file and the place, and nothing is written.
#include "reports/report.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/output_file.hpp"
#include "compiler/compiler.hpp"
#include "host/performance_run.hpp"
#include "host/sweep.hpp"
#include "reports/charts.hpp"
#include "tests/support.hpp"

namespace ssmsoc::reports {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct MadeRun {
  fs::path folder;
  json summary, stats;
};

// `ssmsoc run --out` of one model on one chip, through the host driver.
MadeRun make_run(const std::string& model, const std::string& profile_name, int prompt, int batch,
                 const std::string& folder) {
  compiler::Scenario scenario;
  scenario.prompt_tokens = prompt;
  scenario.generate_tokens = 4;
  scenario.batch = batch;
  const Profile profile = load_profile(profile_name);
  const host::PerformanceRun run =
      host::run_performance(compiler::load_model("workloads/models/" + model + ".yaml"), scenario, profile);
  MadeRun made{test::fresh_folder(folder), host::summary_json(run), host::stats_json(run, profile)};
  write_output_file(made.folder / "summary.json", made.summary.dump(2));
  write_output_file(made.folder / "stats.json", made.stats.dump());
  return made;
}

// Runs drawn with a fixed seed: SSMs and a transformer on native chips, and an incumbent.
const std::vector<MadeRun>& random_runs() {
  static const std::vector<MadeRun> runs = [] {
    std::mt19937 rng(20261207);
    const std::vector<std::string> models = {"mamba-130m", "mamba2-130m", "pythia-160m"};
    const std::vector<std::string> profiles = {"krsna-mobile", "krsna-dc", "krsna-wear"};
    std::vector<MadeRun> made;
    for (int i = 0; i < 3; ++i) {
      const std::string model = models[std::size_t(i)], profile = profiles[rng() % profiles.size()];
      const int prompt = 32 + int(rng() % 200), batch = 1 + int(rng() % 3);
      made.push_back(make_run(model, profile, prompt, batch, fmt::format("report-run-{}", i)));
    }
    // An incumbent timed by its kernel model, as the GPU of a chip-vs-GPU comparison.
    made.push_back(make_run("mamba2-130m", "h100-class", 32 + int(rng() % 200), 1, "report-run-gpu"));
    return made;
  }();
  return runs;
}

std::vector<fs::path> folders(const std::vector<MadeRun>& runs) {
  std::vector<fs::path> f;
  for (const MadeRun& r : runs) f.push_back(r.folder);
  return f;
}

// data-value of each data-figure cell of the headline row of run `i`.
std::map<std::string, std::string> headline_cells(const std::string& html, std::size_t i) {
  const std::string row_start = fmt::format("<tr data-run=\"{}\">", i);
  const std::size_t from = html.find(row_start), to = html.find("</tr>", from);
  EXPECT_NE(from, std::string::npos) << row_start;
  const std::string row = html.substr(from, to - from);
  std::map<std::string, std::string> cells;
  const std::regex cell(R"re(data-figure="([a-z_]+)" data-value="([^"]*)")re");
  for (auto it = std::sregex_iterator(row.begin(), row.end(), cell); it != std::sregex_iterator(); ++it)
    cells[(*it)[1]] = (*it)[2];
  return cells;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(Report, HeadlineFiguresAreSummaryJsonsExactly) {
  const auto& runs = random_runs();
  const Report report = make_report(folders(runs));
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto cells = headline_cells(report.html, i);
    for (const char* key : {"time_to_first_token", "decode_latency_per_token", "decode_throughput",
                            "energy_per_generated_token", "average_power", "dram_traffic", "energy", "total_time"}) {
      ASSERT_TRUE(cells.count(key)) << key;
      EXPECT_EQ(std::stod(cells.at(key)), runs[i].summary[key]["value"].get<double>()) << key;
    }
    EXPECT_DOUBLE_EQ(std::stod(cells.at("tokens_per_joule")),
                     1 / runs[i].summary["energy_per_generated_token"]["value"].get<double>());
  }
  // The runs table as CSV: one line per run, the model and the figures to 6 digits.
  const Table& table = report.tables.front();
  ASSERT_EQ(table.name, "runs");
  ASSERT_EQ(table.rows.size(), runs.size());
  for (std::size_t i = 0; i < runs.size(); ++i) {
    EXPECT_EQ(table.rows[i][1], runs[i].summary["model"]);
    const double ttft = std::stod(table.rows[i][6]);
    EXPECT_NEAR(ttft, runs[i].summary["time_to_first_token"]["value"].get<double>(), 1e-5 * ttft);
  }
}

TEST(Report, PerOpEnergyAndLeakageAddUpToEachPhasesEnergy) {
  const auto& runs = random_runs();
  const Report report = make_report(folders(runs));
  const auto ops =
      std::find_if(report.tables.begin(), report.tables.end(), [](const Table& t) { return t.name == "ops"; });
  const auto energy =
      std::find_if(report.tables.begin(), report.tables.end(), [](const Table& t) { return t.name == "energy"; });
  ASSERT_NE(ops, report.tables.end());
  ASSERT_NE(energy, report.tables.end());
  std::size_t first_energy_column = 0;
  while (ops->header[first_energy_column].find("energy (J)") == std::string::npos) ++first_energy_column;
  for (std::size_t i = 0; i < runs.size(); ++i)
    for (const json& phase : runs[i].stats) {
      double total = 0;
      for (const auto& row : ops->rows)
        if (row[0] == std::to_string(i + 1) && row[1] == phase["phase"])
          for (std::size_t c = first_energy_column; c < row.size(); ++c) total += std::stod(row[c]);
      for (const auto& row : energy->rows)
        if (row[0] == std::to_string(i + 1) && row[1] == phase["phase"] && row[2] == "leakage")
          total += std::stod(row.back());
      const double expected = phase["stats"]["energy"]["total_joules"].get<double>();
      EXPECT_NEAR(total, expected, 1e-4 * expected) << "run " << i << " " << phase["phase"];
    }
}

TEST(Report, DrawsEveryBreakdownAndComparesSideBySide) {
  const auto& runs = random_runs();
  const Report report = make_report(folders(runs));
  std::size_t phases = 0;
  for (const MadeRun& r : runs) phases += r.stats.size();
  // Per phase: busy time and energy by op, a roofline, a timeline; four comparison charts.
  EXPECT_GE(count(report.html, "<svg class=\"chart\""), 4 * phases + 4);
  EXPECT_NE(report.html.find("id=\"comparison\""), std::string::npos);
  EXPECT_NE(report.html.find("energy.dram_byte_pj"), std::string::npos);  // a figure traced to its field
  EXPECT_NE(report.html.find("id=\"numerics\""), std::string::npos);
  // The incumbent's phases have no cost-model estimate and no trace to link.
  EXPECT_NE(report.html.find("none (timed by its kernels)"), std::string::npos);
  EXPECT_NE(report.html.find("the kernels, one after another"), std::string::npos);
  EXPECT_EQ(report.html.find("<script"), std::string::npos);  // self-contained, nothing to run
  EXPECT_EQ(report.html.find("http://"), report.html.find("http://www.w3.org/2000/svg"));
  EXPECT_EQ(report.html.find("https://"), std::string::npos);
  // Every SVG has marks (rect, polyline or circle) between its tags.
  for (std::size_t at = report.html.find("<svg"); at != std::string::npos; at = report.html.find("<svg", at + 1)) {
    const std::string svg = report.html.substr(at, report.html.find("</svg>", at) - at);
    EXPECT_TRUE(svg.find("<rect") != std::string::npos || svg.find("<polyline") != std::string::npos ||
                svg.find("<circle") != std::string::npos);
  }
}

TEST(Report, TheSameResultsGiveTheSameBytes) {
  const auto& runs = random_runs();
  const Report a = make_report(folders(runs)), b = make_report(folders(runs));
  EXPECT_EQ(a.html, b.html);
  const fs::path out = test::fresh_folder("report-bytes");
  const auto first = write_report(a, out / "r.html");
  const std::string html = test::slurp(out / "r.html"), runs_csv = test::slurp(out / "r-runs.csv");
  write_report(b, out / "r.html");
  EXPECT_EQ(test::slurp(out / "r.html"), html);
  EXPECT_EQ(test::slurp(out / "r-runs.csv"), runs_csv);
  EXPECT_EQ(first.size(), a.tables.size() + 1);
  for (const fs::path& f : first) EXPECT_TRUE(fs::is_regular_file(f)) << f;
}

TEST(Report, ScalingShowsStateFlatAndTheKvCacheGrowing) {
  std::vector<fs::path> runs;
  for (int prompt : {64, 256})
    for (const char* model : {"mamba-130m", "pythia-160m"})
      runs.push_back(make_run(model, "krsna-mobile", prompt, 1, fmt::format("scaling-{}-{}", model, prompt)).folder);
  const Report report = make_report(runs);
  EXPECT_NE(report.html.find("id=\"scaling\""), std::string::npos);
  const auto scaling =
      std::find_if(report.tables.begin(), report.tables.end(), [](const Table& t) { return t.name == "scaling"; });
  ASSERT_NE(scaling, report.tables.end());
  std::map<std::string, std::vector<std::pair<double, double>>> memory;  // model -> (state, kv) by prompt
  for (const auto& row : scaling->rows) memory[row[1]].push_back({std::stod(row[5]), std::stod(row[6])});
  ASSERT_EQ(memory["mamba-130m"].size(), 2u);
  EXPECT_EQ(memory["mamba-130m"][0], memory["mamba-130m"][1]);  // an SSM's state does not grow
  EXPECT_EQ(memory["mamba-130m"][0].second, 0);
  EXPECT_GT(memory["pythia-160m"][1].second, 3 * memory["pythia-160m"][0].second);  // KV grows with the context
}

TEST(Report, ASweepShowsItsSimulatedFrontOverEveryPairOfObjectives) {
  const fs::path dir = test::fresh_folder("report-sweep");
  const fs::path spec_file = dir / "s.yaml";
  write_output_file(spec_file,
                    "name: s\nbase: krsna-wear\naxes:\n  - key: dram.bandwidth_gb_per_s\n    values: [8, 32]\n"
                    "  - key: tile.scan.lanes\n    values: [8, 16]\n"
                    "workloads:\n  - {model: mamba-130m, prompt: 32, generate: 3}\n"
                    "objectives: [time_to_first_token, energy_per_token, area]\nconfirm: {sample: 1}\n");
  const host::SweepSpec spec = host::load_sweep_spec(spec_file);
  {
    host::SweepDatabase db(dir / "s.db");
    host::SweepOptions options;
    options.parallel = 2;
    host::run_sweep(spec, db, options);
  }
  ReportOptions options;
  options.sweep_db = dir / "s.db";
  const Report report = make_report({spec_file}, options);
  host::SweepDatabase db(dir / "s.db");
  const auto front = host::simulated_front(spec, db);
  ASSERT_FALSE(front.empty());
  EXPECT_EQ(count(report.html, "type=\"radio\""), 3u);  // 3 objectives: 3 pairs
  EXPECT_EQ(count(report.html, "<div class=\"pane pane-"), 3u);
  const auto pareto =
      std::find_if(report.tables.begin(), report.tables.end(), [](const Table& t) { return t.name == "pareto"; });
  ASSERT_NE(pareto, report.tables.end());
  ASSERT_EQ(pareto->rows.size(), front.size());
  for (std::size_t i = 0; i < front.size(); ++i) {
    EXPECT_EQ(pareto->rows[i][1], std::to_string(front[i].point));
    EXPECT_NE(pareto->rows[i][2].find("dram.bandwidth_gb_per_s = "), std::string::npos);
    EXPECT_NEAR(std::stod(pareto->rows[i][3]), front[i].objectives[0], 1e-5 * front[i].objectives[0]);
  }
}

std::string error_of(const std::vector<fs::path>& results, const ReportOptions& options = {}) {
  try {
    make_report(results, options);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Report, BadInputsAreOneLineErrorsNamingTheFileAndThePlace) {
  const fs::path dir = test::fresh_folder("report-bad");
  EXPECT_EQ(error_of({dir / "missing"}), (dir / "missing").string() + ": no such file or folder");
  fs::create_directories(dir / "empty");
  EXPECT_NE(error_of({dir / "empty"}).find("holds neither summary.json"), std::string::npos);
  fs::create_directories(dir / "broken");
  write_output_file(dir / "broken/summary.json", "{\n  \"model\": \"m\",\n  \"profile\": oops\n}\n");
  EXPECT_EQ(error_of({dir / "broken"}), (dir / "broken/summary.json").string() + ":3:14: not valid JSON");
  // A summary without a figure, or with a figure of the wrong shape, names the key.
  json summary = random_runs().front().summary;
  summary.erase("decode_throughput");
  fs::create_directories(dir / "short");
  write_output_file(dir / "short/summary.json", summary.dump());
  EXPECT_EQ(error_of({dir / "short"}), (dir / "short/summary.json").string() + ": decode_throughput: missing");
  summary = random_runs().front().summary;
  summary["energy"] = "lots";
  write_output_file(dir / "short/summary.json", summary.dump());
  EXPECT_NE(error_of({dir / "short"}).find("summary.json: energy: expected a figure"), std::string::npos);
  summary = random_runs().front().summary;
  summary["scenario"]["batch"] = "two";
  write_output_file(dir / "short/summary.json", summary.dump());
  EXPECT_EQ(error_of({dir / "short"}), (dir / "short/summary.json").string() + ": scenario.batch: expected a number");
  // A stats.json of the wrong shape beside a good summary.
  write_output_file(dir / "short/summary.json", random_runs().front().summary.dump());
  write_output_file(dir / "short/stats.json", "[{\"phase\": \"prefill\"}]");
  EXPECT_EQ(error_of({dir / "short"}), (dir / "short/stats.json").string() + ": [0].runs: missing");
  // A sweep spec without its database; a database given alone.
  write_output_file(dir / "s.yaml",
                    "name: s\nbase: krsna-wear\naxes:\n  - key: dram.bandwidth_gb_per_s\n    values: [8, 32]\n"
                    "workloads:\n  - {model: mamba-130m, prompt: 32, generate: 3}\n"
                    "objectives: [time_to_first_token, area]\n");
  ReportOptions options;
  options.sweep_db = dir / "none.db";
  EXPECT_NE(error_of({dir / "s.yaml"}, options).find("none.db: no such sweep database"), std::string::npos);
  write_output_file(dir / "x.db", "");
  EXPECT_NE(error_of({dir / "x.db"}).find("x.db: expected a run folder"), std::string::npos);
  EXPECT_EQ(error_of({}), "report: no results given (run folders, compare.json or sweep specs)");
  // The page must be .html; a failed write leaves nothing.
  const Report good = make_report({random_runs().front().folder});
  try {
    write_report(good, dir / "out/report.txt");
    ADD_FAILURE() << "a .txt page was written";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("expected an .html file"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(dir / "out"));
}

TEST(Report, ACsvQuotesWhatNeedsIt) {
  const Table t{"t", {"a", "b"}, {{"x,y", "say \"hi\""}, {"plain", "two\nlines"}}};
  EXPECT_EQ(csv(t), "a,b\n\"x,y\",\"say \"\"hi\"\"\"\nplain,\"two\nlines\"\n");
}

TEST(Charts, ReadableFiguresTakeTheirPrefix) {
  EXPECT_EQ(readable(0.9815790609999999, "s"), "981.6 ms");
  EXPECT_EQ(readable(751817020416.0, "B"), "751.8 GB");
  EXPECT_EQ(readable(2.1651553503249974, "W"), "2.165 W");
  EXPECT_EQ(readable(0.000604, "J"), "604 uJ");
  EXPECT_EQ(readable(2169.4, "tokens/s"), "2169 tokens/s");  // counts keep their digits
  EXPECT_EQ(readable(512, "B"), "512 B");
  EXPECT_EQ(readable(std::nan(""), "s"), "n/a");
  EXPECT_EQ(escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
}

TEST(Charts, APlotPlacesItsPointsOnItsAxes) {
  // Two points at the ends of a log axis land at its ends; a non-positive one is left out.
  const std::string svg = plot(Plot{
      "t", {"x", true}, {"y", true}, {Series{"s", 0, {{1, 10, "a"}, {100, 1000, "b"}, {-1, 5, "gone"}}, false, true}}});
  EXPECT_EQ(count(svg, "<circle"), 2u);
  EXPECT_EQ(svg.find("gone"), std::string::npos);
  EXPECT_NE(svg.find("<circle cx=\"72.00\" cy=\"312.00\""), std::string::npos) << svg;
  EXPECT_NE(svg.find("<circle cx=\"520.00\" cy=\"28.00\""), std::string::npos) << svg;
}

}  // namespace
}  // namespace ssmsoc::reports
