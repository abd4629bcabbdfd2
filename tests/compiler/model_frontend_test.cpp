// The compiler's model frontends over arch's model description: a workload YAML and a
// config.json with the same keys give the same ModelConfig for every family, and the
// transformer baselines' adapters count the parameters the published checkpoints have.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "compiler/model.hpp"
#include "tests/support.hpp"

namespace ssmsoc::compiler {
namespace {

namespace fs = std::filesystem;

const fs::path kModels = fs::path(SSMSOC_TEST_DATA_DIR) / "models";

// Pythia-160m's config.json keys (EleutherAI/pythia-160m).
const nlohmann::json kPythia160m = {
    {"model_type", "gpt_neox"},  {"hidden_size", 768},           {"intermediate_size", 3072},
    {"num_attention_heads", 12}, {"num_hidden_layers", 12},      {"vocab_size", 50304},
    {"rotary_pct", 0.25},        {"rotary_emb_base", 10000},     {"use_parallel_residual", true},
    {"hidden_act", "gelu"},      {"tie_word_embeddings", false}, {"layer_norm_eps", 1e-5}};

// Llama-3.2-1B's (meta-llama/Llama-3.2-1B).
const nlohmann::json kLlama32_1b = {{"model_type", "llama"},
                                    {"hidden_size", 2048},
                                    {"intermediate_size", 8192},
                                    {"num_attention_heads", 32},
                                    {"num_key_value_heads", 8},
                                    {"num_hidden_layers", 16},
                                    {"head_dim", 64},
                                    {"vocab_size", 128256},
                                    {"rope_theta", 500000.0},
                                    {"hidden_act", "silu"},
                                    {"tie_word_embeddings", true},
                                    {"rms_norm_eps", 1e-5}};

// The same keys as a config.json and as a workload YAML (each value in JSON's flow syntax,
// which YAML reads alike); only the keys the parser reads go into the YAML, which is strict.
std::pair<ModelSpec, ModelSpec> both_frontends(const std::string& name, const nlohmann::json& config) {
  const fs::path dir = test::temp_dir() / ("frontends-" + name);
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << config.dump(2);
  std::set<std::string> read;
  model_from_config(config, dir / "config.json", {nullptr, &read});
  std::ofstream yaml(dir / (name + ".yaml"));
  yaml << "name: " << name << "\nsource: generated\n";
  for (const std::string& key : read)
    if (config.contains(key)) yaml << key << ": " << config.at(key).dump() << "\n";
  yaml.close();
  return {load_model(dir / "config.json"), load_model(dir / (name + ".yaml"))};
}

TEST(ModelFrontends, YamlAndJsonGiveEqualModelConfigsForEveryFamily) {
  std::set<std::string> families;
  std::vector<std::pair<std::string, nlohmann::json>> configs = {{"pythia", kPythia160m}, {"llama", kLlama32_1b}};
  for (const auto& e : fs::directory_iterator(kModels))
    if (e.path().filename() != "mamba3")  // golden model only: the compiler does not map Mamba-3 layers yet
      configs.push_back({e.path().filename().string(), read_json_file(e.path() / "config.json")});
  for (const auto& [name, config] : configs) {
    SCOPED_TRACE(name);
    const auto [json, yaml] = both_frontends(name, config);
    families.insert(json.model_type);
    EXPECT_EQ(static_cast<const ModelConfig&>(json), static_cast<const ModelConfig&>(yaml));
    EXPECT_EQ(yaml.name, name);
    EXPECT_EQ(yaml.source, "generated");
  }
  EXPECT_EQ(families.size(), compiler_model_types().size()) << "a family the test does not cover";
}

// The published totals, by hand: Pythia-160m 2·50304·768 (embed_in, embed_out) + 12 layers of
// 7,087,872 (LayerNorms 4·768; query_key_value 3·768·768 + 3·768; dense 768·768 + 768; MLP
// 2·768·3072 + 3072 + 768) + the final LayerNorm 2·768 = 162,322,944. Llama-3.2-1B (tied)
// 128256·2048 + 16 layers of 60,821,504 (norms 2·2048; q and o 2·2048·2048; k and v
// 2·512·2048; MLP 3·2048·8192) + 2048 = 1,235,814,400.
TEST(ModelFrontends, BaselinesCountThePublishedParameters) {
  EXPECT_EQ(parameter_count(model_from_config(kPythia160m, "pythia-160m.json")), 162'322'944);
  EXPECT_EQ(parameter_count(model_from_config(kLlama32_1b, "llama-3.2-1b.json")), 1'235'814'400);
  // The shipped workloads of the same models.
  EXPECT_EQ(parameter_count(load_model("workloads/models/pythia-160m.yaml")), 162'322'944);
  EXPECT_EQ(parameter_count(load_model("workloads/models/llama-3.2-1b.yaml")), 1'235'814'400);
}

TEST(ModelFrontends, BaselineFlags) {
  const ModelSpec pythia = model_from_config(kPythia160m, "p.json");
  EXPECT_EQ(pythia.family, ModelFamily::gpt_neox);
  EXPECT_FALSE(pythia.gated_mlp);
  EXPECT_TRUE(pythia.layer_norm);
  EXPECT_TRUE(pythia.parallel_residual);
  EXPECT_EQ(pythia.attention.rotary_dim, 16);  // 0.25 of head_dim 64
  const ModelSpec llama = model_from_config(kLlama32_1b, "l.json");
  EXPECT_TRUE(llama.gated_mlp);
  EXPECT_FALSE(llama.layer_norm);
  EXPECT_EQ(llama.attention.kv_heads, 8);
  EXPECT_EQ(llama.lm_head_name(), "model.embed_tokens.weight");
}

}  // namespace
}  // namespace ssmsoc::compiler
