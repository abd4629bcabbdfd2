// `ssmsoc sim`: the summary of a run, the trace and stats files, and one-line errors for
// malformed Programs and Programs that do not fit the profile.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/sim/sim_support.hpp"
#include "tests/support.hpp"

namespace ssmsoc::sim {
namespace {

std::string vector_program(int tile, ssm_precision gemm_precision = SSM_BF16, bool with_gemm = false) {
  test::ProgramBuilder b;
  const auto x = b.buffer("x", SSM_MEM_TILE_SRAM, 4 * 4096, tile);
  const auto y = b.buffer("y", SSM_MEM_TILE_SRAM, 4 * 4096, tile);
  b.add(tile, SSM_ENGINE_VECTOR,
        vector_command({.function = SSM_VEC_ADD, .rows = 1, .cols = 4096, .a = ref(x), .b = ref(x), .out = ref(y)}));
  if (with_gemm)
    b.add(tile, SSM_ENGINE_MATRIX,
          gemm_command({.a = ref(x), .b = ref(x), .c = ref(y), .m = 8, .n = 8, .k = 8, .precision = gemm_precision}));
  const auto file = test::temp_dir() / ("p" + std::to_string(tile) + std::to_string(int(with_gemm)) + ".ssmp");
  write_program(file.string(), b.program);
  return file.string();
}

bool one_line(const std::string& text) { return !text.empty() && text.find('\n') == text.size() - 1; }

TEST(SimCli, PrintsCyclesUtilizationAndEnergy) {
  const auto trace = test::temp_dir() / "cli_trace.json";
  const auto stats = test::temp_dir() / "cli_stats.json";
  const auto r = test::run_ssmsoc("sim " + vector_program(0) + " --profile krsna-mobile --trace " + trace.string() +
                                  " --stats " + stats.string());
  ASSERT_EQ(r.status, 0) << r.err;
  // 8 + 192 + 50: the add's 3 x 16 KiB of operands take 192 cycles of the 256 B/cycle SRAM
  // ports, longer than its 66 on the vector unit.
  EXPECT_NE(r.out.find("250 cycles"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tile 0   vector"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("energy.vector_op_pj"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dram: 0 bytes read"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(test::slurp(stats));
  EXPECT_EQ(j.at("cycles"), 250);
  EXPECT_EQ(j.at("tiles").at(0).at("engines").at("vector").at("busy_cycles"), 192);
  EXPECT_TRUE(nlohmann::json::accept(test::slurp(trace)));
}

TEST(SimCli, FunctionalModeGivesTheSameCycles) {
  const auto r = test::run_ssmsoc("sim " + vector_program(0) + " --profile krsna-mobile --functional");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("250 cycles"), std::string::npos) << r.out;
}

TEST(SimCli, MalformedProgramIsAOneLineError) {
  const auto file = test::write_file("garbage.ssmp", std::string(100, 'x'));
  const auto r = test::run_ssmsoc("sim " + file.string() + " --profile krsna-mobile");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(r.out.empty());
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("not an ssmsoc Program"), std::string::npos) << r.err;
}

TEST(SimCli, ProgramOnAMissingTileIsAOneLineError) {
  const auto r = test::run_ssmsoc("sim " + vector_program(20) + " --profile krsna-mobile");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("tile 20 does not exist"), std::string::npos) << r.err;
}

TEST(SimCli, PrecisionTheMatrixArrayLacksIsAOneLineError) {
  const auto r = test::run_ssmsoc("sim " + vector_program(0, SSM_FP32, true) + " --profile krsna-mobile");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(one_line(r.err)) << r.err;
  EXPECT_NE(r.err.find("has no fp32"), std::string::npos) << r.err;
}

TEST(SimCli, UnknownProfileIsAOneLineError) {
  const auto r = test::run_ssmsoc("sim " + vector_program(0) + " --profile krsna-nonexistent");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(one_line(r.err)) << r.err;
}

}  // namespace
}  // namespace ssmsoc::sim
