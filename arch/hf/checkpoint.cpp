#include "arch/hf/checkpoint.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <utility>

#include "arch/golden/safetensors.hpp"
#include "arch/spec/config_tree.hpp"

namespace ssmsoc {

namespace {

using nlohmann::json;

constexpr std::string_view kConfigName = "config.json";

// Typed access to config.json with errors naming the file and the key.
class ConfigReader {
 public:
  ConfigReader(const json& config, std::filesystem::path file, const HfConfigOptions& options = {})
      : config_(config), file_(std::move(file)), options_(options) {}

  [[noreturn]] void fail(std::string_view key, std::string_view message) const {
    if (options_.locate) throw ConfigError(fmt::format("{}: {}: {}", options_.locate(key), key, message));
    throw ConfigError(fmt::format("{}: {}: {}", file_.string(), key, message));
  }

  bool has(std::string_view key) const {
    mark(key);
    auto it = config_.find(key);
    return it != config_.end() && !it->is_null();
  }

  const json& required(std::string_view key) const {
    mark(key);
    auto it = config_.find(key);
    if (it == config_.end() || it->is_null()) fail(key, "missing");
    return *it;
  }

  int integer(std::string_view key) const {
    const json& value = required(key);
    if (!value.is_number_integer()) fail(key, fmt::format("expected an integer, got {}", value.dump()));
    const auto v = value.get<std::int64_t>();
    if (v < 0 || v > (1 << 30)) fail(key, fmt::format("{} is out of range", v));
    return static_cast<int>(v);
  }
  int integer(std::string_view key, int fallback) const { return has(key) ? integer(key) : fallback; }

  // A number, or transformers' {"__float__": "Infinity"} spelling of a non-finite one.
  static bool to_float(const json& value, float& out) {
    if (value.is_number()) {
      out = value.get<float>();
      return true;
    }
    if (value.is_object() && value.size() == 1 && value.contains("__float__") && value["__float__"].is_string()) {
      const std::string text = value["__float__"].get<std::string>();
      if (text == "Infinity" || text == "inf") {
        out = std::numeric_limits<float>::infinity();
      } else if (text == "-Infinity" || text == "-inf") {
        out = -std::numeric_limits<float>::infinity();
      } else {
        return false;
      }
      return true;
    }
    return false;
  }

  float number(std::string_view key) const {
    float out = 0;
    const json& value = required(key);
    if (!to_float(value, out)) fail(key, fmt::format("expected a number, got {}", value.dump()));
    return out;
  }
  float number(std::string_view key, float fallback) const { return has(key) ? number(key) : fallback; }

  bool boolean(std::string_view key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& value = required(key);
    if (!value.is_boolean()) fail(key, fmt::format("expected true or false, got {}", value.dump()));
    return value.get<bool>();
  }

  std::string string(std::string_view key) const {
    const json& value = required(key);
    if (!value.is_string()) fail(key, fmt::format("expected a string, got {}", value.dump()));
    return value.get<std::string>();
  }
  std::string string(std::string_view key, std::string fallback) const {
    return has(key) ? string(key) : std::move(fallback);
  }

  std::vector<float> numbers(std::string_view key, std::size_t count) const {
    const json& value = required(key);
    if (!value.is_array() || value.size() != count)
      fail(key, fmt::format("expected a list of {} numbers, got {}", count, value.dump()));
    std::vector<float> out(count);
    for (std::size_t i = 0; i < count; ++i)
      if (!to_float(value[i], out[i]))
        fail(key, fmt::format("expected a list of {} numbers, got {}", count, value.dump()));
    return out;
  }

  std::vector<std::string> strings(std::string_view key) const {
    const json& value = required(key);
    if (!value.is_array()) fail(key, fmt::format("expected a list of strings, got {}", value.dump()));
    std::vector<std::string> out;
    for (const json& item : value) {
      if (!item.is_string()) fail(key, fmt::format("expected a list of strings, got {}", value.dump()));
      out.push_back(item.get<std::string>());
    }
    return out;
  }

  std::vector<int> integers(std::string_view key) const {
    const json& value = required(key);
    if (!value.is_array()) fail(key, fmt::format("expected a list of integers, got {}", value.dump()));
    std::vector<int> out;
    for (const json& item : value) {
      if (!item.is_number_integer()) fail(key, fmt::format("expected a list of integers, got {}", value.dump()));
      out.push_back(item.get<int>());
    }
    return out;
  }

  // rope_parameters.rope_theta (transformers 5) or rope_theta (older configs).
  float rope_theta() const {
    if (has("rope_parameters")) {
      const json& rope = required("rope_parameters");
      if (rope.is_object() && rope.contains("rope_theta")) {
        float theta = 0;
        if (to_float(rope["rope_theta"], theta)) return theta;
        fail("rope_parameters.rope_theta", "expected a number");
      }
    }
    return number("rope_theta", 10000.0f);
  }
  float partial_rotary_factor() const {
    if (has("rope_parameters")) {
      const json& rope = required("rope_parameters");
      if (rope.is_object() && rope.contains("partial_rotary_factor")) {
        float factor = 0;
        if (to_float(rope["partial_rotary_factor"], factor)) return factor;
        fail("rope_parameters.partial_rotary_factor", "expected a number");
      }
    }
    return number("partial_rotary_factor", 1.0f);
  }

  // time_step_limit: [min, max] (max may be {"__float__": "Infinity"}); absent = (0, inf).
  void time_step_limit(MambaShape& m) const {
    if (!has("time_step_limit")) return;
    const auto limit = numbers("time_step_limit", 2);
    m.dt_min = limit[0];
    m.dt_max = limit[1];
  }

 private:
  void mark(std::string_view key) const {
    if (options_.keys_read) options_.keys_read->insert(std::string(key));
  }
  const json& config_;
  std::filesystem::path file_;
  const HfConfigOptions& options_;
};

Activation activation(const ConfigReader& c, std::string_view key, std::string_view fallback) {
  const std::string name = c.string(key, std::string(fallback));
  if (name == "silu" || name == "swish") return Activation::silu;
  if (name == "gelu") return Activation::gelu;
  if (name == "relu2") return Activation::relu2;
  c.fail(key, fmt::format("unsupported activation \"{}\" (supported: silu, gelu, relu2)", name));
}

// Layer types: the spellings of transformers' layer-type lists and Nemotron-H patterns.
LayerKind layer_kind(const ConfigReader& c, std::string_view key, const std::string& name) {
  if (name == "mamba" || name == "linear_attention" || name == "M") return LayerKind::mamba;
  if (name == "attention" || name == "full_attention" || name == "*") return LayerKind::attention;
  if (name == "mlp" || name == "-") return LayerKind::mlp;
  if (name == "moe" || name == "E") return LayerKind::moe;
  if (name == "hybrid") return LayerKind::shared_attention;
  c.fail(key, fmt::format("unknown layer type \"{}\"", name));
}

std::vector<LayerKind> layer_list(const ConfigReader& c, std::string_view key, int expected_layers) {
  std::vector<LayerKind> layers;
  for (const std::string& name : c.strings(key)) layers.push_back(layer_kind(c, key, name));
  if (expected_layers >= 0 && static_cast<int>(layers.size()) != expected_layers)
    c.fail(key, fmt::format("has {} entries for num_hidden_layers = {}", layers.size(), expected_layers));
  return layers;
}

void read_common(const ConfigReader& c, HfCheckpoint& ck) {
  ck.hidden_size = c.integer("hidden_size");
  ck.vocab_size = c.integer("vocab_size");
  ck.tie_word_embeddings = c.boolean("tie_word_embeddings", false);
}

// The config keys of the Mamba-2 mixer: Mamba2Config's own, and the prefixed names of the
// hybrid configs (mamba_n_heads, ...).
struct Mamba2Keys {
  const char *heads, *head_dim, *groups, *d_state, *d_conv, *chunk_size, *expand, *conv_bias, *proj_bias;
};
constexpr Mamba2Keys kMamba2Keys{"num_heads",  "head_dim", "n_groups",      "state_size", "conv_kernel",
                                 "chunk_size", "expand",   "use_conv_bias", "use_bias"};
constexpr Mamba2Keys kHybridMamba2Keys{"mamba_n_heads", "mamba_d_head",    "mamba_n_groups",
                                       "mamba_d_state", "mamba_d_conv",    "mamba_chunk_size",
                                       "mamba_expand",  "mamba_conv_bias", "mamba_proj_bias"};

void read_mamba2(const ConfigReader& c, HfCheckpoint& ck, const Mamba2Keys& keys) {
  MambaShape& m = ck.mamba;
  m.version = 2;
  m.heads = c.integer(keys.heads);
  m.head_dim = c.integer(keys.head_dim);
  m.groups = c.integer(keys.groups, 1);
  m.d_state = c.integer(keys.d_state);
  m.d_conv = c.integer(keys.d_conv);
  m.chunk_size = c.integer(keys.chunk_size);
  m.d_inner = static_cast<int>(c.number(keys.expand) * ck.hidden_size);
  m.conv_bias = c.boolean(keys.conv_bias, true);
  m.proj_bias = m.out_proj_bias = c.boolean(keys.proj_bias, false);
  m.norm_eps = ck.norm_eps;
  m.norm_group_size = m.d_inner / std::max(1, m.groups);
  c.time_step_limit(m);
}

void read_hybrid_mamba2(const ConfigReader& c, HfCheckpoint& ck) { read_mamba2(c, ck, kHybridMamba2Keys); }

void read_attention(const ConfigReader& c, HfCheckpoint& ck) {
  AttentionShape& a = ck.attention;
  a.input_size = ck.hidden_size;
  a.heads = c.integer("num_attention_heads");
  a.kv_heads = c.integer("num_key_value_heads", a.heads);
  a.head_dim = c.integer("head_dim", a.heads > 0 ? ck.hidden_size / a.heads : 0);
  a.scale = 1.0f / std::sqrt(static_cast<float>(a.head_dim));
  a.bias = c.boolean("attention_bias", false);
  a.rope_theta = c.rope_theta();
}

void check_split(const ConfigReader& c, std::string_view key, int total, int parts) {
  if (parts <= 0 || total % parts != 0) c.fail(key, fmt::format("{} does not split into {} parts", total, parts));
}

void read_config(const ConfigReader& c, HfCheckpoint& ck) {
  read_common(c, ck);
  MambaShape& m = ck.mamba;
  AttentionShape& a = ck.attention;
  FeedForwardShape& f = ck.ffn;
  switch (ck.family) {
    case ModelFamily::mamba: {
      ck.num_layers = c.integer("num_hidden_layers");
      ck.norm_eps = c.number("layer_norm_epsilon", 1e-5f);
      m.version = 1;
      m.d_inner = c.integer("intermediate_size");
      m.d_state = c.integer("state_size");
      m.d_conv = c.integer("conv_kernel");
      const json& rank = c.required("time_step_rank");
      m.dt_rank = rank.is_string() && rank.get<std::string>() == "auto" ? (ck.hidden_size + 15) / 16
                                                                        : c.integer("time_step_rank");
      m.conv_bias = c.boolean("use_conv_bias", true);
      m.proj_bias = m.out_proj_bias = c.boolean("use_bias", false);
      ck.layers.assign(ck.num_layers, LayerKind::mamba);
      ck.feed_forward.assign(ck.num_layers, FeedForwardKind::none);
      break;
    }
    case ModelFamily::mamba2: {
      ck.num_layers = c.integer("num_hidden_layers");
      ck.norm_eps = c.number("layer_norm_epsilon", 1e-5f);
      read_mamba2(c, ck, kMamba2Keys);
      ck.layers.assign(ck.num_layers, LayerKind::mamba);
      ck.feed_forward.assign(ck.num_layers, FeedForwardKind::none);
      break;
    }
    case ModelFamily::jamba: {
      ck.num_layers = c.integer("num_hidden_layers");
      ck.norm_eps = c.number("rms_norm_eps", 1e-6f);
      m.version = 1;
      m.d_inner = static_cast<int>(c.number("mamba_expand") * ck.hidden_size);
      m.d_state = c.integer("mamba_d_state");
      m.d_conv = c.integer("mamba_d_conv");
      const json& rank = c.required("mamba_dt_rank");
      m.dt_rank = rank.is_string() && rank.get<std::string>() == "auto" ? (ck.hidden_size + 15) / 16
                                                                        : c.integer("mamba_dt_rank");
      m.conv_bias = c.boolean("mamba_conv_bias", true);
      m.proj_bias = m.out_proj_bias = c.boolean("mamba_proj_bias", false);
      m.bcdt_norms = true;
      m.bcdt_norm_eps = ck.norm_eps;
      read_attention(c, ck);
      const int attn_period = c.integer("attn_layer_period"), attn_offset = c.integer("attn_layer_offset");
      const int expert_period = c.integer("expert_layer_period"), expert_offset = c.integer("expert_layer_offset");
      if (attn_period == 0) c.fail("attn_layer_period", "must be positive");
      if (expert_period == 0) c.fail("expert_layer_period", "must be positive");
      f.intermediate_size = c.integer("intermediate_size");
      f.activation = activation(c, "hidden_act", "silu");
      f.experts = c.integer("num_experts", 1);
      f.top_k = c.integer("num_experts_per_tok", 1);
      f.expert_intermediate_size = f.intermediate_size;
      f.routing = golden::Routing::softmax_topk;
      f.normalize_routing = false;
      for (int i = 0; i < ck.num_layers; ++i) {
        ck.layers.push_back(i % attn_period == attn_offset ? LayerKind::attention : LayerKind::mamba);
        ck.feed_forward.push_back(f.experts > 1 && i % expert_period == expert_offset ? FeedForwardKind::moe
                                                                                      : FeedForwardKind::mlp);
      }
      break;
    }
    case ModelFamily::bamba: {
      ck.num_layers = c.integer("num_hidden_layers");
      ck.norm_eps = c.number("rms_norm_eps", 1e-5f);
      read_hybrid_mamba2(c, ck);
      read_attention(c, ck);
      a.rotary_dim = static_cast<int>(a.head_dim * c.partial_rotary_factor());
      f.intermediate_size = c.integer("intermediate_size");
      f.activation = activation(c, "hidden_act", "silu");
      f.bias = c.boolean("mlp_bias", false);
      ck.layers.assign(ck.num_layers, LayerKind::mamba);
      for (int i : c.integers("attn_layer_indices")) {
        if (i < 0 || i >= ck.num_layers) c.fail("attn_layer_indices", fmt::format("layer {} does not exist", i));
        ck.layers[i] = LayerKind::attention;
      }
      ck.feed_forward.assign(ck.num_layers, FeedForwardKind::mlp);
      break;
    }
    case ModelFamily::granitemoehybrid: {
      ck.num_layers = c.integer("num_hidden_layers");
      ck.norm_eps = c.number("rms_norm_eps", 1e-6f);
      read_hybrid_mamba2(c, ck);
      read_attention(c, ck);
      a.scale = c.number("attention_multiplier");
      if (c.string("position_embedding_type", "") == "rope") a.rotary_dim = a.head_dim;
      ck.embedding_multiplier = c.number("embedding_multiplier", 1.0f);
      ck.residual_multiplier = c.number("residual_multiplier", 1.0f);
      ck.logits_multiplier = 1.0f / c.number("logits_scaling", 1.0f);
      ck.layers = layer_list(c, "layer_types", ck.num_layers);
      f.activation = activation(c, "hidden_act", "silu");
      f.experts = c.integer("num_local_experts", 0);
      f.top_k = c.integer("num_experts_per_tok", 1);
      f.expert_intermediate_size = c.integer("intermediate_size");
      f.routing = golden::Routing::topk_softmax;
      f.shared_intermediate_size = c.integer("shared_intermediate_size");
      ck.feed_forward.assign(ck.num_layers, f.experts > 0 ? FeedForwardKind::moe : FeedForwardKind::mlp);
      break;
    }
    case ModelFamily::falcon_h1: {
      ck.num_layers = c.integer("num_hidden_layers");
      ck.norm_eps = c.number("rms_norm_eps", 1e-5f);
      read_hybrid_mamba2(c, ck);
      if (c.has("mamba_d_ssm")) m.d_inner = c.integer("mamba_d_ssm");
      m.norm_group_size = m.d_inner / std::max(1, m.groups);
      m.out_proj_bias = c.boolean("projectors_bias", false);
      m.gated_norm = c.boolean("mamba_rms_norm", false);
      m.norm_before_gate = c.boolean("mamba_norm_before_gate", true);
      m.in_multiplier = c.number("ssm_in_multiplier", 1.0f);
      m.out_multiplier = c.number("ssm_out_multiplier", 1.0f);
      // The µP vector over in_proj's outputs [z | x | B | C | dt].
      const auto mult = c.has("ssm_multipliers") ? c.numbers("ssm_multipliers", 5) : std::vector<float>(5, 1.0f);
      const int gn = m.groups * m.d_state;
      const int sizes[5] = {m.d_inner, m.d_inner, gn, gn, m.heads};
      for (int part = 0; part < 5; ++part)
        m.in_proj_multipliers.insert(m.in_proj_multipliers.end(), sizes[part], mult[part]);
      read_attention(c, ck);
      a.head_dim = ck.hidden_size / a.heads;
      if (c.has("head_dim")) a.head_dim = c.integer("head_dim");
      a.scale = 1.0f / std::sqrt(static_cast<float>(a.head_dim));
      a.rotary_dim = a.head_dim;
      a.in_multiplier = c.number("attention_in_multiplier", 1.0f);
      a.out_multiplier = c.number("attention_out_multiplier", 1.0f);
      a.key_multiplier = c.number("key_multiplier", 1.0f);
      f.intermediate_size = c.integer("intermediate_size");
      f.activation = activation(c, "hidden_act", "silu");
      f.bias = c.boolean("mlp_bias", false);
      if (c.has("mlp_multipliers")) {
        const auto mlp = c.numbers("mlp_multipliers", 2);
        f.gate_multiplier = mlp[0];
        f.down_multiplier = mlp[1];
      }
      ck.embedding_multiplier = c.number("embedding_multiplier", 1.0f);
      ck.logits_multiplier = c.number("lm_head_multiplier", 1.0f);
      ck.layers.assign(ck.num_layers, LayerKind::parallel_hybrid);
      ck.feed_forward.assign(ck.num_layers, FeedForwardKind::mlp);
      break;
    }
    case ModelFamily::nemotron_h: {
      ck.norm_eps = c.number("layer_norm_epsilon", 1e-5f);
      if (c.has("layers_block_type")) {
        ck.layers = layer_list(c, "layers_block_type", c.integer("num_hidden_layers", -1));
      } else {
        const std::string pattern = c.string("hybrid_override_pattern");
        for (char ch : pattern) ck.layers.push_back(layer_kind(c, "hybrid_override_pattern", std::string(1, ch)));
      }
      ck.num_layers = static_cast<int>(ck.layers.size());
      m.version = 2;
      m.heads = c.integer("mamba_num_heads");
      m.head_dim = c.integer("mamba_head_dim");
      m.groups = c.integer("n_groups", 1);
      m.d_state = c.integer("ssm_state_size");
      m.d_conv = c.integer("conv_kernel");
      m.chunk_size = c.integer("chunk_size");
      m.d_inner = m.heads * m.head_dim;
      m.conv_bias = c.boolean("use_conv_bias", true);
      m.proj_bias = m.out_proj_bias = c.boolean("use_bias", false);
      m.norm_eps = ck.norm_eps;
      m.norm_group_size = m.d_inner / std::max(1, m.groups);
      c.time_step_limit(m);
      read_attention(c, ck);
      a.bias = c.boolean("attention_bias", false);
      f.intermediate_size = c.integer("intermediate_size");
      f.activation = activation(c, "mlp_hidden_act", "relu2");
      f.bias = c.boolean("mlp_bias", false);
      const bool any_moe = std::count(ck.layers.begin(), ck.layers.end(), LayerKind::moe) > 0;
      if (any_moe) {
        f.experts = c.integer("n_routed_experts");
        f.top_k = c.integer("num_experts_per_tok");
        f.expert_intermediate_size = c.integer("moe_intermediate_size");
        f.routing = golden::Routing::sigmoid_topk;
        f.normalize_routing = c.boolean("norm_topk_prob", true);
        f.routed_scaling = c.number("routed_scaling_factor", 1.0f);
        f.shared_intermediate_size =
            c.integer("n_shared_experts", 1) > 0 ? c.integer("moe_shared_expert_intermediate_size") : 0;
        if (c.integer("n_group", 1) != 1 || c.integer("topk_group", 1) != 1)
          c.fail("n_group", "grouped expert selection (n_group, topk_group other than 1) is not supported");
        if (c.has("moe_latent_size")) c.fail("moe_latent_size", "latent MoE projections are not supported");
      }
      ck.feed_forward.assign(ck.num_layers, FeedForwardKind::none);
      break;
    }
    case ModelFamily::zamba2: {
      ck.num_layers = c.integer("num_hidden_layers");
      ck.norm_eps = c.number("rms_norm_eps", 1e-5f);
      m.version = 2;
      m.d_inner = static_cast<int>(c.number("mamba_expand") * ck.hidden_size);
      m.heads = c.integer("n_mamba_heads");
      m.head_dim = c.integer("mamba_headdim");
      m.groups = c.integer("mamba_ngroups", 1);
      m.d_state = c.integer("mamba_d_state");
      m.d_conv = c.integer("mamba_d_conv");
      m.chunk_size = c.integer("chunk_size");
      m.conv_bias = true;
      m.proj_bias = c.boolean("add_bias_linear", false);
      m.out_proj_bias = m.proj_bias;
      m.norm_eps = 1e-5f;  // Zamba2RMSNormGated is built with eps=1e-5 whatever the config says
      m.norm_group_size = m.d_inner / std::max(1, m.groups);
      c.time_step_limit(m);
      a.input_size = c.integer("attention_hidden_size", 2 * ck.hidden_size);
      a.heads = c.integer("num_attention_heads");
      a.kv_heads = c.integer("num_key_value_heads", a.heads);
      a.head_dim = c.integer("attention_head_dim", a.input_size / a.heads);
      a.scale = 1.0f / std::sqrt(static_cast<float>(a.head_dim) / 2.0f);  // sqrt(head_dim / 2)
      a.rope_theta = c.rope_theta();
      a.rotary_dim = c.boolean("use_mem_rope", false) ? a.head_dim : 0;
      f.intermediate_size = c.integer("intermediate_size");
      f.activation = activation(c, "hidden_act", "gelu");
      f.bias = c.boolean("add_bias_linear", false);
      ck.zamba.num_mem_blocks = c.integer("num_mem_blocks", 1);
      ck.zamba.attention_adapters = c.boolean("use_shared_attention_adapter", false);
      ck.zamba.adapter_rank = c.integer("adapter_rank", 0);
      ck.layers = layer_list(c, "layers_block_type", ck.num_layers);
      if (c.has("hybrid_layer_ids")) {
        ck.zamba.hybrid_layer_ids = c.integers("hybrid_layer_ids");
      } else {
        for (int i = 0; i < ck.num_layers; ++i)
          if (ck.layers[i] == LayerKind::shared_attention) ck.zamba.hybrid_layer_ids.push_back(i);
      }
      for (int i = 0; i < ck.num_layers; ++i) {
        const bool listed = std::count(ck.zamba.hybrid_layer_ids.begin(), ck.zamba.hybrid_layer_ids.end(), i) > 0;
        if (listed != (ck.layers[i] == LayerKind::shared_attention))
          c.fail("hybrid_layer_ids", fmt::format("does not match layers_block_type at layer {}", i));
      }
      if (ck.zamba.num_mem_blocks < 1) c.fail("num_mem_blocks", "must be at least 1");
      if (c.boolean("use_long_context", false)) c.fail("use_long_context", "long-context RoPE is not supported");
      ck.feed_forward.assign(ck.num_layers, FeedForwardKind::none);
      break;
    }
  }
  if (ck.num_layers < 1) c.fail("num_hidden_layers", "must be at least 1");
  if (m.version == 2) {
    check_split(c, "mamba heads", m.d_inner, m.heads);
    if (m.heads * m.head_dim != m.d_inner)
      c.fail("head_dim", fmt::format("{} heads of {} do not make d_inner = {}", m.heads, m.head_dim, m.d_inner));
    check_split(c, "n_groups", m.heads, m.groups);
    if (m.chunk_size < 1) c.fail("chunk_size", "must be at least 1");
  }
  const bool any_attention = std::any_of(ck.layers.begin(), ck.layers.end(), [](LayerKind k) {
    return k == LayerKind::attention || k == LayerKind::parallel_hybrid || k == LayerKind::shared_attention;
  });
  if (any_attention) {
    check_split(c, "num_key_value_heads", a.heads, a.kv_heads);
    if (a.rotary_dim % 2 != 0 || a.rotary_dim > a.head_dim)
      c.fail("partial_rotary_factor", fmt::format("rotary dimension {} of head_dim {}", a.rotary_dim, a.head_dim));
  }
}

// The tensors a family's executor reads, with their shapes.
using Spec = std::vector<TensorShape>;

void mamba_specs(const HfCheckpoint& ck, const std::string& p, Spec& s) {
  const MambaShape& m = ck.mamba;
  const std::int64_t h = ck.hidden_size, i = m.d_inner, n = m.d_state;
  s.push_back({p + "in_proj.weight", {m.in_proj_size(), h}});
  if (m.proj_bias) s.push_back({p + "in_proj.bias", {m.in_proj_size()}});
  s.push_back({p + "conv1d.weight", {m.conv_dim(), 1, m.d_conv}});
  if (m.conv_bias) s.push_back({p + "conv1d.bias", {m.conv_dim()}});
  s.push_back({p + "out_proj.weight", {h, i}});
  if (m.out_proj_bias) s.push_back({p + "out_proj.bias", {h}});
  s.push_back({p + "D", {m.version == 1 ? i : m.heads}});
  if (m.version == 1) {
    s.push_back({p + "A_log", {i, n}});
    s.push_back({p + "x_proj.weight", {m.dt_rank + 2 * n, i}});
    s.push_back({p + "dt_proj.weight", {i, m.dt_rank}});
    s.push_back({p + "dt_proj.bias", {i}});
    if (m.bcdt_norms) {
      s.push_back({p + "dt_layernorm.weight", {m.dt_rank}});
      s.push_back({p + "b_layernorm.weight", {n}});
      s.push_back({p + "c_layernorm.weight", {n}});
    }
  } else {
    s.push_back({p + "A_log", {m.heads}});
    s.push_back({p + "dt_bias", {m.heads}});
    if (m.gated_norm) s.push_back({p + "norm.weight", {i}});
  }
}

void attention_specs(const HfCheckpoint& ck, const std::string& p, Spec& s) {
  const AttentionShape& a = ck.attention;
  const std::int64_t q = a.heads * a.head_dim, kv = a.kv_heads * a.head_dim;
  for (auto [name, rows] : {std::pair<const char*, std::int64_t>{"q_proj", q}, {"k_proj", kv}, {"v_proj", kv}}) {
    s.push_back({p + name + ".weight", {rows, a.input_size}});
    if (a.bias) s.push_back({p + name + ".bias", {rows}});
  }
  s.push_back({p + "o_proj.weight", {ck.hidden_size, q}});
  if (a.bias) s.push_back({p + "o_proj.bias", {ck.hidden_size}});
}

// gate/up/down MLP (or up/down for relu2) named in the Llama way.
void mlp_specs(const std::string& p, std::int64_t hidden, std::int64_t inner, bool gated, bool bias, Spec& s) {
  if (gated) s.push_back({p + "gate_proj.weight", {inner, hidden}});
  s.push_back({p + "up_proj.weight", {inner, hidden}});
  s.push_back({p + "down_proj.weight", {hidden, inner}});
  if (bias) {
    if (gated) s.push_back({p + "gate_proj.bias", {inner}});
    s.push_back({p + "up_proj.bias", {inner}});
    s.push_back({p + "down_proj.bias", {hidden}});
  }
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

}  // namespace

std::vector<TensorShape> expected_tensors(const HfCheckpoint& ck) {
  Spec s;
  const std::int64_t h = ck.hidden_size;
  const FeedForwardShape& f = ck.ffn;
  s.push_back({ck.embedding_name(), {ck.vocab_size, h}});
  if (!ck.tie_word_embeddings) s.push_back({"lm_head.weight", {ck.vocab_size, h}});
  const bool backbone =
      ck.family == ModelFamily::mamba || ck.family == ModelFamily::mamba2 || ck.family == ModelFamily::nemotron_h;
  const std::string root = backbone ? "backbone." : "model.";
  for (int l = 0; l < ck.num_layers; ++l) {
    const std::string p = fmt::format("{}layers.{}.", root, l);
    switch (ck.family) {
      case ModelFamily::mamba:
      case ModelFamily::mamba2:
        s.push_back({p + "norm.weight", {h}});
        mamba_specs(ck, p + "mixer.", s);
        break;
      case ModelFamily::nemotron_h:
        s.push_back({p + "norm.weight", {h}});
        switch (ck.layers[l]) {
          case LayerKind::mamba:
            mamba_specs(ck, p + "mixer.", s);
            break;
          case LayerKind::attention:
            attention_specs(ck, p + "mixer.", s);
            break;
          case LayerKind::mlp:
            mlp_specs(p + "mixer.", h, f.intermediate_size, false, f.bias, s);
            break;
          case LayerKind::moe:
            s.push_back({p + "mixer.gate.weight", {f.experts, h}});
            s.push_back({p + "mixer.gate.e_score_correction_bias", {f.experts}});
            for (int e = 0; e < f.experts; ++e)
              mlp_specs(fmt::format("{}mixer.experts.{}.", p, e), h, f.expert_intermediate_size, false, false, s);
            if (f.shared_intermediate_size > 0)
              mlp_specs(p + "mixer.shared_experts.", h, f.shared_intermediate_size, false, f.bias, s);
            break;
          default:
            break;
        }
        break;
      case ModelFamily::jamba:
      case ModelFamily::bamba:
      case ModelFamily::falcon_h1:
        s.push_back({p + "input_layernorm.weight", {h}});
        s.push_back({p + "pre_ff_layernorm.weight", {h}});
        if (ck.layers[l] != LayerKind::attention) mamba_specs(ck, p + "mamba.", s);
        if (ck.layers[l] != LayerKind::mamba) attention_specs(ck, p + "self_attn.", s);
        if (ck.feed_forward[l] == FeedForwardKind::mlp) {
          mlp_specs(p + "feed_forward.", h, f.intermediate_size, true, f.bias, s);
        } else {
          s.push_back({p + "feed_forward.router.weight", {f.experts, h}});
          for (int e = 0; e < f.experts; ++e)
            mlp_specs(fmt::format("{}feed_forward.experts.{}.", p, e), h, f.expert_intermediate_size, true, false, s);
        }
        break;
      case ModelFamily::granitemoehybrid:
        s.push_back({p + "input_layernorm.weight", {h}});
        s.push_back({p + "post_attention_layernorm.weight", {h}});
        if (ck.layers[l] == LayerKind::mamba) {
          mamba_specs(ck, p + "mamba.", s);
        } else {
          attention_specs(ck, p + "self_attn.", s);
        }
        if (f.experts > 0) {
          s.push_back({p + "block_sparse_moe.router.layer.weight", {f.experts, h}});
          s.push_back({p + "block_sparse_moe.input_linear.weight", {f.experts, 2 * f.expert_intermediate_size, h}});
          s.push_back({p + "block_sparse_moe.output_linear.weight", {f.experts, h, f.expert_intermediate_size}});
        }
        s.push_back({p + "shared_mlp.input_linear.weight", {2 * f.shared_intermediate_size, h}});
        s.push_back({p + "shared_mlp.output_linear.weight", {h, f.shared_intermediate_size}});
        break;
      case ModelFamily::zamba2:
        if (ck.layers[l] == LayerKind::mamba) {
          s.push_back({p + "input_layernorm.weight", {h}});
          mamba_specs(ck, p + "mamba.", s);
        } else {
          s.push_back({p + "linear.weight", {h, h}});
          s.push_back({p + "mamba_decoder.input_layernorm.weight", {h}});
          mamba_specs(ck, p + "mamba_decoder.mamba.", s);
          const std::string shared = ck.shared_block_prefix(l);
          if (shared == p + "shared_transformer.") {  // the layer that holds the shared block
            const AttentionShape& a = ck.attention;
            s.push_back({shared + "input_layernorm.weight", {a.input_size}});
            s.push_back({shared + "pre_ff_layernorm.weight", {h}});
            attention_specs(ck, shared + "self_attn.", s);
            s.push_back({shared + "feed_forward.gate_up_proj.weight", {2 * f.intermediate_size, h}});
            s.push_back({shared + "feed_forward.down_proj.weight", {h, f.intermediate_size}});
            if (f.bias) {
              s.push_back({shared + "feed_forward.gate_up_proj.bias", {2 * f.intermediate_size}});
              s.push_back({shared + "feed_forward.down_proj.bias", {h}});
            }
          }
          const int adapter = ck.adapter_index(l);
          const std::string mlp_adapter = fmt::format("{}feed_forward.gate_up_proj_adapter_list.{}.", shared, adapter);
          s.push_back({mlp_adapter + "0.weight", {ck.zamba.adapter_rank, h}});
          s.push_back({mlp_adapter + "1.weight", {2 * f.intermediate_size, ck.zamba.adapter_rank}});
          if (ck.zamba.attention_adapters) {
            const std::int64_t in = ck.attention.input_size;
            for (const char* which : {"q", "k", "v"}) {
              const std::string ap = fmt::format("{}self_attn.linear_{}_adapter_list.{}.", shared, which, adapter);
              s.push_back({ap + "0.weight", {ck.zamba.adapter_rank, in}});
              s.push_back({ap + "1.weight", {in, ck.zamba.adapter_rank}});
            }
          }
        }
        break;
    }
  }
  s.push_back({ck.final_norm_name(), {h}});
  return s;
}

std::string_view model_type_name(ModelFamily family) {
  return supported_model_types()[static_cast<std::size_t>(family)];
}

const std::vector<std::string>& supported_model_types() {
  static const std::vector<std::string> names = {"mamba",     "mamba2",     "jamba", "bamba", "granitemoehybrid",
                                                 "falcon_h1", "nemotron_h", "zamba2"};
  return names;
}

std::string_view layer_kind_name(LayerKind kind) {
  switch (kind) {
    case LayerKind::mamba:
      return "mamba";
    case LayerKind::attention:
      return "attention";
    case LayerKind::parallel_hybrid:
      return "parallel_hybrid";
    case LayerKind::shared_attention:
      return "shared_attention";
    case LayerKind::mlp:
      return "mlp";
    case LayerKind::moe:
      return "moe";
  }
  return "?";
}

const std::vector<float>& HfCheckpoint::weight(const std::string& name) const {
  auto it = weights.find(name);
  if (it == weights.end())
    throw ConfigError(fmt::format("{}: tensor '{}' was not loaded", (dir / "model.safetensors").string(), name));
  return it->second.values;
}

std::string HfCheckpoint::embedding_name() const {
  switch (family) {
    case ModelFamily::mamba:
    case ModelFamily::mamba2:
    case ModelFamily::nemotron_h:
      return "backbone.embeddings.weight";
    default:
      return "model.embed_tokens.weight";
  }
}

std::string HfCheckpoint::final_norm_name() const {
  if (family == ModelFamily::mamba || family == ModelFamily::mamba2 || family == ModelFamily::nemotron_h)
    return "backbone.norm_f.weight";
  return family == ModelFamily::granitemoehybrid ? "model.norm.weight" : "model.final_layernorm.weight";
}

std::string HfCheckpoint::lm_head_name() const { return tie_word_embeddings ? embedding_name() : "lm_head.weight"; }

int HfCheckpoint::adapter_index(int layer) const {
  const auto& ids = zamba.hybrid_layer_ids;
  return static_cast<int>(std::find(ids.begin(), ids.end(), layer) - ids.begin());
}

std::string HfCheckpoint::shared_block_prefix(int layer) const {
  // Hybrid layer j uses shared block j % num_mem_blocks, whose weights are stored under the
  // first hybrid layer that uses it.
  const int block = adapter_index(layer) % zamba.num_mem_blocks;
  const int holder = zamba.hybrid_layer_ids.at(static_cast<std::size_t>(block));
  return fmt::format("model.layers.{}.shared_transformer.", holder);
}

HfCheckpoint parse_hf_config(const nlohmann::json& config, const std::filesystem::path& file,
                             const HfConfigOptions& options) {
  HfCheckpoint ck;
  ck.dir = file.parent_path();
  ck.config = config;
  if (!ck.config.is_object()) throw ConfigError(fmt::format("{}: expected a JSON object", file.string()));
  const ConfigReader c(ck.config, file, options);
  ck.model_type = c.string("model_type");
  const auto& names = supported_model_types();
  auto it = std::find(names.begin(), names.end(), ck.model_type);
  if (it == names.end()) {
    std::string list;
    for (const auto& name : names) list += (list.empty() ? "" : ", ") + name;
    c.fail("model_type", fmt::format("\"{}\" is not supported (supported: {})", ck.model_type, list));
  }
  ck.family = static_cast<ModelFamily>(it - names.begin());
  read_config(c, ck);
  return ck;
}

json read_json_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(fmt::format("{}: cannot open the file", file.string()));
  std::stringstream text;
  text << in.rdbuf();
  try {
    return json::parse(text.str());
  } catch (const json::parse_error& e) {
    throw ConfigError(fmt::format("{}: invalid JSON: {}", file.string(), e.what()));
  }
}

HfCheckpoint load_hf_checkpoint(const std::filesystem::path& dir) {
  const auto config_file = dir / kConfigName;
  HfCheckpoint ck = parse_hf_config(read_json_file(config_file), config_file);
  ck.dir = dir;

  const auto weights_file = dir / "model.safetensors";
  SafetensorsFile file = read_safetensors(weights_file);
  for (const auto& [name, shape] : expected_tensors(ck)) {
    auto found = file.tensors.find(name);
    if (found == file.tensors.end())
      throw ConfigError(fmt::format("{}: missing tensor '{}'", weights_file.string(), name));
    const Tensor& tensor = found->second;
    if (tensor.shape != shape)
      throw ConfigError(fmt::format("{}: tensor '{}' has shape {}, expected {}", weights_file.string(), name,
                                    shape_text(tensor.shape), shape_text(shape)));
    if (is_integer(tensor.dtype))
      throw ConfigError(fmt::format("{}: tensor '{}' has integer dtype {}, expected a float one", weights_file.string(),
                                    name, dtype_name(tensor.dtype)));
    ck.weights[name] = Weight{tensor.shape, tensor.to_f32()};
  }
  return ck;
}

}  // namespace ssmsoc
