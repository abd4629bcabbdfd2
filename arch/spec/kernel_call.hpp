// A kernel launch on a GPU as its inference stack runs a model (the compiler plans them from
// the lowered ops for a profile with `kernels:`; sim/kernel_model.hpp times them). Only what
// the timing needs: the kind, the shape of the matrix work or the scan, and the DRAM bytes.
#pragma once

#include <cstdint>
#include <string>

#include "arch/spec/profile.hpp"

namespace ssmsoc {

enum class KernelKind {
  gemm,            // batch x C[m, n] = A[m, k] . B[k, n] on the tensor cores (cuBLAS-style)
  memory,          // element-wise, norms, copies, conv1d: bound by their DRAM bytes
  selective_scan,  // Mamba-1's scan over `length` tokens of `channels` channels, state `state`
  state_update,    // one token of a scan (decode): the state read and written back
  chunked_ssd,     // Mamba-2's chunked SSD kernels: tensor-core work of `flops` against its bytes
  attention,       // FlashAttention: `batch` (sessions x query heads) x `length` queries of head dim `k`
                   // over the `m` cached keys and their own (causal: each sees those before it)
};

struct KernelCall {
  std::string name;  // the op it runs, as the compiler names it
  int op = -1;       // that op's index in its phase
  KernelKind kind = KernelKind::memory;
  Precision precision = Precision::bf16;  // of the tensor-core work
  std::int64_t batch = 1, m = 0, n = 0, k = 0;
  std::int64_t channels = 0, length = 0, state = 0;
  double flops = 0;         // tensor-core work: a GEMM's 2 batch m n k, the matrix kernels' own
  double bytes = 0;         // DRAM bytes read and written
  double memory_bytes = 0;  // state bytes the memory's own units read (profile kernels.pim)
  int launches = 1;         // kernels the stack launches for it (the chunked SSD: 5)
  bool causal = false;      // attention
};

}  // namespace ssmsoc
