// Internals shared by the SystemC model (soc.cpp), the bookkeeping (records.cpp), the
// statistics (stats.cpp) and the entry points (simulate.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/memory.hpp"
#include "sim/sim.hpp"
#include "sim/timing.hpp"

namespace ssmsoc::sim {

// The tiles a broadcast DMA writes, a bit per tile.
inline std::uint64_t broadcast_mask(const ssm_dma& d) {
  return (std::uint64_t{d.tile_mask_high} << 32) | d.tile_mask_low;
}

// The transfer a DMA command makes.
DmaPath dma_route(const Profile& profile, const Network& network, const Program& program, const ssm_dma& dma);

// check_program_fits, and in functional mode every command's Functional::unsupported():
// what simulate() refuses before it starts.
void check_run(const Profile& profile, const Program& program, const SimOptions& options);
// simulate() without check_run, for a Program the caller has already checked.
SimResult simulate_checked(const Profile& profile, const Program& program, const SimOptions& options);
void load_memory_in(const Program& program, const SimOptions& options, Memories& memories);
void read_memory_out(const Program& program, const SimOptions& options, Memories& memories, SimResult& result);

// What the engines did: statistics, action counts for energy, the timeline.
class Records {
 public:
  void init(const Profile& profile, const Program& program, const SimOptions& options);
  void command_done(int tile, ssm_engine engine, const ssm_command& command, std::uint64_t start, std::uint64_t end,
                    std::uint64_t ideal);
  SimResult finish(std::uint64_t cycles, const std::vector<double>& carried, const Network& network);
  void write_trace(const std::string& path, const Profile& profile) const;

  const ssm_command* command_base = nullptr;      // the image's command table
  std::vector<std::optional<DmaPath>> dma_paths;  // per command index

 private:
  struct Slice {
    std::uint32_t tile;
    std::uint8_t engine, opcode;
    std::uint64_t start, end;
  };
  const Profile* profile_ = nullptr;
  const Program* program_ = nullptr;
  const std::vector<std::uint32_t>* command_op_ = nullptr;
  bool trace_ = false;
  std::vector<Slice> slices_;
  // Per tile and engine, where its last command ended: a DMA's transfers overlap (each awaits
  // its data while the next one moves), and an engine is busy over the union of its commands.
  std::vector<std::uint64_t> last_end_;
  SimResult result_;
};

// Energy items of a finished run from its counts.
void account_energy(const Profile& profile, SimResult& result);
// An op's dynamic energy by component (OpStats::energy_j) from its counts, by the same sources.
void account_op_energy(const Profile& profile, OpStats& op);

}  // namespace ssmsoc::sim
