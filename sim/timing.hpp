// The fabric's side of the timing: the network's resources and routes and a DMA command's
// path through them. The per-command cycles of every engine (and the memories' latencies and
// bandwidths) are arch/spec/engine_cycles.hpp, which the compiler's cost model shares; the
// contention between transfers is fabric.hpp. No SystemC: these functions are what the tests
// hand-check.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arch/spec/engine_cycles.hpp"
#include "arch/spec/isa.h"
#include "arch/spec/profile.hpp"

namespace ssmsoc::sim {

// On-chip network and memories as shared resources with a bandwidth each (bytes/cycle).
// Resource ids: 0 = DRAM, 1 = global buffer, 2 + t = tile t's SRAM, then the NoC links.
// Memory side: the global buffer and the DRAM controllers sit behind one memory port per
// grid column on each of the profile's memory edges (mesh, torus: `noc.memory_edges`, north
// by default; a tile uses its column's nearer port), behind node 0 (ring), or on their own
// switch port (crossbar, bus).
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
// Uncontended DMA cycles: latency + ceil(bytes / bottleneck) (transfer_cycles).
std::uint64_t dma_cycles(const DmaPath& path);

}  // namespace ssmsoc::sim
