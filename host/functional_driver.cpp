#include "host/functional_driver.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "arch/numerics/numerics.hpp"
#include "arch/spec/config_tree.hpp"
#include "sim/sim.hpp"

namespace ssmsoc::host {

namespace {

using Bytes = std::vector<std::byte>;
using Images = std::map<std::string, Bytes>;

constexpr const char* kEmbeddings = "input_embeddings";

// Float values in a tensor's storage format: float32, or a 16-bit matrix precision.
Bytes encode(std::span<const float> values, int bits, Precision precision) {
  Bytes out;
  if (bits >= 32) {
    out.resize(values.size() * 4);
    std::memcpy(out.data(), values.data(), out.size());
    return out;
  }
  if (precision != Precision::bf16 && precision != Precision::fp16)
    throw ConfigError(
        fmt::format("--functional: weights in {} are not supported (fp32, bf16, fp16)", name_of(precision)));
  const NumberType type = precision == Precision::bf16 ? NumberType::bf16 : NumberType::fp16;
  std::vector<std::uint16_t> packed(values.size());
  for (std::size_t i = 0; i < values.size(); ++i)
    packed[i] = static_cast<std::uint16_t>(numerics::float_bits(values[i], type));
  out.resize(packed.size() * 2);
  std::memcpy(out.data(), packed.data(), out.size());
  return out;
}

// A value as the chip's matrix precision holds it (the embedding table's rows).
float round_to(float x, Precision precision) {
  if (precision == Precision::bf16)
    return numerics::from_float_bits(numerics::float_bits(x, NumberType::bf16), NumberType::bf16);
  if (precision == Precision::fp16)
    return numerics::from_float_bits(numerics::float_bits(x, NumberType::fp16), NumberType::fp16);
  return x;
}

// Zamba2's shared blocks: "shared{b}.{part}" is block b, stored under the first hybrid layer
// that runs it.
std::vector<float> zamba2_shared_weight(const HfCheckpoint& ck, const std::string& name) {
  int block = -1;
  char rest[64] = {};
  if (std::sscanf(name.c_str(), "shared%d.%63s", &block, rest) != 2 || block < 0 ||
      block >= std::min<int>(ck.zamba.num_mem_blocks, int(ck.zamba.hybrid_layer_ids.size())))
    throw ConfigError(fmt::format("--functional: no checkpoint tensor for the compiled weight '{}'", name));
  const std::string sp = ck.shared_block_prefix(ck.zamba.hybrid_layer_ids[std::size_t(block)]), what = rest;
  if (what == "norm.weight") return ck.weight(sp + "input_layernorm.weight");
  if (what == "ff_norm.weight") return ck.weight(sp + "pre_ff_layernorm.weight");
  if (what == "attention.qkv_proj") {
    std::vector<float> out;
    for (const char* part : {"q_proj", "k_proj", "v_proj"}) {
      const std::vector<float> v = ck.weight(sp + "self_attn." + part + ".weight");
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  }
  if (what == "attention.o_proj") return ck.weight(sp + "self_attn.o_proj.weight");
  if (what == "mlp.up_proj") return ck.weight(sp + "feed_forward.gate_up_proj.weight");  // [gate; up]
  if (what == "mlp.down_proj") return ck.weight(sp + "feed_forward.down_proj.weight");
  throw ConfigError(fmt::format("--functional: no checkpoint tensor for the compiled weight '{}'", name));
}

// The values of a compiler weight (compiler/lower.cpp names) from the checkpoint (HF names).
std::vector<float> weight_values(const HfCheckpoint& ck, const std::string& name, std::uint64_t elements) {
  // Functional Programs gather no embeddings: a compiled table is the (tied) LM head.
  auto logits_scaled = [&](std::vector<float> v) {
    if (ck.logits_multiplier != 1.0f)
      for (float& x : v) x *= ck.logits_multiplier;
    return v;
  };
  if (name == "embedding.embedding") return logits_scaled(ck.weight(ck.embedding_name()));
  if (name == "lm_head.weight") return logits_scaled(ck.weight(ck.lm_head_name()));
  if (name == "final_norm.weight") return ck.weight(ck.final_norm_name());
  if (ck.family == ModelFamily::zamba2 && name.starts_with("shared")) return zamba2_shared_weight(ck, name);
  int layer = -1;
  char rest[64] = {};
  if (std::sscanf(name.c_str(), "layers.%d.%63s", &layer, rest) != 2)
    throw ConfigError(fmt::format("--functional: no checkpoint tensor for the compiled weight '{}'", name));
  // Bamba and Falcon-H1 share the HF layout; Falcon-H1's µP multipliers are folded into the
  // weights they follow (every one scales a linear map's input or output rows).
  const bool granite = ck.family == ModelFamily::granitemoehybrid;
  const bool zamba2 = ck.family == ModelFamily::zamba2;
  const bool bamba = ck.family == ModelFamily::bamba || ck.family == ModelFamily::falcon_h1 ||
                     ck.family == ModelFamily::jamba || granite || zamba2;
  // Granite: each residual branch is linear in its last projection, so residual_multiplier
  // scales those weights (o_proj, out_proj, the experts' and the shared MLP's down projections).
  const float rm = ck.residual_multiplier;
  auto scaled = [](std::vector<float> v, float factor) {
    if (factor != 1.0f)
      for (float& x : v) x *= factor;
    return v;
  };
  const std::string p = (bamba ? "model.layers." : "backbone.layers.") + std::to_string(layer) + ".", what = rest;
  const bool v1 = ck.mamba.version == 1;
  if (granite) {
    const std::string f = p + "block_sparse_moe.", sh = p + "shared_mlp.";
    if (what == "ff_norm.weight") return ck.weight(p + "post_attention_layernorm.weight");
    if (what == "ff.router") return ck.weight(f + "router.layer.weight");
    // Experts [E, 2I, H] (act(first half) * second half) and [E, H, I], as the compiler stacks them.
    if (what == "ff.experts_up") return ck.weight(f + "input_linear.weight");
    if (what == "ff.experts_down") return scaled(ck.weight(f + "output_linear.weight"), rm);
    if (what == "ff.shared_up_proj") return ck.weight(sh + "input_linear.weight");
    if (what == "ff.shared_down_proj") return scaled(ck.weight(sh + "output_linear.weight"), rm);
  }
  // Zamba2's hybrid layers: the Mamba layer inside is "mamba_decoder"; the adapters of the
  // shared block this layer runs are stored with that block.
  const bool zamba_hybrid = zamba2 && layer >= 0 && std::size_t(layer) < ck.layers.size() &&
                            ck.layers[std::size_t(layer)] == LayerKind::shared_attention;
  if (zamba_hybrid) {
    if (what == "norm.weight") return ck.weight(p + "mamba_decoder.input_layernorm.weight");
    if (what == "linear.weight") return ck.weight(p + "linear.weight");
    const std::string sp = ck.shared_block_prefix(layer);
    const int adapter = ck.adapter_index(layer);
    const std::string mlp = fmt::format("{}feed_forward.gate_up_proj_adapter_list.{}.", sp, adapter);
    if (what == "shared.mlp.adapter_down") return ck.weight(mlp + "0.weight");
    if (what == "shared.mlp.adapter_up") return ck.weight(mlp + "1.weight");
    // q, k, v adapters as one: down stacked [3r, in], up block-diagonal [q + 2kv, 3r].
    auto qkv_adapter = [&](const char* which, const char* part) {
      return ck.weight(fmt::format("{}self_attn.linear_{}_adapter_list.{}.{}.weight", sp, which, adapter, part));
    };
    if (what == "shared.attention.adapter_down") {
      std::vector<float> out;
      for (const char* which : {"q", "k", "v"}) {
        const std::vector<float> v = qkv_adapter(which, "0");
        out.insert(out.end(), v.begin(), v.end());
      }
      return out;
    }
    if (what == "shared.attention.adapter_up") {
      const std::size_t rank = std::size_t(ck.zamba.adapter_rank);
      std::vector<float> out;
      std::size_t row0 = 0;
      std::vector<std::vector<float>> ups;
      for (const char* which : {"q", "k", "v"}) ups.push_back(qkv_adapter(which, "1"));
      std::size_t rows = 0;
      for (const auto& u : ups) rows += u.size() / rank;
      out.assign(rows * 3 * rank, 0.0f);
      for (std::size_t b = 0; b < ups.size(); ++b) {
        const std::size_t n = ups[b].size() / rank;
        for (std::size_t r = 0; r < n; ++r)
          std::copy_n(&ups[b][r * rank], rank, &out[(row0 + r) * 3 * rank + b * rank]);
        row0 += n;
      }
      return out;
    }
  }
  if (bamba) {
    if (what == "norm.weight") return ck.weight(p + "input_layernorm.weight");
    if (what == "ff_norm.weight") return ck.weight(p + "pre_ff_layernorm.weight");
    const std::string a = p + "self_attn.", f = p + "feed_forward.";
    const AttentionShape& at = ck.attention;
    if (what == "attention.qkv_proj") {
      std::vector<float> out = scaled(ck.weight(a + "q_proj.weight"), at.in_multiplier);
      const std::vector<float> k = scaled(ck.weight(a + "k_proj.weight"), at.in_multiplier * at.key_multiplier);
      const std::vector<float> v = scaled(ck.weight(a + "v_proj.weight"), at.in_multiplier);
      out.insert(out.end(), k.begin(), k.end());
      out.insert(out.end(), v.begin(), v.end());
      return out;
    }
    if (what == "attention.o_proj") return scaled(ck.weight(a + "o_proj.weight"), at.out_multiplier * rm);
    // Gated MLP: act(first half) * second half.
    if (what == "ff.up_proj") {
      std::vector<float> out = scaled(ck.weight(f + "gate_proj.weight"), ck.ffn.gate_multiplier);
      const std::vector<float> up = ck.weight(f + "up_proj.weight");
      out.insert(out.end(), up.begin(), up.end());
      return out;
    }
    if (what == "ff.down_proj") return scaled(ck.weight(f + "down_proj.weight"), ck.ffn.down_multiplier);
    // Jamba MoE: the router; experts stacked, each [gate; up] and down as the dense MLP.
    if (what == "ff.router") return ck.weight(f + "router.weight");
    if (what == "ff.experts_up" || what == "ff.experts_down") {
      std::vector<float> out;
      for (int e = 0; e < ck.ffn.experts; ++e) {
        const std::string x = fmt::format("{}experts.{}.", f, e);
        for (const char* part : what == "ff.experts_up" ? std::vector<const char*>{"gate_proj", "up_proj"}
                                                        : std::vector<const char*>{"down_proj"}) {
          const std::vector<float> v = ck.weight(x + part + ".weight");
          out.insert(out.end(), v.begin(), v.end());
        }
      }
      return out;
    }
  } else if (what == "norm.weight") {
    return ck.weight(p + "norm.weight");
  } else if (ck.family == ModelFamily::nemotron_h) {
    // Nemotron-H: every block is the layer's mixer (Mamba-2, attention or MoE).
    const std::string x = p + "mixer.";
    if (what == "attention.qkv_proj") {
      std::vector<float> out = ck.weight(x + "q_proj.weight");
      for (const char* part : {"k_proj", "v_proj"}) {
        const std::vector<float> v = ck.weight(x + part + ".weight");
        out.insert(out.end(), v.begin(), v.end());
      }
      return out;
    }
    if (what == "attention.o_proj") return ck.weight(x + "o_proj.weight");
    if (what == "moe.router") return ck.weight(x + "gate.weight");
    if (what == "moe.router_bias") return ck.weight(x + "gate.e_score_correction_bias");
    if (what == "moe.experts_up" || what == "moe.experts_down") {
      std::vector<float> out;
      for (int e = 0; e < ck.ffn.experts; ++e) {
        const std::vector<float> v =
            ck.weight(fmt::format("{}experts.{}.{}.weight", x, e, what == "moe.experts_up" ? "up_proj" : "down_proj"));
        out.insert(out.end(), v.begin(), v.end());
      }
      return out;
    }
    if (what == "moe.shared_up_proj") return ck.weight(x + "shared_experts.up_proj.weight");
    if (what == "moe.shared_down_proj") return ck.weight(x + "shared_experts.down_proj.weight");
    if (what == "mlp.up_proj") return ck.weight(x + "up_proj.weight");
    if (what == "mlp.down_proj") return ck.weight(x + "down_proj.weight");
  }
  const std::string m = p + (zamba_hybrid ? "mamba_decoder.mamba." : bamba ? "mamba." : "mixer.");
  if (what == "mamba.in_proj") {
    std::vector<float> w = scaled(ck.weight(m + "in_proj.weight"), ck.mamba.in_multiplier);
    const std::vector<float>& rows = ck.mamba.in_proj_multipliers;
    if (!rows.empty()) {
      const std::size_t cols = w.size() / rows.size();
      for (std::size_t r = 0; r < rows.size(); ++r)
        for (std::size_t c = 0; c < cols; ++c) w[r * cols + c] *= rows[r];
    }
    return w;
  }
  if (what == "mamba.conv1d") return ck.weight(m + "conv1d.weight");
  if (what == "mamba.conv1d_bias")
    return ck.has(m + "conv1d.bias") ? ck.weight(m + "conv1d.bias") : std::vector<float>(elements, 0.0f);
  if (what == "mamba.x_proj") return ck.weight(m + "x_proj.weight");
  if (what == "mamba.dt_proj") return ck.weight(m + "dt_proj.weight");
  // Jamba: RMSNorms of dt, B and C after x_proj.
  if (what == "mamba.dt_norm") return ck.weight(m + "dt_layernorm.weight");
  if (what == "mamba.b_norm") return ck.weight(m + "b_layernorm.weight");
  if (what == "mamba.c_norm") return ck.weight(m + "c_layernorm.weight");
  if (what == "mamba.dt_bias") return ck.weight(v1 ? m + "dt_proj.bias" : m + "dt_bias");
  if (what == "mamba.D") return ck.weight(m + "D");
  if (what == "mamba.norm") return ck.weight(m + "norm.weight");
  if (what == "mamba.out_proj") return scaled(ck.weight(m + "out_proj.weight"), ck.mamba.out_multiplier * rm);
  if (what == "mamba.A") {
    std::vector<float> a = ck.weight(m + "A_log");
    for (float& v : a) v = -std::exp(v);
    return a;
  }
  throw ConfigError(fmt::format("--functional: no checkpoint tensor for the compiled weight '{}'", name));
}

bool has_attention(const HfCheckpoint& ck) {
  return std::any_of(ck.layers.begin(), ck.layers.end(), [](LayerKind k) {
    return k == LayerKind::attention || k == LayerKind::parallel_hybrid || k == LayerKind::shared_attention;
  });
}

void check_model(const HfCheckpoint& ck) {
  const bool granite = ck.family == ModelFamily::granitemoehybrid;
  const bool hybrid = ck.family == ModelFamily::bamba || ck.family == ModelFamily::falcon_h1 ||
                      ck.family == ModelFamily::jamba || ck.family == ModelFamily::nemotron_h || granite ||
                      ck.family == ModelFamily::zamba2;
  if (hybrid) {
    // MoE: the functional lowering weights every expert by on-chip routing weights: Jamba's
    // (softmax then top k, not renormalised, unscaled, no shared expert), Granite's (top k
    // logits then softmax over the k, shared MLP) or Nemotron-H's (sigmoid, top k by score +
    // correction bias, renormalised or not, scaled, shared expert).
    const auto& f = ck.ffn;
    const bool moe =
        std::find(ck.layers.begin(), ck.layers.end(), LayerKind::moe) != ck.layers.end() ||
        std::find(ck.feed_forward.begin(), ck.feed_forward.end(), FeedForwardKind::moe) != ck.feed_forward.end();
    const bool jamba_routing = f.routing == golden::Routing::softmax_topk && !f.normalize_routing &&
                               f.routed_scaling == 1.0f && f.shared_intermediate_size == 0;
    const bool nemotron_routing = ck.family == ModelFamily::nemotron_h && f.routing == golden::Routing::sigmoid_topk;
    const bool granite_routing = granite && f.routing == golden::Routing::topk_softmax && f.routed_scaling == 1.0f;
    if (moe && !jamba_routing && !nemotron_routing && !granite_routing)
      throw ConfigError(
          fmt::format("{}: --functional: MoE routing other than softmax then top k (Jamba), top k then softmax "
                      "(Granite) or sigmoid with a correction bias (Nemotron-H) is not supported yet",
                      ck.dir.string()));
    // Granite without experts runs only its shared MLP, which the compiled dense MLP is not.
    if (granite && f.experts == 0)
      throw ConfigError(
          fmt::format("{}: --functional: granitemoehybrid without experts is not supported yet", ck.dir.string()));
    const AttentionShape& a = ck.attention;
    if (a.bias || ck.ffn.bias)
      throw ConfigError(
          fmt::format("{}: --functional: attention or MLP biases are not supported yet", ck.dir.string()));
    // Granite's is folded into the last projection of each residual branch (weight_values).
    if (ck.residual_multiplier != 1.0f && !granite)
      throw ConfigError(fmt::format("{}: --functional: a residual multiplier is not supported yet", ck.dir.string()));
  }
  const MambaShape& s = ck.mamba;
  if (s.proj_bias || s.out_proj_bias)
    throw ConfigError(
        fmt::format("{}: --functional: projection biases (use_bias) are not supported yet", ck.dir.string()));
  if (s.dt_min > 0.0f || std::isfinite(s.dt_max))
    throw ConfigError(
        fmt::format("{}: --functional: a dt clamp (time_step_limit) is not supported yet", ck.dir.string()));
  if (s.version == 2 && !s.gated_norm && ck.family != ModelFamily::falcon_h1)
    throw ConfigError(
        fmt::format("{}: --functional: Mamba-2 without the gated norm is not supported yet", ck.dir.string()));
}

void check_profile(const Profile& profile, const HfCheckpoint& ck) {
  const ScanUnit& unit = profile.tile.scan;
  const ScanMode mode = ck.mamba.version == 1 ? ScanMode::mamba1 : ScanMode::mamba2;
  if (!unit.present || !unit.supports(mode) || ck.mamba.d_state > unit.max_state)
    throw ConfigError(fmt::format(
        "{}: --functional needs a scan unit running Mamba-{} with N = {} natively (software scans are timing-only "
        "for now)",
        profile.name, ck.mamba.version, ck.mamba.d_state));
  const auto& have = profile.tile.matrix.macs_per_cycle;
  if (!have.count(Precision::fp32) && !have.count(Precision::bf16) && !have.count(Precision::fp16))
    throw ConfigError(fmt::format("{}: --functional needs an fp32, bf16 or fp16 matrix array (tile.matrix.precisions)",
                                  profile.name));
}

int argmax(std::span<const float> row) {
  int best = 0;  // ties to the lowest id, as torch.argmax
  for (std::size_t i = 1; i < row.size(); ++i)
    if (row[i] > row[best]) best = static_cast<int>(i);
  return best;
}

// Runs the phases of one compiled model, carrying the state images.
class Driver {
 public:
  Driver(const HfCheckpoint& ck, const Profile& profile, const compiler::CompileResult& compiled,
         FunctionalResult& result)
      : ck_(ck), profile_(profile), compiled_(compiled), result_(result) {
    std::map<std::string, int> bits;
    for (const auto& phase : compiled.phases)
      for (const auto& t : phase.lowered.tensors)
        if (t.kind == compiler::TensorKind::weight) bits[t.name] = t.bits;
    for (const auto& [name, placement] : compiled.memory.weights) {
      const int b = bits.at(name);
      const std::uint64_t elements = placement.bytes * 8 / std::uint64_t(b);
      const std::vector<float> values = weight_values(ck, name, elements);
      if (values.size() != elements)
        throw ConfigError(fmt::format("--functional: the compiled weight '{}' has {} elements, the checkpoint {}", name,
                                      elements, values.size()));
      weights_[name] = encode(values, b, compiled.precision);
    }
    table_ = ck.weight(ck.embedding_name());
    for (float& v : table_) v = round_to(v * ck.embedding_multiplier, compiled.precision);
  }

  // Runs phase `index` once on the tokens `ids` (its rows, session-major): logits [rows, vocab].
  std::vector<float> run(std::size_t index, std::span<const std::int64_t> ids) { return run(compiled_, index, ids); }

  // The same on another compilation of the model with the same memory plan (decode at an
  // exact context): weights and states are bound by buffer name.
  std::vector<float> run(const compiler::CompileResult& compiled, std::size_t index,
                         std::span<const std::int64_t> ids) {
    const compiler::PhaseProgram& phase = compiled.phases.at(index);
    const std::size_t h = std::size_t(ck_.hidden_size);
    std::vector<float> embeddings(ids.size() * h);
    for (std::size_t r = 0; r < ids.size(); ++r)
      std::copy_n(table_.begin() + static_cast<std::ptrdiff_t>(std::size_t(ids[r]) * h), h,
                  embeddings.begin() + static_cast<std::ptrdiff_t>(r * h));
    sim::SimOptions options;
    options.functional = true;
    options.source = phase.name;
    for (const ProgramBuffer& b : phase.program.buffers) {
      if (b.kind == SSM_BUF_WEIGHTS) {
        options.memory_in[b.name] = weights_.at(b.name);
      } else if (b.name == kEmbeddings) {
        options.memory_in[b.name] = encode(embeddings, 32, Precision::fp32);
      } else if (b.kind == SSM_BUF_STATE) {
        if (auto it = states_.find(b.name); it != states_.end()) options.memory_in[b.name] = it->second;
        options.memory_out.push_back(b.name);
      }
    }
    options.memory_out.push_back("activations");
    sim::SimResult r = sim::simulate_in_child(profile_, phase.program, options);
    result_.runs.push_back(PhaseRun{phase.name, r.cycles, r.seconds, r.energy_j, phase.program.command_count()});
    for (auto& [name, bytes] : r.memory_out)
      if (name != "activations") states_[name] = std::move(bytes);
    const int t = phase.lowered.tensor("lm_head.logits");
    if (t < 0) throw ConfigError(fmt::format("--functional: phase {} computes no logits", phase.name));
    const compiler::TensorDef& def = phase.lowered.tensors[std::size_t(t)];
    const std::int64_t offset = compiled.memory.activation_offsets.at(index).at(std::size_t(t));
    const Bytes& arena = r.memory_out.at("activations");
    std::vector<float> logits(std::size_t(def.rows * def.cols));
    std::memcpy(logits.data(), arena.data() + offset, logits.size() * 4);
    return logits;
  }

  // The prefill phases over [batch, length] ids: logits [batch, length, vocab]. A "prefill"
  // Program is compiled at one context for all its runs; with attention (whose key range and
  // positions depend on it), each run whose context differs runs `at_context(context)`'s.
  template <typename AtContext>
  std::vector<float> prefill(int batch, int length, std::span<const std::int64_t> ids, AtContext at_context) {
    const std::size_t vocab = std::size_t(ck_.vocab_size);
    const bool attention = has_attention(ck_);
    std::vector<float> logits(std::size_t(batch) * length * vocab);
    int done = 0;
    for (std::size_t i = 0; i < compiled_.phases.size(); ++i) {
      const auto& phase = compiled_.phases[i];
      if (phase.name != "prefill" && phase.name != "prefill-rest") continue;
      const int chunk = phase.phase.tokens;
      for (int run = 0; run < phase.runs; ++run, done += chunk) {
        std::vector<std::int64_t> rows;
        for (int s = 0; s < batch; ++s)
          for (int k = 0; k < chunk; ++k) rows.push_back(ids[std::size_t(s) * length + done + k]);
        std::vector<float> out;
        if (attention && phase.phase.context != done) {
          const compiler::CompileResult at = at_context(done);
          out = this->run(at, phase_index(at, phase.name), rows);
        } else {
          out = run_phase(i, rows);
        }
        for (int s = 0; s < batch; ++s)
          std::copy_n(out.begin() + static_cast<std::ptrdiff_t>(std::size_t(s) * chunk * vocab), chunk * vocab,
                      logits.begin() + static_cast<std::ptrdiff_t>((std::size_t(s) * length + done) * vocab));
      }
    }
    return logits;
  }

  std::vector<float> run_phase(std::size_t index, std::span<const std::int64_t> ids) { return run(index, ids); }

  std::size_t phase_index(const std::string& name) const { return phase_index(compiled_, name); }
  static std::size_t phase_index(const compiler::CompileResult& compiled, const std::string& name) {
    for (std::size_t i = 0; i < compiled.phases.size(); ++i)
      if (compiled.phases[i].name == name) return i;
    throw ConfigError(fmt::format("--functional: the compiled model has no {} phase", name));
  }

 private:
  const HfCheckpoint& ck_;
  const Profile& profile_;
  const compiler::CompileResult& compiled_;
  FunctionalResult& result_;
  Images weights_, states_;
  std::vector<float> table_;
};

void check_ids(std::span<const std::int64_t> ids, std::size_t expected, int vocab) {
  if (ids.size() != expected)
    throw ConfigError(fmt::format("--functional: {} token ids for {} positions", ids.size(), expected));
  for (std::int64_t id : ids)
    if (id < 0 || id >= vocab)
      throw ConfigError(fmt::format("--functional: id {} is outside the vocabulary of {}", id, vocab));
}

}  // namespace

compiler::CompileOptions functional_compile_options(const Profile& profile) {
  compiler::CompileOptions o;
  o.functional = true;
  const auto& have = profile.tile.matrix.macs_per_cycle;
  for (Precision p : {Precision::fp32, Precision::bf16, Precision::fp16})
    if (have.count(p)) {
      o.precision = std::string(name_of(p));
      break;
    }
  return o;
}

FunctionalDriver::FunctionalDriver(HfCheckpoint checkpoint, Profile profile, DriverOptions options)
    : checkpoint_(std::move(checkpoint)), profile_(std::move(profile)), options_(options) {
  check_model(checkpoint_);
  check_profile(profile_, checkpoint_);
  model_ = compiler::model_from_config(checkpoint_.config, checkpoint_.dir / "config.json");
  model_.name = checkpoint_.dir.filename().string();
}

compiler::CompileOptions FunctionalDriver::compile_options() const {
  compiler::CompileOptions o = functional_compile_options(profile_);
  o.prefill_chunk = options_.prefill_chunk;
  return o;
}

compiler::CompileResult FunctionalDriver::at_prefill_context(const compiler::Scenario& scenario, int context) const {
  compiler::CompileOptions o = compile_options();
  o.prefill_context = context;
  return compiler::compile(model_, scenario, profile_, o);
}

FunctionalResult FunctionalDriver::forward(int batch, int length, std::span<const std::int64_t> ids) const {
  check_ids(ids, std::size_t(batch) * std::size_t(length), checkpoint_.vocab_size);
  compiler::Scenario scenario;
  scenario.prompt_tokens = length;
  scenario.generate_tokens = 0;
  scenario.batch = batch;
  const compiler::CompileResult compiled = compiler::compile(model_, scenario, profile_, compile_options());
  FunctionalResult result;
  result.precision = compiled.precision;
  result.classification = compiled.classification.summary;
  Driver driver(checkpoint_, profile_, compiled, result);
  result.logits =
      driver.prefill(batch, length, ids, [&](int context) { return at_prefill_context(scenario, context); });
  return result;
}

FunctionalResult FunctionalDriver::generate(int batch, int prompt_length, std::span<const std::int64_t> prompt,
                                            int new_tokens) const {
  check_ids(prompt, std::size_t(batch) * std::size_t(prompt_length), checkpoint_.vocab_size);
  if (new_tokens < 1) throw ConfigError("--functional: --generate needs at least 1 new token");
  compiler::Scenario scenario;
  scenario.prompt_tokens = prompt_length;
  scenario.generate_tokens = new_tokens;
  scenario.batch = batch;
  const compiler::CompileResult compiled = compiler::compile(model_, scenario, profile_, compile_options());
  FunctionalResult result;
  result.precision = compiled.precision;
  result.classification = compiled.classification.summary;
  Driver driver(checkpoint_, profile_, compiled, result);
  const std::size_t vocab = std::size_t(checkpoint_.vocab_size);
  const std::vector<float> prefill =
      driver.prefill(batch, prompt_length, prompt, [&](int context) { return at_prefill_context(scenario, context); });
  const std::size_t sessions = static_cast<std::size_t>(batch);
  std::vector<std::vector<std::int64_t>> ids(sessions);
  std::vector<std::vector<float>> logits(sessions);
  std::vector<std::int64_t> next(sessions);
  for (int s = 0; s < batch; ++s) {
    const auto row = std::span(prefill).subspan((std::size_t(s) * prompt_length + prompt_length - 1) * vocab, vocab);
    next[std::size_t(s)] = argmax(row);
    ids[std::size_t(s)].push_back(next[std::size_t(s)]);
    logits[std::size_t(s)].insert(logits[std::size_t(s)].end(), row.begin(), row.end());
  }
  if (new_tokens > 1) {
    const std::size_t decode = driver.phase_index("decode");
    const bool exact = has_attention(checkpoint_);  // attention: decode compiled at each exact context
    for (int step = 1; step < new_tokens; ++step) {
      std::vector<float> out;
      if (exact) {
        compiler::CompileOptions o = compile_options();
        o.decode_context = prompt_length + step - 1;
        const compiler::CompileResult at = compiler::compile(model_, scenario, profile_, o);
        out = driver.run(at, Driver::phase_index(at, "decode"), next);
      } else {
        out = driver.run_phase(decode, next);
      }
      for (int s = 0; s < batch; ++s) {
        const auto row = std::span(out).subspan(std::size_t(s) * vocab, vocab);
        next[std::size_t(s)] = argmax(row);
        ids[std::size_t(s)].push_back(next[std::size_t(s)]);
        logits[std::size_t(s)].insert(logits[std::size_t(s)].end(), row.begin(), row.end());
      }
    }
  }
  for (int s = 0; s < batch; ++s) {
    result.new_ids.insert(result.new_ids.end(), ids[std::size_t(s)].begin(), ids[std::size_t(s)].end());
    result.logits.insert(result.logits.end(), logits[std::size_t(s)].begin(), logits[std::size_t(s)].end());
  }
  return result;
}

}  // namespace ssmsoc::host
