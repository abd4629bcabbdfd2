// Memory planning, tiling, scheduling and code generation: a lowered Module into a Program
// for one profile.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "arch/spec/program.hpp"
#include "compiler/cost_model.hpp"
#include "compiler/lower.hpp"

namespace ssmsoc::compiler {

struct Placement {
  ssm_memory memory = SSM_MEM_DRAM;
  std::uint64_t address = 0;
  std::uint64_t bytes = 0;
};

// plan_memory: weights in DRAM; the state cache (conv and SSM states, KV caches) of `batch`
// sessions of `context` tokens in the global buffer when it fits beside the activations,
// else in DRAM; activations in an arena (tensors that are not live at once share bytes,
// first fit in order of definition) in the global buffer when it fits, else in DRAM.
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
  ssm_memory activation_memory = SSM_MEM_DRAM;
  std::uint64_t activation_bytes = 0;                         // the largest arena of the phases
  std::vector<std::vector<std::int64_t>> activation_offsets;  // per module, per tensor (-1: not an activation)
  std::vector<std::uint64_t> arena_bytes;                     // per module
  std::int64_t sessions_on_chip = 0;                          // fitting in the global buffer beside the activations
  std::int64_t sessions_in_dram = 0;                          // fitting in DRAM beside weights (and activations there)
};
MemoryPlan plan_memory(const std::vector<const Module*>& modules, const Profile& profile, const std::string& model,
                       int batch, int context);
std::string dump_memory_plan(const MemoryPlan& plan);

// The tiling of one op: how it is split over tiles and blocked for the tile SRAM.
struct TiledOp {
  std::string name;
  Prim kind = Prim::vector;
  int tiles = 1;                // tiles with work
  std::string partition;        // "n", "m", "rows", "cols", "channels", "heads", "rows(dma)"
  std::string blocks;           // e.g. "m_b=64 n_b=128 k_b=256"
  std::int64_t steps = 0;       // steps on the busiest tile
  std::int64_t sram_bytes = 0;  // per tile: resident + 2 slots (double buffering)
  double cycles = 0;            // cost-model estimate of the busiest tile
};

struct CodegenResult {
  Program program;
  std::vector<TiledOp> tiled;
  // For each command of the Program, in stream order: the index of the op (in the module's
  // ops, and in `tiled`) that emitted it; the simulator attributes its statistics by it.
  std::vector<std::uint32_t> command_op;
  double estimated_cycles = 0;  // sum over ops of the busiest tile (ops run one after another)
};

// tile_and_generate: partitions every op across the tiles, blocks it to the tile SRAM with
// double buffering (two slots: DMA fills one while the engines work on the other), and
// emits the streams: per tile one DMA stream and one stream per compute engine, ordered
// by per-tile semaphores (loaded, computed, stored, chain) and one barrier between ops;
// with `fold_sync`, the WAITs and SIGNALs go into the engine commands' sync points as they
// are emitted (StreamBuilder). The result validates with validate_program(program, name, &profile).
CodegenResult tile_and_generate(const Module& module, std::size_t module_index, const MemoryPlan& plan,
                                const Profile& profile, bool fold_sync = true);

std::string dump_tiled(const std::vector<TiledOp>& tiled);
std::string dump_schedule(const Program& program);

}  // namespace ssmsoc::compiler
