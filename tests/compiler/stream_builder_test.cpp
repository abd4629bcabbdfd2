// The codegen's stream builder: WAITs and SIGNALs folded into the engine commands' sync points.
#include "compiler/stream_builder.hpp"

#include <gtest/gtest.h>

#include "tests/sample_program.hpp"

namespace ssmsoc::compiler {
namespace {

TEST(StreamBuilder, FoldWaitsIntoTheNextCommandAndSignalsIntoThePrevious) {
  Program p = test::sample_program();
  ASSERT_EQ(fold_sync_points(p), 4u);  // dma: signal; matrix: wait and signal; vector: wait
  ASSERT_EQ(p.command_count(), 4u);
  const ssm_command& dma = p.streams[0].commands[0];
  EXPECT_EQ(dma.head.sync, SSM_SYNC_SIGNAL);
  EXPECT_EQ(sync_signal(dma), (SyncPoint{0, 1}));
  const ssm_command& gemm = p.streams[1].commands[0];
  EXPECT_EQ(gemm.head.opcode, SSM_OP_GEMM);
  EXPECT_EQ(gemm.head.sync, SSM_SYNC_WAIT0 | SSM_SYNC_SIGNAL);
  EXPECT_EQ(sync_wait(gemm, 0), (SyncPoint{0, 1}));
  EXPECT_EQ(sync_signal(gemm), (SyncPoint{1, 1}));
  EXPECT_EQ(p.streams[2].commands[0].head.sync, SSM_SYNC_WAIT0);
  EXPECT_EQ(p.streams[3].commands[0].head.sync, 0);
  EXPECT_NO_THROW(decode_program(encode_program(p), "p.ssmp"));
  const std::string listing = program_listing(p);
  EXPECT_NE(listing.find("0001  gemm.bf16 m=16 n=32 k=64 a=x b=w_tile c=y b^T | wait sem 0 >= 1 | signal sem 1 += 1"),
            std::string::npos)
      << listing;
}

TEST(StreamBuilder, KeepsWhatCannotFoldAndDropsWaitsAlreadyPassed) {
  Program p;
  p.buffers = {{"x", SSM_MEM_TILE_SRAM, SSM_BUF_ACTIVATIONS, 0, 0, 4096}};
  p.semaphores = 4;
  VectorArgs relu;
  relu.function = SSM_VEC_RELU;
  relu.rows = 1, relu.cols = 4, relu.a = ref(0), relu.out = ref(0);
  const ssm_command v = vector_command(relu);
  // Three waits before one command (two fit), a wait implied by an earlier one, two
  // signals in a row (one fits), a signal with no command before it, a trailing wait.
  p.streams.push_back(ProgramStream{0,
                                    SSM_ENGINE_VECTOR,
                                    {signal_command(3), wait_command(0, 2), wait_command(1, 1), wait_command(2, 1), v,
                                     signal_command(0), signal_command(1), wait_command(0, 1), v, wait_command(3, 5)}});
  EXPECT_EQ(fold_sync_points(p), 4u);
  const auto& c = p.streams[0].commands;
  ASSERT_EQ(c.size(), 6u);
  EXPECT_EQ(c[0].head.opcode, SSM_OP_SIGNAL);
  EXPECT_EQ(c[1].head.opcode, SSM_OP_WAIT);  // the first of the three waits stays a command
  EXPECT_EQ(c[1].sync.semaphore, 0u);
  EXPECT_EQ(c[2].head.sync, SSM_SYNC_WAIT0 | SSM_SYNC_WAIT1 | SSM_SYNC_SIGNAL);
  EXPECT_EQ(sync_wait(c[2], 0), (SyncPoint{1, 1}));
  EXPECT_EQ(sync_wait(c[2], 1), (SyncPoint{2, 1}));
  EXPECT_EQ(sync_signal(c[2]), (SyncPoint{0, 1}));
  EXPECT_EQ(c[3].head.opcode, SSM_OP_SIGNAL);
  EXPECT_EQ(c[3].sync.semaphore, 1u);
  EXPECT_EQ(c[4].head.sync, 0);  // "sem 0 >= 1" was implied by "sem 0 >= 2"
  EXPECT_EQ(c[5].head.opcode, SSM_OP_WAIT);
  EXPECT_EQ(c[5].sync.value, 5u);
}

TEST(StreamBuilder, TagsFollowTheirCommandsAndFoldedWaitsKeepTheirs) {
  VectorArgs relu;
  relu.function = SSM_VEC_RELU;
  relu.rows = 1, relu.cols = 4, relu.a = ref(0), relu.out = ref(0);
  StreamBuilder b;
  b.set_tag(7);
  b.push_back(wait_command(0, 1));
  b.push_back(wait_command(1, 1));
  b.set_tag(8);
  b.push_back(wait_command(2, 1));  // a third wait: the first stays a command, with tag 7
  b.push_back(vector_command(relu));
  b.push_back(signal_command(0));
  b.set_tag(9);
  b.push_back(wait_command(3, 1));  // trailing: left as a command
  std::vector<std::uint32_t> tags;
  const std::vector<ssm_command> c = b.take(&tags);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].head.opcode, SSM_OP_WAIT);
  EXPECT_EQ(c[1].head.sync, SSM_SYNC_WAIT0 | SSM_SYNC_WAIT1 | SSM_SYNC_SIGNAL);
  EXPECT_EQ(c[2].head.opcode, SSM_OP_WAIT);
  EXPECT_EQ(tags, (std::vector<std::uint32_t>{7, 8, 9}));
  EXPECT_TRUE(b.empty());
}

TEST(StreamBuilder, WithoutFoldingKeepsEveryCommand) {
  Program p = test::sample_program();
  const std::size_t commands = p.command_count();
  for (ProgramStream& s : p.streams) {
    StreamBuilder b(false);
    for (const ssm_command& c : s.commands) b.push_back(c);
    EXPECT_EQ(b.size(), s.commands.size());
    s.commands = b.take();
    EXPECT_EQ(b.removed(), 0u);
  }
  EXPECT_EQ(p.command_count(), commands);
}

}  // namespace
}  // namespace ssmsoc::compiler
