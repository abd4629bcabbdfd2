// Reproductions of published accelerators: each paper's reported points (a model, a scenario,
// a precision and one measured figure) run on the profile of the paper's design and set next
// to the paper's number. `ssmsoc reproduce` prints reproduction_table() and writes
// reproduction_json(); workloads/validation/README.md holds the table and why each design
// matches or not.
//
//   ReproductionSpec s = load_reproduction("workloads/validation/lightmamba.yaml");
//   std::vector<ReproducedPoint> r = reproduce({s});
//   r[0].predicted / r[0].point.paper  // the ratio; r[0].within: inside the point's tolerance
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "compiler/compiler.hpp"
#include "host/performance_run.hpp"

namespace ssmsoc::host {

// What a paper reports, each in its unit.
enum class Measure {
  decode_tokens_per_s,      // tokens/s: batch / one decode step
  decode_latency_ms,        // ms: one decode step
  time_to_first_token_ms,   // ms: the prompt to the first token
  prefill_tokens_per_s,     // tokens/s: batch x prompt / time to first token
  generation_tokens_per_s,  // tokens/s: batch x generated tokens / the whole run (prompt included)
  decode_tokens_per_j,      // tokens/J: 1 / one decode step's energy per token
  decode_power_w,           // W: one decode step's energy / its time
};
const std::vector<std::string_view>& measure_names();
const char* unit_of(Measure m);

struct ReproductionPoint {
  std::string name;     // what the paper calls it ("decode, W4A4")
  std::string profile;  // a profile name (shipped or published) or file
  // With a baseline profile the point is a ratio, as papers report against a GPU: the measure
  // on `profile` over the same measure on `baseline`.
  std::string baseline;
  std::string model;  // a workload name or file
  compiler::Scenario scenario;
  std::string precision;  // the matrix precision; empty: the compiler's choice
  Measure measure = Measure::decode_tokens_per_s;
  double paper = 0;         // the paper's value
  std::string source;       // where in the paper ("Table 3")
  double tolerance = 0.25;  // |predicted / paper - 1| that still counts as reproduced
  std::string gap;          // why, when the tolerance is wider than 25 %
};

// The unit of a point's value: its measure's, or "x" (a ratio to its baseline).
std::string unit_of(const ReproductionPoint& p);

struct ReproductionSpec {
  std::string design;  // "LightMamba"
  std::string paper;   // the citation
  std::filesystem::path file;
  std::vector<ReproductionPoint> points;
};

// One spec (workloads/validation/*.yaml); errors are one-line ConfigErrors with file:line:col,
// among them an unknown profile or workload and a tolerance above 25 % without a `gap`.
ReproductionSpec load_reproduction(const std::filesystem::path& file);
// The shipped specs' folder: workloads/validation of the source tree (beside the profiles).
std::filesystem::path validation_directory();
// Every spec of a folder, in file-name order.
std::vector<ReproductionSpec> load_reproductions(const std::filesystem::path& folder);

struct ReproducedPoint {
  std::string design;
  ReproductionPoint point;
  double predicted = 0;  // in the measure's unit
  double ratio() const { return point.paper > 0 ? predicted / point.paper : 0; }
  bool within() const;
  std::string not_run;  // the compiler's or simulator's one-line error, when it did not run
};

struct ReproductionOptions {
  Progress progress;
};

// Runs every point (points with the same profile, model, scenario and precision share one
// run) and returns them in the specs' order.
std::vector<ReproducedPoint> reproduce(const std::vector<ReproductionSpec>& specs,
                                       const ReproductionOptions& options = {});

// The value of `m` in a run's figures.
double measured(const ServingFigures& f, const compiler::Scenario& s, Measure m);

// A Markdown table: design, point, model and settings, measure, paper, ssmsoc, ratio, verdict.
std::string reproduction_table(const std::vector<ReproducedPoint>& points);
nlohmann::ordered_json reproduction_json(const std::vector<ReproducedPoint>& points);

}  // namespace ssmsoc::host
