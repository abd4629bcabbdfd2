// The activation arenas of a compiled module for a functional simulation: values placed at
// the memory plan's offsets (in the on-chip arena or its spilled part), handed to the
// simulator, and read back from its output.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "compiler/memory_plan.hpp"
#include "tests/sim/sim_support.hpp"

namespace ssmsoc::test {

class PlannedArenas {
 public:
  PlannedArenas(const compiler::MemoryPlan& plan, std::size_t module_index)
      : plan_(plan), index_(module_index), offsets_(plan.activation_offsets.at(module_index)) {
    arenas_["activations"] = std::vector<float>(plan.arena_bytes.at(module_index) / 4);
    if (plan.spill_bytes.at(module_index) > 0)
      arenas_["activations.spilled"] = std::vector<float>(plan.spill_bytes.at(module_index) / 4);
  }
  void place(int tensor, const std::vector<float>& values) {
    std::vector<float>& arena = arenas_.at(compiler::activation_buffer(plan_, index_, tensor));
    std::copy(values.begin(), values.end(), arena.begin() + offsets_.at(std::size_t(tensor)) / 4);
  }
  // Every arena in, and back out.
  void into(sim::SimOptions& options) const {
    for (const auto& [name, values] : arenas_) {
      options.memory_in[name] = bytes_of(values);
      options.memory_out.push_back(name);
    }
  }
  // `count` floats of a tensor from the simulator's output.
  std::vector<float> read(const sim::SimResult& result, int tensor, std::size_t count) const {
    const std::vector<float> arena =
        floats_of(result.memory_out.at(compiler::activation_buffer(plan_, index_, tensor)));
    const auto first = arena.begin() + offsets_.at(std::size_t(tensor)) / 4;
    return std::vector<float>(first, first + std::ptrdiff_t(count));
  }

 private:
  const compiler::MemoryPlan& plan_;
  std::size_t index_;
  const std::vector<std::int64_t>& offsets_;
  std::map<std::string, std::vector<float>> arenas_;
};

}  // namespace ssmsoc::test
