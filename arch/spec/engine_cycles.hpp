// The cycles of one command on its engine when nothing else runs, from the profile and the
// command alone: the one definition that the simulator times commands with (sim/timing.hpp
// adds the fabric's contention) and that the compiler's cost model estimates them with
// (compiler/cost_model.hpp). sim/README.md ("Timing") gives each formula with its profile
// fields; the functions assume a command that passed the simulator's checks.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "arch/spec/isa.h"
#include "arch/spec/profile.hpp"

namespace ssmsoc {

// Clock conversions of the one clock domain (profile clock_mhz).
struct Clock {
  double mhz = 0;
  // Whole cycles of a duration in ns, rounded up.
  std::uint64_t cycles_of_ns(double ns) const;
  double seconds(std::uint64_t cycles) const { return static_cast<double>(cycles) / (mhz * 1e6); }
  double microseconds(double cycles) const { return cycles / mhz; }
};

// --- Matrix array --------------------------------------------------------------------------
// The stationary operand is tiled over the rows x cols array and the third dimension streams
// through each tile: tiles · ceil(streamed · rows · cols / macs_per_cycle(P)) + rows + cols − 2
// (fill and drain once per command). Output-stationary: tiles over (m, n), k streams;
// weight-stationary: (k, n), m streams; input-stationary: (m, k), n streams.
// Throws std::invalid_argument when the array has no `precision`.
std::uint64_t gemm_cycles(const MatrixArray& matrix, std::uint64_t m, std::uint64_t n, std::uint64_t k,
                          Precision precision);
std::uint64_t gemm_cycles(const MatrixArray& matrix, const ssm_gemm& gemm);
std::uint64_t gemm_macs(const ssm_gemm& gemm);
// The precision floating-point matrix work (the chunked SSD's products) runs at: the floating
// precision with the most MACs per cycle among fp32, tf32, bf16 and fp16; a tie goes to the
// first in that order (fp32's exponent range first, then the most fraction bits: fp16's range
// is too narrow for the SSD's decays and states). None when the array has none of them.
std::optional<Precision> matrix_float_precision(const MatrixArray& matrix);

// --- Scan unit -------------------------------------------------------------------------------
// ScanUnit::cycles (profile.hpp, the RTL's measured timing): one step per channel or head row
// and time step, ceil(state / lanes) beats each, then pipeline_depth + 5 output stages.
std::uint64_t scan_cycles(const ScanUnit& scan, std::uint64_t channels, std::uint64_t head_dim, std::uint64_t state,
                          std::uint64_t length);
// The steps of a command of `variant`: head_dim counts for the Mamba-2 variants only; the
// update variants are one time step whatever `length` says.
std::uint64_t scan_steps(ssm_scan_variant variant, std::uint64_t channels, std::uint64_t head_dim,
                         std::uint64_t length);
std::uint64_t scan_cycles(const ScanUnit& scan, ssm_scan_variant variant, std::uint64_t channels,
                          std::uint64_t head_dim, std::uint64_t state, std::uint64_t length);
std::uint64_t scan_cycles(const ScanUnit& scan, const ssm_scan& command);
// Lane steps (steps · state) of a command: what energy.scan_step_pj prices.
std::uint64_t scan_lane_steps(const ssm_scan& command);

// --- Vector unit -----------------------------------------------------------------------------
// One pass of a vector function over `elements` elements: ceil(elements · cycles_per_element
// / lanes) + latency_cycles.
std::uint64_t vector_pass_cycles(const VectorUnit& vector, VectorFunction function, std::uint64_t elements);
// A vector or conv1d command is the sum of its passes.
struct VectorPass {
  VectorFunction function;
  std::uint64_t elements;
};
// `param1` counts for topk only (k passes of a row maximum; 0 counts as 1).
std::vector<VectorPass> vector_passes(ssm_vector_function function, std::uint64_t rows, std::uint64_t cols,
                                      std::uint32_t param1);
std::vector<VectorPass> vector_passes(const ssm_vector& command);
std::vector<VectorPass> conv1d_passes(std::uint64_t channels, std::uint64_t length, std::uint64_t width, bool silu);
std::vector<VectorPass> conv1d_passes(const ssm_conv1d& command);
std::uint64_t vector_cycles(const VectorUnit& vector, const std::vector<VectorPass>& passes);
// Lane-cycles of the passes (elements · cycles_per_element): what energy.vector_op_pj prices.
double vector_lane_cycles(const VectorUnit& vector, const std::vector<VectorPass>& passes);

// The duration of a compute command (GEMM, SCAN, CONV1D, VECTOR) on its engine.
std::uint64_t compute_cycles(const Profile& profile, const ssm_command& command);
// The bytes a compute command reads and writes in its tile's SRAM (its operands; a state
// by its load/store flags; an accumulating GEMM reads C too). The SRAM's ports carry them
// beside the DMA's transfers: the simulator shares the SRAM's bandwidth between both.
struct SramTraffic {
  std::uint64_t read = 0, write = 0;
  std::uint64_t total() const { return read + write; }
};
SramTraffic compute_sram_traffic(const ssm_command& command);
// A compute command alone on its tile: its engine's cycles or its SRAM traffic at the
// SRAM's bandwidth, whichever is longer (what the cost model estimates).
std::uint64_t uncontended_compute_cycles(const Profile& profile, const ssm_command& command);

// --- Memories and DMA --------------------------------------------------------------------------
// Bandwidth of a memory in bytes/cycle (DRAM: bandwidth_gb_per_s · 1000 / clock_mhz; global
// buffer and a tile SRAM: banks · bytes_per_cycle_per_bank).
double memory_bytes_per_cycle(const Profile& profile, ssm_memory memory);
// The NoC links between the memory side (DRAM and the global buffer) and the tiles, one each
// way per port: a mesh or torus has a port at each grid column on each of its memory edges
// (`noc.memory_edges`), a ring and a crossbar one,
// a bus its one shared link.
int memory_port_count(const Profile& profile);
// Mesh and torus: the memory port tile `tile` uses — its column's on the nearer of the
// profile's memory edges (ties go north; a column's south edge lies below its last tile) —
// and the grid row the port enters at. Other topologies: port 0, row 0.
struct MemoryPortEntry {
  int port = 0, row = 0;
};
MemoryPortEntry memory_port_of(const Profile& profile, int tile);
// How many of tiles 0 .. tiles - 1 share the busiest memory port: an op on those tiles
// gets each tile 1 / that of a port link's bandwidth at most.
int busiest_memory_port_tiles(const Profile& profile, int tiles);
// What all tiles together can read from (or write to) a memory: the memory's bandwidth, and
// for the memory side (DRAM, global buffer) no more than its ports' links carry.
double memory_delivery_bytes_per_cycle(const Profile& profile, ssm_memory memory);
// Read latency of a memory in cycles (DRAM: ceil(latency_ns · clock_mhz / 1000)).
std::uint64_t memory_latency_cycles(const Profile& profile, ssm_memory memory);
// The fixed latency of a transfer: the source's latency, hop_latency_cycles per NoC link of
// the route, the destination's latency.
std::uint64_t dma_latency_cycles(const Profile& profile, ssm_memory src, std::uint64_t route_hops, ssm_memory dst);
// latency + ceil(bytes / bytes_per_cycle): a transfer through its slowest resource.
std::uint64_t transfer_cycles(std::uint64_t latency_cycles, std::uint64_t bytes, double bytes_per_cycle);
// A point-to-point DMA alone on the chip over a route of `route_hops` NoC links (none between
// two memories of the memory side): its slowest resource is the source, the destination or
// (with hops) a link.
std::uint64_t uncontended_dma_cycles(const Profile& profile, ssm_memory src, ssm_memory dst, std::uint64_t bytes,
                                     std::uint64_t route_hops);

}  // namespace ssmsoc
