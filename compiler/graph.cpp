#include "compiler/graph.hpp"

#include <fmt/format.h>

#include "arch/spec/config_tree.hpp"

namespace ssmsoc::compiler {

std::string_view node_kind_name(NodeKind kind) {
  static const char* const names[] = {"embedding", "norm", "mamba1", "mamba2", "attention",
                                      "mlp",       "moe",  "linear", "add",    "lm_head"};
  return names[static_cast<int>(kind)];
}

std::string_view model_class_name(ModelClass c) {
  switch (c) {
    case ModelClass::pure_ssm:
      return "pure SSM";
    case ModelClass::hybrid:
      return "hybrid";
    case ModelClass::transformer:
      return "transformer";
  }
  return "?";
}

Graph build_graph(const ModelSpec& model) {
  Graph g;
  g.model = model;
  const int h = model.hidden_size;
  auto add = [&](NodeKind kind, std::string name, int layer, int width = 0, bool shared = false) {
    g.nodes.push_back(Node{kind, std::move(name), layer, width, shared});
  };
  if (model.mamba.version == 3)
    throw ConfigError(
        fmt::format("{}: the compiler does not map Mamba-3 layers yet (ssmsoc golden runs them)", model.name));
  const NodeKind ssm = model.mamba.version == 1 ? NodeKind::mamba1 : NodeKind::mamba2;
  add(NodeKind::embedding, "embedding", -1, h);
  for (int l = 0; l < model.num_layers; ++l) {
    const std::string p = fmt::format("layers.{}.", l);
    switch (model.layers[l]) {
      case LayerKind::mamba:
        add(NodeKind::norm, p + "norm", l, h);
        add(ssm, p + "mamba", l, h);
        add(NodeKind::add, p + "residual", l, h);
        break;
      case LayerKind::attention:
        add(NodeKind::norm, p + "norm", l, h);
        add(NodeKind::attention, p + "attention", l, model.attention.input_size);
        if (model.parallel_residual) {  // gpt_neox: the MLP reads the same input
          add(NodeKind::norm, p + "mlp_norm", l, h);
          add(NodeKind::mlp, p + "mlp", l, h);
          add(NodeKind::add, p + "residual", l, h);
          add(NodeKind::add, p + "residual_mlp", l, h);
          continue;
        }
        add(NodeKind::add, p + "residual", l, h);
        break;
      case LayerKind::parallel_hybrid:
        add(NodeKind::norm, p + "norm", l, h);
        add(NodeKind::attention, p + "attention", l, model.attention.input_size);
        add(NodeKind::mamba2, p + "mamba", l, h);
        add(NodeKind::add, p + "residual", l, h);
        break;
      case LayerKind::shared_attention:
        // Zamba2: the shared block reads [hidden, embeddings] (2H), then a linear maps its
        // output into this layer's Mamba input.
        add(NodeKind::norm, p + "shared.norm", l, model.attention.input_size, true);
        add(NodeKind::attention, p + "shared.attention", l, model.attention.input_size, true);
        add(NodeKind::norm, p + "shared.ff_norm", l, h, true);
        add(NodeKind::mlp, p + "shared.mlp", l, h, true);
        add(NodeKind::linear, p + "linear", l, h);
        add(NodeKind::norm, p + "norm", l, h);
        add(ssm, p + "mamba", l, h);
        add(NodeKind::add, p + "residual", l, h);
        break;
      case LayerKind::mlp:
        add(NodeKind::norm, p + "norm", l, h);
        add(NodeKind::mlp, p + "mlp", l, h);
        add(NodeKind::add, p + "residual", l, h);
        break;
      case LayerKind::moe:
        add(NodeKind::norm, p + "norm", l, h);
        add(NodeKind::moe, p + "moe", l, h);
        add(NodeKind::add, p + "residual", l, h);
        break;
    }
    if (model.feed_forward[l] != FeedForwardKind::none) {
      add(NodeKind::norm, p + "ff_norm", l, h);
      add(model.feed_forward[l] == FeedForwardKind::moe ? NodeKind::moe : NodeKind::mlp, p + "ff", l, h);
      add(NodeKind::add, p + "ff_residual", l, h);
    }
  }
  add(NodeKind::norm, "final_norm", -1, h);
  add(NodeKind::lm_head, "lm_head", -1, h);
  return g;
}

Classification recognize_architecture(const Graph& graph) {
  Classification c;
  std::vector<int> ssm_layer(graph.model.num_layers, 0), attn_layer(graph.model.num_layers, 0);
  bool mamba1 = false, mamba2 = false;
  for (const Node& n : graph.nodes) {
    if (n.layer < 0) continue;
    switch (n.kind) {
      case NodeKind::mamba1:
        mamba1 = true;
        ssm_layer[n.layer] = 1;
        break;
      case NodeKind::mamba2:
        mamba2 = true;
        ssm_layer[n.layer] = 1;
        break;
      case NodeKind::attention:
        attn_layer[n.layer] = 1;
        if (n.shared) c.shared_attention = true;
        break;
      case NodeKind::moe:
        ++c.moe_layers;
        break;
      case NodeKind::mlp:
        if (!n.shared) ++c.mlp_layers;
        break;
      default:
        break;
    }
  }
  for (int l = 0; l < graph.model.num_layers; ++l) {
    c.ssm_layers += ssm_layer[l];
    c.attention_layers += attn_layer[l];
    if (ssm_layer[l] && attn_layer[l] && !c.shared_attention) c.parallel_hybrid = true;
  }
  c.moe = c.moe_layers > 0;
  c.ssm_generation = mamba2 ? 2 : mamba1 ? 1 : 0;
  c.model_class = c.ssm_layers == 0         ? ModelClass::transformer
                  : c.attention_layers == 0 ? ModelClass::pure_ssm
                                            : ModelClass::hybrid;
  std::string s = fmt::format("{}", model_class_name(c.model_class));
  if (c.ssm_layers) s += fmt::format(", {} Mamba-{} layers", c.ssm_layers, c.ssm_generation);
  if (c.attention_layers)
    s += fmt::format(", {} attention layers{}", c.attention_layers,
                     c.shared_attention  ? " (one shared block)"
                     : c.parallel_hybrid ? " (parallel with the SSM)"
                                         : "");
  if (graph.model.attention.kv_heads && c.attention_layers &&
      graph.model.attention.kv_heads < graph.model.attention.heads)
    s += fmt::format(", GQA {}:{}", graph.model.attention.heads, graph.model.attention.kv_heads);
  if (c.mlp_layers) s += fmt::format(", {} MLP", c.mlp_layers);
  if (c.moe)
    s += fmt::format(", MoE in {} layers ({} experts, top-{})", c.moe_layers, graph.model.ffn.experts,
                     graph.model.ffn.top_k);
  c.summary = s;
  return c;
}

std::string dump_graph(const Graph& graph) {
  const ModelSpec& m = graph.model;
  std::string out = fmt::format("# graph {} ({}): {} layers, hidden {}, vocab {}, {:.3f} B parameters\n", m.name,
                                m.model_type, m.num_layers, m.hidden_size, m.vocab_size, parameter_count(m) / 1e9);
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& n = graph.nodes[i];
    std::string shape;
    switch (n.kind) {
      case NodeKind::mamba1:
        shape = fmt::format("d_inner={} N={} conv={} dt_rank={}", m.mamba.d_inner, m.mamba.d_state, m.mamba.d_conv,
                            m.mamba.dt_rank);
        break;
      case NodeKind::mamba2:
        shape = fmt::format("d_inner={} heads={}x{} N={} groups={} conv={} chunk={}", m.mamba.d_inner, m.mamba.heads,
                            m.mamba.head_dim, m.mamba.d_state, m.mamba.groups, m.mamba.d_conv, m.mamba.chunk_size);
        break;
      case NodeKind::attention:
        shape = fmt::format("in={} heads={} kv_heads={} head_dim={} rotary={}", n.width, m.attention.heads,
                            m.attention.kv_heads, m.attention.head_dim, m.attention.rotary_dim);
        break;
      case NodeKind::mlp:
        shape = fmt::format("inner={} {}", m.ffn.intermediate_size, m.gated_mlp ? "gated" : "up/down");
        break;
      case NodeKind::moe:
        shape = fmt::format("experts={} top_k={} inner={} shared={}", m.ffn.experts, m.ffn.top_k,
                            m.ffn.expert_intermediate_size, m.ffn.shared_intermediate_size);
        break;
      case NodeKind::lm_head:
        shape = fmt::format("vocab={}{}", m.vocab_size, m.tie_word_embeddings ? " (tied)" : "");
        break;
      default:
        shape = fmt::format("width={}", n.width);
    }
    out +=
        fmt::format("{:4} {:<10} {:<28} {}{}\n", i, node_kind_name(n.kind), n.name, shape, n.shared ? " shared" : "");
  }
  return out;
}

}  // namespace ssmsoc::compiler
