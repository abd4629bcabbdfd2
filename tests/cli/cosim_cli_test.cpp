// `ssmsoc cosim` as a user runs it.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "arch/spec/profile.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

TEST(CosimCommand, GivesEveryShippedProfileAPassingRow) {
  const auto run = test::run_ssmsoc("cosim --cases 3");
  ASSERT_EQ(run.status, 0) << run.err << run.out;
  for (const auto& file : shipped_profile_files()) {
    const Profile p = load_profile_file(file);
    const std::string row_start = "\n" + p.name + " ";
    const auto at = run.out.find(row_start);
    ASSERT_NE(at, std::string::npos) << p.name << "\n" << run.out;
    const std::string row = run.out.substr(at + 1, run.out.find('\n', at + 1) - at - 1);
    if (p.tile.scan.present)
      EXPECT_NE(row.find("RTL scan unit vs bit-accurate kernels"), std::string::npos) << row;
    else
      EXPECT_NE(row.find("software "), std::string::npos) << row;
    EXPECT_EQ(row.find("MISMATCH"), std::string::npos) << row;
    EXPECT_EQ(row.find("BOUND"), std::string::npos) << row;
  }
}

TEST(CosimCommand, RunsOneProfileAndWritesATrace) {
  const auto dir = test::fresh_folder("cosim-trace");
  const auto trace = dir / "mobile.fst";
  const auto run = test::run_ssmsoc("cosim --profile krsna-mobile --cases 2 --trace " + trace.string());
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("krsna-mobile"), std::string::npos);
  EXPECT_EQ(run.out.find("krsna-wear"), std::string::npos);
  EXPECT_GT(std::filesystem::file_size(trace), 100u);
  // Written to a temporary and put in place whole: nothing else is left beside it.
  EXPECT_EQ(test::entries(dir), std::vector<std::string>{"mobile.fst"});
}

TEST(CosimCommand, ATraceThatCannotBeWrittenIsAOneLineError) {
  const auto trace = test::temp_dir() / "no-such-folder" / "mobile.fst";
  const auto run = test::run_ssmsoc("cosim --profile krsna-mobile --cases 1 --trace " + trace.string());
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, trace.string() + ": cannot write: No such file or directory\n");
}

TEST(CosimCommand, RejectsUnknownProfilesAndVcdTraces) {
  auto run = test::run_ssmsoc("cosim --profile krsna-mobil");
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.err.find("did you mean 'krsna-mobile'?"), std::string::npos) << run.err;
  run = test::run_ssmsoc("cosim --profile krsna-mobile --trace " + (test::temp_dir() / "x.vcd").string());
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.err.find("only FST traces (.fst) are supported"), std::string::npos) << run.err;
  run = test::run_ssmsoc("cosim --profile h100-class --trace " + (test::temp_dir() / "x.fst").string());
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err, "--trace: h100-class has no scan unit RTL to trace\n");
}

}  // namespace
}  // namespace ssmsoc
