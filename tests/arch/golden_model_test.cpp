// The golden model executor against the HuggingFace reference outputs of every model family
// (tests/data/models/<family>, copied from the reference set: config.json, model.safetensors
// and reference.safetensors made with transformers' pure-PyTorch paths in float32).
#include "arch/hf/golden_model.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "arch/golden/safetensors.hpp"
#include "arch/golden/seeded_random.hpp"
#include "tests/reference.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

const fs::path kModels = fs::path(SSMSOC_TEST_DATA_DIR) / "models";

// The reference tolerance for model outputs: max |a - b| <= 1e-4 + 1e-4 * |b|.
constexpr double kAtol = 1e-4, kRtol = 1e-4;

struct Reference {
  SafetensorsFile file;
  std::vector<float> f32(const std::string& name) const { return file.tensors.at(name).to_f32(); }
  std::vector<std::int64_t> i64(const std::string& name) const { return file.tensors.at(name).to_i64(); }
  int dim(const std::string& name, std::size_t axis) const {
    return static_cast<int>(file.tensors.at(name).shape.at(axis));
  }
};

// Compares logits [batch, length, vocab], reporting the first element out of tolerance with
// its (batch, position, vocab index), and returns the largest absolute difference.
double expect_logits_close(const std::vector<float>& actual, const std::vector<float>& expected, int length, int vocab,
                           const std::string& what) {
  EXPECT_EQ(actual.size(), expected.size()) << what;
  if (actual.size() != expected.size()) return INFINITY;
  double max_err = 0;
  bool reported = false;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double err = std::fabs(double(actual[i]) - expected[i]);
    max_err = std::max(max_err, err);
    if (!reported && !(err <= kAtol + kRtol * std::fabs(expected[i]))) {
      const std::size_t v = i % vocab, t = (i / vocab) % length, b = i / vocab / length;
      ADD_FAILURE() << what << ": first mismatch at (batch " << b << ", position " << t << ", vocab " << v
                    << "): " << actual[i] << " vs reference " << expected[i] << " (|diff| " << err << ")";
      reported = true;
    }
  }
  return max_err;
}

class GoldenModelTest : public ::testing::TestWithParam<std::string> {
 protected:
  static GoldenModel load(const std::string& family) { return GoldenModel(load_hf_checkpoint(kModels / family)); }
  static Reference reference(const std::string& family) {
    return Reference{read_safetensors(kModels / family / "reference.safetensors")};
  }
};

TEST_P(GoldenModelTest, LogitsMatchReference) {
  const GoldenModel model = load(GetParam());
  const Reference ref = reference(GetParam());
  const int batch = ref.dim("input_ids", 0), length = ref.dim("input_ids", 1);
  ASSERT_EQ(ref.dim("logits", 2), model.vocab_size());
  const auto logits = model.forward(batch, length, ref.i64("input_ids"));
  const double err = expect_logits_close(logits, ref.f32("logits"), length, model.vocab_size(), "logits");
  RecordProperty("max_abs_logits_error", std::to_string(err));
  std::cout << "[          ] " << GetParam() << ": max |logits - reference| = " << err << "\n";
}

// Every entry of transformers' output_hidden_states, as the reference's hidden_states_map
// names it ("0=embedding,1=layer0_out,...,N=final_norm_out").
TEST_P(GoldenModelTest, HiddenStatesMatchReference) {
  const GoldenModel model = load(GetParam());
  const Reference ref = reference(GetParam());
  const int batch = ref.dim("input_ids", 0), length = ref.dim("input_ids", 1), hidden = ref.dim("hidden_states.00", 2);
  const auto ids = ref.i64("input_ids");
  std::vector<GoldenModel::Trace> traces;
  for (int b = 0; b < batch; ++b)
    traces.push_back(model.trace(std::span<const std::int64_t>(ids.data() + b * length, length)));
  std::stringstream map(ref.file.metadata.at("hidden_states_map"));
  std::string entry;
  int checked = 0;
  while (std::getline(map, entry, ',')) {
    const auto eq = entry.find('=');
    const int index = std::stoi(entry.substr(0, eq));
    const std::string what = entry.substr(eq + 1);
    std::vector<float> ours;
    for (const auto& trace : traces) {
      const std::vector<float>* part = nullptr;
      // "k*embedding": the embedding times the model's embedding multiplier k.
      const auto star = what.find("*embedding");
      if (star != std::string::npos) {
        EXPECT_FLOAT_EQ(std::stof(what.substr(0, star)), model.checkpoint().embedding_multiplier) << what;
      }
      if (what == "embedding" || star != std::string::npos)
        part = &trace.embedding;
      else if (what == "final_norm_out")
        part = &trace.final_norm;
      else if (what.rfind("layer", 0) == 0)
        part = &trace.layers.at(std::stoul(what.substr(5)));
      ASSERT_NE(part, nullptr) << "unknown hidden state " << what;
      ours.insert(ours.end(), part->begin(), part->end());
    }
    char name[32];
    std::snprintf(name, sizeof name, "hidden_states.%02d", index);
    expect_logits_close(ours, ref.f32(name), length, hidden, std::string(name) + " (" + what + ")");
    ++checked;
  }
  EXPECT_EQ(checked, std::stoi(ref.file.metadata.at("hidden_states_count")));
  // The trace's logits are forward()'s.
  EXPECT_EQ(traces[0].logits, model.forward(1, length, std::span<const std::int64_t>(ids.data(), length)));
}

TEST_P(GoldenModelTest, GreedyGenerationMatchesReference) {
  const GoldenModel model = load(GetParam());
  const Reference ref = reference(GetParam());
  const int batch = ref.dim("gen_prompt_ids", 0), prompt = ref.dim("gen_prompt_ids", 1);
  const int n = ref.dim("gen_new_ids", 1);
  const auto gen = model.generate(batch, prompt, ref.i64("gen_prompt_ids"), n);
  EXPECT_EQ(gen.new_ids, ref.i64("gen_new_ids"));
  expect_logits_close(gen.logits, ref.f32("gen_logits"), n, model.vocab_size(), "gen_logits");
}

// The no-cache path: the prefill of prompt + generated tokens gives the logits that
// transformers' generate(use_cache=False) chose them with.
TEST_P(GoldenModelTest, NoCacheGenerationMatchesReference) {
  const GoldenModel model = load(GetParam());
  const Reference ref = reference(GetParam());
  const int prompt = ref.dim("gen_prompt_ids", 1), n = ref.dim("nocache_gen_new_ids", 1);
  const int length = ref.dim("nocache_gen_sequences", 1), vocab = model.vocab_size();
  ASSERT_EQ(ref.dim("nocache_gen_sequences", 0), 1);
  const auto logits = model.forward(1, length, ref.i64("nocache_gen_sequences"));
  // Position prompt-1+i chose new token i.
  const std::vector<float> chosen(logits.begin() + (prompt - 1) * vocab, logits.begin() + (prompt - 1 + n) * vocab);
  expect_logits_close(chosen, ref.f32("nocache_gen_logits"), n, vocab, "nocache_gen_logits");
  std::vector<std::int64_t> ids;
  for (int i = 0; i < n; ++i)
    ids.push_back(std::max_element(chosen.begin() + i * vocab, chosen.begin() + (i + 1) * vocab) -
                  (chosen.begin() + i * vocab));
  EXPECT_EQ(ids, ref.i64("nocache_gen_new_ids"));
}

// The cached decode path (prefill, then one step per token) gives the logits of the
// no-cache prefill over the whole sequence.
TEST_P(GoldenModelTest, SessionStepsMatchForward) {
  const GoldenModel model = load(GetParam());
  const Reference ref = reference(GetParam());
  const int length = ref.dim("input_ids", 1), vocab = model.vocab_size();
  const auto all = ref.i64("input_ids");
  for (int b = 0; b < ref.dim("input_ids", 0); ++b) {
    const std::span<const std::int64_t> ids(all.data() + b * length, length);
    const auto expected = model.forward(1, length, ids);
    for (int split : {1, 5, length - 1}) {
      GoldenModel::Session session = model.start();
      auto logits = session.prefill(ids.first(split));
      for (int t = split; t < length; ++t) {
        const auto step = session.step(ids[t]);
        logits.insert(logits.end(), step.begin(), step.end());
      }
      EXPECT_EQ(session.position(), length);
      expect_logits_close(logits, expected, length, vocab,
                          "sequence " + std::to_string(b) + ", prefill of " + std::to_string(split));
    }
  }
}

// A session that prefills in several pieces (the sequence kernels started from cached
// state) also gives the no-cache logits.
TEST_P(GoldenModelTest, ChunkedPrefillMatchesForward) {
  const GoldenModel model = load(GetParam());
  const Reference ref = reference(GetParam());
  const int length = ref.dim("input_ids", 1);
  const auto all = ref.i64("input_ids");
  const std::span<const std::int64_t> ids(all.data(), length);
  const auto expected = model.forward(1, length, ids);
  GoldenModel::Session session = model.start();
  auto logits = session.prefill(ids.first(7));
  const auto rest = session.prefill(ids.subspan(7));
  logits.insert(logits.end(), rest.begin(), rest.end());
  expect_logits_close(logits, expected, length, model.vocab_size(), "prefill of 7 then 9");
}

// ---- Generated Mamba-3 models (mamba_ssm configs of every option: SISO and MIMO of several
// ranks, grouped B/C, full or half rotary, the out-projection norm, with or without the MLP,
// tied or not) with seeded weights: a prefill followed by decode steps, and a prefill in
// pieces, give the logits of one prefill over the whole sequence.

HfCheckpoint random_mamba3(std::uint64_t seed, std::string& description) {
  SeededRandom r(seed);
  auto pick = [&r](std::initializer_list<int> values) { return values.begin()[r.next() % values.size()]; };
  const bool mimo = r.next() % 2 != 0, outproj_norm = r.next() % 2 != 0, tied = r.next() % 2 != 0;
  const int d_model = pick({16, 24, 32}), head_dim = pick({4, 8}), d_state = pick({4, 8, 16});
  const int heads = 2 * d_model / head_dim, groups = heads % 2 == 0 ? pick({1, 2}) : 1;
  const double rope_fraction = pick({1, 2}) / 2.0;
  const int rank = pick({1, 2, 3}), layers = pick({1, 2, 3}), d_intermediate = pick({0, 40});
  const nlohmann::json config = {{"d_model", d_model},
                                 {"n_layer", layers},
                                 {"d_intermediate", d_intermediate},
                                 {"vocab_size", pick({50, 64})},
                                 {"pad_vocab_size_multiple", 8},
                                 {"tie_embeddings", tied},
                                 {"rms_norm", true},
                                 {"ssm_cfg",
                                  {{"layer", "Mamba3"},
                                   {"d_state", d_state},
                                   {"headdim", head_dim},
                                   {"expand", 2},
                                   {"ngroups", groups},
                                   {"rope_fraction", rope_fraction},
                                   {"is_mimo", mimo},
                                   {"mimo_rank", rank},
                                   {"is_outproj_norm", outproj_norm},
                                   {"chunk_size", 8}}}};
  description = config.dump();
  HfCheckpoint ck = parse_hf_config(config, "random/mamba3/config.json");
  for (const auto& [name, shape] : expected_tensors(ck)) {
    std::size_t count = 1;
    for (std::int64_t d : shape) count *= std::size_t(d);
    std::vector<float> values;
    if (name.ends_with("dt_bias")) {  // softplus(dt_bias) log-uniform in [0.001, 0.1]
      for (std::size_t i = 0; i < count; ++i)
        values.push_back(float(std::log(std::expm1(std::exp(r.uniform(std::log(0.001), std::log(0.1)))))));
    } else if (shape.size() == 1 || name.find("_bias") != std::string::npos ||
               name.find("mimo_") != std::string::npos) {
      values = r.uniforms(count, 0.5, 1.5);  // norm weights, D, B/C biases, MIMO projections: about 1
    } else if (name.find("embedding") != std::string::npos) {
      values = r.uniforms(count, -1.0, 1.0);
    } else {
      const double bound = 1.0 / std::sqrt(double(shape.back()));
      values = r.uniforms(count, -bound, bound);
    }
    ck.weights[name] = Weight{shape, std::move(values)};
  }
  return ck;
}

TEST(GoldenModelMamba3, GeneratedModelsDecodeAndPrefillInPiecesAsOnePrefill) {
  for (std::uint64_t seed = 1; seed <= 24; ++seed) {
    std::string description;
    const GoldenModel model(random_mamba3(seed, description));
    SCOPED_TRACE("seed " + std::to_string(seed) + ": " + description);
    SeededRandom r(seed * 7919);
    const int length = 10 + int(r.next() % 8), vocab = model.vocab_size();
    std::vector<std::int64_t> ids(static_cast<std::size_t>(length));
    for (auto& id : ids) id = std::int64_t(r.next() % std::uint64_t(vocab));
    const auto expected = model.forward(1, length, ids);
    const int split = 1 + int(r.next() % std::uint64_t(length - 2));
    // A prefill of `split` tokens, then one decode step per token.
    GoldenModel::Session steps = model.start();
    auto logits = steps.prefill(std::span(ids).first(std::size_t(split)));
    for (int t = split; t < length; ++t) {
      const auto step = steps.step(ids[std::size_t(t)]);
      logits.insert(logits.end(), step.begin(), step.end());
    }
    expect_logits_close(logits, expected, length, vocab, "prefill of " + std::to_string(split) + ", then steps");
    // A prefill of `split` tokens, then a prefill of the rest from the cache.
    GoldenModel::Session pieces = model.start();
    logits = pieces.prefill(std::span(ids).first(std::size_t(split)));
    const auto rest = pieces.prefill(std::span(ids).subspan(std::size_t(split)));
    logits.insert(logits.end(), rest.begin(), rest.end());
    expect_logits_close(logits, expected, length, vocab, "prefill of " + std::to_string(split) + ", then the rest");
    if (HasFailure()) return;  // one seed's report is enough
  }
}

INSTANTIATE_TEST_SUITE_P(Families, GoldenModelTest, ::testing::ValuesIn(test::model_families()), test::param_name);

}  // namespace
}  // namespace ssmsoc
