// A performance run: a model compiled for a profile and every phase simulated once on the
// SystemC model (timing and energy; no data), in parallel child processes, with the serving
// figures derived from the phases' roles and run counts. `ssmsoc run` prints and writes them;
// `sweep`, `serve` and `report` build on the same value.
//
//   compiler::Scenario scenario;  // prompt 512, generate 128, batch 1
//   PerformanceRun r = run_performance(compiler::load_model("workloads/models/mamba-130m.yaml"), scenario,
//                                      load_profile("krsna-mobile"));
//   r.figures.time_to_first_token_s, r.figures.decode_tokens_per_s, ...
//   summary_json(r)  // what `ssmsoc run --out` writes as summary.json
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "arch/spec/output_file.hpp"
#include "arch/spec/profile.hpp"
#include "compiler/compiler.hpp"
#include "sim/kernel_calibration.hpp"
#include "sim/sim.hpp"

namespace ssmsoc::host {

// Told each step of a run in words ("compiling mamba-130m for krsna-mobile", "simulated
// decode (4 of 4)"); for a progress line on a terminal.
using Progress = std::function<void(const std::string&)>;

struct PerformanceOptions {
  compiler::CompileOptions compile;
  std::string trace;  // a Perfetto timeline per phase: DIR/STEM.PHASE.EXT for DIR/STEM.EXT
                      // (PerformanceRun::trace_files); empty: none
  int parallel = 0;   // simulations at a time (one child process each); 0: one per core
  // Simulate every layer of every phase. Otherwise (and without a trace) a phase whose layers
  // repeat is timed from two of its layer prefixes (compiler::CompileOptions::sample_layers).
  bool all_layers = false;
  // Only these phases are simulated ("prefill", "logits", "decode", ...); the others' results
  // stay empty (zero). Empty: every phase.
  std::vector<std::string> only_phases;
  Progress progress;
};

// An op of a phase, its name taken over all layers ("mamba.in_proj" for
// layers.N.mamba.in_proj), in one run of the phase.
struct OpShare {
  std::string name;
  double busy_share = 0;  // of the phase's engine-busy cycles (all engines, all tiles)
  double dram_bytes = 0;  // read and written
};

struct PhaseFigures {
  std::string phase;
  int runs = 0;              // how many times the runtime runs its Program
  std::size_t commands = 0;  // of its Program; a GPU timed by its kernels: its kernel launches
  int layers = 0;            // decoder layers; with simulated_layers < layers, the rest extrapolated
  int simulated_layers = 0;  // in the longer of the two layer samples; = layers when all ran
  std::uint64_t cycles_per_run = 0;
  double seconds_per_run = 0;
  double estimated_cycles_per_run = 0;  // the compiler's cost model
  double bound_cycles_per_run = 0;      // what no mapping beats (compiler::phase_bound)
  std::string bound_by;                 // "compute" or "DRAM"
  double efficiency() const { return cycles_per_run ? bound_cycles_per_run / double(cycles_per_run) : 0; }
  std::vector<OpShare> ops;  // busiest first (equal shares by name)
};

// The serving figures of a scenario. The phases other than "decode" (every prefill chunk and
// the logits) come before the first token; "decode" is one step of every session.
struct ServingFigures {
  double time_to_first_token_s = 0;  // every run of every phase but decode
  // Its bound: the larger of every run's work at the engines' peak (ideal overlap and fusion)
  // and the prompt's compulsory DRAM traffic (each weight once, the states every run).
  double time_to_first_token_bound_s = 0;
  double decode_bound_s = 0;                           // one decode step's bound (compiler::phase_bound)
  double decode_latency_s = 0;                         // one decode step; 0 without decode steps
  double decode_tokens_per_s = 0;                      // batch / decode latency
  double total_s = 0;                                  // every run of every phase
  double dram_bytes = 0;                               // read and written, every run
  double energy_j = 0;                                 // every run
  double energy_per_token_j = 0;                       // one decode step's energy / batch
  double average_power_w = 0;                          // energy / total time
  double generated_tokens = 0;                         // batch x generate tokens
  std::array<double, SSM_ENGINE_COUNT> utilization{};  // busy share of each engine's cycles, every tile and run
  std::vector<PhaseFigures> phases;                    // as compiled
};

// The figures of a compiled scenario from one simulated run of each of its phases
// (`simulated[i]` of `compiled.phases[i]`).
ServingFigures serving_figures(const compiler::CompileResult& compiled, const std::vector<sim::SimResult>& simulated,
                               const compiler::Scenario& scenario);

struct PerformanceRun {
  // The timelines of options.trace, written but not yet in place: the caller commit()s them
  // with its own outputs, so that all appear or none (left uncommitted, they are removed).
  OutputFiles trace_files;
  compiler::Scenario scenario;
  Profile profile;  // the chip it ran on
  compiler::CompileResult compiled;
  std::vector<sim::SimResult> simulated;  // one run of each of compiled.phases, in order
  ServingFigures figures;
};

// Compiles `model` for `profile` and simulates every phase; the compiler's and the
// simulator's errors pass through (ConfigError for the user's input).
PerformanceRun run_performance(const compiler::ModelSpec& model, const compiler::Scenario& scenario,
                               const Profile& profile, const PerformanceOptions& options = {});

// A whole-model measurement of an incumbent predicted by its kernel model (`kernels:`): with
// `decode` one decode step of `batch` sessions after `tokens` tokens of context, else the
// prompt of `tokens` tokens to the first token (every phase before decode); each phase's
// kernels launched one by one, or replayed from a graph (`graph`). ConfigError for a profile
// without kernels:.
double predict_model_seconds(const compiler::ModelSpec& model, const Profile& profile, bool decode, int tokens,
                             int batch, bool graph, const compiler::CompileOptions& options = {});

// Every record of a measurement file (tools/calibrate's JSON) predicted with the profile's
// kernel model (sim::predict_measurements), the whole-model records (suite "model") by
// predict_model_seconds on the workload they name; only the records of `set` ("all": every one).
std::vector<sim::CalibrationRow> predict_measurements(const Profile& profile, const std::filesystem::path& file,
                                                      const std::string& set = "all");

// {"value": value, "unit": unit}: how every figure of the JSON outputs is written.
nlohmann::ordered_json figure(double value, const char* unit);
// How the tables print a figure: four significant digits, without an exponent in their range
// (20260, not 2.026e+04).
std::string readable(double value);
// A CSV field in quotes, inner quotes doubled (every field of a column the same way).
std::string csv_quoted(const std::string& text);

// summary.json: the scenario, every serving figure with its unit, the utilization per
// engine, the scan kernel chosen per phase and the runs, commands and cycles per phase.
nlohmann::ordered_json summary_json(const PerformanceRun& run);
// stats.json: every phase's simulator statistics (sim::to_json), its ops named.
nlohmann::ordered_json stats_json(const PerformanceRun& run, const Profile& profile);

}  // namespace ssmsoc::host
