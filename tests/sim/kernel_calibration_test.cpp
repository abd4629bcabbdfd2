// sim::predict_measurements on a sample in tools/calibrate's layout (the medians invented):
// each record predicted by the kernel it times, eager against the launch gap and graph with
// the graph's gap, the records the model does not describe listed with their reason, and
// broken files rejected with the record and field named.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "arch/spec/config_tree.hpp"
#include "sim/kernel_calibration.hpp"
#include "sim/kernel_model.hpp"
#include "tests/support.hpp"

namespace ssmsoc::sim {
namespace {

const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new test::TempDirCleanup);

const std::filesystem::path kSample =
    std::filesystem::path(SSMSOC_TEST_DATA_DIR) / "calibration/sample-measurements.json";

TEST(KernelCalibration, EachRecordIsPredictedByTheKernelItTimes) {
  const Profile p = load_profile("h100-class");
  const KernelModel& km = *p.kernels;
  const std::vector<CalibrationRow> rows = predict_measurements(p, kSample);
  ASSERT_EQ(rows.size(), 12u);
  auto gemm = [](std::int64_t m, std::int64_t n, std::int64_t k, double bytes) {
    KernelCall g;
    g.kind = KernelKind::gemm;
    g.m = m, g.n = n, g.k = k;
    g.bytes = bytes;
    return g;
  };
  // A graph replay: the kernel and the graph's gap.
  EXPECT_DOUBLE_EQ(rows[0].predicted_us,
                   kernel_seconds(p, gemm(2048, 10576, 2560, 97325056)) * 1e6 + km.graph_gap_us.value);
  EXPECT_DOUBLE_EQ(rows[0].measured_us, 150);
  EXPECT_DOUBLE_EQ(rows[0].error(), rows[0].predicted_us / 150 - 1);
  EXPECT_EQ(rows[0].set, "calibration");
  // Eager: the kernel or the host's launch gap.
  EXPECT_DOUBLE_EQ(rows[1].predicted_us,
                   std::max(kernel_seconds(p, gemm(1, 10576, 2560, 54174272)) * 1e6, km.launch_gap_us.value));
  EXPECT_EQ(rows[1].set, "validation");
  KernelCall copy;
  copy.kind = KernelKind::memory;
  copy.bytes = 536870912;
  EXPECT_DOUBLE_EQ(rows[2].predicted_us, kernel_seconds(p, copy) * 1e6 + km.graph_gap_us.value);
  EXPECT_NE(rows[3].not_modelled.find("L2"), std::string::npos);  // an L2-warm buffer
  EXPECT_EQ(rows[3].predicted_us, 0);
  EXPECT_NE(rows[4].not_modelled.find("several"), std::string::npos);  // rmsnorm as torch ops
  EXPECT_TRUE(rows[5].not_modelled.empty());
  KernelCall attention;  // 32 heads x 64 causal blocks of 128 queries
  attention.kind = KernelKind::attention;
  attention.batch = 32, attention.length = 8192, attention.m = 0, attention.k = 64, attention.causal = true;
  attention.flops = 274877906944.0;
  attention.bytes = 83886080;
  EXPECT_DOUBLE_EQ(rows[6].predicted_us, kernel_seconds(p, attention) * 1e6 + km.graph_gap_us.value);
  KernelCall scan;
  scan.kind = KernelKind::selective_scan;
  scan.channels = 5120, scan.length = 2048, scan.state = 16;
  scan.bytes = 84017152;
  EXPECT_DOUBLE_EQ(rows[7].predicted_us, kernel_seconds(p, scan) * 1e6 + km.graph_gap_us.value);
  EXPECT_FALSE(rows[8].not_modelled.empty());  // a torch reference of many kernels
  // A one-element kernel launched eagerly: the launch gap.
  EXPECT_DOUBLE_EQ(rows[9].predicted_us, std::max(km.kernel_floor_us.value, km.launch_gap_us.value));
  EXPECT_FALSE(rows[10].not_modelled.empty());  // a host round trip
  // PyTorch's FlashAttention-2 backend: the model times the fastest backend (cuDNN's here).
  EXPECT_NE(rows[11].not_modelled.find("FlashAttention-2"), std::string::npos);
}

TEST(KernelCalibration, BrokenFilesAreRejectedWithTheRecordAndField) {
  const Profile p = load_profile("h100-class");
  const std::filesystem::path dir = test::fresh_folder("kernel-calibration");
  auto write = [&](const std::string& name, const std::string& text) {
    const std::filesystem::path f = dir / name;
    std::ofstream(f) << text;
    return f;
  };
  auto error_of = [&](const std::filesystem::path& f) {
    try {
      predict_measurements(p, f);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const auto not_json = write("not-json.json", "{\"measurements\": [");
  EXPECT_EQ(error_of(not_json).rfind(not_json.string() + ": not JSON", 0), 0u) << error_of(not_json);
  const auto no_list = write("no-list.json", "{\"header\": {}}");
  EXPECT_EQ(error_of(no_list), no_list.string() + ": expected an object with a list 'measurements'");
  const auto no_median =
      write("no-median.json", R"({"measurements": [{"suite": "launch", "op": "add_1elem", "launch": "eager"}]})");
  EXPECT_EQ(error_of(no_median), no_median.string() + ": measurements[0].median_us: missing");
  const auto no_m = write("no-m.json", R"({"measurements": [{"suite": "memory", "op": "copy_d2d", "launch": "graph",
      "median_us": 1, "bytes": 1, "shape": {"cache": "rotated"}},
      {"suite": "gemm", "op": "linear", "launch": "graph", "median_us": 1, "bytes": 1, "shape": {"N": 4, "K": 4}}]})");
  EXPECT_EQ(error_of(no_m), no_m.string() + ": measurements[1].shape.M: missing");
  const auto bad_launch = write("bad-launch.json", R"({"measurements": [{"suite": "launch", "op": "x",
      "launch": "sometimes", "median_us": 1}]})");
  EXPECT_EQ(error_of(bad_launch), bad_launch.string() + ": measurements[0].launch: expected eager, graph or host");
  // Attention: its keys include its queries, and `causal` is a boolean.
  const std::string attention = R"({"measurements": [{"suite": "attention", "op": "sdpa_prefill", "launch": "graph",
      "median_us": 1, "flops": 1, "bytes": 1, "shape": {"batch": 1, "heads": 8, "head_dim": 64, "backend": "cudnn", )";
  const auto few_keys = write("few-keys.json", attention + R"("q_len": 512, "kv_len": 256, "causal": true}}]})");
  EXPECT_EQ(
      error_of(few_keys),
      few_keys.string() + ": measurements[0].shape.kv_len: expected at least q_len (the keys include the queries')");
  const auto causal_text = write("causal-text.json", attention + R"("q_len": 512, "kv_len": 512, "causal": "yes"}}]})");
  EXPECT_EQ(error_of(causal_text), causal_text.string() + ": measurements[0].shape.causal: expected true or false");
  // A profile without kernels: has nothing to predict with.
  try {
    predict_measurements(load_profile("krsna-mobile"), kSample);
    FAIL() << "krsna-mobile has no kernels: section";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no kernels: section"), std::string::npos);
  }
}

}  // namespace
}  // namespace ssmsoc::sim
