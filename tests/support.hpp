// Small helpers shared by the test suites.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace ssmsoc::test {

// A GoogleTest name for a string parameter: "krsna-mobile" -> "krsna_mobile".
inline std::string param_name(const ::testing::TestParamInfo<std::string>& param) {
  std::string name = param.param;
  std::replace_if(
      name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return name;
}

// A fresh per-process temporary directory.
inline std::filesystem::path temp_dir() {
  const auto dir = std::filesystem::temp_directory_path() / ("ssmsoc-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

// Removes the temporary directory when the test program ends.
class TempDirCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(std::filesystem::temp_directory_path() / ("ssmsoc-test-" + std::to_string(getpid())),
                                ignored);
  }
};
inline const bool kTempDirCleanupRegistered = (::testing::AddGlobalTestEnvironment(new TempDirCleanup), true);

inline std::filesystem::path write_file(const std::string& name, const std::string& text) {
  const auto file = temp_dir() / name;
  std::ofstream(file) << text;
  return file;
}

inline std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct CommandResult {
  int status = -1;
  std::string out;
  std::string err;
};

#ifdef SSMSOC_SSMSOC_BINARY
// Runs `ssmsoc ARGS` (from the tests' working directory, the source root).
inline CommandResult run_ssmsoc(const std::string& args) {
  const auto out = temp_dir() / "stdout.txt";
  const auto err = temp_dir() / "stderr.txt";
  const std::string command =
      std::string(SSMSOC_SSMSOC_BINARY) + " " + args + " >" + out.string() + " 2>" + err.string();
  const int raw = std::system(command.c_str());
  return CommandResult{WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, slurp(out), slurp(err)};
}
#endif

}  // namespace ssmsoc::test
