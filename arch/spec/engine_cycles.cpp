#include "arch/spec/engine_cycles.hpp"

#include "arch/spec/program.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

namespace ssmsoc {

namespace {

std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

}  // namespace

std::uint64_t Clock::cycles_of_ns(double ns) const {
  // A tolerance keeps 110 ns at 1000 MHz at 110 cycles despite rounding of the product.
  return static_cast<std::uint64_t>(std::ceil(ns * mhz / 1000.0 - 1e-9));
}

// --- Matrix array --------------------------------------------------------------------------

std::uint64_t gemm_cycles(const MatrixArray& matrix, std::uint64_t m, std::uint64_t n, std::uint64_t k,
                          Precision precision) {
  const auto it = matrix.macs_per_cycle.find(precision);
  if (it == matrix.macs_per_cycle.end())
    throw std::invalid_argument(fmt::format("gemm_cycles: the matrix array has no {} precision", name_of(precision)));
  const std::uint64_t macs = static_cast<std::uint64_t>(it->second);
  const std::uint64_t rows = static_cast<std::uint64_t>(matrix.rows), cols = static_cast<std::uint64_t>(matrix.cols);
  std::uint64_t tiles = 0, streamed = 0;
  switch (matrix.dataflow) {
    case Dataflow::output_stationary:  // C[m, n] stays: tiles over (m, n), k streams
      tiles = ceil_div(m, rows) * ceil_div(n, cols);
      streamed = k;
      break;
    case Dataflow::weight_stationary:  // B[k, n] stays: tiles over (k, n), m streams
      tiles = ceil_div(k, rows) * ceil_div(n, cols);
      streamed = m;
      break;
    case Dataflow::input_stationary:  // A[m, k] stays: tiles over (m, k), n streams
      tiles = ceil_div(m, rows) * ceil_div(k, cols);
      streamed = n;
      break;
  }
  if (tiles == 0 || streamed == 0) return 0;
  // Each tile streams its dimension through rows*cols PEs at macs_per_cycle MACs/cycle;
  // the pipeline fills and drains once per command (rows + cols - 2 cycles of skew).
  return tiles * ceil_div(streamed * rows * cols, macs) + rows + cols - 2;
}

std::uint64_t gemm_cycles(const MatrixArray& matrix, const ssm_gemm& g) {
  return gemm_cycles(matrix, g.m, g.n, g.k, static_cast<Precision>(g.head.variant));
}

std::uint64_t gemm_macs(const ssm_gemm& g) { return std::uint64_t{g.m} * g.n * g.k; }

std::optional<Precision> matrix_float_precision(const MatrixArray& matrix) {
  std::optional<Precision> best;
  std::int64_t best_macs = 0;
  for (Precision p : {Precision::fp32, Precision::tf32, Precision::bf16, Precision::fp16}) {
    const auto it = matrix.macs_per_cycle.find(p);
    if (it != matrix.macs_per_cycle.end() && it->second > best_macs) best_macs = it->second, best = p;
  }
  return best;
}

// --- Scan unit -------------------------------------------------------------------------------

std::uint64_t scan_cycles(const ScanUnit& scan, std::uint64_t channels, std::uint64_t head_dim, std::uint64_t state,
                          std::uint64_t length) {
  return scan.cycles(channels * head_dim * length, static_cast<int>(state));
}

std::uint64_t scan_steps(ssm_scan_variant variant, std::uint64_t channels, std::uint64_t head_dim,
                         std::uint64_t length) {
  const bool mamba2 = ssm_scan_is_mamba2(variant);
  const bool update = ssm_scan_is_update(variant);
  return channels * (mamba2 ? head_dim : 1) * (update ? 1 : length);
}

std::uint64_t scan_cycles(const ScanUnit& scan, ssm_scan_variant variant, std::uint64_t channels,
                          std::uint64_t head_dim, std::uint64_t state, std::uint64_t length) {
  return scan.cycles(scan_steps(variant, channels, head_dim, length), static_cast<int>(state));
}

std::uint64_t scan_cycles(const ScanUnit& scan, const ssm_scan& s) {
  return scan_cycles(scan, static_cast<ssm_scan_variant>(s.head.variant), s.channels, s.head_dim, s.state, s.length);
}

std::uint64_t scan_lane_steps(const ssm_scan& s) {
  return scan_steps(static_cast<ssm_scan_variant>(s.head.variant), s.channels, s.head_dim, s.length) * s.state;
}

// --- Vector unit -----------------------------------------------------------------------------

std::uint64_t vector_pass_cycles(const VectorUnit& vector, VectorFunction function, std::uint64_t elements) {
  const VectorCost& cost = vector[function];
  const double lane_cycles = static_cast<double>(elements) * cost.cycles_per_element;
  return static_cast<std::uint64_t>(std::ceil(lane_cycles / vector.lanes - 1e-9)) +
         static_cast<std::uint64_t>(cost.latency_cycles);
}

std::vector<VectorPass> vector_passes(ssm_vector_function function, std::uint64_t rows, std::uint64_t cols,
                                      std::uint32_t param1) {
  const std::uint64_t all = rows * cols;
  using F = VectorFunction;
  if (function <= SSM_VEC_CONVERT) return {{static_cast<F>(function), all}};
  switch (function) {
    case SSM_VEC_RMSNORM:  // x^2, row sums, rsqrt per row, scale, weight
      return {{F::mul, all}, {F::reduce_sum, all}, {F::rsqrt, rows}, {F::mul, all}, {F::mul, all}};
    case SSM_VEC_GATED_RMSNORM:  // silu(z), gate, then the RMSNorm passes
      return {{F::silu, all},   {F::mul, all}, {F::mul, all}, {F::reduce_sum, all},
              {F::rsqrt, rows}, {F::mul, all}, {F::mul, all}};
    case SSM_VEC_SOFTMAX:  // row max, subtract, exp, row sums, reciprocal, scale
      return {{F::reduce_max, all}, {F::add, all},    {F::exp, all},
              {F::reduce_sum, all}, {F::recip, rows}, {F::mul, all}};
    case SSM_VEC_TOPK:  // k passes of a row maximum
      return std::vector<VectorPass>(std::max<std::uint32_t>(param1, 1), VectorPass{F::reduce_max, all});
    case SSM_VEC_ROPE:  // x*cos, then + rotate_half(x)*sin
      return {{F::mul, all}, {F::fma, all}};
    case SSM_VEC_SCALE:
      return {{F::mul, all}};
    default:
      return {};
  }
}

std::vector<VectorPass> vector_passes(const ssm_vector& v) {
  return vector_passes(static_cast<ssm_vector_function>(v.head.variant), v.rows, v.cols, v.param1);
}

std::vector<VectorPass> conv1d_passes(std::uint64_t channels, std::uint64_t length, std::uint64_t width, bool silu) {
  const std::uint64_t outputs = length * channels;
  // One FMA per tap and output (the bias initialises the accumulator), then the SiLU.
  std::vector<VectorPass> passes{{VectorFunction::fma, outputs * width}};
  if (silu) passes.push_back({VectorFunction::silu, outputs});
  return passes;
}

std::vector<VectorPass> conv1d_passes(const ssm_conv1d& c) {
  return conv1d_passes(c.channels, c.length, c.width, (c.head.flags & SSM_CONV_SILU) != 0);
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

// --- Memories and DMA --------------------------------------------------------------------------

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

int memory_port_count(const Profile& profile) {
  switch (profile.noc.topology) {
    case Topology::mesh:
    case Topology::torus:
      return profile.grid_cols * static_cast<int>(profile.noc.memory_edges.size());
    case Topology::ring:
    case Topology::crossbar:
    case Topology::bus:
      return 1;
  }
  return 1;
}

MemoryPortEntry memory_port_of(const Profile& profile, int tile) {
  if (profile.noc.topology != Topology::mesh && profile.noc.topology != Topology::torus) return {};
  const int cols = profile.grid_cols;
  const int row = tile / cols, col = tile % cols;
  const int last_row = (profile.tile_count - 1 - col) / cols;
  MemoryPortEntry best;
  int best_hops = -1;
  const auto& edges = profile.noc.memory_edges;
  for (std::size_t e = 0; e < edges.size(); ++e) {
    const int entry_row = edges[e] == MemoryEdge::north ? 0 : last_row;
    const int hops = std::abs(entry_row - row);
    if (best_hops < 0 || hops < best_hops) {
      best = MemoryPortEntry{static_cast<int>(e) * cols + col, entry_row};
      best_hops = hops;
    }
  }
  return best;
}

int busiest_memory_port_tiles(const Profile& profile, int tiles) {
  std::vector<int> per_port(static_cast<std::size_t>(memory_port_count(profile)), 0);
  int busiest = 0;
  for (int t = 0; t < std::min(tiles, profile.tile_count); ++t)
    busiest = std::max(busiest, ++per_port.at(static_cast<std::size_t>(memory_port_of(profile, t).port)));
  return std::max(1, busiest);
}

double memory_delivery_bytes_per_cycle(const Profile& profile, ssm_memory memory) {
  const double own = memory_bytes_per_cycle(profile, memory);
  if (memory == SSM_MEM_TILE_SRAM) return own;
  return std::min(own, double(memory_port_count(profile)) * profile.noc.link_bytes_per_cycle);
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

std::uint64_t dma_latency_cycles(const Profile& profile, ssm_memory src, std::uint64_t route_hops, ssm_memory dst) {
  return memory_latency_cycles(profile, src) + route_hops * static_cast<std::uint64_t>(profile.noc.hop_latency_cycles) +
         memory_latency_cycles(profile, dst);
}

std::uint64_t transfer_cycles(std::uint64_t latency_cycles, std::uint64_t bytes, double bytes_per_cycle) {
  return latency_cycles + static_cast<std::uint64_t>(std::ceil(double(bytes) / bytes_per_cycle - 1e-9));
}

std::uint64_t uncontended_dma_cycles(const Profile& profile, ssm_memory src, ssm_memory dst, std::uint64_t bytes,
                                     std::uint64_t route_hops) {
  double bottleneck = std::min(memory_bytes_per_cycle(profile, src), memory_bytes_per_cycle(profile, dst));
  if (route_hops > 0) bottleneck = std::min(bottleneck, double(profile.noc.link_bytes_per_cycle));
  return transfer_cycles(dma_latency_cycles(profile, src, route_hops, dst), bytes, bottleneck);
}

namespace {

bool operand_written(const ssm_command& c, std::string_view name) {
  if (name == "out") return true;
  return c.head.opcode == SSM_OP_GEMM && name == "c";
}
bool state_read(const ssm_command& c) {
  if (c.head.opcode == SSM_OP_SCAN) return c.head.flags & SSM_SCAN_LOAD_STATE;
  return c.head.flags & (SSM_CONV_LOAD_STATE | SSM_CONV_UPDATE);
}
bool state_written(const ssm_command& c) {
  if (c.head.opcode == SSM_OP_SCAN) return c.head.flags & SSM_SCAN_STORE_STATE;
  return c.head.flags & (SSM_CONV_STORE_STATE | SSM_CONV_UPDATE);
}

}  // namespace

SramTraffic compute_sram_traffic(const ssm_command& c) {
  SramTraffic t;
  const Operands operands = operands_of(c);
  for (std::size_t k = 0; k < operands.size(); ++k) {
    const OperandView& o = operands[k];
    if (o.ref.buffer == SSM_NO_BUFFER && o.optional) continue;
    const std::uint64_t bytes = operand_bytes(c, static_cast<int>(k));
    if (std::string_view(o.name) == "state") {
      if (state_read(c)) t.read += bytes;
      if (state_written(c)) t.write += bytes;
    } else if (operand_written(c, o.name)) {
      t.write += bytes;
      if (c.head.opcode == SSM_OP_GEMM && (c.head.flags & SSM_GEMM_ACCUMULATE)) t.read += bytes;
    } else {
      t.read += bytes;
    }
  }
  return t;
}

std::uint64_t uncontended_compute_cycles(const Profile& profile, const ssm_command& command) {
  const std::uint64_t ports = static_cast<std::uint64_t>(
      std::ceil(double(compute_sram_traffic(command).total()) / memory_bytes_per_cycle(profile, SSM_MEM_TILE_SRAM)));
  return std::max(compute_cycles(profile, command), ports);
}

}  // namespace ssmsoc
