// A side-by-side comparison: each model run on each profile (native chips and incumbents
// alike) at the scenario's batch and at a serving batch, reduced to the figures users weigh
// a chip by: time to first token, decode latency, tokens/s, tokens/J, energy per token and
// power. `ssmsoc compare` prints comparison_table() and writes comparison_json() and
// comparison_csv(); reports are to build on the same value.
//
//   compiler::Scenario chat;  // prompt 512, generate 128, batch 1
//   Comparison c = compare({compiler::load_model("workloads/models/mamba2-2.7b.yaml")},
//                          {load_profile("krsna-dc"), load_profile("h100-class")}, chat);
//   c.rows[1].serving.decode_tokens_per_s;  // h100-class at batch 16
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "arch/spec/profile.hpp"
#include "compiler/compiler.hpp"
#include "host/performance_run.hpp"

namespace ssmsoc::host {

struct ComparisonOptions {
  compiler::CompileOptions compile;
  int serving_batch = 16;  // the second batch each pair runs at (the scenario's batch is the first)
  Progress progress;
};

// One model on one profile.
struct ComparisonRow {
  std::string model, profile, family;
  bool kernel_timed = false;  // timed by its kernels (a GPU with kernels:), not the tile model
  // Why the pair did not run (the compiler's or simulator's one-line error, e.g. the weights do
  // not fit the DRAM); empty when it ran. `serving_not_run`: the same at the serving batch alone
  // (e.g. its sessions' states do not fit beside the weights).
  std::string not_run, serving_not_run;
  ServingFigures single;   // at the scenario's batch
  ServingFigures serving;  // at the serving batch
};

struct Comparison {
  compiler::Scenario scenario;
  int serving_batch = 0;
  std::vector<ComparisonRow> rows;  // models in the given order, each over the profiles in theirs
};

// Runs every model on every profile at both batches. A pair the compiler or simulator refuses
// with a ConfigError becomes a row that says why (at the serving batch alone: its figures stay
// empty and the row says why); any other error passes through. Throws
// ConfigError for a serving batch below 1 or an empty list.
Comparison compare(const std::vector<compiler::ModelSpec>& models, const std::vector<Profile>& profiles,
                   const compiler::Scenario& scenario, const ComparisonOptions& options = {});

// tokens/J of a decode step (1 / energy per generated token); 0 without decode steps.
double tokens_per_joule(const ServingFigures& f);

// The comparison as a fixed-width table per model, the pairs that did not run listed below it.
std::string comparison_table(const Comparison& c);
// compare.json: the scenario, the serving batch and per row every figure with its unit.
nlohmann::ordered_json comparison_json(const Comparison& c);
// compare.csv: one line per row, the figures in SI units; a row that did not run has empty
// figures and its reason.
std::string comparison_csv(const Comparison& c);

}  // namespace ssmsoc::host
