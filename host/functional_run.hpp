// A functional run: token ids through the simulated chip with real data (FunctionalDriver),
// compared with the golden model, with the simulated time and energy per phase. `ssmsoc run
// --functional` prints and writes it.
//
//   FunctionalDriver driver(load_hf_checkpoint(dir), load_profile("krsna-dc"));
//   FunctionalRun r = run_functional(driver, "mamba2", {.batch = 1, .length = 16, .ids = ids});
//   r.max_logits_error, r.tensors (logits), summary_json(r)  // summary.json
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "arch/golden/safetensors.hpp"
#include "host/functional_driver.hpp"
#include "host/performance_run.hpp"

namespace ssmsoc::host {

// The token ids of a functional run: a prefill of every position, and with generate > 0 a
// greedy generation of `generate` tokens from a prompt.
struct FunctionalRequest {
  int batch = 0, length = 0;
  std::vector<std::int64_t> ids;  // [batch, length]
  int generate = 0;
  int gen_batch = 0, gen_length = 0;
  std::vector<std::int64_t> prompt;  // [gen_batch, gen_length]
};

// The simulated runs of one phase, added up.
struct PhaseTotal {
  std::string phase;
  int runs = 0;
  std::uint64_t cycles = 0;
  double seconds = 0, energy_j = 0;
};

struct FunctionalRun {
  std::string model, profile, classification;
  Precision precision = Precision::fp32;
  FunctionalRequest request;
  double max_logits_error = 0;  // max |logits - golden logits|
  bool generated_ids_equal_golden = true;
  double max_gen_logits_error = 0;   // max |gen_logits - golden gen_logits|
  std::vector<PhaseTotal> phases;    // in the order they first ran
  double seconds = 0, energy_j = 0;  // every simulated run
  // logits [batch, length, vocab]; with generate, gen_new_ids [gen_batch, generate] and
  // gen_logits [gen_batch, generate, vocab] (the names of `ssmsoc golden`).
  SafetensorsFile tensors;
};

// Runs the request on the driver's chip and on the golden model; `model` names the model in
// the figures.
FunctionalRun run_functional(const FunctionalDriver& driver, const std::string& model, const FunctionalRequest& request,
                             const Progress& progress = {});

// summary.json of a functional run: the deviations from the golden model, the simulated time
// and energy, and the runs per phase.
nlohmann::ordered_json summary_json(const FunctionalRun& run);

}  // namespace ssmsoc::host
