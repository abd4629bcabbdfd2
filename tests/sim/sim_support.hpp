// Helpers of the simulator tests: a Program builder with per-memory address allocation and
// semaphore chaining, float buffers as bytes, and the shipped profiles.
#pragma once

#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "arch/spec/profile.hpp"
#include "arch/spec/program.hpp"
#include "sim/sim.hpp"

namespace ssmsoc::test {

inline const Profile& mobile() {
  static const Profile p = load_profile("krsna-mobile");
  return p;
}
inline const Profile& dc() {
  static const Profile p = load_profile("krsna-dc");
  return p;
}

class ProgramBuilder {
 public:
  // A buffer of `bytes` at the next free address of its memory (64-byte aligned).
  std::uint16_t buffer(const std::string& name, ssm_memory memory, std::uint64_t bytes, int tile = 0) {
    std::uint64_t& next = next_[{memory, memory == SSM_MEM_TILE_SRAM ? tile : 0}];
    program.buffers.push_back(ProgramBuffer{name, memory, SSM_BUF_ACTIVATIONS, tile, next, bytes});
    next += (bytes + 63) / 64 * 64;
    return static_cast<std::uint16_t>(program.buffers.size() - 1);
  }
  // The stream of (tile, engine), created on first use.
  ProgramStream& stream(int tile, ssm_engine engine) {
    const auto key = std::make_pair(tile, static_cast<int>(engine));
    auto it = streams_.find(key);
    if (it == streams_.end()) {
      program.streams.push_back(ProgramStream{tile, engine, {}});
      it = streams_.emplace(key, program.streams.size() - 1).first;
    }
    return program.streams[it->second];
  }
  void add(int tile, ssm_engine engine, const ssm_command& command) {
    stream(tile, engine).commands.push_back(command);
  }
  // Appends after everything chained so far: a SIGNAL on the previous command's stream and
  // a WAIT on this one when they differ.
  void chain(int tile, ssm_engine engine, const ssm_command& command) {
    const auto key = std::make_pair(tile, static_cast<int>(engine));
    if (last_ && *last_ != key) {
      const std::uint32_t sem = program.semaphores++;
      stream(last_->first, static_cast<ssm_engine>(last_->second)).commands.push_back(signal_command(sem, 1));
      stream(tile, engine).commands.push_back(wait_command(sem, 1));
    }
    stream(tile, engine).commands.push_back(command);
    last_ = key;
  }
  std::uint32_t semaphore() { return program.semaphores++; }

  Program program;

 private:
  std::map<std::pair<int, int>, std::uint64_t> next_;
  std::map<std::pair<int, int>, std::size_t> streams_;
  std::optional<std::pair<int, int>> last_;
};

inline std::vector<std::byte> bytes_of(std::span<const float> values) {
  std::vector<std::byte> out(values.size() * 4);
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}
inline std::vector<float> floats_of(const std::vector<std::byte>& bytes) {
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

}  // namespace ssmsoc::test
