// Number formats and the hardware function approximations of the scan unit, bit-accurate:
// everything on fixed-point values is integer arithmetic on raw two's complement values,
// so an RTL implementation can match it bit for bit. arch/NUMERICS.md documents the
// formats, the rounding rules, the approximation domains and their error bounds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arch/spec/profile.hpp"

namespace ssmsoc::numerics {

// torch.nn.functional.softplus with threshold 20 (x > 20 passes through), and SiLU, in
// float32: the golden kernels' activations and the scan unit's exact approximation mode.
float softplus(float x);
float silu(float x);

// IEEE half and bfloat16 bit patterns. Narrowing rounds to nearest, ties to even; values
// too large for a half become infinity; NaN stays NaN. Widening is exact.
std::uint16_t f32_to_f16(float value);
std::uint16_t f32_to_bf16(float value);
float f16_to_f32(std::uint16_t bits);
float bf16_to_f32(std::uint16_t bits);

// A signed two's complement fixed-point format with 1 + int_bits + frac_bits bits: the
// raw integer r stands for r * 2^-frac_bits; raw values lie in [-2^(I+F), 2^(I+F) - 1].
struct FixedFormat {
  int int_bits = 0;
  int frac_bits = 0;

  int total_bits() const { return 1 + int_bits + frac_bits; }
  std::int64_t max_raw() const;
  std::int64_t min_raw() const;
  double lsb() const;  // 2^-frac_bits
  double max_value() const;
  double min_value() const;
  bool operator==(const FixedFormat&) const = default;
};

// The fixed format of a NumberFormat of type fixed; std::invalid_argument otherwise.
FixedFormat fixed_format(const NumberFormat& format);
bool is_fixed(const NumberFormat& format);

// Rounds x * 2^-shift to an integer, to nearest with ties to even (shift >= 0); a
// negative shift multiplies by 2^-shift exactly. Shifts beyond 126 give 0.
__extension__ typedef __int128 Wide;
Wide shift_round(Wide x, int shift);
// Clamps to the raw range of `format`.
std::int64_t saturate(Wide x, FixedFormat format);

// double -> raw: x * 2^F rounded to nearest even, saturated. NaN is std::invalid_argument.
std::int64_t quantize(double x, FixedFormat format);
// raw -> double: exact when the format has at most 53 bits.
double to_double(std::int64_t raw, FixedFormat format);
// One format into another: RNE when fraction bits are dropped, then saturation.
std::int64_t convert(std::int64_t raw, FixedFormat from, FixedFormat to);
// Saturating a + b, both and the result in `format`.
std::int64_t add(std::int64_t a, std::int64_t b, FixedFormat format);
// a (format fa) * b (format fb) into `out`: the exact product (fa.F + fb.F fraction bits,
// held in 128 bits), one RNE shift to out.F fraction bits, then saturation.
std::int64_t multiply(std::int64_t a, FixedFormat fa, std::int64_t b, FixedFormat fb, FixedFormat out);

// Float formats: x rounded to nearest even into fp32 (unchanged), bf16 or fp16 (fp16
// overflow gives infinity); the value returned is the rounded value as a float.
float round_to(float x, NumberType type);
// The IEEE bit pattern of a float-format value (fp32: 32 bits; bf16, fp16: 16 bits).
std::int64_t float_bits(float x, NumberType type);
float from_float_bits(std::int64_t bits, NumberType type);
// FP8 E4M3 (OCP 8-bit floating point: bias 7, no infinities, 0x7F/0xFF NaN, largest 448):
// x rounded to nearest even, saturated to +-448 (NaN stays NaN); and back to float (exact).
std::uint8_t fp8_e4m3_bits(float x);
float from_fp8_e4m3_bits(std::uint8_t bits);

// ---------------------------------------------------------------------------------------
// Function approximations. The scan unit evaluates exp on x <= 0 (x = dt*A with A < 0),
// softplus on dt and SiLU on z.

enum class Function { exp, softplus, silu };
std::string_view function_name(Function function);

// The exact functions in double: exp, softplus with torch's threshold (x > 20 passes
// through), x * sigmoid(x).
double exact(Function function, double x);

// Piecewise-linear interpolation with N uniform segments over [x_lo, x_hi]:
//   exp:      [-R, 0];  below x_lo: 0;  above 0 (never produced by the scan): as at 0.
//   softplus: [-R, R];  below: 0;       above: x (converted to the output format).
//   silu:     [-R, R];  below: 0;       above: x.
// R is a power of two, chosen from the segment count as the one (1 <= R <= 64 and
// R <= 2^int_bits of the input, so -R is on the input grid) that minimizes the error
// bound max(tail(R), w^2/8 * max|f''|) (w = (x_hi - x_lo)/N; NUMERICS.md, pwl_range).
// The table holds the N + 1 knot values f(x_lo + i*(x_hi - x_lo)/N), computed in double
// and rounded (RNE, saturating) to the output format; the segment slopes are the
// differences of neighbouring knots, so the approximation is continuous inside the domain
// and exact at the knots up to the rounding. At the domain's edges it steps by the tail
// error (e.g. softplus from softplus(R) to R), which the bound includes.
//
// Evaluation of raw x (input format with F fraction bits), domain length 2^l:
//   off = x - x_lo (raw);  p = off * N;  i = p >> (l + F);  t = p - (i << (l + F));
//   y = knot[i] + RNE((knot[i+1] - knot[i]) * t, l + F)        (then saturated)
// i.e. one integer multiply by the constant N, one shift, one table read, one multiply
// and one rounding shift.
struct PwlTable {
  Function function = Function::exp;
  int segments = 0;
  int log2_range = 0;   // log2 R
  int log2_length = 0;  // log2 (x_hi - x_lo): log2 R for exp, log2 R + 1 otherwise
  double x_lo = 0, x_hi = 0;
  FixedFormat in, out;
  std::vector<std::int64_t> knots;  // segments + 1 raw values in `out`
  std::vector<double> knot_values;  // the same knots unrounded (for float formats)
};

// The domain half-width R chosen for `segments` and an input with `in_int_bits` integer bits.
int pwl_range(Function function, int segments, int in_int_bits);
PwlTable make_pwl_table(Function function, int segments, FixedFormat in, FixedFormat out);
std::int64_t pwl_eval(const PwlTable& table, std::int64_t x_raw);
// The same piecewise-linear function in double, with unrounded knots (float formats).
double pwl_eval_double(Function function, int segments, int in_int_bits, double x);

// Shift-biased exponential (Schraudolph's construction, as in MARCA): for x <= 0,
//   v = x * log2(e)          log2(e) as the constant round(log2(e) * 2^24) (Q1.24, 25 bits),
//                            v exact with F + 24 fraction bits;
//   k = floor(v), f = v - k  an arithmetic shift and a mask;
//   exp(x) ~ (1 + f) * 2^k   the mantissa 1 + f shifted right by -k, rounded once (RNE)
//                            to the output format.
// Exact at every x where v is an integer (so exp(0) = 1: a zero dt keeps the state), never
// below exp(x). Positive x is treated as 0.
inline constexpr int kLog2eFracBits = 24;
std::int64_t shift_biased_exp(std::int64_t x_raw, FixedFormat in, FixedFormat out);
double shift_biased_exp_double(double x);

// One approximation of a profile (`approx`) of `function`, from `in` to `out`: exact
// (double, rounded once to `out`), piecewise-linear or shift-biased (exp only).
class Approximator {
 public:
  Approximator(Function function, const Approximation& approx, FixedFormat in, FixedFormat out);
  std::int64_t operator()(std::int64_t x_raw) const;
  const PwlTable* table() const { return approx_.method == ApproxMethod::piecewise_linear ? &table_ : nullptr; }
  Function function() const { return function_; }
  const Approximation& approximation() const { return approx_; }

 private:
  Function function_;
  Approximation approx_;
  FixedFormat in_, out_;
  PwlTable table_;
};

// The same approximations for float formats: evaluated in double (piecewise-linear with
// the unrounded knots over the domain chosen for an unbounded input, R <= 64), then
// rounded to `out`. exact uses the float32 golden functions, so an fp32 unit equals the
// golden kernels.
float approximate_float(Function function, const Approximation& approx, float x, NumberType out);

// Documented bounds (arch/NUMERICS.md) of one approximation over its whole input range on
// the input grid: abs_error = max |approx(x) - f(x)|; rel_error = max |approx(x) - f(x)| /
// f(x) over x in [-2, 0] for exp (0 where relative error is not meaningful).
struct ErrorBound {
  double abs_error = 0;
  double rel_error = 0;
};
ErrorBound error_bound(Function function, const Approximation& approx, FixedFormat in, FixedFormat out);

// Measured errors, sweeping every input raw value of `in` (at most 2^24 of them; wider
// input formats are swept on an evenly spaced subset that includes both ends).
ErrorBound measure_error(Function function, const Approximation& approx, FixedFormat in, FixedFormat out);

}  // namespace ssmsoc::numerics
