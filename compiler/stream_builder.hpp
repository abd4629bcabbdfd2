// The codegen's stream builder: one stream's commands, with its WAIT and SIGNAL commands
// folded into the sync points (isa.h, SSM_SYNC_*) of its engine commands.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "arch/spec/program.hpp"

namespace ssmsoc::compiler {

// Builds one stream's commands, moving its WAIT and SIGNAL commands into the sync points of
// its engine commands as they are appended, where that keeps the order of events: WAITs
// into the command that follows them (at most two), a SIGNAL into the command it follows.
// WAITs the stream already passed (a semaphore only grows) are dropped.
class StreamBuilder {
 public:
  explicit StreamBuilder(bool fold = true) : fold_(fold) {}
  // Commands pushed from now on carry `tag` (the compiler's op index), kept beside them.
  void set_tag(std::uint32_t tag) { tag_ = tag; }
  void push_back(const ssm_command& command);
  bool empty() const { return commands_.empty() && waits_.empty(); }
  std::size_t size() const { return commands_.size() + waits_.size(); }
  // The commands (WAITs left at the end as commands) and their tags; the builder is empty
  // afterwards.
  std::vector<ssm_command> take(std::vector<std::uint32_t>* tags = nullptr);
  // WAIT and SIGNAL commands folded or dropped so far.
  std::size_t removed() const { return removed_; }

 private:
  void flush_waits(std::size_t keep);
  void append(const ssm_command& command, std::uint32_t tag) {
    commands_.push_back(command);
    tags_.push_back(tag);
  }
  bool fold_;
  std::uint32_t tag_ = 0;
  std::vector<ssm_command> commands_;
  std::vector<std::uint32_t> tags_;
  std::vector<std::uint32_t> passed_;  // per semaphore: the largest value waited for
  struct PendingWait {
    SyncPoint point;
    std::uint32_t tag;
  };
  std::vector<PendingWait> waits_;  // WAITs not yet placed
  std::size_t removed_ = 0;
};

// StreamBuilder on every stream of a finished Program; returns the commands removed.
std::size_t fold_sync_points(Program& program);

}  // namespace ssmsoc::compiler
