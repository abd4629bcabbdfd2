#include "sim/timing.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "arch/spec/model.hpp"
#include "arch/spec/program.hpp"

namespace ssmsoc::sim {

// ---------------------------------------------------------------------------------------
// Network

namespace {
enum Direction { kEast = 0, kWest = 1, kSouth = 2, kNorth = 3 };
}

Network::Network(const Profile& profile) : profile_(profile) {
  const double link = profile.noc.link_bytes_per_cycle;
  capacity_.push_back(memory_bytes_per_cycle(profile, SSM_MEM_DRAM));
  names_.push_back("dram");
  capacity_.push_back(memory_bytes_per_cycle(profile, SSM_MEM_GLOBAL_BUFFER));
  names_.push_back("global_buffer");
  for (int t = 0; t < profile.tile_count; ++t) {
    capacity_.push_back(memory_bytes_per_cycle(profile, SSM_MEM_TILE_SRAM));
    names_.push_back(fmt::format("tile{}.sram", t));
  }
  first_link_ = static_cast<int>(capacity_.size());
  const int tiles = profile.tile_count;
  static const char* const dir_names[] = {"east", "west", "south", "north"};
  auto add = [&](const std::string& name) {
    capacity_.push_back(link);
    names_.push_back(name);
    return static_cast<int>(capacity_.size()) - 1;
  };
  switch (profile.noc.topology) {
    case Topology::mesh:
    case Topology::torus:
    case Topology::ring: {
      mesh_links_ = static_cast<int>(capacity_.size());
      for (int t = 0; t < tiles; ++t)
        for (int d = 0; d < 4; ++d) add(fmt::format("noc.tile{}.{}", t, dir_names[d]));
      const int ports = memory_port_count(profile);
      memory_down_ = static_cast<int>(capacity_.size());
      for (int c = 0; c < ports; ++c) add(fmt::format("noc.memory_port{}.down", c));
      memory_up_ = static_cast<int>(capacity_.size());
      for (int c = 0; c < ports; ++c) add(fmt::format("noc.memory_port{}.up", c));
      break;
    }
    case Topology::crossbar:
      switch_down_ = static_cast<int>(capacity_.size());
      for (int t = 0; t < tiles; ++t) add(fmt::format("noc.tile{}.down", t));
      switch_up_ = static_cast<int>(capacity_.size());
      for (int t = 0; t < tiles; ++t) add(fmt::format("noc.tile{}.up", t));
      memory_down_ = add("noc.memory_port0.down");
      memory_up_ = add("noc.memory_port0.up");
      break;
    case Topology::bus:
      bus_ = add("noc.bus");
      break;
  }
}

int Network::link(int router, int direction) const { return mesh_links_ + router * 4 + direction; }

int Network::route(int from, int to, std::vector<int>& links) const {
  if (from == to) return 0;
  const Topology topology = profile_.noc.topology;
  const int cols = profile_.grid_cols, rows = profile_.grid_rows;
  switch (topology) {
    case Topology::bus:
      links.push_back(bus_);
      return 1;
    case Topology::crossbar:
      if (from == kMemorySide) {
        links.push_back(memory_down_);
        links.push_back(switch_down_ + to);
      } else if (to == kMemorySide) {
        links.push_back(switch_up_ + from);
        links.push_back(memory_up_);
      } else {
        links.push_back(switch_up_ + from);
        links.push_back(switch_down_ + to);
      }
      return 2;
    case Topology::ring: {
      // Node 0 carries the memory port.
      const int n = profile_.tile_count;
      int hops = 0;
      const int a = from == kMemorySide ? 0 : from, b = to == kMemorySide ? 0 : to;
      if (from == kMemorySide) links.push_back(memory_down_), ++hops;
      const int forward = ((b - a) % n + n) % n;
      const bool clockwise = forward <= n - forward;
      for (int node = a; node != b; node = (node + (clockwise ? 1 : n - 1)) % n) {
        links.push_back(link(node, clockwise ? kEast : kWest));
        ++hops;
      }
      if (to == kMemorySide) links.push_back(memory_up_), ++hops;
      return hops;
    }
    case Topology::mesh:
    case Topology::torus: {
      int hops = 0;
      const bool torus = topology == Topology::torus;
      // Memory side: the port of the tile's column on its nearer memory edge.
      int r = 0, c = 0, r2 = 0, c2 = 0, up_port = 0;
      if (from == kMemorySide) {
        const MemoryPortEntry entry = memory_port_of(profile_, to);
        c = to % cols;
        r = entry.row;
        links.push_back(memory_down_ + entry.port);
        ++hops;
      } else {
        r = from / cols;
        c = from % cols;
      }
      if (to == kMemorySide) {
        const MemoryPortEntry entry = memory_port_of(profile_, from);
        r2 = entry.row;
        c2 = c;
        up_port = entry.port;
      } else {
        r2 = to / cols;
        c2 = to % cols;
      }
      // X first (along the row), then Y; a torus takes the shorter way round (ties: +).
      auto step = [&](int& pos, int target, int size, Direction plus, Direction minus, auto router_of) {
        while (pos != target) {
          int forward = target - pos;
          bool up = forward > 0;
          if (torus) {
            const int f = ((target - pos) % size + size) % size;
            up = f <= size - f;
          }
          links.push_back(link(router_of(pos), up ? plus : minus));
          ++hops;
          pos = up ? (pos + 1) % size : (pos - 1 + size) % size;
        }
      };
      step(c, c2, cols, kEast, kWest, [&](int col) { return r * cols + col; });
      step(r, r2, rows, kSouth, kNorth, [&](int row) { return row * cols + c; });
      if (to == kMemorySide) {
        links.push_back(memory_up_ + up_port);
        ++hops;
      }
      return hops;
    }
  }
  return 0;
}

namespace {
int resource_of(MemoryPlace place) {
  switch (place.memory) {
    case SSM_MEM_DRAM:
      return Network::kDram;
    case SSM_MEM_GLOBAL_BUFFER:
      return Network::kGlobalBuffer;
    case SSM_MEM_TILE_SRAM:
      return Network::sram(place.tile);
  }
  return 0;
}
int endpoint_of(MemoryPlace place) { return place.memory == SSM_MEM_TILE_SRAM ? place.tile : Network::kMemorySide; }
}  // namespace

DmaPath dma_path(const Profile& profile, const Network& network, const ssm_dma& dma, MemoryPlace src,
                 const std::vector<MemoryPlace>& destinations) {
  DmaPath path;
  path.bytes = dma_transfer_bytes(dma);
  auto add = [&](int resource) {
    if (std::find(path.resources.begin(), path.resources.end(), resource) == path.resources.end()) {
      path.resources.push_back(resource);
      if (network.is_link(resource)) ++path.hops;
    }
  };
  add(resource_of(src));
  std::vector<int> links;
  for (const MemoryPlace& dst : destinations) {
    links.clear();
    const std::uint64_t hops = static_cast<std::uint64_t>(network.route(endpoint_of(src), endpoint_of(dst), links));
    path.route_hops = std::max(path.route_hops, hops);
    for (int l : links) add(l);
    add(resource_of(dst));
  }
  // The longest route and the slowest destination (a broadcast waits for its last write).
  for (const MemoryPlace& dst : destinations)
    path.latency_cycles =
        std::max(path.latency_cycles, dma_latency_cycles(profile, src.memory, path.route_hops, dst.memory));
  path.bottleneck_bytes_per_cycle = network.capacity(path.resources.front());
  for (int r : path.resources)
    path.bottleneck_bytes_per_cycle = std::min(path.bottleneck_bytes_per_cycle, network.capacity(r));
  return path;
}

std::uint64_t dma_cycles(const DmaPath& path) {
  return transfer_cycles(path.latency_cycles, path.bytes, path.bottleneck_bytes_per_cycle);
}

}  // namespace ssmsoc::sim
