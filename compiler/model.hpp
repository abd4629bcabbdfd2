// The compiler's frontends: a model (the project's workload YAML, a HuggingFace config.json,
// or a checkpoint folder holding one) into a typed ModelSpec, and a scenario (prompt length,
// generated tokens, sessions) into a Scenario. workloads/README.md documents the keys.
//
// A workload YAML carries the HuggingFace config keys of its model_type plus `name` and
// `source` (where the shapes come from), so one typed parser serves both frontends: the
// eight SSM and hybrid families go through arch's parse_hf_config, the transformer
// baselines (llama, gpt_neox) through this file. YAML loading is strict: a key the parser
// does not read, and that is not one of the informational HF keys (token ids, dtype, ...),
// is an error. Every error is one ConfigError line: "FILE:LINE:COLUMN: KEY: what".
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "arch/hf/checkpoint.hpp"

namespace ssmsoc::compiler {

struct ModelSpec {
  std::string name;    // workload name (YAML `name`, else the folder or file stem)
  std::string source;  // where the shapes come from (YAML `source`, else the file path)
  std::filesystem::path file;
  std::string model_type;  // the HF model_type ("mamba", "llama", ...)

  int hidden_size = 0, vocab_size = 0, num_layers = 0;
  bool tie_word_embeddings = false;
  float norm_eps = 1e-5f;                     // the RMSNorms' epsilon (decoder layers and final norm)
  std::vector<LayerKind> layers;              // one per decoder layer
  std::vector<FeedForwardKind> feed_forward;  // one per decoder layer
  MambaShape mamba;
  AttentionShape attention;
  FeedForwardShape ffn;
  ZambaShape zamba;
  bool gated_mlp = true;           // gate/up/down; false: up/down (relu2, gpt_neox)
  bool layer_norm = false;         // LayerNorm (gpt_neox) instead of RMSNorm
  bool parallel_residual = false;  // gpt_neox: attention and MLP read the same input
};

// Loads a workload YAML (.yaml/.yml), a config.json, or a folder with a config.json.
ModelSpec load_model(const std::filesystem::path& path);
// A parsed config (JSON object) as a model; `file` names errors. Used by both frontends.
ModelSpec model_from_config(const nlohmann::json& config, const std::filesystem::path& file,
                            const HfConfigOptions& options = {});

// The model_type values the compiler accepts: arch's eight families and the baselines.
const std::vector<std::string>& compiler_model_types();

// Total parameters (every weight tensor the model has, embeddings and head counted once
// when tied) and the parameters a token touches (MoE: top_k experts, not all).
std::int64_t parameter_count(const ModelSpec& model);
std::int64_t active_parameter_count(const ModelSpec& model);

struct Scenario {
  std::string name = "default";
  int prompt_tokens = 512;
  int generate_tokens = 128;
  int batch = 1;  // concurrent sessions (decode batch)
};

// workloads/scenarios/*.yaml: {name, description, prompt, generate, batch}; strict.
Scenario load_scenario(const std::filesystem::path& file);
// Range checks shared by the loader and callers that build a Scenario from options.
void check_scenario(const Scenario& scenario);

}  // namespace ssmsoc::compiler
