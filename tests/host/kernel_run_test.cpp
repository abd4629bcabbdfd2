// A whole run on a GPU profile timed by its kernels (h100-class): kernels instead of
// Programs, the same figures twice, and a decode step that streams the weights once.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/profile.hpp"
#include "compiler/compiler.hpp"
#include "host/performance_run.hpp"
#include "sim/kernel_model.hpp"
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

// The state's width between tokens (kernels.state_bits) sets a state update's bytes; with units
// in the memory (kernels.pim) the state stays there: only the token's operands cross the bus,
// and the units stream the state at their rate. Random batches of a Mamba-2 model.
TEST(KernelRun, StateBitsSizeTheStateTrafficAndMemoryUnitsKeepItOffTheBus) {
  const compiler::ModelSpec model = compiler::load_model("workloads/models/mamba2-130m.yaml");
  const Profile gpu = load_profile("a100-80gb"), pimba = load_profile("pimba-a100");
  ASSERT_EQ(gpu.kernels->state_bits, 16);
  ASSERT_TRUE(pimba.kernels->pim.has_value());
  Profile gpu32 = gpu;
  gpu32.kernels->state_bits = 32;
  const PimUnits& u = *pimba.kernels->pim;
  std::mt19937 rng(11);
  for (int trial = 0; trial < 4; ++trial) {
    compiler::Scenario s;
    s.prompt_tokens = 16;
    s.generate_tokens = 4;
    s.batch = 1 + int(rng() % 64);
    std::vector<double> bound_bytes;  // the decode step's compulsory DRAM bytes on each
    auto updates = [&](const Profile& p) {
      std::vector<KernelCall> out;
      const auto r = compiler::compile(model, s, p);
      for (const KernelCall& k : r.phases.back().launches)
        if (k.kind == KernelKind::state_update) out.push_back(k);
      bound_bytes.push_back(double(r.phases.back().bound.dram_bytes));
      return out;
    };
    const auto a = updates(gpu), b = updates(gpu32), c = updates(pimba);
    // The bound counts the states as the kernels move them: 24 layers' states, read and written.
    const double all_states = double(s.batch) * 24 * 24 * 64 * 128;
    EXPECT_NEAR(bound_bytes[1] - bound_bytes[0], all_states * 2 * 2, 64);
    EXPECT_NEAR(bound_bytes[0] - bound_bytes[2], all_states * 2 * 2, 64);
    ASSERT_EQ(a.size(), 24u);  // one a layer
    ASSERT_EQ(b.size(), a.size());
    ASSERT_EQ(c.size(), a.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      const double state_elements = double(a[i].channels) * double(a[i].state);  // sessions x heads x head_dim x N
      EXPECT_EQ(state_elements, double(s.batch) * 24 * 64 * 128);
      // float32 against FP16, read and written: 4 bytes an element more.
      EXPECT_DOUBLE_EQ(b[i].bytes - a[i].bytes, state_elements * 4);
      // In the memory: the operands alone on the bus, the state read by the units at MX8's width.
      EXPECT_DOUBLE_EQ(a[i].bytes - c[i].bytes, state_elements * 2 * 2);
      EXPECT_DOUBLE_EQ(c[i].memory_bytes, state_elements * 9 / 8);
      const double units_s = c[i].memory_bytes / (u.units * u.clock_mhz * 1e6 * u.bytes_per_cycle * u.efficiency.value);
      EXPECT_GE(sim::kernel_seconds(pimba, c[i]), units_s);
      EXPECT_LT(sim::kernel_seconds(pimba, c[i]), sim::kernel_seconds(gpu, a[i]));
    }
  }
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
