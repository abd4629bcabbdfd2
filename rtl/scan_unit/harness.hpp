// Co-simulation harness of the scan unit RTL: drives a Verilated variant with the same
// inputs as the bit-accurate kernels (arch/golden/fixed_scan.hpp), converts the golden argument
// structs into the unit's input stream, runs the clock, collects the outputs and the
// stored state, and compares them raw with fixed::ScanOutput. rtl/scan_unit/README.md
// describes the unit's interface and timing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "arch/golden/fixed_scan.hpp"
#include "arch/spec/profile.hpp"

namespace ssmsoc::rtl {

// ---------------------------------------------------------------------------------------
// The unit's input stream, one level above the pins: runs of steps on one channel (Mamba-1)
// or one head row (Mamba-2). Values are raw (data format for operands, state format for
// the state).

struct StepOperands {
  std::int64_t dt = 0, bias = 0, u = 0, d = 0, z = 0, a = 0;  // a: the head's A (Mamba-2)
  std::size_t a_lanes = 0, b = 0, c = 0;  // offsets into Job::vectors of N values: A (Mamba-1), B, C
  std::size_t out_index = 0;              // where the step's result goes in out_raw
};

struct Run {
  bool mamba2 = false;
  int n = 1;  // state size N
  bool softplus = false, d_skip = false, gate = false;
  std::vector<std::int64_t> h0;  // starting state (N values), loaded through the load port
  std::size_t state_index = 0;   // where the stored state goes in state_raw
  std::vector<StepOperands> steps;
};

struct Job {
  std::vector<Run> runs;
  std::vector<std::int64_t> vectors;
  std::size_t out_count = 0, state_count = 0;
};

struct DriveOptions {
  double in_stall = 0;   // probability that the source withholds a beat in a cycle
  double out_stall = 0;  // probability that the sink is not ready in a cycle
  std::uint64_t seed = 1;
};

// What the unit produced for a job, with the clock edges (cycles since reset) at which
// each result and stored state was taken.
struct JobOutput {
  std::vector<std::int64_t> out_raw, state_raw;
  std::vector<std::uint64_t> out_cycle, state_cycle;
  std::uint64_t beats = 0;           // input beats of the job
  std::uint64_t cycles = 0;          // first input handshake to last output handshake, inclusive
  std::uint64_t latency_cycles = 0;  // largest step's last-beat handshake to its result handshake
  std::uint64_t min_interval = 0;    // smallest distance between consecutive steps' results
  std::uint64_t lane_steps = 0;      // sum over steps of N
};

// One Verilated variant.
class ScanEngine {
 public:
  virtual ~ScanEngine() = default;
  virtual void reset() = 0;
  virtual JobOutput run(const Job& job, const DriveOptions& options = {}) = 0;
  // FST waveform of everything run until close_trace (or destruction).
  virtual void open_trace(const std::string& file) = 0;
  virtual void close_trace() = 0;
  virtual std::uint64_t cycle() const = 0;
};

// The profiles with a Verilated variant (every shipped profile whose tile.scan.present is
// true at configure time), sorted.
std::vector<std::string> scan_variant_profiles();
// The variant of a profile (by name); std::invalid_argument when there is none.
std::unique_ptr<ScanEngine> make_scan_engine(const std::string& profile);

// ---------------------------------------------------------------------------------------
// Cases: the golden kernels' arguments, owned.

enum class Kernel { selective_scan, state_update, state_update_multihead, ssd };

// One kernel call. Layouts as in kernels.hpp: selective_scan u, delta, z [b, d, L], A [d, N],
// B, C [b, G, N, L], D, bias [d]; state_update state [b, d, N], x, dt, z [b, d], B, C
// [b, G, N]; multihead state [b, H, P, N], x, z [b, H, P], dt [b, H], A, D, bias [H],
// B, C [b, G, N]; ssd x [b, L, H, P], dt [b, L, H], A, D [H], B, C [b, L, G, N],
// initial state [b, H, P, N]. `dim` is channels (Mamba-1) or heads (Mamba-2).
struct Phase {
  Kernel kernel = Kernel::selective_scan;
  int batch = 1, dim = 1, head_dim = 1, length = 1, state = 1, groups = 1;
  std::vector<float> u, delta, A, B, C, D, z, bias, state_in;
  bool softplus = false;
};

// A case is a chain of phases: each phase after the first starts from the raw state the
// previous one ended with (a decode step resuming a saved state, or a scan split in two),
// which the harness passes through the unit's store and load ports.
struct Case {
  std::string name;
  std::vector<Phase> phases;
  std::vector<std::int64_t> initial_state_raw;  // optional raw state of the first phase
  DriveOptions drive;
};

struct Mismatch {
  bool found = false;
  int phase = 0;
  bool state = false;  // the final state (else the output)
  std::size_t index = 0;
  std::string element;  // "batch 0, channel 3, step 7" / "batch 0, head 1, row 2, state 5"
  std::int64_t rtl = 0, expected = 0;
  std::uint64_t cycle = 0;
  std::string message;  // one line with all of the above
};

struct CaseResult {
  long steps = 0;            // results compared
  long lane_steps = 0;       // sum over steps of N
  long mismatches = 0;       // differing raw values (outputs and state)
  std::uint64_t cycles = 0;  // sum over the phases' jobs
  double rtl_seconds = 0;    // wall time spent clocking the RTL
  Mismatch first;
  std::vector<JobOutput> jobs;  // per phase
};

// The job that feeds `phase` to the unit (the raw starting state: `initial_raw`, else the
// phase's float state quantized, else zero).
Job make_job(const Phase& phase, const ScanUnit& unit, const std::vector<std::int64_t>& initial_raw);
// What the bit-accurate model computes for the phase from the same starting state.
fixed::ScanOutput expected_output(const Phase& phase, const ScanUnit& unit,
                                  const std::vector<std::int64_t>& initial_raw);
// Runs the case on the RTL and on the model and compares every raw value.
CaseResult run_case(ScanEngine& engine, const Case& c, const ScanUnit& unit);

// Reference-data cases (tests/data/kernels: selective_scan_*, selective_state_update*, ssd_*),
// as phases of the kernels above; multi-step decode files become one phase per step.
std::vector<Case> refdata_cases(const std::filesystem::path& directory);
std::filesystem::path default_refdata_directory();

// Seeded random cases for a unit: random shapes with N in 1..max_state, L = 1 among them,
// zero and maximum dt, saturating inputs, random starting states, scans split and resumed
// through the load/store ports, and random stalls on both streams.
std::vector<Case> random_cases(const ScanUnit& unit, std::uint64_t seed, int count);

// The unit's timing (rtl/scan_unit/README.md): beats per step, pipeline latency from a step's
// last beat to its result, and the cycles of a job of `beats` input beats with no stalls.
struct Timing {
  int lanes = 0, pipeline_depth = 0;
  const ScanUnit* unit = nullptr;  // the formula lives in ScanUnit (arch/spec/profile.hpp)
  std::uint64_t beats_per_step(int n) const { return unit->beats_per_step(n); }
  std::uint64_t latency_cycles() const { return unit->latency_cycles(); }
  std::uint64_t job_cycles(std::uint64_t beats) const { return beats + latency_cycles(); }
};
Timing timing_of(const ScanUnit& unit);

}  // namespace ssmsoc::rtl
