// The random checkpoint generator (random_models.hpp) behind the functional-vs-golden tests.
#include "tests/host/random_models.hpp"

#include <gtest/gtest.h>

namespace ssmsoc {
namespace {

// The generator is deterministic and its draws are valid and varied: the same seed gives
// the same config, weights and inputs; across seeds, n_groups > 1, projection biases, prompts
// longer than the prefill chunk and batches above 1 all occur.
TEST(RandomModels, AreDeterministicAndCoverTheShapes) {
  bool groups = false, bias = false, chunked = false, batched = false;
  for (ModelFamily family : test::random_model_families())
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
      const test::RandomModel a = test::random_model(family, seed), b = test::random_model(family, seed);
      ASSERT_EQ(a.config, b.config) << a.name;
      ASSERT_EQ(a.ids, b.ids) << a.name;
      ASSERT_EQ(a.checkpoint.weights.size(), expected_tensors(a.checkpoint).size()) << a.name;
      for (const auto& [name, w] : a.checkpoint.weights) ASSERT_EQ(w.values, b.checkpoint.weights.at(name).values);
      EXPECT_EQ(a.ids.size(), std::size_t(a.batch * a.prompt_length));
      groups = groups || a.checkpoint.mamba.groups > 1;
      bias = bias || a.checkpoint.mamba.proj_bias;
      chunked = chunked || (a.prefill_chunk > 0 && a.prefill_chunk < a.prompt_length);
      batched = batched || a.batch > 1;
    }
  EXPECT_TRUE(groups && bias && chunked && batched);
  EXPECT_NE(test::random_model(ModelFamily::bamba, 1).config, test::random_model(ModelFamily::bamba, 2).config);
}

}  // namespace
}  // namespace ssmsoc
