// Every file in tests/data/profiles/bad is a broken profile whose first line says the
// exact one-line error loading it must give ("# error: ..."; {profile_dir} stands for the
// shipped profile directory). Paths are relative to the source root, the tests' working
// directory.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/profile.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

const fs::path kBadDir = "tests/data/profiles/bad";

std::vector<std::string> bad_profile_names() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kBadDir))
    if (entry.path().extension() == ".yaml") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string expected_error(const fs::path& file) {
  std::ifstream in(file);
  std::string first_line;
  std::getline(in, first_line);
  const std::string marker = "# error: ";
  EXPECT_EQ(first_line.rfind(marker, 0), 0u) << file << " must start with '" << marker << "'";
  std::string expected = first_line.substr(std::min(marker.size(), first_line.size()));
  const std::string placeholder = "{profile_dir}";
  if (auto at = expected.find(placeholder); at != std::string::npos)
    expected.replace(at, placeholder.size(), profile_directory().string());
  return expected;
}

class BadProfile : public ::testing::TestWithParam<std::string> {};

TEST_P(BadProfile, IsRejectedWithItsOneLineError) {
  const fs::path file = kBadDir / (GetParam() + ".yaml");
  const std::string expected = expected_error(file);
  try {
    load_profile(file.string());
    FAIL() << file << " loaded, but should fail with: " << expected;
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), expected);
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(AllKinds, BadProfile, ::testing::ValuesIn(bad_profile_names()), test::param_name);

TEST(BadProfileSet, CoversEveryKindOfMistake) {
  // One file at least per kind the loader must reject.
  const auto names = bad_profile_names();
  for (const char* kind :
       {"syntax-error", "wrong-type-integer", "wrong-type-mapping", "unknown-key-top", "unknown-key-nested",
        "out-of-range-zero", "out-of-range-negative-energy", "cross-banks-divide", "cross-tiles-exceed-grid",
        "missing-base", "loop-a", "loop-self", "duplicate-key", "missing-description", "syntax-alias-bomb",
        "syntax-invalid-unicode", "syntax-overlong-unicode", "syntax-surrogate-unicode"})
    EXPECT_NE(std::find(names.begin(), names.end(), kind), names.end()) << kind;
}

// A profile of many keys must fail on its first unknown key in linear time (the duplicate-key
// check once made 40k keys take 2.3 s and 800k keys minutes).
TEST(BadProfileSize, bad_many_unknown_keys_fail_fast_on_the_first) {
  std::string text = "description: many keys\n";
  for (int i = 0; i < 200000; ++i) text += "key" + std::to_string(i) + ": 1\n";
  const fs::path file = test::write_file("many-keys.yaml", text);
  try {
    load_profile(file.string());
    FAIL() << "a profile of unknown keys loaded";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(file.string() + ":2:1: key0: unknown key", 0), 0u) << e.what();
  }
}

TEST(BadProfileSize, bad_file_over_the_cap_is_refused_before_parsing) {
  const std::string text = "description: big\n# " + std::string(kMaxConfigFileBytes, 'x') + "\n";
  const fs::path file = test::write_file("big.yaml", text);
  try {
    load_profile(file.string());
    FAIL() << "a profile over the size cap loaded";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), fmt::format("{}: the file has {} bytes; a configuration file may have at most "
                                                 "4194304 (4 MiB)",
                                                 file.string(), text.size()));
  }
}

}  // namespace
}  // namespace ssmsoc
