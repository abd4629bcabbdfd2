// A whole run on a GPU profile timed by its kernels (h100-class): kernels instead of
// Programs, the same figures twice, and a decode step that streams the weights once.
#include <gtest/gtest.h>

#include <filesystem>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/profile.hpp"
#include "compiler/compiler.hpp"
#include "host/performance_run.hpp"
#include "tests/support.hpp"

namespace ssmsoc::host {
namespace {

TEST(KernelRun, ARunOnAKernelProfileHasNoProgramsAndStreamsTheWeightsInDecode) {
  const Profile profile = load_profile("h100-class");
  auto dram_s = [&](double bytes) {
    return bytes / (profile.dram.bandwidth_gb_per_s * 1e9 * profile.kernels->dram_efficiency.value);
  };
  compiler::Scenario s;
  s.prompt_tokens = 2048;
  s.generate_tokens = 16;
  const compiler::ModelSpec model = compiler::load_model("workloads/models/mamba2-2.7b.yaml");
  const PerformanceRun a = run_performance(model, s, profile);
  const PerformanceRun b = run_performance(model, s, profile);
  ASSERT_EQ(a.compiled.phases.front().name, "prefill");
  EXPECT_EQ(a.compiled.phases.front().phase.tokens, 2048);  // the prompt in one pass
  for (const auto& phase : a.compiled.phases) {
    EXPECT_TRUE(phase.program.streams.empty()) << phase.name;
    EXPECT_FALSE(phase.launches.empty()) << phase.name;
  }
  EXPECT_EQ(a.figures.time_to_first_token_s, b.figures.time_to_first_token_s);
  EXPECT_EQ(a.figures.decode_latency_s, b.figures.decode_latency_s);
  // Decode: at least the weights at the DRAM's efficiency, at most that at the GEMMs' (lower)
  // streaming efficiency plus a floor, a gap and a GEMM's overhead per kernel.
  const auto& decode = a.compiled.phases.back();
  ASSERT_EQ(decode.name, "decode");
  double bytes = 0;
  for (const KernelCall& k : decode.launches) bytes += k.bytes;
  const KernelModel& km = *profile.kernels;
  const double per_kernel = (km.kernel_floor_us.value + km.graph_gap_us.value + km.gemm_overhead_us.value) * 1e-6;
  EXPECT_GE(a.figures.decode_latency_s, dram_s(bytes));
  EXPECT_LE(a.figures.decode_latency_s, dram_s(bytes) * km.dram_efficiency.value / km.gemm_dram_efficiency.value +
                                            double(decode.launches.size()) * per_kernel);
  EXPECT_GT(bytes, 5.0e9);  // 2.7 G parameters in bf16
}

// A kernel-timed GPU draws no timeline: --trace is a one-line error, not an empty file.
TEST(KernelRun, ATraceOfAKernelProfileIsAnError) {
  compiler::Scenario s;
  s.prompt_tokens = 16;
  s.generate_tokens = 2;
  PerformanceOptions options;
  options.trace = test::temp_dir().string() + "/kernels.json";
  try {
    run_performance(compiler::load_model("workloads/models/mamba-130m.yaml"), s, load_profile("h100-class"), options);
    FAIL() << "a trace of h100-class was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "--trace: h100-class is timed by its kernels (kernels:), which draw no timeline");
  }
  EXPECT_FALSE(std::filesystem::exists(options.trace));
}

}  // namespace
}  // namespace ssmsoc::host
