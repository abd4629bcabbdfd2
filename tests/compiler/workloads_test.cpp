// Every shipped workload loads and compiles to Programs that validate against every profile.
#include <gtest/gtest.h>

#include <filesystem>

#include "compiler/compiler.hpp"
#include "tests/support.hpp"

namespace ssmsoc::compiler {
namespace {

std::vector<std::string> workload_files() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator("workloads/models"))
    if (e.path().extension() == ".yaml") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

class ShippedWorkload : public ::testing::TestWithParam<std::string> {};

TEST_P(ShippedWorkload, LoadsWithNameAndSource) {
  const ModelSpec m = load_model(GetParam());
  EXPECT_EQ(m.name, std::filesystem::path(GetParam()).stem().string());
  EXPECT_NE(m.source.find("huggingface.co"), std::string::npos);
  EXPECT_GT(parameter_count(m), 100'000'000);
}

// One profile per silicon family, plus the smallest native-scan chip when the model fits it;
// a GPU timed by its kernels (h100-class, mi300-class) gets kernels instead of Programs.
TEST_P(ShippedWorkload, CompilesToValidProgramsOnEachFamily) {
  const ModelSpec m = load_model(GetParam());
  Scenario s;
  s.prompt_tokens = 48;
  s.generate_tokens = 2;
  for (const char* name :
       {"krsna-mobile", "h100-class", "mi300-class", "xeon-amx-class", "hexagon-npu-class", "krsna-wear"}) {
    const Profile p = load_profile(name);
    if (parameter_count(m) * 2 > p.dram.capacity_bytes) continue;  // bad_ tests cover this
    const CompileResult r = compile(m, s, p);                      // validates each Program with the profile
    ASSERT_EQ(r.phases.size(), 3u) << p.name;
    for (const auto& phase : r.phases) {
      if (p.kernels) {
        EXPECT_FALSE(phase.launches.empty()) << p.name << " " << phase.name;
      } else {
        EXPECT_GT(phase.program.command_count(), 0u) << p.name << " " << phase.name;
      }
    }
  }
}

std::string workload_name(const ::testing::TestParamInfo<std::string>& param) {
  return test::param_name(
      ::testing::TestParamInfo<std::string>(std::filesystem::path(param.param).stem().string(), param.index));
}

INSTANTIATE_TEST_SUITE_P(Models, ShippedWorkload, ::testing::ValuesIn(workload_files()), workload_name);

TEST(ShippedScenarios, AllLoad) {
  for (const auto& e : std::filesystem::directory_iterator("workloads/scenarios")) {
    if (e.path().extension() != ".yaml") continue;  // serve/: serving scenarios (tests/host/serving_test.cpp)
    const Scenario s = load_scenario(e.path());
    EXPECT_EQ(s.name, e.path().stem().string());
  }
  EXPECT_EQ(load_scenario("workloads/scenarios/long-context.yaml").prompt_tokens, 2048);
}

// The Mamba-2.8B, 2,048-token scenario compiles on the default chip into a prefill chunk run
// once per chunk of the mapper's and one decode Program (its speed is a benchmark, not a test).
TEST(LongContext, Mamba28bCompilesIntoChunkedPrefillAndDecode) {
  const ModelSpec m = load_model("workloads/models/mamba-2.8b.yaml");
  const Scenario s = load_scenario("workloads/scenarios/long-context.yaml");
  const CompileResult r = compile(m, s, load_profile("krsna-mobile"));
  ASSERT_FALSE(r.phases.empty());
  EXPECT_EQ(r.phases.front().name, "prefill");
  EXPECT_EQ(r.phases.front().runs * r.phases.front().phase.tokens, 2048);
  EXPECT_GT(r.phases.front().runs, 1);
  EXPECT_EQ(r.phases.back().name, "decode");
}

}  // namespace
}  // namespace ssmsoc::compiler
