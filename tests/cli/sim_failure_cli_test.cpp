// Runs that fail in the simulated chip end with one line, however many engines fail at once.
#include <gtest/gtest.h>

#include "arch/spec/program.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

TEST(SimFailure, EnginesFailingTogetherGiveOneError) {
  // A scan whose 3 channels do not split into 2 B/C groups: the kernel refuses it while the
  // simulation runs, on two tiles in the same cycle.
  Program p;
  for (int tile = 0; tile < 2; ++tile) {
    p.buffers.push_back({"io" + std::to_string(tile), SSM_MEM_TILE_SRAM, SSM_BUF_SCRATCH, tile, 0, 512});
    const auto io = static_cast<std::uint16_t>(tile);
    ScanArgs scan;
    scan.channels = 3, scan.state = 4, scan.groups = 2;
    scan.x = ref(io, 0), scan.dt = ref(io, 64), scan.a = ref(io, 128), scan.b = ref(io, 192), scan.c = ref(io, 256);
    scan.out = ref(io, 320);
    p.streams.push_back({tile, SSM_ENGINE_SCAN, {scan_command(scan)}});
  }
  const auto path = (test::temp_dir() / "bad-groups.ssmp").string();
  write_program(path, p);
  const auto run = test::run_ssmsoc("sim " + path + " --profile krsna-dc --functional");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.out, "");
  ASSERT_FALSE(run.err.empty());
  EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << run.err;
  EXPECT_NE(run.err.find("groups"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("sc_stop"), std::string::npos) << run.err;
  EXPECT_EQ(test::run_ssmsoc("sim " + path + " --profile krsna-dc").status, 0);  // performance mode computes nothing
}

TEST(SimFailure, UnmodelledCommandsAreRefusedBeforeTheRun) {
  // A top-k returning indices is not computed in functional mode.
  Program p;
  p.buffers.push_back({"in", SSM_MEM_TILE_SRAM, SSM_BUF_SCRATCH, 0, 0, 4 * 64});
  p.buffers.push_back({"out", SSM_MEM_TILE_SRAM, SSM_BUF_SCRATCH, 0, 4096, 4 * 8});
  VectorArgs topk;
  topk.function = SSM_VEC_TOPK;
  topk.rows = 4, topk.cols = 16, topk.param1 = 2;
  topk.a = ref(0), topk.out = ref(1);
  p.streams.push_back({0, SSM_ENGINE_VECTOR, {vector_command(topk)}});
  const auto path = (test::temp_dir() / "topk.ssmp").string();
  write_program(path, p);
  const auto run = test::run_ssmsoc("sim " + path + " --profile krsna-dc --functional");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err, path + ": command 0 (stream 0, tile 0 vector): functional mode models top-k as a mask only " +
                         "(flag TOPK_MASK), not indices\n");
}

TEST(SimFailure, UnsupportedFunctionalModelWritesNothing) {
  const auto run =
      test::run_ssmsoc("run --functional --profile krsna-dc --model " + test::checkpoint_with_dt_clamp().string() +
                       " --input tests/data/models/mamba2/reference.safetensors --tensors-out " +
                       (test::temp_dir() / "never.safetensors").string());
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err, test::checkpoint_with_dt_clamp().string() +
                         ": --functional: a dt clamp (time_step_limit) is not supported yet\n");
  EXPECT_FALSE(std::filesystem::exists(test::temp_dir() / "never.safetensors"));
}

}  // namespace
}  // namespace ssmsoc
