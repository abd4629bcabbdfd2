#include "arch/numerics/numerics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace ssmsoc::numerics {

float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }
float silu(float x) { return x / (1.0f + std::exp(-x)); }

namespace {

std::uint32_t shift_right_round_even(std::uint32_t value, int shift) {
  const std::uint32_t kept = value >> shift;
  const std::uint32_t dropped = value & ((1u << shift) - 1);
  const std::uint32_t half = 1u << (shift - 1);
  return kept + ((dropped > half || (dropped == half && (kept & 1))) ? 1 : 0);
}

}  // namespace

std::uint16_t f32_to_f16(float value) {
  const auto bits = std::bit_cast<std::uint32_t>(value);
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000);
  const std::uint32_t magnitude = bits & 0x7fffffff;
  auto half = [&](std::uint32_t rest) { return static_cast<std::uint16_t>(sign | rest); };
  if (magnitude > 0x7f800000) return half(0x7e00 | ((magnitude >> 13) & 0x3ff));  // NaN, made quiet
  if (magnitude >= 0x477ff000) return half(0x7c00);                               // 65520 and more round to infinity
  // Normal halves: rebias the exponent from 127 to 15; a carry out of the rounded mantissa
  // correctly moves on to the next exponent.
  if (magnitude >= 0x38800000) return half(shift_right_round_even(magnitude - (112u << 23), 13));
  // Subnormal halves count units of 2^-24; below 2^-25 everything rounds to zero, and 2^-25
  // itself is a tie that goes to the even zero.
  const int exponent = static_cast<int>(magnitude >> 23);
  if (exponent < 102) return half(0);
  return half(shift_right_round_even((magnitude & 0x7fffff) | 0x800000, 126 - exponent));
}

std::uint16_t f32_to_bf16(float value) {
  const auto bits = std::bit_cast<std::uint32_t>(value);
  // Rounding could carry a NaN's payload into infinity: keep it a (quiet) NaN instead.
  if ((bits & 0x7fffffff) > 0x7f800000) return static_cast<std::uint16_t>((bits >> 16) | 0x0040);
  return static_cast<std::uint16_t>(shift_right_round_even(bits, 16));
}

float f16_to_f32(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1f;
  const std::uint32_t mantissa = bits & 0x3ff;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000 | (mantissa << 13));
  if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
  const float subnormal = static_cast<float>(mantissa) * 0x1p-24f;
  return sign != 0 ? -subnormal : subnormal;
}

float bf16_to_f32(std::uint16_t bits) { return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16); }

namespace {

constexpr double kLn2 = 0.69314718055994530942;
constexpr double kLog2e = 1.44269504088896340736;

Wide pow2(int bits) { return Wide(1) << bits; }

}  // namespace

std::int64_t FixedFormat::max_raw() const { return static_cast<std::int64_t>(pow2(int_bits + frac_bits) - 1); }
std::int64_t FixedFormat::min_raw() const { return static_cast<std::int64_t>(-pow2(int_bits + frac_bits)); }
double FixedFormat::lsb() const { return std::ldexp(1.0, -frac_bits); }
double FixedFormat::max_value() const { return to_double(max_raw(), *this); }
double FixedFormat::min_value() const { return to_double(min_raw(), *this); }

bool is_fixed(const NumberFormat& format) { return format.type == NumberType::fixed; }

FixedFormat fixed_format(const NumberFormat& format) {
  if (!is_fixed(format))
    throw std::invalid_argument(fmt::format("number format {} is not a fixed-point format", name_of(format.type)));
  if (format.int_bits < 0 || format.frac_bits < 0 || format.total_bits() > 64)
    throw std::invalid_argument(
        fmt::format("fixed-point format with {} integer and {} fraction bits is not 2..64 bits wide", format.int_bits,
                    format.frac_bits));
  return FixedFormat{format.int_bits, format.frac_bits};
}

Wide shift_round(Wide x, int shift) {
  if (shift <= 0) return x * pow2(-shift);
  if (shift > 126) return 0;
  const Wide q = x >> shift;  // floor
  const Wide rem = x - q * pow2(shift);
  const Wide half = pow2(shift - 1);
  if (rem > half || (rem == half && (q & 1) != 0)) return q + 1;
  return q;
}

std::int64_t saturate(Wide x, FixedFormat format) {
  if (x > format.max_raw()) return format.max_raw();
  if (x < format.min_raw()) return format.min_raw();
  return static_cast<std::int64_t>(x);
}

namespace {

// x * 2^-shift rounded to nearest even and saturated to `out`; a left shift (shift < 0)
// saturates first so that it cannot overflow.
std::int64_t rescale(Wide x, int shift, FixedFormat out) {
  if (shift < 0) {
    if (x > out.max_raw() || x < out.min_raw()) return saturate(x, out);
    return saturate(x * pow2(-shift), out);
  }
  return saturate(shift_round(x, shift), out);
}

}  // namespace

std::int64_t quantize(double x, FixedFormat format) {
  if (std::isnan(x)) throw std::invalid_argument("quantize: NaN has no fixed-point value");
  const double r = std::nearbyint(std::ldexp(x, format.frac_bits));  // the default mode: ties to even
  const double limit = std::ldexp(1.0, format.int_bits + format.frac_bits);
  if (r >= limit) return format.max_raw();
  if (r < -limit) return format.min_raw();
  return static_cast<std::int64_t>(r);
}

double to_double(std::int64_t raw, FixedFormat format) {
  return std::ldexp(static_cast<double>(raw), -format.frac_bits);
}

std::int64_t convert(std::int64_t raw, FixedFormat from, FixedFormat to) {
  return rescale(raw, from.frac_bits - to.frac_bits, to);
}

std::int64_t add(std::int64_t a, std::int64_t b, FixedFormat format) { return saturate(Wide(a) + b, format); }

std::int64_t multiply(std::int64_t a, FixedFormat fa, std::int64_t b, FixedFormat fb, FixedFormat out) {
  return rescale(Wide(a) * b, fa.frac_bits + fb.frac_bits - out.frac_bits, out);
}

float round_to(float x, NumberType type) {
  switch (type) {
    case NumberType::fp32:
      return x;
    case NumberType::bf16:
      return bf16_to_f32(f32_to_bf16(x));
    case NumberType::fp16:
      return f16_to_f32(f32_to_f16(x));
    case NumberType::fixed:
      break;
  }
  throw std::invalid_argument("round_to: fixed is not a float format");
}

std::int64_t float_bits(float x, NumberType type) {
  switch (type) {
    case NumberType::fp32:
      return std::bit_cast<std::uint32_t>(x);
    case NumberType::bf16:
      return f32_to_bf16(x);
    case NumberType::fp16:
      return f32_to_f16(x);
    case NumberType::fixed:
      break;
  }
  throw std::invalid_argument("float_bits: fixed is not a float format");
}

float from_float_bits(std::int64_t bits, NumberType type) {
  switch (type) {
    case NumberType::fp32:
      return std::bit_cast<float>(static_cast<std::uint32_t>(bits));
    case NumberType::bf16:
      return bf16_to_f32(static_cast<std::uint16_t>(bits));
    case NumberType::fp16:
      return f16_to_f32(static_cast<std::uint16_t>(bits));
    case NumberType::fixed:
      break;
  }
  throw std::invalid_argument("from_float_bits: fixed is not a float format");
}

float from_fp8_e4m3_bits(std::uint8_t bits) {
  const float sign = bits & 0x80 ? -1.0f : 1.0f;
  const int exponent = (bits >> 3) & 0xF, mantissa = bits & 0x7;
  if (exponent == 0xF && mantissa == 0x7) return std::numeric_limits<float>::quiet_NaN();
  if (exponent == 0) return sign * std::ldexp(float(mantissa), -9);  // subnormal: m / 8 * 2^-6
  return sign * std::ldexp(float(8 + mantissa), exponent - 10);      // (1 + m / 8) * 2^(e - 7)
}

std::uint8_t fp8_e4m3_bits(float x) {
  if (std::isnan(x)) return 0x7F;
  const std::uint8_t sign = std::signbit(x) ? 0x80 : 0;
  const float a = std::fabs(x);
  if (a >= 448.0f) return sign | 0x7E;  // saturate (also infinities)
  // The spacing of e4m3 values around a: 2^(e - 3) for normals (e >= -6), 2^-9 below.
  int e = 0;
  std::frexp(a, &e);  // a = f * 2^e, f in [0.5, 1): the unbiased exponent is e - 1
  const int quantum_exp = std::max(e - 1, -6) - 3;
  const float scaled = std::ldexp(a, -quantum_exp);  // a in units of the spacing, exact
  const float rounded = std::nearbyint(scaled);      // ties to even (the default rounding mode)
  const float value = std::ldexp(rounded, quantum_exp);
  if (value >= 448.0f) return sign | 0x7E;
  if (value == 0) return sign;
  int ve = 0;
  std::frexp(value, &ve);
  if (ve - 1 < -6) return sign | static_cast<std::uint8_t>(std::lround(std::ldexp(value, 9)));  // subnormal
  const int biased = ve - 1 + 7;
  const int mantissa = static_cast<int>(std::lround(std::ldexp(value, -(ve - 1)) * 8)) - 8;
  return sign | static_cast<std::uint8_t>(biased << 3 | mantissa);
}

// ---------------------------------------------------------------------------------------

std::string_view function_name(Function function) {
  switch (function) {
    case Function::exp:
      return "exp";
    case Function::softplus:
      return "softplus";
    case Function::silu:
      return "silu";
  }
  return "?";
}

double exact(Function function, double x) {
  switch (function) {
    case Function::exp:
      return std::exp(x);
    case Function::softplus:
      return x > 20.0 ? x : std::log1p(std::exp(x));
    case Function::silu:
      return x / (1.0 + std::exp(-x));
  }
  return 0;
}

namespace {

// Error outside the domain [-R, 0] (exp) or [-R, R] (softplus, silu): the largest
// |f(x) - tail value| there, reached at the domain's edge.
double tail_error(Function function, double range) {
  switch (function) {
    case Function::exp:
      return std::exp(-range);
    case Function::softplus:
      return std::log1p(std::exp(-range));
    case Function::silu:
      return range / (1.0 + std::exp(range));
  }
  return 0;
}

// An upper bound of |f''| over [a, b]: exp'' = e^x grows with x; softplus'' =
// s(1 - s) (s the sigmoid) falls with |x|; |silu''| = s(1 - s)|2 + x(1 - 2s)| is at most
// s(1 - s)(2 + |x|), which falls with |x| beyond 1, and at most 1/2 everywhere.
double max_second_derivative(Function function, double a, double b) {
  if (function == Function::exp) return std::exp(b);
  const double c = a > 0 ? a : b < 0 ? -b : 0.0;  // the |x| closest to 0
  const double s = 1.0 / (1.0 + std::exp(c));
  if (function == Function::softplus) return s * (1.0 - s);
  return c < 1.0 ? 0.5 : std::min(0.5, s * (1.0 - s) * (2.0 + c));
}

int log2_length_of(Function function, int log2_range) {
  return function == Function::exp ? log2_range : log2_range + 1;
}

// The documented bound without the output rounding: the larger of the error outside the
// domain (tail) and the largest over the segments of the interpolation error
// w^2/8 * max|f''| on the segment.
double pwl_error(Function function, int segments, int log2_range) {
  const double lo = -std::ldexp(1.0, log2_range);
  const double width = std::ldexp(1.0, log2_length_of(function, log2_range)) / segments;
  double bound = tail_error(function, -lo);
  for (int i = 0; i < segments; ++i) {
    const double a = lo + width * i;
    bound = std::max(bound, width * width / 8.0 * max_second_derivative(function, a, a + width));
  }
  return bound;
}

int log2_pwl_range(Function function, int segments, int in_int_bits) {
  int best = 0;
  for (int j = 1; j <= std::min(6, in_int_bits); ++j)
    if (pwl_error(function, segments, j) < pwl_error(function, segments, best)) best = j;
  return best;
}

// Knot i of N: f at x_lo + i * length / N.
double knot_value(Function function, int segments, int log2_range, int i) {
  const double lo = -std::ldexp(1.0, log2_range);
  return exact(function, lo + std::ldexp(1.0, log2_length_of(function, log2_range)) * i / segments);
}

void check_segments(int segments) {
  if (segments < 2 || segments > 4096)
    throw std::invalid_argument(fmt::format("piecewise-linear: {} segments is outside 2..4096", segments));
}

}  // namespace

int pwl_range(Function function, int segments, int in_int_bits) {
  check_segments(segments);
  return 1 << log2_pwl_range(function, segments, in_int_bits);
}

PwlTable make_pwl_table(Function function, int segments, FixedFormat in, FixedFormat out) {
  check_segments(segments);
  PwlTable t;
  t.function = function;
  t.segments = segments;
  t.log2_range = log2_pwl_range(function, segments, in.int_bits);
  t.log2_length = log2_length_of(function, t.log2_range);
  t.x_lo = -std::ldexp(1.0, t.log2_range);
  t.x_hi = function == Function::exp ? 0.0 : -t.x_lo;
  t.in = in;
  t.out = out;
  if (out.total_bits() + 1 + t.log2_length + in.frac_bits > 126)
    throw std::invalid_argument(
        fmt::format("piecewise-linear {}: a {}-bit output with {} input fraction bits needs more than 126-bit products",
                    function_name(function), out.total_bits(), in.frac_bits));
  for (int i = 0; i <= segments; ++i) {
    const double value = knot_value(function, segments, t.log2_range, i);
    t.knot_values.push_back(value);
    t.knots.push_back(quantize(value, out));
  }
  return t;
}

std::int64_t pwl_eval(const PwlTable& t, std::int64_t x_raw) {
  const int shift = t.log2_length + t.in.frac_bits;
  const Wide lo = -pow2(t.log2_range + t.in.frac_bits);
  const Wide hi = lo + pow2(shift);
  const Wide x = x_raw;
  if (x < lo) return 0;
  if (x >= hi) return t.function == Function::exp ? t.knots.back() : convert(x_raw, t.in, t.out);
  const Wide p = (x - lo) * t.segments;
  const Wide i = p >> shift;
  const Wide frac = p - i * pow2(shift);
  const auto k = static_cast<std::size_t>(i);
  const Wide slope = Wide(t.knots[k + 1]) - t.knots[k];
  return saturate(t.knots[k] + shift_round(slope * frac, shift), t.out);
}

double pwl_eval_double(Function function, int segments, int in_int_bits, double x) {
  check_segments(segments);
  const int log2_range = log2_pwl_range(function, segments, in_int_bits);
  const double lo = -std::ldexp(1.0, log2_range);
  const double length = std::ldexp(1.0, log2_length_of(function, log2_range));
  if (x < lo) return 0;
  if (x >= lo + length) return function == Function::exp ? 1.0 : x;
  const double position = (x - lo) * segments / length;
  const int i = std::min(static_cast<int>(std::floor(position)), segments - 1);
  const double y0 = knot_value(function, segments, log2_range, i);
  const double y1 = knot_value(function, segments, log2_range, i + 1);
  return y0 + (y1 - y0) * (position - i);
}

namespace {

const std::int64_t kLog2eRaw = std::llround(std::ldexp(kLog2e, kLog2eFracBits));

}  // namespace

std::int64_t shift_biased_exp(std::int64_t x_raw, FixedFormat in, FixedFormat out) {
  const Wide v = Wide(std::min<std::int64_t>(x_raw, 0)) * kLog2eRaw;  // fraction bits: F + 24
  const int v_frac = in.frac_bits + kLog2eFracBits;
  const Wide k = v >> v_frac;                                   // floor(v) <= 0
  const Wide mantissa = pow2(v_frac) + (v - k * pow2(v_frac));  // 1 + f
  if (-k > 200) return 0;
  return rescale(mantissa, v_frac - out.frac_bits - static_cast<int>(k), out);
}

double shift_biased_exp_double(double x) {
  const double v = std::min(x, 0.0) * kLog2e;
  const double k = std::floor(v);
  return std::ldexp(1.0 + (v - k), static_cast<int>(std::max(k, -2000.0)));
}

Approximator::Approximator(Function function, const Approximation& approx, FixedFormat in, FixedFormat out)
    : function_(function), approx_(approx), in_(in), out_(out) {
  if (approx.method == ApproxMethod::shift_biased && function != Function::exp)
    throw std::invalid_argument(
        fmt::format("shift-biased approximation is for exp only, not {}", function_name(function)));
  if (approx.method == ApproxMethod::piecewise_linear) table_ = make_pwl_table(function, approx.segments, in, out);
}

std::int64_t Approximator::operator()(std::int64_t x_raw) const {
  switch (approx_.method) {
    case ApproxMethod::exact:
      return quantize(exact(function_, to_double(x_raw, in_)), out_);
    case ApproxMethod::piecewise_linear:
      return pwl_eval(table_, x_raw);
    case ApproxMethod::shift_biased:
      return shift_biased_exp(x_raw, in_, out_);
  }
  return 0;
}

float approximate_float(Function function, const Approximation& approx, float x, NumberType out) {
  float y = 0;
  switch (approx.method) {
    case ApproxMethod::exact:
      y = function == Function::exp ? std::exp(x) : function == Function::softplus ? softplus(x) : silu(x);
      break;
    case ApproxMethod::piecewise_linear:
      y = static_cast<float>(pwl_eval_double(function, approx.segments, 62, x));
      break;
    case ApproxMethod::shift_biased:
      if (function != Function::exp)
        throw std::invalid_argument(
            fmt::format("shift-biased approximation is for exp only, not {}", function_name(function)));
      y = static_cast<float>(shift_biased_exp_double(x));
      break;
  }
  return round_to(y, out);
}

// ---------------------------------------------------------------------------------------

namespace {

// The relative error of exp is measured over [-2, 0], the decays (>= 0.135) that carry
// the state's memory.
constexpr double kRelativeLow = -2.0;

// max over f in [0, 1) of (1 + f) - 2^f, at 2^f = 1/ln 2, halved: the worst case is k = -1.
double shift_biased_abs_error() {
  const double f = std::log2(1.0 / kLn2);
  return 0.5 * (1.0 + f - 1.0 / kLn2);
}
// max over f of (1 + f) / 2^f - 1, at f = 1/ln 2 - 1.
double shift_biased_rel_error() {
  const double f = 1.0 / kLn2 - 1.0;
  return (1.0 + f) / std::exp2(f) - 1.0;
}

// The relative error of the chord of exp over a segment of width w, the same on every
// segment: max over t of (1 - t + t e^w) e^(-t w) - 1, reached at
// t* = ((e^w - 1)/w - 1) / (e^w - 1), where it is (e^w - 1)/w * e^(-t* w) - 1.
double chord_rel_error(double w) {
  const double slope = std::expm1(w) / w;
  const double t = (slope - 1.0) / std::expm1(w);
  return slope * std::exp(-t * w) - 1.0;
}

}  // namespace

ErrorBound error_bound(Function function, const Approximation& approx, FixedFormat in, FixedFormat out) {
  const double lsb = out.lsb();
  const double rel_quantization = lsb * std::exp(-kRelativeLow);
  ErrorBound b;
  switch (approx.method) {
    case ApproxMethod::exact:
      b.abs_error = lsb / 2;
      if (function == Function::exp) b.rel_error = rel_quantization / 2;
      break;
    case ApproxMethod::piecewise_linear: {
      const int log2_range = log2_pwl_range(function, approx.segments, in.int_bits);
      b.abs_error = pwl_error(function, approx.segments, log2_range) + lsb;
      if (function == Function::exp) {
        const double width = std::ldexp(1.0, log2_range) / approx.segments;
        b.rel_error = -std::ldexp(1.0, log2_range) > kRelativeLow ? 1.0 : chord_rel_error(width) + rel_quantization;
      }
      break;
    }
    case ApproxMethod::shift_biased:
      // The constant log2(e) is off by at most 2^-25: at most 1e-8 absolute, 1e-7 relative on [-2, 0].
      b.abs_error = shift_biased_abs_error() + lsb + 1e-8;
      b.rel_error = shift_biased_rel_error() + rel_quantization + 1e-7;
      break;
  }
  return b;
}

ErrorBound measure_error(Function function, const Approximation& approx, FixedFormat in, FixedFormat out) {
  const Approximator f(function, approx, in, out);
  const Wide count = Wide(in.max_raw()) - in.min_raw() + 1;
  const Wide max_points = Wide(1) << 24;
  const Wide step = count <= max_points ? Wide(1) : (count - 1) / (max_points - 1);
  ErrorBound m;
  auto visit = [&](std::int64_t raw) {
    const double x = to_double(raw, in);
    if (function == Function::exp && x > 0) return;  // exp is approximated on x <= 0 only
    const double reference = exact(function, x);
    const double error = std::fabs(to_double(f(raw), out) - reference);
    m.abs_error = std::max(m.abs_error, error);
    if (function == Function::exp && x >= kRelativeLow && x <= 0)
      m.rel_error = std::max(m.rel_error, error / reference);
  };
  for (Wide raw = in.min_raw(); raw <= in.max_raw(); raw += step) visit(static_cast<std::int64_t>(raw));
  visit(in.max_raw());
  return m;
}

}  // namespace ssmsoc::numerics
