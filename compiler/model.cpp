#include "compiler/model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/profile.hpp"

namespace ssmsoc::compiler {

namespace {

using nlohmann::json;

// HF config keys that describe training, tokenizer or runtime details and do not change
// the model's shapes; a workload YAML may carry them and they are ignored.
const std::vector<std::string>& informational_keys() {
  static const std::vector<std::string> keys = {"architectures",
                                                "torch_dtype",
                                                "dtype",
                                                "transformers_version",
                                                "bos_token_id",
                                                "eos_token_id",
                                                "pad_token_id",
                                                "initializer_range",
                                                "use_cache",
                                                "max_position_embeddings",
                                                "rescale_prenorm_residual",
                                                "residual_in_fp32",
                                                "fused_add_norm",
                                                "pretraining_tp",
                                                "attention_dropout",
                                                "hidden_dropout",
                                                "output_router_logits",
                                                "router_aux_loss_coef",
                                                "time_step_min",
                                                "time_step_max",
                                                "time_step_floor",
                                                "time_step_init_scheme",
                                                "time_step_scale",
                                                "rms_norm",
                                                "use_cuda_kernels",
                                                "use_mambapy",
                                                "num_logits_to_keep",
                                                "sliding_window",
                                                "tokenizer_class",
                                                "auto_map",
                                                "model_name",
                                                "classifier_dropout",
                                                "use_flash_attn",
                                                "rope_scaling",
                                                "mlp_bias_unused",
                                                "description"};
  return keys;
}

// YAML scalars into JSON values: quoted = string; true/false; null/~; integers; numbers.
json scalar_json(const ConfigNode& node) {
  if (node.kind == ConfigNode::Kind::null) return nullptr;
  const std::string& s = node.scalar;
  if (node.quoted) return s;
  if (s == "true" || s == "True") return true;
  if (s == "false" || s == "False") return false;
  if (s == "null" || s == "~" || s.empty()) return nullptr;
  std::int64_t i = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
  if (ec == std::errc() && end == s.data() + s.size()) return i;
  if (s == ".inf" || s == "inf" || s == "Infinity") return json{{"__float__", "Infinity"}};
  char* stop = nullptr;
  const double d = std::strtod(s.c_str(), &stop);
  if (stop && *stop == '\0' && !s.empty()) return d;
  return s;
}

json to_json(const ConfigNode& node) {
  switch (node.kind) {
    case ConfigNode::Kind::map: {
      json out = json::object();
      for (const auto& e : node.entries) out[e.key] = to_json(e.value);
      return out;
    }
    case ConfigNode::Kind::sequence: {
      json out = json::array();
      for (const auto& item : node.items) out.push_back(to_json(item));
      return out;
    }
    default:
      return scalar_json(node);
  }
}

ModelSpec load_yaml_model(const std::filesystem::path& file) {
  const ConfigNode root = parse_yaml_file(file);
  if (root.kind != ConfigNode::Kind::map) throw ConfigError(root.pos, "", "expected a mapping of model keys");
  auto locate = [&root](std::string_view key) {
    const std::string top(key.substr(0, key.find_first_of(". ")));
    const ConfigEntry* e = root.find_entry(top);
    const SourcePos& p = e ? e->key_pos : root.pos;
    return p.line > 0 ? fmt::format("{}:{}:{}", p.file, p.line, p.column) : p.file;
  };
  for (const char* key : {"name", "source"}) {
    const ConfigEntry* e = root.find_entry(key);
    if (!e) throw ConfigError(root.pos, key, "missing (every workload names itself and the source of its shapes)");
    if (e->value.kind != ConfigNode::Kind::scalar || e->value.scalar.empty())
      throw ConfigError(e->value.pos, key, "expected a non-empty string");
  }
  json config = to_json(root);
  const std::string name = config["name"].is_string() ? config["name"].get<std::string>() : config["name"].dump();
  const std::string source = config["source"].is_string() ? config["source"].get<std::string>() : "";
  config.erase("name");
  config.erase("source");
  std::set<std::string> read;
  ModelConfigOptions options{locate, &read};
  ModelSpec model = model_from_config(config, file, options);
  // Strictness: every key must be one the parser read or an informational one.
  std::vector<std::string> known(read.begin(), read.end());
  const auto& info = informational_keys();
  known.insert(known.end(), info.begin(), info.end());
  known.push_back("name");
  known.push_back("source");
  for (const auto& e : root.entries) {
    if (e.key == "name" || e.key == "source" || read.count(e.key) ||
        std::find(info.begin(), info.end(), e.key) != info.end())
      continue;
    const std::string guess = closest_match(e.key, known);
    throw ConfigError(e.key_pos, e.key,
                      fmt::format("unknown key for model_type {}{}", model.model_type,
                                  guess.empty() ? "" : fmt::format(" (did you mean '{}'?)", guess)));
  }
  model.name = name;
  model.source = source;
  return model;
}

ModelSpec load_json_model(const std::filesystem::path& file) {
  ModelSpec model = model_from_config(read_json_file(file), file);
  const auto folder = file.parent_path().filename().string();
  model.name = file.filename() == "config.json" && !folder.empty() ? folder : file.stem().string();
  model.source = file.string();
  return model;
}

}  // namespace

ModelSpec model_from_config(const json& config, const std::filesystem::path& file, const ModelConfigOptions& options) {
  ModelSpec m;
  static_cast<ModelConfig&>(m) = parse_model_config(config, file, compiler_model_types(), options);
  m.file = file;
  return m;
}

ModelSpec load_workload(const std::string& name_or_path, std::string_view option) {
  if (std::filesystem::exists(name_or_path)) return load_model(name_or_path);
  const std::filesystem::path workload =
      profile_directory().parent_path().parent_path() / "workloads" / "models" / (name_or_path + ".yaml");
  if (std::filesystem::exists(workload)) return load_model(workload);
  throw ConfigError(
      fmt::format("{} {}: no such file, folder or workload (see workloads/models)", option, name_or_path));
}

ModelSpec load_model(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    const auto config = path / "config.json";
    if (!std::filesystem::exists(config))
      throw ConfigError(fmt::format("{}: a model folder needs a config.json", path.string()));
    ModelSpec m = load_json_model(config);
    m.name = path.filename().empty() ? path.parent_path().filename().string() : path.filename().string();
    return m;
  }
  if (!std::filesystem::exists(path, ec)) throw ConfigError(fmt::format("{}: no such file", path.string()));
  const auto ext = path.extension().string();
  if (ext == ".yaml" || ext == ".yml") return load_yaml_model(path);
  if (ext == ".json") return load_json_model(path);
  throw ConfigError(fmt::format("{}: expected a workload .yaml, a config.json or a checkpoint folder", path.string()));
}

void check_scenario(const Scenario& s) {
  if (s.prompt_tokens < 1 || s.prompt_tokens > (1 << 20))
    throw ConfigError(fmt::format("scenario {}: prompt: {} is outside [1, 1048576] tokens", s.name, s.prompt_tokens));
  if (s.generate_tokens < 0 || s.generate_tokens > (1 << 20))
    throw ConfigError(
        fmt::format("scenario {}: generate: {} is outside [0, 1048576] tokens", s.name, s.generate_tokens));
  if (s.batch < 1 || s.batch > 4096)
    throw ConfigError(fmt::format("scenario {}: batch: {} is outside [1, 4096] sessions", s.name, s.batch));
}

Scenario load_scenario(const std::filesystem::path& file) {
  const ConfigNode root = parse_yaml_file(file);
  const MapReader r(root, "", {"name", "description", "prompt", "generate", "batch"});
  Scenario s;
  s.name = r.has("name") ? r.string("name") : file.stem().string();
  if (r.has("description")) r.string("description");
  s.prompt_tokens = static_cast<int>(r.integer("prompt", 1, 1 << 20));
  s.generate_tokens = static_cast<int>(r.integer("generate", 0, 1 << 20));
  s.batch = r.has("batch") ? static_cast<int>(r.integer("batch", 1, 4096)) : 1;
  return s;
}

}  // namespace ssmsoc::compiler
