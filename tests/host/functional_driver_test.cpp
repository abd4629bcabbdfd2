// The functional driver (host/functional_driver.hpp): tiny HF checkpoints (tests/data/models) run end
// to end on the simulated chip against their reference outputs (transformers) and the
// golden model.
#include "host/functional_driver.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "arch/golden/safetensors.hpp"
#include "arch/golden/seeded_random.hpp"
#include "arch/hf/checkpoint.hpp"
#include "arch/hf/golden_model.hpp"
#include "arch/spec/config_tree.hpp"
#include "compiler/compiler.hpp"
#include "tests/reference.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

const std::string kModels = "tests/data/models/";
// Max |logits - golden model| on krsna-mobile (bf16 matrix array, fixed-point scan unit) on
// reference.safetensors' input_ids, as measured; the tests allow twice that.
const std::map<std::string, double> kMobileMeasured = {{"mamba1", 0.032},
                                                       {"mamba2", 0.028},
                                                       {"bamba", 0.0036},
                                                       {"falcon_h1", 0.0019},
                                                       {"jamba", 0.0063},
                                                       {"nemotron_h", 0.0036},
                                                       {"granitemoehybrid", 0.0022},
                                                       {"zamba2", 0.0031}};
constexpr double kMobileBound = 0.1;  // mamba1, two sessions

double max_abs_error(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
  return worst;
}

class FunctionalDriverOnDc : public ::testing::TestWithParam<std::string> {};

// Logits of every position and greedy generation equal transformers' within the reference
// tolerance (|a - b| <= 1e-4 + 1e-4 |b|; ids exact) on an fp32 chip.
TEST_P(FunctionalDriverOnDc, MatchesTheReference) {
  const std::string dir = kModels + GetParam();
  const host::FunctionalDriver rt(load_hf_checkpoint(dir), load_profile("krsna-dc"));
  const SafetensorsFile ref = read_safetensors(dir + "/reference.safetensors");
  const Tensor& input = ref.tensors.at("input_ids");
  const auto forward = rt.forward(int(input.shape[0]), int(input.shape[1]), input.to_i64());
  EXPECT_EQ(forward.precision, Precision::fp32);
  test::expect_close(forward.logits, ref.tensors.at("logits").to_f32(), 1e-4, 1e-4, GetParam() + " logits");

  const Tensor& prompt = ref.tensors.at("gen_prompt_ids");
  const Tensor& expected_ids = ref.tensors.at("gen_new_ids");
  const int n = int(expected_ids.shape[1]);
  const auto gen = rt.generate(int(prompt.shape[0]), int(prompt.shape[1]), prompt.to_i64(), n);
  EXPECT_EQ(gen.new_ids, expected_ids.to_i64()) << GetParam();
  test::expect_close(gen.logits, ref.tensors.at("gen_logits").to_f32(), 1e-4, 1e-4, GetParam() + " gen_logits");
  // One prefill run, then n - 1 decode steps.
  ASSERT_EQ(gen.runs.size(), std::size_t(n));
  EXPECT_EQ(gen.runs.front().phase, "prefill");
  EXPECT_EQ(gen.runs.back().phase, "decode");
  for (const auto& r : gen.runs) EXPECT_GT(r.cycles, 0u);
}

INSTANTIATE_TEST_SUITE_P(Families, FunctionalDriverOnDc,
                         ::testing::Values("mamba1", "mamba2", "bamba", "falcon_h1", "granitemoehybrid", "jamba",
                                           "nemotron_h", "zamba2"),
                         test::param_name);

// A prompt longer than the prefill chunk runs as several chunks with the states carried
// between them: the same logits as the golden model over the whole prompt.
TEST(FunctionalDriver, ChunkedPrefillCarriesTheStates) {
  const std::string dir = kModels + "mamba2";
  const HfCheckpoint ck = load_hf_checkpoint(dir);
  const GoldenModel golden(ck);
  const SafetensorsFile ref = read_safetensors(dir + "/reference.safetensors");
  const std::vector<std::int64_t> ids = ref.tensors.at("input_ids").to_i64();
  const std::vector<std::int64_t> first(ids.begin(), ids.begin() + 16);
  // 16 tokens, chunks of 6: two prefill runs and a prefill-rest of 4.
  const host::FunctionalDriver rt(ck, load_profile("krsna-dc"), host::DriverOptions{6});
  const auto r = rt.forward(1, 16, first);
  ASSERT_EQ(r.runs.size(), 3u);
  EXPECT_EQ(r.runs[0].phase, "prefill");
  EXPECT_EQ(r.runs[2].phase, "prefill-rest");
  test::expect_close(r.logits, golden.forward(1, 16, first), 1e-4, 1e-4, "chunked logits");
}

// A state kept narrow between chunks (tile.scan.state_storage) is rounded at each chunk's end,
// exactly as the golden model's state would be: the run deviates from float32's by about the
// format's rounding, grows with the rounding (fp8 more than bf16), and a one-chunk prompt, whose
// state never leaves the unit, equals float32's run.
TEST(FunctionalDriver, ANarrowStateStorageRoundsTheCarriedStateOnly) {
  const std::string dir = kModels + "mamba2";
  const HfCheckpoint ck = load_hf_checkpoint(dir);
  const SafetensorsFile ref = read_safetensors(dir + "/reference.safetensors");
  const std::vector<std::int64_t> ids = ref.tensors.at("input_ids").to_i64();
  const std::vector<std::int64_t> first(ids.begin(), ids.begin() + 16);
  auto dc_with = [](const char* format) {
    return load_profile(test::write_file(fmt::format("dc-{}.yaml", format),
                                         fmt::format("base: krsna-dc\ndescription: krsna-dc, states in {}\n"
                                                     "tile: {{scan: {{state_storage: {}}}}}\n",
                                                     format, format))
                            .string());
  };
  const auto wide = host::FunctionalDriver(ck, load_profile("krsna-dc"), host::DriverOptions{6}).forward(1, 16, first);
  const auto bf16 = host::FunctionalDriver(ck, dc_with("bf16"), host::DriverOptions{6}).forward(1, 16, first);
  const auto fp8 = host::FunctionalDriver(ck, dc_with("fp8"), host::DriverOptions{6}).forward(1, 16, first);
  const double e_bf16 = max_abs_error(bf16.logits, wide.logits), e_fp8 = max_abs_error(fp8.logits, wide.logits);
  EXPECT_GT(e_bf16, 0);
  EXPECT_GT(e_fp8, e_bf16);
  EXPECT_LT(e_fp8, 0.5);
  const std::vector<std::int64_t> short_prompt(ids.begin(), ids.begin() + 6);
  EXPECT_EQ(
      host::FunctionalDriver(ck, dc_with("fp8"), host::DriverOptions{6}).forward(1, 6, short_prompt).logits,
      host::FunctionalDriver(ck, load_profile("krsna-dc"), host::DriverOptions{6}).forward(1, 6, short_prompt).logits);
}

// With attention layers, each chunk runs at its own context (the keys in the cache, the RoPE
// positions): prompts of several chunks, and a prompt then generation, equal the golden model.
TEST(FunctionalDriver, ChunkedPrefillWithAttentionRunsEachChunkAtItsContext) {
  for (const std::string family : {"bamba", "zamba2", "nemotron_h"}) {
    SCOPED_TRACE(family);
    const std::string dir = kModels + family;
    const HfCheckpoint ck = load_hf_checkpoint(dir);
    const GoldenModel golden(ck);
    const std::vector<std::int64_t> ids =
        read_safetensors(dir + "/reference.safetensors").tensors.at("input_ids").to_i64();
    const std::vector<std::int64_t> first(ids.begin(), ids.begin() + 16);
    // 16 tokens, chunks of 5: three prefill runs (contexts 0, 5, 10) and a prefill-rest of 1.
    const host::FunctionalDriver rt(ck, load_profile("krsna-dc"), host::DriverOptions{5});
    const auto r = rt.forward(1, 16, first);
    ASSERT_EQ(r.runs.size(), 4u);
    test::expect_close(r.logits, golden.forward(1, 16, first), 1e-4, 1e-4, family + " chunked logits");
    const std::vector<std::int64_t> prompt(first.begin(), first.begin() + 12);
    const auto gen = rt.generate(1, 12, prompt, 3);
    const auto expected = golden.generate(1, 12, prompt, 3);
    EXPECT_EQ(gen.new_ids, expected.new_ids);
    test::expect_close(gen.logits, expected.logits, 1e-4, 1e-4, family + " chunked then decode");
  }
}

// A fixed-point chip (krsna-mobile: bf16 matrix array, fixed-point scan unit, bf16 attention
// probabilities) runs every family; its deviation from the golden model is bounded by twice
// what was measured.
TEST(FunctionalDriver, FixedPointDeviationIsBounded) {
  for (const auto& [family, measured] : kMobileMeasured) {
    const std::string dir = kModels + family;
    const HfCheckpoint ck = load_hf_checkpoint(dir);
    const SafetensorsFile ref = read_safetensors(dir + "/reference.safetensors");
    const Tensor& input = ref.tensors.at("input_ids");
    const host::FunctionalDriver rt(ck, load_profile("krsna-mobile"));
    const auto r = rt.forward(int(input.shape[0]), int(input.shape[1]), input.to_i64());
    EXPECT_EQ(r.precision, Precision::bf16);
    const double error =
        max_abs_error(r.logits, GoldenModel(ck).forward(int(input.shape[0]), int(input.shape[1]), input.to_i64()));
    EXPECT_GT(error, measured / 2) << family;
    EXPECT_LT(error, 2 * measured) << family;
  }
}

// Two sessions decode side by side, each with its own conv and SSM states (the codegen
// refills a tile's resident states for the next session only after the previous session's
// states have been stored): the golden model's greedy generation for both.
TEST(FunctionalDriver, SessionsKeepTheirOwnStates) {
  const std::string dir = kModels + "mamba1";
  const HfCheckpoint ck = load_hf_checkpoint(dir);
  const GoldenModel golden(ck);
  const std::vector<std::int64_t> all =
      read_safetensors(dir + "/reference.safetensors").tensors.at("input_ids").to_i64();
  std::vector<std::int64_t> prompts(all.begin(), all.begin() + 5);
  prompts.insert(prompts.end(), all.begin() + 16, all.begin() + 21);
  const host::FunctionalDriver rt(ck, load_profile("krsna-mobile"));
  const auto gen = rt.generate(2, 5, prompts, 4);
  const auto expected = golden.generate(2, 5, prompts, 4);
  EXPECT_EQ(gen.new_ids, expected.new_ids);
  EXPECT_LT(max_abs_error(gen.logits, expected.logits), kMobileBound);
  const host::FunctionalDriver dc(ck, load_profile("krsna-dc"));
  test::expect_close(dc.generate(2, 5, prompts, 4).logits, expected.logits, 1e-4, 1e-4, "two sessions");
}

// A variant of the Zamba2 test checkpoint (tests/data/models/zamba2) in a temporary folder:
// `edit` changes its config and weights.
template <typename Edit>
fs::path zamba2_variant(const std::string& name, Edit edit) {
  const fs::path dir = test::temp_dir() / name;
  fs::create_directories(dir);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(kModels + "zamba2/config.json"));
  SafetensorsFile weights = read_safetensors(kModels + "zamba2/model.safetensors");
  edit(config, weights.tensors);
  std::ofstream(dir / "config.json") << config.dump(2);
  write_safetensors(dir / "model.safetensors", weights);
  return dir;
}

// The functional run of a checkpoint equals the golden model (which follows transformers'
// Zamba2 code) in prefill and greedy decode on krsna-dc.
void expect_functional_equals_golden(const HfCheckpoint& ck, const std::string& what) {
  const std::vector<std::int64_t> ids =
      read_safetensors(kModels + "zamba2/reference.safetensors").tensors.at("input_ids").to_i64();
  const std::vector<std::int64_t> first(ids.begin(), ids.begin() + 16), prompt(ids.begin(), ids.begin() + 6);
  const GoldenModel golden(ck);
  const host::FunctionalDriver rt(ck, load_profile("krsna-dc"));
  test::expect_close(rt.forward(1, 16, first).logits, golden.forward(1, 16, first), 1e-4, 1e-4, what + " prefill");
  const auto gen = rt.generate(1, 6, prompt, 4);
  const auto expected = golden.generate(1, 6, prompt, 4);
  EXPECT_EQ(gen.new_ids, expected.new_ids) << what;
  test::expect_close(gen.logits, expected.logits, 1e-4, 1e-4, what + " decode");
}

std::vector<float> zamba2_logits(const HfCheckpoint& ck) {
  const std::vector<std::int64_t> ids =
      read_safetensors(kModels + "zamba2/reference.safetensors").tensors.at("input_ids").to_i64();
  return GoldenModel(ck).forward(1, 16, std::vector<std::int64_t>(ids.begin(), ids.begin() + 16));
}

// Zamba2 with q/k/v adapters on its shared block (use_shared_attention_adapter), which the
// reference checkpoint does not have: the test checkpoint plus random adapters.
TEST(FunctionalDriver, Zamba2AttentionAdaptersMatchTheGoldenModel) {
  const fs::path dir = zamba2_variant("zamba2-adapters", [](nlohmann::json& config, auto& tensors) {
    config["use_shared_attention_adapter"] = true;
    const std::int64_t rank = config["adapter_rank"], in = config["attention_hidden_size"];
    SeededRandom random(20261123);
    for (const char* which : {"q", "k", "v"}) {
      const std::string p =
          std::string("model.layers.1.shared_transformer.self_attn.linear_") + which + "_adapter_list.0.";
      tensors[p + "0.weight"] = Tensor::from_f32({rank, in}, random.uniforms(std::size_t(rank * in), -0.3, 0.3));
      tensors[p + "1.weight"] = Tensor::from_f32({in, rank}, random.uniforms(std::size_t(rank * in), -0.3, 0.3));
    }
  });
  const HfCheckpoint ck = load_hf_checkpoint(dir);
  ASSERT_TRUE(ck.zamba.attention_adapters);
  // The adapters matter: without them the logits differ.
  EXPECT_GT(max_abs_error(zamba2_logits(ck), zamba2_logits(load_hf_checkpoint(kModels + "zamba2"))), 1e-3);
  expect_functional_equals_golden(ck, "zamba2 with attention adapters");
}

// Two shared blocks over three hybrid layers (num_mem_blocks = 2): layers 0 and 2 run block 0,
// layer 1 block 1, each layer with its own MLP adapter.
TEST(FunctionalDriver, Zamba2SharedBlocksAlternateOverTheHybridLayers) {
  const fs::path dir = zamba2_variant("zamba2-two-blocks", [](nlohmann::json& config, auto& tensors) {
    config["layers_block_type"] = {"hybrid", "hybrid", "hybrid"};
    config["hybrid_layer_ids"] = {0, 1, 2};
    config["num_mem_blocks"] = 2;
    SeededRandom random(20261124);
    auto rename = [&](const std::string& from, const std::string& to) {
      std::vector<std::string> names;
      for (const auto& [name, t] : tensors)
        if (name.starts_with(from)) names.push_back(name);
      for (const std::string& name : names) {
        auto node = tensors.extract(name);
        node.key() = to + name.substr(from.size());
        tensors.insert(std::move(node));
      }
    };
    auto perturbed = [&](const Tensor& t) {
      std::vector<float> v = t.to_f32();
      const std::vector<float> noise = random.uniforms(v.size(), -0.2, 0.2);
      for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.8f * v[i] + noise[i];
      return Tensor::from_f32(t.shape, v);
    };
    const std::string block1 = "model.layers.1.shared_transformer.";
    const std::string mlp_adapter = "feed_forward.gate_up_proj_adapter_list.";
    rename(block1 + mlp_adapter + "0.", block1 + mlp_adapter + "1.");  // layer 1 is hybrid layer 1
    for (int layer : {0, 2}) {
      const std::string p = "model.layers." + std::to_string(layer) + ".";
      rename(p + "mamba.", p + "mamba_decoder.mamba.");
      rename(p + "input_layernorm.", p + "mamba_decoder.input_layernorm.");
      tensors[p + "linear.weight"] = perturbed(tensors.at("model.layers.1.linear.weight"));
      for (const char* part : {"0.weight", "1.weight"})  // layer's adapter, stored with block 0
        tensors["model.layers.0.shared_transformer." + mlp_adapter + std::to_string(layer) + "." + part] =
            perturbed(tensors.at(block1 + mlp_adapter + "1." + part));
    }
    std::vector<std::string> block_tensors;
    for (const auto& [name, t] : tensors)
      if (name.starts_with(block1) && name.find("adapter") == std::string::npos) block_tensors.push_back(name);
    for (const std::string& name : block_tensors)
      tensors["model.layers.0.shared_transformer." + name.substr(block1.size())] = perturbed(tensors.at(name));
  });
  const HfCheckpoint ck = load_hf_checkpoint(dir);
  ASSERT_EQ(ck.zamba.num_mem_blocks, 2);
  expect_functional_equals_golden(ck, "zamba2 with two shared blocks");
}

// A head whose state does not fit the tile SRAM runs in slices of its head_dim rows (each row
// evolves on its own given the head's dt, B and C): a random Mamba-2 with Falcon-H1's head
// shape (head_dim 64, N 256: 64 KiB of state per head) on krsna-dc with 64 KiB tiles.
TEST(FunctionalDriver, HeadsSplitByRowsEqualTheGoldenModel) {
  const fs::path dir = test::temp_dir() / "mamba2-wide-heads";
  fs::create_directories(dir);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(kModels + "mamba2/config.json"));
  config["head_dim"] = 64;
  config["state_size"] = 256;
  config["num_heads"] = 2;
  config["num_hidden_layers"] = 1;
  std::ofstream(dir / "config.json") << config.dump(2);
  SafetensorsFile weights;
  SeededRandom random(20261125);
  for (const auto& [name, shape] : expected_tensors(parse_hf_config(config, dir / "config.json"))) {
    std::size_t count = 1;
    for (std::int64_t d : shape) count *= std::size_t(d);
    const bool norm = name.find("norm") != std::string::npos;
    const bool a_log = name.ends_with("A_log");
    weights.tensors[name] = Tensor::from_f32(shape, random.uniforms(count,
                                                                    norm    ? 0.5
                                                                    : a_log ? 0.0
                                                                            : -0.2,
                                                                    norm    ? 1.5
                                                                    : a_log ? 1.5
                                                                            : 0.2));
  }
  write_safetensors(dir / "model.safetensors", weights);
  const auto small = test::write_file("dc-64k.yaml", R"(base: krsna-dc
description: krsna-dc with 64 KiB tile SRAMs
tile:
  sram: {size_bytes: 64 KiB}
)");
  const HfCheckpoint ck = load_hf_checkpoint(dir);
  const Profile profile = load_profile(small.string());
  compiler::Scenario scenario;
  scenario.prompt_tokens = 16;
  scenario.generate_tokens = 3;
  const compiler::CompileResult compiled =
      compiler::compile(compiler::model_from_config(config, dir / "config.json"), scenario, profile,
                        host::functional_compile_options(profile));
  bool split = false;
  for (const auto& phase : compiled.phases)
    for (const auto& t : phase.tiled) split = split || t.blocks.find("head_dim_b=") != std::string::npos;
  EXPECT_TRUE(split) << "expected the scan to split its heads by rows";

  std::vector<std::int64_t> ids(16);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = std::int64_t(i * 7 % 250 + 1);
  const GoldenModel golden(ck);
  const host::FunctionalDriver rt(ck, profile);
  test::expect_close(rt.forward(1, 16, ids).logits, golden.forward(1, 16, ids), 1e-4, 1e-4, "split heads, prefill");
  const auto gen = rt.generate(1, 16, ids, 3);
  const auto expected = golden.generate(1, 16, ids, 3);
  EXPECT_EQ(gen.new_ids, expected.new_ids);
  test::expect_close(gen.logits, expected.logits, 1e-4, 1e-4, "split heads, decode");
}

// Unsupported models and bad ids are one-line errors naming what is missing.
TEST(FunctionalDriver, RejectsWhatItDoesNotSupport) {
  try {
    host::FunctionalDriver rt(load_hf_checkpoint(test::checkpoint_with_dt_clamp()), load_profile("krsna-dc"));
    FAIL() << "a dt clamp accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("a dt clamp (time_step_limit) is not supported yet"), std::string::npos)
        << e.what();
  }
  try {
    host::FunctionalDriver rt(load_hf_checkpoint(kModels + "mamba2"), load_profile("xeon-amx-class"));
    FAIL() << "a chip without a scan unit accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("needs a scan unit"), std::string::npos) << e.what();
  }
  const host::FunctionalDriver rt(load_hf_checkpoint(kModels + "mamba1"), load_profile("krsna-dc"));
  const std::vector<std::int64_t> ids = {1, 2, 256};
  EXPECT_THROW(rt.forward(1, 3, ids), ConfigError);
}

}  // namespace
}  // namespace ssmsoc
