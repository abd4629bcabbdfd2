// HuggingFace checkpoints of state-space and hybrid language models: config.json and
// model.safetensors read into one typed description per model family, with every weight
// the golden executor (golden_model.hpp) uses checked by name and shape and held as float32.
//
// Supported model_type values: mamba, mamba2, jamba, bamba, granitemoehybrid, falcon_h1,
// nemotron_h, zamba2. Every problem is a ConfigError (config_tree.hpp) with a one-line
// message naming the file: an unsupported model_type (listing the supported ones), a
// missing or ill-typed config key, malformed JSON (with nlohmann's position), a missing
// tensor, a tensor of the wrong shape (expected and actual shapes).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "arch/golden/kernels.hpp"

namespace ssmsoc {

enum class ModelFamily { mamba, mamba2, jamba, bamba, granitemoehybrid, falcon_h1, nemotron_h, zamba2 };

// The config.json model_type of a family ("mamba", "falcon_h1", ...).
std::string_view model_type_name(ModelFamily family);
// All supported model_type values, in the order of ModelFamily.
const std::vector<std::string>& supported_model_types();

// What a decoder layer's token mixer is.
enum class LayerKind {
  mamba,             // a Mamba-1 or Mamba-2 mixer (MambaShape::version)
  attention,         // self-attention
  parallel_hybrid,   // Falcon-H1: attention and Mamba-2 side by side on the same input
  shared_attention,  // Zamba2 hybrid layer: the shared transformer block, then a Mamba-2 layer
  mlp,               // Nemotron-H: a dense MLP in place of the mixer
  moe,               // Nemotron-H: a mixture of experts in place of the mixer
};
std::string_view layer_kind_name(LayerKind kind);

// The feed-forward part that follows the mixer in Jamba, Bamba, Granite, Falcon-H1 and Zamba2
// layers (Mamba, Mamba-2 and Nemotron-H layers have none).
enum class FeedForwardKind { none, mlp, moe };

enum class Activation { silu, gelu, relu2 };

// The Mamba mixer of the model (all its Mamba layers share these shapes).
struct MambaShape {
  int version = 2;  // 1: Mamba-1 (selective scan over d_inner channels); 2: Mamba-2 (SSD over heads)
  int d_inner = 0, d_state = 0, d_conv = 0;
  int dt_rank = 0;                                          // Mamba-1: rank of the dt projection
  int heads = 0, head_dim = 0, groups = 1, chunk_size = 0;  // Mamba-2
  bool conv_bias = true, proj_bias = false, out_proj_bias = false;
  // dt is clamped to [dt_min, dt_max] after softplus (time_step_limit).
  float dt_min = 0.0f, dt_max = std::numeric_limits<float>::infinity();
  // Output: gated RMSNorm (norm.weight) over groups of norm_group_size channels, or, without
  // it, y * silu(z) (Falcon-H1 with mamba_rms_norm = false).
  bool gated_norm = true;
  bool norm_before_gate = false;
  int norm_group_size = 0;
  float norm_eps = 1e-5f;
  // Jamba: RMSNorms on dt, B and C after x_proj (dt_layernorm, b_layernorm, c_layernorm).
  bool bcdt_norms = false;
  float bcdt_norm_eps = 1e-6f;
  // Falcon-H1 µP: input scaled by in_multiplier, in_proj output by in_proj_multipliers
  // (one per output row, empty = none), output by out_multiplier.
  float in_multiplier = 1.0f, out_multiplier = 1.0f;
  std::vector<float> in_proj_multipliers;

  int conv_dim() const { return version == 1 ? d_inner : d_inner + 2 * groups * d_state; }
  int in_proj_size() const { return version == 1 ? 2 * d_inner : d_inner + conv_dim() + heads; }
};

struct AttentionShape {
  int input_size = 0;  // hidden_size, or 2*hidden_size for Zamba2's shared block
  int heads = 0, kv_heads = 0, head_dim = 0;
  int rotary_dim = 0;  // 0: no rotary embedding
  float rope_theta = 10000.0f;
  float scale = 1.0f;  // softmax(q·k·scale)
  bool bias = false;
  // Falcon-H1 µP: input, key and output multipliers.
  float in_multiplier = 1.0f, key_multiplier = 1.0f, out_multiplier = 1.0f;
};

struct FeedForwardShape {
  int intermediate_size = 0;  // dense MLP (gate/up/down, or up/down for relu2)
  Activation activation = Activation::silu;
  bool bias = false;
  float gate_multiplier = 1.0f, down_multiplier = 1.0f;  // Falcon-H1 mlp_multipliers
  // Mixture of experts.
  int experts = 0, top_k = 0, expert_intermediate_size = 0;
  golden::Routing routing = golden::Routing::softmax_topk;
  bool normalize_routing = false;
  float routed_scaling = 1.0f;
  int shared_intermediate_size = 0;  // 0: no shared expert
};

// Zamba2's shared transformer blocks.
struct ZambaShape {
  int num_mem_blocks = 1;
  std::vector<int> hybrid_layer_ids;
  bool attention_adapters = false;  // use_shared_attention_adapter (q/k/v adapters)
  int adapter_rank = 0;
};

struct Weight {
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};

struct HfCheckpoint {
  std::filesystem::path dir;
  std::string model_type;
  ModelFamily family = ModelFamily::mamba;
  nlohmann::json config;  // the whole config.json

  int hidden_size = 0, vocab_size = 0, num_layers = 0;
  float norm_eps = 1e-5f;
  bool tie_word_embeddings = false;
  // Granite and Falcon-H1 µP: embeddings are scaled by embedding_multiplier, each residual
  // branch by residual_multiplier, logits by logits_multiplier (Granite: 1/logits_scaling).
  float embedding_multiplier = 1.0f, residual_multiplier = 1.0f, logits_multiplier = 1.0f;

  std::vector<LayerKind> layers;              // one per decoder layer
  std::vector<FeedForwardKind> feed_forward;  // one per decoder layer
  MambaShape mamba;
  AttentionShape attention;
  FeedForwardShape ffn;
  ZambaShape zamba;

  // Every weight the executor reads, by its name in model.safetensors.
  std::map<std::string, Weight> weights;

  bool has(const std::string& name) const { return weights.count(name) != 0; }
  // The values of a weight; a ConfigError naming it when it is absent.
  const std::vector<float>& weight(const std::string& name) const;
  // The names of the embedding and output matrices (lm_head.weight, or the embedding when tied).
  std::string embedding_name() const;
  std::string lm_head_name() const;
  std::string final_norm_name() const;
  // Zamba2: the prefix ("model.layers.N.shared_transformer.") holding the shared block used
  // by hybrid layer `layer`, and the adapter index of that layer.
  std::string shared_block_prefix(int layer) const;
  int adapter_index(int layer) const;
};

HfCheckpoint load_hf_checkpoint(const std::filesystem::path& dir);

// How parse_hf_config reports and records: `locate` gives the place an error names for a
// key ("FILE:LINE:COLUMN" for a YAML workload; the file path when unset); `keys_read`, when
// set, receives every top-level key the parser looked at (so a caller can reject the rest).
struct HfConfigOptions {
  std::function<std::string(std::string_view key)> locate;
  std::set<std::string>* keys_read = nullptr;
};

// A JSON file (a config.json): ConfigError naming the file, and nlohmann's position, when it
// cannot be read or parsed.
nlohmann::json read_json_file(const std::filesystem::path& file);

// The config-only part of load_hf_checkpoint: a parsed config.json (or any JSON object with
// its keys) into an HfCheckpoint without weights (`weights` stays empty, `dir` is the
// file's folder). Same checks and one-line errors as load_hf_checkpoint.
HfCheckpoint parse_hf_config(const nlohmann::json& config, const std::filesystem::path& file,
                             const HfConfigOptions& options = {});

// Every tensor a checkpoint of this config has, with its shape, in load order (what
// load_hf_checkpoint checks model.safetensors against).
using TensorShape = std::pair<std::string, std::vector<std::int64_t>>;
std::vector<TensorShape> expected_tensors(const HfCheckpoint& checkpoint);

}  // namespace ssmsoc
