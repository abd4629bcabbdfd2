// The cost model: cycles of the chip's commands from the profile alone, used to choose scan
// kernels and tile shapes (the searches live in kernels.cpp and tiling; this file only
// evaluates). Formulas (compiler/README.md):
//   GEMM   ceil(m·n'·k' / macs_per_cycle(P)) + rows + cols, with n', k' padded to the array
//          (n' to a multiple of cols, k' of rows): fill and drain of the weight-stationary array
//   SCAN   pipeline_depth + ceil(channels·head_dim·state / lanes) · length (the sim's formula)
//   VECTOR per pass ceil(elements · cycles_per_element / lanes) + latency_cycles; composites
//          (rmsnorm, softmax, ...) are their passes
//   DMA    ceil(bytes / (bandwidth share per tile in bytes/cycle)) + source latency
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arch/spec/isa.h"
#include "arch/spec/profile.hpp"
#include "compiler/lower.hpp"

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
  // SCAN
  ssm_scan_variant variant = SSM_SCAN_SELECTIVE;
  std::int64_t channels = 0, head_dim = 1, length = 1, state = 0, groups = 1;
  bool softplus = false, gate = false, skip = false;
};

class CostModel {
 public:
  explicit CostModel(const Profile& profile);
  const Profile& profile() const { return profile_; }
  double gemm_cycles(std::int64_t m, std::int64_t n, std::int64_t k, Precision p) const;
  double scan_cycles(std::int64_t channels, std::int64_t head_dim, std::int64_t state, std::int64_t length) const;
  double vector_cycles(ssm_vector_function f, std::int64_t rows, std::int64_t cols) const;
  double work_cycles(const Work& w) const;
  double work_cycles(const std::vector<Work>& w) const;
  // DMA of `bytes` from DRAM (dram = true) or the global buffer, with `tiles` tiles sharing it.
  double dma_cycles(std::int64_t bytes, bool dram, int tiles) const;
  // Float precision of the matrix unit for the chunked SSD (scanalgo::silicon_of).
  Precision ssd_precision() const { return ssd_precision_; }
  bool has_float_matrix() const { return has_float_matrix_; }

 private:
  const Profile& profile_;
  double dram_bytes_per_cycle_ = 0, gb_bytes_per_cycle_ = 0;
  double dram_latency_cycles_ = 0;
  Precision ssd_precision_ = Precision::fp32;
  bool has_float_matrix_ = false;
};

// The commands one tile runs for `length` tokens of one session of a scan op with
// `channels` of its channels (Mamba-2: heads), under `kernel`.
std::vector<Work> scan_work(const PrimOp& op, ScanKernel kernel, std::int64_t channels, std::int64_t length,
                            const Profile& profile);

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
