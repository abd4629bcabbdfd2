// The golden kernels against the reference data made with the official implementations
// (tests/data/kernels, copied from the reference set; REFDATA-MANIFEST.md describes each
// file and the tolerances used here).
#include "arch/golden/kernels.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "arch/golden/kernel_runner.hpp"
#include "arch/golden/safetensors.hpp"
#include "arch/spec/config_tree.hpp"
#include "tests/reference.hpp"
#include "tests/support.hpp"

namespace ssmsoc::golden {
namespace {

SafetensorsFile load_case(const std::string& name) {
  return read_safetensors("tests/data/kernels/" + name + ".safetensors");
}

class KernelCase : public ::testing::TestWithParam<std::string> {};

TEST_P(KernelCase, MatchesReference) {
  const SafetensorsFile reference = load_case(GetParam());
  const SafetensorsFile produced = run_kernel_case(reference, GetParam());
  // Exactly the outputs the file lists.
  std::string names;
  for (const auto& [name, tensor] : produced.tensors) names += (names.empty() ? "" : ",") + name;
  EXPECT_EQ(names, reference.metadata.at("outputs"));
  test::expect_outputs_match(reference, produced, GetParam());
}

TEST(KernelRunner, SsdResultDoesNotDependOnTheChunkSize) {
  const SafetensorsFile reference = load_case("ssd_groups_ragged_init");  // L = 37
  for (const char* chunk : {"1", "3", "5", "37", "64"}) {
    const SafetensorsFile produced = run_kernel_case(reference, "ragged", {"", {{"chunk_size", chunk}}});
    EXPECT_EQ(parse_kernel_flags(produced.metadata.at("flags"), "run").at("chunk_size"), chunk);
    test::expect_outputs_match(reference, produced, std::string("chunk ") + chunk);
  }
}

// The runner's one-line errors for malformed cases.
std::string runner_error(SafetensorsFile file, const KernelRequest& request = {}) {
  try {
    run_kernel_case(file, "case.safetensors", request);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(KernelRunner, RejectsMalformedCases) {
  const SafetensorsFile good = load_case("selective_scan_full");
  SafetensorsFile missing = good;
  missing.tensors.erase("delta");
  EXPECT_EQ(runner_error(missing), "case.safetensors: kernel selective_scan: tensor 'delta': missing");
  EXPECT_EQ(runner_error(good, {"selective_skan", {}})
                .rfind("case.safetensors: unknown kernel 'selective_skan'; known kernels: causal_conv1d, ", 0),
            0u);
  EXPECT_EQ(runner_error(good, {"", {{"delta_softplus", "yes"}}}),
            "case.safetensors: kernel selective_scan: flags: 'delta_softplus' expected 0 or 1, got 'yes'");
  SafetensorsFile wrong_rank = good;
  wrong_rank.tensors["A"].shape = {128};
  EXPECT_EQ(runner_error(wrong_rank),
            "case.safetensors: kernel selective_scan: tensor 'A': expected 2 dimensions, got 1");
  SafetensorsFile wrong_size = good;
  wrong_size.tensors["D"] = Tensor::from_f32({3}, {1, 2, 3});
  EXPECT_EQ(runner_error(wrong_size), "case.safetensors: kernel selective_scan: D: expected 8 elements, got 3");
  SafetensorsFile unknown_output = good;
  unknown_output.metadata["outputs"] = "out,states";
  EXPECT_EQ(runner_error(unknown_output),
            "case.safetensors: kernel selective_scan: metadata: output 'states' is not one this kernel produces");
  SafetensorsFile no_kernel = good;
  no_kernel.metadata.erase("kernel");
  EXPECT_EQ(runner_error(no_kernel), "case.safetensors: metadata: no 'kernel' (and none given)");
  SafetensorsFile bad_flags = good;
  bad_flags.metadata["flags"] = "delta_softplus";
  EXPECT_EQ(runner_error(bad_flags), "case.safetensors: flags: expected name=value, got 'delta_softplus'");
}

TEST(KernelRunner, OverridesChangeTheComputation) {
  // Turning the softplus off changes the result; the outputs' metadata records the flags used.
  const SafetensorsFile reference = load_case("selective_scan_full");
  const SafetensorsFile plain = run_kernel_case(reference, "full", {"", {{"delta_softplus", "0"}}});
  EXPECT_EQ(parse_kernel_flags(plain.metadata.at("flags"), "run").at("delta_softplus"), "0");
  EXPECT_NE(plain.tensors.at("out").to_f32(), reference.tensors.at("out").to_f32());
}

INSTANTIATE_TEST_SUITE_P(Reference, KernelCase, ::testing::ValuesIn(test::kernel_case_names()), test::param_name);

TEST(KernelCases, AllReferenceFilesArePresent) { EXPECT_EQ(test::kernel_case_names().size(), 34u); }

TEST(GoldenActivations, SoftplusPassesThroughAboveTwenty) {
  EXPECT_EQ(softplus(20.5f), 20.5f);
  EXPECT_FLOAT_EQ(softplus(0.0f), std::log(2.0f));
  EXPECT_FLOAT_EQ(silu(1.0f), 1.0f / (1.0f + std::exp(-1.0f)));
}

TEST(GoldenLinear, MatchesAHandComputation) {
  // x [2, 3] · Wᵀ with W [2, 3], plus bias.
  const std::vector<float> x{1, 2, 3, -1, 0, 2}, w{1, 0, -1, 2, 1, 0}, bias{0.5f, -1};
  EXPECT_EQ(linear(2, 3, 2, x, w, bias), (std::vector<float>{-1.5f, 3, -2.5f, -3}));
  EXPECT_EQ(linear(2, 3, 2, x, w, {}), (std::vector<float>{-2, 4, -3, -2}));
}

TEST(GoldenRope, RotatesPairsByPositionTimesFrequency) {
  // head_dim 4, rotary_dim 4, theta 100: inv_freq = {1, 100^-0.5 = 0.1}.
  std::vector<float> x{1, 2, 3, 4, 1, 2, 3, 4};
  const std::vector<std::int64_t> positions{0, 2};
  apply_rope(x, 2, 1, 4, 4, 100.0f, positions);
  EXPECT_EQ(std::vector<float>(x.begin(), x.begin() + 4), (std::vector<float>{1, 2, 3, 4}));  // position 0
  // Position 2: pair (x0, x2) rotates by 2 rad, pair (x1, x3) by 0.2 rad.
  EXPECT_FLOAT_EQ(x[4], 1 * std::cos(2.0f) - 3 * std::sin(2.0f));
  EXPECT_FLOAT_EQ(x[6], 3 * std::cos(2.0f) + 1 * std::sin(2.0f));
  EXPECT_FLOAT_EQ(x[5], 2 * std::cos(0.2f) - 4 * std::sin(0.2f));
  EXPECT_FLOAT_EQ(x[7], 4 * std::cos(0.2f) + 2 * std::sin(0.2f));
}

TEST(GoldenRope, PartialRotaryLeavesTheTailAlone) {
  std::vector<float> x{1, 2, 3, 4};
  const std::vector<std::int64_t> positions{5};
  apply_rope(x, 1, 1, 4, 2, 10000.0f, positions);
  EXPECT_FLOAT_EQ(x[0], std::cos(5.0f) - 2 * std::sin(5.0f));
  EXPECT_FLOAT_EQ(x[1], 2 * std::cos(5.0f) + std::sin(5.0f));
  EXPECT_EQ(x[2], 3);
  EXPECT_EQ(x[3], 4);
}

TEST(GoldenAttention, FirstTokenSeesOnlyItselfAndGroupsShareKvHeads) {
  // 4 query heads over 2 kv heads, head_dim 2.
  KvCache cache(2, 2);
  const std::vector<float> k0{1, 0, 0, 1}, v0{10, 20, 30, 40};
  cache.append(1, k0, v0);
  const std::vector<float> q(4 * 2, 1.0f);
  const auto out = causal_attention(q, 1, 4, cache, 1.0f);
  EXPECT_EQ(out, (std::vector<float>{10, 20, 10, 20, 30, 40, 30, 40}));
}

TEST(GoldenAttention, SoftmaxWeightsFollowScoresAndCausality) {
  KvCache cache(1, 1);
  const std::vector<float> k{0, 1, 2}, v{1, 2, 4};
  cache.append(3, k, v);
  // Queries for positions 1 and 2 (the last two); q = 1, scale 1: scores = k.
  const std::vector<float> q{1, 1};
  const auto out = causal_attention(q, 2, 1, cache, 1.0f);
  const float e0 = 1, e1 = std::exp(1.0f), e2 = std::exp(2.0f);
  EXPECT_FLOAT_EQ(out[0], (1 * e0 + 2 * e1) / (e0 + e1));                // position 1 sees 0..1
  EXPECT_FLOAT_EQ(out[1], (1 * e0 + 2 * e1 + 4 * e2) / (e0 + e1 + e2));  // position 2 sees 0..2
  // Decode: appending one position and querying it equals the prefill row.
  KvCache step(1, 1);
  step.append(2, std::vector<float>{0, 1}, std::vector<float>{1, 2});
  step.append(1, std::vector<float>{2}, std::vector<float>{4});
  EXPECT_FLOAT_EQ(causal_attention(std::vector<float>{1}, 1, 1, step, 1.0f)[0], out[1]);
}

TEST(GoldenRouting, SoftmaxThenTopK) {
  const std::vector<float> logits{0, 2, 1, 2};  // experts 1 and 3 tie: lower index first
  const auto routes = route_topk(1, 4, 2, logits, Routing::softmax_topk, false);
  EXPECT_EQ(routes[0].experts, (std::vector<int>{1, 3}));
  const float total = 1 + 2 * std::exp(2.0f) + std::exp(1.0f);
  EXPECT_FLOAT_EQ(routes[0].weights[0], std::exp(2.0f) / total);
  const auto normalized = route_topk(1, 4, 2, logits, Routing::softmax_topk, true);
  EXPECT_FLOAT_EQ(normalized[0].weights[0], 0.5f);
}

TEST(GoldenRouting, TopKThenSoftmaxAndSigmoidWithBias) {
  const std::vector<float> logits{3, 1, 2, 0};
  const auto routes = route_topk(1, 4, 2, logits, Routing::topk_softmax, false);
  EXPECT_EQ(routes[0].experts, (std::vector<int>{0, 2}));
  EXPECT_FLOAT_EQ(routes[0].weights[0], 1 / (1 + std::exp(-1.0f)));
  // The correction bias changes which experts are chosen, not their weights.
  const std::vector<float> bias{0, 5, 0, 0};
  const auto sig = route_topk(1, 4, 2, logits, Routing::sigmoid_topk, true, bias, 2.0f);
  EXPECT_EQ(sig[0].experts, (std::vector<int>{1, 0}));
  const float s1 = 1 / (1 + std::exp(-1.0f)), s0 = 1 / (1 + std::exp(-3.0f));
  EXPECT_FLOAT_EQ(sig[0].weights[0], 2 * s1 / (s1 + s0));
}

TEST(GoldenKernels, RejectMismatchedShapes) {
  const std::vector<float> x(10), w(3);
  EXPECT_THROW(rmsnorm(2, 4, x, w, 1e-5f), std::invalid_argument);
  EXPECT_THROW(gated_rmsnorm(2, 5, 2, x, {}, std::vector<float>(5), 1e-5f, false), std::invalid_argument);
}

}  // namespace
}  // namespace ssmsoc::golden
