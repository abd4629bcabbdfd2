// `ssmsoc sweep`: a run prints the tiers' agreement and the simulated front and writes its
// exports; a second run reuses every row; --status runs nothing; shards merge; a sweep killed
// mid-way and resumed ends with an uninterrupted run's rows; mpirun's ranks end with the
// single process's database; bad input is one line on stderr, exit 1, and no database.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
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
  // The tiers' agreement is kept with the front: the estimate's error on the simulated points.
  const auto& ttft = front["cost_model_vs_systemc"]["time_to_first_token"];
  EXPECT_GT(ttft["median_relative_error"].get<double>(), 0);
  EXPECT_LT(ttft["median_relative_error"].get<double>(), 0.2);
  // Energy is screened from the Programs' counted actions: within a few per cent.
  EXPECT_LT(front["cost_model_vs_systemc"]["tokens_per_joule"]["median_relative_error"].get<double>(), 0.05);
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

// Rows of a database so far, by `--status` (a second connection while the sweep writes).
int estimated_rows(const std::string& spec, const std::string& db) {
  const auto status = test::run_ssmsoc(fmt::format("sweep {} --db {} --status", spec, db));
  const auto at = status.out.find("estimated  ");
  return at == std::string::npos ? 0 : std::stoi(status.out.substr(at + 11));
}

TEST(SweepCommand, KilledMidwayAndResumedEndsWithTheUninterruptedRows) {
  const auto spec = test::write_file("cli-sweep-kill.yaml", R"(name: kill
base: krsna-wear
axes:
  - key: dram.bandwidth_gb_per_s
    range: {from: 4, to: 64, count: 8, scale: log}
  - key: clock_mhz
    values: [300, 400, 500]
workloads:
  - {model: mamba-130m, prompt: 32, generate: 3}
objectives: [time_to_first_token, decode_latency]
confirm: {sample: 2}
)");
  const fs::path dir = test::fresh_folder("sweep-kill");
  const std::string whole = (dir / "whole.db").string(), killed = (dir / "killed.db").string();
  ASSERT_EQ(
      test::run_ssmsoc(fmt::format("sweep {} --db {} --export {}", spec.string(), whole, (dir / "whole.json").string()))
          .status,
      0);
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);  // its workers with it, to kill them all
    const std::string command =
        fmt::format("{} sweep {} --db {} --jobs 1 >/dev/null 2>&1", SSMSOC_SSMSOC_BINARY, spec.string(), killed);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);
  int rows = 0;
  for (int tries = 0; tries < 2000 && rows < 3; ++tries) rows = estimated_rows(spec.string(), killed);
  kill(-pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) || rows == 24);
  const int before = estimated_rows(spec.string(), killed);
  EXPECT_GE(before, 3);
  EXPECT_LT(before, 24);  // killed before the screening ended
  const auto resumed = test::run_ssmsoc(
      fmt::format("sweep {} --db {} --export {}", spec.string(), killed, (dir / "resumed.json").string()));
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_NE(resumed.out.find(fmt::format("{} estimated", 24 - before)), std::string::npos) << resumed.out;
  EXPECT_EQ(test::slurp(dir / "resumed.json"), test::slurp(dir / "whole.json"));
}

TEST(SweepCommand, MpirunGivesTheSingleProcessDatabase) {
  const auto spec = test::write_file("cli-sweep-mpi.yaml", kSpec);
  const fs::path dir = test::fresh_folder("sweep-mpi");
  const auto single = test::run_ssmsoc(fmt::format("sweep {} --db {} --export {}", spec.string(),
                                                   (dir / "one.db").string(), (dir / "one.json").string()));
  ASSERT_EQ(single.status, 0) << single.err;
  // OpenMPI's runtime keeps allocations past MPI_Finalize: no leak report for the ranks under a
  // sanitized build (every other check stays on). Its shared-memory transport copies without
  // cross-process memory access, which containers often forbid.
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string asan_options = std::string(asan ? asan : "") + (asan ? ":" : "") + "detect_leaks=0";
  const std::string command = fmt::format(
      "timeout 300 mpirun --allow-run-as-root --oversubscribe --mca btl_vader_single_copy_mechanism none -np 4 "
      "-x ASAN_OPTIONS={} {} sweep {} --jobs 1 --db {} --export {} >{} 2>{}",
      asan_options, SSMSOC_SSMSOC_BINARY, spec.string(), (dir / "four.db").string(), (dir / "four.json").string(),
      (dir / "out.txt").string(), (dir / "err.txt").string());
  ASSERT_EQ(std::system(command.c_str()), 0) << test::slurp(dir / "err.txt");
  EXPECT_EQ(test::slurp(dir / "four.json"), test::slurp(dir / "one.json"));
  const std::string out = test::slurp(dir / "out.txt");
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), std::count(single.out.begin(), single.out.end(), '\n'))
      << out;  // rank 0 alone prints
  EXPECT_NE(out.find("sweep cli: 4 points; 4 estimated"), std::string::npos) << out;
  // The ranks' part files are merged and gone.
  for (const std::string& name : test::entries(dir)) EXPECT_EQ(name.find(".rank"), std::string::npos) << name;
}

}  // namespace
}  // namespace ssmsoc
