// plan_kernels: a phase's lowered ops as the kernels a GPU inference stack launches for them
// (HuggingFace transformers with the mamba_ssm / causal_conv1d / FlashAttention kernels, cuBLAS
// GEMMs), for a profile with `kernels:` (sim/kernel_model.hpp times them). Activations and
// weights move in the matrix precision, as such a stack runs a bf16 model:
//   GEMM (residual fused as C += A.B)        -> a gemm kernel: 2 m n k FLOPs; A, B and C once
//   conversions to the matrix precision      -> nothing (the activations already are)
//   norms, element-wise ops, copies, conv1d  -> a memory kernel: its inputs and outputs once
//   Mamba-1 scan over L > 1 tokens           -> selective_scan (x, dt, z, y, B, C once)
//   Mamba-2 scan over L > 1 tokens           -> the chunked SSD: 5 launches of its tensor-core work
//   a one-token scan (decode)                -> state_update: the state read and written (float32)
//   attention                                -> FlashAttention: 4 L_q L_kv d per head (causal: half
//                                               the square), q, k, v and o once
// Worked example: Mamba-130M decode, one session: per layer rmsnorm (memory), in_proj
// (gemm 1 x 3072 x 768), conv1d (memory), x_proj (gemm 1 x 80 x 1536), dt_proj (gemm
// 1 x 1536 x 48), scan (state_update: 1536 x 16 x 4 B read and written), out_proj with the
// residual (gemm 1 x 768 x 1536): 7 launches per layer, the converts dropped.
#pragma once

#include <vector>

#include "arch/spec/kernel_call.hpp"
#include "arch/spec/profile.hpp"
#include "compiler/lower.hpp"

namespace ssmsoc::compiler {

std::vector<KernelCall> plan_kernels(const Module& module, const Profile& profile);

// One line per kernel (`compile --emit launches`).
std::string dump_kernels(const std::vector<KernelCall>& kernels);

}  // namespace ssmsoc::compiler
