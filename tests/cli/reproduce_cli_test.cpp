// `ssmsoc reproduce`: the shipped reproductions print a row per point and pass; a point outside
// its tolerance exits 1 with its row still printed and written; a bad spec is one line on
// stderr, exit 1, nothing written.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>

#include "tests/support.hpp"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

std::size_t count_of(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(ReproduceCommand, TheShippedReproductionsPrintARowPerPointAndPass) {
  const fs::path out = test::fresh_folder("reproduce-out");
  const auto run = test::run_ssmsoc("reproduce --out " + out.string());
  EXPECT_EQ(run.status, 0) << run.err;
  const auto json = nlohmann::json::parse(test::slurp(out / "reproduction.json"));
  const std::size_t points = json["points"].size();
  EXPECT_GE(points, 3u);
  EXPECT_EQ(count_of(run.out, "\n| "), points + 1);  // the rows after the header line
  EXPECT_NE(run.out.find(fmt::format("{} of {} points within their tolerance", points, points)), std::string::npos);
  for (const char* design : {"LightMamba", "FastMamba", "Pimba"}) EXPECT_NE(run.out.find(design), std::string::npos);
}

TEST(ReproduceCommand, APointOutsideItsToleranceExitsOneWithItsRowWritten) {
  // A paper claiming ten times what the chip does.
  const auto spec = test::write_file("far.yaml", R"(design: Far
paper: nobody
profile: krsna-mobile
points:
  - {name: p, model: mamba-130m, prompt: 8, generate: 3, measure: decode_tokens_per_s, paper: 100000, source: T1}
)");
  const fs::path out = test::fresh_folder("reproduce-far");
  const auto run = test::run_ssmsoc("reproduce " + spec.string() + " --out " + out.string());
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.out.find("outside ±25 %"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("0 of 1 points"), std::string::npos) << run.out;
  const auto json = nlohmann::json::parse(test::slurp(out / "reproduction.json"));
  EXPECT_FALSE(json["points"][0]["within"].get<bool>());
}

TEST(ReproduceCommand, ABadSpecIsOneLineAndWritesNothing) {
  const auto spec = test::write_file("bad.yaml",
                                     "design: x\npaper: y\nprofile: krsna-mobile\npoints:\n"
                                     "  - {name: p, model: mamba-130m, prompt: 8, generate: 3, "
                                     "measure: decode_tokens_per_s, paper: 1, source: T, speed: 3}\n");
  const fs::path out = test::fresh_folder("reproduce-bad");
  const auto run = test::run_ssmsoc("reproduce " + spec.string() + " --out " + out.string());
  EXPECT_EQ(run.status, 1);
  EXPECT_TRUE(run.out.empty());
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
  EXPECT_NE(run.err.find("bad.yaml:5:"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("speed"), std::string::npos) << run.err;
  EXPECT_TRUE(test::entries(out).empty());
  EXPECT_EQ(test::run_ssmsoc("reproduce no-such.yaml").status, 1);
}

}  // namespace
}  // namespace ssmsoc
