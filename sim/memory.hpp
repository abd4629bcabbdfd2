// Memory images of the functional mode: DRAM, the global buffer and each tile's SRAM as
// sparse byte arrays (pages allocated on first write, unwritten bytes read as zero), so a
// 96 GiB DRAM costs only what a Program touches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "arch/spec/program.hpp"

namespace ssmsoc::sim {

class MemoryImage {
 public:
  void read(std::uint64_t address, void* out, std::uint64_t bytes) const;
  void write(std::uint64_t address, const void* in, std::uint64_t bytes);

 private:
  static constexpr std::uint64_t kPageBytes = 64 * 1024;
  std::unordered_map<std::uint64_t, std::unique_ptr<std::byte[]>> pages_;
};

// All memories of the chip, addressed by (memory, tile).
class Memories {
 public:
  explicit Memories(int tiles) : sram_(static_cast<std::size_t>(tiles)) {}
  MemoryImage& at(ssm_memory memory, int tile) {
    return memory == SSM_MEM_DRAM            ? dram_
           : memory == SSM_MEM_GLOBAL_BUFFER ? global_
                                             : sram_[static_cast<std::size_t>(tile)];
  }
  // A buffer's memory and its byte address `offset` into it.
  MemoryImage& of(const ProgramBuffer& b) { return at(b.memory, b.tile); }

 private:
  MemoryImage dram_, global_;
  std::vector<MemoryImage> sram_;
};

}  // namespace ssmsoc::sim
