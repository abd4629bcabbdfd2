// The compiler's frontends: a model (the project's workload YAML, a HuggingFace config.json,
// or a checkpoint folder holding one) into a typed ModelSpec, and a scenario (prompt length,
// generated tokens, sessions) into a Scenario. workloads/README.md documents the keys.
//
// A workload YAML carries the HuggingFace config keys of its model_type plus `name` and
// `source` (where the shapes come from), so one typed parser, arch's model description
// (arch/spec/model.hpp, one adapter per family), serves both frontends: the YAML becomes the
// JSON object a config.json would be. YAML loading is strict: a key the parser does not
// read, and that is not one of the informational HF keys (token ids, dtype, ...), is an
// error. Every error is one ConfigError line: "FILE:LINE:COLUMN: KEY: what".
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "arch/spec/model.hpp"

namespace ssmsoc::compiler {

// A model to compile: its description and its names.
struct ModelSpec : ModelConfig {
  std::string name;    // workload name (YAML `name`, else the folder or file stem)
  std::string source;  // where the shapes come from (YAML `source`, else the file path)
  std::filesystem::path file;
};

// Loads a workload YAML (.yaml/.yml), a config.json, or a folder with a config.json.
ModelSpec load_model(const std::filesystem::path& path);
// A model by path (as load_model), or by workload name: workloads/models/NAME.yaml of the source
// tree (beside the profile directory). ConfigError naming `option` when neither exists.
ModelSpec load_workload(const std::string& name_or_path, std::string_view option = "--model");
// A parsed config (JSON object) as a model (any of compiler_model_types()); `file` names
// errors. Used by both frontends.
ModelSpec model_from_config(const nlohmann::json& config, const std::filesystem::path& file,
                            const ModelConfigOptions& options = {});

using ssmsoc::compiler_model_types;
using ssmsoc::parameter_count;

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
