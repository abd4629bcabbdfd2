#include "host/functional_run.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "arch/hf/golden_model.hpp"

namespace ssmsoc::host {

using json = nlohmann::ordered_json;

namespace {

double max_abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    worst = std::max(worst, std::fabs(double(a[i]) - double(b[i])));
  return worst;
}

}  // namespace

FunctionalRun run_functional(const FunctionalDriver& driver, const std::string& model, const FunctionalRequest& request,
                             const Progress& progress) {
  const auto tell = [&](const std::string& line) {
    if (progress) progress(line);
  };
  const GoldenModel golden(driver.checkpoint());
  const int vocab = golden.vocab_size();
  const Profile& profile = driver.profile();
  const FunctionalRequest& q = request;
  FunctionalRun run;
  run.model = model;
  run.profile = profile.name;
  run.request = request;

  tell(fmt::format("simulating {} on {} (functional)", model, profile.name));
  const FunctionalResult forward = driver.forward(q.batch, q.length, q.ids);
  run.classification = forward.classification;
  run.precision = forward.precision;
  run.max_logits_error = max_abs_difference(forward.logits, golden.forward(q.batch, q.length, q.ids));
  run.tensors.metadata = {{"producer", "ssmsoc run --functional"},
                          {"model_type", driver.checkpoint().model_type},
                          {"profile", profile.name},
                          {"precision", std::string(name_of(forward.precision))}};
  run.tensors.tensors["logits"] = Tensor::from_f32({q.batch, q.length, vocab}, forward.logits);
  std::vector<PhaseRun> runs = forward.runs;
  if (q.generate > 0) {
    tell(fmt::format("simulating {} on {} (functional, {} new tokens)", model, profile.name, q.generate));
    const FunctionalResult gen = driver.generate(q.gen_batch, q.gen_length, q.prompt, q.generate);
    const GoldenModel::Generation expected = golden.generate(q.gen_batch, q.gen_length, q.prompt, q.generate);
    run.max_gen_logits_error = max_abs_difference(gen.logits, expected.logits);
    run.generated_ids_equal_golden = gen.new_ids == expected.new_ids;
    run.tensors.tensors["gen_new_ids"] = Tensor::from_i64({q.gen_batch, q.generate}, gen.new_ids);
    run.tensors.tensors["gen_logits"] = Tensor::from_f32({q.gen_batch, q.generate, vocab}, gen.logits);
    runs.insert(runs.end(), gen.runs.begin(), gen.runs.end());
  }

  for (const PhaseRun& r : runs) {
    auto it =
        std::find_if(run.phases.begin(), run.phases.end(), [&](const PhaseTotal& t) { return t.phase == r.phase; });
    if (it == run.phases.end()) it = run.phases.insert(run.phases.end(), PhaseTotal{r.phase});
    ++it->runs;
    it->cycles += r.cycles;
    it->seconds += r.seconds;
    it->energy_j += r.energy_j;
    run.seconds += r.seconds;
    run.energy_j += r.energy_j;
  }
  return run;
}

json summary_json(const FunctionalRun& run) {
  const FunctionalRequest& q = run.request;
  json summary{{"model", run.model},
               {"profile", run.profile},
               {"mode", "functional"},
               {"classification", run.classification},
               {"precision", std::string(name_of(run.precision))},
               {"input_ids", {q.batch, q.length}},
               {"max_logits_error_vs_golden", figure(run.max_logits_error, "max |logits - golden logits|")}};
  if (q.generate > 0) {
    summary["gen_prompt_ids"] = {q.gen_batch, q.gen_length};
    summary["generated_tokens"] = q.generate;
    summary["generated_ids_equal_golden"] = run.generated_ids_equal_golden;
    summary["max_gen_logits_error_vs_golden"] =
        figure(run.max_gen_logits_error, "max |gen_logits - golden gen_logits|");
  }
  summary["simulated_time"] = figure(run.seconds, "s");
  summary["energy"] = figure(run.energy_j, "J");
  json phases = json::array();
  for (const auto& t : run.phases)
    phases.push_back({{"phase", t.phase},
                      {"runs", t.runs},
                      {"cycles", t.cycles},
                      {"seconds", figure(t.seconds, "s")},
                      {"energy", figure(t.energy_j, "J")}});
  summary["phases"] = phases;
  return summary;
}

}  // namespace ssmsoc::host
