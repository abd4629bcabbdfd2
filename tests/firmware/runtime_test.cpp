// The control-core runtime (firmware/runtime.h) against a fake HAL: dispatch order,
// SIGNAL/WAIT semantics, queue back-pressure, header checks, deadlock detection.
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "arch/spec/program.hpp"
#include "compiler/stream_builder.hpp"
#include "firmware/runtime.h"

namespace ssmfw {
namespace {

using ssmsoc::Program;
using ssmsoc::ProgramStream;

// A chip of `tiles` tiles whose engines complete the oldest command of every busy queue each
// time the core waits for an interrupt.
class FakeHal {
 public:
  FakeHal(const Program& program, std::uint32_t tiles, std::uint32_t depth)
      : image_(ssmsoc::encode_program(program)), tiles_(tiles), depth_(depth), queues_(tiles * SSM_ENGINE_COUNT) {}

  Status run() {
    const Hal hal{this, read32, write32, map_dram, queue_space, queue_push, queue_completed, wait_for_interrupt};
    std::vector<std::uint64_t> workspace(1 << 14);
    return run_program(hal, workspace.data(), workspace.size() * 8, &counters);
  }

  std::vector<std::byte> image_;
  std::uint32_t tiles_, depth_;
  struct Queue {
    std::deque<std::uint8_t> pending;  // opcodes
    std::uint32_t completed = 0;
  };
  std::vector<Queue> queues_;
  std::vector<std::uint32_t> changed_ = std::vector<std::uint32_t>(64);  // kRegQueueChanged words
  std::vector<std::string> log;                                          // "push q op" / "done q op" in order
  std::uint32_t done_status = 0xFFFFFFFF;
  std::uint32_t max_outstanding = 0;
  RunCounters counters{};

 private:
  static FakeHal& self(void* c) { return *static_cast<FakeHal*>(c); }
  static std::uint32_t read32(void* c, std::uint32_t offset) {
    FakeHal& h = self(c);
    switch (offset) {
      case kRegTileCount:
        return h.tiles_;
      case kRegQueueDepth:
        return h.depth_;
      case kRegProgramLow:
        return 0x4000;
      case kRegProgramHigh:
        return 1;
      case kRegProgramBytes:
        return static_cast<std::uint32_t>(h.image_.size());
    }
    if (offset >= kRegQueueChanged) {  // read and clear
      const std::uint32_t word = (offset - kRegQueueChanged) / 4, bits = h.changed_[word];
      h.changed_[word] = 0;
      return bits;
    }
    return 0;
  }
  static void write32(void* c, std::uint32_t offset, std::uint32_t value) {
    if (offset == kRegDone) self(c).done_status = value;
  }
  static const void* map_dram(void* c, std::uint64_t address, std::uint64_t bytes) {
    FakeHal& h = self(c);
    return address == 0x1'0000'4000ull && bytes == h.image_.size() ? h.image_.data() : nullptr;
  }
  static std::uint32_t queue_space(void* c, std::uint32_t q) {
    FakeHal& h = self(c);
    return h.depth_ - static_cast<std::uint32_t>(h.queues_[q].pending.size());
  }
  static void queue_push(void* c, std::uint32_t q, const ssm_command* command) {
    FakeHal& h = self(c);
    EXPECT_LT(h.queues_[q].pending.size(), h.depth_) << "push into a full queue";
    h.queues_[q].pending.push_back(command->head.opcode);
    h.max_outstanding = std::max(h.max_outstanding, static_cast<std::uint32_t>(h.queues_[q].pending.size()));
    h.log.push_back("push " + std::to_string(q) + " " + std::to_string(command->head.opcode));
  }
  static std::uint32_t queue_completed(void* c, std::uint32_t q) { return self(c).queues_[q].completed; }
  static void wait_for_interrupt(void* c) {
    FakeHal& h = self(c);
    for (std::size_t q = 0; q < h.queues_.size(); ++q) {
      auto& queue = h.queues_[q];
      if (queue.pending.empty()) continue;
      h.log.push_back("done " + std::to_string(q) + " " + std::to_string(queue.pending.front()));
      queue.pending.pop_front();
      ++queue.completed;
      h.changed_[q / 32] |= 1u << (q % 32);
    }
  }
};

ssm_command vec() {
  ssm_command c{};
  c.head.opcode = SSM_OP_VECTOR;
  return c;
}
ssm_command dma() {
  ssm_command c{};
  c.head.opcode = SSM_OP_DMA;
  return c;
}

std::size_t index_of(const std::vector<std::string>& log, const std::string& entry) {
  for (std::size_t i = 0; i < log.size(); ++i)
    if (log[i] == entry) return i;
  return log.size();
}

TEST(FirmwareDispatch, CommandsGoToTheirQueueInStreamOrder) {
  Program p;
  p.streams.push_back(ProgramStream{1, SSM_ENGINE_DMA, {dma(), dma()}});
  p.streams.push_back(ProgramStream{0, SSM_ENGINE_VECTOR, {vec()}});
  FakeHal hal(p, 2, 8);
  EXPECT_EQ(hal.run(), kOk);
  EXPECT_EQ(hal.done_status, kOk);
  // Queue of (tile 1, dma) = 4; (tile 0, vector) = 3.
  ASSERT_GE(hal.log.size(), 3u);
  EXPECT_EQ(hal.log[0], "push 4 1");
  EXPECT_EQ(hal.log[1], "push 4 1");
  EXPECT_EQ(hal.log[2], "push 3 5");
  EXPECT_EQ(hal.counters.dispatched, 3u);
  EXPECT_EQ(hal.queues_[4].completed, 2u);
}

TEST(FirmwareSemaphores, SignalTakesEffectAfterEarlierCommandsComplete) {
  Program p;
  p.semaphores = 1;
  p.streams.push_back(ProgramStream{0, SSM_ENGINE_VECTOR, {vec(), vec(), ssmsoc::signal_command(0, 1)}});
  p.streams.push_back(ProgramStream{0, SSM_ENGINE_DMA, {ssmsoc::wait_command(0, 1), dma()}});
  FakeHal hal(p, 1, 8);
  EXPECT_EQ(hal.run(), kOk);
  // The DMA is pushed only after both vector commands are done.
  const std::size_t second_done = [&] {
    std::size_t last = 0;
    for (std::size_t i = 0; i < hal.log.size(); ++i)
      if (hal.log[i] == "done 3 5") last = i;
    return last;
  }();
  EXPECT_GT(index_of(hal.log, "push 0 1"), second_done);
  EXPECT_EQ(hal.counters.signals, 1u);
  EXPECT_EQ(hal.counters.waits, 1u);
}

TEST(FirmwareSemaphores, WaitHoldsUntilTheCountIsReached) {
  // Two signals of 1 are needed for a wait of 2.
  Program p;
  p.semaphores = 1;
  p.streams.push_back(ProgramStream{0, SSM_ENGINE_VECTOR, {vec(), ssmsoc::signal_command(0, 1)}});
  p.streams.push_back(ProgramStream{0, SSM_ENGINE_MATRIX, {ssmsoc::wait_command(0, 2), dma()}});
  p.streams.back().commands[1].head.opcode = SSM_OP_GEMM;
  p.streams.push_back(ProgramStream{0, SSM_ENGINE_SCAN, {vec(), vec(), vec(), ssmsoc::signal_command(0, 1)}});
  p.streams.back().commands[0].head.opcode = p.streams.back().commands[1].head.opcode =
      p.streams.back().commands[2].head.opcode = SSM_OP_SCAN;
  FakeHal hal(p, 1, 8);
  EXPECT_EQ(hal.run(), kOk);
  // The GEMM (queue 1) follows the third scan's completion (queue 2).
  std::size_t last_scan = 0;
  for (std::size_t i = 0; i < hal.log.size(); ++i)
    if (hal.log[i] == "done 2 3") last_scan = i;
  EXPECT_GT(index_of(hal.log, "push 1 2"), last_scan);
}

// A pipeline of three streams on two tiles ordered by semaphores, with back-pressure
// (queue depth 2), as the compiler writes it: WAIT/SIGNAL commands around engine commands.
Program pipeline() {
  Program p;
  p.semaphores = 3;
  ProgramStream load{0, SSM_ENGINE_DMA, {}}, compute{0, SSM_ENGINE_VECTOR, {}}, store{1, SSM_ENGINE_DMA, {}};
  for (std::uint32_t step = 1; step <= 6; ++step) {
    if (step > 2) load.commands.push_back(ssmsoc::wait_command(1, step - 2));  // buffer freed
    load.commands.push_back(dma());
    load.commands.push_back(ssmsoc::signal_command(0));
    compute.commands.push_back(ssmsoc::wait_command(0, step));
    compute.commands.push_back(ssmsoc::wait_command(2, step > 1 ? step - 1 : 0));
    compute.commands.push_back(vec());
    compute.commands.push_back(ssmsoc::signal_command(1));
    store.commands.push_back(ssmsoc::wait_command(1, step));
    store.commands.push_back(dma());
    store.commands.push_back(ssmsoc::signal_command(2));
  }
  p.streams = {load, compute, store};
  return p;
}

TEST(FirmwareSyncPoints, RunExactlyAsTheWaitAndSignalCommandsTheyReplace) {
  const Program commands = pipeline();
  Program folded = commands;
  ASSERT_GT(ssmsoc::compiler::fold_sync_points(folded), 30u);
  FakeHal a(commands, 2, 2), b(folded, 2, 2);
  EXPECT_EQ(a.run(), kOk);
  EXPECT_EQ(b.run(), kOk);
  EXPECT_EQ(a.log, b.log);  // the same pushes and completions in the same order
  EXPECT_EQ(b.counters.dispatched, 18u);
  EXPECT_EQ(b.counters.signals, a.counters.signals);
  EXPECT_EQ(b.counters.signals, 18u);
}

TEST(FirmwareSyncPoints, ASignalWaitsForItsCommandAndAWaitHoldsItsCommand) {
  Program p;
  p.semaphores = 1;
  p.streams.push_back(ProgramStream{0, SSM_ENGINE_VECTOR, {vec(), vec()}});
  ssmsoc::set_sync_signal(p.streams[0].commands[1], {0, 1});
  p.streams.push_back(ProgramStream{0, SSM_ENGINE_DMA, {dma()}});
  ssmsoc::add_sync_wait(p.streams[1].commands[0], {0, 1});
  FakeHal hal(p, 1, 8);
  EXPECT_EQ(hal.run(), kOk);
  std::size_t second_done = 0;
  for (std::size_t i = 0; i < hal.log.size(); ++i)
    if (hal.log[i] == "done 3 5") second_done = i;
  EXPECT_GT(index_of(hal.log, "push 0 1"), second_done);
  EXPECT_EQ(hal.counters.signals, 1u);
  EXPECT_EQ(hal.counters.waits, 1u);
}

// A SIGNAL (a command or a sync point) holds only itself, not its stream: the commands after
// it go to the queue at once (an engine may run several of them, as a DMA with transfers in
// flight does), and the semaphore rises when the signalling command completes. A queue keeps
// kPendingSignals such signals; a stream with one more waits for the oldest.
TEST(FirmwareSyncPoints, AStreamGoesOnPastItsSignalsWhichComeAtTheirCommandsCompletion) {
  Program p;
  p.semaphores = 1;
  const std::uint32_t n = kPendingSignals + 2;
  p.streams.push_back(ProgramStream{0, SSM_ENGINE_DMA, std::vector<ssm_command>(n, dma())});
  for (ssm_command& c : p.streams[0].commands) ssmsoc::set_sync_signal(c, {0, 1});
  p.streams.push_back(ProgramStream{0, SSM_ENGINE_VECTOR, {ssmsoc::wait_command(0, 2), vec()}});
  FakeHal hal(p, 1, 16);
  EXPECT_EQ(hal.run(), kOk);
  // The first kPendingSignals DMAs go before any completes; the next waits for a free place.
  for (std::uint32_t i = 0; i < kPendingSignals; ++i) EXPECT_EQ(hal.log.at(i), "push 0 1") << i;
  EXPECT_EQ(hal.log.at(kPendingSignals), "done 0 1");
  EXPECT_EQ(hal.max_outstanding, kPendingSignals);
  // The vector command waits for two completions, not for the stream's last command.
  std::size_t second_dma_done = 0, done = 0;
  for (std::size_t i = 0; i < hal.log.size(); ++i)
    if (hal.log[i] == "done 0 1" && ++done == 2) second_dma_done = i;
  EXPECT_GT(index_of(hal.log, "push 3 5"), second_dma_done);
  EXPECT_EQ(hal.counters.signals, n);
  EXPECT_EQ(hal.queues_[0].completed, n);
}

TEST(FirmwareSyncPoints, AWaitOnAMissingSemaphoreIsABadCommand) {
  Program p;
  p.semaphores = 1;
  p.streams.push_back(ProgramStream{0, SSM_ENGINE_VECTOR, {vec()}});
  ssmsoc::add_sync_wait(p.streams[0].commands[0], {3, 1});
  FakeHal hal(p, 1, 2);
  EXPECT_EQ(hal.run(), kBadCommand);
}

TEST(FirmwareBackPressure, NeverOverfillsAQueue) {
  Program p;
  p.streams.push_back(ProgramStream{0, SSM_ENGINE_VECTOR, std::vector<ssm_command>(10, vec())});
  FakeHal hal(p, 1, 2);
  EXPECT_EQ(hal.run(), kOk);
  EXPECT_EQ(hal.max_outstanding, 2u);
  EXPECT_EQ(hal.queues_[3].completed, 10u);
  EXPECT_GE(hal.counters.wakeups, 5u);
}

TEST(FirmwareErrors, BadMagicIsReported) {
  Program p;
  FakeHal hal(p, 1, 2);
  hal.image_[0] = std::byte{0};
  EXPECT_EQ(hal.run(), kBadMagic);
  EXPECT_EQ(hal.done_status, kBadMagic);
}

TEST(FirmwareErrors, StreamOnAMissingTileIsReported) {
  Program p;
  p.streams.push_back(ProgramStream{5, SSM_ENGINE_VECTOR, {vec()}});
  FakeHal hal(p, 2, 2);
  EXPECT_EQ(hal.run(), kBadStream);
}

TEST(FirmwareErrors, DeadlockIsDetected) {
  Program p;
  p.semaphores = 1;
  p.streams.push_back(ProgramStream{0, SSM_ENGINE_VECTOR, {ssmsoc::wait_command(0, 1), vec()}});
  FakeHal hal(p, 1, 2);
  EXPECT_EQ(hal.run(), kDeadlock);
}

TEST(FirmwareErrors, TruncatedImageIsReported) {
  Program p;
  p.streams.push_back(ProgramStream{0, SSM_ENGINE_VECTOR, {vec()}});
  FakeHal hal(p, 1, 2);
  hal.image_.resize(hal.image_.size() - 8);
  EXPECT_NE(hal.run(), kOk);
}

}  // namespace
}  // namespace ssmfw
