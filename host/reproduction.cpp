#include "host/reproduction.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/profile.hpp"

namespace ssmsoc::host {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

constexpr double kReproducedTolerance = 0.25;  // the bar a published point is held to

ReproductionPoint read_point(const ConfigNode& node, const std::string& path, const std::string& default_profile) {
  const MapReader r(node, path,
                    {"name", "profile", "baseline", "model", "prompt", "generate", "batch", "precision", "measure",
                     "paper", "source", "tolerance", "gap"});
  ReproductionPoint p;
  p.name = r.string("name");
  p.profile = r.has("profile") ? r.string("profile") : default_profile;
  if (p.profile.empty()) r.fail_here("expected a `profile` here or at the top of the file");
  if (r.has("baseline")) p.baseline = r.string("baseline");
  p.model = r.string("model");
  p.scenario.name = p.name;
  p.scenario.prompt_tokens = static_cast<int>(r.integer("prompt", 1, 1 << 20));
  p.scenario.generate_tokens = static_cast<int>(r.integer("generate", 0, 1 << 20));
  p.scenario.batch = r.has("batch") ? static_cast<int>(r.integer("batch", 1, 4096)) : 1;
  if (r.has("precision")) p.precision = r.string("precision");
  p.measure = static_cast<Measure>(r.choice("measure", measure_names()));
  p.paper = r.number("paper", 0, 1e12);
  p.source = r.string("source");
  if (r.has("tolerance")) p.tolerance = r.number("tolerance", 0, 10);
  if (r.has("gap")) p.gap = r.string("gap");
  if (p.tolerance > kReproducedTolerance && p.gap.empty())
    r.fail("tolerance", fmt::format("{} is wider than {}: say why in `gap` (what the paper measured differently)",
                                    p.tolerance, kReproducedTolerance));
  const bool decode_measure = p.measure == Measure::decode_tokens_per_s || p.measure == Measure::decode_latency_ms ||
                              p.measure == Measure::decode_tokens_per_j || p.measure == Measure::decode_power_w ||
                              p.measure == Measure::generation_tokens_per_s;
  if (decode_measure && p.scenario.generate_tokens < 2)
    r.fail("generate", fmt::format("{} is measured on decode steps: expected at least 2 generated tokens",
                                   measure_names()[static_cast<std::size_t>(p.measure)]));
  // The names resolve now, so a misspelt one fails before any point runs.
  try {
    compiler::choose_precision(load_profile(p.profile), p.precision);
    if (!p.baseline.empty()) compiler::choose_precision(load_profile(p.baseline), p.precision);
    compiler::load_workload(p.model, "model");
  } catch (const ConfigError& e) {
    throw ConfigError(node.pos, path, e.what());
  }
  return p;
}

}  // namespace

const std::vector<std::string_view>& measure_names() {
  static const std::vector<std::string_view> names{
      "decode_tokens_per_s",     "decode_latency_ms",   "time_to_first_token_ms", "prefill_tokens_per_s",
      "generation_tokens_per_s", "decode_tokens_per_j", "decode_power_w"};
  return names;
}

const char* unit_of(Measure m) {
  switch (m) {
    case Measure::decode_latency_ms:
    case Measure::time_to_first_token_ms:
      return "ms";
    case Measure::decode_tokens_per_j:
      return "tokens/J";
    case Measure::decode_power_w:
      return "W";
    default:
      return "tokens/s";
  }
}

std::string unit_of(const ReproductionPoint& p) { return p.baseline.empty() ? unit_of(p.measure) : "x"; }

ReproductionSpec load_reproduction(const fs::path& file) {
  const ConfigNode root = parse_yaml_file(file);
  const MapReader r(root, "", {"design", "paper", "description", "profile", "points"});
  ReproductionSpec spec;
  spec.file = file;
  spec.design = r.string("design");
  spec.paper = r.string("paper");
  if (r.has("description")) r.string("description");
  const std::string profile = r.has("profile") ? r.string("profile") : "";
  const ConfigNode& points = r.required("points", "a list of the paper's points");
  if (points.kind != ConfigNode::Kind::sequence || points.items.empty())
    throw ConfigError(points.pos, "points", "expected a non-empty list of the paper's points");
  for (std::size_t i = 0; i < points.items.size(); ++i)
    spec.points.push_back(read_point(points.items[i], fmt::format("points[{}]", i), profile));
  return spec;
}

fs::path validation_directory() { return profile_directory().parent_path().parent_path() / "workloads" / "validation"; }

std::vector<ReproductionSpec> load_reproductions(const fs::path& folder) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec))
    if (entry.is_regular_file() && entry.path().extension() == ".yaml") files.push_back(entry.path());
  if (ec) throw ConfigError(fmt::format("{}: cannot list the folder ({})", folder.string(), ec.message()));
  if (files.empty()) throw ConfigError(fmt::format("{}: no reproduction specs (*.yaml)", folder.string()));
  std::sort(files.begin(), files.end());
  std::vector<ReproductionSpec> specs;
  for (const fs::path& f : files) specs.push_back(load_reproduction(f));
  return specs;
}

bool ReproducedPoint::within() const { return not_run.empty() && std::abs(ratio() - 1) <= point.tolerance + 1e-12; }

double measured(const ServingFigures& f, const compiler::Scenario& s, Measure m) {
  switch (m) {
    case Measure::decode_tokens_per_s:
      return f.decode_tokens_per_s;
    case Measure::decode_latency_ms:
      return f.decode_latency_s * 1e3;
    case Measure::time_to_first_token_ms:
      return f.time_to_first_token_s * 1e3;
    case Measure::prefill_tokens_per_s:
      return f.time_to_first_token_s > 0 ? double(s.batch) * s.prompt_tokens / f.time_to_first_token_s : 0;
    case Measure::generation_tokens_per_s:
      return f.total_s > 0 ? f.generated_tokens / f.total_s : 0;
    case Measure::decode_tokens_per_j:
      return f.energy_per_token_j > 0 ? 1 / f.energy_per_token_j : 0;
    case Measure::decode_power_w:
      return f.energy_per_token_j * f.decode_tokens_per_s;
  }
  return 0;
}

std::vector<ReproducedPoint> reproduce(const std::vector<ReproductionSpec>& specs, const ReproductionOptions& options) {
  using Key = std::tuple<std::string, std::string, int, int, int, std::string>;
  std::map<Key, std::pair<ServingFigures, std::string>> runs;  // figures, or why it did not run
  PerformanceOptions run_options;
  run_options.progress = options.progress;
  auto run = [&](const std::string& profile,
                 const ReproductionPoint& p) -> const std::pair<ServingFigures, std::string>& {
    const compiler::Scenario& s = p.scenario;
    const Key key{profile, p.model, s.prompt_tokens, s.generate_tokens, s.batch, p.precision};
    auto it = runs.find(key);
    if (it != runs.end()) return it->second;
    std::pair<ServingFigures, std::string> result;
    try {
      run_options.compile.precision = p.precision;
      result.first =
          run_performance(compiler::load_workload(p.model, "model"), s, load_profile(profile), run_options).figures;
    } catch (const ConfigError& e) {
      result.second = fmt::format("{}: {}", profile, e.what());
    }
    return runs.emplace(key, std::move(result)).first->second;
  };
  std::vector<ReproducedPoint> out;
  for (const ReproductionSpec& spec : specs)
    for (const ReproductionPoint& p : spec.points) {
      const auto& [figures, not_run] = run(p.profile, p);
      ReproducedPoint r{spec.design, p, 0, not_run};
      if (r.not_run.empty()) r.predicted = measured(figures, p.scenario, p.measure);
      if (r.not_run.empty() && !p.baseline.empty()) {
        const auto& [base, base_not_run] = run(p.baseline, p);
        const double b = base_not_run.empty() ? measured(base, p.scenario, p.measure) : 0;
        r.not_run = base_not_run;
        r.predicted = b > 0 ? r.predicted / b : 0;
      }
      out.push_back(std::move(r));
    }
  return out;
}

std::string reproduction_table(const std::vector<ReproducedPoint>& points) {
  std::string out =
      "| design | point | profile | model, tokens, batch, precision | measure | paper | ssmsoc | ratio | verdict |\n"
      "| --- | --- | --- | --- | --- | ---: | ---: | ---: | --- |\n";
  for (const ReproducedPoint& r : points) {
    const ReproductionPoint& p = r.point;
    const compiler::Scenario& s = p.scenario;
    const std::string settings = fmt::format("{}, {} + {}, b{}{}", p.model, s.prompt_tokens, s.generate_tokens, s.batch,
                                             p.precision.empty() ? "" : ", " + p.precision);
    const std::string measure =
        p.baseline.empty() ? fmt::format("{} ({}, {})", measure_names()[static_cast<std::size_t>(p.measure)],
                                         unit_of(p.measure), p.source)
                           : fmt::format("{} over {} (x, {})", measure_names()[static_cast<std::size_t>(p.measure)],
                                         p.baseline, p.source);
    std::string verdict;
    if (!r.not_run.empty())
      verdict = "did not run: " + r.not_run;
    else if (!r.within())
      verdict = fmt::format("outside ±{:.0f} %", p.tolerance * 100);
    else
      verdict = p.tolerance > kReproducedTolerance ? fmt::format("within ±{:.0f} % (gap explained)", p.tolerance * 100)
                                                   : fmt::format("within ±{:.0f} %", p.tolerance * 100);
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", r.design, p.name, p.profile, settings,
                       measure, readable(p.paper), r.not_run.empty() ? readable(r.predicted) : "-",
                       r.not_run.empty() ? fmt::format("{:.2f}", r.ratio()) : "-", verdict);
  }
  return out;
}

json reproduction_json(const std::vector<ReproducedPoint>& points) {
  json rows = json::array();
  for (const ReproducedPoint& r : points) {
    const ReproductionPoint& p = r.point;
    json row{{"design", r.design},
             {"point", p.name},
             {"profile", p.profile},
             {"baseline", p.baseline},
             {"model", p.model},
             {"prompt_tokens", p.scenario.prompt_tokens},
             {"generate_tokens", p.scenario.generate_tokens},
             {"batch", p.scenario.batch},
             {"precision", p.precision},
             {"measure", measure_names()[static_cast<std::size_t>(p.measure)]},
             {"source", p.source},
             {"paper", figure(p.paper, unit_of(p).c_str())}};
    if (r.not_run.empty()) {
      row["predicted"] = figure(r.predicted, unit_of(p).c_str());
      row["ratio"] = r.ratio();
    } else {
      row["not_run"] = r.not_run;
    }
    row["tolerance"] = p.tolerance;
    row["within"] = r.within();
    if (!p.gap.empty()) row["gap"] = p.gap;
    rows.push_back(std::move(row));
  }
  return json{{"points", rows}};
}

}  // namespace ssmsoc::host
