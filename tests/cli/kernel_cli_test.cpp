// `ssmsoc kernel` as a user runs it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "arch/golden/safetensors.hpp"
#include "tests/reference.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

TEST(KernelCommand, WritesTheListedOutputsOfAReferenceCase) {
  const fs::path out = test::temp_dir() / "scan.safetensors";
  const auto run =
      test::run_ssmsoc("kernel --in tests/data/kernels/selective_scan_full.safetensors --out " + out.string());
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.out, "selective_scan (float): tests/data/kernels/selective_scan_full.safetensors -> " + out.string() +
                         " (last_state, out)\n");
  const SafetensorsFile produced = read_safetensors(out);
  const SafetensorsFile reference = read_safetensors("tests/data/kernels/selective_scan_full.safetensors");
  EXPECT_EQ(produced.metadata.at("kernel"), "selective_scan");
  ASSERT_EQ(produced.tensors.size(), 2u);
  const auto got = produced.tensors.at("out").to_f32(), want = reference.tensors.at("out").to_f32();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5 + 1e-4 * std::fabs(want[i])) << i;
}

class KernelCommandCase : public ::testing::TestWithParam<std::string> {};

// Every reference case through the command, at the reference data's tolerances.
TEST_P(KernelCommandCase, MatchesReference) {
  const std::string in = "tests/data/kernels/" + GetParam() + ".safetensors";
  const fs::path out = test::temp_dir() / (GetParam() + ".safetensors");
  const auto run = test::run_ssmsoc("kernel --in " + in + " --out " + out.string());
  ASSERT_EQ(run.status, 0) << run.err;
  test::expect_outputs_match(read_safetensors(in), read_safetensors(out), GetParam());
}

INSTANTIATE_TEST_SUITE_P(Reference, KernelCommandCase, ::testing::ValuesIn(test::kernel_case_names()),
                         test::param_name);

TEST(KernelCommand, OutputIsByteIdenticalAcrossRuns) {
  const fs::path a = test::temp_dir() / "a.safetensors", b = test::temp_dir() / "b.safetensors";
  const std::string in = "--in tests/data/kernels/ssd_groups_ragged_init.safetensors --flag chunk_size=5";
  ASSERT_EQ(test::run_ssmsoc("kernel " + in + " --out " + a.string()).status, 0);
  ASSERT_EQ(test::run_ssmsoc("kernel " + in + " --out " + b.string()).status, 0);
  EXPECT_EQ(test::slurp(a), test::slurp(b));
  EXPECT_FALSE(test::slurp(a).empty());
}

TEST(KernelCommand, BadInputExitsNonZeroAndWritesNothing) {
  const fs::path out = test::temp_dir() / "never.safetensors";
  const auto bad_flag = test::run_ssmsoc(
      "kernel --in tests/data/kernels/ssd_basic.safetensors --flag chunk_size=x --out " + out.string());
  EXPECT_EQ(bad_flag.status, 1);
  EXPECT_EQ(bad_flag.err,
            "tests/data/kernels/ssd_basic.safetensors: kernel ssd: flags: 'chunk_size' expected a "
            "number, got 'x'\n");
  EXPECT_FALSE(fs::exists(out));
  const fs::path not_safetensors = test::write_file("not.safetensors", "hello");
  const auto corrupt = test::run_ssmsoc("kernel --in " + not_safetensors.string() + " --out " + out.string());
  EXPECT_EQ(corrupt.status, 1);
  EXPECT_NE(corrupt.err.find(not_safetensors.string()), std::string::npos) << corrupt.err;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(test::run_ssmsoc("kernel --out " + out.string()).status, 2);  // --in is required
}

TEST(KernelCommand, FixedFormatRunsTheProfilesScanUnit) {
  const fs::path fixed_out = test::temp_dir() / "fixed.safetensors", float_out = test::temp_dir() / "float.safetensors";
  const std::string in = "kernel --in tests/data/kernels/selective_state_update_multistep.safetensors ";
  auto run = test::run_ssmsoc(in + "--format fixed --profile krsna-mobile --out " + fixed_out.string());
  ASSERT_EQ(run.status, 0) << run.err;
  ASSERT_EQ(test::run_ssmsoc(in + "--out " + float_out.string()).status, 0);
  const SafetensorsFile fixed = read_safetensors(fixed_out), exact = read_safetensors(float_out);
  EXPECT_EQ(fixed.metadata.at("format"), "fixed:krsna-mobile");
  EXPECT_EQ(exact.metadata.at("format"), "float");
  // Q7.15 data and Q9.22 state: close to the float result, but not equal to it.
  const auto a = fixed.tensors.at("out").to_f32(), b = exact.tensors.at("out").to_f32();
  EXPECT_NE(a, b);
  float peak = 0, worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    peak = std::max(peak, std::fabs(b[i]));
    worst = std::max(worst, std::fabs(a[i] - b[i]));
  }
  EXPECT_LT(worst, 0.1f * peak);
  // The fp32 unit of krsna-dc computes exactly what the golden kernels do.
  ASSERT_EQ(test::run_ssmsoc(in + "--format fixed --profile krsna-dc --out " + fixed_out.string()).status, 0);
  EXPECT_EQ(read_safetensors(fixed_out).tensors.at("out").to_f32(), b);
}

TEST(KernelCommand, FixedFormatNeedsAProfileWithAScanUnitAndAScanKernel) {
  const fs::path out = test::temp_dir() / "never.safetensors";
  auto run =
      test::run_ssmsoc("kernel --in tests/data/kernels/ssd_basic.safetensors --format fixed --out " + out.string());
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err, "--format fixed: needs --profile NAME|FILE (whose scan unit to run)\n");
  run = test::run_ssmsoc(
      "kernel --in tests/data/kernels/ssd_basic.safetensors --format fixed --profile h100-class --out " + out.string());
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err, "--profile h100-class: has no scan unit (gpu), so there is no bit-accurate kernel to run\n");
  run = test::run_ssmsoc("kernel --in tests/data/kernels/rmsnorm.safetensors --format fixed --profile krsna-dc --out " +
                         out.string());
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.err.find("kernel rmsnorm: has no bit-accurate version"), std::string::npos) << run.err;
  EXPECT_FALSE(fs::exists(out));
}

TEST(KernelCommand, ListsTheKernels) {
  const auto run = test::run_ssmsoc("kernel --list");
  EXPECT_EQ(run.status, 0);
  EXPECT_NE(run.out.find("selective_scan\n"), std::string::npos);
  EXPECT_NE(run.out.find("ssd_decode_multistep\n"), std::string::npos);
}

}  // namespace
}  // namespace ssmsoc

namespace ssmsoc {
namespace {

TEST(NumericsCommand, PrintsTheTableOfArchNumerics) {
  const auto run = test::run_ssmsoc("numerics");
  ASSERT_EQ(run.status, 0) << run.err;
  // The table in the doc is this command's output (a test of arch/ keeps the doc current).
  EXPECT_NE(test::slurp("arch/NUMERICS.md").find(run.out), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("| krsna-mobile | ssd |"), std::string::npos);
  const auto other = test::run_ssmsoc("numerics --seed 7");
  EXPECT_EQ(other.status, 0);
  EXPECT_NE(other.out, run.out);
}

}  // namespace
}  // namespace ssmsoc
