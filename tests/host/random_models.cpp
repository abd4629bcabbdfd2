#include "tests/host/random_models.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>

#include "arch/golden/seeded_random.hpp"

namespace ssmsoc::test {

namespace {

using nlohmann::json;

class Draw {
 public:
  Draw(std::uint64_t seed, ModelSize size) : random_(seed), large_(size == ModelSize::large) {}
  bool large() const { return large_; }
  // An integer in [lo, hi].
  int range(int lo, int hi) { return lo + int(random_.next() % std::uint64_t(hi - lo + 1)); }
  int pick(std::initializer_list<int> values) { return *(values.begin() + range(0, int(values.size()) - 1)); }
  bool coin(double p = 0.5) { return random_.uniform(0.0, 1.0) < p; }
  // A number of two decimals (so config.json spells it exactly) in [lo, hi].
  double real(double lo, double hi) { return std::round(random_.uniform(lo, hi) * 100.0) / 100.0; }
  SeededRandom& random() { return random_; }

 private:
  SeededRandom random_;
  bool large_;
};

// The divisors of n among `candidates`.
std::vector<int> divisors_of(int n, std::initializer_list<int> candidates) {
  std::vector<int> out;
  for (int c : candidates)
    if (c <= n && n % c == 0) out.push_back(c);
  return out;
}

int pick_from(Draw& d, const std::vector<int>& values) {
  return values[std::size_t(d.range(0, int(values.size()) - 1))];
}

// A Mamba-2 mixer of d_inner channels: heads of head_dim, groups (2 or more half the time),
// state size, conv width, SSD chunk size, biases.
struct Mamba2Draw {
  int heads = 0, head_dim = 0, groups = 1, state = 0, conv = 0, chunk = 0;
  bool conv_bias = true, proj_bias = false;
};

Mamba2Draw draw_mamba2(Draw& d, int d_inner) {
  Mamba2Draw m;
  m.head_dim = pick_from(d, divisors_of(d_inner, {4, 8, 16}));
  m.heads = d_inner / m.head_dim;
  const std::vector<int> groups = divisors_of(m.heads, {2, 4});
  m.groups = !groups.empty() && d.coin(0.7) ? pick_from(d, groups) : 1;
  m.state = d.pick({4, 8, 16, 32});
  m.conv = d.range(2, 4);
  m.chunk = d.range(3, 16);
  m.conv_bias = d.coin(0.7);
  m.proj_bias = d.coin(0.4);
  return m;
}

// Attention heads over `width` inputs: heads, KV heads dividing them, head_dim = width / heads.
struct AttentionDraw {
  int heads = 0, kv_heads = 0, head_dim = 0;
};

AttentionDraw draw_attention(Draw& d, int width) {
  AttentionDraw a;
  a.heads = pick_from(d, divisors_of(width, {2, 4}));
  a.kv_heads = pick_from(d, divisors_of(a.heads, {1, 2, 4}));
  a.head_dim = width / a.heads;
  return a;
}

json rope(Draw& d) { return json{{"rope_theta", d.pick({100, 10000})}, {"rope_type", "default"}}; }

// hidden_size: a multiple of 8 (so heads, groups and rotary halves divide it).
int draw_hidden(Draw& d) { return d.large() ? d.pick({16, 24, 32, 48, 64, 96}) : d.pick({16, 24, 32}); }
int draw_layers(Draw& d) { return d.large() ? d.range(1, 5) : d.range(1, 3); }

json common(Draw& d, const char* model_type, int hidden) {
  return json{{"model_type", model_type},
              {"hidden_size", hidden},
              {"vocab_size", d.large() ? d.range(40, 300) : d.range(40, 120)},
              {"tie_word_embeddings", d.coin()}};
}

json mamba_config(Draw& d) {
  const int hidden = draw_hidden(d);
  json c = common(d, "mamba", hidden);
  c["num_hidden_layers"] = draw_layers(d);
  c["intermediate_size"] = hidden * d.pick({1, 2});
  c["state_size"] = d.pick({4, 8, 16});
  c["conv_kernel"] = d.range(2, 4);
  c["time_step_rank"] = d.coin() ? json("auto") : json(d.range(1, 8));
  c["use_conv_bias"] = d.coin(0.7);
  c["use_bias"] = d.coin(0.5);
  c["layer_norm_epsilon"] = d.coin() ? 1e-5 : 1e-6;
  return c;
}

json mamba2_config(Draw& d) {
  const int hidden = draw_hidden(d), expand = d.pick({1, 2});
  json c = common(d, "mamba2", hidden);
  const Mamba2Draw m = draw_mamba2(d, expand * hidden);
  c["num_hidden_layers"] = draw_layers(d);
  c["expand"] = expand;
  c["num_heads"] = m.heads;
  c["head_dim"] = m.head_dim;
  c["n_groups"] = m.groups;
  c["state_size"] = m.state;
  c["conv_kernel"] = m.conv;
  c["chunk_size"] = m.chunk;
  c["use_conv_bias"] = m.conv_bias;
  c["use_bias"] = m.proj_bias;
  c["layer_norm_epsilon"] = d.coin() ? 1e-5 : 1e-6;
  return c;
}

// The hybrid configs' Mamba-2 keys (mamba_n_heads, ...).
void hybrid_mamba2(json& c, const Mamba2Draw& m, int expand) {
  c["mamba_expand"] = expand;
  c["mamba_n_heads"] = m.heads;
  c["mamba_d_head"] = m.head_dim;
  c["mamba_n_groups"] = m.groups;
  c["mamba_d_state"] = m.state;
  c["mamba_d_conv"] = m.conv;
  c["mamba_chunk_size"] = m.chunk;
  c["mamba_conv_bias"] = m.conv_bias;
  c["mamba_proj_bias"] = m.proj_bias;
}

json jamba_config(Draw& d) {
  const int hidden = draw_hidden(d);
  json c = common(d, "jamba", hidden);
  const int layers = d.large() ? d.range(2, 6) : d.range(2, 4);
  const AttentionDraw a = draw_attention(d, hidden);
  c["num_hidden_layers"] = layers;
  c["rms_norm_eps"] = 1e-6;
  c["mamba_expand"] = d.pick({1, 2});
  c["mamba_d_state"] = d.pick({4, 8, 16});
  c["mamba_d_conv"] = d.range(2, 4);
  c["mamba_dt_rank"] = d.coin() ? json("auto") : json(d.range(1, 6));
  c["mamba_conv_bias"] = d.coin(0.7);
  c["mamba_proj_bias"] = d.coin(0.4);
  c["num_attention_heads"] = a.heads;
  c["num_key_value_heads"] = a.kv_heads;
  const int attn_period = d.range(2, 3), expert_period = d.range(1, 2);
  c["attn_layer_period"] = attn_period;
  c["attn_layer_offset"] = d.range(0, attn_period - 1);
  c["expert_layer_period"] = expert_period;
  c["expert_layer_offset"] = d.range(0, expert_period - 1);
  c["intermediate_size"] = d.pick({16, 24, 32, 48});
  const int experts = d.range(1, 4);
  c["num_experts"] = experts;
  c["num_experts_per_tok"] = d.range(1, experts);
  return c;
}

json bamba_config(Draw& d) {
  const int hidden = draw_hidden(d), expand = d.pick({1, 2});
  json c = common(d, "bamba", hidden);
  const int layers = draw_layers(d) + 1;
  c["num_hidden_layers"] = layers;
  c["rms_norm_eps"] = 1e-5;
  hybrid_mamba2(c, draw_mamba2(d, expand * hidden), expand);
  const AttentionDraw a = draw_attention(d, hidden);
  c["num_attention_heads"] = a.heads;
  c["num_key_value_heads"] = a.kv_heads;
  // A rotary fraction whose dimension is even.
  const double factor = a.head_dim % 4 == 0 && d.coin() ? 0.5 : 1.0;
  c["rope_parameters"] = rope(d);
  c["rope_parameters"]["partial_rotary_factor"] = factor;
  c["intermediate_size"] = d.pick({16, 32, 48});
  json indices = json::array();
  for (int l = 0; l < layers; ++l)
    if (d.coin(0.4)) indices.push_back(l);
  c["attn_layer_indices"] = indices;
  return c;
}

json granite_config(Draw& d) {
  const int hidden = draw_hidden(d), expand = d.pick({1, 2});
  json c = common(d, "granitemoehybrid", hidden);
  const int layers = draw_layers(d) + 1;
  c["num_hidden_layers"] = layers;
  c["rms_norm_eps"] = 1e-5;
  hybrid_mamba2(c, draw_mamba2(d, expand * hidden), expand);
  const AttentionDraw a = draw_attention(d, hidden);
  c["num_attention_heads"] = a.heads;
  c["num_key_value_heads"] = a.kv_heads;
  c["attention_multiplier"] = d.real(0.1, 0.5);
  c["position_embedding_type"] = d.coin() ? json("rope") : json(nullptr);
  c["rope_parameters"] = rope(d);
  c["embedding_multiplier"] = d.real(0.5, 2.0);
  c["residual_multiplier"] = d.real(0.3, 1.0);
  c["logits_scaling"] = d.real(0.5, 2.0);
  json types = json::array();
  for (int l = 0; l < layers; ++l) types.push_back(d.coin(0.35) ? "attention" : "mamba");
  c["layer_types"] = types;
  const int experts = d.range(2, 4);
  c["num_local_experts"] = experts;
  c["num_experts_per_tok"] = d.range(1, experts);
  c["intermediate_size"] = d.pick({8, 16, 24});
  c["shared_intermediate_size"] = d.pick({16, 32});
  return c;
}

json falcon_h1_config(Draw& d) {
  const int hidden = draw_hidden(d);
  json c = common(d, "falcon_h1", hidden);
  c["num_hidden_layers"] = draw_layers(d);
  c["rms_norm_eps"] = 1e-5;
  // d_ssm: expand x hidden, or its own width (mamba_d_ssm).
  const int expand = d.pick({1, 2});
  const int d_ssm = d.coin() ? expand * hidden : 8 * d.range(2, 12);
  hybrid_mamba2(c, draw_mamba2(d, d_ssm), expand);
  if (d_ssm != expand * hidden) c["mamba_d_ssm"] = d_ssm;
  c["projectors_bias"] = d.coin(0.4);
  c["mamba_rms_norm"] = d.coin();
  c["mamba_norm_before_gate"] = d.coin();
  c["ssm_in_multiplier"] = d.real(0.5, 1.5);
  c["ssm_out_multiplier"] = d.real(0.5, 1.5);
  c["ssm_multipliers"] = {d.real(0.5, 1.5), d.real(0.5, 1.5), d.real(0.5, 1.5), d.real(0.5, 1.5), d.real(0.5, 1.5)};
  const AttentionDraw a = draw_attention(d, hidden);
  c["num_attention_heads"] = a.heads;
  c["num_key_value_heads"] = a.kv_heads;
  c["rope_parameters"] = rope(d);
  c["attention_in_multiplier"] = d.real(0.5, 1.5);
  c["attention_out_multiplier"] = d.real(0.5, 1.5);
  c["key_multiplier"] = d.real(0.5, 1.5);
  c["intermediate_size"] = d.pick({16, 32, 48});
  c["mlp_multipliers"] = {d.real(0.5, 1.5), d.real(0.5, 1.5)};
  c["embedding_multiplier"] = d.real(0.5, 2.0);
  c["lm_head_multiplier"] = d.real(0.5, 1.5);
  return c;
}

json nemotron_h_config(Draw& d) {
  const int hidden = draw_hidden(d);
  json c = common(d, "nemotron_h", hidden);
  const Mamba2Draw m = draw_mamba2(d, hidden * d.pick({1, 2}));
  c["mamba_num_heads"] = m.heads;
  c["mamba_head_dim"] = m.head_dim;
  c["n_groups"] = m.groups;
  c["ssm_state_size"] = m.state;
  c["conv_kernel"] = m.conv;
  c["chunk_size"] = m.chunk;
  c["use_conv_bias"] = m.conv_bias;
  c["use_bias"] = m.proj_bias;
  c["layer_norm_epsilon"] = 1e-5;
  const AttentionDraw a = draw_attention(d, hidden);
  c["num_attention_heads"] = a.heads;
  c["num_key_value_heads"] = a.kv_heads;
  c["head_dim"] = a.head_dim;
  c["intermediate_size"] = d.pick({16, 32, 48});
  c["mlp_hidden_act"] = "relu2";
  // At least one Mamba layer, then any of the four kinds.
  json types = json::array({"mamba"});
  const int layers = draw_layers(d) + 1;
  for (int l = 1; l < layers; ++l)
    types.push_back(std::vector<const char*>{"mamba", "attention", "mlp", "moe"}[std::size_t(d.range(0, 3))]);
  std::shuffle(types.begin(), types.end(), std::mt19937_64(d.random().next()));
  c["layers_block_type"] = types;
  const int experts = d.range(2, 4);
  c["n_routed_experts"] = experts;
  c["num_experts_per_tok"] = d.range(1, experts);
  c["moe_intermediate_size"] = d.pick({8, 16});
  c["norm_topk_prob"] = d.coin();
  c["routed_scaling_factor"] = d.coin() ? 1.0 : d.real(0.5, 2.5);
  c["n_shared_experts"] = d.range(0, 1);
  c["moe_shared_expert_intermediate_size"] = d.pick({8, 16});
  return c;
}

json zamba2_config(Draw& d) {
  const int hidden = draw_hidden(d), expand = d.pick({1, 2});
  json c = common(d, "zamba2", hidden);
  const Mamba2Draw m = draw_mamba2(d, expand * hidden);
  const int layers = draw_layers(d) + 1;
  c["num_hidden_layers"] = layers;
  c["rms_norm_eps"] = 1e-5;
  c["mamba_expand"] = expand;
  c["n_mamba_heads"] = m.heads;
  c["mamba_headdim"] = m.head_dim;
  c["mamba_ngroups"] = m.groups;
  c["mamba_d_state"] = m.state;
  c["mamba_d_conv"] = m.conv;
  c["chunk_size"] = m.chunk;
  c["add_bias_linear"] = false;  // also the MLP's biases, which functional runs refuse
  c["attention_hidden_size"] = 2 * hidden;
  const AttentionDraw a = draw_attention(d, 2 * hidden);
  // q/k/v adapters add [tokens, attention_hidden_size] to q, k and v (transformers'
  // Zamba2Attention), so with them every head has its own keys and values.
  const bool adapters = d.coin();
  c["use_shared_attention_adapter"] = adapters;
  c["num_attention_heads"] = a.heads;
  c["num_key_value_heads"] = adapters ? a.heads : a.kv_heads;
  c["attention_head_dim"] = a.head_dim;
  c["use_mem_rope"] = d.coin();
  c["rope_parameters"] = rope(d);
  c["intermediate_size"] = d.pick({16, 32, 48});
  c["hidden_act"] = "gelu";
  c["adapter_rank"] = d.pick({2, 4, 8});
  // At least one hybrid layer; one or two shared blocks (no more than the hybrid layers).
  json types = json::array();
  int hybrids = 0;
  for (int l = 0; l < layers; ++l) {
    const bool hybrid = d.coin(0.5) || (l == layers - 1 && hybrids == 0);
    types.push_back(hybrid ? "hybrid" : "mamba");
    hybrids += hybrid;
  }
  c["layers_block_type"] = types;
  c["num_mem_blocks"] = d.range(1, std::min(2, hybrids));
  return c;
}

json family_config(Draw& d, ModelFamily family) {
  switch (family) {
    case ModelFamily::mamba:
      return mamba_config(d);
    case ModelFamily::mamba2:
      return mamba2_config(d);
    case ModelFamily::jamba:
      return jamba_config(d);
    case ModelFamily::bamba:
      return bamba_config(d);
    case ModelFamily::granitemoehybrid:
      return granite_config(d);
    case ModelFamily::falcon_h1:
      return falcon_h1_config(d);
    case ModelFamily::nemotron_h:
      return nemotron_h_config(d);
    case ModelFamily::zamba2:
      return zamba2_config(d);
    default:
      break;
  }
  throw std::invalid_argument(fmt::format("random_model: {} is not an SSM family", model_type_name(family)));
}

// Values of one tensor, by its role: norm weights about 1, A_log as Mamba initialises it
// (A = -exp(U(0, log 16))), dt biases so that softplus(bias) is log-uniform in [0.001, 0.1],
// D about 1, biases small, matrices U(-1, 1) / sqrt(fan_in) (logits of order 1).
std::vector<float> tensor_values(Draw& d, const std::string& name, const std::vector<std::int64_t>& shape) {
  std::size_t count = 1;
  for (std::int64_t s : shape) count *= std::size_t(s);
  SeededRandom& r = d.random();
  const bool one_dim = shape.size() == 1;
  if (name.find("norm") != std::string::npos && one_dim) return r.uniforms(count, 0.5, 1.5);
  if (name.ends_with("A_log")) return r.uniforms(count, 0.0, std::log(16.0));
  if (name.ends_with("dt_bias") || name.ends_with("dt_proj.bias")) {
    std::vector<float> v(count);
    for (float& x : v) x = float(std::log(std::expm1(std::exp(r.uniform(std::log(0.001), std::log(0.1))))));
    return v;
  }
  if (name.ends_with(".D")) return r.uniforms(count, 0.5, 1.5);
  if (name.find("conv1d") != std::string::npos) return r.uniforms(count, -0.5, 0.5);
  if (one_dim) return r.uniforms(count, -0.2, 0.2);
  if (name.find("embed") != std::string::npos) return r.uniforms(count, -1.0, 1.0);
  const double bound = 1.0 / std::sqrt(double(shape.back()));
  return r.uniforms(count, -bound, bound);
}

}  // namespace

std::vector<ModelFamily> random_model_families() {
  return {ModelFamily::mamba,
          ModelFamily::mamba2,
          ModelFamily::jamba,
          ModelFamily::bamba,
          ModelFamily::granitemoehybrid,
          ModelFamily::falcon_h1,
          ModelFamily::nemotron_h,
          ModelFamily::zamba2};
}

RandomModel random_model(ModelFamily family, std::uint64_t seed, ModelSize size) {
  // Each family draws from its own stream: adding a family or a key to one leaves the others' draws.
  Draw d(seed * 0x9E3779B97F4A7C15ull + std::uint64_t(family) + 1, size);
  RandomModel m;
  m.name = fmt::format("{}/{}", model_type_name(family), seed);
  m.config = family_config(d, family);
  m.checkpoint = parse_hf_config(m.config, fmt::format("random/{}/{}/config.json", model_type_name(family), seed));
  for (const auto& [name, shape] : expected_tensors(m.checkpoint))
    m.checkpoint.weights[name] = Weight{shape, tensor_values(d, name, shape)};
  const bool large = size == ModelSize::large;
  m.batch = d.range(1, large ? 3 : 2);
  m.prompt_length = d.range(2, large ? 40 : 20);
  m.new_tokens = d.range(2, large ? 5 : 3);
  // A prefill chunk shorter than the prompt half of the time: several chunks, states carried.
  m.prefill_chunk = d.coin() ? d.range(2, std::max(2, m.prompt_length - 1)) : 0;
  m.ids.resize(std::size_t(m.batch) * std::size_t(m.prompt_length));
  for (auto& id : m.ids) id = d.range(0, m.checkpoint.vocab_size - 1);
  return m;
}

std::string describe(const RandomModel& m) {
  const HfCheckpoint& ck = m.checkpoint;
  std::string layers;
  for (std::size_t l = 0; l < ck.layers.size(); ++l) {
    static const char* const symbol[] = {"M", "*", "P", "Z", "-", "E"};
    layers += symbol[static_cast<int>(ck.layers[l])];
    if (ck.feed_forward[l] == FeedForwardKind::moe) layers += "e";
  }
  const MambaShape& s = ck.mamba;
  std::string mixer =
      s.version == 1
          ? fmt::format("mamba1 I{} N{} conv{} rank{}", s.d_inner, s.d_state, s.d_conv, s.dt_rank)
          : fmt::format("heads {}x{} g{} N{} conv{} chunk{}{}", s.heads, s.head_dim, s.groups, s.d_state, s.d_conv,
                        s.chunk_size, s.gated_norm ? (s.norm_before_gate ? " norm-gate" : " gate-norm") : " no-norm");
  if (s.proj_bias || s.out_proj_bias) mixer += " proj-bias";
  if (!s.conv_bias) mixer += " no-conv-bias";
  return fmt::format("{}: hidden {}, vocab {}, {} layers [{}], {}; batch {} x {} tokens, chunk {}, {} new", m.name,
                     ck.hidden_size, ck.vocab_size, ck.num_layers, layers, mixer, m.batch, m.prompt_length,
                     m.prefill_chunk, m.new_tokens);
}

}  // namespace ssmsoc::test
