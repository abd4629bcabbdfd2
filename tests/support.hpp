// Small helpers shared by the test suites.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
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

}  // namespace ssmsoc::test
