// `ssmsoc sweep`: a run prints the tiers' agreement and the simulated front and writes its
// exports; a second run reuses every row; --status runs nothing; shards merge; bad input is
// one line on stderr, exit 1, and no database.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>

#include "tests/support.hpp"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

const char* const kSpec = R"(name: cli
base: krsna-wear
axes:
  - key: dram.bandwidth_gb_per_s
    values: [8, 32]
  - key: dram.capacity_bytes
    values: [64 MiB, 2 GiB]
workloads:
  - {model: mamba-130m, prompt: 32, generate: 3}
objectives: [time_to_first_token, tokens_per_joule]
)";

TEST(SweepCommand, RunsResumesExportsAndMerges) {
  const auto spec = test::write_file("cli-sweep.yaml", kSpec);
  const fs::path dir = test::fresh_folder("sweep-cli");
  const std::string db = (dir / "s.db").string();
  const auto run = test::run_ssmsoc(fmt::format("sweep {} --db {} --jobs 2 --export {} --pareto {}", spec.string(), db,
                                                (dir / "rows.csv").string(), (dir / "front.json").string()));
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("sweep cli: 4 points; 4 estimated"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("estimated  4 of 4 rows (4 points x 1 workloads), 2 failed"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("Pareto front of the simulated points"), std::string::npos);
  const std::string csv = test::slurp(dir / "rows.csv");
  EXPECT_EQ(csv.rfind("tier,point,workload,values,time_to_first_token,", 0), 0u);
  EXPECT_NE(csv.find("dram.capacity_bytes"), std::string::npos);  // the failed points' error
  const auto front = nlohmann::json::parse(test::slurp(dir / "front.json"));
  ASSERT_FALSE(front["front"].empty());
  for (const auto& p : front["front"]) {
    EXPECT_EQ(p["values"]["dram.capacity_bytes"], "2 GiB");  // the failed points are on no front
    EXPECT_GT(p["objectives"]["tokens_per_joule"].get<double>(), 0);
  }

  const auto again = test::run_ssmsoc(fmt::format("sweep {} --db {}", spec.string(), db));
  EXPECT_NE(again.out.find("0 estimated and 0 simulated now"), std::string::npos) << again.out;
  const auto status = test::run_ssmsoc(fmt::format("sweep {} --db {} --status", spec.string(), db));
  EXPECT_EQ(status.status, 0);
  EXPECT_EQ(status.out.find("now,"), std::string::npos);
  EXPECT_NE(status.out.find("estimated  4 of 4 rows"), std::string::npos);

  for (int k = 0; k < 2; ++k)
    ASSERT_EQ(test::run_ssmsoc(fmt::format("sweep {} --db {} --shard {}/2", spec.string(),
                                           (dir / fmt::format("k{}.db", k)).string(), k))
                  .status,
              0);
  const auto merged =
      test::run_ssmsoc(fmt::format("sweep {} --db {} --merge {} {}", spec.string(), (dir / "m.db").string(),
                                   (dir / "k0.db").string(), (dir / "k1.db").string()));
  EXPECT_NE(merged.out.find("estimated  4 of 4 rows"), std::string::npos) << merged.out;
}

TEST(SweepCommand, BadInputIsOneLineAndNoDatabase) {
  const fs::path dir = test::fresh_folder("sweep-cli-bad");
  const auto good = test::write_file("cli-sweep-good.yaml", kSpec);
  std::string text = kSpec;
  text.replace(text.find("capacity_bytes"), 14, "capacity_byte");
  const auto bad = test::write_file("cli-sweep-bad.yaml", text);
  for (const std::string& args :
       {fmt::format("sweep {} --db {}", bad.string(), (dir / "x.db").string()),
        fmt::format("sweep {} --db {} --shard 2/2", good.string(), (dir / "x.db").string()),
        fmt::format("sweep {} --db {} --export {}", good.string(), (dir / "x.db").string(), (dir / "x.txt").string()),
        fmt::format("sweep {} --db {} --merge {}", good.string(), (dir / "x.db").string(),
                    (dir / "missing.db").string())}) {
    const auto run = test::run_ssmsoc(args);
    EXPECT_EQ(run.status, 1) << args;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
    EXPECT_TRUE(test::entries(dir).empty()) << args;
  }
  EXPECT_NE(test::run_ssmsoc(fmt::format("sweep {} --db {}", bad.string(), (dir / "x.db").string()))
                .err.find("cli-sweep-bad.yaml:6:10: dram.capacity_byte: unknown key"),
            std::string::npos);
}

}  // namespace
}  // namespace ssmsoc
