// Every output of every command is written whole or not at all, and a failed write is one
// line naming the file and the system's reason, exit status 1, no "wrote" line
// (arch/spec/output_file.hpp). A full disk is a file-size limit (RLIMIT_FSIZE, with SIGXFSZ
// ignored so that the write fails with EFBIG) or /dev/full.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <nlohmann/json.hpp>
#include <regex>

#include "arch/spec/program.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

const std::string kSmall = "--profile krsna-mobile --model mamba-130m --prompt 64 --generate 4";
const std::string kKernelCase = "tests/data/kernels/ssd_basic.safetensors";

// `ssmsoc ARGS` with files limited to `limit_bytes` (a disk that fills up after that many).
test::CommandResult run_with_file_size_limit(const std::string& args, rlim_t limit_bytes) {
  const fs::path out = test::temp_dir() / "limited-stdout.txt", err = test::temp_dir() / "limited-stderr.txt";
  const std::string command = std::string(SSMSOC_SSMSOC_BINARY) + " " + args;
  const pid_t pid = fork();
  if (pid == 0) {
    const int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out_fd < 0 || err_fd < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(126);
    std::signal(SIGXFSZ, SIG_IGN);  // an ignored signal stays ignored across exec
    const rlimit limit{limit_bytes, limit_bytes};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(126);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, test::slurp(out), test::slurp(err)};
}

bool is_character_device(const char* path) {
  struct stat s {};
  return stat(path, &s) == 0 && S_ISCHR(s.st_mode);
}

// One line: "FILE: cannot write: REASON".
void expect_write_error(const test::CommandResult& run, const std::string& file, const std::string& reason) {
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err, file + ": cannot write: " + reason + "\n");
  EXPECT_EQ(run.out, "");  // nothing printed, no "wrote" line
}

TEST(OutputFiles, RunOnAFullDiskWritesNeitherSummaryNorStats) {
  const fs::path dir = test::fresh_folder("full-run");
  const auto run = run_with_file_size_limit("run " + kSmall + " --out " + dir.string(), 8192);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.out, "");
  // stats.json is the one past 8 KiB; summary.json, complete, is not put in place without it.
  EXPECT_EQ(run.err, (dir / "stats.json").string() + ": cannot write: File too large\n");
  EXPECT_EQ(test::entries(dir), std::vector<std::string>{});
  // The folders a failed run created for its outputs go too; an existing one stays.
  const auto nested = run_with_file_size_limit("run " + kSmall + " --out " + (dir / "new/run").string(), 8192);
  EXPECT_EQ(nested.status, 1);
  EXPECT_EQ(test::entries(dir), std::vector<std::string>{});

  const auto unlimited = test::run_ssmsoc("run " + kSmall + " --out " + dir.string());
  ASSERT_EQ(unlimited.status, 0) << unlimited.err;
  EXPECT_EQ(test::entries(dir), (std::vector<std::string>{"stats.json", "summary.json"}));
  EXPECT_LT(fs::file_size(dir / "summary.json"), 8192u);  // so the limit above cut stats.json
  EXPECT_TRUE(nlohmann::json::accept(test::slurp(dir / "stats.json")));
}

TEST(OutputFiles, KernelOnAFullDiskKeepsTheFileItWasToReplace) {
  const fs::path dir = test::fresh_folder("full-kernel");
  const fs::path out = dir / "out.safetensors";
  std::ofstream(out) << "the previous contents";
  const auto run = run_with_file_size_limit("kernel --in " + kKernelCase + " --out " + out.string(), 100);
  expect_write_error(run, out.string(), "File too large");
  EXPECT_EQ(test::slurp(out), "the previous contents");
  EXPECT_EQ(test::entries(dir), std::vector<std::string>{"out.safetensors"});
}

TEST(OutputFiles, GoldenOnAFullDiskWritesNothing) {
  const fs::path dir = test::fresh_folder("full-golden");
  const fs::path out = dir / "logits.safetensors";
  const auto run = run_with_file_size_limit(
      "golden --model tests/data/models/mamba2 --input "
      "tests/data/models/mamba2/reference.safetensors --out " +
          out.string(),
      1000);
  expect_write_error(run, out.string(), "File too large");
  EXPECT_EQ(test::entries(dir), std::vector<std::string>{});
}

TEST(OutputFiles, CompileWritesEveryProgramOrNone) {
  const fs::path whole = test::fresh_folder("compile-whole"), cut = test::fresh_folder("compile-cut");
  ASSERT_EQ(test::run_ssmsoc("compile " + kSmall + " --out " + whole.string()).status, 0);
  std::uintmax_t smallest = ~std::uintmax_t{0}, largest = 0;
  for (const auto& entry : fs::directory_iterator(whole)) {
    smallest = std::min(smallest, entry.file_size());
    largest = std::max(largest, entry.file_size());
  }
  ASSERT_GE(test::entries(whole).size(), 2u);
  ASSERT_LT(smallest, largest);
  // Room for the smallest Program but not the largest: none of them may appear.
  const auto run = run_with_file_size_limit("compile " + kSmall + " --out " + cut.string(), smallest);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.out, "");
  EXPECT_TRUE(
      std::regex_match(run.err, std::regex(cut.string() + "/[a-z_0-9]+\\.ssmp: cannot write: File too large\n")))
      << run.err;
  EXPECT_EQ(test::entries(cut), std::vector<std::string>{});
}

TEST(OutputFiles, AnOutputBelowARegularFileIsAOneLineError) {
  // Works as root too, where a folder's permissions do not stop writing.
  const fs::path dir = test::fresh_folder("below-file");
  const fs::path file = dir / "a-file";
  std::ofstream(file) << "x";
  const fs::path out = file / "out.safetensors";
  expect_write_error(test::run_ssmsoc("kernel --in " + kKernelCase + " --out " + out.string()), out.string(),
                     "Not a directory");
  const auto run = test::run_ssmsoc("run " + kSmall + " --out " + (file / "run").string());
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, (file / "run").string() + ": cannot create the folder: Not a directory\n");
  EXPECT_EQ(test::entries(dir), std::vector<std::string>{"a-file"});
}

TEST(OutputFiles, AFolderWithoutWritePermissionIsAOneLineError) {
  const fs::path dir = test::fresh_folder("read-only");
  fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec);
  if (access(dir.c_str(), W_OK) == 0) {  // root: permissions do not stop it (see the test above)
    fs::permissions(dir, fs::perms::owner_all);
    GTEST_SKIP() << "running as root";
  }
  const fs::path out = dir / "out.safetensors";
  const auto run = test::run_ssmsoc("kernel --in " + kKernelCase + " --out " + out.string());
  fs::permissions(dir, fs::perms::owner_all);
  expect_write_error(run, out.string(), "Permission denied");
  EXPECT_EQ(test::entries(dir), std::vector<std::string>{});
}

TEST(OutputFiles, ADeviceIsWrittenThroughNeverReplaced) {
  if (!is_character_device("/dev/full") || !is_character_device("/dev/null")) GTEST_SKIP() << "no /dev/full";
  expect_write_error(test::run_ssmsoc("kernel --in " + kKernelCase + " --out /dev/full"), "/dev/full",
                     "No space left on device");
  EXPECT_TRUE(is_character_device("/dev/full"));
  const auto to_null = test::run_ssmsoc("kernel --in " + kKernelCase + " --out /dev/null");
  EXPECT_EQ(to_null.status, 0) << to_null.err;
  EXPECT_TRUE(is_character_device("/dev/null"));
}

// Standard output is an output too: cut off by a full disk, the command fails.
TEST(OutputFiles, AFailedWriteToStandardOutputIsAnError) {
  if (!is_character_device("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const fs::path err = test::temp_dir() / "stdout-full-stderr.txt";
  const std::string command = std::string(SSMSOC_SSMSOC_BINARY) + " profile list >/dev/full 2>" + err.string();
  const int raw = std::system(command.c_str());
  EXPECT_TRUE(WIFEXITED(raw) && WEXITSTATUS(raw) == 1) << raw;
  EXPECT_EQ(test::slurp(err), "ssmsoc: cannot write to standard output\n");
  EXPECT_EQ(test::run_ssmsoc("profile list").status, 0);
}

TEST(OutputFiles, SimWritesTraceAndStatsTogether) {
  if (!is_character_device("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const fs::path programs = test::fresh_folder("sim-programs"), dir = test::fresh_folder("sim-outputs");
  ASSERT_EQ(test::run_ssmsoc("compile " + kSmall + " --out " + programs.string()).status, 0);
  const std::string sim = "sim " + (programs / "decode.ssmp").string() + " --profile krsna-mobile";
  const fs::path trace = dir / "trace.json", stats = dir / "stats.json";

  expect_write_error(test::run_ssmsoc(sim + " --trace " + trace.string() + " --stats /dev/full"), "/dev/full",
                     "No space left on device");
  EXPECT_EQ(test::entries(dir), std::vector<std::string>{});  // the trace, complete, is not put in place alone

  const auto limited =
      run_with_file_size_limit(sim + " --trace " + trace.string() + " --stats " + stats.string(), 4096);
  EXPECT_EQ(limited.status, 1);
  EXPECT_EQ(limited.out, "");
  EXPECT_TRUE(limited.err == trace.string() + ": cannot write: File too large\n" ||
              limited.err == stats.string() + ": cannot write: File too large\n")
      << limited.err;
  EXPECT_EQ(test::entries(dir), std::vector<std::string>{});

  const auto run = test::run_ssmsoc(sim + " --trace " + trace.string() + " --stats " + stats.string());
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(test::entries(dir), (std::vector<std::string>{"stats.json", "trace.json"}));
  EXPECT_TRUE(nlohmann::json::accept(test::slurp(trace)));
  EXPECT_TRUE(nlohmann::json::accept(test::slurp(stats)));
}

TEST(OutputFiles, RunTracesAppearOnlyWithTheOtherOutputs) {
  const fs::path traces = test::fresh_folder("run-traces"), dir = test::fresh_folder("run-blocked");
  std::ofstream(dir / "a-file") << "x";
  const fs::path out = dir / "a-file" / "run";
  const auto run =
      test::run_ssmsoc("run " + kSmall + " --trace " + (traces / "t.json").string() + " --out " + out.string());
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err, out.string() + ": cannot create the folder: Not a directory\n");
  EXPECT_EQ(test::entries(traces), std::vector<std::string>{});

  // A trace that cannot be written is named as the user named it, not by its temporary.
  const auto limited = run_with_file_size_limit("run " + kSmall + " --trace " + (traces / "t.json").string(), 1000);
  EXPECT_EQ(limited.status, 1);
  EXPECT_TRUE(std::regex_match(limited.err, std::regex(traces.string() + "/t\\.[a-z_0-9]+\\.json: cannot write: File "
                                                                         "too large\n")))
      << limited.err;
  EXPECT_EQ(test::entries(traces), std::vector<std::string>{});

  const auto whole = test::run_ssmsoc("run " + kSmall + " --trace " + (traces / "t.json").string());
  ASSERT_EQ(whole.status, 0) << whole.err;
  EXPECT_GE(test::entries(traces).size(), 2u);
  for (const auto& name : test::entries(traces)) EXPECT_EQ(name.front(), 't') << name;  // no temporaries left
}

TEST(OutputFiles, FunctionalRunWritesTensorsAndSummaryTogether) {
  const fs::path dir = test::fresh_folder("functional-outputs");
  std::ofstream(dir / "a-file") << "x";
  const fs::path tensors = dir / "logits.safetensors";
  const std::string model = "tests/data/models/mamba2";
  const auto run = test::run_ssmsoc("run --functional --profile krsna-dc --model " + model + " --input " + model +
                                    "/reference.safetensors --tensors-out " + tensors.string() + " --out " +
                                    (dir / "a-file/run").string());
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, (dir / "a-file/run").string() + ": cannot create the folder: Not a directory\n");
  EXPECT_EQ(test::entries(dir), std::vector<std::string>{"a-file"});
}

}  // namespace
}  // namespace ssmsoc
