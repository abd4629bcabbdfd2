// The HuggingFace checkpoint reader: the typed description of every family in
// tests/data/models (values read from their config.json by hand), and one test per kind of
// broken checkpoint with the exact one-line error it must give.
#include "arch/hf/checkpoint.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>

#include "arch/golden/safetensors.hpp"
#include "arch/spec/config_tree.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

const fs::path kModels = fs::path(SSMSOC_TEST_DATA_DIR) / "models";

std::string file_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A copy of a reference model in a fresh temporary directory, with config.json replaced by
// `config` when it is not empty and the weights passed through `edit`.
template <typename Edit>
fs::path broken_copy(const std::string& name, const std::string& family, const std::string& config, Edit edit) {
  const fs::path dir = test::temp_dir() / name;
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << (config.empty() ? file_text(kModels / family / "config.json") : config);
  SafetensorsFile weights = read_safetensors(kModels / family / "model.safetensors");
  edit(weights);
  write_safetensors(dir / "model.safetensors", weights);
  return dir;
}
fs::path broken_copy(const std::string& name, const std::string& family, const std::string& config) {
  return broken_copy(name, family, config, [](SafetensorsFile&) {});
}

std::string load_error(const fs::path& dir) {
  try {
    load_hf_checkpoint(dir);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

std::vector<LayerKind> kinds(std::initializer_list<LayerKind> list) { return list; }

TEST(Checkpoint, Mamba) {
  const HfCheckpoint ck = load_hf_checkpoint(kModels / "mamba1");
  EXPECT_EQ(ck.model_type, "mamba");
  EXPECT_EQ(ck.family, ModelFamily::mamba);
  EXPECT_EQ(ck.hidden_size, 32);
  EXPECT_EQ(ck.vocab_size, 256);
  EXPECT_EQ(ck.layers, kinds({LayerKind::mamba, LayerKind::mamba}));
  EXPECT_EQ(ck.mamba.version, 1);
  EXPECT_EQ(ck.mamba.d_inner, 64);
  EXPECT_EQ(ck.mamba.d_state, 8);
  EXPECT_EQ(ck.mamba.d_conv, 4);
  EXPECT_EQ(ck.mamba.dt_rank, 4);
  EXPECT_TRUE(ck.tie_word_embeddings);
  EXPECT_EQ(ck.lm_head_name(), "backbone.embeddings.weight");
  EXPECT_FALSE(ck.has("lm_head.weight"));
  EXPECT_FLOAT_EQ(ck.norm_eps, 1e-5f);
  const Weight& a_log = ck.weights.at("backbone.layers.1.mixer.A_log");
  EXPECT_EQ(a_log.shape, (std::vector<std::int64_t>{64, 8}));
  EXPECT_EQ(a_log.values.size(), 64u * 8u);
}

TEST(Checkpoint, Mamba2TimeStepLimitWithInfinity) {
  const HfCheckpoint ck = load_hf_checkpoint(kModels / "mamba2");
  EXPECT_EQ(ck.family, ModelFamily::mamba2);
  EXPECT_EQ(ck.mamba.version, 2);
  EXPECT_EQ(ck.mamba.heads, 8);
  EXPECT_EQ(ck.mamba.head_dim, 16);
  EXPECT_EQ(ck.mamba.d_inner, 128);
  EXPECT_EQ(ck.mamba.chunk_size, 8);
  EXPECT_EQ(ck.mamba.conv_dim(), 160);
  EXPECT_EQ(ck.mamba.in_proj_size(), 296);
  EXPECT_EQ(ck.mamba.norm_group_size, 128);
  EXPECT_EQ(ck.mamba.dt_min, 0.0f);
  EXPECT_EQ(ck.mamba.dt_max, std::numeric_limits<float>::infinity());
  EXPECT_FALSE(ck.tie_word_embeddings);
  EXPECT_EQ(ck.lm_head_name(), "lm_head.weight");
}

TEST(Checkpoint, JambaLayoutFromPeriodsAndOffsets) {
  const HfCheckpoint ck = load_hf_checkpoint(kModels / "jamba");
  EXPECT_EQ(ck.layers, kinds({LayerKind::mamba, LayerKind::mamba, LayerKind::attention, LayerKind::mamba}));
  EXPECT_EQ(ck.feed_forward, (std::vector<FeedForwardKind>{FeedForwardKind::mlp, FeedForwardKind::moe,
                                                           FeedForwardKind::mlp, FeedForwardKind::moe}));
  EXPECT_TRUE(ck.mamba.bcdt_norms);
  EXPECT_EQ(ck.mamba.version, 1);
  EXPECT_EQ(ck.attention.rotary_dim, 0);
  EXPECT_EQ(ck.ffn.experts, 4);
  EXPECT_EQ(ck.ffn.top_k, 2);
  EXPECT_EQ(ck.ffn.routing, Routing::softmax_topk);
  EXPECT_FALSE(ck.ffn.normalize_routing);
  EXPECT_FLOAT_EQ(ck.norm_eps, 1e-6f);
}

TEST(Checkpoint, BambaPartialRotary) {
  const HfCheckpoint ck = load_hf_checkpoint(kModels / "bamba");
  EXPECT_EQ(ck.layers, kinds({LayerKind::mamba, LayerKind::attention, LayerKind::mamba}));
  EXPECT_EQ(ck.attention.heads, 4);
  EXPECT_EQ(ck.attention.kv_heads, 2);
  EXPECT_EQ(ck.attention.head_dim, 16);
  EXPECT_EQ(ck.attention.rotary_dim, 8);
  EXPECT_FLOAT_EQ(ck.attention.rope_theta, 10000.0f);
  EXPECT_FLOAT_EQ(ck.attention.scale, 0.25f);
}

TEST(Checkpoint, GraniteMultipliers) {
  const HfCheckpoint ck = load_hf_checkpoint(kModels / "granitemoehybrid");
  EXPECT_EQ(ck.layers, kinds({LayerKind::mamba, LayerKind::attention, LayerKind::mamba}));
  EXPECT_FLOAT_EQ(ck.embedding_multiplier, 2.0f);
  EXPECT_FLOAT_EQ(ck.residual_multiplier, 0.7f);
  EXPECT_FLOAT_EQ(ck.logits_multiplier, 1.0f / 1.5f);
  EXPECT_FLOAT_EQ(ck.attention.scale, 0.2f);
  EXPECT_EQ(ck.attention.rotary_dim, 0);  // position_embedding_type is null
  EXPECT_EQ(ck.ffn.routing, Routing::topk_softmax);
  EXPECT_EQ(ck.ffn.expert_intermediate_size, 32);
  EXPECT_EQ(ck.ffn.shared_intermediate_size, 64);
}

TEST(Checkpoint, FalconH1MuP) {
  const HfCheckpoint ck = load_hf_checkpoint(kModels / "falcon_h1");
  EXPECT_EQ(ck.layers, kinds({LayerKind::parallel_hybrid, LayerKind::parallel_hybrid}));
  EXPECT_FLOAT_EQ(ck.embedding_multiplier, 1.5f);
  EXPECT_FLOAT_EQ(ck.logits_multiplier, 0.8f);
  EXPECT_FLOAT_EQ(ck.attention.in_multiplier, 1.1f);
  EXPECT_FLOAT_EQ(ck.attention.out_multiplier, 0.9f);
  EXPECT_FLOAT_EQ(ck.attention.key_multiplier, 0.9f);
  EXPECT_FLOAT_EQ(ck.mamba.in_multiplier, 1.2f);
  EXPECT_FLOAT_EQ(ck.mamba.out_multiplier, 0.85f);
  EXPECT_FLOAT_EQ(ck.ffn.gate_multiplier, 1.1f);
  EXPECT_FLOAT_EQ(ck.ffn.down_multiplier, 0.9f);
  EXPECT_FALSE(ck.mamba.gated_norm);
  // in_proj rows: z [0, 128), x [128, 256), B [256, 272), C [272, 288), dt [288, 296).
  const auto& mup = ck.mamba.in_proj_multipliers;
  ASSERT_EQ(mup.size(), 296u);
  EXPECT_FLOAT_EQ(mup[0], 1.1f);
  EXPECT_FLOAT_EQ(mup[128], 0.9f);
  EXPECT_FLOAT_EQ(mup[256], 1.2f);
  EXPECT_FLOAT_EQ(mup[272], 0.8f);
  EXPECT_FLOAT_EQ(mup[295], 1.05f);
}

TEST(Checkpoint, NemotronHBlockTypesAndRouting) {
  const HfCheckpoint ck = load_hf_checkpoint(kModels / "nemotron_h");
  EXPECT_EQ(ck.num_layers, 4);
  EXPECT_EQ(ck.layers, kinds({LayerKind::mamba, LayerKind::attention, LayerKind::mamba, LayerKind::moe}));
  EXPECT_EQ(ck.ffn.activation, Activation::relu2);
  EXPECT_EQ(ck.ffn.routing, Routing::sigmoid_topk);
  EXPECT_TRUE(ck.ffn.normalize_routing);
  EXPECT_EQ(ck.ffn.shared_intermediate_size, 32);
  EXPECT_EQ(ck.attention.rotary_dim, 0);
}

TEST(Checkpoint, Zamba2SharedBlock) {
  const HfCheckpoint ck = load_hf_checkpoint(kModels / "zamba2");
  EXPECT_EQ(ck.layers, kinds({LayerKind::mamba, LayerKind::shared_attention, LayerKind::mamba}));
  EXPECT_EQ(ck.attention.input_size, 64);
  EXPECT_EQ(ck.attention.head_dim, 16);
  EXPECT_FLOAT_EQ(ck.attention.scale, 1.0f / std::sqrt(8.0f));
  EXPECT_EQ(ck.attention.rotary_dim, 0);
  EXPECT_EQ(ck.ffn.activation, Activation::gelu);
  EXPECT_EQ(ck.shared_block_prefix(1), "model.layers.1.shared_transformer.");
  EXPECT_EQ(ck.adapter_index(1), 0);
  EXPECT_TRUE(ck.tie_word_embeddings);
}

// mamba_ssm's MambaLMHeadModel with Mamba3 mixers: a MambaConfig without model_type, the
// state_dict names, and the tied LM head (stored too) read as the embedding.
TEST(Checkpoint, Mamba3FromAMambaSsmCheckpoint) {
  const HfCheckpoint ck = load_hf_checkpoint(kModels / "mamba3");
  EXPECT_EQ(ck.model_type, "mamba3");
  EXPECT_EQ(ck.family, ModelFamily::mamba3);
  EXPECT_EQ(ck.mamba.version, 3);
  EXPECT_EQ(ck.lm_head_name(), "backbone.embedding.weight");
  EXPECT_FALSE(ck.has("lm_head.weight"));
  EXPECT_EQ(ck.weights.at("backbone.layers.1.mixer.B_bias").shape, (std::vector<std::int64_t>{4, 1, 16}));
  EXPECT_EQ(ck.weights.at("backbone.layers.0.mlp.fc1.weight").shape, (std::vector<std::int64_t>{256, 32}));
  EXPECT_TRUE(ck.has("backbone.layers.0.norm2.weight"));
  EXPECT_EQ(ck.weights.size(), 26u);  // 12 per layer, embedding, final norm
}

TEST(CheckpointErrors, Mamba3MissingOrMisshapenTensor) {
  auto dir = broken_copy("mamba3-missing", "mamba3", "",
                         [](SafetensorsFile& f) { f.tensors.erase("backbone.layers.1.mixer.C_bias"); });
  EXPECT_EQ(load_error(dir),
            (dir / "model.safetensors").string() + ": missing tensor 'backbone.layers.1.mixer.C_bias'");
  dir = broken_copy("mamba3-mimo", "mamba3",
                    R"({"d_model": 32, "n_layer": 2, "d_intermediate": 128, "vocab_size": 256,
                        "ssm_cfg": {"layer": "Mamba3", "d_state": 16, "headdim": 16, "is_mimo": true, "mimo_rank": 2}})");
  EXPECT_EQ(load_error(dir), (dir / "model.safetensors").string() +
                                 ": tensor 'backbone.layers.0.mixer.in_proj.weight' has shape [176, 32], expected "
                                 "[208, 32]");
}

TEST(CheckpointErrors, UnsupportedModelTypeListsTheSupportedOnes) {
  const auto dir = broken_copy("unsupported", "mamba1", R"({"model_type": "llama", "hidden_size": 32})");
  EXPECT_EQ(load_error(dir), (dir / "config.json").string() +
                                 ": model_type: \"llama\" is not supported (supported: mamba, mamba2, jamba, bamba, "
                                 "granitemoehybrid, falcon_h1, nemotron_h, zamba2, mamba3)");
}

TEST(CheckpointErrors, MissingTensorNamesTensorAndFile) {
  const auto dir = broken_copy("missing", "mamba2", "",
                               [](SafetensorsFile& f) { f.tensors.erase("backbone.layers.1.mixer.dt_bias"); });
  EXPECT_EQ(load_error(dir),
            (dir / "model.safetensors").string() + ": missing tensor 'backbone.layers.1.mixer.dt_bias'");
}

TEST(CheckpointErrors, WrongShapeGivesExpectedAndActual) {
  const auto dir = broken_copy("shape", "mamba1", "", [](SafetensorsFile& f) {
    Tensor& t = f.tensors.at("backbone.layers.0.mixer.x_proj.weight");
    t.shape = {64, 20};
  });
  EXPECT_EQ(load_error(dir),
            (dir / "model.safetensors").string() +
                ": tensor 'backbone.layers.0.mixer.x_proj.weight' has shape [64, 20], expected [20, 64]");
}

TEST(CheckpointErrors, BadJsonNamesConfigAndPosition) {
  const auto dir = broken_copy("json", "mamba1", "{\n  \"model_type\": \"mamba\",\n  \"hidden_size\": 32,,\n}");
  EXPECT_EQ(load_error(dir), (dir / "config.json").string() +
                                 ": invalid JSON: [json.exception.parse_error.101] parse error at line 3, column 21: "
                                 "syntax error while parsing object key - unexpected ','; expected string literal");
}

// A number beyond a double (a fuzz finding: it once escaped as nlohmann's out_of_range).
TEST(CheckpointErrors, NumberBeyondADoubleNamesConfigAndPosition) {
  const auto dir = broken_copy("overflow", "mamba1", "{\n  \"model_type\": \"mamba\",\n  \"rms_norm_eps\": 1e705\n}");
  EXPECT_EQ(load_error(dir),
            (dir / "config.json").string() + ":3:19: invalid JSON: the number 1e705 does not fit a double");
}

TEST(CheckpointErrors, MissingConfigKey) {
  const auto dir = broken_copy("key", "mamba1", R"({"model_type": "mamba2", "hidden_size": 64, "vocab_size": 256})");
  EXPECT_EQ(load_error(dir), (dir / "config.json").string() + ": num_hidden_layers: missing");
}

TEST(CheckpointErrors, IllTypedConfigValue) {
  std::string config = file_text(kModels / "mamba2" / "config.json");
  config.replace(config.find("\"chunk_size\": 8"), 15, "\"chunk_size\": \"8\"");
  const auto dir = broken_copy("type", "mamba2", config);
  EXPECT_EQ(load_error(dir), (dir / "config.json").string() + ": chunk_size: expected an integer, got \"8\"");
}

TEST(CheckpointErrors, MissingConfigFile) {
  const fs::path dir = test::temp_dir() / "no-config";
  fs::create_directories(dir);
  EXPECT_EQ(load_error(dir), (dir / "config.json").string() + ": cannot open the file");
}

TEST(CheckpointErrors, MissingWeightsFileIsAConfigError) {
  const fs::path dir = test::temp_dir() / "no-weights";
  fs::create_directories(dir);
  fs::copy_file(kModels / "mamba1" / "config.json", dir / "config.json", fs::copy_options::overwrite_existing);
  const std::string error = load_error(dir);
  EXPECT_EQ(error.rfind((dir / "model.safetensors").string(), 0), 0u) << error;
}

}  // namespace
}  // namespace ssmsoc
