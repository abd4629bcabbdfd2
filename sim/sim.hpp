// The SystemC model of the chip: simulate a Program on a Profile. sim/README.md describes
// the modules, the timing formulas (with their profile fields), the contention model and
// what is approximated.
//
//   const Profile profile = load_profile("krsna-mobile");
//   sim::SimOptions options;  // performance mode
//   const sim::SimResult r = sim::simulate_in_child(profile, program, options);
//   r.cycles, r.seconds, r.tiles[0].engines[SSM_ENGINE_DMA].busy_cycles, r.energy_j ...
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "arch/spec/profile.hpp"
#include "arch/spec/program.hpp"

namespace ssmsoc::sim {

struct SimOptions {
  // Compute real data on memory images (golden kernels; the scan unit's bit-accurate
  // kernels). Cycle counts are the same either way.
  bool functional = false;
  // Functional mode: initial contents of buffers, by buffer name (at most the buffer's bytes).
  std::map<std::string, std::vector<std::byte>> memory_in;
  // Functional mode: buffers whose final contents SimResult::memory_out returns.
  std::vector<std::string> memory_out;
  // Chrome/Perfetto JSON timeline (one track per engine per tile); empty: none.
  std::string trace_path;
  int queue_depth = 0;  // slots per engine queue; 0: the profile's control.queue_depth
  // Per command of the Program (in stream order), the index of the compiler op that emitted
  // it (compiler::PhaseProgram::command_op): SimResult::ops then holds statistics per op.
  const std::vector<std::uint32_t>* command_op = nullptr;
  // Names the Program in error messages.
  std::string source = "program";
  // Replaces the scan engine's timing model: runs a scan command and returns its cycles
  // (`ssmsoc sim --rtl-scan` sets it to the Verilated RTL, rtl::CommandCosim, which this
  // library does not link). Empty: ScanUnit::cycles.
  std::function<std::uint64_t(const ssm_scan&)> scan_override;
};

struct EngineStats {
  std::uint64_t commands = 0;
  std::uint64_t busy_cycles = 0;   // running a command (stalls included)
  std::uint64_t stall_cycles = 0;  // of the busy cycles: waiting for shared bandwidth
};

struct TileStats {
  std::array<EngineStats, SSM_ENGINE_COUNT> engines{};
  std::uint64_t sram_read_bytes = 0, sram_write_bytes = 0;
};

struct LinkStats {
  std::string name;
  double bytes = 0;
};

// An energy figure: count x per-action energy from the profile field `field`.
struct EnergyItem {
  std::string component;  // matrix, scan, vector, sram, global_buffer, noc, dram, leakage
  std::string field;      // the profile field, e.g. "energy.mac_pj.bf16"
  double count = 0;       // actions (MACs, lane steps, lane-cycles, bytes, byte-hops, seconds)
  std::string unit;       // what count counts
  double per_action = 0;  // pJ per action (W for leakage)
  double joules = 0;
};

// What the commands of one compiler op did (SimOptions::command_op).
struct OpStats {
  std::array<std::uint64_t, SSM_ENGINE_COUNT> busy_cycles{};  // summed over tiles
  std::uint64_t commands = 0;
  std::uint64_t dram_read_bytes = 0, dram_write_bytes = 0;
  // When its first command started and its last ended (cycles; 0 and 0 without commands):
  // the op's span on the chip, overlap with its neighbours included.
  std::uint64_t first_cycle = 0, last_cycle = 0;
  // Its work and traffic, counted as the run's (SimResult) are.
  std::map<std::string, std::uint64_t> macs;  // by precision name
  std::uint64_t scan_lane_steps = 0;
  double vector_lane_cycles = 0;
  std::uint64_t sram_read_bytes = 0, sram_write_bytes = 0;  // summed over tiles
  std::uint64_t global_buffer_bytes = 0;                    // read and written
  double noc_byte_hops = 0;
  // Its dynamic energy by component (matrix, scan, ...): its counts times the same profile
  // figures as the run's energy items; leakage is the run's, not an op's.
  std::map<std::string, double> energy_j;
};

// Busy cycles of each engine kind (summed over tiles) in consecutive buckets of
// `bucket_cycles`: a coarse picture of utilization over the run. The buckets double in width
// (pairs merged) so that a run of any length keeps at most kBuckets of them.
struct UtilizationTimeline {
  static constexpr std::size_t kBuckets = 128;
  std::uint64_t bucket_cycles = 1024;
  std::array<std::vector<std::uint64_t>, SSM_ENGINE_COUNT> busy;
  void add(unsigned engine, std::uint64_t start, std::uint64_t end);
};

struct SimResult {
  std::uint64_t cycles = 0;  // start of the firmware to its program-done write
  double seconds = 0;
  std::vector<TileStats> tiles;
  std::uint64_t dram_read_bytes = 0, dram_write_bytes = 0;
  std::uint64_t global_buffer_read_bytes = 0, global_buffer_write_bytes = 0;
  double noc_byte_hops = 0;
  std::vector<LinkStats> links;               // NoC links that carried bytes
  std::map<std::string, std::uint64_t> macs;  // by precision name
  std::uint64_t scan_lane_steps = 0;
  double vector_lane_cycles = 0;
  std::uint64_t commands = 0;  // engine commands executed
  std::uint64_t firmware_signals = 0, firmware_waits = 0, firmware_wakeups = 0;
  std::vector<EnergyItem> energy;
  double energy_j = 0;
  std::map<std::string, std::vector<std::byte>> memory_out;
  std::vector<OpStats> ops;  // by op index, when SimOptions::command_op was given
  UtilizationTimeline timeline;

  double utilization(int tile, ssm_engine engine) const;
};

// validate_program with the profile, plus what the simulated chip needs: GEMM precisions the
// matrix array has, scans the scan unit runs (present, mode, state <= max_state), compute
// operands in the engine's own tile SRAM. Throws ConfigError (one line naming `source`).
void check_program_fits(const Profile& profile, const Program& program, const std::string& source);

// Runs the Program. SystemC elaborates once per process: call this at most once in a
// process (the CLI does); elsewhere use simulate_in_child. Throws ConfigError for Programs
// that do not fit or deadlock, std::runtime_error for what functional mode does not model.
SimResult simulate(const Profile& profile, const Program& program, const SimOptions& options);
// The same, in a forked child process (any number of times per process).
SimResult simulate_in_child(const Profile& profile, const Program& program, const SimOptions& options);
// Several simulations, up to `parallel` child processes at a time; results in job order.
struct SimJob {
  const Program* program;
  SimOptions options;
};
// `collected(i)`, when given, is called as job i's result arrives (in job order).
std::vector<SimResult> simulate_in_children(const Profile& profile, const std::vector<SimJob>& jobs, int parallel,
                                            const std::function<void(std::size_t)>& collected = {});

// What running the Program counts, without running it: the bytes each memory reads and
// writes, MACs, scan lane steps, vector lane-cycles, SRAM operand traffic and NoC byte-hops,
// exactly as simulate() counts them (none depends on timing), and their energy items
// (leakage 0: no time yet). A sweep's screening tier counts with it and times with the cost
// model (set_time).
SimResult count_actions(const Profile& profile, const Program& program);
// Gives a run `cycles` and accounts its energy again, leakage included.
void set_time(const Profile& profile, SimResult& run, std::uint64_t cycles);

// A run of many equal layers from runs of two of its layer prefixes (compiler::LayerSample):
// `shorter` plus `repeats` times what `longer` adds, for every figure that adds up over the
// run (cycles, bytes, commands, busy cycles, energy; link by link, tile by tile). `ops` and
// `memory_out` stay empty: the caller knows which op stands for which.
SimResult extrapolate(const SimResult& shorter, const SimResult& longer, double repeats);

// stats.json of a run (memory_out aside) and the summary `ssmsoc sim` prints: the statistics
// declared in sim/stats.hpp (which also reads the JSON back: from_json).
nlohmann::json to_json(const SimResult& result, const Profile& profile);
std::string summary(const SimResult& result, const Profile& profile);

}  // namespace ssmsoc::sim
