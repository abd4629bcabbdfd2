// How simulated time scales with the context: O(n) for an SSM, O(n^2) attention for a
// transformer — the comparison the tool exists to make.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support.hpp"

namespace ssmsoc {
namespace {

struct Timing {
  double ttft = 0, decode = 0;
};

// At one prefill chunk for every prompt: the scaling is the model's, not the mapper's chunk choice.
Timing run(const std::string& model, int prompt) {
  const auto dir = test::temp_dir() / (model + "-" + std::to_string(prompt));
  const auto r = test::run_ssmsoc("run --profile krsna-mobile --model " + model + " --prompt " +
                                  std::to_string(prompt) + " --generate 4 --prefill-chunk 256 --out " + dir.string());
  EXPECT_EQ(r.status, 0) << r.err;
  const auto s = nlohmann::json::parse(test::slurp(dir / "summary.json"));
  return {s["time_to_first_token"]["value"], s["decode_latency_per_token"]["value"]};
}

// TTFT is affine in the prompt (a cost per chunk plus the logits Program's fixed cost): the
// prompt's increments from 256 to 1,024 and from 1,024 to 4,096 tokens cost in proportion.
TEST(ContextScaling, MambaPrefillIsLinearAndDecodeIsFlat) {
  const Timing t256 = run("mamba-130m", 256), t1024 = run("mamba-130m", 1024), t4096 = run("mamba-130m", 4096);
  EXPECT_NEAR((t4096.ttft - t1024.ttft) / (t1024.ttft - t256.ttft), 4.0, 0.2);
  EXPECT_GT(t256.ttft, 0.0);
  EXPECT_DOUBLE_EQ(t256.decode, t1024.decode);  // the state does not grow with the context
  EXPECT_DOUBLE_EQ(t1024.decode, t4096.decode);
}

TEST(ContextScaling, TransformerPrefillIsSuperlinearAndDecodeGrows) {
  const Timing t256 = run("pythia-160m", 256), t1024 = run("pythia-160m", 1024), t4096 = run("pythia-160m", 4096);
  EXPECT_GT(t4096.ttft / t1024.ttft, 4.2);      // attention over the whole context
  EXPECT_GT(t1024.decode, t256.decode * 1.05);  // the KV cache is read every step
  EXPECT_GT(t4096.decode, t1024.decode * 1.2);
}

}  // namespace
}  // namespace ssmsoc
