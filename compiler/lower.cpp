#include "compiler/lower.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace ssmsoc::compiler {

std::string_view prim_name(Prim p) {
  static const char* const names[] = {"gemm", "scan", "conv1d", "vector", "attention", "copy"};
  return names[static_cast<int>(p)];
}

std::string_view scan_kernel_name(ScanKernel k) {
  static const char* const names[] = {"native-scan-unit", "native-scan-unit-state-split", "chunked-ssd-matrix",
                                      "parallel-prefix-scan", "sequential-vector-scan"};
  return names[static_cast<int>(k)];
}

int Module::tensor(const std::string& name) const {
  for (std::size_t i = 0; i < tensors.size(); ++i)
    if (tensors[i].name == name) return static_cast<int>(i);
  return -1;
}

Precision choose_precision(const Profile& profile, const std::string& requested) {
  const auto& have = profile.tile.matrix.macs_per_cycle;
  if (!requested.empty()) {
    const auto& names = precision_names();
    auto it = std::find(names.begin(), names.end(), requested);
    if (it == names.end()) throw ConfigError(fmt::format("precision: unknown precision \"{}\"", requested));
    const auto p = static_cast<Precision>(it - names.begin());
    if (!have.count(p)) throw ConfigError(fmt::format("precision: {} has no {} matrix unit", profile.name, requested));
    return p;
  }
  for (Precision p : {Precision::bf16, Precision::fp16, Precision::int8, Precision::fp32, Precision::tf32})
    if (have.count(p)) return p;
  return have.begin()->first;
}

int bits_of(Precision p) {
  static constexpr int bits[] = {4, 8, 8, 16, 16, 32, 32, 64};
  return bits[static_cast<int>(p)];
}

namespace {

class Lowerer {
 public:
  Lowerer(const Graph& g, const Phase& phase, Precision p, Precision state_storage) : g_(g), m_(g.model) {
    mod_.phase = phase;
    mod_.precision = p;
    mod_.state_storage = state_storage;
    rows_ = std::int64_t(phase.tokens) * phase.sessions;
    pbits_ = bits_of(p);
    abits_ = p == Precision::bf16 || p == Precision::fp16 ? 16 : 32;
  }

  Module run() {
    const int h = m_.hidden_size;
    int x = -1, embed = -1;
    for (const Node& n : g_.nodes) {
      prefix_ = n.name + ".";
      layer_ = n.layer;
      if (mod_.phase.logits_only && n.kind != NodeKind::norm && n.kind != NodeKind::lm_head) continue;
      if (mod_.phase.logits_only && n.kind == NodeKind::norm && n.name != "final_norm") continue;
      if (mod_.phase.logits_only && x < 0) {
        prefix_ = "";
        x = add_tensor(TensorDef{"final_hidden", TensorKind::state, mod_.phase.sessions, h, 32});
        prefix_ = n.name + ".";
      }
      switch (n.kind) {
        case NodeKind::embedding: {
          int e = -1;
          if (mod_.phase.host_embeddings) {
            e = add_tensor(TensorDef{"input_embeddings", TensorKind::state, rows_, h, 32});
          } else {
            const int table = weight("embedding", m_.vocab_size, h, pbits_);
            e = act("embed.rows", rows_, h, pbits_);
            copy("embed.gather", View{table, 0, h}, View{e, 0, h}, rows_, 0);
          }
          x = act("embed.out", rows_, h);
          vec("embed.convert", SSM_VEC_CONVERT, {V(e)}, {V(x)}, rows_, h);
          embed = x;
          break;
        }
        case NodeKind::norm: {
          // A norm feeds a GEMM: its output is converted to the matrix precision.
          const bool last = n.name == "final_norm";
          if (last && !mod_.phase.logits && !mod_.phase.all_logits) {
            // Keep each session's last hidden state for the logits Program.
            prefix_ = "";
            const int kept = add_tensor(TensorDef{"final_hidden", TensorKind::state, mod_.phase.sessions, h, 32});
            for (int s = 0; s < mod_.phase.sessions; ++s) {
              PrimOp& c = op(Prim::copy, fmt::format("keep_last.{}", s));
              c.in = {V(x)};
              c.out = {V(kept)};
              c.rows = 1;
              c.src_row0 = std::int64_t(s + 1) * mod_.phase.tokens - 1;
              c.dst_row0 = s;
            }
            return finish();
          }
          const std::int64_t r = last && !mod_.phase.all_logits ? mod_.phase.sessions : rows_;
          int input = x;
          if (n.shared && !pending_.empty()) {  // Zamba2 pre_ff_layernorm: on the attention output
            input = pending_.back();
            pending_.pop_back();
          } else if (norm_input_ >= 0) {  // Zamba2: the Mamba norm reads x + the block's linear
            input = norm_input_;
            norm_input_ = -1;
          }
          if (n.width != h) {  // Zamba2 shared block: [hidden, embeddings]
            input = act("cat", r, n.width);
            copy("cat.hidden", V(x), View{input, 0, h}, r, 0);
            copy("cat.embed", V(embed), View{input, h, h}, r, 0);
          }
          const int w = weight("weight", 1, n.width, 32);
          norm_out_ = act("out", r, n.width, pbits_);
          vec("rmsnorm", SSM_VEC_RMSNORM, {View{input, 0, n.width}, V(w)}, {V(norm_out_)}, r, n.width, m_.norm_eps);
          if (n.name.find("mlp_norm") != std::string::npos) mlp_in_ = norm_out_;
          break;
        }
        case NodeKind::mamba1:
          pending_.push_back(mamba1(norm_out_));
          break;
        case NodeKind::mamba2:
          pending_.push_back(mamba2(norm_out_));
          break;
        case NodeKind::attention:
          pending_.push_back(attention(norm_out_, n.width, n.shared && m_.zamba.attention_adapters));
          break;
        case NodeKind::mlp:
          pending_.push_back(n.shared ? mlp(norm_out_, m_.ffn.intermediate_size, true, "", true)
                                      : mlp(m_.parallel_residual && mlp_in_ >= 0 ? mlp_in_ : norm_out_,
                                            m_.ffn.intermediate_size, m_.gated_mlp, ""));
          break;
        case NodeKind::moe:
          pending_.push_back(moe(norm_out_));
          break;
        case NodeKind::linear: {
          // Zamba2: the shared block's output (its MLP's, which read the attention's) through
          // this layer's linear, added to x for the Mamba norm only: the residual stays x.
          const int in = act("in", rows_, h, pbits_);
          vec("convert", SSM_VEC_CONVERT, {V(pending_.back())}, {V(in)}, rows_, h);
          pending_.clear();
          const int out = act("out", rows_, h);
          gemm("linear", V(in), weight("weight", h, h, pbits_), V(out), rows_, h, h);
          norm_input_ = act("x", rows_, h);
          vec("add", SSM_VEC_ADD, {V(x), V(out)}, {V(norm_input_)}, rows_, h);
          break;
        }
        case NodeKind::add: {
          for (int p : pending_) {
            const int nx = act(fmt::format("x{}", p), rows_, h);
            vec(fmt::format("add{}", p), SSM_VEC_ADD, {V(x), V(p)}, {V(nx)}, rows_, h);
            x = nx;
          }
          pending_.clear();
          if (n.name.find("residual_mlp") != std::string::npos) mlp_in_ = -1;
          break;
        }
        case NodeKind::lm_head: {
          int w = -1;
          if (m_.tie_word_embeddings) {
            prefix_ = "embedding.";
            w = weight("embedding", m_.vocab_size, h, pbits_);
            prefix_ = n.name + ".";
          } else {
            w = weight("weight", m_.vocab_size, h, pbits_);
          }
          const std::int64_t r = mod_.phase.all_logits ? rows_ : mod_.phase.sessions;
          const int logits = act("logits", r, m_.vocab_size);
          gemm("gemm", V(norm_out_), w, V(logits), r, m_.vocab_size, h);
          break;
        }
      }
    }
    return finish();
  }

 private:
  Module finish() { return std::move(mod_); }
  View V(int t) const { return View{t, 0, mod_.tensors[t].cols}; }

  int add_tensor(TensorDef t) {
    mod_.tensors.push_back(std::move(t));
    return static_cast<int>(mod_.tensors.size()) - 1;
  }
  int act(const std::string& name, std::int64_t rows, std::int64_t cols, int bits = 32) {
    return add_tensor(TensorDef{prefix_ + name, TensorKind::activation, rows, cols, bits});
  }
  int weight(const std::string& name, std::int64_t rows, std::int64_t cols, int bits) {
    // Zamba2's shared blocks are stored once each: their weights are named by the block
    // ("shared0.attention.qkv_proj"), not the layer.
    std::string full = prefix_ + name;
    if (const auto at = prefix_.find(".shared."); at != std::string::npos)
      full = fmt::format("shared{}{}{}", shared_block(layer_), prefix_.substr(at + 7), name);
    return weight_named(full, rows, cols, bits);
  }
  // A weight of this layer alone (Zamba2's adapters of a shared block).
  int layer_weight(const std::string& name, std::int64_t rows, std::int64_t cols, int bits) {
    return weight_named(prefix_ + name, rows, cols, bits);
  }
  int weight_named(const std::string& full, std::int64_t rows, std::int64_t cols, int bits) {
    const int existing = mod_.tensor(full);
    if (existing >= 0) return existing;
    return add_tensor(TensorDef{full, TensorKind::weight, rows, cols, bits});
  }
  // Zamba2: hybrid layer j runs shared block j % num_mem_blocks.
  int shared_block(int layer) const {
    const auto& ids = m_.zamba.hybrid_layer_ids;
    const auto j = std::find(ids.begin(), ids.end(), layer) - ids.begin();
    return static_cast<int>(j % std::max(1, m_.zamba.num_mem_blocks));
  }
  // `base` (rows x cols) plus a low-rank adapter: base + (xn · downᵀ) · upᵀ, as Zamba2 adds its
  // per-layer LoRA-style adapters to the shared block's projections. Returns the sum.
  int adapter(const std::string& tag, int xn, std::int64_t in_cols, std::int64_t rank, int base, std::int64_t cols) {
    const int low = act(tag + "adapter_low", rows_, rank, abits_);
    gemm(tag + "adapter_down", V(xn), layer_weight(tag + "adapter_down", rank, in_cols, pbits_), V(low), rows_, rank,
         in_cols);
    const int low_p = act(tag + "adapter_low_p", rows_, rank, pbits_);
    vec(tag + "adapter_convert", SSM_VEC_CONVERT, {V(low)}, {V(low_p)}, rows_, rank);
    const int delta = act(tag + "adapter_out", rows_, cols, abits_);
    gemm(tag + "adapter_up", V(low_p), layer_weight(tag + "adapter_up", cols, rank, pbits_), V(delta), rows_, cols,
         rank);
    const int sum = act(tag + "adapted", rows_, cols, mod_.tensors[base].bits);
    vec(tag + "adapter_add", SSM_VEC_ADD, {V(base), V(delta)}, {V(sum)}, rows_, cols);
    return sum;
  }
  int state(const std::string& name, std::int64_t rows, std::int64_t cols, int bits = 32) {
    return add_tensor(TensorDef{prefix_ + name, TensorKind::state, rows * mod_.phase.sessions, cols, bits});
  }
  PrimOp& op(Prim kind, const std::string& name) {
    PrimOp o;
    o.kind = kind;
    o.name = prefix_ + name;
    o.layer = layer_;
    o.sessions = mod_.phase.sessions;
    o.length = mod_.phase.tokens;
    o.precision = mod_.precision;
    mod_.ops.push_back(std::move(o));
    return mod_.ops.back();
  }
  void gemm(const std::string& name, View a, int w, View c, std::int64_t m, std::int64_t n, std::int64_t k,
            std::int64_t w_row0 = 0, int repeat = 1) {
    PrimOp& o = op(Prim::gemm, name);
    o.in = {a, V(w)};
    o.out = {c};
    o.m = m, o.n = n, o.k = k, o.w_row0 = w_row0, o.repeat = repeat;
  }
  void vec(const std::string& name, ssm_vector_function f, std::vector<View> in, std::vector<View> out,
           std::int64_t rows, std::int64_t cols, float param0 = 0, std::uint32_t param1 = 0, std::uint8_t flags = 0) {
    PrimOp& o = op(Prim::vector, name);
    o.function = f;
    o.in = std::move(in);
    o.out = std::move(out);
    o.rows = rows, o.cols = cols, o.param0 = param0, o.param1 = param1, o.flags = flags;
  }
  void copy(const std::string& name, View src, View dst, std::int64_t rows, std::int64_t dst_row0) {
    PrimOp& o = op(Prim::copy, name);
    o.in = {src};
    o.out = {dst};
    o.rows = rows;
    o.dst_row0 = dst_row0;
  }

  // t + bias (a weight row) on every row, into a new tensor: the bias is copied to each row
  // (the DMA repeats a one-row source), then added on the vector unit. Mamba's in_proj and
  // out_proj biases (use_bias); their values are the checkpoint's, scaled as the weights.
  int add_bias(const std::string& name, int t, std::int64_t cols) {
    const int rows = act(name + "_rows", rows_, cols);
    copy(name + "_broadcast", V(weight(name, 1, cols, 32)), V(rows), rows_, 0);
    const int out = act(name + "_out", rows_, cols, mod_.tensors[t].bits);
    vec(name, SSM_VEC_ADD, {V(t), V(rows)}, {V(out)}, rows_, cols);
    return out;
  }

  int mamba1(int xn) {
    const MambaShape& s = m_.mamba;
    const std::int64_t h = m_.hidden_size, i = s.d_inner, n = s.d_state, r = s.dt_rank;
    int xz = act("xz", rows_, 2 * i, abits_);
    gemm("in_proj", V(xn), weight("in_proj", 2 * i, h, pbits_), V(xz), rows_, 2 * i, h);
    if (s.proj_bias) xz = add_bias("in_proj_bias", xz, 2 * i);
    // The conv's output feeds the scan and x_proj: one tensor where activations are in the
    // matrix precision, else a float32 one and a copy in the matrix precision.
    const int xc = act("xc", rows_, i, abits_);
    const int xc_p = abits_ == pbits_ ? xc : act("xc_p", rows_, i, pbits_);
    conv(View{xz, 0, i}, xc, xc_p == xc ? -1 : xc_p, i);
    const int dbc = act("dbc", rows_, r + 2 * n, abits_);
    gemm("x_proj", V(xc_p), weight("x_proj", r + 2 * n, i, pbits_), V(dbc), rows_, r + 2 * n, i);
    // dt's low-rank rows feed dt_proj: in the matrix precision already where the block's
    // activations are, else converted.
    const bool dt_low_in_dbc = !s.bcdt_norms && abits_ == pbits_;
    const int dtl = dt_low_in_dbc ? -1 : act("dt_low", rows_, r, pbits_);
    if (s.bcdt_norms) {
      vec("dt_norm", SSM_VEC_RMSNORM, {View{dbc, 0, r}, V(weight("dt_norm", 1, r, 32))}, {V(dtl)}, rows_, r,
          s.bcdt_norm_eps);
      vec("b_norm", SSM_VEC_RMSNORM, {View{dbc, r, n}, V(weight("b_norm", 1, n, 32))}, {View{dbc, r, n}}, rows_, n,
          s.bcdt_norm_eps);
      vec("c_norm", SSM_VEC_RMSNORM, {View{dbc, r + n, n}, V(weight("c_norm", 1, n, 32))}, {View{dbc, r + n, n}}, rows_,
          n, s.bcdt_norm_eps);
    } else if (!dt_low_in_dbc) {
      vec("dt_convert", SSM_VEC_CONVERT, {View{dbc, 0, r}}, {V(dtl)}, rows_, r);
    }
    const View dt_low = dt_low_in_dbc ? View{dbc, 0, r} : V(dtl);
    const int dt = act("dt", rows_, i, abits_);
    gemm("dt_proj", dt_low, weight("dt_proj", i, r, pbits_), V(dt), rows_, i, r);
    // The scan's output leaves the tile already in the matrix precision (the codegen converts
    // it in SRAM): out_proj is its only reader.
    const int y_p = act("y_p", rows_, i, pbits_);
    PrimOp& sc = op(Prim::scan, "scan");
    sc.version = 1;
    sc.channels = i, sc.head_dim = 1, sc.state = n, sc.groups = 1;
    sc.softplus = sc.gate = sc.skip = true;
    sc.in = {V(xc),
             V(dt),
             V(weight("A", i, n, 32)),
             View{dbc, r, n},
             View{dbc, r + n, n},
             V(weight("D", 1, i, 32)),
             View{xz, i, i},
             V(weight("dt_bias", 1, i, 32)),
             V(state("ssm_state", i, n, bits_of(mod_.state_storage)))};
    sc.out = {V(y_p)};
    const int out = act("out", rows_, h);
    gemm("out_proj", V(y_p), weight("out_proj", h, i, pbits_), V(out), rows_, h, i);
    return s.out_proj_bias ? add_bias("out_proj_bias", out, h) : out;
  }

  void conv(View x, int out, int out_p, std::int64_t channels) {
    const MambaShape& s = m_.mamba;
    PrimOp& c = op(Prim::conv1d, "conv1d");
    c.channels = channels;
    c.width = s.d_conv;
    c.in = {x, V(weight("conv1d", channels, s.d_conv, 32)), V(weight("conv1d_bias", 1, channels, 32)),
            V(state("conv_state", channels, s.d_conv))};
    // A second output in the matrix precision (Mamba-1's x_proj input) is converted in SRAM
    // and stored beside the float32 one (the scan's input).
    c.out = {V(out)};
    if (out_p >= 0) c.out.push_back(V(out_p));
  }

  int mamba2(int xn) {
    const MambaShape& s = m_.mamba;
    const std::int64_t h = m_.hidden_size, i = s.d_inner, n = s.d_state, g = s.groups, cd = s.conv_dim();
    const std::int64_t in_size = s.in_proj_size();
    int zxbcdt = act("zxbcdt", rows_, in_size, abits_);
    gemm("in_proj", V(xn), weight("in_proj", in_size, h, pbits_), V(zxbcdt), rows_, in_size, h);
    if (s.proj_bias) zxbcdt = add_bias("in_proj_bias", zxbcdt, in_size);
    const int xbc = act("xbc", rows_, cd, abits_);
    conv(View{zxbcdt, i, cd}, xbc, -1, cd);
    const int y = act("y", rows_, i, abits_);
    PrimOp& sc = op(Prim::scan, "scan");
    sc.version = 2;
    sc.channels = s.heads, sc.head_dim = s.head_dim, sc.state = n, sc.groups = g;
    sc.softplus = sc.skip = true;
    sc.gate = false;  // the gate is in the gated RMSNorm below
    sc.chunk = s.chunk_size > 0 ? s.chunk_size : 256;
    sc.in = {View{xbc, 0, i},
             View{zxbcdt, i + cd, s.heads},
             V(weight("A", 1, s.heads, 32)),
             View{xbc, i, g * n},
             View{xbc, i + g * n, g * n},
             V(weight("D", 1, s.heads, 32)),
             View{-1, 0, 0},
             V(weight("dt_bias", 1, s.heads, 32)),
             V(state("ssm_state", s.heads * s.head_dim, n, bits_of(mod_.state_storage)))};
    sc.out = {V(y)};
    const int y_p = act("y_p", rows_, i, pbits_);
    if (s.gated_norm) {
      vec("gated_norm", SSM_VEC_GATED_RMSNORM, {V(y), View{zxbcdt, 0, i}, V(weight("norm", 1, i, 32))}, {V(y_p)}, rows_,
          i, s.norm_eps, static_cast<std::uint32_t>(s.norm_group_size),
          s.norm_before_gate ? SSM_VEC_NORM_BEFORE_GATE : 0);
    } else {
      const int zs = act("z_silu", rows_, i, abits_);
      vec("z_silu", SSM_VEC_SILU, {View{zxbcdt, 0, i}}, {V(zs)}, rows_, i);
      vec("gate", SSM_VEC_MUL, {V(y), V(zs)}, {V(y_p)}, rows_, i);
    }
    const int out = act("out", rows_, h);
    gemm("out_proj", V(y_p), weight("out_proj", h, i, pbits_), V(out), rows_, h, i);
    return s.out_proj_bias ? add_bias("out_proj_bias", out, h) : out;
  }

  int attention(int xn, int width, bool adapters = false) {
    const AttentionShape& a = m_.attention;
    const std::int64_t q = std::int64_t(a.heads) * a.head_dim, kv = std::int64_t(a.kv_heads) * a.head_dim;
    int qkv = act("qkv", rows_, q + 2 * kv, abits_);
    gemm("qkv_proj", V(xn), weight("qkv_proj", q + 2 * kv, width, pbits_), V(qkv), rows_, q + 2 * kv, width);
    // q, k and v adapters as one: down [3r, width], up block-diagonal [q + 2kv, 3r].
    if (adapters) qkv = adapter("", xn, width, 3 * std::int64_t(m_.zamba.adapter_rank), qkv, q + 2 * kv);
    const int qk_p = act("qk_p", rows_, q + kv, pbits_);
    if (a.rotary_dim > 0) {
      vec("rope", SSM_VEC_ROPE, {View{qkv, 0, q + kv}}, {V(qk_p)}, rows_, q + kv, a.rope_theta,
          static_cast<std::uint32_t>(mod_.phase.context));
      mod_.ops.back().param2 = static_cast<std::uint32_t>(a.head_dim) | static_cast<std::uint32_t>(a.rotary_dim) << 16;
    } else {
      vec("qk_convert", SSM_VEC_CONVERT, {View{qkv, 0, q + kv}}, {V(qk_p)}, rows_, q + kv);
    }
    const int v_p = act("v_p", rows_, kv, pbits_);
    vec("v_convert", SSM_VEC_CONVERT, {View{qkv, q + kv, kv}}, {V(v_p)}, rows_, kv);
    const std::int64_t cache_rows = mod_.phase.max_context;
    const int kc = state("k_cache", cache_rows, kv, pbits_);
    const int vc = state("v_cache", cache_rows, kv, pbits_);
    copy("k_append", View{qk_p, q, kv}, V(kc), rows_, mod_.phase.context);
    copy("v_append", V(v_p), V(vc), rows_, mod_.phase.context);
    const int o = act("o", rows_, q, pbits_);
    PrimOp& at = op(Prim::attention, "core");
    at.heads = a.heads, at.kv_heads = a.kv_heads, at.head_dim = a.head_dim;
    at.context = mod_.phase.context;
    at.param0 = a.scale;
    at.in = {View{qk_p, 0, q}, V(kc), V(vc)};
    at.out = {V(o)};
    const int out = act("out", rows_, m_.hidden_size);
    gemm("o_proj", V(o), weight("o_proj", m_.hidden_size, q, pbits_), V(out), rows_, m_.hidden_size, q);
    return out;
  }

  int mlp(int xn, std::int64_t inner, bool gated, const std::string& tag, bool adapters = false) {
    const std::int64_t h = m_.hidden_size;
    int up = act(tag + "up", rows_, gated ? 2 * inner : inner, abits_);
    gemm(tag + "up_proj", V(xn), weight(tag + "up_proj", gated ? 2 * inner : inner, h, pbits_), V(up), rows_,
         gated ? 2 * inner : inner, h);
    if (adapters) up = adapter(tag, xn, h, m_.zamba.adapter_rank, up, gated ? 2 * inner : inner);
    const int hidden = act(tag + "hidden", rows_, inner, pbits_);
    activation(tag, View{up, 0, inner}, gated ? View{up, inner, inner} : View{}, hidden, rows_, inner);
    const int out = act(tag + "out", rows_, h);
    gemm(tag + "down_proj", V(hidden), weight(tag + "down_proj", h, inner, pbits_), V(out), rows_, h, inner);
    return out;
  }

  // act(a) [* b] -> out (matrix precision).
  void activation(const std::string& tag, View a, View b, int out, std::int64_t rows, std::int64_t cols) {
    const ssm_vector_function f = m_.ffn.activation == Activation::silu   ? SSM_VEC_SILU
                                  : m_.ffn.activation == Activation::gelu ? SSM_VEC_GELU
                                                                          : SSM_VEC_RELU;
    const int t = act(tag + "act", rows, cols, abits_);
    vec(tag + "act", f, {a}, {V(t)}, rows, cols);
    if (b.tensor >= 0) {
      vec(tag + "gate", SSM_VEC_MUL, {V(t), b}, {V(out)}, rows, cols);
    } else if (m_.ffn.activation == Activation::relu2) {
      vec(tag + "square", SSM_VEC_MUL, {V(t), V(t)}, {V(out)}, rows, cols);
    } else {
      vec(tag + "convert", SSM_VEC_CONVERT, {V(t)}, {V(out)}, rows, cols);
    }
  }

  int moe(int xn) {
    const FeedForwardShape& f = m_.ffn;
    const std::int64_t h = m_.hidden_size, e = f.experts, k = f.top_k, fe = f.expert_intermediate_size;
    const int logits = act("router_logits", rows_, e);
    gemm("router", V(xn), weight("router", e, h, pbits_), V(logits), rows_, e, h);
    if (mod_.phase.functional) return moe_dense(xn, logits);
    const int idx = act("topk", rows_, k);
    vec("topk", SSM_VEC_TOPK, {V(logits)}, {V(idx)}, rows_, e, 0, static_cast<std::uint32_t>(k));
    // Balanced routing: rows*k assignments over min(E, rows*k) experts. Which experts run is
    // data-dependent; the runtime rebinds the expert slices (same shapes, same traffic).
    const std::int64_t assignments = rows_ * k;
    const std::int64_t active = std::min<std::int64_t>(e, assignments);
    const std::int64_t per_expert = (assignments + active - 1) / active;
    const bool gated = m_.ffn.gated_experts;
    const int gathered = act("gathered", active * per_expert, h, pbits_);
    copy("gather", V(xn), V(gathered), active * per_expert, 0);
    const std::int64_t up_rows = gated ? 2 * fe : fe;
    const int up = act("expert_up", active * per_expert, up_rows, abits_);
    gemm("expert_up", V(gathered), weight("experts_up", e * up_rows, h, pbits_), V(up), per_expert, up_rows, h, 0,
         static_cast<int>(active));
    const int hidden = act("expert_hidden", active * per_expert, fe, pbits_);
    activation("expert_", View{up, 0, fe}, gated ? View{up, fe, fe} : View{}, hidden, active * per_expert, fe);
    const int down = act("expert_out", active * per_expert, h);
    gemm("expert_down", V(hidden), weight("experts_down", e * h, fe, pbits_), V(down), per_expert, h, fe, 0,
         static_cast<int>(active));
    // Weighted sum of each token's k expert outputs: k passes over the tokens, each adding one
    // expert's weighted output (which rows of expert_out is data-dependent; each pass reads
    // as many as it adds).
    const int out = act("out", rows_, h);
    for (std::int64_t pass = 0; pass < k; ++pass)
      vec(k > 1 ? fmt::format("combine{}", pass) : "combine", SSM_VEC_FMA,
          {View{down, 0, h}, View{down, 0, h}, pass == 0 ? View{down, 0, h} : V(out)}, {V(out)}, rows_, h);
    if (f.shared_intermediate_size > 0) {
      const int shared = mlp(xn, f.shared_intermediate_size, gated, "shared_");
      const int sum = act("sum", rows_, h);
      vec("shared_add", SSM_VEC_ADD, {V(out), V(shared)}, {V(sum)}, rows_, h);
      return sum;
    }
    return out;
  }

  // Functional MoE: every expert runs on every token; its output is weighted by the token's
  // routing weight (0 when the expert is not among the token's top k) and summed. Exact, E/k
  // times the expert work. Routing weights: Jamba, softmax over the experts then top k (not
  // renormalised); Granite, softmax over the top k logits (the top k of the softmax over all
  // experts, renormalised over the k); Nemotron-H, sigmoid scores chosen by score + correction
  // bias (TOPK_BIAS), renormalised over the k, times routed_scaling.
  int moe_dense(int xn, int logits) {
    const FeedForwardShape& f = m_.ffn;
    const std::int64_t h = m_.hidden_size, e = f.experts, k = f.top_k, fe = f.expert_intermediate_size;
    const auto kk = static_cast<std::uint32_t>(k);
    int weights = act("routing_weights", rows_, e);
    if (f.routing == Routing::sigmoid_topk) {
      const int scores = act("router_scores", rows_, e);
      vec("router_sigmoid", SSM_VEC_SIGMOID, {V(logits)}, {V(scores)}, rows_, e);
      const int bias = weight("router_bias", 1, e, 32);
      vec("topk", SSM_VEC_TOPK, {V(scores), V(bias)}, {V(weights)}, rows_, e, 0, kk,
          SSM_VEC_TOPK_MASK | SSM_VEC_TOPK_BIAS);
    } else {
      const int probs = act("router_probs", rows_, e);
      vec("router_softmax", SSM_VEC_SOFTMAX, {V(logits)}, {V(probs)}, rows_, e);
      vec("topk", SSM_VEC_TOPK, {V(probs)}, {V(weights)}, rows_, e, 0, kk, SSM_VEC_TOPK_MASK);
    }
    if (f.normalize_routing || f.routing == Routing::topk_softmax) {
      const int total = act("routing_total", rows_, 1);
      vec("routing_sum", SSM_VEC_REDUCE_SUM, {V(weights)}, {V(total)}, rows_, e);
      const int inv = act("routing_inv", rows_, 1);
      vec("routing_recip", SSM_VEC_RECIP, {V(total)}, {V(inv)}, rows_, 1);
      const int normed = act("routing_normed", rows_, e);
      vec("routing_norm", SSM_VEC_MUL, {V(weights), V(inv)}, {V(normed)}, rows_, e, 0, 0, SSM_VEC_ROW_B);
      weights = normed;
    }
    if (f.routed_scaling != 1.0f) {
      const int scaled = act("routing_scaled", rows_, e);
      vec("routing_scale", SSM_VEC_SCALE, {V(weights)}, {V(scaled)}, rows_, e, f.routed_scaling);
      weights = scaled;
    }
    const bool gated = m_.ffn.gated_experts;
    const std::int64_t up_rows = gated ? 2 * fe : fe;
    const int up_w = weight("experts_up", e * up_rows, h, pbits_);
    const int down_w = weight("experts_down", e * h, fe, pbits_);
    int acc = -1;
    for (std::int64_t x = 0; x < e; ++x) {
      const std::string tag = fmt::format("expert{}_", x);
      const int up = act(tag + "up", rows_, up_rows);
      gemm(tag + "up", V(xn), up_w, V(up), rows_, up_rows, h, x * up_rows);
      const int hidden = act(tag + "hidden", rows_, fe, pbits_);
      activation(tag, View{up, 0, fe}, gated ? View{up, fe, fe} : View{}, hidden, rows_, fe);
      const int down = act(tag + "out", rows_, h);
      gemm(tag + "down", V(hidden), down_w, V(down), rows_, h, fe, x * h);
      const int next = act(tag + "sum", rows_, h);
      if (acc < 0)
        vec(tag + "weight", SSM_VEC_MUL, {V(down), View{weights, x, 1}}, {V(next)}, rows_, h, 0, 0, SSM_VEC_ROW_B);
      else
        vec(tag + "combine", SSM_VEC_FMA, {V(down), View{weights, x, 1}, V(acc)}, {V(next)}, rows_, h, 0, 0,
            SSM_VEC_ROW_B);
      acc = next;
    }
    if (f.shared_intermediate_size > 0) {
      const int shared = mlp(xn, f.shared_intermediate_size, gated, "shared_");
      const int sum = act("sum", rows_, h);
      vec("shared_add", SSM_VEC_ADD, {V(acc), V(shared)}, {V(sum)}, rows_, h);
      return sum;
    }
    return acc;
  }

  const Graph& g_;
  const ModelSpec& m_;
  Module mod_;
  std::int64_t rows_ = 0;
  int pbits_ = 16;
  // Bits of an activation passed between the ops of a block (a mixer's, an MLP's): the
  // matrix precision where it is a 16-bit float, as a bf16 inference stack keeps them (the DMA
  // converts to and from the engines' float32; arch/spec/isa.h SSM_DMA_WIDEN / NARROW); else
  // float32. The residual stream, states, logits and routing stay float32.
  int abits_ = 32;
  std::string prefix_;
  int layer_ = -1;
  int norm_out_ = -1, mlp_in_ = -1;
  int norm_input_ = -1;       // Zamba2: what the next norm reads instead of x
  std::vector<int> pending_;  // mixer outputs waiting for their residual add
};

}  // namespace

Module lower_graph(const Graph& graph, const Phase& phase, Precision precision, Precision state_storage) {
  return Lowerer(graph, phase, precision, state_storage).run();
}

namespace {

// Per tensor of a module: the op that writes it (-1: none, -2: more than one) and how many op
// inputs read it.
struct Uses {
  std::vector<int> writer, readers;
  explicit Uses(const Module& mod) : writer(mod.tensors.size(), -1), readers(mod.tensors.size(), 0) {
    for (std::size_t i = 0; i < mod.ops.size(); ++i) {
      for (const View& v : mod.ops[i].in)
        if (v.tensor >= 0) ++readers[static_cast<std::size_t>(v.tensor)];
      for (const View& v : mod.ops[i].out)
        if (v.tensor >= 0) {
          int& w = writer[static_cast<std::size_t>(v.tensor)];
          w = w == -1 ? static_cast<int>(i) : -2;
        }
    }
  }
};

bool whole(const Module& mod, const View& v) {
  return v.tensor >= 0 && v.col0 == 0 &&
         (v.cols == 0 || v.cols == mod.tensors[static_cast<std::size_t>(v.tensor)].cols);
}

// Removes the ops marked in `drop`; returns how many.
int drop_ops(Module& mod, const std::vector<bool>& drop) {
  std::vector<PrimOp> kept;
  for (std::size_t i = 0; i < mod.ops.size(); ++i)
    if (!drop[i]) kept.push_back(std::move(mod.ops[i]));
  const int dropped = static_cast<int>(mod.ops.size() - kept.size());
  mod.ops = std::move(kept);
  return dropped;
}

}  // namespace

int fuse_residual_adds(Module& mod) {
  Uses uses(mod);
  std::vector<int>&writer = uses.writer, &readers = uses.readers;
  auto whole = [&](const View& v) { return compiler::whole(mod, v); };
  std::vector<bool> drop(mod.ops.size(), false);
  for (std::size_t i = 0; i < mod.ops.size(); ++i) {
    const PrimOp& add = mod.ops[i];
    if (add.kind != Prim::vector || add.function != SSM_VEC_ADD || add.in.size() != 2 || add.flags) continue;
    for (int side = 0; side < 2; ++side) {
      const View& product = add.in[static_cast<std::size_t>(side)];
      const View& residual = add.in[static_cast<std::size_t>(1 - side)];
      if (!whole(product) || !whole(residual) || !whole(add.out[0]) || product.tensor == residual.tensor) continue;
      const auto pt = static_cast<std::size_t>(product.tensor), rt = static_cast<std::size_t>(residual.tensor);
      const int g = writer[pt];
      if (g < 0 || readers[pt] != 1 || writer[rt] == -2) continue;
      PrimOp& gemm = mod.ops[static_cast<std::size_t>(g)];
      const TensorDef &p = mod.tensors[pt], &r = mod.tensors[rt], &o = mod.tensors[add.out[0].tensor];
      if (gemm.kind != Prim::gemm || gemm.repeat != 1 || gemm.in.size() != 2 || gemm.out[0].tensor != product.tensor)
        continue;
      if (p.bits != 32 || r.bits != 32 || o.bits != 32 || r.rows != gemm.m || r.cols != gemm.n || o.rows != gemm.m ||
          o.cols != gemm.n || add.rows != gemm.m || add.cols != gemm.n)
        continue;
      // R must exist when the GEMM runs: written before it, or not written in the module at all.
      if (writer[rt] >= g) continue;
      gemm.in.push_back(residual);
      gemm.out[0] = add.out[0];
      writer[static_cast<std::size_t>(add.out[0].tensor)] = g;
      drop[i] = true;
      break;
    }
  }
  return drop_ops(mod, drop);
}

int fuse_dt_projections(Module& mod) {
  const Uses uses(mod);
  std::vector<bool> drop(mod.ops.size(), false);
  for (PrimOp& scan : mod.ops) {
    if (scan.kind != Prim::scan || scan.version != 1 || scan.dt_rank > 0 ||
        (scan.kernel != ScanKernel::native && scan.kernel != ScanKernel::native_split) || scan.in.size() != 9)
      continue;
    const View& dt = scan.in[1];
    const auto t = static_cast<std::size_t>(dt.tensor);
    if (!whole(mod, dt) || uses.readers[t] != 1 || uses.writer[t] < 0) continue;
    const auto g = static_cast<std::size_t>(uses.writer[t]);
    const PrimOp& proj = mod.ops[g];
    if (proj.kind != Prim::gemm || proj.repeat != 1 || proj.in.size() != 2 || proj.n != scan.channels ||
        proj.m != std::int64_t(scan.sessions) * scan.length || proj.in[0].tensor < 0)
      continue;
    scan.in[1] = proj.in[0];
    scan.in.push_back(proj.in[1]);
    scan.dt_rank = proj.k;
    scan.precision = proj.precision;
    drop[g] = true;
  }
  return drop_ops(mod, drop);
}

namespace {

std::string_view vector_name(ssm_vector_function f) {
  static const char* const basic[] = {"add",   "mul",        "fma",        "max",    "relu",     "exp",
                                      "log",   "sigmoid",    "silu",       "gelu",   "softplus", "rsqrt",
                                      "recip", "reduce_sum", "reduce_max", "convert"};
  static const char* const composite[] = {"rmsnorm", "gated_rmsnorm", "softmax", "topk", "rope", "scale"};
  if (f <= SSM_VEC_CONVERT) return basic[f];
  if (f >= SSM_VEC_RMSNORM && f <= SSM_VEC_SCALE) return composite[f - SSM_VEC_RMSNORM];
  return "?";
}

}  // namespace

std::string dump_module(const Module& mod) {
  std::string out = fmt::format("# {}: {} tokens x {} sessions, context {}, {} ops, {} tensors, {}\n", mod.phase.name,
                                mod.phase.tokens, mod.phase.sessions, mod.phase.context, mod.ops.size(),
                                mod.tensors.size(), name_of(mod.precision));
  auto view = [&](const View& v) {
    if (v.tensor < 0) return std::string("-");
    const TensorDef& t = mod.tensors[v.tensor];
    if (v.col0 == 0 && (v.cols == 0 || v.cols == t.cols)) return t.name;
    return fmt::format("{}[:,{}:{}]", t.name, v.col0, v.col0 + v.cols);
  };
  for (const PrimOp& o : mod.ops) {
    std::string what;
    switch (o.kind) {
      case Prim::gemm:
        what = fmt::format("m={} n={} k={}{} {}{}", o.m, o.n, o.k, o.repeat > 1 ? fmt::format(" x{}", o.repeat) : "",
                           name_of(o.precision), o.in.size() > 2 ? " +residual" : "");
        break;
      case Prim::vector:
        what = fmt::format("{} {}x{}", vector_name(o.function), o.rows, o.cols);
        break;
      case Prim::conv1d:
        what = fmt::format("channels={} width={} L={} sessions={}", o.channels, o.width, o.length, o.sessions);
        break;
      case Prim::scan:
        what = fmt::format("mamba{} channels={} head_dim={} N={} groups={} L={} sessions={} kernel={}{}", o.version,
                           o.channels, o.head_dim, o.state, o.groups, o.length, o.sessions, scan_kernel_name(o.kernel),
                           o.dt_rank > 0 ? fmt::format(" +dt_proj k={}", o.dt_rank) : "");
        break;
      case Prim::attention:
        what = fmt::format("heads={} kv_heads={} head_dim={} q={} kv={} sessions={}: gemm q.kT, softmax, gemm p.v",
                           o.heads, o.kv_heads, o.head_dim, o.length, o.context + o.length, o.sessions);
        break;
      case Prim::copy:
        what = fmt::format("rows={} dst_row0={}", o.rows, o.dst_row0);
        break;
    }
    std::string ins, outs;
    for (const View& v : o.in) ins += (ins.empty() ? "" : ", ") + view(v);
    for (const View& v : o.out) outs += (outs.empty() ? "" : ", ") + view(v);
    out += fmt::format("{:<9} {:<34} {} ({}) -> ({})\n", prim_name(o.kind), o.name, what, ins, outs);
  }
  return out;
}

}  // namespace ssmsoc::compiler
