// The incumbents' kernel models against published whole-model figures of the real chips
// (tools/calibrate/published/PROFILE.json, each record citing its source): the records a
// profile's figures were fitted to stay within 5 %, the others within the 25 % the profiles
// promise (sim/README.md, "Kernel model"). A change of the model or of a figure that moves a
// prediction out of its bound fails here.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "arch/spec/profile.hpp"
#include "compiler/compiler.hpp"
#include "host/performance_run.hpp"

namespace ssmsoc::host {
namespace {

namespace fs = std::filesystem;

TEST(PublishedFigures, EachIncumbentPredictsItsPublishedFiguresWithinBounds) {
  std::size_t checked = 0;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator("tools/calibrate/published"))
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    const Profile profile = load_profile(file.stem().string());
    for (const sim::CalibrationRow& r : predict_measurements(profile, file)) {
      SCOPED_TRACE(fmt::format("{}: {} {} {} ({})", profile.name, r.suite, r.op, r.shape, r.source));
      ASSERT_TRUE(r.not_modelled.empty()) << r.not_modelled;
      const double bound = r.set == "calibration" ? 0.05 : 0.25;
      EXPECT_LE(std::abs(r.error()), bound) << r.predicted_us << " us predicted, " << r.measured_us << " us measured";
      ++checked;
    }
  }
  EXPECT_EQ(files.size(), 4u);  // h100-class, hexagon-npu-class, mi300-class, xeon-amx-class
  EXPECT_GE(checked, 16u);
}

// The h100-class kernel model against the stored run of a real H100
// (tools/calibrate/results/h100-20261207.json; sim/README.md, "Kernel model", tabulates it):
// per suite and set, the median and the largest |error| of the records it predicts stay
// within the bounds written there, and every record it does not predict says why. A change
// of the model or of a figure that moves a suite out of its bounds fails here.
TEST(MeasuredH100, TheKernelModelPredictsTheStoredRunWithinItsBounds) {
  struct Bound {
    double median, largest;
    std::size_t at_least;
  };
  // suite/set -> bounds (the achieved figures, rounded up). The memory kernels' fixed time,
  // fitted with the kernels a deployment runs (norms, conv, state updates: 1.9-4.3 us), makes
  // torch's smallest element-wise kernels (1.2-1.7 us) up to 2.3 times as long as measured.
  const std::map<std::string, Bound> bounds = {
      {"gemm/calibration", {0.05, 0.24, 40}},        {"gemm/validation", {0.05, 0.24, 100}},
      {"memory/calibration", {0.22, 0.90, 10}},      {"memory/validation", {0.10, 0.20, 4}},
      {"elementwise/calibration", {0.25, 1.30, 30}}, {"ssm/calibration", {0.10, 0.25, 5}},
      {"launch/calibration", {0.05, 0.05, 1}},       {"attention/calibration", {0.05, 0.08, 8}},
      {"attention/validation", {0.10, 0.10, 4}}};
  const Profile profile = load_profile("h100-class");
  std::map<std::string, std::vector<double>> errors;
  std::size_t explained = 0;
  for (const sim::CalibrationRow& r : predict_measurements(profile, "tools/calibrate/results/h100-20261207.json")) {
    if (!r.not_modelled.empty()) {
      ++explained;
      continue;
    }
    if (r.launch != "graph") continue;  // eager: PyTorch's host time per op, kept for the launch gap
    errors[r.suite + "/" + r.set].push_back(std::abs(r.error()));
  }
  EXPECT_GE(explained, 40u);  // the scan's own Triton kernels, torch references, L2-resident buffers
  for (const auto& [key, bound] : bounds) {
    SCOPED_TRACE(key);
    std::vector<double> e = errors[key];
    ASSERT_GE(e.size(), bound.at_least);
    std::sort(e.begin(), e.end());
    EXPECT_LE(e[e.size() / 2], bound.median);
    EXPECT_LE(e.back(), bound.largest);
  }
}

// The GEMMs of the second H100 run (tools/calibrate/results/h100-gemm-20261208.json), replayed
// from graphs: the first run's shapes measured again, and 28 held-out projections (a model and
// layer the first run has not), each set within its own bounds (the achieved figures, rounded
// up). The held-out calibration records keep cuBLAS's small tiles on narrow, long-k GEMMs
// (falcon-mamba-7b x_proj, 42 % slower than predicted), which the fastest-tile rule misses.
TEST(MeasuredH100, TheGemmRerunAndTheHeldOutProjectionsArePredictedWithinTheirBounds) {
  struct Bound {
    double median, within_10_percent, largest;
    std::size_t records;
  };
  const std::map<std::string, Bound> bounds = {{"remeasured/calibration", {0.05, 0.80, 0.23, 47}},
                                               {"remeasured/validation", {0.05, 0.73, 0.23, 118}},
                                               {"held-out/calibration", {0.06, 0.77, 0.43, 165}},
                                               {"held-out/validation", {0.05, 0.83, 0.24, 165}}};
  const Profile profile = load_profile("h100-class");
  auto projection = [](const sim::CalibrationRow& r) {
    const nlohmann::json shape = nlohmann::json::parse(r.shape);
    return shape.value("model", std::string()) + "/" + shape.value("layer", std::string());
  };
  std::set<std::string> first_run;
  for (const sim::CalibrationRow& r : predict_measurements(profile, "tools/calibrate/results/h100-20261207.json"))
    if (r.suite == "gemm") first_run.insert(projection(r));
  std::map<std::string, std::vector<double>> errors;
  for (const sim::CalibrationRow& r :
       predict_measurements(profile, "tools/calibrate/results/h100-gemm-20261208.json")) {
    ASSERT_TRUE(r.not_modelled.empty()) << r.shape;
    if (r.launch != "graph") continue;
    errors[(first_run.count(projection(r)) ? "remeasured/" : "held-out/") + r.set].push_back(std::abs(r.error()));
  }
  for (const auto& [key, bound] : bounds) {
    SCOPED_TRACE(key);
    std::vector<double> e = errors[key];
    ASSERT_EQ(e.size(), bound.records);
    std::sort(e.begin(), e.end());
    EXPECT_LE(e[e.size() / 2], bound.median);
    EXPECT_GE(double(std::count_if(e.begin(), e.end(), [](double x) { return x <= 0.10; })) / double(e.size()),
              bound.within_10_percent);
    EXPECT_LE(e.back(), bound.largest);
  }
}

// The H100 running Mamba-2 on mamba_ssm's kernels (tools/calibrate/README.md, "The deployment
// stack"): every record is predicted; the whole models, which the profile was not fitted to,
// replayed from CUDA graphs within 12 % (five models, prompts of 512-8,192 tokens, decode at
// batch 1-64; median 4 %), the single kernels (half of them fitted) within 45 %. Eager prefills are the host's Python
// launches and stay unbounded.
TEST(MeasuredH100, TheDeploymentStackIsPredictedWithinItsStatedBounds) {
  const Profile profile = load_profile("h100-class");
  std::size_t models = 0, kernels = 0;
  for (const char* file :
       {"tools/calibrate/results/h100-deploy-20261207.json", "tools/calibrate/results/h100-deploy-shapes-20261207.json",
        "tools/calibrate/results/h100-deploy-kernels-20261207.json"})
    for (const sim::CalibrationRow& r : predict_measurements(profile, file)) {
      SCOPED_TRACE(r.op + " " + r.launch + " " + r.shape);
      EXPECT_TRUE(r.not_modelled.empty()) << r.not_modelled;
      EXPECT_GT(r.predicted_us, 0);
      if (r.launch != "graph") continue;
      if (r.suite == "model") {
        EXPECT_LE(std::abs(r.error()), 0.12);
        ++models;
      } else {
        EXPECT_LE(std::abs(r.error()), 0.45);
        ++kernels;
      }
    }
  EXPECT_EQ(models, 24u);
  EXPECT_EQ(kernels, 16u);
}

// The H100's power draw running Mamba-2 2.7B on mamba_ssm's kernels from CUDA graphs
// (tools/calibrate/results/h100-deploy-power-20261207.json, which the energy figures were not
// fitted to) against the h100-class prediction of the same phase: decode at batch 1 within 6 %
// (predicted 393 W, measured 372 W: the decode GEMMs stream at 0.844 of the HBM), at batch 16 and the 2,048-token
// prefill within 15 % (the model low: 457 and 597 W against 513 and 695 W).
TEST(MeasuredH100, TheDeploymentStacksPowerDrawIsPredicted) {
  std::ifstream in("tools/calibrate/results/h100-deploy-power-20261207.json");
  ASSERT_TRUE(in.good());
  const nlohmann::json stored = nlohmann::json::parse(in);
  const Profile profile = load_profile("h100-class");
  const compiler::ModelSpec model = compiler::load_model("workloads/models/mamba2-2.7b.yaml");
  int checked = 0;
  for (const auto& r : stored.at("measurements")) {
    const std::string op = r.at("op");
    if (op == "power_idle") continue;
    const int batch = r.at("shape").at("batch");
    SCOPED_TRACE(op + " batch " + std::to_string(batch));
    compiler::Scenario s;
    s.prompt_tokens = 2048, s.generate_tokens = 3, s.batch = batch;
    const PerformanceRun run = run_performance(model, s, profile);
    const std::string phase = op == "power_prefill" ? "prefill" : "decode";
    double watts = 0;
    for (std::size_t i = 0; i < run.compiled.phases.size(); ++i)
      if (run.compiled.phases[i].name == phase) watts = run.simulated[i].energy_j / run.simulated[i].seconds;
    const double measured = r.at("median_w");
    EXPECT_NEAR(watts / measured, 1.0, op == "power_decode_step" && batch == 1 ? 0.06 : 0.15) << watts << " W";
    ++checked;
  }
  EXPECT_EQ(checked, 3);
}

// A prompt pass of fixed length (Genie's 128 tokens): the prompt runs in as many passes, the
// rest in one more, and the time to first token grows with them.
TEST(PublishedFigures, AFixedPromptPassSplitsThePrompt) {
  const Profile hexagon = load_profile("hexagon-npu-class");
  ASSERT_EQ(hexagon.kernels->prompt_pass_tokens, 128);
  compiler::Scenario s;
  s.prompt_tokens = 300;
  s.generate_tokens = 2;
  const compiler::ModelSpec model = compiler::load_model("workloads/models/llama-3.2-1b.yaml");
  const compiler::CompileResult r = compiler::compile(model, s, hexagon);
  ASSERT_GE(r.phases.size(), 2u);
  EXPECT_EQ(r.phases[0].name, "prefill");
  EXPECT_EQ(r.phases[0].phase.tokens, 128);
  EXPECT_EQ(r.phases[0].runs, 2);
  EXPECT_EQ(r.phases[1].name, "prefill-rest");
  EXPECT_EQ(r.phases[1].phase.tokens, 44);
  const double t128 = predict_model_seconds(model, hexagon, false, 128, 1, false);
  const double t256 = predict_model_seconds(model, hexagon, false, 256, 1, false);
  // Two passes and the logits once against one pass and the logits.
  EXPECT_GT(t256, 1.7 * t128);
  EXPECT_LT(t256, 2.1 * t128);
}

}  // namespace
}  // namespace ssmsoc::host
