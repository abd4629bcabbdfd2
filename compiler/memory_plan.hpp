// Memory planning: where every tensor of the phases' Modules lives in shared memory (DRAM or
// the global buffer), decided once for all phases of a compile.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "arch/spec/isa.h"
#include "arch/spec/profile.hpp"
#include "compiler/lower.hpp"

namespace ssmsoc::compiler {

// Shared-memory regions and tile SRAM regions start on 64-byte boundaries.
inline std::uint64_t align64(std::uint64_t bytes) { return (bytes + 63) & ~std::uint64_t{63}; }

struct Placement {
  ssm_memory memory = SSM_MEM_DRAM;
  std::uint64_t address = 0;
  std::uint64_t bytes = 0;
};

// plan_memory: weights in DRAM; the state cache (conv and SSM states, KV caches) of `batch`
// sessions of `context` tokens in the global buffer when it fits beside the activations,
// else in DRAM; each module's activations in an arena (tensors that are not live at once
// share bytes, first fit in order of definition) in the global buffer when it fits, else in
// DRAM (a long prefill chunk's arena in DRAM leaves decode's small one on chip). An arena that
// does not fit is split: in order of definition each tensor takes the first fit in what the
// global buffer has free past the state cache, or spills into a second arena in DRAM (decode
// of many sessions: the tensors that fit stay on chip; a 512-token Mamba-2.8B chunk: each
// layer's 2.6 MB norm output, while in_proj's 10 MB output spills).
// Worked example (tests/compiler): a 2-layer Mamba-1 with d_inner 64, N 4, d_conv 4 keeps
// per session 2 x (64x4 + 64x4) x 4 B = 4096 B of state; a 1 MiB global buffer with a
// 64 KiB arena fits floor((1 MiB - 64 KiB) / 4096) = 240 sessions on chip.
struct MemoryPlan {
  std::map<std::string, Placement> weights;  // by tensor name
  std::map<std::string, Placement> states;
  std::uint64_t weight_bytes = 0;
  std::uint64_t state_bytes_per_session = 0;  // at `context` tokens
  std::uint64_t ssm_state_bytes_per_session = 0, kv_bytes_per_session = 0;
  int context = 0;
  int batch = 1;
  ssm_memory state_memory = SSM_MEM_DRAM;
  std::vector<ssm_memory> activation_memory;                  // per module: where its arena lives
  std::uint64_t activation_bytes = 0;                         // the largest arena of the phases
  std::vector<std::vector<std::int64_t>> activation_offsets;  // per module, per tensor (-1: not an activation)
  std::vector<std::uint64_t> arena_bytes;                     // per module
  // Split arenas (activation_memory: the global buffer): per module, whether each tensor
  // spilled into the DRAM arena (its offset then into that one), that arena's bytes, and
  // where in the global buffer the on-chip arena starts (past the state cache).
  std::vector<std::vector<bool>> activation_spilled;
  std::vector<std::uint64_t> spill_bytes;
  std::vector<std::uint64_t> arena_address;
  std::int64_t sessions_on_chip = 0;  // fitting in the global buffer beside the activations
  std::int64_t sessions_in_dram = 0;  // fitting in DRAM beside weights (and activations there)
};
MemoryPlan plan_memory(const std::vector<const Module*>& modules, const Profile& profile, const std::string& model,
                       int batch, int context);
std::string dump_memory_plan(const MemoryPlan& plan);

// Whether tensor `tensor` of `mod` (module `module_index` of plan_memory's list) lives in
// DRAM under the plan (weights always do).
bool in_dram(const Module& mod, int tensor, const MemoryPlan& plan, std::size_t module_index);
// The Program buffer an activation of module `module_index` lives in: "activations", or
// "activations.spilled" (the DRAM part of a split arena).
std::string activation_buffer(const MemoryPlan& plan, std::size_t module_index, int tensor);
// The first global-buffer byte the plan leaves free while module `module_index` runs: past
// the state cache when it lives there and past the module's arena (or the on-chip part of a
// split one) when that lives there; 64-byte aligned. A GEMM by k's partials go there.
std::uint64_t global_buffer_free_offset(const MemoryPlan& plan, std::size_t module_index);

}  // namespace ssmsoc::compiler
