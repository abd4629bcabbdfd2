// Comparison with the reference data (tests/data), shared by the arch and CLI suites.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "arch/golden/safetensors.hpp"

namespace ssmsoc::test {

// max |actual - expected| <= atol + rtol * |expected|, reporting the first element that is not.
// `modulo_two_pi`: angles, whose difference counts modulo 2pi (Mamba-3's angle_state).
inline void expect_close(const std::vector<float>& actual, const std::vector<float>& expected, double rtol, double atol,
                         const std::string& what, bool modulo_two_pi = false) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  constexpr double kTwoPi = 6.283185307179586;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double bound = atol + rtol * std::fabs(expected[i]);
    double diff = double(actual[i]) - expected[i];
    if (modulo_two_pi) diff -= kTwoPi * std::round(diff / kTwoPi);
    ASSERT_LE(std::fabs(diff), bound) << what << "[" << i << "]: " << actual[i] << " vs " << expected[i];
  }
}

// The reference data's recommended tolerances (REFDATA-MANIFEST.md) for a kernel.
inline std::pair<double, double> tolerance(const std::string& kernel, std::int64_t length) {
  if (kernel.rfind("mamba3_", 0) == 0) return length > 64 ? std::pair{5e-4, 1e-4} : std::pair{1e-4, 2e-5};
  if (kernel.rfind("causal_conv1d", 0) == 0 || kernel.find("rmsnorm") != std::string::npos) return {1e-5, 1e-6};
  if (kernel == "selective_state_update" || kernel == "selective_state_update_mh") return {1e-5, 5e-6};
  return length > 100 ? std::pair{2e-4, 5e-5} : std::pair{1e-4, 1e-5};
}

inline void expect_outputs_match(const SafetensorsFile& reference, const SafetensorsFile& produced,
                                 const std::string& label) {
  const std::string kernel = reference.metadata.at("kernel");
  std::int64_t length = 0;
  for (const auto& [name, tensor] : reference.tensors)
    for (auto d : tensor.shape) length = std::max(length, d);
  // Mamba-3's tolerances go by the sequence length (the flag seqlen), not the largest dimension.
  const auto meta = reference.metadata.find("flags");
  const std::string flags = "," + (meta == reference.metadata.end() ? std::string() : meta->second);
  if (const auto at = flags.find(",seqlen="); kernel.rfind("mamba3_", 0) == 0 && at != std::string::npos)
    length = std::stoll(flags.substr(at + 8));
  const auto [rtol, atol] = tolerance(kernel, length);
  ASSERT_FALSE(produced.tensors.empty());
  for (const auto& [name, tensor] : produced.tensors) {
    ASSERT_TRUE(reference.tensors.count(name)) << name;
    EXPECT_EQ(tensor.shape, reference.tensors.at(name).shape) << name;
    expect_close(tensor.to_f32(), reference.tensors.at(name).to_f32(), rtol, atol, label + " " + name,
                 name == "angle_state");
  }
}

// The kernel-case files of tests/data/kernels (the tests' working directory is the source root).
inline std::vector<std::string> kernel_case_names() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator("tests/data/kernels"))
    if (entry.path().extension() == ".safetensors") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The model families of tests/data/models.
inline std::vector<std::string> model_families() {
  return {"mamba1", "mamba2", "jamba", "bamba", "granitemoehybrid", "falcon_h1", "nemotron_h", "zamba2", "mamba3"};
}

}  // namespace ssmsoc::test
