#include "sim/timing.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "arch/spec/model.hpp"

namespace ssmsoc::sim {

namespace {

std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

VectorFunction fn(VectorFunction f) { return f; }

}  // namespace

std::uint64_t Clock::cycles_of_ns(double ns) const {
  // A tolerance keeps 110 ns at 1000 MHz at 110 cycles despite rounding of the product.
  return static_cast<std::uint64_t>(std::ceil(ns * mhz / 1000.0 - 1e-9));
}

std::uint64_t gemm_macs(const ssm_gemm& g) { return std::uint64_t{g.m} * g.n * g.k; }

std::uint64_t gemm_cycles(const MatrixArray& matrix, const ssm_gemm& g) {
  const auto precision = static_cast<Precision>(g.head.variant);
  const std::uint64_t macs = static_cast<std::uint64_t>(matrix.macs_per_cycle.at(precision));
  const std::uint64_t rows = static_cast<std::uint64_t>(matrix.rows), cols = static_cast<std::uint64_t>(matrix.cols);
  // The stationary operand is tiled over the array; the third dimension streams through.
  std::uint64_t tiles = 0, streamed = 0;
  switch (matrix.dataflow) {
    case Dataflow::output_stationary:  // C[m, n] stays: tiles over (m, n), k streams
      tiles = ceil_div(g.m, rows) * ceil_div(g.n, cols);
      streamed = g.k;
      break;
    case Dataflow::weight_stationary:  // B[k, n] stays: tiles over (k, n), m streams
      tiles = ceil_div(g.k, rows) * ceil_div(g.n, cols);
      streamed = g.m;
      break;
    case Dataflow::input_stationary:  // A[m, k] stays: tiles over (m, k), n streams
      tiles = ceil_div(g.m, rows) * ceil_div(g.k, cols);
      streamed = g.n;
      break;
  }
  if (tiles == 0 || streamed == 0) return 0;
  // Each tile streams its dimension through rows*cols PEs at macs_per_cycle MACs/cycle;
  // the pipeline fills and drains once per command (rows + cols - 2 cycles of skew).
  return tiles * ceil_div(streamed * rows * cols, macs) + rows + cols - 2;
}

std::uint64_t scan_cycles(const ScanUnit& scan, std::uint64_t channels, std::uint64_t head_dim, std::uint64_t state,
                          std::uint64_t length) {
  return scan.cycles(channels * head_dim * length, static_cast<int>(state));
}

namespace {
std::uint64_t scan_length(const ssm_scan& s) {
  return s.head.variant == SSM_SCAN_STATE_UPDATE || s.head.variant == SSM_SCAN_MULTIHEAD_UPDATE ? 1 : s.length;
}
}  // namespace

std::uint64_t scan_cycles(const ScanUnit& scan, const ssm_scan& s) {
  return scan_cycles(scan, s.channels, mamba2_variant(s.head.variant) ? s.head_dim : 1, s.state, scan_length(s));
}

std::uint64_t scan_lane_steps(const ssm_scan& s) {
  return std::uint64_t{s.channels} * (mamba2_variant(s.head.variant) ? s.head_dim : 1) * s.state * scan_length(s);
}

std::uint64_t vector_pass_cycles(const VectorUnit& vector, VectorFunction function, std::uint64_t elements) {
  const VectorCost& cost = vector[function];
  const double lane_cycles = static_cast<double>(elements) * cost.cycles_per_element;
  return static_cast<std::uint64_t>(std::ceil(lane_cycles / vector.lanes - 1e-9)) +
         static_cast<std::uint64_t>(cost.latency_cycles);
}

std::vector<VectorPass> vector_passes(const ssm_vector& v) {
  const std::uint64_t all = std::uint64_t{v.rows} * v.cols, rows = v.rows;
  using F = VectorFunction;
  const unsigned f = v.head.variant;
  if (f <= SSM_VEC_CONVERT) return {{static_cast<F>(f), all}};
  switch (f) {
    case SSM_VEC_RMSNORM:  // x^2, row sums, rsqrt per row, scale, weight
      return {{F::mul, all}, {F::reduce_sum, all}, {F::rsqrt, rows}, {F::mul, all}, {F::mul, all}};
    case SSM_VEC_GATED_RMSNORM:  // silu(z), gate, then the RMSNorm passes
      return {{F::silu, all},   {F::mul, all}, {F::mul, all}, {fn(F::reduce_sum), all},
              {F::rsqrt, rows}, {F::mul, all}, {F::mul, all}};
    case SSM_VEC_SOFTMAX:  // row max, subtract, exp, row sums, reciprocal, scale
      return {{F::reduce_max, all}, {F::add, all},    {F::exp, all},
              {F::reduce_sum, all}, {F::recip, rows}, {F::mul, all}};
    case SSM_VEC_TOPK: {  // k passes of a row maximum
      std::vector<VectorPass> passes(std::max<std::uint32_t>(v.param1, 1), VectorPass{F::reduce_max, all});
      return passes;
    }
    case SSM_VEC_ROPE:  // x*cos, then + rotate_half(x)*sin
      return {{F::mul, all}, {F::fma, all}};
    case SSM_VEC_SCALE:
      return {{F::mul, all}};
  }
  return {};
}

std::vector<VectorPass> conv1d_passes(const ssm_conv1d& c) {
  const std::uint64_t outputs = std::uint64_t{c.length} * c.channels;
  // One FMA per tap and output (the bias initialises the accumulator), then the SiLU.
  std::vector<VectorPass> passes{{VectorFunction::fma, outputs * c.width}};
  if (c.head.flags & SSM_CONV_SILU) passes.push_back({VectorFunction::silu, outputs});
  return passes;
}

std::uint64_t vector_cycles(const VectorUnit& vector, const std::vector<VectorPass>& passes) {
  std::uint64_t cycles = 0;
  for (const auto& p : passes) cycles += vector_pass_cycles(vector, p.function, p.elements);
  return cycles;
}

double vector_lane_cycles(const VectorUnit& vector, const std::vector<VectorPass>& passes) {
  double total = 0;
  for (const auto& p : passes) total += static_cast<double>(p.elements) * vector[p.function].cycles_per_element;
  return total;
}

std::uint64_t compute_cycles(const Profile& profile, const ssm_command& c) {
  switch (c.head.opcode) {
    case SSM_OP_GEMM:
      return gemm_cycles(profile.tile.matrix, c.gemm);
    case SSM_OP_SCAN:
      return scan_cycles(profile.tile.scan, c.scan);
    case SSM_OP_CONV1D:
      return vector_cycles(profile.tile.vector, conv1d_passes(c.conv1d));
    case SSM_OP_VECTOR:
      return vector_cycles(profile.tile.vector, vector_passes(c.vector));
  }
  return 0;
}

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
      const int ports = profile.noc.topology == Topology::ring ? 1 : profile.grid_cols;
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
      // Memory side: the port above row 0 of a column; a tile reaches its own column's port.
      int r = 0, c = 0, r2 = 0, c2 = 0;
      if (from == kMemorySide) {
        c = to % cols;
        r = 0;
        links.push_back(memory_down_ + c);
        ++hops;
      } else {
        r = from / cols;
        c = from % cols;
      }
      if (to == kMemorySide) {
        r2 = 0;
        c2 = c;
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
        links.push_back(memory_up_ + c);
        ++hops;
      }
      return hops;
    }
  }
  return 0;
}

double memory_bytes_per_cycle(const Profile& profile, ssm_memory memory) {
  switch (memory) {
    case SSM_MEM_DRAM:  // GB/s into bytes per clock cycle
      return profile.dram.bandwidth_gb_per_s * 1000.0 / profile.clock_mhz;
    case SSM_MEM_GLOBAL_BUFFER:
      return double(profile.global_buffer.banks) * profile.global_buffer.bytes_per_cycle_per_bank;
    case SSM_MEM_TILE_SRAM:
      return double(profile.tile.sram.banks) * profile.tile.sram.bytes_per_cycle_per_bank;
  }
  return 0;
}

std::uint64_t memory_latency_cycles(const Profile& profile, ssm_memory memory) {
  switch (memory) {
    case SSM_MEM_DRAM:
      return Clock{profile.clock_mhz}.cycles_of_ns(profile.dram.latency_ns);
    case SSM_MEM_GLOBAL_BUFFER:
      return static_cast<std::uint64_t>(profile.global_buffer.latency_cycles);
    case SSM_MEM_TILE_SRAM:
      return static_cast<std::uint64_t>(profile.tile.sram.latency_cycles);
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
  path.bytes = std::uint64_t{dma.rows} * dma.row_bytes;
  auto add = [&](int resource) {
    if (std::find(path.resources.begin(), path.resources.end(), resource) == path.resources.end()) {
      path.resources.push_back(resource);
      if (network.is_link(resource)) ++path.hops;
    }
  };
  add(resource_of(src));
  std::uint64_t dst_latency = 0;
  std::vector<int> links;
  for (const MemoryPlace& dst : destinations) {
    links.clear();
    const std::uint64_t hops = static_cast<std::uint64_t>(network.route(endpoint_of(src), endpoint_of(dst), links));
    path.route_hops = std::max(path.route_hops, hops);
    for (int l : links) add(l);
    add(resource_of(dst));
    dst_latency = std::max(dst_latency, memory_latency_cycles(profile, dst.memory));
  }
  path.latency_cycles = memory_latency_cycles(profile, src.memory) +
                        path.route_hops * static_cast<std::uint64_t>(profile.noc.hop_latency_cycles) + dst_latency;
  path.bottleneck_bytes_per_cycle = network.capacity(path.resources.front());
  for (int r : path.resources)
    path.bottleneck_bytes_per_cycle = std::min(path.bottleneck_bytes_per_cycle, network.capacity(r));
  return path;
}

std::uint64_t dma_cycles(const DmaPath& path) {
  return path.latency_cycles +
         static_cast<std::uint64_t>(std::ceil(double(path.bytes) / path.bottleneck_bytes_per_cycle - 1e-9));
}

}  // namespace ssmsoc::sim
