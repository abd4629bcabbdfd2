// The codegen's stream builder: WAITs and SIGNALs folded into the engine commands' sync points.
#include "compiler/stream_builder.hpp"

#include <gtest/gtest.h>

namespace ssmsoc::compiler {
namespace {

// One tile: weights DMAed in, a GEMM, a vector op and a scan, ordered by semaphores as the
// codegen writes them (WAIT and SIGNAL commands around the engine commands).
Program sample_program() {
  Program p;
  p.buffers = {{"w_in", SSM_MEM_DRAM, SSM_BUF_WEIGHTS, 0, 0, 64 * 32 * 2},
               {"x", SSM_MEM_TILE_SRAM, SSM_BUF_ACTIVATIONS, 0, 0, 16 * 64 * 4},
               {"w_tile", SSM_MEM_TILE_SRAM, SSM_BUF_WEIGHTS, 0, 0x1000, 64 * 32 * 2},
               {"y", SSM_MEM_TILE_SRAM, SSM_BUF_ACTIVATIONS, 0, 0x2000, 16 * 32 * 4},
               {"scan_io", SSM_MEM_TILE_SRAM, SSM_BUF_SCRATCH, 0, 0x4000, 4096}};
  p.semaphores = 2;
  ProgramStream dma{0, SSM_ENGINE_DMA, {}};
  dma.commands.push_back(dma_command({ref(0), ref(2), 64 * 2, 32}));
  dma.commands.push_back(signal_command(0));
  ProgramStream matrix{0, SSM_ENGINE_MATRIX, {}};
  matrix.commands.push_back(wait_command(0, 1));
  matrix.commands.push_back(
      gemm_command({ref(1), ref(2), ref(3), 16, 32, 64, 0, 0, 0, SSM_BF16, false, true}));  // y = x · w_tileᵀ
  matrix.commands.push_back(signal_command(1));
  ProgramStream vector{0, SSM_ENGINE_VECTOR, {}};
  vector.commands.push_back(wait_command(1, 1));
  VectorArgs silu;
  silu.function = SSM_VEC_SILU;
  silu.rows = 16, silu.cols = 32, silu.a = ref(3), silu.out = ref(3);
  vector.commands.push_back(vector_command(silu));
  ProgramStream scan{0, SSM_ENGINE_SCAN, {}};
  ScanArgs s;
  s.variant = SSM_SCAN_SELECTIVE;
  s.channels = 4, s.length = 8, s.state = 4;
  s.x = ref(4, 0), s.dt = ref(4, 128), s.a = ref(4, 256), s.b = ref(4, 320), s.c = ref(4, 448), s.out = ref(4, 576);
  s.softplus = true;
  scan.commands.push_back(scan_command(s));
  p.streams = {dma, matrix, vector, scan};
  return p;
}

TEST(StreamBuilder, FoldWaitsIntoTheNextCommandAndSignalsIntoThePrevious) {
  Program p = sample_program();
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
  Program p = sample_program();
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
