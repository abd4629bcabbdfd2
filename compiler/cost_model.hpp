// The cost model: cycles of the chip's commands from the profile alone, used to choose scan
// kernels and tile shapes (the searches live in select_scan_kernels below and codegen.cpp;
// this file only evaluates). Every compute estimate is the simulator's own per-command cycle
// count: the functions of arch/spec/engine_cycles.hpp, which sim/ times commands with
// (compiler/README.md, "Cost model"). DMA: the transfer's formula of the same file, with
// the source's bandwidth shared between the tiles that load at once.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "arch/spec/isa.h"
#include "arch/spec/profile.hpp"
#include "compiler/lower.hpp"
#include "compiler/memory_plan.hpp"

namespace ssmsoc::compiler {

// One command of a kernel expansion, by its dimensions only (no operands).
struct Work {
  ssm_engine engine = SSM_ENGINE_VECTOR;
  ssm_opcode opcode = SSM_OP_VECTOR;
  // GEMM
  std::int64_t m = 0, n = 0, k = 0;
  Precision precision = Precision::bf16;
  // VECTOR
  ssm_vector_function function = SSM_VEC_ADD;
  std::int64_t rows = 0, cols = 0;
  std::uint32_t param1 = 0;  // topk: k
  // SCAN
  ssm_scan_variant variant = SSM_SCAN_SELECTIVE;
  std::int64_t channels = 0, head_dim = 1, length = 1, state = 0, groups = 1;
  bool softplus = false, gate = false, skip = false;
};

class CostModel {
 public:
  explicit CostModel(const Profile& profile);
  explicit CostModel(Profile&&) = delete;  // it keeps a reference: the profile must outlive it
  const Profile& profile() const { return profile_; }
  // The simulator's cycles of the command of these dimensions (arch/spec/engine_cycles.hpp).
  double gemm_cycles(std::int64_t m, std::int64_t n, std::int64_t k, Precision p) const;
  // A scan of `length` steps (Mamba-2: head_dim rows per channel); scan_cycles of a variant
  // (Work) counts head_dim and length as the variant's command does.
  double scan_cycles(std::int64_t channels, std::int64_t head_dim, std::int64_t state, std::int64_t length) const;
  double scan_cycles(ssm_scan_variant variant, std::int64_t channels, std::int64_t head_dim, std::int64_t state,
                     std::int64_t length) const;
  // A vector command; topk's k is param1 (the three-argument form counts one pass).
  double vector_cycles(ssm_vector_function f, std::int64_t rows, std::int64_t cols) const;
  double vector_cycles(ssm_vector_function f, std::int64_t rows, std::int64_t cols, std::uint32_t param1) const;
  double conv1d_cycles(std::int64_t channels, std::int64_t length, std::int64_t width, bool silu) const;
  double scan_work_cycles(const Work& w) const;  // a scan with its fused gate, skip and softplus
  double work_cycles(const Work& w) const;
  double work_cycles(const std::vector<Work>& w) const;
  // A load of `bytes` from DRAM (dram = true) or the global buffer into a tile's SRAM while
  // `tiles` tiles load from it at once: the transfer's latency (source and SRAM; the route's
  // hops are not counted: the estimate does not place the tile on the grid) and its bytes at
  // the slowest of the link, the SRAM and the source's share.
  double dma_cycles(std::int64_t bytes, bool dram, int tiles) const;
  // Such a transfer in a stream of them on one tile's DMA engine: the engine moves one
  // transfer's bytes at a time and keeps up to `tile.dma.outstanding_transfers` awaiting their
  // data, so a transfer takes its bytes' time or its share of the latency and bytes over the
  // outstanding ones (Little's law), whichever is longer; with one, its latency and bytes.
  double dma_stream_cycles(std::int64_t bytes, bool dram, int tiles) const;
  // The same for a transfer whose bytes take `moving` cycles at whatever share it gets.
  double dma_stream_cycles(double moving, bool dram) const;
  // What a command waiting for the last transfer of such a stream sees beyond its stream cycles.
  double dma_exposed_latency(bool dram) const;
  // A point-to-point DMA alone on the chip over `route_hops` NoC links: the simulator's
  // uncontended cycles of that transfer.
  double dma_cycles(std::int64_t bytes, ssm_memory src, ssm_memory dst, std::int64_t route_hops) const;
  // Precision of the matrix unit for the chunked SSD (matrix_float_precision; fp32 without one).
  Precision ssd_precision() const { return ssd_precision_; }
  bool has_float_matrix() const { return has_float_matrix_; }

 private:
  const Profile& profile_;
  Precision ssd_precision_ = Precision::fp32;
  std::vector<int> busiest_port_tiles_;  // by op tile count: busiest_memory_port_tiles
  bool has_float_matrix_ = false;
  // The profile's figures every DMA estimate takes, computed once ([1]: DRAM, [0]: global
  // buffer): a mapping search asks for them millions of times.
  std::array<std::uint64_t, 2> load_latency_{};       // into a tile's SRAM
  std::array<double, 2> delivery_bytes_per_cycle_{};  // memory_delivery_bytes_per_cycle
  double sram_bytes_per_cycle_ = 0;
  // A tile's share of the memory, of its port's link and of its SRAM's ports, with `tiles`
  // tiles loading at once.
  double tile_share_bytes_per_cycle(bool dram, int tiles) const;
};

// The commands one tile runs for `length` tokens of one session of a scan op with
// `channels` of its channels (Mamba-2: heads), under `kernel`.
std::vector<Work> scan_work(const PrimOp& op, ScanKernel kernel, std::int64_t channels, std::int64_t length,
                            const Profile& profile);

// What no mapping can beat. An op's bound: its work at the chip's peak on its engine (every
// tile busy, no fill or drain) and its compulsory DRAM traffic (each byte of its weights and
// of its inputs and outputs that live in DRAM, once) at the DRAM bandwidth; the larger of the
// two. A phase's bound (phase_bound) assumes ideal fusion: the engines' work overlapped (the
// busiest engine's sum), and only weights and states crossing DRAM (activations stay on chip).
struct Bound {
  double matrix_cycles = 0, scan_cycles = 0, vector_cycles = 0;  // work at peak
  std::uint64_t dram_bytes = 0;                                  // compulsory
  std::uint64_t weight_bytes = 0, state_bytes = 0;               // phase_bound: of dram_bytes (states twice)
  double dram_cycles = 0;
  double compute_cycles() const { return std::max({matrix_cycles, scan_cycles, vector_cycles}); }
  double cycles() const { return std::max(compute_cycles(), dram_cycles); }
  // "compute" or "DRAM": what binds.
  const char* bound_by() const { return compute_cycles() >= dram_cycles ? "compute" : "DRAM"; }
};
// `module_index`: the module's place in plan_memory's list (where its activations live).
Bound op_bound(const PrimOp& op, const Module& module, std::size_t module_index, const MemoryPlan& plan,
               const Profile& profile);
Bound phase_bound(const Module& module, std::size_t module_index, const MemoryPlan& plan, const Profile& profile);

// select_scan_kernels: a kernel for every scan op, with its reason. The native unit when the
// profile has one, it runs the mode and N <= max_state; otherwise the cheapest candidate of
// the family by the cost model (for one session's tokens of this phase on all tiles):
//   scan-accelerator: native state split (ceil(N/max_state) passes), chunked SSD (Mamba-2),
//                     sequential vector scan
//   gpu: parallel prefix scan, chunked SSD (Mamba-2);  npu: sequential vector scan, chunked
//   SSD (Mamba-2);  cpu: sequential vector scan.  One-token (decode) steps have no chunk or
//   prefix structure: chunked SSD and parallel prefix are not candidates.
// Worked example: krsna-wear (max_state 64) and Mamba-2-130M (N = 128) prefill -> chunked SSD
// on the matrix array, reason "N=128 exceeds max_state 64; chunked-ssd-matrix ... cycles,
// native-scan-unit-state-split (2 passes) ... cycles, ...".
void select_scan_kernels(Module& module, const Profile& profile);

}  // namespace ssmsoc::compiler
