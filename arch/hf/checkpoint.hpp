// HuggingFace checkpoints of state-space and hybrid language models: config.json parsed into
// the model description (arch/spec/model.hpp) and model.safetensors read with every tensor
// the golden executor (golden_model.hpp) uses checked by name and shape and held as float32.
//
// Supported model_type values: supported_model_types() (mamba, mamba2, jamba, bamba,
// granitemoehybrid, falcon_h1, nemotron_h, zamba2, and mamba3: a mamba_ssm checkpoint whose
// config.json has ssm_cfg.layer "Mamba3" instead of a model_type). Every problem is a ConfigError
// (config_tree.hpp) with a one-line message naming the file: an unsupported model_type
// (listing the supported ones), a missing or ill-typed config key, malformed JSON (with
// nlohmann's position), a missing tensor, a tensor of the wrong shape (expected and actual
// shapes).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "arch/spec/model.hpp"

namespace ssmsoc {

struct Weight {
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};

// A checkpoint: its model description and its weights.
struct HfCheckpoint : ModelConfig {
  std::filesystem::path dir;
  // Every weight the executor reads, by its name in model.safetensors.
  std::map<std::string, Weight> weights;

  bool has(const std::string& name) const { return weights.count(name) != 0; }
  // The values of a weight; a ConfigError naming it when it is absent.
  const std::vector<float>& weight(const std::string& name) const;
};

HfCheckpoint load_hf_checkpoint(const std::filesystem::path& dir);

// The config-only part of load_hf_checkpoint: a parsed config.json into an HfCheckpoint
// without weights (`dir` is the file's folder). Same checks and one-line errors.
HfCheckpoint parse_hf_config(const nlohmann::json& config, const std::filesystem::path& file,
                             const ModelConfigOptions& options = {});

}  // namespace ssmsoc
