// Shared by the fuzz targets: the input as a file (the readers under test take paths), and
// the rule every target follows: an input error (ConfigError, one line) is the expected
// answer to a bad input; any other exception escapes to libFuzzer and is a finding.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace ssmsoc::fuzz {

// A directory of this process's own (fuzzing jobs may run side by side), removed by nobody:
// it holds one small file per target, overwritten by every input.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    auto path = std::filesystem::temp_directory_path() / ("ssmsoc-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(path);
    return path;
  }();
  return dir;
}

// Writes the input to scratch_dir()/name and returns that path.
inline std::filesystem::path input_file(const std::uint8_t* data, std::size_t size, const std::string& name) {
  auto path = scratch_dir() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

}  // namespace ssmsoc::fuzz
