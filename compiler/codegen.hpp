// Code generation: a lowered Module and the mapping of each of its ops (mapping.hpp) into a
// Program for one profile. It follows the mappings and decides nothing of the tiling.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/program.hpp"
#include "compiler/lower.hpp"
#include "compiler/mapping.hpp"
#include "compiler/memory_plan.hpp"

namespace ssmsoc::compiler {

// A Program that would pass the image limit (arch/spec/program.hpp's kMaxProgramImageBytes):
// the message names the profile, the phase's tokens and the op; compile() answers it with a
// smaller prefill chunk where it chose the chunk.
struct ProgramTooLarge : ConfigError {
  using ConfigError::ConfigError;
};

struct CodegenResult {
  Program program;
  // For each command of the Program, in stream order: the index of the op (in the module's
  // ops, and in the mappings) that emitted it; the simulator attributes its statistics by it.
  std::vector<std::uint32_t> command_op;
};

// generate_program: emits every op of module `module_index` of the plan as its mapping says
// (mappings[i] for module.ops[i]): per tile one DMA stream and one stream per compute
// engine; each step's loads fill the step's slot, its engines run, its stores leave. The
// steps are ordered by per-tile semaphores (loaded, computed, stored, chain from engine to
// engine inside a step) and one barrier between ops; the DMA stream issues the next step's
// loads before the previous step's stores, and never refills a slot before its step is done
// and its stores have left. With `fold_sync`, the WAITs and SIGNALs go into the engine
// commands' sync points as they are emitted (StreamBuilder). The result validates with
// validate_program(program, name, &profile).
CodegenResult generate_program(const Module& module, std::size_t module_index, const MemoryPlan& plan,
                               const std::vector<OpMapping>& mappings, const Profile& profile, bool fold_sync = true);

std::string dump_schedule(const Program& program);

}  // namespace ssmsoc::compiler
