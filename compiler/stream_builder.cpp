#include "compiler/stream_builder.hpp"

#include <algorithm>

namespace ssmsoc::compiler {

void StreamBuilder::flush_waits(std::size_t keep) {
  const std::size_t placed = waits_.size() - std::min(keep, waits_.size());
  for (std::size_t i = 0; i < placed; ++i)
    append(wait_command(waits_[i].point.semaphore, waits_[i].point.value), waits_[i].tag);
  waits_.erase(waits_.begin(), waits_.begin() + static_cast<std::ptrdiff_t>(placed));
}

void StreamBuilder::push_back(const ssm_command& c) {
  if (!fold_) {
    append(c, tag_);
    return;
  }
  const unsigned op = c.head.opcode;
  if (op == SSM_OP_WAIT) {
    if (c.sync.semaphore >= passed_.size()) passed_.resize(c.sync.semaphore + 1, 0);
    std::uint32_t& passed = passed_[c.sync.semaphore];
    if (passed >= c.sync.value) {
      ++removed_;  // implied by an earlier wait of this stream
      return;
    }
    passed = c.sync.value;
    waits_.push_back({{c.sync.semaphore, c.sync.value}, tag_});
  } else if (op == SSM_OP_SIGNAL) {
    flush_waits(0);
    if (!commands_.empty() && commands_.back().head.opcode != SSM_OP_SIGNAL &&
        commands_.back().head.opcode != SSM_OP_WAIT &&
        set_sync_signal(commands_.back(), {c.sync.semaphore, c.sync.value}))
      ++removed_;
    else
      append(c, tag_);
  } else {
    ssm_command folded = c;
    flush_waits(std::size_t(!(c.head.sync & SSM_SYNC_WAIT0)) + !(c.head.sync & SSM_SYNC_WAIT1));
    for (const PendingWait& w : waits_) add_sync_wait(folded, w.point);
    removed_ += waits_.size();
    waits_.clear();
    append(folded, tag_);
  }
}

std::vector<ssm_command> StreamBuilder::take(std::vector<std::uint32_t>* tags) {
  flush_waits(0);
  passed_.clear();
  if (tags) tags->insert(tags->end(), tags_.begin(), tags_.end());
  tags_.clear();
  return std::move(commands_);
}

std::size_t fold_sync_points(Program& program) {
  std::size_t removed = 0;
  for (ProgramStream& stream : program.streams) {
    StreamBuilder builder;
    for (const ssm_command& c : stream.commands) builder.push_back(c);
    stream.commands = builder.take();
    removed += builder.removed();
  }
  return removed;
}

}  // namespace ssmsoc::compiler
