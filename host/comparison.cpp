#include "host/comparison.hpp"

#include <fmt/format.h>

#include <cmath>

#include "arch/spec/config_tree.hpp"

namespace ssmsoc::host {

using json = nlohmann::ordered_json;

namespace {

// The figures of one batch as compare.json writes them.
json batch_json(const ServingFigures& f, int batch) {
  return json{{"batch", batch},
              {"time_to_first_token", figure(f.time_to_first_token_s, "s")},
              {"decode_latency_per_token", figure(f.decode_latency_s, "s")},
              {"decode_throughput", figure(f.decode_tokens_per_s, "tokens/s")},
              {"tokens_per_joule", figure(tokens_per_joule(f), "tokens/J")},
              {"energy_per_generated_token", figure(f.energy_per_token_j, "J/token")},
              {"energy", figure(f.energy_j, "J")},
              {"average_power", figure(f.average_power_w, "W")},
              {"total_time", figure(f.total_s, "s")}};
}

std::string timing_of(const ComparisonRow& r) { return r.kernel_timed ? "kernels" : "tiles"; }

// A CSV field: quoted (inner quotes doubled) when it holds a separator, a quote or a line break.
std::string csv_field(const std::string& s) {
  return s.find_first_of(",\"\n") == std::string::npos ? s : csv_quoted(s);
}

}  // namespace

double tokens_per_joule(const ServingFigures& f) { return f.energy_per_token_j > 0 ? 1 / f.energy_per_token_j : 0; }

Comparison compare(const std::vector<compiler::ModelSpec>& models, const std::vector<Profile>& profiles,
                   const compiler::Scenario& scenario, const ComparisonOptions& options) {
  if (models.empty()) throw ConfigError("compare: no model given");
  if (profiles.empty()) throw ConfigError("compare: no profile given");
  if (options.serving_batch < 1)
    throw ConfigError(fmt::format("--serving-batch {}: expected at least 1", options.serving_batch));
  compiler::check_scenario(scenario);
  compiler::Scenario serving = scenario;
  serving.batch = options.serving_batch;
  compiler::check_scenario(serving);

  Comparison c;
  c.scenario = scenario;
  c.serving_batch = options.serving_batch;
  PerformanceOptions run_options;
  run_options.compile = options.compile;
  run_options.progress = options.progress;
  for (const compiler::ModelSpec& model : models)
    for (const Profile& profile : profiles) {
      ComparisonRow row;
      row.model = model.name;
      row.profile = profile.name;
      row.family = std::string(name_of(profile.family));
      row.kernel_timed = profile.kernels.has_value();
      try {
        row.single = run_performance(model, scenario, profile, run_options).figures;
      } catch (const ConfigError& e) {
        row.not_run = e.what();
      }
      if (row.not_run.empty() && serving.batch == scenario.batch) {
        row.serving = row.single;
      } else if (row.not_run.empty()) {
        try {
          row.serving = run_performance(model, serving, profile, run_options).figures;
        } catch (const ConfigError& e) {
          row.serving_not_run = e.what();
        }
      }
      c.rows.push_back(std::move(row));
    }
  return c;
}

std::string comparison_table(const Comparison& c) {
  const compiler::Scenario& s = c.scenario;
  const std::string b1 = fmt::format("b{}", s.batch), bn = fmt::format("b{}", c.serving_batch);
  std::string out;
  std::string model;
  std::vector<std::string> refused;  // the reasons, printed below the model's table
  auto flush_refused = [&] {
    for (const std::string& line : refused) out += line;
    refused.clear();
  };
  for (const ComparisonRow& r : c.rows) {
    if (r.model != model) {
      flush_refused();
      model = r.model;
      out += fmt::format("{}{}: prompt {} tokens, {} generated; batch {} and {}\n", out.empty() ? "" : "\n", model,
                         s.prompt_tokens, s.generate_tokens, s.batch, c.serving_batch);
      out += fmt::format("  {:<20} {:<25} {:>10} {:>10} {:>10} {:>9} {:>9} {:>8} {:>10} {:>10} {:>9}\n", "profile",
                         "family (timing)", "TTFT", "decode", "tokens/s", "tokens/J", "mJ/token", "power", "TTFT",
                         "tokens/s", "tokens/J");
      out += fmt::format("  {:<20} {:<25} {:>10} {:>10} {:>10} {:>9} {:>9} {:>8} {:>10} {:>10} {:>9}\n", "", "",
                         "ms " + b1, "ms/tok " + b1, b1, b1, b1, "W " + b1, "ms " + bn, bn, bn);
    }
    const std::string family = fmt::format("{} ({})", r.family, timing_of(r));
    if (!r.not_run.empty()) {
      out += fmt::format("  {:<20} {:<25} {:>10}\n", r.profile, family, "did not run (below)");
      refused.push_back(fmt::format("  {} did not run: {}\n", r.profile, r.not_run));
      continue;
    }
    const ServingFigures &a = r.single, &b = r.serving;
    out += fmt::format("  {:<20} {:<25} {:>10} {:>10} {:>10} {:>9} {:>9} {:>8}", r.profile, family,
                       readable(a.time_to_first_token_s * 1e3), readable(a.decode_latency_s * 1e3),
                       readable(a.decode_tokens_per_s), readable(tokens_per_joule(a)),
                       readable(a.energy_per_token_j * 1e3), readable(a.average_power_w));
    if (!r.serving_not_run.empty()) {
      out += fmt::format(" {:>10}\n", "did not run (below)");
      refused.push_back(
          fmt::format("  {} did not run at batch {}: {}\n", r.profile, c.serving_batch, r.serving_not_run));
      continue;
    }
    out += fmt::format(" {:>10} {:>10} {:>9}\n", readable(b.time_to_first_token_s * 1e3),
                       readable(b.decode_tokens_per_s), readable(tokens_per_joule(b)));
  }
  flush_refused();
  return out;
}

json comparison_json(const Comparison& c) {
  json rows = json::array();
  for (const ComparisonRow& r : c.rows) {
    json row{{"model", r.model}, {"profile", r.profile}, {"family", r.family}, {"timing", timing_of(r)}};
    if (!r.not_run.empty()) {
      row["not_run"] = r.not_run;
    } else {
      row["at_scenario_batch"] = batch_json(r.single, c.scenario.batch);
      if (r.serving_not_run.empty())
        row["at_serving_batch"] = batch_json(r.serving, c.serving_batch);
      else
        row["serving_not_run"] = r.serving_not_run;
    }
    rows.push_back(std::move(row));
  }
  const compiler::Scenario& s = c.scenario;
  return json{{"scenario", {{"prompt_tokens", s.prompt_tokens}, {"generate_tokens", s.generate_tokens}}},
              {"scenario_batch", s.batch},
              {"serving_batch", c.serving_batch},
              {"rows", rows}};
}

std::string comparison_csv(const Comparison& c) {
  std::string out =
      "model,profile,family,timing,batch,time_to_first_token_s,decode_latency_s,decode_tokens_per_s,"
      "tokens_per_joule,energy_per_token_j,average_power_w,not_run\n";
  for (const ComparisonRow& r : c.rows) {
    const std::string head =
        fmt::format("{},{},{},{}", csv_field(r.model), csv_field(r.profile), r.family, timing_of(r));
    if (!r.not_run.empty()) {
      out += fmt::format("{},,,,,,,,{}\n", head, csv_field(r.not_run));
      continue;
    }
    for (const auto& [f, batch] : {std::pair{&r.single, c.scenario.batch}, std::pair{&r.serving, c.serving_batch}}) {
      if (f == &r.serving && c.serving_batch == c.scenario.batch) break;  // one batch: one line
      if (f == &r.serving && !r.serving_not_run.empty()) {
        out += fmt::format("{},{},,,,,,,{}\n", head, batch, csv_field(r.serving_not_run));
        break;
      }
      out += fmt::format("{},{},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},\n", head, batch, f->time_to_first_token_s,
                         f->decode_latency_s, f->decode_tokens_per_s, tokens_per_joule(*f), f->energy_per_token_j,
                         f->average_power_w);
    }
  }
  return out;
}

}  // namespace ssmsoc::host
