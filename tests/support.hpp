// Small helpers shared by the test suites.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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

// A fresh empty folder of the temporary directory for one test's outputs.
inline std::filesystem::path fresh_folder(const std::string& name) {
  const std::filesystem::path dir = temp_dir() / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Every entry of `dir` (temporaries included), by name, sorted.
inline std::vector<std::string> entries(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

inline std::filesystem::path write_file(const std::string& name, const std::string& text) {
  const auto file = temp_dir() / name;
  std::ofstream(file) << text;
  return file;
}

// A profile file: krsna-dc with 16 tiles of 128 KiB and a 64 KiB global buffer, where most
// activations live in DRAM, so GEMMs split by m or broadcast the weights.
inline std::filesystem::path small_dc_profile_file() {
  return write_file("dc-16-tiles.yaml", R"(base: krsna-dc
description: krsna-dc with 16 tiles of 128 KiB and a 64 KiB global buffer
tiles: {count: 16, grid: {rows: 4, cols: 4}}
tile: {sram: {size_bytes: 128 KiB}}
global_buffer: {size_bytes: 64 KiB}
)");
}

// The Mamba-2 test checkpoint (tests/data/models/mamba2) with a dt clamp (time_step_limit),
// which functional runs do not support: a folder in the temporary directory.
inline std::filesystem::path checkpoint_with_dt_clamp() {
  const auto dir = temp_dir() / "mamba2-dt-clamp";
  std::filesystem::create_directories(dir);
  const std::filesystem::path from = std::filesystem::path(SSMSOC_TEST_DATA_DIR) / "models" / "mamba2";
  std::filesystem::copy_file(from / "model.safetensors", dir / "model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(from / "config.json"));
  config["time_step_limit"] = {0.001, 0.1};
  const std::string text = config.dump(2);
  std::ofstream(dir / "config.json") << text;
  return dir;
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
