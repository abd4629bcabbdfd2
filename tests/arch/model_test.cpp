// The model description (arch/spec/model.hpp): every SSM and hybrid family adapter against a
// real checkpoint of its family (tests/data/models): the tensors expected_tensors names are
// exactly the file's, with its shapes, and parameter_count is their elements; then generated
// variants of each config (tied or not, more layers) keep the names unique and the count
// equal to the tensors' elements.
#include "arch/spec/model.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "arch/golden/safetensors.hpp"
#include "arch/spec/config_tree.hpp"
#include "arch/spec/isa.h"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

const fs::path kModels = fs::path(SSMSOC_TEST_DATA_DIR) / "models";
const char* const kFamilyDirs[] = {"mamba1",    "mamba2",     "jamba",  "bamba", "granitemoehybrid",
                                   "falcon_h1", "nemotron_h", "zamba2", "mamba3"};

// The config key that ties the LM head to the embedding: mamba_ssm's MambaConfig (Mamba-3)
// calls it tie_embeddings.
std::string tie_key(const std::string& dir) { return dir == "mamba3" ? "tie_embeddings" : "tie_word_embeddings"; }

ModelConfig parse(const nlohmann::json& config) {
  return parse_model_config(config, "config.json", supported_model_types());
}

std::int64_t elements(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

TEST(ModelAdapters, ExpectedTensorsAreExactlyACheckpointsTensors) {
  std::set<ModelFamily> families;
  for (const char* dir : kFamilyDirs) {
    SCOPED_TRACE(dir);
    const ModelConfig m = parse(read_json_file(kModels / dir / "config.json"));
    families.insert(m.family);
    const SafetensorsFile file = read_safetensors(kModels / dir / "model.safetensors");
    std::map<std::string, std::vector<std::int64_t>> in_file, expected;
    std::int64_t file_elements = 0;
    for (const auto& [name, tensor] : file.tensors) {
      // mamba_ssm's state_dict also stores the tied LM head (equal to the embedding).
      if (m.family == ModelFamily::mamba3 && m.tie_word_embeddings && name == "lm_head.weight") continue;
      in_file[name] = tensor.shape;
      file_elements += elements(tensor.shape);
    }
    const auto tensors = expected_tensors(m);
    for (const auto& [name, shape] : tensors) expected[name] = shape;
    EXPECT_EQ(expected.size(), tensors.size()) << "a tensor named twice";
    EXPECT_EQ(expected, in_file);
    EXPECT_EQ(parameter_count(m), file_elements);
  }
  EXPECT_EQ(families.size(), supported_model_types().size()) << "a family without a checkpoint here";
}

TEST(ModelAdapters, GeneratedConfigsKeepNamesUniqueAndTheCountTheirElements) {
  for (const char* dir : kFamilyDirs) {
    const nlohmann::json base = read_json_file(kModels / dir / "config.json");
    for (bool tied : {false, true}) {
      SCOPED_TRACE(std::string(dir) + (tied ? " tied" : " untied"));
      nlohmann::json config = base;
      config[tie_key(dir)] = tied;
      const ModelConfig m = parse(config);
      const auto tensors = expected_tensors(m);
      std::set<std::string> names;
      std::int64_t total = 0;
      for (const auto& [name, shape] : tensors) {
        EXPECT_TRUE(names.insert(name).second) << name << " twice";
        for (std::int64_t d : shape) EXPECT_GT(d, 0) << name;
        total += elements(shape);
      }
      EXPECT_EQ(parameter_count(m), total);
      EXPECT_EQ(names.count("lm_head.weight"), tied ? 0u : 1u);
      EXPECT_EQ(m.lm_head_name(), tied ? m.embedding_name() : "lm_head.weight");
      EXPECT_TRUE(names.count(m.embedding_name()) && names.count(m.final_norm_name()));
      // Every layer's input norm is a tensor of the layer.
      for (int l = 0; l < m.num_layers; ++l) EXPECT_TRUE(names.count(m.layer_tensor_names(l).norm)) << l;
    }
  }
}

// Tying the embeddings removes exactly the vocab x hidden LM head.
TEST(ModelAdapters, TyingRemovesTheHead) {
  for (const char* dir : kFamilyDirs) {
    SCOPED_TRACE(dir);
    nlohmann::json config = read_json_file(kModels / dir / "config.json");
    config[tie_key(dir)] = false;
    const ModelConfig untied = parse(config);
    config[tie_key(dir)] = true;
    const ModelConfig tied = parse(config);
    EXPECT_EQ(parameter_count(untied) - parameter_count(tied), std::int64_t(untied.vocab_size) * untied.hidden_size);
  }
}

TEST(ScanVariants, Mamba2VariantsAreTheMultiheadScansAndUpdatesAreOneStep) {
  EXPECT_FALSE(ssm_scan_is_mamba2(SSM_SCAN_SELECTIVE));
  EXPECT_FALSE(ssm_scan_is_mamba2(SSM_SCAN_STATE_UPDATE));
  EXPECT_TRUE(ssm_scan_is_mamba2(SSM_SCAN_MULTIHEAD_UPDATE));
  EXPECT_TRUE(ssm_scan_is_mamba2(SSM_SCAN_SSD));
  EXPECT_FALSE(ssm_scan_is_update(SSM_SCAN_SELECTIVE));
  EXPECT_TRUE(ssm_scan_is_update(SSM_SCAN_STATE_UPDATE));
  EXPECT_TRUE(ssm_scan_is_update(SSM_SCAN_MULTIHEAD_UPDATE));
  EXPECT_FALSE(ssm_scan_is_update(SSM_SCAN_SSD));
}

// Zamba2's shared attention adapters add attention_hidden_size-wide outputs to q, k and v.
TEST(ModelAdapters, bad_zamba2_attention_adapters_need_full_width_heads) {
  nlohmann::json config = read_json_file(kModels / "zamba2" / "config.json");
  config["use_shared_attention_adapter"] = true;
  EXPECT_NO_THROW(parse(config));
  auto error = [](const nlohmann::json& c) {
    try {
      parse(c);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  nlohmann::json narrow = config;
  narrow["attention_head_dim"] = 8;
  EXPECT_EQ(
      error(narrow),
      "config.json: attention_head_dim: 4 heads x 8 do not make attention_hidden_size 64, as the shared attention "
      "adapters need");
  nlohmann::json grouped = config;
  grouped["num_key_value_heads"] = 2;
  EXPECT_EQ(error(grouped),
            "config.json: num_key_value_heads: 2, not num_attention_heads 4, as the shared attention adapters need");
  grouped["use_shared_attention_adapter"] = false;  // without adapters, grouped keys and values are fine
  EXPECT_NO_THROW(parse(grouped));
}

TEST(ModelAdapters, bad_model_type_lists_the_families_the_caller_takes) {
  const nlohmann::json config = {{"model_type", "llama"}};
  try {
    parse(config);
    FAIL() << "llama accepted as a checkpoint family";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "config.json: model_type: \"llama\" is not supported (supported: mamba, mamba2, jamba, bamba, "
                 "granitemoehybrid, falcon_h1, nemotron_h, zamba2, mamba3)");
  }
}

// Mamba-3: mamba_ssm's MambaConfig (no model_type; ssm_cfg.layer "Mamba3").
TEST(ModelAdapters, Mamba3ReadsTheMambaSsmConfig) {
  const ModelConfig m = parse(read_json_file(kModels / "mamba3" / "config.json"));
  EXPECT_EQ(m.model_type, "mamba3");
  EXPECT_EQ(m.family, ModelFamily::mamba3);
  EXPECT_EQ(m.hidden_size, 32);
  EXPECT_EQ(m.num_layers, 2);
  EXPECT_EQ(m.vocab_size, 256);
  EXPECT_TRUE(m.tie_word_embeddings);
  EXPECT_FLOAT_EQ(m.norm_eps, 1e-5f);
  const MambaShape& s = m.mamba;
  EXPECT_EQ(s.version, 3);
  EXPECT_EQ(s.d_inner, 64);
  EXPECT_EQ(s.heads, 4);
  EXPECT_EQ(s.head_dim, 16);
  EXPECT_EQ(s.groups, 1);
  EXPECT_EQ(s.d_state, 16);
  EXPECT_EQ(s.rope_angles, 4);
  EXPECT_FLOAT_EQ(s.rope_fraction, 0.5f);
  EXPECT_FALSE(s.mimo);
  EXPECT_EQ(s.mimo_rank, 1);
  EXPECT_FALSE(s.outproj_norm);
  EXPECT_FLOAT_EQ(s.A_floor, 1e-4f);
  EXPECT_EQ(s.chunk_size, 16);
  EXPECT_EQ(s.in_proj_size(), 176);
  EXPECT_EQ(m.ffn.intermediate_size, 128);
  EXPECT_EQ(m.layers, std::vector<LayerKind>(2, LayerKind::mamba));
  EXPECT_EQ(m.feed_forward, std::vector<FeedForwardKind>(2, FeedForwardKind::mlp));
  EXPECT_EQ(m.feed_forward_layout(), FeedForwardLayout::fc);
  EXPECT_EQ(m.embedding_name(), "backbone.embedding.weight");
  EXPECT_EQ(m.layer_tensor_names(1).ff_norm, "backbone.layers.1.norm2.weight");
}

TEST(ModelAdapters, Mamba3DefaultsAreTheOfficialLayers) {
  const nlohmann::json config = {
      {"d_model", 64},         {"n_layer", 3},
      {"vocab_size", 250},     {"pad_vocab_size_multiple", 16},
      {"d_intermediate", 100}, {"ssm_cfg", {{"layer", "Mamba3"}, {"is_mimo", true}, {"rope_fraction", 1.0}}}};
  const ModelConfig m = parse(config);
  EXPECT_EQ(m.vocab_size, 256);  // padded to the multiple
  EXPECT_TRUE(m.tie_word_embeddings);
  EXPECT_EQ(m.ffn.intermediate_size, 128);  // GatedMLP rounds up to a multiple of 128
  const MambaShape& s = m.mamba;
  EXPECT_EQ(s.d_state, 128);
  EXPECT_EQ(s.head_dim, 64);
  EXPECT_EQ(s.d_inner, 128);
  EXPECT_EQ(s.heads, 2);
  EXPECT_EQ(s.rope_angles, 64);
  EXPECT_EQ(s.mimo_rank, 4);
  EXPECT_EQ(s.chunk_size, 64);
  // d_intermediate 0: no MLP (and no norm2).
  nlohmann::json plain = config;
  plain["d_intermediate"] = 0;
  plain["model_type"] = "mamba3";  // an explicit model_type is the same family
  const ModelConfig p = parse(plain);
  EXPECT_EQ(p.feed_forward, std::vector<FeedForwardKind>(3, FeedForwardKind::none));
  for (const auto& [name, shape] : expected_tensors(p)) EXPECT_EQ(name.find("norm2"), std::string::npos) << name;
}

std::string parse_error(const nlohmann::json& config, const std::vector<std::string>& accepted) {
  try {
    parse_model_config(config, "config.json", accepted);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "accepted";
}

TEST(ModelAdapters, bad_mamba3_options_are_one_line_errors) {
  const nlohmann::json base = read_json_file(kModels / "mamba3" / "config.json");
  auto error = [&](const std::string& pointer, const nlohmann::json& value) {
    nlohmann::json config = base;
    config[nlohmann::json::json_pointer(pointer)] = value;
    return parse_error(config, supported_model_types());
  };
  EXPECT_EQ(error("/ssm_cfg/layer", "Mamba2"),
            "config.json: ssm_cfg.layer: \"Mamba2\": of mamba_ssm configs (no model_type) only Mamba3 layers are "
            "supported; Mamba and Mamba-2 through their HuggingFace config.json (model_type mamba, mamba2)");
  EXPECT_EQ(error("/ssm_cfg/d_conv", 4),
            "config.json: ssm_cfg.d_conv: not an option of the Mamba3 layer (d_state, expand, headdim, ngroups, "
            "rope_fraction, A_floor, is_outproj_norm, is_mimo, mimo_rank, chunk_size, dt_min, dt_max, dt_init_floor, "
            "dropout)");
  EXPECT_EQ(error("/ssm_cfg/rope_fraction", 0.25),
            "config.json: ssm_cfg.rope_fraction: expected 0.5 or 1.0 (as the Mamba3 layer asserts), got 0.25");
  EXPECT_EQ(error("/ssm_cfg/headdim", 24), "config.json: ssm_cfg.headdim: 64 does not split into 24 parts");
  EXPECT_EQ(error("/ssm_cfg/ngroups", 3), "config.json: ssm_cfg.ngroups: 4 does not split into 3 parts");
  EXPECT_EQ(error("/ssm_cfg/d_state", 0), "config.json: ssm_cfg.d_state: expected an integer in 1..4096, got 0");
  EXPECT_EQ(error("/ssm_cfg/is_mimo", "yes"), "config.json: ssm_cfg.is_mimo: expected true or false, got \"yes\"");
  EXPECT_EQ(error("/ssm_cfg", 3), "config.json: ssm_cfg: expected an object, got 3");
  EXPECT_EQ(error("/rms_norm", false),
            "config.json: rms_norm: LayerNorm blocks (rms_norm false) are not supported (the Mamba-3 models use "
            "RMSNorm)");
  EXPECT_EQ(error("/attn_layer_idx", nlohmann::json::array({1})),
            "config.json: attn_layer_idx: attention layers in a mamba_ssm model are not supported yet");
  EXPECT_EQ(error("/n_layer", 0), "config.json: n_layer: expected an integer in 1..4096, got 0");
  EXPECT_EQ(error("/ssm_cfg/d_state", 2), "config.json: ssm_cfg.d_state: 2 x rope_fraction 0.5 leaves no rotary angle");
}

// The compiler does not map Mamba-3 layers: its list leaves the family out, with its reason.
TEST(ModelAdapters, bad_mamba3_is_not_a_compiler_family) {
  const auto& compiled = compiler_model_types();
  EXPECT_EQ(std::count(compiled.begin(), compiled.end(), "mamba3"), 0);
  const auto& loaded = supported_model_types();
  EXPECT_EQ(std::count(loaded.begin(), loaded.end(), "mamba3"), 1);
  nlohmann::json config = read_json_file(kModels / "mamba3" / "config.json");
  EXPECT_EQ(parse_error(config, compiled),
            "config.json: ssm_cfg: Mamba-3 is not supported here: the compiler does not map Mamba-3 layers yet "
            "(ssmsoc golden runs them)");
  config["model_type"] = "mamba3";
  EXPECT_EQ(parse_error(config, compiled),
            "config.json: model_type: Mamba-3 is not supported here: the compiler does not map Mamba-3 layers yet "
            "(ssmsoc golden runs them)");
}

}  // namespace
}  // namespace ssmsoc
