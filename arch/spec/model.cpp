#include "arch/spec/model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "arch/spec/config_tree.hpp"

namespace ssmsoc {

namespace {

using nlohmann::json;

// The sizes a model may have. Zero where a size divides or counts would crash the golden
// model or the compiler, and a size far beyond any published model would only allocate
// (num_hidden_layers = 10^9 once grew to 24 GB before any check), so every size key has a
// range; the caps are a few times the largest published models'.
constexpr std::int64_t kMaxLayers = 4096;
constexpr std::int64_t kMaxWidth = 1 << 18;  // hidden and intermediate sizes
constexpr std::int64_t kMaxVocab = 1 << 22;
constexpr std::int64_t kMaxHeads = 1 << 16;   // heads, head dims, groups, ranks
constexpr std::int64_t kMaxState = 4096;      // SSM state size
constexpr std::int64_t kMaxConvKernel = 256;  // causal convolution width
constexpr std::int64_t kMaxChunk = 1 << 20;   // SSD chunk size
constexpr std::int64_t kMaxExperts = 4096;

struct SizeRange {
  std::string_view key;
  std::int64_t min, max;
};
constexpr SizeRange kSizeRanges[] = {
    {"num_hidden_layers", 1, kMaxLayers},
    {"hidden_size", 1, kMaxWidth},
    {"vocab_size", 1, kMaxVocab},
    {"intermediate_size", 1, kMaxWidth},
    {"moe_intermediate_size", 1, kMaxWidth},
    {"shared_intermediate_size", 0, kMaxWidth},
    {"moe_shared_expert_intermediate_size", 1, kMaxWidth},
    {"mamba_d_ssm", 1, kMaxWidth},
    {"attention_hidden_size", 1, kMaxWidth},
    {"num_attention_heads", 1, kMaxHeads},
    {"num_key_value_heads", 1, kMaxHeads},
    {"head_dim", 1, kMaxHeads},
    {"attention_head_dim", 1, kMaxHeads},
    {"num_heads", 1, kMaxHeads},
    {"mamba_n_heads", 1, kMaxHeads},
    {"mamba_num_heads", 1, kMaxHeads},
    {"n_mamba_heads", 1, kMaxHeads},
    {"mamba_d_head", 1, kMaxHeads},
    {"mamba_head_dim", 1, kMaxHeads},
    {"mamba_headdim", 1, kMaxHeads},
    {"n_groups", 1, kMaxHeads},
    {"mamba_n_groups", 1, kMaxHeads},
    {"mamba_ngroups", 1, kMaxHeads},
    {"time_step_rank", 1, kMaxHeads},
    {"adapter_rank", 1, kMaxHeads},
    {"state_size", 1, kMaxState},
    {"mamba_d_state", 1, kMaxState},
    {"ssm_state_size", 1, kMaxState},
    {"conv_kernel", 1, kMaxConvKernel},
    {"mamba_d_conv", 1, kMaxConvKernel},
    {"chunk_size", 1, kMaxChunk},
    {"mamba_chunk_size", 1, kMaxChunk},
    {"num_experts", 1, kMaxExperts},
    {"num_local_experts", 0, kMaxExperts},
    {"n_routed_experts", 1, kMaxExperts},
    {"num_experts_per_tok", 1, kMaxExperts},
    {"n_shared_experts", 0, kMaxExperts},
    {"num_mem_blocks", 1, kMaxLayers},
    {"attn_layer_period", 1, kMaxLayers},
    {"attn_layer_offset", 0, kMaxLayers},
    {"expert_layer_period", 1, kMaxLayers},
    {"expert_layer_offset", 0, kMaxLayers},
    {"max_position_embeddings", 1, 1 << 24},
    // mamba_ssm's MambaConfig (Mamba-3 checkpoints) and its ssm_cfg.
    {"d_model", 1, kMaxWidth},
    {"n_layer", 1, kMaxLayers},
    {"d_intermediate", 0, kMaxWidth},
    {"pad_vocab_size_multiple", 1, kMaxVocab},
    {"ssm_cfg.d_state", 1, kMaxState},
    {"ssm_cfg.headdim", 1, kMaxHeads},
    {"ssm_cfg.ngroups", 1, kMaxHeads},
    {"ssm_cfg.mimo_rank", 1, kMaxHeads},
    {"ssm_cfg.chunk_size", 1, kMaxChunk},
};

const SizeRange* size_range(std::string_view key) {
  for (const SizeRange& range : kSizeRanges)
    if (range.key == key) return &range;
  return nullptr;
}

// Numbers with a range: epsilons (zero or negative divides by zero or takes the root of a
// negative; above 1 it would swamp any activation) and fractions of a head lie in (0, 1];
// the Mamba expansion, RoPE's base and the scales the parser divides by must be positive.
struct NumberRange {
  std::string_view key;
  double max;  // every range here is (0, max]
};
constexpr double kUnbounded = std::numeric_limits<double>::max();
constexpr NumberRange kNumberRanges[] = {
    {"layer_norm_epsilon", 1.0},
    {"rms_norm_eps", 1.0},
    {"layer_norm_eps", 1.0},
    {"rotary_pct", 1.0},
    {"partial_rotary_factor", 1.0},
    {"rope_parameters.partial_rotary_factor", 1.0},
    {"expand", kUnbounded},
    {"mamba_expand", kUnbounded},
    {"rope_theta", kUnbounded},
    {"rope_parameters.rope_theta", kUnbounded},
    {"rotary_emb_base", kUnbounded},
    {"logits_scaling", kUnbounded},
    {"attention_multiplier", kUnbounded},
    {"norm_epsilon", 1.0},
    {"ssm_cfg.expand", kUnbounded},
    {"ssm_cfg.dt_min", kUnbounded},
    {"ssm_cfg.dt_max", kUnbounded},
    {"ssm_cfg.dt_init_floor", kUnbounded},
};

const NumberRange* number_range(std::string_view key) {
  for (const NumberRange& range : kNumberRanges)
    if (range.key == key) return &range;
  return nullptr;
}

// Typed access to config.json with errors naming the file and the key.
class ConfigReader {
 public:
  ConfigReader(const json& config, std::filesystem::path file, const ModelConfigOptions& options, bool baseline)
      : config_(config), file_(std::move(file)), options_(options), baseline_(baseline) {}

  // The reader of a nested object (mamba_ssm's ssm_cfg): its keys are named "parent.key" in
  // errors and ranges, and placed at the parent's place.
  ConfigReader nested(std::string_view key) const {
    const json& value = required(key);
    if (!value.is_object()) fail(key, fmt::format("expected an object, got {}", value.dump()));
    ConfigReader sub(value, file_, options_, baseline_);
    sub.prefix_ = prefix_ + std::string(key) + ".";
    sub.place_ = place_.empty() ? std::string(key) : place_;
    return sub;
  }
  // The keys of the object (for a nested one: to reject unknown options).
  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    for (auto it = config_.begin(); it != config_.end(); ++it) out.push_back(it.key());
    return out;
  }

  [[noreturn]] void fail(std::string_view key, std::string_view message) const {
    const std::string name = prefix_ + std::string(key);
    if (options_.locate)
      throw ConfigError(fmt::format("{}: {}: {}", options_.locate(place_.empty() ? key : place_), name, message));
    throw ConfigError(fmt::format("{}: {}: {}", file_.string(), name, message));
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
    const bool in_range =
        value.is_number_integer() && value.get<std::int64_t>() >= 0 && value.get<std::int64_t>() <= (1 << 30);
    if (baseline_ && !in_range) fail(key, fmt::format("expected an integer in [0, 2^30], got {}", value.dump()));
    if (!value.is_number_integer()) fail(key, fmt::format("expected an integer, got {}", value.dump()));
    const auto v = value.get<std::int64_t>();
    if (const SizeRange* range = size_range(prefix_ + std::string(key)); range && (v < range->min || v > range->max))
      fail(key, fmt::format("expected an integer in {}..{}, got {}", range->min, range->max, v));
    if (!in_range) fail(key, fmt::format("{} is out of range", v));
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
    if ((baseline_ && !value.is_number()) || !to_float(value, out))
      fail(key, fmt::format("expected a number, got {}", value.dump()));
    check_number(key, out);
    return out;
  }
  // A finite number, and a positive one where the key needs it.
  void check_number(std::string_view key, double value) const {
    if (!std::isfinite(value)) fail(key, fmt::format("expected a finite number, got {}", value));
    const NumberRange* range = number_range(prefix_ + std::string(key));
    if (range && range->max == kUnbounded && !(value > 0))
      fail(key, fmt::format("expected a number greater than 0, got {}", value));
    if (range && range->max != kUnbounded && !(value > 0 && value <= range->max))
      fail(key, fmt::format("expected a number in (0, {}], got {}", range->max, value));
  }
  // The baselines' numbers, read as double (then narrowed by the caller).
  double real(std::string_view key, double fallback) const {
    if (!has(key)) return fallback;
    const json& value = required(key);
    if (!value.is_number()) fail(key, fmt::format("expected a number, got {}", value.dump()));
    check_number(key, value.get<double>());
    return value.get<double>();
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
        if (to_float(rope["rope_theta"], theta)) {
          check_number("rope_parameters.rope_theta", theta);
          return theta;
        }
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
        if (to_float(rope["partial_rotary_factor"], factor)) {
          check_number("rope_parameters.partial_rotary_factor", factor);
          return factor;
        }
        fail("rope_parameters.partial_rotary_factor", "expected a number");
      }
    }
    return number("partial_rotary_factor", 1.0f);
  }

  // time_step_limit: [min, max] (max may be {"__float__": "Infinity"}); absent = (0, inf).
  void time_step_limit(MambaShape& m) const {
    if (!has("time_step_limit")) return;
    const auto limit = numbers("time_step_limit", 2);
    if (!(limit[0] >= 0) || !std::isfinite(limit[0]) || !(limit[1] >= limit[0]))
      fail("time_step_limit",
           fmt::format("expected [min, max] with 0 <= min <= max, got [{}, {}]", limit[0], limit[1]));
    m.dt_min = limit[0];
    m.dt_max = limit[1];
  }

 private:
  void mark(std::string_view key) const {
    if (options_.keys_read && prefix_.empty()) options_.keys_read->insert(std::string(key));
  }
  const json& config_;
  std::filesystem::path file_;
  const ModelConfigOptions& options_;
  bool baseline_;       // llama, gpt_neox: their integer message, and plain JSON numbers only
  std::string prefix_;  // a nested object's "parent." ("" at the top level)
  std::string place_;   // a nested object's top-level key, for options_.locate
};

Activation activation(const ConfigReader& c, std::string_view key, std::string_view fallback) {
  const std::string name = c.string(key, std::string(fallback));
  if (name == "silu" || name == "swish") return Activation::silu;
  if (name == "gelu") return Activation::gelu;
  if (name == "relu2") return Activation::relu2;
  c.fail(key, fmt::format("unsupported activation \"{}\" (supported: silu, gelu, relu2)", name));
}

// The baselines also take transformers' GELU approximations.
Activation baseline_activation(const ConfigReader& c, std::string_view key, std::string_view fallback) {
  const std::string name = c.string(key, std::string(fallback));
  if (name == "gelu_new" || name == "gelu_fast" || name == "gelu_pytorch_tanh") return Activation::gelu;
  return activation(c, key, fallback);
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
  const std::vector<std::string> names = c.strings(key);
  if (names.empty() || static_cast<std::int64_t>(names.size()) > kMaxLayers)
    c.fail(key, fmt::format("has {} entries, expected 1..{} layers", names.size(), kMaxLayers));
  for (const std::string& name : names) layers.push_back(layer_kind(c, key, name));
  if (expected_layers >= 0 && static_cast<int>(layers.size()) != expected_layers)
    c.fail(key, fmt::format("has {} entries for num_hidden_layers = {}", layers.size(), expected_layers));
  return layers;
}

void read_common(const ConfigReader& c, ModelConfig& m) {
  m.hidden_size = c.integer("hidden_size");
  m.vocab_size = c.integer("vocab_size");
  m.tie_word_embeddings = c.boolean("tie_word_embeddings", false);
}

// The Mamba mixer's inner width: `expand` (a number) times hidden_size, within the width cap.
int inner_size(const ConfigReader& c, std::string_view key, int hidden_size) {
  const double inner = static_cast<double>(c.number(key)) * hidden_size;
  if (!(inner >= 1) || inner > kMaxWidth)
    c.fail(key, fmt::format("{} x hidden_size {} gives an inner width of {}, expected 1..{}", c.number(key),
                            hidden_size, inner, kMaxWidth));
  return static_cast<int>(inner);
}

// "auto" or an integer: the rank of Mamba-1's dt projection.
int dt_rank(const ConfigReader& c, std::string_view key, int hidden_size) {
  const json& rank = c.required(key);
  return rank.is_string() && rank.get<std::string>() == "auto" ? (hidden_size + 15) / 16 : c.integer(key);
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

void read_mamba2(const ConfigReader& c, ModelConfig& mc, const Mamba2Keys& keys) {
  MambaShape& m = mc.mamba;
  m.version = 2;
  m.heads = c.integer(keys.heads);
  m.head_dim = c.integer(keys.head_dim);
  m.groups = c.integer(keys.groups, 1);
  m.d_state = c.integer(keys.d_state);
  m.d_conv = c.integer(keys.d_conv);
  m.chunk_size = c.integer(keys.chunk_size);
  m.d_inner = inner_size(c, keys.expand, mc.hidden_size);
  m.conv_bias = c.boolean(keys.conv_bias, true);
  m.proj_bias = m.out_proj_bias = c.boolean(keys.proj_bias, false);
  m.norm_eps = mc.norm_eps;
  m.norm_group_size = m.d_inner / std::max(1, m.groups);
  c.time_step_limit(m);
}

void read_attention(const ConfigReader& c, ModelConfig& m) {
  AttentionShape& a = m.attention;
  a.input_size = m.hidden_size;
  a.heads = c.integer("num_attention_heads");
  a.kv_heads = c.integer("num_key_value_heads", a.heads);
  a.head_dim = c.integer("head_dim", a.heads > 0 ? m.hidden_size / a.heads : 0);
  a.scale = 1.0f / std::sqrt(static_cast<float>(a.head_dim));
  a.bias = c.boolean("attention_bias", false);
  a.rope_theta = c.rope_theta();
}

void check_split(const ConfigReader& c, std::string_view key, int total, int parts) {
  if (parts <= 0 || total % parts != 0) c.fail(key, fmt::format("{} does not split into {} parts", total, parts));
}

// The checks every SSM and hybrid family ends with; a dense MLP is gated unless relu².
void finish_hybrid(const ConfigReader& c, ModelConfig& mc) {
  const MambaShape& m = mc.mamba;
  const AttentionShape& a = mc.attention;
  if (mc.num_layers < 1) c.fail("num_hidden_layers", "must be at least 1");
  if (m.version == 2) {
    check_split(c, "mamba heads", m.d_inner, m.heads);
    if (std::int64_t{m.heads} * m.head_dim != m.d_inner)
      c.fail("head_dim", fmt::format("{} heads of {} do not make d_inner = {}", m.heads, m.head_dim, m.d_inner));
    check_split(c, "n_groups", m.heads, m.groups);
    if (m.chunk_size < 1) c.fail("chunk_size", "must be at least 1");
  }
  if (mc.has_attention()) {
    check_split(c, "num_key_value_heads", a.heads, a.kv_heads);
    if (a.rotary_dim % 2 != 0 || a.rotary_dim > a.head_dim)
      c.fail("partial_rotary_factor", fmt::format("rotary dimension {} of head_dim {}", a.rotary_dim, a.head_dim));
  }
  mc.gated_mlp = mc.ffn.activation != Activation::relu2;
}

// The tensors a family's checkpoint holds, with their shapes.
using Tensors = std::vector<TensorShape>;

void mamba_tensors(const ModelConfig& mc, const std::string& p, Tensors& s) {
  const MambaShape& m = mc.mamba;
  const std::int64_t h = mc.hidden_size, i = m.d_inner, n = m.d_state;
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

void attention_tensors(const ModelConfig& mc, const std::string& p, Tensors& s) {
  const AttentionShape& a = mc.attention;
  const std::int64_t q = a.heads * a.head_dim, kv = a.kv_heads * a.head_dim;
  for (auto [name, rows] : {std::pair<const char*, std::int64_t>{"q_proj", q}, {"k_proj", kv}, {"v_proj", kv}}) {
    s.push_back({p + name + ".weight", {rows, a.input_size}});
    if (a.bias) s.push_back({p + name + ".bias", {rows}});
  }
  s.push_back({p + "o_proj.weight", {mc.hidden_size, q}});
  if (a.bias) s.push_back({p + "o_proj.bias", {mc.hidden_size}});
}

// gate/up/down MLP (or up/down for relu2) named in the Llama way.
void mlp_tensors(const std::string& p, std::int64_t hidden, std::int64_t inner, bool gated, bool bias, Tensors& s) {
  if (gated) s.push_back({p + "gate_proj.weight", {inner, hidden}});
  s.push_back({p + "up_proj.weight", {inner, hidden}});
  s.push_back({p + "down_proj.weight", {hidden, inner}});
  if (bias) {
    if (gated) s.push_back({p + "gate_proj.bias", {inner}});
    s.push_back({p + "up_proj.bias", {inner}});
    s.push_back({p + "down_proj.bias", {hidden}});
  }
}

// A LayerNorm's bias beside its weight: "x.weight" -> "x.bias".
std::string bias_of(const std::string& weight) { return weight.substr(0, weight.rfind('.') + 1) + "bias"; }

// ---- The family adapters: config keys, layer pattern, tensor names. ----

// Mamba and Mamba-2 (and Nemotron-H, which shares their checkpoint layout): backbone.layers.N.
LayerTensorNames backbone_names(const ModelConfig&, int layer) {
  const std::string p = fmt::format("backbone.layers.{}.", layer);
  LayerTensorNames n;
  n.norm = p + "norm.weight";
  n.mamba = p + "mixer.";
  n.attention = p + "mixer.";
  n.feed_forward = p + "mixer.";
  return n;
}

void backbone_tensors(const ModelConfig& mc, int layer, Tensors& s) {
  const LayerTensorNames n = mc.layer_tensor_names(layer);
  const FeedForwardShape& f = mc.ffn;
  const std::int64_t h = mc.hidden_size;
  s.push_back({n.norm, {h}});
  switch (mc.layers[layer]) {
    case LayerKind::mamba:
      mamba_tensors(mc, n.mamba, s);
      break;
    case LayerKind::attention:
      attention_tensors(mc, n.attention, s);
      break;
    case LayerKind::mlp:
      mlp_tensors(n.feed_forward, h, f.intermediate_size, false, f.bias, s);
      break;
    case LayerKind::moe:
      s.push_back({n.feed_forward + "gate.weight", {f.experts, h}});
      s.push_back({n.feed_forward + "gate.e_score_correction_bias", {f.experts}});
      for (int e = 0; e < f.experts; ++e)
        mlp_tensors(fmt::format("{}experts.{}.", n.feed_forward, e), h, f.expert_intermediate_size, false, false, s);
      if (f.shared_intermediate_size > 0)
        mlp_tensors(n.feed_forward + "shared_experts.", h, f.shared_intermediate_size, false, f.bias, s);
      break;
    default:
      break;
  }
}

void read_mamba(const ConfigReader& c, ModelConfig& mc) {
  MambaShape& m = mc.mamba;
  mc.num_layers = c.integer("num_hidden_layers");
  mc.norm_eps = c.number("layer_norm_epsilon", 1e-5f);
  m.version = 1;
  m.d_inner = c.integer("intermediate_size");
  m.d_state = c.integer("state_size");
  m.d_conv = c.integer("conv_kernel");
  m.dt_rank = dt_rank(c, "time_step_rank", mc.hidden_size);
  m.conv_bias = c.boolean("use_conv_bias", true);
  m.proj_bias = m.out_proj_bias = c.boolean("use_bias", false);
  mc.layers.assign(mc.num_layers, LayerKind::mamba);
  mc.feed_forward.assign(mc.num_layers, FeedForwardKind::none);
  finish_hybrid(c, mc);
}

void read_mamba2_family(const ConfigReader& c, ModelConfig& mc) {
  mc.num_layers = c.integer("num_hidden_layers");
  mc.norm_eps = c.number("layer_norm_epsilon", 1e-5f);
  read_mamba2(c, mc, kMamba2Keys);
  mc.layers.assign(mc.num_layers, LayerKind::mamba);
  mc.feed_forward.assign(mc.num_layers, FeedForwardKind::none);
  finish_hybrid(c, mc);
}

void read_nemotron_h(const ConfigReader& c, ModelConfig& mc) {
  MambaShape& m = mc.mamba;
  AttentionShape& a = mc.attention;
  FeedForwardShape& f = mc.ffn;
  mc.norm_eps = c.number("layer_norm_epsilon", 1e-5f);
  if (c.has("layers_block_type")) {
    mc.layers = layer_list(c, "layers_block_type", c.integer("num_hidden_layers", -1));
  } else {
    const std::string pattern = c.string("hybrid_override_pattern");
    for (char ch : pattern) mc.layers.push_back(layer_kind(c, "hybrid_override_pattern", std::string(1, ch)));
  }
  mc.num_layers = static_cast<int>(mc.layers.size());
  m.version = 2;
  m.heads = c.integer("mamba_num_heads");
  m.head_dim = c.integer("mamba_head_dim");
  m.groups = c.integer("n_groups", 1);
  m.d_state = c.integer("ssm_state_size");
  m.d_conv = c.integer("conv_kernel");
  m.chunk_size = c.integer("chunk_size");
  if (std::int64_t{m.heads} * m.head_dim > kMaxWidth)
    c.fail("mamba_head_dim",
           fmt::format("{} heads of {} exceed the inner width cap {}", m.heads, m.head_dim, kMaxWidth));
  m.d_inner = m.heads * m.head_dim;
  m.conv_bias = c.boolean("use_conv_bias", true);
  m.proj_bias = m.out_proj_bias = c.boolean("use_bias", false);
  m.norm_eps = mc.norm_eps;
  m.norm_group_size = m.d_inner / std::max(1, m.groups);
  c.time_step_limit(m);
  read_attention(c, mc);
  a.bias = c.boolean("attention_bias", false);
  f.intermediate_size = c.integer("intermediate_size");
  f.activation = activation(c, "mlp_hidden_act", "relu2");
  f.bias = c.boolean("mlp_bias", false);
  f.gated_experts = false;
  const bool any_moe = std::count(mc.layers.begin(), mc.layers.end(), LayerKind::moe) > 0;
  if (any_moe) {
    f.experts = c.integer("n_routed_experts");
    f.top_k = c.integer("num_experts_per_tok");
    f.expert_intermediate_size = c.integer("moe_intermediate_size");
    f.routing = Routing::sigmoid_topk;
    f.normalize_routing = c.boolean("norm_topk_prob", true);
    f.routed_scaling = c.number("routed_scaling_factor", 1.0f);
    f.shared_intermediate_size =
        c.integer("n_shared_experts", 1) > 0 ? c.integer("moe_shared_expert_intermediate_size") : 0;
    if (c.integer("n_group", 1) != 1 || c.integer("topk_group", 1) != 1)
      c.fail("n_group", "grouped expert selection (n_group, topk_group other than 1) is not supported");
    if (c.has("moe_latent_size")) c.fail("moe_latent_size", "latent MoE projections are not supported");
  }
  mc.feed_forward.assign(mc.num_layers, FeedForwardKind::none);
  finish_hybrid(c, mc);
  mc.gated_mlp = false;  // its MLP layers are up/down whatever the activation
}

// Jamba, Bamba and Falcon-H1: model.layers.N.{input_layernorm, mamba | self_attn,
// pre_ff_layernorm, feed_forward}.
LayerTensorNames hybrid_names(const ModelConfig&, int layer) {
  const std::string p = fmt::format("model.layers.{}.", layer);
  LayerTensorNames n;
  n.norm = p + "input_layernorm.weight";
  n.ff_norm = p + "pre_ff_layernorm.weight";
  n.mamba = p + "mamba.";
  n.attention = p + "self_attn.";
  n.feed_forward = p + "feed_forward.";
  return n;
}

void hybrid_tensors(const ModelConfig& mc, int layer, Tensors& s) {
  const LayerTensorNames n = mc.layer_tensor_names(layer);
  const FeedForwardShape& f = mc.ffn;
  const std::int64_t h = mc.hidden_size;
  s.push_back({n.norm, {h}});
  s.push_back({n.ff_norm, {h}});
  if (mc.layers[layer] != LayerKind::attention) mamba_tensors(mc, n.mamba, s);
  if (mc.layers[layer] != LayerKind::mamba) attention_tensors(mc, n.attention, s);
  if (mc.feed_forward[layer] == FeedForwardKind::mlp) {
    mlp_tensors(n.feed_forward, h, f.intermediate_size, true, f.bias, s);
  } else {
    s.push_back({n.feed_forward + "router.weight", {f.experts, h}});
    for (int e = 0; e < f.experts; ++e)
      mlp_tensors(fmt::format("{}experts.{}.", n.feed_forward, e), h, f.expert_intermediate_size, true, false, s);
  }
}

void read_jamba(const ConfigReader& c, ModelConfig& mc) {
  MambaShape& m = mc.mamba;
  FeedForwardShape& f = mc.ffn;
  mc.num_layers = c.integer("num_hidden_layers");
  mc.norm_eps = c.number("rms_norm_eps", 1e-6f);
  m.version = 1;
  m.d_inner = inner_size(c, "mamba_expand", mc.hidden_size);
  m.d_state = c.integer("mamba_d_state");
  m.d_conv = c.integer("mamba_d_conv");
  m.dt_rank = dt_rank(c, "mamba_dt_rank", mc.hidden_size);
  m.conv_bias = c.boolean("mamba_conv_bias", true);
  m.proj_bias = m.out_proj_bias = c.boolean("mamba_proj_bias", false);
  m.bcdt_norms = true;
  m.bcdt_norm_eps = mc.norm_eps;
  read_attention(c, mc);
  const int attn_period = c.integer("attn_layer_period"), attn_offset = c.integer("attn_layer_offset");
  const int expert_period = c.integer("expert_layer_period"), expert_offset = c.integer("expert_layer_offset");
  if (attn_period == 0) c.fail("attn_layer_period", "must be positive");
  if (expert_period == 0) c.fail("expert_layer_period", "must be positive");
  f.intermediate_size = c.integer("intermediate_size");
  f.activation = activation(c, "hidden_act", "silu");
  f.experts = c.integer("num_experts", 1);
  f.top_k = c.integer("num_experts_per_tok", 1);
  f.expert_intermediate_size = f.intermediate_size;
  f.routing = Routing::softmax_topk;
  f.normalize_routing = false;
  for (int i = 0; i < mc.num_layers; ++i) {
    mc.layers.push_back(i % attn_period == attn_offset ? LayerKind::attention : LayerKind::mamba);
    mc.feed_forward.push_back(f.experts > 1 && i % expert_period == expert_offset ? FeedForwardKind::moe
                                                                                  : FeedForwardKind::mlp);
  }
  finish_hybrid(c, mc);
}

void read_bamba(const ConfigReader& c, ModelConfig& mc) {
  AttentionShape& a = mc.attention;
  FeedForwardShape& f = mc.ffn;
  mc.num_layers = c.integer("num_hidden_layers");
  mc.norm_eps = c.number("rms_norm_eps", 1e-5f);
  read_mamba2(c, mc, kHybridMamba2Keys);
  read_attention(c, mc);
  a.rotary_dim = static_cast<int>(a.head_dim * c.partial_rotary_factor());
  f.intermediate_size = c.integer("intermediate_size");
  f.activation = activation(c, "hidden_act", "silu");
  f.bias = c.boolean("mlp_bias", false);
  mc.layers.assign(mc.num_layers, LayerKind::mamba);
  for (int i : c.integers("attn_layer_indices")) {
    if (i < 0 || i >= mc.num_layers) c.fail("attn_layer_indices", fmt::format("layer {} does not exist", i));
    mc.layers[i] = LayerKind::attention;
  }
  mc.feed_forward.assign(mc.num_layers, FeedForwardKind::mlp);
  finish_hybrid(c, mc);
}

void read_falcon_h1(const ConfigReader& c, ModelConfig& mc) {
  MambaShape& m = mc.mamba;
  AttentionShape& a = mc.attention;
  FeedForwardShape& f = mc.ffn;
  mc.num_layers = c.integer("num_hidden_layers");
  mc.norm_eps = c.number("rms_norm_eps", 1e-5f);
  read_mamba2(c, mc, kHybridMamba2Keys);
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
  read_attention(c, mc);
  a.head_dim = mc.hidden_size / a.heads;
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
  mc.embedding_multiplier = c.number("embedding_multiplier", 1.0f);
  mc.logits_multiplier = c.number("lm_head_multiplier", 1.0f);
  mc.layers.assign(mc.num_layers, LayerKind::parallel_hybrid);
  mc.feed_forward.assign(mc.num_layers, FeedForwardKind::mlp);
  finish_hybrid(c, mc);
}

// Granite 4.0-H: model.layers.N.{input_layernorm, mamba | self_attn, post_attention_layernorm,
// block_sparse_moe, shared_mlp}.
LayerTensorNames granite_names(const ModelConfig&, int layer) {
  const std::string p = fmt::format("model.layers.{}.", layer);
  LayerTensorNames n;
  n.norm = p + "input_layernorm.weight";
  n.ff_norm = p + "post_attention_layernorm.weight";
  n.mamba = p + "mamba.";
  n.attention = p + "self_attn.";
  n.feed_forward = p;
  return n;
}

void granite_tensors(const ModelConfig& mc, int layer, Tensors& s) {
  const LayerTensorNames n = mc.layer_tensor_names(layer);
  const FeedForwardShape& f = mc.ffn;
  const std::int64_t h = mc.hidden_size;
  s.push_back({n.norm, {h}});
  s.push_back({n.ff_norm, {h}});
  if (mc.layers[layer] == LayerKind::mamba) {
    mamba_tensors(mc, n.mamba, s);
  } else {
    attention_tensors(mc, n.attention, s);
  }
  const std::string moe = n.feed_forward + "block_sparse_moe.", shared = n.feed_forward + "shared_mlp.";
  if (f.experts > 0) {
    s.push_back({moe + "router.layer.weight", {f.experts, h}});
    s.push_back({moe + "input_linear.weight", {f.experts, 2 * f.expert_intermediate_size, h}});
    s.push_back({moe + "output_linear.weight", {f.experts, h, f.expert_intermediate_size}});
  }
  s.push_back({shared + "input_linear.weight", {2 * f.shared_intermediate_size, h}});
  s.push_back({shared + "output_linear.weight", {h, f.shared_intermediate_size}});
}

void read_granite(const ConfigReader& c, ModelConfig& mc) {
  AttentionShape& a = mc.attention;
  FeedForwardShape& f = mc.ffn;
  mc.num_layers = c.integer("num_hidden_layers");
  mc.norm_eps = c.number("rms_norm_eps", 1e-6f);
  read_mamba2(c, mc, kHybridMamba2Keys);
  read_attention(c, mc);
  a.scale = c.number("attention_multiplier");
  if (c.string("position_embedding_type", "") == "rope") a.rotary_dim = a.head_dim;
  mc.embedding_multiplier = c.number("embedding_multiplier", 1.0f);
  mc.residual_multiplier = c.number("residual_multiplier", 1.0f);
  mc.logits_multiplier = 1.0f / c.number("logits_scaling", 1.0f);
  mc.layers = layer_list(c, "layer_types", mc.num_layers);
  f.activation = activation(c, "hidden_act", "silu");
  f.experts = c.integer("num_local_experts", 0);
  // Without experts the layers would need a dense MLP, whose width Granite keeps elsewhere.
  if (f.experts == 0) c.fail("num_local_experts", "0 (a dense feed-forward without experts) is not supported");
  f.top_k = c.integer("num_experts_per_tok", 1);
  f.expert_intermediate_size = c.integer("intermediate_size");
  f.routing = Routing::topk_softmax;
  f.shared_intermediate_size = c.integer("shared_intermediate_size");
  mc.feed_forward.assign(mc.num_layers, f.experts > 0 ? FeedForwardKind::moe : FeedForwardKind::mlp);
  finish_hybrid(c, mc);
}

// Zamba2: Mamba layers model.layers.N.{input_layernorm, mamba}; hybrid layers
// model.layers.N.{linear, mamba_decoder.{input_layernorm, mamba}} and the shared block they run.
LayerTensorNames zamba2_names(const ModelConfig& mc, int layer) {
  const std::string p = fmt::format("model.layers.{}.", layer);
  if (mc.layers[layer] != LayerKind::shared_attention) {
    LayerTensorNames n;
    n.norm = p + "input_layernorm.weight";
    n.mamba = p + "mamba.";
    return n;
  }
  const std::string shared = mc.shared_block_prefix(layer);
  LayerTensorNames n;
  n.norm = p + "mamba_decoder.input_layernorm.weight";
  n.ff_norm = shared + "pre_ff_layernorm.weight";
  n.mamba = p + "mamba_decoder.mamba.";
  n.attention = shared + "self_attn.";
  n.feed_forward = shared + "feed_forward.";
  n.shared_norm = shared + "input_layernorm.weight";
  n.linear = p + "linear.weight";
  return n;
}

void zamba2_tensors(const ModelConfig& mc, int layer, Tensors& s) {
  const LayerTensorNames n = mc.layer_tensor_names(layer);
  const FeedForwardShape& f = mc.ffn;
  const AttentionShape& a = mc.attention;
  const std::int64_t h = mc.hidden_size;
  if (mc.layers[layer] == LayerKind::mamba) {
    s.push_back({n.norm, {h}});
    mamba_tensors(mc, n.mamba, s);
    return;
  }
  s.push_back({n.linear, {h, h}});
  s.push_back({n.norm, {h}});
  mamba_tensors(mc, n.mamba, s);
  const std::string shared = mc.shared_block_prefix(layer);
  if (shared == fmt::format("model.layers.{}.shared_transformer.", layer)) {  // the layer that holds the block
    s.push_back({n.shared_norm, {a.input_size}});
    s.push_back({n.ff_norm, {h}});
    attention_tensors(mc, n.attention, s);
    s.push_back({n.feed_forward + "gate_up_proj.weight", {2 * f.intermediate_size, h}});
    s.push_back({n.feed_forward + "down_proj.weight", {h, f.intermediate_size}});
    if (f.bias) {
      s.push_back({n.feed_forward + "gate_up_proj.bias", {2 * f.intermediate_size}});
      s.push_back({n.feed_forward + "down_proj.bias", {h}});
    }
  }
  const int adapter = mc.adapter_index(layer);
  const std::string mlp_adapter = fmt::format("{}gate_up_proj_adapter_list.{}.", n.feed_forward, adapter);
  s.push_back({mlp_adapter + "0.weight", {mc.zamba.adapter_rank, h}});
  s.push_back({mlp_adapter + "1.weight", {2 * f.intermediate_size, mc.zamba.adapter_rank}});
  if (mc.zamba.attention_adapters) {
    const std::int64_t in = a.input_size;
    for (const char* which : {"q", "k", "v"}) {
      const std::string ap = fmt::format("{}linear_{}_adapter_list.{}.", n.attention, which, adapter);
      s.push_back({ap + "0.weight", {mc.zamba.adapter_rank, in}});
      s.push_back({ap + "1.weight", {in, mc.zamba.adapter_rank}});
    }
  }
}

void read_zamba2(const ConfigReader& c, ModelConfig& mc) {
  MambaShape& m = mc.mamba;
  AttentionShape& a = mc.attention;
  FeedForwardShape& f = mc.ffn;
  ZambaShape& z = mc.zamba;
  mc.num_layers = c.integer("num_hidden_layers");
  mc.norm_eps = c.number("rms_norm_eps", 1e-5f);
  m.version = 2;
  m.d_inner = inner_size(c, "mamba_expand", mc.hidden_size);
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
  a.input_size = c.integer("attention_hidden_size", 2 * mc.hidden_size);
  a.heads = c.integer("num_attention_heads");
  a.kv_heads = c.integer("num_key_value_heads", a.heads);
  a.head_dim = c.integer("attention_head_dim", a.input_size / a.heads);
  a.scale = 1.0f / std::sqrt(static_cast<float>(a.head_dim) / 2.0f);  // sqrt(head_dim / 2)
  a.rope_theta = c.rope_theta();
  a.rotary_dim = c.boolean("use_mem_rope", false) ? a.head_dim : 0;
  f.intermediate_size = c.integer("intermediate_size");
  f.activation = activation(c, "hidden_act", "gelu");
  f.bias = c.boolean("add_bias_linear", false);
  z.num_mem_blocks = c.integer("num_mem_blocks", 1);
  z.attention_adapters = c.boolean("use_shared_attention_adapter", false);
  z.adapter_rank = c.integer("adapter_rank", 0);
  mc.layers = layer_list(c, "layers_block_type", mc.num_layers);
  if (c.has("hybrid_layer_ids")) {
    z.hybrid_layer_ids = c.integers("hybrid_layer_ids");
  } else {
    for (int i = 0; i < mc.num_layers; ++i)
      if (mc.layers[i] == LayerKind::shared_attention) z.hybrid_layer_ids.push_back(i);
  }
  for (int i = 0; i < mc.num_layers; ++i) {
    const bool listed = std::count(z.hybrid_layer_ids.begin(), z.hybrid_layer_ids.end(), i) > 0;
    if (listed != (mc.layers[i] == LayerKind::shared_attention))
      c.fail("hybrid_layer_ids", fmt::format("does not match layers_block_type at layer {}", i));
  }
  if (z.num_mem_blocks < 1) c.fail("num_mem_blocks", "must be at least 1");
  // The q/k/v adapters map attention_hidden_size to attention_hidden_size and are added to the
  // projections' outputs, so those must have that width too.
  if (z.attention_adapters && a.heads * a.head_dim != a.input_size)
    c.fail("attention_head_dim", fmt::format("{} heads x {} do not make attention_hidden_size {}, as the shared "
                                             "attention adapters need",
                                             a.heads, a.head_dim, a.input_size));
  if (z.attention_adapters && a.kv_heads != a.heads)
    c.fail("num_key_value_heads",
           fmt::format("{}, not num_attention_heads {}, as the shared attention adapters need", a.kv_heads, a.heads));
  if (c.boolean("use_long_context", false)) c.fail("use_long_context", "long-context RoPE is not supported");
  mc.feed_forward.assign(mc.num_layers, FeedForwardKind::none);
  finish_hybrid(c, mc);
}

// The transformer baselines: every layer attention then a dense MLP.
void read_baseline_common(const ConfigReader& c, ModelConfig& mc) {
  mc.hidden_size = c.integer("hidden_size");
  mc.vocab_size = c.integer("vocab_size");
  mc.num_layers = c.integer("num_hidden_layers");
  if (mc.num_layers < 1) c.fail("num_hidden_layers", "must be at least 1");
  AttentionShape& a = mc.attention;
  a.input_size = mc.hidden_size;
  a.heads = c.integer("num_attention_heads");
  if (a.heads < 1 || mc.hidden_size % a.heads != 0)
    c.fail("num_attention_heads", fmt::format("{} heads do not split hidden_size {}", a.heads, mc.hidden_size));
  mc.ffn.intermediate_size = c.integer("intermediate_size");
}

void finish_baseline(const ConfigReader& c, ModelConfig& mc) {
  AttentionShape& a = mc.attention;
  if (a.kv_heads < 1 || a.heads % a.kv_heads != 0)
    c.fail("num_key_value_heads", fmt::format("{} query heads do not split into {} groups", a.heads, a.kv_heads));
  a.scale = 1.0f / std::sqrt(static_cast<float>(a.head_dim));
  mc.layers.assign(mc.num_layers, LayerKind::attention);
  mc.feed_forward.assign(mc.num_layers, FeedForwardKind::mlp);
}

// Llama: model.layers.N.{input_layernorm, self_attn, post_attention_layernorm, mlp}.
LayerTensorNames llama_names(const ModelConfig&, int layer) {
  const std::string p = fmt::format("model.layers.{}.", layer);
  LayerTensorNames n;
  n.norm = p + "input_layernorm.weight";
  n.ff_norm = p + "post_attention_layernorm.weight";
  n.attention = p + "self_attn.";
  n.feed_forward = p + "mlp.";
  return n;
}

void llama_tensors(const ModelConfig& mc, int layer, Tensors& s) {
  const LayerTensorNames n = mc.layer_tensor_names(layer);
  const std::int64_t h = mc.hidden_size;
  s.push_back({n.norm, {h}});
  attention_tensors(mc, n.attention, s);
  s.push_back({n.ff_norm, {h}});
  mlp_tensors(n.feed_forward, h, mc.ffn.intermediate_size, true, mc.ffn.bias, s);
}

void read_llama(const ConfigReader& c, ModelConfig& mc) {
  read_baseline_common(c, mc);
  AttentionShape& a = mc.attention;
  FeedForwardShape& f = mc.ffn;
  a.kv_heads = c.integer("num_key_value_heads", a.heads);
  a.head_dim = c.integer("head_dim", mc.hidden_size / a.heads);
  a.rope_theta = static_cast<float>(c.real("rope_theta", 10000.0));
  a.rotary_dim = a.head_dim;
  a.bias = c.boolean("attention_bias", false);
  f.activation = baseline_activation(c, "hidden_act", "silu");
  f.bias = c.boolean("mlp_bias", false);
  mc.tie_word_embeddings = c.boolean("tie_word_embeddings", false);
  c.real("rms_norm_eps", 1e-6);  // checked, not used: the compiled RMSNorms keep norm_eps
  mc.gated_mlp = true;
  finish_baseline(c, mc);
}

// GPT-NeoX (Pythia): gpt_neox.layers.N.{input_layernorm, attention.query_key_value,
// attention.dense, post_attention_layernorm, mlp.dense_h_to_4h, mlp.dense_4h_to_h}, with
// biases; LayerNorms have weight and bias.
LayerTensorNames gpt_neox_names(const ModelConfig&, int layer) {
  const std::string p = fmt::format("gpt_neox.layers.{}.", layer);
  LayerTensorNames n;
  n.norm = p + "input_layernorm.weight";
  n.ff_norm = p + "post_attention_layernorm.weight";
  n.attention = p + "attention.";
  n.feed_forward = p + "mlp.";
  return n;
}

void gpt_neox_tensors(const ModelConfig& mc, int layer, Tensors& s) {
  const LayerTensorNames n = mc.layer_tensor_names(layer);
  const std::int64_t h = mc.hidden_size, inner = mc.ffn.intermediate_size;
  const AttentionShape& a = mc.attention;
  const std::int64_t q = std::int64_t(a.heads) * a.head_dim;
  for (const std::string& norm : {n.norm, n.ff_norm}) {
    s.push_back({norm, {h}});
    s.push_back({bias_of(norm), {h}});
  }
  s.push_back({n.attention + "query_key_value.weight", {3 * q, h}});
  if (a.bias) s.push_back({n.attention + "query_key_value.bias", {3 * q}});
  s.push_back({n.attention + "dense.weight", {h, q}});
  if (a.bias) s.push_back({n.attention + "dense.bias", {h}});
  s.push_back({n.feed_forward + "dense_h_to_4h.weight", {inner, h}});
  s.push_back({n.feed_forward + "dense_h_to_4h.bias", {inner}});
  s.push_back({n.feed_forward + "dense_4h_to_h.weight", {h, inner}});
  s.push_back({n.feed_forward + "dense_4h_to_h.bias", {h}});
}

void read_gpt_neox(const ConfigReader& c, ModelConfig& mc) {
  read_baseline_common(c, mc);
  AttentionShape& a = mc.attention;
  FeedForwardShape& f = mc.ffn;
  a.kv_heads = a.heads;
  a.head_dim = mc.hidden_size / a.heads;
  a.rotary_dim = static_cast<int>(a.head_dim * c.real("rotary_pct", 0.25));
  a.rope_theta = static_cast<float>(c.real("rotary_emb_base", 10000.0));
  a.bias = c.boolean("attention_bias", true);
  f.activation = baseline_activation(c, "hidden_act", "gelu");
  f.bias = true;
  mc.tie_word_embeddings = c.boolean("tie_word_embeddings", false);
  mc.parallel_residual = c.boolean("use_parallel_residual", true);
  c.real("layer_norm_eps", 1e-5);  // checked, not used: the compiled LayerNorms keep norm_eps
  mc.gated_mlp = false;
  mc.layer_norm = true;
  finish_baseline(c, mc);
}

// Mamba-3: mamba_ssm's MambaLMHeadModel (models/mixer_seq_simple.py) with Mamba3 mixers
// (modules/mamba3.py): backbone.layers.N.{norm, mixer, norm2, mlp.fc1/fc2}. Its config.json
// is a MambaConfig: d_model, n_layer, d_intermediate (a GatedMLP after each mixer when > 0),
// vocab_size (padded to pad_vocab_size_multiple), ssm_cfg (the mixer's options), rms_norm,
// residual_in_fp32 and fused_add_norm (the same sums in float32), tie_embeddings.
LayerTensorNames mamba_ssm_names(const ModelConfig&, int layer) {
  const std::string p = fmt::format("backbone.layers.{}.", layer);
  LayerTensorNames n;
  n.norm = p + "norm.weight";
  n.ff_norm = p + "norm2.weight";
  n.mamba = p + "mixer.";
  n.feed_forward = p + "mlp.";
  return n;
}

void mamba3_tensors(const ModelConfig& mc, const std::string& p, Tensors& s) {
  const MambaShape& m = mc.mamba;
  const std::int64_t h = mc.hidden_size, heads = m.heads, rank = m.mimo_rank, n = m.d_state;
  s.push_back({p + "in_proj.weight", {m.in_proj_size(), h}});
  s.push_back({p + "dt_bias", {heads}});
  s.push_back({p + "B_bias", {heads, rank, n}});
  s.push_back({p + "C_bias", {heads, rank, n}});
  s.push_back({p + "B_norm.weight", {n}});
  s.push_back({p + "C_norm.weight", {n}});
  if (m.mimo)
    for (const char* name : {"mimo_x", "mimo_z", "mimo_o"}) s.push_back({p + name, {heads, rank, m.head_dim}});
  s.push_back({p + "D", {heads}});
  if (m.outproj_norm) s.push_back({p + "norm.weight", {m.d_inner}});
  s.push_back({p + "out_proj.weight", {h, m.d_inner}});
}

void mamba_ssm_tensors(const ModelConfig& mc, int layer, Tensors& s) {
  const LayerTensorNames n = mc.layer_tensor_names(layer);
  const std::int64_t h = mc.hidden_size, inner = mc.ffn.intermediate_size;
  s.push_back({n.norm, {h}});
  mamba3_tensors(mc, n.mamba, s);
  if (mc.feed_forward[layer] == FeedForwardKind::none) return;
  s.push_back({n.ff_norm, {h}});
  s.push_back({n.feed_forward + "fc1.weight", {2 * inner, h}});
  s.push_back({n.feed_forward + "fc2.weight", {h, inner}});
}

// The options of mamba_ssm's Mamba3 (its constructor's arguments; layer names the class).
constexpr const char* kMamba3Options[] = {"layer",           "d_state", "expand",    "headdim",       "ngroups",
                                          "rope_fraction",   "dt_min",  "dt_max",    "dt_init_floor", "A_floor",
                                          "is_outproj_norm", "is_mimo", "mimo_rank", "chunk_size",    "dropout"};

void read_mamba3(const ConfigReader& c, ModelConfig& mc) {
  MambaShape& m = mc.mamba;
  FeedForwardShape& f = mc.ffn;
  mc.hidden_size = c.integer("d_model");
  mc.num_layers = c.integer("n_layer");
  // MambaLMHeadModel pads the vocabulary to a multiple of pad_vocab_size_multiple.
  const std::int64_t multiple = c.integer("pad_vocab_size_multiple", 1), vocab = c.integer("vocab_size");
  const std::int64_t padded = (vocab + multiple - 1) / multiple * multiple;
  if (padded > kMaxVocab)
    c.fail("pad_vocab_size_multiple",
           fmt::format("vocab_size {} padded to {} exceeds the vocabulary cap {}", vocab, padded, kMaxVocab));
  mc.vocab_size = static_cast<int>(padded);
  mc.tie_word_embeddings = c.boolean("tie_embeddings", true);
  mc.norm_eps = c.number("norm_epsilon", 1e-5f);
  if (!c.boolean("rms_norm", true))
    c.fail("rms_norm", "LayerNorm blocks (rms_norm false) are not supported (the Mamba-3 models use RMSNorm)");
  c.boolean("residual_in_fp32", true);  // the golden model keeps the residual in float32 anyway
  c.boolean("fused_add_norm", true);    // the same sums, fused or not
  if (c.has("attn_layer_idx") && !c.integers("attn_layer_idx").empty())
    c.fail("attn_layer_idx", "attention layers in a mamba_ssm model are not supported yet");
  if (c.has("attn_cfg") && !c.required("attn_cfg").is_object())
    c.fail("attn_cfg", fmt::format("expected an object, got {}", c.required("attn_cfg").dump()));
  if (c.boolean("bidirectional", false)) c.fail("bidirectional", "bidirectional models are not supported");

  const ConfigReader s = c.nested("ssm_cfg");
  for (const std::string& key : s.keys())
    if (std::find_if(std::begin(kMamba3Options), std::end(kMamba3Options),
                     [&](const char* known) { return key == known; }) == std::end(kMamba3Options))
      s.fail(key,
             "not an option of the Mamba3 layer (d_state, expand, headdim, ngroups, rope_fraction, A_floor, "
             "is_outproj_norm, is_mimo, mimo_rank, chunk_size, dt_min, dt_max, dt_init_floor, dropout)");
  if (const std::string layer = s.string("layer", "Mamba3"); layer != "Mamba3")
    s.fail("layer", fmt::format("\"{}\": a mamba3 model has Mamba3 layers", layer));
  m.version = 3;
  m.d_state = s.integer("d_state", 128);
  m.head_dim = s.integer("headdim", 64);
  m.groups = s.integer("ngroups", 1);
  m.chunk_size = s.integer("chunk_size", 64);
  m.d_inner = s.has("expand") ? inner_size(s, "expand", mc.hidden_size) : 2 * mc.hidden_size;
  check_split(s, "headdim", m.d_inner, m.head_dim);
  m.heads = m.d_inner / m.head_dim;
  check_split(s, "ngroups", m.heads, m.groups);
  m.rope_fraction = s.number("rope_fraction", 0.5f);
  if (m.rope_fraction != 0.5f && m.rope_fraction != 1.0f)
    s.fail("rope_fraction", fmt::format("expected 0.5 or 1.0 (as the Mamba3 layer asserts), got {}", m.rope_fraction));
  const int split = static_cast<int>(m.d_state * m.rope_fraction);
  m.rope_angles = (split - split % 2) / 2;
  if (m.rope_angles < 1)
    s.fail("d_state", fmt::format("{} x rope_fraction {} leaves no rotary angle", m.d_state, m.rope_fraction));
  m.mimo = s.boolean("is_mimo", false);
  m.mimo_rank = m.mimo ? s.integer("mimo_rank", 4) : 1;
  if (m.mimo && m.d_state % 2 != 0)
    s.fail("d_state",
           fmt::format("{}: the MIMO rotation pairs dims (i, i + d_state/2), so it must be even", m.d_state));
  m.outproj_norm = s.boolean("is_outproj_norm", false);
  m.A_floor = s.number("A_floor", 1e-4f);
  if (m.A_floor < 0) s.fail("A_floor", fmt::format("expected a number of at least 0, got {}", m.A_floor));
  for (const char* init_only : {"dt_min", "dt_max", "dt_init_floor", "dropout"}) s.number(init_only, 0.0f);
  m.d_conv = 0;
  m.conv_bias = false;
  m.norm_eps = 1e-5f;  // B_norm, C_norm and the out-projection norm (fixed in the layer)
  m.norm_group_size = m.head_dim;
  m.norm_before_gate = true;
  m.gated_norm = m.outproj_norm;
  mc.layers.assign(mc.num_layers, LayerKind::mamba);
  // GatedMLP rounds its hidden width up to a multiple of 128.
  const int d_intermediate = c.integer("d_intermediate", 0);
  f.intermediate_size = (d_intermediate + 127) / 128 * 128;
  f.activation = Activation::silu;
  mc.feed_forward.assign(mc.num_layers, d_intermediate > 0 ? FeedForwardKind::mlp : FeedForwardKind::none);
  finish_hybrid(c, mc);
}

// One model family: how its config keys become a ModelConfig and where its checkpoint keeps
// each tensor. The table is in the order of ModelFamily.
struct FamilyAdapter {
  ModelFamily family;
  const char* model_type;
  bool baseline;  // a transformer baseline: compiled only, with the baselines' reader messages
  bool compiled;  // the compiler maps it (compiler_model_types)
  void (*read)(const ConfigReader&, ModelConfig&);
  const char* embedding;
  const char* final_norm;
  const char* lm_head;
  FeedForwardLayout feed_forward_layout;
  LayerTensorNames (*layer_names)(const ModelConfig&, int layer);
  void (*layer_tensors)(const ModelConfig&, int layer, Tensors&);
};

constexpr const char* kBackboneEmbedding = "backbone.embeddings.weight";
constexpr const char* kBackboneNorm = "backbone.norm_f.weight";
constexpr const char* kModelEmbedding = "model.embed_tokens.weight";
constexpr const char* kModelFinalNorm = "model.final_layernorm.weight";
constexpr const char* kLmHead = "lm_head.weight";
constexpr auto kSplit = FeedForwardLayout::split;

const FamilyAdapter kAdapters[] = {
    {ModelFamily::mamba, "mamba", false, true, read_mamba, kBackboneEmbedding, kBackboneNorm, kLmHead, kSplit,
     backbone_names, backbone_tensors},
    {ModelFamily::mamba2, "mamba2", false, true, read_mamba2_family, kBackboneEmbedding, kBackboneNorm, kLmHead, kSplit,
     backbone_names, backbone_tensors},
    {ModelFamily::jamba, "jamba", false, true, read_jamba, kModelEmbedding, kModelFinalNorm, kLmHead, kSplit,
     hybrid_names, hybrid_tensors},
    {ModelFamily::bamba, "bamba", false, true, read_bamba, kModelEmbedding, kModelFinalNorm, kLmHead, kSplit,
     hybrid_names, hybrid_tensors},
    {ModelFamily::granitemoehybrid, "granitemoehybrid", false, true, read_granite, kModelEmbedding, "model.norm.weight",
     kLmHead, FeedForwardLayout::stacked, granite_names, granite_tensors},
    {ModelFamily::falcon_h1, "falcon_h1", false, true, read_falcon_h1, kModelEmbedding, kModelFinalNorm, kLmHead,
     kSplit, hybrid_names, hybrid_tensors},
    {ModelFamily::nemotron_h, "nemotron_h", false, true, read_nemotron_h, kBackboneEmbedding, kBackboneNorm, kLmHead,
     kSplit, backbone_names, backbone_tensors},
    {ModelFamily::zamba2, "zamba2", false, true, read_zamba2, kModelEmbedding, kModelFinalNorm, kLmHead, kSplit,
     zamba2_names, zamba2_tensors},
    {ModelFamily::llama, "llama", true, true, read_llama, kModelEmbedding, "model.norm.weight", kLmHead, kSplit,
     llama_names, llama_tensors},
    {ModelFamily::gpt_neox, "gpt_neox", true, true, read_gpt_neox, "gpt_neox.embed_in.weight",
     "gpt_neox.final_layer_norm.weight", "embed_out.weight", kSplit, gpt_neox_names, gpt_neox_tensors},
    {ModelFamily::mamba3, "mamba3", false, false, read_mamba3, "backbone.embedding.weight", kBackboneNorm, kLmHead,
     FeedForwardLayout::fc, mamba_ssm_names, mamba_ssm_tensors},
};

const FamilyAdapter& adapter_of(ModelFamily family) { return kAdapters[static_cast<std::size_t>(family)]; }

// The checks across keys every family shares, after its adapter has read it.
void check_model(const ConfigReader& c, const ModelConfig& mc) {
  const FeedForwardShape& f = mc.ffn;
  const AttentionShape& a = mc.attention;
  if (mc.has_attention() && std::int64_t{a.heads} * a.head_dim > kMaxWidth)
    c.fail("num_attention_heads",
           fmt::format("{} heads of {} exceed the attention width cap {}", a.heads, a.head_dim, kMaxWidth));
  // Each expert is a few tensors per layer: bound the checkpoint's tensor count.
  if (std::int64_t{mc.num_layers} * std::max(1, f.experts) > kMaxLayers * 256)
    c.fail("num_hidden_layers", fmt::format("{} layers of {} experts exceed the cap of {} expert blocks", mc.num_layers,
                                            f.experts, kMaxLayers * 256));
  if (f.experts > 0 && f.top_k > f.experts)
    c.fail("num_experts_per_tok", fmt::format("{} experts per token of {} experts", f.top_k, f.experts));
  // Informational elsewhere, but a negative or zero context is nonsense in any config.
  if (c.has("max_position_embeddings")) c.integer("max_position_embeddings");
}

}  // namespace

std::string_view model_type_name(ModelFamily family) { return adapter_of(family).model_type; }

const std::vector<std::string>& supported_model_types() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const FamilyAdapter& a : kAdapters)
      if (!a.baseline) out.push_back(a.model_type);
    return out;
  }();
  return names;
}

const std::vector<std::string>& compiler_model_types() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const FamilyAdapter& a : kAdapters)
      if (a.compiled) out.push_back(a.model_type);
    return out;
  }();
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

bool ModelConfig::has_attention() const {
  return std::any_of(layers.begin(), layers.end(), [](LayerKind k) {
    return k == LayerKind::attention || k == LayerKind::parallel_hybrid || k == LayerKind::shared_attention;
  });
}

std::string ModelConfig::embedding_name() const { return adapter_of(family).embedding; }
std::string ModelConfig::final_norm_name() const { return adapter_of(family).final_norm; }
std::string ModelConfig::lm_head_name() const {
  return tie_word_embeddings ? embedding_name() : adapter_of(family).lm_head;
}
LayerTensorNames ModelConfig::layer_tensor_names(int layer) const {
  return adapter_of(family).layer_names(*this, layer);
}
FeedForwardLayout ModelConfig::feed_forward_layout() const { return adapter_of(family).feed_forward_layout; }

int ModelConfig::adapter_index(int layer) const {
  const auto& ids = zamba.hybrid_layer_ids;
  return static_cast<int>(std::find(ids.begin(), ids.end(), layer) - ids.begin());
}

std::string ModelConfig::shared_block_prefix(int layer) const {
  // Hybrid layer j uses shared block j % num_mem_blocks, whose weights are stored under the
  // first hybrid layer that uses it.
  const int block = adapter_index(layer) % zamba.num_mem_blocks;
  const int holder = zamba.hybrid_layer_ids.at(static_cast<std::size_t>(block));
  return fmt::format("model.layers.{}.shared_transformer.", holder);
}

json read_json_file(const std::filesystem::path& file) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec))
    throw ConfigError(fmt::format("{}: expected a JSON file, got a folder", file.string()));
  const auto bytes = std::filesystem::file_size(file, ec);
  if (!ec && bytes > kMaxConfigFileBytes)
    throw ConfigError(fmt::format("{}: the file has {} bytes; a configuration file may have at most {} (4 MiB)",
                                  file.string(), bytes, kMaxConfigFileBytes));
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(fmt::format("{}: cannot open the file", file.string()));
  std::stringstream text;
  text << in.rdbuf();
  const std::string content = text.str();
  try {
    return json::parse(content);
  } catch (const json::parse_error& e) {
    throw ConfigError(fmt::format("{}: invalid JSON: {}", file.string(), e.what()));
  } catch (const json::exception& e) {
    // A number too large for a double: "[json.exception.out_of_range.406] number overflow
    // parsing '1e705'", which gives no place: the first occurrence of the number does.
    const std::string what = e.what();
    const auto open = what.find('\''), close = what.rfind('\'');
    const std::string number = open < close ? what.substr(open + 1, close - open - 1) : "";
    const auto at = number.empty() ? std::string::npos : content.find(number);
    if (at == std::string::npos)
      throw ConfigError(fmt::format("{}: invalid JSON: {}", file.string(), what.substr(what.find("] ") + 2)));
    const auto line = std::count(content.begin(), content.begin() + std::ptrdiff_t(at), '\n') + 1;
    const auto line_start = content.rfind('\n', at);  // content[at] is the number's first digit
    const auto column = at - (line_start == std::string::npos ? 0 : line_start + 1) + 1;
    throw ConfigError(fmt::format("{}:{}:{}: invalid JSON: the number {} does not fit a double", file.string(), line,
                                  column, number));
  }
}

ModelConfig parse_model_config(const json& config, const std::filesystem::path& file,
                               const std::vector<std::string>& accepted, const ModelConfigOptions& options) {
  if (!config.is_object()) throw ConfigError(fmt::format("{}: expected a JSON object", file.string()));
  ModelConfig mc;
  const ConfigReader top(config, file, options, false);
  // A mamba_ssm MambaConfig has no model_type: its ssm_cfg.layer names the mixer.
  const bool mamba_ssm = !top.has("model_type") && top.has("ssm_cfg");
  if (mamba_ssm) {
    const ConfigReader ssm = top.nested("ssm_cfg");
    const std::string layer = ssm.string("layer", "Mamba1");
    if (layer != "Mamba3")
      ssm.fail("layer",
               fmt::format("\"{}\": of mamba_ssm configs (no model_type) only Mamba3 layers are supported; "
                           "Mamba and Mamba-2 through their HuggingFace config.json (model_type mamba, mamba2)",
                           layer));
    mc.model_type = "mamba3";
  } else {
    mc.model_type = top.string("model_type");
  }
  if (std::find(accepted.begin(), accepted.end(), mc.model_type) == accepted.end()) {
    if (mc.model_type == "mamba3")
      top.fail(mamba_ssm ? "ssm_cfg" : "model_type",
               "Mamba-3 is not supported here: the compiler does not map Mamba-3 layers yet (ssmsoc golden runs them)");
    std::string list;
    for (const auto& name : accepted) list += (list.empty() ? "" : ", ") + name;
    top.fail("model_type", fmt::format("\"{}\" is not supported (supported: {})", mc.model_type, list));
  }
  const auto adapter_it = std::find_if(std::begin(kAdapters), std::end(kAdapters),
                                       [&](const FamilyAdapter& a) { return mc.model_type == a.model_type; });
  if (adapter_it == std::end(kAdapters))
    top.fail("model_type", fmt::format("\"{}\" is not a known model_type", mc.model_type));
  const FamilyAdapter& adapter = *adapter_it;
  mc.family = adapter.family;
  const ConfigReader c(config, file, options, adapter.baseline);
  if (!adapter.baseline && adapter.family != ModelFamily::mamba3) read_common(c, mc);  // mamba_ssm: d_model, ...
  adapter.read(c, mc);
  check_model(c, mc);
  return mc;
}

std::vector<TensorShape> expected_tensors(const ModelConfig& mc) {
  const FamilyAdapter& adapter = adapter_of(mc.family);
  Tensors s;
  const std::int64_t h = mc.hidden_size;
  s.push_back({mc.embedding_name(), {mc.vocab_size, h}});
  if (!mc.tie_word_embeddings) s.push_back({adapter.lm_head, {mc.vocab_size, h}});
  for (int l = 0; l < mc.num_layers; ++l) adapter.layer_tensors(mc, l, s);
  s.push_back({mc.final_norm_name(), {h}});
  if (mc.layer_norm) s.push_back({bias_of(mc.final_norm_name()), {h}});
  return s;
}

std::int64_t parameter_count(const ModelConfig& config) {
  std::int64_t total = 0;
  for (const auto& [name, shape] : expected_tensors(config)) {
    std::int64_t elements = 1;
    for (std::int64_t d : shape) elements *= d;
    total += elements;
  }
  return total;
}

}  // namespace ssmsoc
