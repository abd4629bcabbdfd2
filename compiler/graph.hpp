// The graph IR: a model as a straight list of coarse operators (embedding, norms, Mamba-1
// and Mamba-2 mixers, attention with GQA, MLP, MoE, residual adds, LM head), each with the
// shapes it needs; and the architecture recognition pass that classifies a graph.
#pragma once

#include <string>
#include <vector>

#include "compiler/model.hpp"

namespace ssmsoc::compiler {

enum class NodeKind { embedding, norm, mamba1, mamba2, attention, mlp, moe, linear, add, lm_head };
std::string_view node_kind_name(NodeKind kind);

struct Node {
  NodeKind kind = NodeKind::norm;
  std::string name;     // "layers.3.mixer", "final_norm", ...
  int layer = -1;       // -1 outside the decoder layers
  int width = 0;        // norm / add / linear: features; attention: input features (Zamba2: 2H)
  bool shared = false;  // Zamba2: the shared transformer block (its weights are stored once)
};

struct Graph {
  ModelSpec model;
  std::vector<Node> nodes;
};

// build_graph: ModelSpec -> Graph. Worked example, Mamba-130M (24 Mamba-1 layers, H = 768):
//   embedding, then per layer: norm(768) -> mamba1 -> add(768), then norm(768) (final) and
//   lm_head: 2 + 24*3 + 1 = 75 nodes. A Jamba layer with attention and MoE is
//   norm -> attention -> add -> norm -> moe -> add; a Falcon-H1 layer norm -> attention +
//   mamba2 (parallel, both reading the norm) -> add -> norm -> mlp -> add.
Graph build_graph(const ModelSpec& model);

// What recognize_architecture finds: the model class from the operators present, never
// from model_type.
enum class ModelClass { pure_ssm, hybrid, transformer };
std::string_view model_class_name(ModelClass c);

struct Classification {
  ModelClass model_class = ModelClass::pure_ssm;
  int ssm_generation = 0;  // 1: Mamba-1 (selective scan), 2: Mamba-2 (SSD), 0: no SSM layers
  bool moe = false;
  bool parallel_hybrid = false;   // attention and SSM side by side in one layer (Falcon-H1)
  bool shared_attention = false;  // one attention block reused by several layers (Zamba2)
  int ssm_layers = 0, attention_layers = 0, mlp_layers = 0, moe_layers = 0;
  std::string summary;  // one line: "hybrid: 8 Mamba-2 layers, 32 attention, ..."
};

// recognize_architecture: counts the mixers. Worked example: Jamba-1.5-Mini (32 layers,
// attention every 8th, MoE every 2nd) -> hybrid, SSM generation 1, MoE, 28 SSM layers,
// 4 attention layers, 16 MoE layers; Mamba-2.8B -> pure SSM, generation 1; Llama -> transformer.
Classification recognize_architecture(const Graph& graph);

std::string dump_graph(const Graph& graph);

}  // namespace ssmsoc::compiler
