#include "arch/hf/golden_model.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>

#include "arch/golden/kernels.hpp"
#include "arch/golden/mamba3.hpp"

namespace ssmsoc {

namespace {

using golden::KvCache;

std::size_t sz(int v) { return static_cast<std::size_t>(v); }

// The state one layer keeps between calls.
struct LayerCache {
  std::vector<float> conv;  // [conv_dim, d_conv]: the d_conv most recent conv inputs, oldest first
  std::vector<float> ssm;   // Mamba-1 [d_inner, d_state]; Mamba-2 and -3 [heads, head_dim, d_state]
  // Mamba-3's cache besides ssm: angles [heads, rope_angles], the last rotated k [rank, heads,
  // d_state] and the last x [heads, head_dim] (empty before the first token: zeros).
  std::vector<float> angles, k, v;
  std::optional<KvCache> kv;
};

// [rows, cols] -> [cols, rows]
std::vector<float> transpose(std::span<const float> x, int rows, int cols) {
  std::vector<float> out(x.size());
  constexpr std::size_t kTile = 32;  // tiles that stay in the L1 cache on both sides
  for (std::size_t r0 = 0; r0 < sz(rows); r0 += kTile)
    for (std::size_t c0 = 0; c0 < sz(cols); c0 += kTile)
      for (std::size_t r = r0; r < std::min(r0 + kTile, sz(rows)); ++r)
        for (std::size_t c = c0; c < std::min(c0 + kTile, sz(cols)); ++c) out[c * rows + r] = x[r * cols + c];
  return out;
}

// Columns [begin, begin + count) of a [rows, cols] matrix.
std::vector<float> columns(std::span<const float> x, int rows, int cols, int begin, int count) {
  std::vector<float> out(sz(rows) * count);
  for (std::size_t r = 0; r < sz(rows); ++r) std::copy_n(&x[r * cols + begin], count, &out[r * count]);
  return out;
}

void scale(std::vector<float>& x, float factor) {
  if (factor != 1.0f)
    for (auto& v : x) v *= factor;
}

void add(std::vector<float>& into, const std::vector<float>& x) {
  for (std::size_t i = 0; i < into.size(); ++i) into[i] += x[i];
}

float activate(Activation activation, float x) {
  switch (activation) {
    case Activation::silu:
      return golden::silu(x);
    case Activation::gelu:
      return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case Activation::relu2: {
      const float r = std::max(x, 0.0f);
      return r * r;
    }
  }
  return x;
}

// Weight access for one model.
class Weights {
 public:
  explicit Weights(const HfCheckpoint& ck) : ck_(ck) {}
  std::span<const float> operator()(const std::string& name) const { return ck_.weight(name); }
  std::span<const float> optional(const std::string& name) const {
    return ck_.has(name) ? std::span<const float>(ck_.weight(name)) : std::span<const float>();
  }
  std::vector<float> linear(int rows, int in, int out, std::span<const float> x, const std::string& prefix) const {
    return golden::linear(rows, in, out, x, (*this)(prefix + ".weight"), optional(prefix + ".bias"));
  }

 private:
  const HfCheckpoint& ck_;
};

// The causal depthwise convolution (with SiLU) of a Mamba mixer over x [dim, tokens], with the
// layer's conv state: prefill runs causal_conv1d from the state's last d_conv-1 inputs, a
// decode step runs causal_conv1d_update on the whole d_conv-long state (the HF cache layout).
std::vector<float> mamba_conv(const Weights& w, const std::string& p, int dim, int width, int tokens,
                              const std::vector<float>& x, LayerCache& cache, bool decode) {
  const auto weight = w(p + "conv1d.weight");
  const auto bias = w.optional(p + "conv1d.bias");
  if (cache.conv.empty()) cache.conv.assign(sz(dim) * width, 0.0f);
  if (decode) {
    auto r = golden::causal_conv1d_update(1, dim, tokens, width, width, x, cache.conv, weight, bias,
                                          golden::Activation::silu);
    cache.conv = std::move(r.conv_state);
    return std::move(r.out);
  }
  const std::size_t s = sz(width) - 1;
  std::vector<float> initial(sz(dim) * s);
  for (std::size_t d = 0; d < sz(dim); ++d) std::copy_n(&cache.conv[d * width + 1], s, &initial[d * s]);
  auto r = golden::causal_conv1d(1, dim, tokens, width, x, weight, bias, initial, golden::Activation::silu);
  // The new state: the last `width` inputs of the old state followed by x.
  std::vector<float> window(sz(width) + tokens);
  for (std::size_t d = 0; d < sz(dim); ++d) {
    std::copy_n(&cache.conv[d * width], width, window.begin());
    std::copy_n(&x[d * tokens], tokens, &window[width]);
    std::copy_n(&window[tokens], width, &cache.conv[d * width]);
  }
  return std::move(r.out);
}

// Mamba-1 mixer (MambaMixer.slow_forward; Jamba adds RMSNorms on dt, B and C).
std::vector<float> mamba1_mixer(const HfCheckpoint& ck, const std::string& p, const std::vector<float>& x, int tokens,
                                LayerCache& cache, bool fresh) {
  const Weights w(ck);
  const MambaShape& m = ck.mamba;
  const int h = ck.hidden_size, inner = m.d_inner, n = m.d_state, rank = m.dt_rank;
  const bool decode = !fresh && tokens == 1;
  const auto proj = w.linear(tokens, h, 2 * inner, x, p + "in_proj");
  const auto z = columns(proj, tokens, 2 * inner, inner, inner);  // [T, I]
  const auto xs = transpose(columns(proj, tokens, 2 * inner, 0, inner), tokens, inner);
  const auto xc = mamba_conv(w, p, inner, m.d_conv, tokens, xs, cache, decode);  // [I, T]
  const auto xct = transpose(xc, inner, tokens);                                 // [T, I]
  const auto ssm = golden::linear(tokens, inner, rank + 2 * n, xct, w(p + "x_proj.weight"), {});
  auto ts = columns(ssm, tokens, rank + 2 * n, 0, rank);
  auto B = columns(ssm, tokens, rank + 2 * n, rank, n);
  auto C = columns(ssm, tokens, rank + 2 * n, rank + n, n);
  if (m.bcdt_norms) {
    ts = golden::rmsnorm(tokens, rank, ts, w(p + "dt_layernorm.weight"), m.bcdt_norm_eps);
    B = golden::rmsnorm(tokens, n, B, w(p + "b_layernorm.weight"), m.bcdt_norm_eps);
    C = golden::rmsnorm(tokens, n, C, w(p + "c_layernorm.weight"), m.bcdt_norm_eps);
  }
  const auto dt = golden::linear(tokens, rank, inner, ts, w(p + "dt_proj.weight"), {});  // [T, I]
  std::vector<float> A(w(p + "A_log").begin(), w(p + "A_log").end());
  for (auto& a : A) a = -std::exp(a);
  const auto D = w(p + "D");
  const auto dt_bias = w(p + "dt_proj.bias");
  if (cache.ssm.empty()) cache.ssm.assign(sz(inner) * n, 0.0f);
  std::vector<float> y(sz(tokens) * inner);
  if (fresh) {
    golden::SelectiveScanArgs a;
    a.batch = 1, a.dim = inner, a.length = tokens, a.state = n, a.groups = 1;
    a.u = xct, a.delta = dt, a.A = A, a.B = B, a.C = C, a.D = D, a.z = z, a.delta_bias = dt_bias;
    a.delta_softplus = true;
    a.token_major = true;
    auto r = golden::selective_scan(a);
    y = std::move(r.out);
    cache.ssm = std::move(r.state);
  } else {
    // Decode steps (one per token when a session continues with several tokens).
    for (std::size_t t = 0; t < sz(tokens); ++t) {
      golden::StateUpdateArgs a;
      a.batch = 1, a.dim = inner, a.state = n, a.groups = 1;
      a.state_in = cache.ssm;
      a.x = std::span<const float>(xct).subspan(t * inner, inner);
      a.dt = std::span<const float>(dt).subspan(t * inner, inner);
      a.A = A, a.B = std::span<const float>(B).subspan(t * n, n), a.C = std::span<const float>(C).subspan(t * n, n);
      a.D = D, a.z = std::span<const float>(z).subspan(t * inner, inner), a.dt_bias = dt_bias;
      a.dt_softplus = true;
      auto r = golden::selective_state_update(a);
      std::copy(r.out.begin(), r.out.end(), &y[t * inner]);
      cache.ssm = std::move(r.state);
    }
  }
  return w.linear(tokens, inner, h, y, p + "out_proj");
}

// Mamba-2 mixer (Mamba2Mixer.torch_forward and its Bamba, Granite, Falcon-H1, Nemotron-H and
// Zamba2 copies): in_proj -> [z | xBC | dt], conv on xBC, SSD, gated RMSNorm, out_proj.
std::vector<float> mamba2_mixer(const HfCheckpoint& ck, const std::string& p, std::vector<float> x, int tokens,
                                LayerCache& cache, bool fresh) {
  const Weights w(ck);
  const MambaShape& m = ck.mamba;
  const int h = ck.hidden_size, inner = m.d_inner, n = m.d_state, g = m.groups, heads = m.heads, hd = m.head_dim;
  const int conv_dim = m.conv_dim(), size = m.in_proj_size();
  const bool decode = !fresh && tokens == 1;
  scale(x, m.in_multiplier);
  auto proj = w.linear(tokens, h, size, x, p + "in_proj");
  if (!m.in_proj_multipliers.empty())
    for (std::size_t t = 0; t < sz(tokens); ++t)
      for (std::size_t j = 0; j < sz(size); ++j) proj[t * size + j] *= m.in_proj_multipliers[j];
  const auto z = columns(proj, tokens, size, 0, inner);
  const auto xbc = transpose(columns(proj, tokens, size, inner, conv_dim), tokens, conv_dim);
  const auto xbc_out = transpose(mamba_conv(w, p, conv_dim, m.d_conv, tokens, xbc, cache, decode), conv_dim, tokens);
  const auto xs = columns(xbc_out, tokens, conv_dim, 0, inner);  // [T, heads, head_dim]
  const auto B = columns(xbc_out, tokens, conv_dim, inner, g * n);
  const auto C = columns(xbc_out, tokens, conv_dim, inner + g * n, g * n);
  auto dt = columns(proj, tokens, size, inner + conv_dim, heads);  // [T, heads]
  const auto dt_bias = w(p + "dt_bias");
  for (std::size_t t = 0; t < sz(tokens); ++t)
    for (std::size_t i = 0; i < sz(heads); ++i) {
      float& v = dt[t * heads + i];
      v = std::clamp(golden::softplus(v + dt_bias[i]), m.dt_min, m.dt_max);
    }
  std::vector<float> A(w(p + "A_log").begin(), w(p + "A_log").end());
  for (auto& a : A) a = -std::exp(a);
  const auto D = w(p + "D");
  if (cache.ssm.empty()) cache.ssm.assign(sz(heads) * hd * n, 0.0f);
  std::vector<float> y;
  if (decode) {
    golden::MultiHeadStateUpdateArgs a;
    a.batch = 1, a.heads = heads, a.head_dim = hd, a.state = n, a.groups = g;
    a.state_in = cache.ssm, a.x = xs, a.dt = dt, a.A = A, a.B = B, a.C = C, a.D = D;
    auto r = golden::selective_state_update_multihead(a);
    y = std::move(r.out);
    cache.ssm = std::move(r.state);
  } else {
    golden::SsdArgs a;
    a.batch = 1, a.length = tokens, a.heads = heads, a.head_dim = hd, a.groups = g, a.state = n;
    a.x = xs, a.dt = dt, a.A = A, a.B = B, a.C = C, a.D = D;
    if (!fresh) a.initial_state = cache.ssm;
    auto r = golden::ssd_chunked(a, m.chunk_size);
    y = std::move(r.out);
    cache.ssm = std::move(r.state);
  }
  if (m.gated_norm) {
    y = golden::gated_rmsnorm(tokens, inner, m.norm_group_size, y, z, w(p + "norm.weight"), m.norm_eps,
                              m.norm_before_gate);
  } else {
    for (std::size_t i = 0; i < y.size(); ++i) y[i] *= golden::silu(z[i]);
  }
  auto out = w.linear(tokens, inner, h, y, p + "out_proj");
  scale(out, m.out_multiplier);
  return out;
}

// Mamba-3 mixer (mamba_ssm Mamba3) on the golden Mamba-3 mixer kernel with the layer's cache:
// a prefill runs the scan from the cache (zeros for a fresh sequence, as Mamba3.forward), a
// decode step runs Mamba3.step.
std::vector<float> mamba3_mixer(const HfCheckpoint& ck, const std::string& p, const std::vector<float>& x, int tokens,
                                LayerCache& cache, bool fresh) {
  const Weights w(ck);
  const MambaShape& m = ck.mamba;
  golden::Mamba3MixerArgs a;
  a.batch = 1, a.length = tokens, a.d_model = ck.hidden_size, a.heads = m.heads, a.head_dim = m.head_dim;
  a.groups = m.groups, a.state = m.d_state, a.rope_angles = m.rope_angles, a.rank = m.mimo_rank;
  a.mimo = m.mimo, a.outproj_norm = m.outproj_norm, a.decode = !fresh && tokens == 1;
  a.A_floor = m.A_floor, a.eps = m.norm_eps;
  a.u = x, a.in_proj = w(p + "in_proj.weight"), a.out_proj = w(p + "out_proj.weight");
  a.B_norm = w(p + "B_norm.weight"), a.C_norm = w(p + "C_norm.weight"), a.B_bias = w(p + "B_bias");
  a.C_bias = w(p + "C_bias"), a.D = w(p + "D"), a.dt_bias = w(p + "dt_bias");
  if (m.mimo) a.mimo_x = w(p + "mimo_x"), a.mimo_o = w(p + "mimo_o"), a.mimo_z = w(p + "mimo_z");
  if (m.outproj_norm) a.norm = w(p + "norm.weight");
  a.init_angle_state = cache.angles, a.init_ssm_state = cache.ssm, a.init_k_state = cache.k, a.init_v_state = cache.v;
  golden::Mamba3Result r = golden::mamba3_mixer(a);
  cache.angles = std::move(r.angle_state), cache.ssm = std::move(r.ssm_state);
  cache.k = std::move(r.k_state), cache.v = std::move(r.v_state);
  return std::move(r.out);
}

std::vector<float> mamba_mixer(const HfCheckpoint& ck, const std::string& p, const std::vector<float>& x, int tokens,
                               LayerCache& cache, bool fresh) {
  switch (ck.mamba.version) {
    case 1:
      return mamba1_mixer(ck, p, x, tokens, cache, fresh);
    case 3:
      return mamba3_mixer(ck, p, x, tokens, cache, fresh);
    default:
      return mamba2_mixer(ck, p, x, tokens, cache, fresh);
  }
}

// Self-attention with grouped-query heads over the layer's KV cache. `adapters` names the
// prefix of Zamba2's q/k/v adapter lists ("" = none).
std::vector<float> attention(const HfCheckpoint& ck, const std::string& p, std::vector<float> x, int tokens,
                             LayerCache& cache, int position, const std::string& adapters = "") {
  const Weights w(ck);
  const AttentionShape& a = ck.attention;
  const int in = a.input_size, q_size = a.heads * a.head_dim, kv_size = a.kv_heads * a.head_dim;
  scale(x, a.in_multiplier);
  auto q = w.linear(tokens, in, q_size, x, p + "q_proj");
  auto k = w.linear(tokens, in, kv_size, x, p + "k_proj");
  auto v = w.linear(tokens, in, kv_size, x, p + "v_proj");
  if (!adapters.empty()) {
    const int rank = ck.zamba.adapter_rank;
    for (auto [which, out] : {std::pair<const char*, std::vector<float>*>{"q", &q}, {"k", &k}, {"v", &v}}) {
      const std::string ap = fmt::format("{}linear_{}_adapter_list.{}.", p, which, adapters);
      const auto low = golden::linear(tokens, in, rank, x, w(ap + "0.weight"), {});
      add(*out, golden::linear(tokens, rank, in, low, w(ap + "1.weight"), {}));
    }
  }
  scale(k, a.key_multiplier);
  if (a.rotary_dim > 0) {
    std::vector<std::int64_t> positions(sz(tokens));
    for (int t = 0; t < tokens; ++t) positions[t] = position + t;
    golden::apply_rope(q, tokens, a.heads, a.head_dim, a.rotary_dim, a.rope_theta, positions);
    golden::apply_rope(k, tokens, a.kv_heads, a.head_dim, a.rotary_dim, a.rope_theta, positions);
  }
  if (!cache.kv) cache.kv.emplace(a.kv_heads, a.head_dim);
  cache.kv->append(tokens, k, v);
  const auto o = golden::causal_attention(q, tokens, a.heads, *cache.kv, a.scale);
  auto out = w.linear(tokens, q_size, ck.hidden_size, o, p + "o_proj");
  scale(out, a.out_multiplier);
  return out;
}

// down(act(gate(x) * gate_multiplier) * up(x)) * down_multiplier, or down(act(up(x))) for relu2.
std::vector<float> mlp(const HfCheckpoint& ck, const std::string& p, const std::vector<float>& x, int tokens, int inner,
                       bool gated) {
  const Weights w(ck);
  const FeedForwardShape& f = ck.ffn;
  const int h = ck.hidden_size;
  auto up = w.linear(tokens, h, inner, x, p + "up_proj");
  if (gated) {
    const auto gate = w.linear(tokens, h, inner, x, p + "gate_proj");
    for (std::size_t i = 0; i < up.size(); ++i) up[i] *= activate(f.activation, gate[i] * f.gate_multiplier);
  } else {
    for (auto& u : up) u = activate(f.activation, u);
  }
  auto out = w.linear(tokens, inner, h, up, p + "down_proj");
  scale(out, f.down_multiplier);
  return out;
}

// Mixture of experts: each token's routed experts, weighted. `expert(e, row)` computes one
// expert on one token [hidden].
template <typename Expert>
std::vector<float> mixture(const HfCheckpoint& ck, const std::vector<float>& x, int tokens,
                           const std::vector<float>& router_logits, std::span<const float> correction_bias,
                           Expert expert) {
  const FeedForwardShape& f = ck.ffn;
  const int h = ck.hidden_size;
  const auto routes = golden::route_topk(tokens, f.experts, f.top_k, router_logits, f.routing, f.normalize_routing,
                                         correction_bias, f.routed_scaling);
  std::vector<float> out(sz(tokens) * h, 0.0f);
  for (std::size_t t = 0; t < sz(tokens); ++t) {
    const std::vector<float> row(&x[t * h], &x[t * h] + h);
    for (std::size_t i = 0; i < routes[t].experts.size(); ++i) {
      const auto y = expert(routes[t].experts[i], row);
      for (std::size_t j = 0; j < sz(h); ++j) out[t * h + j] += routes[t].weights[i] * y[j];
    }
  }
  return out;
}

// mamba_ssm's GatedMLP: fc1 -> (value, gate), fc2(value * act(gate)).
std::vector<float> fc_mlp(const HfCheckpoint& ck, const std::string& p, const std::vector<float>& x, int tokens) {
  const Weights w(ck);
  const int h = ck.hidden_size, inner = ck.ffn.intermediate_size;
  const auto hidden = golden::linear(tokens, h, 2 * inner, x, w(p + "fc1.weight"), {});
  std::vector<float> mid(sz(tokens) * inner);
  for (std::size_t t = 0; t < sz(tokens); ++t)
    for (std::size_t i = 0; i < sz(inner); ++i)
      mid[t * inner + i] = hidden[t * 2 * inner + i] * activate(ck.ffn.activation, hidden[t * 2 * inner + inner + i]);
  return golden::linear(tokens, inner, h, mid, w(p + "fc2.weight"), {});
}

// Jamba: softmax over the router logits, top k, no renormalisation; gated SiLU experts.
std::vector<float> jamba_moe(const HfCheckpoint& ck, const std::string& p, const std::vector<float>& x, int tokens) {
  const Weights w(ck);
  const auto logits = golden::linear(tokens, ck.hidden_size, ck.ffn.experts, x, w(p + "router.weight"), {});
  return mixture(ck, x, tokens, logits, {}, [&](int e, const std::vector<float>& row) {
    return mlp(ck, fmt::format("{}experts.{}.", p, e), row, 1, ck.ffn.expert_intermediate_size, true);
  });
}

// Granite: top k router logits, softmax over those; experts [E, 2I, H] -> act(first) * second.
std::vector<float> granite_ffn(const HfCheckpoint& ck, const std::string& p, const std::vector<float>& x, int tokens) {
  const Weights w(ck);
  const FeedForwardShape& f = ck.ffn;
  const int h = ck.hidden_size;
  auto glu = [&](std::span<const float> in_w, std::span<const float> out_w, int inner, const std::vector<float>& v,
                 int rows) {
    const auto hidden = golden::linear(rows, h, 2 * inner, v, in_w, {});
    std::vector<float> mid(sz(rows) * inner);
    for (std::size_t r = 0; r < sz(rows); ++r)
      for (std::size_t i = 0; i < sz(inner); ++i)
        mid[r * inner + i] = activate(f.activation, hidden[r * 2 * inner + i]) * hidden[r * 2 * inner + inner + i];
    return golden::linear(rows, inner, h, mid, out_w, {});
  };
  std::vector<float> out(sz(tokens) * h, 0.0f);
  if (f.experts > 0) {
    const auto logits = golden::linear(tokens, h, f.experts, x, w(p + "block_sparse_moe.router.layer.weight"), {});
    const auto in_w = w(p + "block_sparse_moe.input_linear.weight");
    const auto out_w = w(p + "block_sparse_moe.output_linear.weight");
    const int inner = f.expert_intermediate_size;
    out = mixture(ck, x, tokens, logits, {}, [&](int e, const std::vector<float>& row) {
      return glu(in_w.subspan(sz(e) * 2 * inner * h, sz(2 * inner) * h),
                 out_w.subspan(sz(e) * h * inner, sz(h) * inner), inner, row, 1);
    });
  }
  add(out, glu(w(p + "shared_mlp.input_linear.weight"), w(p + "shared_mlp.output_linear.weight"),
               f.shared_intermediate_size, x, tokens));
  return out;
}

// Nemotron-H: sigmoid scores, chosen by score + e_score_correction_bias, weighted by the
// score (normalised, times routed_scaling_factor); relu² experts; plus the shared expert.
std::vector<float> nemotron_moe(const HfCheckpoint& ck, const std::string& p, const std::vector<float>& x, int tokens) {
  const Weights w(ck);
  const FeedForwardShape& f = ck.ffn;
  const auto logits = golden::linear(tokens, ck.hidden_size, f.experts, x, w(p + "gate.weight"), {});
  auto out =
      mixture(ck, x, tokens, logits, w(p + "gate.e_score_correction_bias"), [&](int e, const std::vector<float>& row) {
        return mlp(ck, fmt::format("{}experts.{}.", p, e), row, 1, f.expert_intermediate_size, false);
      });
  if (f.shared_intermediate_size > 0)
    add(out, mlp(ck, p + "shared_experts.", x, tokens, f.shared_intermediate_size, false));
  return out;
}

std::vector<float> norm(const HfCheckpoint& ck, const std::string& name, const std::vector<float>& x, int tokens,
                        int n) {
  return golden::rmsnorm(tokens, n, x, ck.weight(name), ck.norm_eps);
}

// x + y * factor
void residual(std::vector<float>& x, const std::vector<float>& y, float factor = 1.0f) {
  for (std::size_t i = 0; i < x.size(); ++i) x[i] += factor == 1.0f ? y[i] : y[i] * factor;
}

}  // namespace

struct GoldenModel::Cache {
  int position = 0;
  std::vector<LayerCache> layers;
};

GoldenModel::GoldenModel(HfCheckpoint checkpoint) : checkpoint_(std::move(checkpoint)) {}

std::vector<float> GoldenModel::run(Cache& cache, std::span<const std::int64_t> ids, Trace* trace) const {
  const HfCheckpoint& ck = checkpoint_;
  const int tokens = static_cast<int>(ids.size()), h = ck.hidden_size;
  if (tokens == 0) return {};
  const bool fresh = cache.position == 0;
  cache.layers.resize(sz(ck.num_layers));
  const auto& embedding = ck.weight(ck.embedding_name());
  std::vector<float> x(sz(tokens) * h);
  for (std::size_t t = 0; t < sz(tokens); ++t) {
    if (ids[t] < 0 || ids[t] >= ck.vocab_size)
      throw std::out_of_range(fmt::format("token id {} is outside the vocabulary of {}", ids[t], ck.vocab_size));
    std::copy_n(&embedding[sz(ids[t]) * h], h, &x[t * h]);
  }
  scale(x, ck.embedding_multiplier);
  const std::vector<float> embeddings = x;  // Zamba2's shared blocks read them
  if (trace) trace->embedding = x;

  for (int l = 0; l < ck.num_layers; ++l) {
    LayerCache& lc = cache.layers[sz(l)];
    const LayerKind kind = ck.layers[sz(l)];
    const LayerTensorNames names = ck.layer_tensor_names(l);
    const float rm = ck.residual_multiplier;
    if (kind == LayerKind::shared_attention) {
      // Zamba2: the shared transformer block on [hidden, embeddings], no residual of its
      // own, then a linear into this layer's Mamba.
      const int adapter = ck.adapter_index(l);
      const int in = ck.attention.input_size;
      std::vector<float> cat(sz(tokens) * 2 * h);
      for (std::size_t t = 0; t < sz(tokens); ++t) {
        std::copy_n(&x[t * h], h, &cat[t * 2 * h]);
        std::copy_n(&embeddings[t * h], h, &cat[t * 2 * h + h]);
      }
      const auto n = norm(ck, names.shared_norm, cat, tokens, in);
      const auto att = attention(ck, names.attention, n, tokens, lc, cache.position,
                                 ck.zamba.attention_adapters ? std::to_string(adapter) : "");
      const auto n2 = norm(ck, names.ff_norm, att, tokens, h);
      const Weights w(ck);
      const std::string& ff = names.feed_forward;
      const int inner = ck.ffn.intermediate_size, rank = ck.zamba.adapter_rank;
      auto gate_up = w.linear(tokens, h, 2 * inner, n2, ff + "gate_up_proj");
      const std::string ap = fmt::format("{}gate_up_proj_adapter_list.{}.", ff, adapter);
      const auto low = golden::linear(tokens, h, rank, n2, w(ap + "0.weight"), {});
      add(gate_up, golden::linear(tokens, rank, 2 * inner, low, w(ap + "1.weight"), {}));
      std::vector<float> mid(sz(tokens) * inner);
      for (std::size_t t = 0; t < sz(tokens); ++t)
        for (std::size_t i = 0; i < sz(inner); ++i)
          mid[t * inner + i] =
              activate(ck.ffn.activation, gate_up[t * 2 * inner + i]) * gate_up[t * 2 * inner + inner + i];
      const auto block = w.linear(tokens, inner, h, mid, ff + "down_proj");
      auto into_mamba = golden::linear(tokens, h, h, block, w(names.linear), {});
      add(into_mamba, x);
      const auto n3 = norm(ck, names.norm, into_mamba, tokens, h);
      residual(x, mamba_mixer(ck, names.mamba, n3, tokens, lc, fresh));
      if (trace) trace->layers.push_back(x);
      continue;
    }
    const auto n = norm(ck, names.norm, x, tokens, h);
    switch (kind) {
      case LayerKind::mamba:
        residual(x, mamba_mixer(ck, names.mamba, n, tokens, lc, fresh), rm);
        break;
      case LayerKind::attention:
        residual(x, attention(ck, names.attention, n, tokens, lc, cache.position), rm);
        break;
      case LayerKind::parallel_hybrid: {  // Falcon-H1: attention and Mamba side by side
        auto mixed = mamba_mixer(ck, names.mamba, n, tokens, lc, fresh);
        add(mixed, attention(ck, names.attention, n, tokens, lc, cache.position));
        residual(x, mixed, rm);
        break;
      }
      case LayerKind::mlp:  // Nemotron-H: an up/down MLP as the mixer
        residual(x, mlp(ck, names.feed_forward, n, tokens, ck.ffn.intermediate_size, false), rm);
        break;
      case LayerKind::moe:
        residual(x, nemotron_moe(ck, names.feed_forward, n, tokens), rm);
        break;
      case LayerKind::shared_attention:
        break;
    }
    if (ck.feed_forward[sz(l)] != FeedForwardKind::none) {
      const auto n2 = norm(ck, names.ff_norm, x, tokens, h);
      if (ck.feed_forward_layout() == FeedForwardLayout::stacked) {
        residual(x, granite_ffn(ck, names.feed_forward, n2, tokens), rm);
      } else if (ck.feed_forward_layout() == FeedForwardLayout::fc) {
        residual(x, fc_mlp(ck, names.feed_forward, n2, tokens), rm);
      } else if (ck.feed_forward[sz(l)] == FeedForwardKind::moe) {
        residual(x, jamba_moe(ck, names.feed_forward, n2, tokens), rm);
      } else {
        residual(x, mlp(ck, names.feed_forward, n2, tokens, ck.ffn.intermediate_size, true), rm);
      }
    }
    if (trace) trace->layers.push_back(x);
  }
  const auto normed = norm(ck, ck.final_norm_name(), x, tokens, h);
  if (trace) trace->final_norm = normed;
  auto logits = golden::linear(tokens, h, ck.vocab_size, normed, ck.weight(ck.lm_head_name()), {});
  scale(logits, ck.logits_multiplier);
  cache.position += tokens;
  return logits;
}

std::vector<float> GoldenModel::forward(int batch, int length, std::span<const std::int64_t> ids) const {
  if (batch < 0 || length < 0 || ids.size() != sz(batch) * sz(length))
    throw std::invalid_argument(fmt::format("forward: {} ids for batch {} x length {}", ids.size(), batch, length));
  std::vector<float> logits;
  logits.reserve(sz(batch) * length * vocab_size());
  for (std::size_t b = 0; b < sz(batch); ++b) {
    Cache cache;
    const auto row = run(cache, ids.subspan(b * length, length));
    logits.insert(logits.end(), row.begin(), row.end());
  }
  return logits;
}

GoldenModel::Trace GoldenModel::trace(std::span<const std::int64_t> ids) const {
  Cache cache;
  Trace trace;
  trace.logits = run(cache, ids, &trace);
  return trace;
}

GoldenModel::Session::Session(const GoldenModel& model) : model_(&model), cache_(std::make_unique<Cache>()) {}
GoldenModel::Session::Session(Session&&) noexcept = default;
GoldenModel::Session& GoldenModel::Session::operator=(Session&&) noexcept = default;
GoldenModel::Session::~Session() = default;

std::vector<float> GoldenModel::Session::prefill(std::span<const std::int64_t> ids) {
  return model_->run(*cache_, ids);
}

std::vector<float> GoldenModel::Session::step(std::int64_t id) { return model_->run(*cache_, {&id, 1}); }

int GoldenModel::Session::position() const { return cache_->position; }

GoldenModel::Session GoldenModel::start() const { return Session(*this); }

GoldenModel::Generation GoldenModel::generate(int batch, int prompt_length, std::span<const std::int64_t> prompt,
                                              int new_tokens) const {
  if (batch < 0 || prompt_length < 1 || new_tokens < 0 || prompt.size() != sz(batch) * sz(prompt_length))
    throw std::invalid_argument(
        fmt::format("generate: {} prompt ids for batch {} x length {}", prompt.size(), batch, prompt_length));
  const std::size_t vocab = sz(vocab_size());
  Generation out;
  for (std::size_t b = 0; b < sz(batch); ++b) {
    Session session = start();
    auto logits = session.prefill(prompt.subspan(b * prompt_length, prompt_length));
    std::vector<float> last(logits.end() - static_cast<std::ptrdiff_t>(vocab), logits.end());
    for (int i = 0; i < new_tokens; ++i) {
      const auto id = static_cast<std::int64_t>(std::max_element(last.begin(), last.end()) - last.begin());
      out.new_ids.push_back(id);
      out.logits.insert(out.logits.end(), last.begin(), last.end());
      if (i + 1 < new_tokens) last = session.step(id);
    }
  }
  return out;
}

}  // namespace ssmsoc
