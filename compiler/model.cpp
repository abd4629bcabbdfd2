#include "compiler/model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "arch/spec/config_tree.hpp"

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

// Reader for the baseline families (llama, gpt_neox), with arch's error conventions.
class BaselineReader {
 public:
  BaselineReader(const json& config, const std::filesystem::path& file, const HfConfigOptions& options)
      : config_(config), file_(file), options_(options) {}
  [[noreturn]] void fail(std::string_view key, std::string_view message) const {
    const std::string where = options_.locate ? options_.locate(key) : file_.string();
    throw ConfigError(fmt::format("{}: {}: {}", where, key, message));
  }
  bool has(std::string_view key) const {
    if (options_.keys_read) options_.keys_read->insert(std::string(key));
    auto it = config_.find(key);
    return it != config_.end() && !it->is_null();
  }
  int integer(std::string_view key) const {
    if (!has(key)) fail(key, "missing");
    const json& v = config_.at(std::string(key));
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > (1 << 30))
      fail(key, fmt::format("expected an integer in [0, 2^30], got {}", v.dump()));
    return v.get<int>();
  }
  int integer(std::string_view key, int fallback) const { return has(key) ? integer(key) : fallback; }
  double number(std::string_view key, double fallback) const {
    if (!has(key)) return fallback;
    const json& v = config_.at(std::string(key));
    if (!v.is_number()) fail(key, fmt::format("expected a number, got {}", v.dump()));
    return v.get<double>();
  }
  bool boolean(std::string_view key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& v = config_.at(std::string(key));
    if (!v.is_boolean()) fail(key, fmt::format("expected true or false, got {}", v.dump()));
    return v.get<bool>();
  }
  std::string string(std::string_view key, std::string fallback) const {
    if (!has(key)) return fallback;
    const json& v = config_.at(std::string(key));
    if (!v.is_string()) fail(key, fmt::format("expected a string, got {}", v.dump()));
    return v.get<std::string>();
  }

 private:
  const json& config_;
  const std::filesystem::path& file_;
  const HfConfigOptions& options_;
};

Activation activation_of(const BaselineReader& r, std::string_view key, const std::string& fallback) {
  const std::string name = r.string(key, fallback);
  if (name == "silu" || name == "swish") return Activation::silu;
  if (name == "gelu" || name == "gelu_new" || name == "gelu_fast" || name == "gelu_pytorch_tanh")
    return Activation::gelu;
  if (name == "relu2") return Activation::relu2;
  r.fail(key, fmt::format("unsupported activation \"{}\" (supported: silu, gelu, relu2)", name));
}

ModelSpec baseline_from_config(const json& config, const std::filesystem::path& file, const HfConfigOptions& options,
                               const std::string& model_type) {
  const BaselineReader r(config, file, options);
  ModelSpec m;
  m.model_type = model_type;
  m.hidden_size = r.integer("hidden_size");
  m.vocab_size = r.integer("vocab_size");
  m.num_layers = r.integer("num_hidden_layers");
  if (m.num_layers < 1) r.fail("num_hidden_layers", "must be at least 1");
  AttentionShape& a = m.attention;
  a.input_size = m.hidden_size;
  a.heads = r.integer("num_attention_heads");
  if (a.heads < 1 || m.hidden_size % a.heads != 0)
    r.fail("num_attention_heads", fmt::format("{} heads do not split hidden_size {}", a.heads, m.hidden_size));
  FeedForwardShape& f = m.ffn;
  f.intermediate_size = r.integer("intermediate_size");
  if (model_type == "llama") {
    a.kv_heads = r.integer("num_key_value_heads", a.heads);
    a.head_dim = r.integer("head_dim", m.hidden_size / a.heads);
    a.rope_theta = static_cast<float>(r.number("rope_theta", 10000.0));
    a.rotary_dim = a.head_dim;
    a.bias = r.boolean("attention_bias", false);
    f.activation = activation_of(r, "hidden_act", "silu");
    f.bias = r.boolean("mlp_bias", false);
    m.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
    r.number("rms_norm_eps", 1e-6);
    m.gated_mlp = true;
  } else {  // gpt_neox (Pythia)
    a.kv_heads = a.heads;
    a.head_dim = m.hidden_size / a.heads;
    a.rotary_dim = static_cast<int>(a.head_dim * r.number("rotary_pct", 0.25));
    a.rope_theta = static_cast<float>(r.number("rotary_emb_base", 10000.0));
    a.bias = r.boolean("attention_bias", true);
    f.activation = activation_of(r, "hidden_act", "gelu");
    f.bias = true;
    m.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
    m.parallel_residual = r.boolean("use_parallel_residual", true);
    r.number("layer_norm_eps", 1e-5);
    m.gated_mlp = false;
    m.layer_norm = true;
  }
  if (a.kv_heads < 1 || a.heads % a.kv_heads != 0)
    r.fail("num_key_value_heads", fmt::format("{} query heads do not split into {} groups", a.heads, a.kv_heads));
  a.scale = 1.0f / std::sqrt(static_cast<float>(a.head_dim));
  m.layers.assign(m.num_layers, LayerKind::attention);
  m.feed_forward.assign(m.num_layers, FeedForwardKind::mlp);
  return m;
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
  HfConfigOptions options{locate, &read};
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

const std::vector<std::string>& compiler_model_types() {
  static const std::vector<std::string> types = [] {
    std::vector<std::string> t = supported_model_types();
    t.push_back("llama");
    t.push_back("gpt_neox");
    return t;
  }();
  return types;
}

ModelSpec model_from_config(const json& config, const std::filesystem::path& file, const HfConfigOptions& options) {
  if (!config.is_object()) throw ConfigError(fmt::format("{}: expected a JSON object", file.string()));
  const auto it = config.find("model_type");
  const std::string where = options.locate ? options.locate("model_type") : file.string();
  if (it == config.end() || it->is_null()) throw ConfigError(fmt::format("{}: model_type: missing", where));
  if (!it->is_string()) throw ConfigError(fmt::format("{}: model_type: expected a string, got {}", where, it->dump()));
  const std::string type = it->get<std::string>();
  if (options.keys_read) options.keys_read->insert("model_type");
  if (type == "llama" || type == "gpt_neox") {
    ModelSpec m = baseline_from_config(config, file, options, type);
    m.file = file;
    return m;
  }
  const auto& types = compiler_model_types();
  if (std::find(types.begin(), types.end(), type) == types.end()) {
    std::string list;
    for (const auto& t : types) list += (list.empty() ? "" : ", ") + t;
    throw ConfigError(fmt::format("{}: model_type: \"{}\" is not supported (supported: {})", where, type, list));
  }
  const HfCheckpoint ck = parse_hf_config(config, file, options);
  ModelSpec m;
  m.file = file;
  m.model_type = ck.model_type;
  m.hidden_size = ck.hidden_size;
  m.vocab_size = ck.vocab_size;
  m.num_layers = ck.num_layers;
  m.tie_word_embeddings = ck.tie_word_embeddings;
  m.norm_eps = ck.norm_eps;
  m.layers = ck.layers;
  m.feed_forward = ck.feed_forward;
  m.mamba = ck.mamba;
  m.attention = ck.attention;
  m.ffn = ck.ffn;
  m.zamba = ck.zamba;
  m.gated_mlp = ck.family != ModelFamily::nemotron_h && m.ffn.activation != Activation::relu2;
  return m;
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

namespace {

std::int64_t mamba_params(const ModelSpec& m) {
  const MambaShape& s = m.mamba;
  const std::int64_t h = m.hidden_size, i = s.d_inner, n = s.d_state;
  std::int64_t p = std::int64_t(s.in_proj_size()) * h + std::int64_t(s.conv_dim()) * (s.d_conv + 1) + h * i;
  if (s.version == 1) {
    p += i * n + i + std::int64_t(s.dt_rank + 2 * n) * i + i * s.dt_rank + i;
  } else {
    p += 3 * std::int64_t(s.heads) + i;
  }
  return p;
}

std::int64_t attention_params(const ModelSpec& m) {
  const AttentionShape& a = m.attention;
  const std::int64_t q = std::int64_t(a.heads) * a.head_dim, kv = std::int64_t(a.kv_heads) * a.head_dim;
  return std::int64_t(a.input_size) * (q + 2 * kv) + q * m.hidden_size;
}

std::int64_t mlp_params(const ModelSpec& m, std::int64_t inner, bool gated) {
  return std::int64_t(m.hidden_size) * inner * (gated ? 3 : 2);
}

std::int64_t count(const ModelSpec& m, bool active) {
  const std::int64_t h = m.hidden_size;
  std::int64_t p = std::int64_t(m.vocab_size) * h * (m.tie_word_embeddings ? 1 : 2) + h;
  const FeedForwardShape& f = m.ffn;
  const std::int64_t experts = active ? f.top_k : f.experts;
  const bool moe_gated = m.model_type != "nemotron_h";
  auto moe = [&] {
    std::int64_t e = experts * mlp_params(m, f.expert_intermediate_size, moe_gated) + f.experts * h;
    if (f.shared_intermediate_size > 0) e += mlp_params(m, f.shared_intermediate_size, moe_gated);
    return e;
  };
  int shared_blocks_seen = 0;
  for (int l = 0; l < m.num_layers; ++l) {
    p += 2 * h;  // norms
    switch (m.layers[l]) {
      case LayerKind::mamba:
        p += mamba_params(m);
        break;
      case LayerKind::attention:
        p += attention_params(m);
        break;
      case LayerKind::parallel_hybrid:
        p += mamba_params(m) + attention_params(m);
        break;
      case LayerKind::shared_attention: {
        // The layer's Mamba and linear, its adapters, and the shared block it runs (stored
        // once per block; active in every layer that runs it).
        p += mamba_params(m) + h * h;
        const std::int64_t rank = m.zamba.adapter_rank;
        p += rank * (h + 2 * std::int64_t(f.intermediate_size));
        if (m.zamba.attention_adapters) {
          const AttentionShape& a = m.attention;
          p += 3 * rank * (std::int64_t(a.input_size) + std::int64_t(a.heads) * a.head_dim);
        }
        if (++shared_blocks_seen <= std::max(1, m.zamba.num_mem_blocks) || active)
          p += attention_params(m) + mlp_params(m, f.intermediate_size, true);
        break;
      }
      case LayerKind::mlp:
        p += mlp_params(m, f.intermediate_size, m.gated_mlp);
        break;
      case LayerKind::moe:
        p += moe();
        break;
    }
    if (m.feed_forward[l] == FeedForwardKind::mlp) p += mlp_params(m, f.intermediate_size, m.gated_mlp);
    if (m.feed_forward[l] == FeedForwardKind::moe) p += moe();
  }
  return p;
}

}  // namespace

std::int64_t parameter_count(const ModelSpec& model) { return count(model, false); }
std::int64_t active_parameter_count(const ModelSpec& model) { return count(model, true); }

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
