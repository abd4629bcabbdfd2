// The model description shared by every part: a language model's shapes, layer pattern and
// feed-forward kinds (ModelConfig), parsed from HuggingFace config.json keys, and where its
// checkpoint keeps each tensor. The HF checkpoint loader (arch/hf) adds the weights to it, the
// compiler (compiler/model.hpp) its workload name.
//
// Supported model_type values: the eight SSM and hybrid families mamba, mamba2, jamba, bamba,
// granitemoehybrid, falcon_h1, nemotron_h, zamba2 (HfCheckpoint and the golden model run
// them), and the transformer baselines llama and gpt_neox (compiled only). Mamba-3
// (`mamba3`) is a mamba_ssm MambaLMHeadModel checkpoint: its config.json (a MambaConfig:
// d_model, n_layer, d_intermediate, ssm_cfg with layer "Mamba3", ...) has no model_type, and
// the family is recognised by ssm_cfg.layer; HfCheckpoint and the golden model run it, the
// compiler does not map Mamba-3 layers yet (compiler_model_types() leaves it out, so a
// compiled Mamba-3 model is a one-line error). What a family is —
// the config keys it reads and their defaults, its layer pattern, its quirks and its
// checkpoint's tensor names — is one adapter each, in model.cpp.
//
// Every problem is a ConfigError (config_tree.hpp) with a one-line message naming the file
// (or the YAML place) and the key: an unsupported model_type (listing the supported ones), a
// missing or ill-typed key, malformed JSON (with nlohmann's position), inconsistent shapes.
// Every size key has a range, checked before anything is sized by it (model.cpp,
// kSizeRanges): layers 1..4096, hidden and intermediate widths 1..2^18, vocabulary
// 1..2^22, heads, head dims, groups and ranks 1..2^16, SSM state 1..4096, convolution
// width 1..256, chunk 1..2^20, experts 1..4096 (a key's message names its range);
// epsilons, expansions and RoPE's base must be positive, every number finite.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ssmsoc {

enum class ModelFamily {
  mamba,
  mamba2,
  jamba,
  bamba,
  granitemoehybrid,
  falcon_h1,
  nemotron_h,
  zamba2,
  llama,
  gpt_neox,
  mamba3,  // mamba_ssm MambaLMHeadModel with Mamba3 mixers (golden model only; last, so the others keep their values)
};

// The config.json model_type of a family ("mamba", "falcon_h1", ...).
std::string_view model_type_name(ModelFamily family);
// The SSM and hybrid model_type values (what HfCheckpoint loads), in the order of ModelFamily.
const std::vector<std::string>& supported_model_types();
// Those and the transformer baselines, less mamba3 (what the compiler accepts).
const std::vector<std::string>& compiler_model_types();

// What a decoder layer's token mixer is.
enum class LayerKind {
  mamba,             // a Mamba-1, Mamba-2 or Mamba-3 mixer (MambaShape::version)
  attention,         // self-attention
  parallel_hybrid,   // Falcon-H1: attention and Mamba-2 side by side on the same input
  shared_attention,  // Zamba2 hybrid layer: the shared transformer block, then a Mamba-2 layer
  mlp,               // Nemotron-H: a dense MLP in place of the mixer
  moe,               // Nemotron-H: a mixture of experts in place of the mixer
};
std::string_view layer_kind_name(LayerKind kind);

// The feed-forward part that follows the mixer in Jamba, Bamba, Granite, Falcon-H1, Zamba2
// and the transformer layers (Mamba, Mamba-2 and Nemotron-H layers have none).
enum class FeedForwardKind { none, mlp, moe };

enum class Activation { silu, gelu, relu2 };

// Mixture-of-experts routing: for each token's router logits [experts], the chosen experts
// and their weights (golden::route_topk computes them).
enum class Routing {
  softmax_topk,  // softmax over all experts, keep the top k probabilities
  topk_softmax,  // top k logits, softmax over those k
  sigmoid_topk,  // sigmoid scores; choose by score + correction bias, weight by the score
};

// The Mamba mixer of the model (all its Mamba layers share these shapes).
struct MambaShape {
  // 1: Mamba-1 (selective scan over d_inner channels); 2: Mamba-2 (SSD over heads); 3: Mamba-3
  // (mamba_ssm Mamba3: trapezoidal recurrence with data-dependent rotary angles, no conv1d;
  // golden/mamba3.hpp), whose fields below are `rope_*` to `A_floor` with heads, head_dim,
  // groups, d_state and chunk_size.
  int version = 2;
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
  // Mamba-3 (ssm_cfg of a mamba_ssm config; defaults the official Mamba3's): rope_fraction of
  // the state dims rotated (0.5 or 1) as rope_angles angles, MIMO of rank mimo_rank (1 for
  // SISO), the out-projection RMSNorm (norm.weight), and A = min(-heavy_tail(dd_A), -A_floor).
  float rope_fraction = 0.5f;
  int rope_angles = 0;
  bool mimo = false;
  int mimo_rank = 1;
  bool outproj_norm = false;
  float A_floor = 1e-4f;

  bool operator==(const MambaShape&) const = default;
  // The convolution's channels (Mamba-3 has no convolution: 0).
  int conv_dim() const { return version == 1 ? d_inner : version == 3 ? 0 : d_inner + 2 * groups * d_state; }
  int in_proj_size() const {
    if (version == 3)  // [z, x, B, C (rank groups state each), dd_dt, dd_A, trap, angles]
      return 2 * d_inner + 2 * mimo_rank * groups * d_state + 3 * heads + rope_angles;
    return version == 1 ? 2 * d_inner : d_inner + conv_dim() + heads;
  }
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
  bool operator==(const AttentionShape&) const = default;
};

struct FeedForwardShape {
  int intermediate_size = 0;  // dense MLP (gate/up/down, or up/down for relu2)
  Activation activation = Activation::silu;
  bool bias = false;
  float gate_multiplier = 1.0f, down_multiplier = 1.0f;  // Falcon-H1 mlp_multipliers
  // Mixture of experts.
  int experts = 0, top_k = 0, expert_intermediate_size = 0;
  bool gated_experts = true;  // experts (and the shared expert) gate/up/down; false: up/down (Nemotron-H)
  Routing routing = Routing::softmax_topk;
  bool normalize_routing = false;
  float routed_scaling = 1.0f;
  int shared_intermediate_size = 0;  // 0: no shared expert
  bool operator==(const FeedForwardShape&) const = default;
};

// Zamba2's shared transformer blocks.
struct ZambaShape {
  int num_mem_blocks = 1;
  std::vector<int> hybrid_layer_ids;
  bool attention_adapters = false;  // use_shared_attention_adapter (q/k/v adapters)
  int adapter_rank = 0;
  bool operator==(const ZambaShape&) const = default;
};

// Where one decoder layer keeps its weights in the family's checkpoint (HF names): the input
// norm's tensor and the prefixes ("model.layers.3.mamba.") the mixer's and feed-forward's
// tensors follow. Zamba2's hybrid layers name their shared block's parts (stored under the
// first hybrid layer that runs it).
struct LayerTensorNames {
  std::string norm;          // the mixer's input norm (a Zamba2 hybrid layer: its Mamba's)
  std::string ff_norm;       // the feed-forward's input norm ("" when the family has none)
  std::string mamba;         // Mamba mixer prefix
  std::string attention;     // q_proj/k_proj/v_proj/o_proj prefix
  std::string feed_forward;  // MLP or MoE prefix
  std::string shared_norm;   // Zamba2 hybrid layer: the shared block's input norm
  std::string linear;        // Zamba2 hybrid layer: the linear from the shared block into its Mamba
};

// How a family's checkpoint stores its feed-forward weights.
enum class FeedForwardLayout {
  split,    // gate_proj/up_proj/down_proj; a router.weight and experts.E.{gate,up,down}_proj
  stacked,  // Granite: block_sparse_moe.{router.layer, input_linear [E, 2I, H], output_linear}, shared_mlp
  fc,       // mamba_ssm GatedMLP: fc1 [2I, H] (value, then gate), fc2 [H, I]; fc2(value * silu(gate))
};

struct ModelConfig {
  std::string model_type;  // the HF model_type ("mamba", "llama", ...)
  ModelFamily family = ModelFamily::mamba;

  int hidden_size = 0, vocab_size = 0, num_layers = 0;
  float norm_eps = 1e-5f;  // the RMSNorms' epsilon (decoder layers and final norm)
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
  bool gated_mlp = true;           // dense MLPs gate/up/down; false: up/down (relu2, gpt_neox)
  bool layer_norm = false;         // LayerNorm (gpt_neox) instead of RMSNorm
  bool parallel_residual = false;  // gpt_neox: attention and MLP read the same input
  bool operator==(const ModelConfig&) const = default;

  // Whether any layer runs attention (attention, parallel_hybrid, shared_attention).
  bool has_attention() const;

  // The checkpoint's tensor names: embedding and output matrices (lm_head.weight, or the
  // embedding when tied), the final norm, and one decoder layer's.
  std::string embedding_name() const;
  std::string lm_head_name() const;
  std::string final_norm_name() const;
  LayerTensorNames layer_tensor_names(int layer) const;
  FeedForwardLayout feed_forward_layout() const;
  // Zamba2: the prefix ("model.layers.N.shared_transformer.") holding the shared block used
  // by hybrid layer `layer`, and the adapter index of that layer.
  std::string shared_block_prefix(int layer) const;
  int adapter_index(int layer) const;
};

// How parse_model_config reports and records: `locate` gives the place an error names for a
// key ("FILE:LINE:COLUMN" for a YAML workload; the file path when unset); `keys_read`, when
// set, receives every top-level key the parser looked at (so a caller can reject the rest).
struct ModelConfigOptions {
  std::function<std::string(std::string_view key)> locate;
  std::set<std::string>* keys_read = nullptr;
};

// A JSON file (a config.json): ConfigError naming the file, and nlohmann's position, when it
// cannot be read or parsed.
nlohmann::json read_json_file(const std::filesystem::path& file);

// A parsed config.json (or any JSON object with its keys; the compiler turns a workload YAML
// into one) into a ModelConfig. `file` names errors. `accepted` lists the model_type values
// the caller takes (supported_model_types() or compiler_model_types()); another one is an
// error listing them.
ModelConfig parse_model_config(const nlohmann::json& config, const std::filesystem::path& file,
                               const std::vector<std::string>& accepted, const ModelConfigOptions& options = {});

// Every tensor a checkpoint of this config has, with its shape, in load order (what
// load_hf_checkpoint checks model.safetensors against).
using TensorShape = std::pair<std::string, std::vector<std::int64_t>>;
std::vector<TensorShape> expected_tensors(const ModelConfig& config);

// Total parameters: the elements of every tensor of expected_tensors (the embedding counted
// once when tied, each Zamba2 shared block once).
std::int64_t parameter_count(const ModelConfig& config);

}  // namespace ssmsoc
