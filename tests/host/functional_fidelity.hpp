// Functional runs against the golden model on a random checkpoint (random_models.hpp): the
// suite's sample (functional_vs_golden_test.cpp) and the nightly one
// (nightly/functional_fidelity_main.cpp) share this comparison.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "arch/hf/golden_model.hpp"
#include "host/functional_driver.hpp"
#include "tests/host/random_models.hpp"

namespace ssmsoc::test {

// On an fp32 chip the functional logits equal the golden model's up to float rounding (sums
// in another order, the SSD recurrence against its chunked form): |Δ| ≤ kFloatRounding x the
// logits' scale (their largest magnitude, at least 1).
constexpr double kFloatRounding = 1e-4;

struct Fidelity {
  double forward_error = 0;   // max |Δlogits| of the prefill (every position)
  double generate_error = 0;  // max |Δlogits| of greedy generation, up to the first differing id
  double scale = 1;           // max |golden logits|, at least 1
  bool ids_equal = true;      // the generated ids equal the golden model's
  bool near_tie = false;      // they differ where the golden model's top two logits are within the bound
  double bound() const { return kFloatRounding * scale; }
  bool passed() const { return forward_error <= bound() && generate_error <= bound() && (ids_equal || near_tie); }
};

inline double max_abs_difference(std::span<const float> a, std::span<const float> b) {
  double worst = a.size() == b.size() ? 0.0 : INFINITY;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    worst = std::max(worst, std::fabs(double(a[i]) - double(b[i])));
  return worst;
}

inline double max_magnitude(std::span<const float> x) {
  double m = 1.0;
  for (float v : x) m = std::max(m, std::fabs(double(v)));
  return m;
}

// Prefill of the whole batch, then greedy generation, on `profile` and on the golden model.
inline Fidelity functional_fidelity(const RandomModel& m, const Profile& profile) {
  const GoldenModel golden(m.checkpoint);
  const host::FunctionalDriver driver(m.checkpoint, profile, host::DriverOptions{m.prefill_chunk});
  Fidelity f;
  const std::vector<float> expected = golden.forward(m.batch, m.prompt_length, m.ids);
  const host::FunctionalResult forward = driver.forward(m.batch, m.prompt_length, m.ids);
  f.forward_error = max_abs_difference(forward.logits, expected);
  f.scale = max_magnitude(expected);

  const GoldenModel::Generation want = golden.generate(m.batch, m.prompt_length, m.ids, m.new_tokens);
  const host::FunctionalResult got = driver.generate(m.batch, m.prompt_length, m.ids, m.new_tokens);
  f.scale = std::max(f.scale, max_magnitude(want.logits));
  const std::size_t vocab = std::size_t(m.checkpoint.vocab_size), n = std::size_t(m.new_tokens);
  f.ids_equal = got.new_ids == want.new_ids;
  if (got.new_ids.size() != want.new_ids.size() || got.logits.size() != want.logits.size()) {
    f.generate_error = INFINITY;
    return f;
  }
  for (std::size_t s = 0; s < std::size_t(m.batch); ++s)
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t row = s * n + i;
      const auto a = std::span(got.logits).subspan(row * vocab, vocab);
      const auto b = std::span(want.logits).subspan(row * vocab, vocab);
      f.generate_error = std::max(f.generate_error, max_abs_difference(a, b));
      if (got.new_ids[row] == want.new_ids[row]) continue;
      // Differing ids: a near tie in the golden logits (rounding may pick either), or a failure.
      std::vector<float> sorted(b.begin(), b.end());
      std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
      f.near_tie = sorted[0] - sorted[1] <= 2 * f.bound();
      break;  // later steps decode other tokens
    }
  return f;
}

inline std::string fidelity_text(const Fidelity& f) {
  return fmt::format("prefill {:.2e}, generate {:.2e} (bound {:.2e}), ids {}", f.forward_error, f.generate_error,
                     f.bound(),
                     f.ids_equal  ? "equal"
                     : f.near_tie ? "differ at a near tie"
                                  : "DIFFER");
}

}  // namespace ssmsoc::test
