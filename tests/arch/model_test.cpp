// The model description (arch/spec/model.hpp): every SSM and hybrid family adapter against a
// real checkpoint of its family (tests/data/models): the tensors expected_tensors names are
// exactly the file's, with its shapes, and parameter_count is their elements; then generated
// variants of each config (tied or not, more layers) keep the names unique and the count
// equal to the tensors' elements.
#include "arch/spec/model.hpp"

#include <gtest/gtest.h>

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
const char* const kFamilyDirs[] = {"mamba1",           "mamba2",    "jamba",      "bamba",
                                   "granitemoehybrid", "falcon_h1", "nemotron_h", "zamba2"};

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
      config["tie_word_embeddings"] = tied;
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
    config["tie_word_embeddings"] = false;
    const ModelConfig untied = parse(config);
    config["tie_word_embeddings"] = true;
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
                 "granitemoehybrid, falcon_h1, nemotron_h, zamba2)");
  }
}

}  // namespace
}  // namespace ssmsoc
