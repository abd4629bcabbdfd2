// The subcommands of `ssmsoc`. Each writes its whole output to `out` and returns the exit
// status; problems with the user's input are thrown as ConfigError (one line) and reported
// by main, so a failing command prints nothing but the error.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "arch/golden/safetensors.hpp"

namespace ssmsoc::cli {

int profile_list(bool json, std::ostream& out);
int profile_show(const std::string& name_or_file, bool json, std::ostream& out);

struct KernelCommand {
  std::string in, out, kernel;
  std::string format = "float";  // float: golden kernels; fixed: the profile's scan unit, bit-accurate
  std::string profile;
  std::vector<std::string> flags;  // name=value overrides
};
int kernel_run(const KernelCommand& command, std::ostream& out);
int kernel_list(std::ostream& out);
int numerics_table(std::uint64_t seed, std::ostream& out);

struct GoldenCommand {
  std::string model, input, out;
  int generate = 0;  // new tokens; 0: prefill logits only
};
int golden_run(const GoldenCommand& command, std::ostream& out);

// Token ids [batch, length] from tensor `name` of `file` (read from `source`), checked to be
// integers inside the vocabulary; a one-line ConfigError naming the file and tensor otherwise.
std::vector<std::int64_t> token_ids(const SafetensorsFile& file, const std::string& source, const std::string& name,
                                    int vocab, int& batch, int& length);

// The model and scenario of `compile` and `run`.
struct ModelRunOptions {
  std::string profile, model;                // a profile; a workload name or file, a config.json, a checkpoint folder
  std::string scenario;                      // workloads/scenarios/*.yaml (options below override it)
  int prompt = 0, generate = -1, batch = 0;  // 0 / -1: the scenario's
  int prefill_chunk = 0;                     // tokens per prefill Program; 0: the compiler's choice
  bool no_fusion = false;                    // compiler::CompileOptions::fuse off
  std::string precision;                     // matrix precision (bf16, int8, ...); empty: the compiler's choice
};
// `calibrate`: a GPU profile's kernel model against a measurement file (tools/calibrate).
struct CalibrateCommand {
  std::string profile, measurements;
  std::string set = "all";  // calibration | validation | all
};
int calibrate(const CalibrateCommand& command, std::ostream& out);

struct CompileCommand {
  ModelRunOptions model;
  std::string emit = "summary";  // graph | lowered | tiled | schedule | program | memory | kernels | summary
  std::string out;               // folder for the phases' Programs (PHASE.ssmp)
};
int compile_run(const CompileCommand& command, std::ostream& out);
struct RunCommand {
  ModelRunOptions model;
  std::string out;    // folder for summary.json and stats.json
  std::string trace;  // Perfetto timeline per phase: FILE.PHASE.json
  bool all_layers = false;
  // Functional mode (host/functional_driver.hpp): real data through the simulated chip. `model` is a
  // checkpoint folder; `input` holds input_ids (and gen_prompt_ids with --generate);
  // `tensors_out` receives logits (and gen_new_ids, gen_logits), as `ssmsoc golden` names them.
  bool functional = false;
  std::string input, tensors_out;
};
// Compiles, simulates every phase (host::run_performance) and prints time to first token,
// decode latency and throughput, utilization, DRAM traffic, energy and power; with
// --functional, host::run_functional's deviations from the golden model.
int model_run(const RunCommand& command, std::ostream& out);

// `reproduce`: the published accelerators' points (workloads/validation/*.yaml) against their
// papers (host/reproduction.hpp); exit status 1 when a point falls outside its tolerance.
struct ReproduceCommand {
  std::vector<std::string> specs;  // spec files or folders; empty: workloads/validation/
  std::string out;                 // folder for reproduction.json
};
int reproduce(const ReproduceCommand& command, std::ostream& out);

// `sweep`: a design-space sweep (host/sweep.hpp) into a SQLite database; --status reports it
// without running, --merge copies other shards' rows in. A design point that cannot run a
// workload (weights beyond its DRAM, ...) is a row with its error, not a failed sweep.
struct SweepCommand {
  std::string spec;
  std::string db;     // default: SPEC's stem + .db in the working directory
  std::string shard;  // "k/N"
  int jobs = 0;       // design points at a time; 0: one per core
  bool status = false;
  std::vector<std::string> merge;
  std::string export_file;  // .csv or .json: every row of both tiers
  std::string pareto;       // .json: the simulated Pareto front
};
int sweep(const SweepCommand& command, std::ostream& out);

// `compare`: models side by side on profiles, at the scenario's batch and a serving batch.
struct CompareCommand {
  ModelRunOptions scenario;                   // profile and model unused: the lists below
  std::vector<std::string> models, profiles;  // profiles empty: every shipped profile
  int serving_batch = 16;
  std::string out;  // folder for compare.json and compare.csv
};
int compare(const CompareCommand& command, std::ostream& out);

// `serve`: a request stream served by the simulated chip (host/serving.hpp).
struct ServeCommand {
  std::string profile, model;
  std::string scenario;  // workloads/scenarios/serve/NAME.yaml or a file; or
  std::string requests;  // FILE.jsonl; or generated:
  std::string arrivals;  // poisson:RATE | bursty:RATE:BURST
  double duration = 60;  // seconds of generated arrivals
  std::string prompt_tokens = "64:1024", output_tokens = "16:256";
  std::uint64_t seed = 1;
  std::string policy;                   // fcfs | spf | sequential; empty: the scenario's (fcfs)
  int max_batch = 0, token_budget = 0;  // 0: the scenario's (64, 512)
  std::string slo;                      // "ttft=S,tbt=S"
  bool no_session_cache = false;
  bool check_buckets = true;
  std::string out;  // folder for summary.json and requests.csv
};
int serve(const ServeCommand& command, std::ostream& out);

struct CosimCommand {
  std::string profile = "all";
  std::uint64_t seed = 1;
  int cases = 64;     // random cases per profile with a scan unit
  std::string trace;  // FST waveform of the RTL run
};
// One row per profile; returns 1 when any row mismatches or exceeds its bound.
int cosim(const CosimCommand& command, std::ostream& out);

// The listing of a Program; with a profile, also checks it fits that chip.
int disasm(const std::string& path, const std::string& profile, std::ostream& out);

struct SimCommand {
  std::string program, profile;
  bool functional = false;  // compute real data (all buffers start zeroed)
  std::string trace;        // Perfetto JSON timeline
  std::string stats;        // statistics and energy as JSON
  bool rtl_scan = false;    // time (and check) every scan command on the Verilated RTL
};
// Runs a Program on the SystemC model of a profile; prints cycles, time, utilization, DRAM
// bytes and energy.
int sim_run(const SimCommand& command, std::ostream& out);

// `report`: one HTML page (and its CSVs) from run folders, comparisons and sweep specs.
struct ReportCommand {
  std::vector<std::string> results;
  std::string out = "report.html";
  std::string sweep_db;
  std::string title = "ssmsoc report";
};
int report(const ReportCommand& command, std::ostream& out);

}  // namespace ssmsoc::cli
