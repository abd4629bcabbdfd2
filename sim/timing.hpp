// The analytic timing of the chip: every duration the simulator uses is computed here,
// from the profile and the command alone (sim/README.md gives each formula with its profile
// fields). No SystemC: these functions are what the tests hand-check.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arch/spec/isa.h"
#include "arch/spec/profile.hpp"

namespace ssmsoc::sim {

// Clock conversions of the one clock domain (profile clock_mhz).
struct Clock {
  double mhz = 0;
  // Whole cycles of a duration in ns, rounded up.
  std::uint64_t cycles_of_ns(double ns) const;
  double seconds(std::uint64_t cycles) const { return static_cast<double>(cycles) / (mhz * 1e6); }
  double microseconds(double cycles) const { return cycles / mhz; }
};

// Cycles of one command on its engine when nothing else runs: compute engines exactly;
// DMA the uncontended transfer (dma_cycles). The first error is a ConfigError-worthy message
// from check_fits (below); these functions assume a checked command.
std::uint64_t gemm_cycles(const MatrixArray& matrix, const ssm_gemm& gemm);
// The scan unit's cycle formula (the one place to align with the RTL's measured one):
// pipeline_depth + ceil(channels * head_dim * state / lanes) * length.
std::uint64_t scan_cycles(const ScanUnit& scan, std::uint64_t channels, std::uint64_t head_dim, std::uint64_t state,
                          std::uint64_t length);
std::uint64_t scan_cycles(const ScanUnit& scan, const ssm_scan& command);
// One pass of a vector function over `elements` elements: ceil(elements * cycles_per_element
// / lanes) + latency_cycles.
std::uint64_t vector_pass_cycles(const VectorUnit& vector, VectorFunction function, std::uint64_t elements);
// A vector command: the sum of its passes (vector_passes).
struct VectorPass {
  VectorFunction function;
  std::uint64_t elements;
};
std::vector<VectorPass> vector_passes(const ssm_vector& command);
std::vector<VectorPass> conv1d_passes(const ssm_conv1d& command);
std::uint64_t vector_cycles(const VectorUnit& vector, const std::vector<VectorPass>& passes);
// Lane-cycles of the passes (elements * cycles_per_element): what energy.vector_op_pj prices.
double vector_lane_cycles(const VectorUnit& vector, const std::vector<VectorPass>& passes);

// The duration of a compute command (GEMM, SCAN, CONV1D, VECTOR) on its engine.
std::uint64_t compute_cycles(const Profile& profile, const ssm_command& command);
// Work counts of a compute command for energy: MACs, scan lane steps, vector lane-cycles.
std::uint64_t gemm_macs(const ssm_gemm& gemm);
std::uint64_t scan_lane_steps(const ssm_scan& scan);

// On-chip network and memories as shared resources with a bandwidth each (bytes/cycle).
// Resource ids: 0 = DRAM, 1 = global buffer, 2 + t = tile t's SRAM, then the NoC links.
// Memory side: the global buffer and the DRAM controllers sit behind one memory port per
// grid column on the north edge (mesh, torus), behind node 0 (ring), or on their own switch
// port (crossbar, bus).
class Network {
 public:
  explicit Network(const Profile& profile);
  static constexpr int kDram = 0;
  static constexpr int kGlobalBuffer = 1;
  static int sram(int tile) { return 2 + tile; }
  // An endpoint of a transfer: a tile's router, or the memory side (kMemorySide).
  static constexpr int kMemorySide = -1;

  int resource_count() const { return static_cast<int>(capacity_.size()); }
  double capacity(int resource) const { return capacity_[static_cast<std::size_t>(resource)]; }
  const std::string& name(int resource) const { return names_[static_cast<std::size_t>(resource)]; }
  bool is_link(int resource) const { return resource >= first_link_; }
  // Appends the links of the route from `from` to `to` (tiles or kMemorySide); returns hops.
  int route(int from, int to, std::vector<int>& links) const;

 private:
  int add_link(const std::string& name);
  int link(int router, int direction) const;  // mesh/torus/ring output links
  const Profile& profile_;
  std::vector<double> capacity_;
  std::vector<std::string> names_;
  int first_link_ = 0;
  int mesh_links_ = 0;   // first id of the router output links
  int memory_down_ = 0;  // first id of the memory-port links towards the tiles
  int memory_up_ = 0;    // first id of the memory-port links towards memory
  int switch_down_ = 0;  // crossbar: per-tile links from the switch
  int switch_up_ = 0;    // crossbar: per-tile links to the switch
  int bus_ = 0;          // bus: the one shared medium
};

// A DMA command as a transfer: the resources it crosses, its fixed latency and bytes.
struct DmaPath {
  std::vector<int> resources;  // memories and links, each once
  std::uint64_t bytes = 0;     // bytes moved (each destination of a broadcast counted once)
  std::uint64_t latency_cycles = 0;
  std::uint64_t hops = 0;                 // links crossed (a broadcast's tree links, each once)
  std::uint64_t route_hops = 0;           // the longest route's hops (what the latency counts)
  double bottleneck_bytes_per_cycle = 0;  // the slowest resource alone
};
struct MemoryPlace {
  ssm_memory memory;
  int tile;
};
DmaPath dma_path(const Profile& profile, const Network& network, const ssm_dma& dma, MemoryPlace src,
                 const std::vector<MemoryPlace>& destinations);
// Uncontended DMA cycles: latency + ceil(bytes / bottleneck).
std::uint64_t dma_cycles(const DmaPath& path);
// Read latency of a memory in cycles (DRAM: ceil(latency_ns * clock_mhz / 1000)).
std::uint64_t memory_latency_cycles(const Profile& profile, ssm_memory memory);
double memory_bytes_per_cycle(const Profile& profile, ssm_memory memory);

}  // namespace ssmsoc::sim
