// `ssmsoc disasm` as a user runs it.
#include <gtest/gtest.h>

#include "arch/spec/program.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

Program one_dma() {
  Program p;
  p.buffers = {{"src", SSM_MEM_DRAM, SSM_BUF_WEIGHTS, 0, 0, 4096},
               {"dst", SSM_MEM_TILE_SRAM, SSM_BUF_WEIGHTS, 3, 0, 4096}};
  p.streams = {{3, SSM_ENGINE_DMA, {dma_command({ref(0), ref(1), 4096, 1})}}};
  return p;
}

TEST(DisasmCommand, ListsAProgram) {
  const auto path = (test::temp_dir() / "one.ssmp").string();
  write_program(path, one_dma());
  const auto run = test::run_ssmsoc("disasm " + path);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.out, program_listing(one_dma()));
  EXPECT_NE(run.out.find("stream 0: tile 3 dma (1 commands)"), std::string::npos) << run.out;
}

TEST(DisasmCommand, ChecksTheProgramAgainstAProfile) {
  const auto path = (test::temp_dir() / "one.ssmp").string();
  write_program(path, one_dma());
  EXPECT_EQ(test::run_ssmsoc("disasm " + path + " --profile krsna-mobile").status, 0);
  const auto run = test::run_ssmsoc("disasm " + path + " --profile krsna-wear");  // tiles 0..3
  EXPECT_EQ(run.status, 0) << run.err;
  Program p = one_dma();
  p.buffers[1].tile = 7;
  p.streams[0].tile = 7;
  write_program(path, p);
  const auto bad = test::run_ssmsoc("disasm " + path + " --profile krsna-wear");
  EXPECT_EQ(bad.status, 1);
  EXPECT_EQ(bad.err, path + ": buffer 1 'dst': tile 7 does not exist (krsna-wear has 4 tiles)\n");
  EXPECT_EQ(bad.out, "");
}

TEST(DisasmCommand, RejectsAFileThatIsNotAProgram) {
  const auto path = test::write_file("junk.ssmp", std::string(100, 'x')).string();
  const auto run = test::run_ssmsoc("disasm " + path);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err.rfind(path + ": not an ssmsoc Program", 0), 0u) << run.err;
}

}  // namespace
}  // namespace ssmsoc
