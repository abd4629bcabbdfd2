// The ssmsoc binary as a user runs it: exit status, stdout and stderr.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "tests/support.hpp"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".yaml") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(ProfileListCommand, PrintsOneRowPerShippedProfile) {
  const test::CommandResult run = test::run_ssmsoc("profile list");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.err, "");
  const auto names = files_in("arch/profiles");
  std::istringstream lines(run.out);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line.rfind("NAME", 0), 0u);
  for (const auto& name : names) {
    ASSERT_TRUE(std::getline(lines, line));
    EXPECT_EQ(line.rfind(name + " ", 0), 0u) << line;
  }
  EXPECT_FALSE(std::getline(lines, line)) << "unexpected row: " << line;
}

TEST(ProfileListCommand, JsonListsDerivedFigures) {
  const test::CommandResult run = test::run_ssmsoc("profile list --json");
  ASSERT_EQ(run.status, 0) << run.err;
  const auto list = nlohmann::json::parse(run.out);
  ASSERT_EQ(list.size(), files_in("arch/profiles").size());
  for (const auto& entry : list) {
    EXPECT_TRUE(entry.contains("description"));
    EXPECT_GT(entry["derived"]["dram_bytes_per_s"].get<double>(), 0) << entry["name"];
  }
}

TEST(ProfileShowCommand, JsonHoldsTheResolvedProfileAndDerivedFigures) {
  const test::CommandResult run = test::run_ssmsoc("profile show tests/data/profiles/good/tiny-lanes16.yaml --json");
  ASSERT_EQ(run.status, 0) << run.err;
  const auto shown = nlohmann::json::parse(run.out);
  EXPECT_EQ(shown["name"], "tiny-lanes16");
  EXPECT_EQ(shown["bases"], nlohmann::json::array({"tiny"}));
  EXPECT_EQ(shown["profile"]["tile"]["scan"]["lanes"], 16);
  EXPECT_EQ(shown["profile"]["tile"]["sram"]["size_bytes"], 65536);
  EXPECT_DOUBLE_EQ(shown["derived"]["peak_scan_steps_per_s"].get<double>(), 6 * 16 * 800e6);
  EXPECT_DOUBLE_EQ(shown["derived"]["matrix"]["int8"]["ridge_flop_per_byte"].get<double>(), 96);
}

TEST(ProfileShowCommand, TextShowsDerivedFiguresWithUnits) {
  const test::CommandResult run = test::run_ssmsoc("profile show krsna-mobile");
  ASSERT_EQ(run.status, 0) << run.err;
  // 16 tiles x 1024 int8 MAC/cycle x 1 GHz; 16 x 32 lanes x 1 GHz; LPDDR5 51.2 GB/s.
  EXPECT_NE(run.out.find("matrix int8                16.38 TMAC/s  32.77 TOP/s"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("scan unit                  512 G steps/s"), std::string::npos);
  EXPECT_NE(run.out.find("DRAM bandwidth             51.2 GB/s"), std::string::npos);
  EXPECT_NE(run.out.find("\nResolved profile\n"), std::string::npos);
}

TEST(ProfileShowCommand, OutputIsDeterministic) {
  EXPECT_EQ(test::run_ssmsoc("profile show h100-class --json").out,
            test::run_ssmsoc("profile show h100-class --json").out);
  EXPECT_EQ(test::run_ssmsoc("profile list").out, test::run_ssmsoc("profile list").out);
}

class BadProfileCommand : public ::testing::TestWithParam<std::string> {};

// Every broken profile: exit 1, nothing on stdout, one line on stderr that starts with
// FILE:LINE:COLUMN.
TEST_P(BadProfileCommand, ExitsNonZeroWithOneLocatedLine) {
  const std::string file = "tests/data/profiles/bad/" + GetParam() + ".yaml";
  for (const std::string flags : {"", " --json"}) {
    const test::CommandResult run = test::run_ssmsoc("profile show " + file + flags);
    EXPECT_EQ(run.status, 1);
    EXPECT_EQ(run.out, "");
    ASSERT_FALSE(run.err.empty());
    EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << run.err;
    EXPECT_TRUE(std::regex_search(run.err, std::regex(R"(^tests/data/profiles/[a-z/.-]+\.yaml:\d+:\d+: )"))) << run.err;
  }
}

INSTANTIATE_TEST_SUITE_P(AllKinds, BadProfileCommand, ::testing::ValuesIn(files_in("tests/data/profiles/bad")),
                         test::param_name);

TEST(ProfileShowCommand, UnknownNameSuggestsAShippedProfile) {
  const test::CommandResult run = test::run_ssmsoc("profile show krsna-mobil");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.out, "");
  EXPECT_NE(run.err.find("no profile named 'krsna-mobil'"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("did you mean 'krsna-mobile'?"), std::string::npos) << run.err;
}

TEST(Usage, MissingArgumentIsAUsageError) {
  const test::CommandResult run = test::run_ssmsoc("profile show");
  EXPECT_EQ(run.status, 2);
  EXPECT_EQ(run.out, "");
  EXPECT_NE(run.err.find("profile is required"), std::string::npos) << run.err;
  EXPECT_EQ(test::run_ssmsoc("").status, 2);
  EXPECT_EQ(test::run_ssmsoc("profile frobnicate").status, 2);
}

TEST(Usage, HelpAndVersionSucceed) {
  const test::CommandResult help = test::run_ssmsoc("--help");
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("profile"), std::string::npos);
  const test::CommandResult version = test::run_ssmsoc("--version");
  EXPECT_EQ(version.status, 0);
  EXPECT_EQ(version.out, std::string(SSMSOC_VERSION) + "\n");
}

}  // namespace
}  // namespace ssmsoc
