#include "sim/functional.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "arch/golden/fixed_scan.hpp"
#include "arch/golden/kernels.hpp"
#include "arch/numerics/numerics.hpp"

namespace ssmsoc::sim {

namespace {

std::size_t sz(std::uint64_t v) { return static_cast<std::size_t>(v); }

bool has(ssm_ref r) { return r.buffer != SSM_NO_BUFFER; }

// [rows, cols] -> [cols, rows]
std::vector<float> transpose(const std::vector<float>& x, int rows, int cols) {
  std::vector<float> out(x.size());
  for (std::size_t r = 0; r < sz(rows); ++r)
    for (std::size_t c = 0; c < sz(cols); ++c) out[c * sz(rows) + r] = x[r * sz(cols) + c];
  return out;
}

// Bytes per element of a GEMM precision modelled in functional mode (0: not modelled).
unsigned element_bytes(unsigned precision) {
  switch (precision) {
    case SSM_INT8:
      return 1;
    case SSM_FP16:
    case SSM_BF16:
      return 2;
    case SSM_TF32:
    case SSM_FP32:
      return 4;
  }
  return 0;
}

float decode(const std::byte* p, unsigned precision) {
  switch (precision) {
    case SSM_INT8:
      return static_cast<float>(static_cast<std::int8_t>(*p));
    case SSM_FP16:
    case SSM_BF16: {
      std::uint16_t bits;
      std::memcpy(&bits, p, 2);
      return numerics::from_float_bits(bits, precision == SSM_FP16 ? NumberType::fp16 : NumberType::bf16);
    }
    default: {
      float f;
      std::memcpy(&f, p, 4);
      if (precision == SSM_TF32) f = std::bit_cast<float>(std::bit_cast<std::uint32_t>(f) & 0xFFFFE000u);
      return f;
    }
  }
}

std::int64_t state_raw(float x, const NumberFormat& format) {
  return numerics::is_fixed(format) ? numerics::quantize(x, numerics::fixed_format(format))
                                    : numerics::float_bits(x, format.type);
}

}  // namespace

std::vector<float> Functional::load(ssm_ref ref, std::uint64_t count) const {
  std::vector<float> out(sz(count));
  if (!has(ref) || count == 0) return out;
  const ProgramBuffer& b = program_.buffers[ref.buffer];
  memories_.of(b).read(b.address + ref.offset, out.data(), count * 4);
  return out;
}

void Functional::store(ssm_ref ref, std::span<const float> values) {
  const ProgramBuffer& b = program_.buffers[ref.buffer];
  memories_.of(b).write(b.address + ref.offset, values.data(), values.size() * 4);
}

std::string Functional::unsupported(const ssm_command& c) {
  if (c.head.opcode == SSM_OP_GEMM && element_bytes(c.head.variant) == 0)
    return fmt::format("functional mode does not model GEMM precision {}",
                       name_of(static_cast<Precision>(c.head.variant)));
  if (c.head.opcode != SSM_OP_VECTOR) return "";
  const ssm_vector& v = c.vector;
  switch (v.head.variant) {
    case SSM_VEC_CONVERT:
      if (v.param1 != SSM_FP32 && v.param1 != SSM_BF16 && v.param1 != SSM_FP16)
        return fmt::format("functional mode does not model convert to precision {}", v.param1);
      break;
    case SSM_VEC_TOPK:
      if (!(v.head.flags & SSM_VEC_TOPK_MASK))
        return "functional mode models top-k as a mask only (flag TOPK_MASK), not indices";
      if (v.param1 < 1 || v.param1 > v.cols) return fmt::format("topk: k = {} of {} columns", v.param1, v.cols);
      break;
    case SSM_VEC_ROPE: {
      const std::uint32_t hd = (v.param2 & 0xFFFFu) != 0 ? v.param2 & 0xFFFFu : v.cols;
      if (hd == 0 || v.cols % hd != 0) return fmt::format("rope: {} columns are not whole heads of {}", v.cols, hd);
      break;
    }
  }
  return "";
}

void Functional::execute(int, const ssm_command& c) {
  if (const std::string why = unsupported(c); !why.empty()) throw std::runtime_error(why);
  switch (c.head.opcode) {
    case SSM_OP_DMA:
      return dma(c.dma);
    case SSM_OP_GEMM:
      return gemm(c.gemm);
    case SSM_OP_SCAN:
      return scan(c.scan);
    case SSM_OP_CONV1D:
      return conv1d(c.conv1d);
    case SSM_OP_VECTOR:
      return vector(c.vector);
  }
}

void Functional::dma(const ssm_dma& d) {
  const ProgramBuffer& src = program_.buffers[d.src.buffer];
  const ProgramBuffer& dst = program_.buffers[d.dst.buffer];
  std::vector<std::byte> row(d.row_bytes), converted(dma_dst_row_bytes(d));
  const NumberType format = d.head.variant == SSM_FP16 ? NumberType::fp16 : NumberType::bf16;
  const bool fp8 = d.head.variant == SSM_FP8;
  const std::size_t narrow = fp8 ? 1 : 2;  // bytes of a narrow value
  // A row as the destination holds it: narrow floats widened to float32, or float32 rounded.
  auto convert = [&]() -> const std::vector<std::byte>& {
    if (d.head.flags & SSM_DMA_WIDEN) {
      for (std::size_t i = 0; i < row.size() / narrow; ++i) {
        std::uint16_t bits = 0;
        std::memcpy(&bits, &row[narrow * i], narrow);  // little-endian: an fp8 byte is the low byte
        const float value = fp8 ? numerics::from_fp8_e4m3_bits(static_cast<std::uint8_t>(bits))
                                : numerics::from_float_bits(bits, format);
        std::memcpy(&converted[4 * i], &value, 4);
      }
      return converted;
    }
    if (d.head.flags & SSM_DMA_NARROW) {
      for (std::size_t i = 0; i < row.size() / 4; ++i) {
        float value;
        std::memcpy(&value, &row[4 * i], 4);
        const auto bits = fp8 ? std::uint16_t{numerics::fp8_e4m3_bits(value)}
                              : static_cast<std::uint16_t>(numerics::float_bits(value, format));
        std::memcpy(&converted[narrow * i], &bits, narrow);
      }
      return converted;
    }
    return row;
  };
  std::vector<MemoryImage*> targets;
  if (d.head.flags & SSM_DMA_BROADCAST) {
    const std::uint64_t mask = (std::uint64_t{d.tile_mask_high} << 32) | d.tile_mask_low;
    for (int t = 0; t < std::min(profile_.tile_count, 64); ++t)
      if (mask >> t & 1) targets.push_back(&memories_.at(SSM_MEM_TILE_SRAM, t));
  } else {
    targets.push_back(&memories_.of(dst));
  }
  for (std::uint64_t r = 0; r < d.rows; ++r) {
    memories_.of(src).read(src.address + d.src.offset + r * d.src_stride, row.data(), row.size());
    const std::vector<std::byte>& out = convert();
    for (MemoryImage* t : targets) t->write(dst.address + d.dst.offset + r * d.dst_stride, out.data(), out.size());
  }
}

std::vector<float> Functional::load_matrix(ssm_ref ref, std::uint64_t rows, std::uint64_t cols, std::uint64_t ld,
                                           unsigned precision) const {
  const unsigned eb = element_bytes(precision);  // modelled (unsupported() checked it)
  const ProgramBuffer& b = program_.buffers[ref.buffer];
  std::vector<std::byte> raw(sz(cols * eb));
  std::vector<float> out(sz(rows * cols));
  for (std::uint64_t r = 0; r < rows; ++r) {
    memories_.of(b).read(b.address + ref.offset + r * ld * eb, raw.data(), raw.size());
    for (std::uint64_t c = 0; c < cols; ++c) out[sz(r * cols + c)] = decode(&raw[sz(c * eb)], precision);
  }
  return out;
}

void Functional::gemm(const ssm_gemm& g) {
  const unsigned p = g.head.variant;
  const bool tb = g.head.flags & SSM_GEMM_TRANSPOSE_B;
  const auto a = load_matrix(g.a, g.m, g.k, g.lda, p);
  const auto b = tb ? load_matrix(g.b, g.n, g.k, g.ldb, p) : load_matrix(g.b, g.k, g.n, g.ldb, p);
  const ProgramBuffer& cb = program_.buffers[g.c.buffer];
  std::vector<float> row(g.n);
  for (std::uint64_t i = 0; i < g.m; ++i) {
    const std::uint64_t at = cb.address + g.c.offset + i * g.ldc * 4;
    if (g.head.flags & SSM_GEMM_ACCUMULATE)
      memories_.of(cb).read(at, row.data(), row.size() * 4);
    else
      std::fill(row.begin(), row.end(), 0.0f);
    for (std::uint64_t j = 0; j < g.n; ++j) {
      float acc = 0;  // float32 accumulation, k in order
      for (std::uint64_t q = 0; q < g.k; ++q)
        acc += a[sz(i * g.k + q)] * (tb ? b[sz(j * g.k + q)] : b[sz(q * g.n + j)]);
      row[sz(j)] += acc;
    }
    memories_.of(cb).write(at, row.data(), row.size() * 4);
  }
}

void Functional::scan(const ssm_scan& s) {
  const ScanUnit& unit = profile_.tile.scan;
  const int h = static_cast<int>(s.channels), n = static_cast<int>(s.state), g = static_cast<int>(s.groups);
  const bool mamba2 = ssm_scan_is_mamba2(s.head.variant);
  const int p = mamba2 ? static_cast<int>(s.head_dim) : 1;
  const bool update = ssm_scan_is_update(s.head.variant);
  const int l = update ? 1 : static_cast<int>(s.length);
  const bool softplus = s.head.flags & SSM_SCAN_SOFTPLUS;
  const bool load_state = s.head.flags & SSM_SCAN_LOAD_STATE;
  const std::uint64_t hp = std::uint64_t(h) * p;
  const auto x = load(s.x, std::uint64_t(l) * hp);
  auto dt = load(s.dt, std::uint64_t(l) * h);
  const auto a = load(s.a, mamba2 ? std::uint64_t(h) : std::uint64_t(h) * n);
  const auto b = load(s.b, std::uint64_t(l) * g * n);
  const auto c = load(s.c, std::uint64_t(l) * g * n);
  const auto d = has(s.d) ? load(s.d, h) : std::vector<float>();
  const auto z = has(s.z) ? load(s.z, std::uint64_t(l) * hp) : std::vector<float>();
  const auto bias = has(s.dt_bias) ? load(s.dt_bias, h) : std::vector<float>();
  std::vector<float> state = load_state ? load(s.state_ref, hp * n) : std::vector<float>(sz(hp * n), 0.0f);
  std::vector<std::int64_t> raw;
  if (load_state) {
    raw.reserve(state.size());
    for (float v : state) raw.push_back(state_raw(v, unit.state_format));
  }
  golden::ScanResult result;
  switch (s.head.variant) {
    case SSM_SCAN_SELECTIVE: {
      // The bit-accurate kernel takes the channel-major layout: u, delta, z [dim, length];
      // B, C [groups, state, length]; out [dim, length].
      const auto xt = transpose(x, l, h), dtt = transpose(dt, l, h), zt = z.empty() ? z : transpose(z, l, h);
      const auto bt = transpose(b, l, g * n), ct = transpose(c, l, g * n);
      golden::SelectiveScanArgs args;
      args.batch = 1, args.dim = h, args.length = l, args.state = n, args.groups = g;
      args.u = xt, args.delta = dtt, args.A = a, args.B = bt, args.C = ct, args.D = d, args.z = zt;
      args.delta_bias = bias;
      args.delta_softplus = softplus;
      result = fixed::selective_scan(args, unit, raw).result;
      result.out = transpose(result.out, h, l);
      break;
    }
    case SSM_SCAN_STATE_UPDATE: {
      golden::StateUpdateArgs args;
      args.batch = 1, args.dim = h, args.state = n, args.groups = g;
      args.state_in = state, args.x = x, args.dt = dt, args.A = a, args.B = b, args.C = c, args.D = d, args.z = z;
      args.dt_bias = bias, args.dt_softplus = softplus;
      result = fixed::selective_state_update(args, unit).result;
      break;
    }
    case SSM_SCAN_MULTIHEAD_UPDATE: {
      golden::MultiHeadStateUpdateArgs args;
      args.batch = 1, args.heads = h, args.head_dim = p, args.state = n, args.groups = g;
      args.state_in = state, args.x = x, args.dt = dt, args.A = a, args.B = b, args.C = c, args.D = d, args.z = z;
      args.dt_bias = bias, args.dt_softplus = softplus;
      result = fixed::selective_state_update_multihead(args, unit).result;
      break;
    }
    case SSM_SCAN_SSD: {
      // The SSD kernel takes dt after softplus: the vector unit's float32 softplus(dt + bias).
      if (softplus)
        for (std::size_t i = 0; i < dt.size(); ++i)
          dt[i] = golden::softplus(dt[i] + (bias.empty() ? 0.0f : bias[i % sz(h)]));
      golden::SsdArgs args;
      args.batch = 1, args.length = l, args.heads = h, args.head_dim = p, args.groups = g, args.state = n;
      args.x = x, args.dt = dt, args.A = a, args.B = b, args.C = c, args.D = d;
      result = fixed::ssd_sequential(args, unit, raw).result;
      if (!z.empty())  // the gate on the vector unit, float32
        for (std::size_t i = 0; i < result.out.size(); ++i) result.out[i] *= golden::silu(z[i]);
      break;
    }
  }
  store(s.out, result.out);
  if (s.head.flags & SSM_SCAN_STORE_STATE) store(s.state_ref, result.state);
}

void Functional::conv1d(const ssm_conv1d& c) {
  const int ch = static_cast<int>(c.channels), l = static_cast<int>(c.length), w = static_cast<int>(c.width),
            sl = static_cast<int>(c.state_len);
  const auto act = (c.head.flags & SSM_CONV_SILU) ? golden::Activation::silu : golden::Activation::none;
  const auto x_tm = load(c.x, std::uint64_t(l) * ch);  // [length, channels]
  std::vector<float> x(x_tm.size());                   // [channels, length]
  for (std::size_t t = 0; t < sz(l); ++t)
    for (std::size_t k = 0; k < sz(ch); ++k) x[k * l + t] = x_tm[t * ch + k];
  const auto weight = load(c.weight, std::uint64_t(ch) * w);
  const auto bias = has(c.bias) ? load(c.bias, ch) : std::vector<float>();
  const bool uses_state = c.head.flags & (SSM_CONV_UPDATE | SSM_CONV_LOAD_STATE);
  const auto state = uses_state ? load(c.state_ref, std::uint64_t(ch) * sl) : std::vector<float>(sz(ch) * sl, 0.0f);
  golden::ConvResult r;
  if (c.head.flags & SSM_CONV_UPDATE) {
    r = golden::causal_conv1d_update(1, ch, l, w, sl, x, state, weight, bias, act);
  } else {
    std::vector<float> initial(sz(ch) * (w - 1), 0.0f);  // the last width-1 inputs of the state
    const int take = std::min(sl, w - 1);
    for (std::size_t k = 0; k < sz(ch); ++k)
      for (int i = 0; i < take; ++i) initial[k * (w - 1) + (w - 1 - take + i)] = state[k * sl + (sl - take + i)];
    r = golden::causal_conv1d(1, ch, l, w, x, weight, bias, initial, act);
    // The new state: the last state_len inputs of (old state, x).
    r.conv_state.assign(sz(ch) * sl, 0.0f);
    for (std::size_t k = 0; k < sz(ch); ++k) {
      std::vector<float> window(state.begin() + static_cast<std::ptrdiff_t>(k * sl),
                                state.begin() + static_cast<std::ptrdiff_t>((k + 1) * sl));
      window.insert(window.end(), x.begin() + static_cast<std::ptrdiff_t>(k * l),
                    x.begin() + static_cast<std::ptrdiff_t>((k + 1) * l));
      std::copy(window.end() - sl, window.end(), r.conv_state.begin() + static_cast<std::ptrdiff_t>(k * sl));
    }
  }
  std::vector<float> out(r.out.size());
  for (std::size_t t = 0; t < sz(l); ++t)
    for (std::size_t k = 0; k < sz(ch); ++k) out[t * ch + k] = r.out[k * l + t];
  store(c.out, out);
  if (c.head.flags & (SSM_CONV_UPDATE | SSM_CONV_STORE_STATE)) store(c.state_ref, r.conv_state);
}

void Functional::vector(const ssm_vector& v) {
  const unsigned f = v.head.variant;
  const std::uint64_t rows = v.rows, cols = v.cols, all = rows * cols;
  const float p0 = std::bit_cast<float>(v.param0);
  const auto a = load(v.a, all);
  std::vector<float> out;
  auto unary = [&](auto op) {
    out.resize(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) out[i] = op(a[i]);
  };
  // ROW_B (MUL, FMA): b holds one value per row.
  const bool row_b = (v.head.flags & SSM_VEC_ROW_B) && (f == SSM_VEC_MUL || f == SSM_VEC_FMA);
  auto b_at = [&](const std::vector<float>& b, std::size_t i) { return row_b ? b[i / sz(cols)] : b[i]; };
  auto binary = [&](auto op) {
    const auto b = load(v.b, row_b ? rows : all);
    out.resize(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) out[i] = op(a[i], b_at(b, i));
  };
  auto reduce = [&](auto op, float init) {
    out.assign(sz(rows), init);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) out[r] = op(out[r], a[r * cols + c]);
  };
  switch (f) {
    case SSM_VEC_ADD:
      binary([](float x, float y) { return x + y; });
      break;
    case SSM_VEC_MUL:
      binary([](float x, float y) { return x * y; });
      break;
    case SSM_VEC_FMA: {
      const auto b = load(v.b, row_b ? rows : all), c = load(v.c, all);
      out.resize(a.size());
      for (std::size_t i = 0; i < a.size(); ++i) out[i] = a[i] * b_at(b, i) + c[i];
      break;
    }
    case SSM_VEC_MAX:
      binary([](float x, float y) { return std::max(x, y); });
      break;
    case SSM_VEC_RELU:
      unary([](float x) { return std::max(x, 0.0f); });
      break;
    case SSM_VEC_EXP:
      unary([](float x) { return std::exp(x); });
      break;
    case SSM_VEC_LOG:
      unary([](float x) { return std::log(x); });
      break;
    case SSM_VEC_SIGMOID:
      unary([](float x) { return 1.0f / (1.0f + std::exp(-x)); });
      break;
    case SSM_VEC_SILU:
      unary([](float x) { return golden::silu(x); });
      break;
    case SSM_VEC_GELU:
      unary([](float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); });
      break;
    case SSM_VEC_SOFTPLUS:
      unary([](float x) { return golden::softplus(x); });
      break;
    case SSM_VEC_RSQRT:
      unary([](float x) { return 1.0f / std::sqrt(x); });
      break;
    case SSM_VEC_RECIP:
      unary([](float x) { return 1.0f / x; });
      break;
    case SSM_VEC_REDUCE_SUM:
      reduce([](float s, float x) { return s + x; }, 0.0f);
      break;
    case SSM_VEC_REDUCE_MAX:
      reduce([](float s, float x) { return std::max(s, x); }, -std::numeric_limits<float>::infinity());
      break;
    case SSM_VEC_CONVERT: {
      // param1: the target enum ssm_precision (fp32, bf16, fp16), packed (2 bytes for 16-bit).
      const unsigned to = v.param1;
      if (to == SSM_FP32) {
        out = a;
        break;
      }
      std::vector<std::uint16_t> packed(a.size());
      const NumberType type = to == SSM_BF16 ? NumberType::bf16 : NumberType::fp16;
      for (std::size_t i = 0; i < a.size(); ++i)
        packed[i] = static_cast<std::uint16_t>(numerics::float_bits(a[i], type));
      const ProgramBuffer& ob = program_.buffers[v.out.buffer];
      memories_.of(ob).write(ob.address + v.out.offset, packed.data(), packed.size() * 2);
      return;
    }
    case SSM_VEC_RMSNORM:
      out = golden::rmsnorm(static_cast<int>(rows), static_cast<int>(cols), a, load(v.b, cols), p0);
      break;
    case SSM_VEC_GATED_RMSNORM:
      out = golden::gated_rmsnorm(static_cast<int>(rows), static_cast<int>(cols), static_cast<int>(v.param1), a,
                                  load(v.b, all), load(v.c, cols), p0, v.head.flags & SSM_VEC_NORM_BEFORE_GATE);
      break;
    case SSM_VEC_SOFTMAX: {
      out.resize(a.size());
      for (std::size_t r = 0; r < rows; ++r) {
        const std::size_t limit =
            (v.head.flags & SSM_VEC_CAUSAL) ? std::min<std::size_t>(cols, r + v.param1 + 1) : sz(cols);
        const float scale = p0 != 0.0f ? p0 : 1.0f;  // the scores' scale (attention)
        float m = -std::numeric_limits<float>::infinity(), sum = 0;
        for (std::size_t c = 0; c < limit; ++c) m = std::max(m, a[r * cols + c] * scale);
        for (std::size_t c = 0; c < cols; ++c) {
          out[r * cols + c] = c < limit ? std::exp(a[r * cols + c] * scale - m) : 0.0f;
          sum += out[r * cols + c];
        }
        for (std::size_t c = 0; c < cols; ++c) out[r * cols + c] /= sum;
      }
      break;
    }
    case SSM_VEC_SCALE:
      unary([p0](float x) { return x * p0; });
      break;
    case SSM_VEC_TOPK: {
      // Modelled with TOPK_MASK only: each row keeps its param1 largest entries (ties to the
      // lowest column, as a stable descending sort), the others become 0.
      // TOPK_BIAS: ranked by a + b (b per column), a's values kept.
      std::vector<float> bias(sz(cols), 0.0f);
      if (v.head.flags & SSM_VEC_TOPK_BIAS) bias = load(v.b, cols);
      auto key = [&](std::size_t r, std::size_t c) { return a[r * cols + c] + bias[c]; };
      out.assign(a.size(), 0.0f);
      std::vector<bool> taken(sz(cols));
      for (std::size_t r = 0; r < rows; ++r) {
        std::fill(taken.begin(), taken.end(), false);
        for (std::uint32_t k = 0; k < v.param1; ++k) {
          std::size_t best = sz(cols);
          for (std::size_t c = 0; c < cols; ++c)
            if (!taken[c] && (best == sz(cols) || key(r, c) > key(r, best))) best = c;
          taken[best] = true;
          out[r * cols + best] = a[r * cols + best];
        }
      }
      break;
    }
    case SSM_VEC_ROPE: {
      // param2: head_dim | rotary_dim << 16 (0: one head of all columns, fully rotated).
      const std::uint32_t hd = (v.param2 & 0xFFFFu) != 0 ? v.param2 & 0xFFFFu : static_cast<std::uint32_t>(cols);
      const std::uint32_t rot = (v.param2 >> 16) != 0 ? v.param2 >> 16 : hd;
      out = a;
      std::vector<std::int64_t> positions(sz(rows));
      for (std::size_t r = 0; r < sz(rows); ++r) positions[r] = std::int64_t(v.param1) + std::int64_t(r);
      golden::apply_rope(out, static_cast<int>(rows), static_cast<int>(cols / hd), static_cast<int>(hd),
                         static_cast<int>(rot), p0, positions);
      break;
    }
    default:
      throw std::runtime_error(fmt::format("functional mode does not model vector function {}", f));
  }
  store(v.out, out);
}

}  // namespace ssmsoc::sim
