#include "compiler/weights.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "arch/spec/config_tree.hpp"

namespace ssmsoc::compiler {

namespace {

[[noreturn]] void no_tensor(const std::string& name) {
  throw ConfigError(fmt::format("--functional: no checkpoint tensor for the compiled weight '{}'", name));
}

std::vector<float> scaled(std::vector<float> v, float factor) {
  if (factor != 1.0f)
    for (float& x : v) x *= factor;
  return v;
}

// The values of several tensors one after the other.
std::vector<float> concatenated(const CheckpointTensors& t, const std::vector<std::string>& names) {
  std::vector<float> out;
  for (const std::string& name : names) {
    const std::vector<float>& v = t.values(name);
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

// Zamba2's shared blocks: "shared{b}.{part}" is block b, stored under the first hybrid layer
// that runs it.
std::vector<float> shared_block_weight(const ModelConfig& m, const CheckpointTensors& t, const std::string& name) {
  int block = -1;
  char rest[64] = {};
  if (std::sscanf(name.c_str(), "shared%d.%63s", &block, rest) != 2 || block < 0 ||
      block >= std::min<int>(m.zamba.num_mem_blocks, int(m.zamba.hybrid_layer_ids.size())))
    no_tensor(name);
  const LayerTensorNames n = m.layer_tensor_names(m.zamba.hybrid_layer_ids[std::size_t(block)]);
  const std::string what = rest;
  if (what == "norm.weight") return t.values(n.shared_norm);
  if (what == "ff_norm.weight") return t.values(n.ff_norm);
  if (what == "attention.qkv_proj")
    return concatenated(t,
                        {n.attention + "q_proj.weight", n.attention + "k_proj.weight", n.attention + "v_proj.weight"});
  if (what == "attention.o_proj") return t.values(n.attention + "o_proj.weight");
  if (what == "mlp.up_proj") return t.values(n.feed_forward + "gate_up_proj.weight");  // [gate; up]
  if (what == "mlp.down_proj") return t.values(n.feed_forward + "down_proj.weight");
  no_tensor(name);
}

// A Zamba2 hybrid layer's adapters of the shared block it runs (stored with that block).
std::vector<float> adapter_weight(const ModelConfig& m, const CheckpointTensors& t, const LayerTensorNames& n,
                                  int layer, const std::string& what, const std::string& name) {
  const int adapter = m.adapter_index(layer);
  const std::string mlp = fmt::format("{}gate_up_proj_adapter_list.{}.", n.feed_forward, adapter);
  if (what == "shared.mlp.adapter_down") return t.values(mlp + "0.weight");
  if (what == "shared.mlp.adapter_up") return t.values(mlp + "1.weight");
  // q, k, v adapters as one: down stacked [3r, in], up block-diagonal [q + 2kv, 3r].
  auto qkv_adapter = [&](const char* which, const char* part) {
    return fmt::format("{}linear_{}_adapter_list.{}.{}.weight", n.attention, which, adapter, part);
  };
  if (what == "shared.attention.adapter_down")
    return concatenated(t, {qkv_adapter("q", "0"), qkv_adapter("k", "0"), qkv_adapter("v", "0")});
  if (what == "shared.attention.adapter_up") {
    const std::size_t rank = std::size_t(m.zamba.adapter_rank);
    std::vector<const std::vector<float>*> ups;
    for (const char* which : {"q", "k", "v"}) ups.push_back(&t.values(qkv_adapter(which, "1")));
    std::size_t rows = 0;
    for (const auto* u : ups) rows += u->size() / rank;
    std::vector<float> out(rows * 3 * rank, 0.0f);
    std::size_t row0 = 0;
    for (std::size_t b = 0; b < ups.size(); ++b) {
      const std::size_t count = ups[b]->size() / rank;
      for (std::size_t r = 0; r < count; ++r)
        std::copy_n(&(*ups[b])[r * rank], rank, &out[(row0 + r) * 3 * rank + b * rank]);
      row0 += count;
    }
    return out;
  }
  no_tensor(name);
}

// A feed-forward's weights ("ff.*"): Granite's stacked experts and shared MLP, or the split
// gate/up/down MLP and Jamba's experts.
std::vector<float> feed_forward_weight(const ModelConfig& m, const CheckpointTensors& t, const std::string& f,
                                       const std::string& what, const std::string& name) {
  // Granite: each residual branch is linear in its last projection, so residual_multiplier
  // scales those weights (o_proj, out_proj, the experts' and the shared MLP's down projections).
  const float rm = m.residual_multiplier;
  if (m.feed_forward_layout() == FeedForwardLayout::stacked) {
    const std::string moe = f + "block_sparse_moe.", shared = f + "shared_mlp.";
    if (what == "ff.router") return t.values(moe + "router.layer.weight");
    // Experts [E, 2I, H] (act(first half) * second half) and [E, H, I], as the compiler stacks them.
    if (what == "ff.experts_up") return t.values(moe + "input_linear.weight");
    if (what == "ff.experts_down") return scaled(t.values(moe + "output_linear.weight"), rm);
    if (what == "ff.shared_up_proj") return t.values(shared + "input_linear.weight");
    if (what == "ff.shared_down_proj") return scaled(t.values(shared + "output_linear.weight"), rm);
    no_tensor(name);
  }
  // Gated MLP: act(first half) * second half.
  if (what == "ff.up_proj") {
    std::vector<float> out = scaled(t.values(f + "gate_proj.weight"), m.ffn.gate_multiplier);
    const std::vector<float>& up = t.values(f + "up_proj.weight");
    out.insert(out.end(), up.begin(), up.end());
    return out;
  }
  if (what == "ff.down_proj") return scaled(t.values(f + "down_proj.weight"), m.ffn.down_multiplier);
  // Jamba MoE: the router; experts stacked, each [gate; up] and down as the dense MLP.
  if (what == "ff.router") return t.values(f + "router.weight");
  if (what == "ff.experts_up" || what == "ff.experts_down") {
    std::vector<std::string> names;
    for (int e = 0; e < m.ffn.experts; ++e) {
      const std::string x = fmt::format("{}experts.{}.", f, e);
      if (what == "ff.experts_up") {
        names.push_back(x + "gate_proj.weight");
        names.push_back(x + "up_proj.weight");
      } else {
        names.push_back(x + "down_proj.weight");
      }
    }
    return concatenated(t, names);
  }
  no_tensor(name);
}

// Nemotron-H's MLP and MoE layers ("mlp.*", "moe.*"): the layer's mixer.
std::vector<float> mixer_ffn_weight(const ModelConfig& m, const CheckpointTensors& t, const std::string& x,
                                    const std::string& what, const std::string& name) {
  if (what == "moe.router") return t.values(x + "gate.weight");
  if (what == "moe.router_bias") return t.values(x + "gate.e_score_correction_bias");
  if (what == "moe.experts_up" || what == "moe.experts_down") {
    std::vector<std::string> names;
    for (int e = 0; e < m.ffn.experts; ++e)
      names.push_back(fmt::format("{}experts.{}.{}.weight", x, e, what == "moe.experts_up" ? "up_proj" : "down_proj"));
    return concatenated(t, names);
  }
  if (what == "moe.shared_up_proj") return t.values(x + "shared_experts.up_proj.weight");
  if (what == "moe.shared_down_proj") return t.values(x + "shared_experts.down_proj.weight");
  if (what == "mlp.up_proj") return t.values(x + "up_proj.weight");
  if (what == "mlp.down_proj") return t.values(x + "down_proj.weight");
  no_tensor(name);
}

std::vector<float> mamba_weight(const ModelConfig& m, const CheckpointTensors& t, const std::string& p,
                                const std::string& what, const std::string& name, std::uint64_t elements) {
  const MambaShape& s = m.mamba;
  if (what == "mamba.in_proj") {
    std::vector<float> w = scaled(t.values(p + "in_proj.weight"), s.in_multiplier);
    const std::vector<float>& rows = s.in_proj_multipliers;
    if (!rows.empty()) {
      const std::size_t cols = w.size() / rows.size();
      for (std::size_t r = 0; r < rows.size(); ++r)
        for (std::size_t c = 0; c < cols; ++c) w[r * cols + c] *= rows[r];
    }
    return w;
  }
  if (what == "mamba.conv1d") return t.values(p + "conv1d.weight");
  if (what == "mamba.conv1d_bias")
    return t.has(p + "conv1d.bias") ? t.values(p + "conv1d.bias") : std::vector<float>(elements, 0.0f);
  if (what == "mamba.x_proj") return t.values(p + "x_proj.weight");
  if (what == "mamba.dt_proj") return t.values(p + "dt_proj.weight");
  // Jamba: RMSNorms of dt, B and C after x_proj.
  if (what == "mamba.dt_norm") return t.values(p + "dt_layernorm.weight");
  if (what == "mamba.b_norm") return t.values(p + "b_layernorm.weight");
  if (what == "mamba.c_norm") return t.values(p + "c_layernorm.weight");
  if (what == "mamba.dt_bias") return t.values(s.version == 1 ? p + "dt_proj.bias" : p + "dt_bias");
  if (what == "mamba.D") return t.values(p + "D");
  if (what == "mamba.norm") return t.values(p + "norm.weight");
  if (what == "mamba.out_proj")
    return scaled(t.values(p + "out_proj.weight"), s.out_multiplier * m.residual_multiplier);
  // Biases (use_bias) scale as their projection's output rows.
  if (what == "mamba.in_proj_bias") {
    std::vector<float> b = t.values(p + "in_proj.bias");
    for (std::size_t r = 0; r < s.in_proj_multipliers.size() && r < b.size(); ++r) b[r] *= s.in_proj_multipliers[r];
    return b;
  }
  if (what == "mamba.out_proj_bias")
    return scaled(t.values(p + "out_proj.bias"), s.out_multiplier * m.residual_multiplier);
  if (what == "mamba.A") {
    std::vector<float> a = t.values(p + "A_log");
    for (float& v : a) v = -std::exp(v);
    return a;
  }
  no_tensor(name);
}

}  // namespace

std::vector<float> weight_values(const ModelConfig& m, const CheckpointTensors& t, const std::string& name,
                                 std::uint64_t elements) {
  // Functional Programs gather no embeddings: a compiled table is the (tied) LM head.
  if (name == "embedding.embedding") return scaled(t.values(m.embedding_name()), m.logits_multiplier);
  if (name == "lm_head.weight") return scaled(t.values(m.lm_head_name()), m.logits_multiplier);
  if (name == "final_norm.weight") return t.values(m.final_norm_name());
  if (name.starts_with("shared")) return shared_block_weight(m, t, name);
  int layer = -1;
  char rest[64] = {};
  if (std::sscanf(name.c_str(), "layers.%d.%63s", &layer, rest) != 2 || layer < 0 || layer >= m.num_layers)
    no_tensor(name);
  const LayerTensorNames n = m.layer_tensor_names(layer);
  const std::string what = rest;
  if (what == "norm.weight") return t.values(n.norm);
  if (what == "ff_norm.weight") return t.values(n.ff_norm);
  if (what == "linear.weight") return t.values(n.linear);
  if (what.starts_with("shared.")) return adapter_weight(m, t, n, layer, what, name);
  if (what == "attention.qkv_proj") {
    const AttentionShape& a = m.attention;
    std::vector<float> out = scaled(t.values(n.attention + "q_proj.weight"), a.in_multiplier);
    const std::vector<float> k = scaled(t.values(n.attention + "k_proj.weight"), a.in_multiplier * a.key_multiplier);
    const std::vector<float> v = scaled(t.values(n.attention + "v_proj.weight"), a.in_multiplier);
    out.insert(out.end(), k.begin(), k.end());
    out.insert(out.end(), v.begin(), v.end());
    return out;
  }
  if (what == "attention.o_proj")
    return scaled(t.values(n.attention + "o_proj.weight"), m.attention.out_multiplier * m.residual_multiplier);
  if (what.starts_with("ff.")) return feed_forward_weight(m, t, n.feed_forward, what, name);
  if (what.starts_with("mlp.") || what.starts_with("moe.")) return mixer_ffn_weight(m, t, n.feed_forward, what, name);
  if (what.starts_with("mamba.")) return mamba_weight(m, t, n.mamba, what, name, elements);
  no_tensor(name);
}

}  // namespace ssmsoc::compiler
