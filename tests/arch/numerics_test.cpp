// Fixed-point formats, float rounding and the hardware approximations against the rules
// and the error bounds documented in arch/NUMERICS.md.
#include "arch/numerics/numerics.hpp"

#include <gtest/gtest.h>

#include <vector>

#include <random>

#include <cmath>
#include <limits>

namespace ssmsoc::numerics {
namespace {

const FixedFormat kQ2_2{2, 2};  // lsb 0.25
const FixedFormat kQ5_10{5, 10}, kQ7_16{7, 16}, kQ7_8{7, 8}, kQ9_22{9, 22};
// The shipped units' formats (arch/profiles/krsna-wear.yaml, krsna-mobile.yaml).
const FixedFormat kWearData{5, 14}, kWearState{7, 16}, kMobileData{7, 15}, kMobileState{9, 22};

TEST(FixedPoint, RoundsTiesToEven) {
  EXPECT_EQ(quantize(0.125, kQ2_2), 0);   // 0.5 lsb -> 0
  EXPECT_EQ(quantize(0.375, kQ2_2), 2);   // 1.5 lsb -> 2
  EXPECT_EQ(quantize(0.625, kQ2_2), 2);   // 2.5 lsb -> 2
  EXPECT_EQ(quantize(-0.125, kQ2_2), 0);  // -0.5 lsb -> 0
  EXPECT_EQ(quantize(-0.375, kQ2_2), -2);
  EXPECT_EQ(quantize(-0.625, kQ2_2), -2);
  EXPECT_EQ(quantize(0.126, kQ2_2), 1);  // just above a tie
  EXPECT_EQ(quantize(-0.374, kQ2_2), -1);
}

TEST(FixedPoint, ShiftRoundsTiesToEvenBothWays) {
  EXPECT_EQ(shift_round(5, 1), 2);  // 2.5
  EXPECT_EQ(shift_round(7, 1), 4);  // 3.5
  EXPECT_EQ(shift_round(-5, 1), -2);
  EXPECT_EQ(shift_round(-7, 1), -4);
  EXPECT_EQ(shift_round(-3, 1), -2);  // -1.5
  EXPECT_EQ(shift_round(5, 2), 1);    // 1.25
  EXPECT_EQ(shift_round(7, 2), 2);    // 1.75
  EXPECT_EQ(shift_round(-5, 2), -1);
  EXPECT_EQ(shift_round(-7, 2), -2);
  EXPECT_EQ(shift_round(3, -2), 12);
  EXPECT_EQ(shift_round(-1, 127), 0);
}

TEST(FixedPoint, SaturatesAtBothEnds) {
  EXPECT_EQ(kQ5_10.max_raw(), (1 << 15) - 1);
  EXPECT_EQ(kQ5_10.min_raw(), -(1 << 15));
  EXPECT_EQ(quantize(1000.0, kQ5_10), kQ5_10.max_raw());
  EXPECT_EQ(quantize(-1000.0, kQ5_10), kQ5_10.min_raw());
  EXPECT_EQ(quantize(32.0, kQ5_10), kQ5_10.max_raw());   // 32 is one lsb beyond the top
  EXPECT_EQ(quantize(-32.0, kQ5_10), kQ5_10.min_raw());  // -32 is the bottom exactly
  EXPECT_EQ(quantize(std::numeric_limits<double>::infinity(), kQ5_10), kQ5_10.max_raw());
  EXPECT_EQ(quantize(-std::numeric_limits<double>::infinity(), kQ5_10), kQ5_10.min_raw());
  EXPECT_EQ(add(kQ5_10.max_raw(), 1, kQ5_10), kQ5_10.max_raw());
  EXPECT_EQ(add(kQ5_10.min_raw(), -1, kQ5_10), kQ5_10.min_raw());
  const std::int64_t twenty = quantize(20.0, kQ5_10);
  EXPECT_EQ(multiply(twenty, kQ5_10, twenty, kQ5_10, kQ5_10), kQ5_10.max_raw());
  EXPECT_EQ(multiply(-twenty, kQ5_10, twenty, kQ5_10, kQ5_10), kQ5_10.min_raw());
  const FixedFormat widest{0, 63};
  EXPECT_EQ(quantize(1.0, widest), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(quantize(-1.0, widest), std::numeric_limits<std::int64_t>::min());
  EXPECT_THROW(quantize(std::nan(""), kQ5_10), std::invalid_argument);
}

TEST(FixedPoint, MultiplyRoundsOnceFromTheExactProduct) {
  const FixedFormat f1{3, 1}, f2{3, 2};
  EXPECT_EQ(multiply(3, f1, 3, f1, f1), 4);    // 1.5 * 1.5 = 2.25 = 4.5 lsb -> 4
  EXPECT_EQ(multiply(5, f1, 3, f1, f1), 8);    // 2.5 * 1.5 = 3.75 = 7.5 lsb -> 8
  EXPECT_EQ(multiply(-3, f1, 3, f1, f1), -4);  // -4.5 lsb -> -4
  // 2.75 * 0.25 = 0.6875 = 1.375 lsb of Q3.1 -> 1. Rounding to Q.3 first (0.75) and then
  // to Q.1 would give 2: the product is rounded once.
  EXPECT_EQ(multiply(11, f2, 1, f2, f1), 1);
  // Mixed formats and widening: 1.5 (Q3.1) * 0.25 (Q3.2) into Q7.16 is exact.
  EXPECT_EQ(multiply(3, f1, 1, f2, kQ7_16), quantize(0.375, kQ7_16));
}

TEST(FixedPoint, ConvertRoundsToNearestEvenAndSaturates) {
  EXPECT_EQ(convert(quantize(0.75, kQ2_2), kQ2_2, FixedFormat{2, 1}), 2);  // 1.5 lsb -> 2
  EXPECT_EQ(convert(quantize(0.25, kQ2_2), kQ2_2, FixedFormat{2, 1}), 0);  // 0.5 lsb -> 0
  EXPECT_EQ(convert(kQ7_16.max_raw(), kQ7_16, kQ5_10), kQ5_10.max_raw());
  EXPECT_EQ(convert(quantize(-3.25, kQ5_10), kQ5_10, kQ7_16), quantize(-3.25, kQ7_16));
}

TEST(FixedPoint, QuantizeAndToDoubleAreExactOnTheGrid) {
  for (std::int64_t raw = kQ5_10.min_raw(); raw <= kQ5_10.max_raw(); ++raw)
    ASSERT_EQ(quantize(to_double(raw, kQ5_10), kQ5_10), raw);
  for (std::int64_t raw = kQ9_22.min_raw(); raw <= kQ9_22.max_raw(); raw += 65537) {
    ASSERT_EQ(quantize(to_double(raw, kQ9_22), kQ9_22), raw);
    ASSERT_EQ(to_double(raw, kQ9_22), std::ldexp(double(raw), -22));
  }
  EXPECT_EQ(to_double(kQ9_22.max_raw(), kQ9_22), 512.0 - std::ldexp(1.0, -22));
  EXPECT_EQ(to_double(kQ9_22.min_raw(), kQ9_22), -512.0);
}

TEST(FloatFormats, RoundToNearestEven) {
  EXPECT_EQ(round_to(1.0f + std::ldexp(1.0f, -8), NumberType::bf16), 1.0f);  // tie -> even
  EXPECT_EQ(round_to(1.0f + 3 * std::ldexp(1.0f, -8), NumberType::bf16), 1.0f + std::ldexp(1.0f, -6));
  EXPECT_EQ(round_to(1.0f + std::ldexp(1.0f, -11), NumberType::fp16), 1.0f);
  EXPECT_EQ(round_to(1.0f + 3 * std::ldexp(1.0f, -11), NumberType::fp16), 1.0f + std::ldexp(1.0f, -9));
  EXPECT_EQ(round_to(-1.0f - 3 * std::ldexp(1.0f, -11), NumberType::fp16), -1.0f - std::ldexp(1.0f, -9));
  EXPECT_EQ(round_to(0.1f, NumberType::fp32), 0.1f);
  EXPECT_TRUE(std::isinf(round_to(70000.0f, NumberType::fp16)));
  EXPECT_EQ(from_float_bits(float_bits(0.1f, NumberType::bf16), NumberType::bf16), round_to(0.1f, NumberType::bf16));
  EXPECT_EQ(float_bits(1.0f, NumberType::fp32), 0x3f800000);
  EXPECT_EQ(float_bits(1.0f, NumberType::bf16), 0x3f80);
  EXPECT_EQ(float_bits(1.0f, NumberType::fp16), 0x3c00);
  EXPECT_THROW(round_to(1.0f, NumberType::fixed), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------

struct ShippedApproximation {
  const char* name;
  Function function;
  Approximation approx;
  FixedFormat in, out;
  double documented_abs, documented_rel;  // the numbers in arch/NUMERICS.md
};

// clang-format off
const ShippedApproximation kShipped[] = {
    {"krsna_wear_exp", Function::exp, {ApproxMethod::piecewise_linear, 128}, kWearData, kWearState, 0.00051, 0.00061},
    {"krsna_mobile_exp", Function::exp, {ApproxMethod::piecewise_linear, 256}, kMobileData, kMobileState, 0.00034, 0.00013},
    {"krsna_mobile_softplus", Function::softplus, {ApproxMethod::piecewise_linear, 64}, kMobileData, kMobileData, 0.0020, 0},
    {"krsna_mobile_silu", Function::silu, {ApproxMethod::piecewise_linear, 32}, kMobileData, kMobileData, 0.0157, 0},
};
// clang-format on

class ShippedApproximationBound : public ::testing::TestWithParam<ShippedApproximation> {};

TEST_P(ShippedApproximationBound, HoldsOverTheWholeInputGridAndIsTight) {
  const auto& a = GetParam();
  const ErrorBound bound = error_bound(a.function, a.approx, a.in, a.out);
  const ErrorBound measured = measure_error(a.function, a.approx, a.in, a.out);
  EXPECT_LE(bound.abs_error, a.documented_abs);
  EXPECT_LE(bound.rel_error, a.documented_rel);
  EXPECT_LE(measured.abs_error, bound.abs_error);
  EXPECT_GE(measured.abs_error, bound.abs_error / 2);
  EXPECT_LE(measured.rel_error, bound.rel_error);
  EXPECT_GE(measured.rel_error, bound.rel_error / 2);
}

INSTANTIATE_TEST_SUITE_P(Shipped, ShippedApproximationBound, ::testing::ValuesIn(kShipped),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// Every segment count: the documented formula holds and is tight within 2x.
TEST(PiecewiseLinear, BoundHoldsAndIsTightForEverySegmentCount) {
  const FixedFormat in{7, 12}, out{9, 22};
  for (Function f : {Function::exp, Function::softplus, Function::silu})
    for (int segments : {2, 3, 4, 7, 8, 16, 32, 64, 100, 128, 256, 1024, 4096}) {
      const Approximation approx{ApproxMethod::piecewise_linear, segments};
      const ErrorBound bound = error_bound(f, approx, in, out);
      const ErrorBound measured = measure_error(f, approx, in, out);
      SCOPED_TRACE(std::string(function_name(f)) + " with " + std::to_string(segments) + " segments");
      EXPECT_LE(measured.abs_error, bound.abs_error);
      EXPECT_GE(measured.abs_error, bound.abs_error / 2);
      EXPECT_LE(measured.rel_error, bound.rel_error);
      EXPECT_GE(measured.rel_error, bound.rel_error / 2);
    }
}

TEST(PiecewiseLinear, TableIsGeneratedFromTheSegmentCount) {
  const PwlTable t = make_pwl_table(Function::exp, 16, kQ7_8, kQ9_22);
  EXPECT_EQ(pwl_range(Function::exp, 16, 7), 4);
  EXPECT_EQ(t.x_lo, -4.0);
  EXPECT_EQ(t.x_hi, 0.0);
  ASSERT_EQ(t.knots.size(), 17u);
  EXPECT_EQ(t.knots.back(), std::int64_t{1} << 22);  // exp(0) = 1 exactly
  for (int i = 0; i <= 16; ++i) {
    EXPECT_EQ(t.knots[i], quantize(std::exp(-4.0 + 0.25 * i), kQ9_22));
    // Exact at the knots: the input grid hits every knot of this table.
    EXPECT_EQ(pwl_eval(t, quantize(-4.0 + 0.25 * i, kQ7_8)), t.knots[i]);
  }
  EXPECT_EQ(pwl_range(Function::silu, 32, 7), 8);
  EXPECT_EQ(pwl_range(Function::softplus, 16, 7), 4);
  EXPECT_EQ(pwl_range(Function::exp, 64, 7), 8);
  EXPECT_EQ(pwl_range(Function::exp, 64, 2), 4);  // limited by the input range
}

TEST(PiecewiseLinear, IsMonotoneAndPassesThroughOutsideTheDomain) {
  const Approximator e(Function::exp, {ApproxMethod::piecewise_linear, 16}, kQ7_8, kQ9_22);
  const Approximator sp(Function::softplus, {ApproxMethod::piecewise_linear, 16}, kQ7_8, kQ7_8);
  const Approximator si(Function::silu, {ApproxMethod::piecewise_linear, 32}, kQ7_8, kQ7_8);
  std::int64_t previous_exp = 0, previous_softplus = 0;
  for (std::int64_t x = kQ7_8.min_raw(); x <= 0; ++x) {
    ASSERT_GE(e(x), previous_exp);
    previous_exp = e(x);
  }
  // Monotone except for the documented step at x = R = 4, from softplus(4) to 4.
  const std::int64_t four = quantize(4.0, kQ7_8);
  for (std::int64_t x = kQ7_8.min_raw(); x <= kQ7_8.max_raw(); ++x) {
    if (x == four) {
      EXPECT_LE(to_double(previous_softplus - sp(x), kQ7_8), std::log1p(std::exp(-4.0)));
    } else {
      ASSERT_GE(sp(x), previous_softplus);
    }
    previous_softplus = sp(x);
  }
  EXPECT_EQ(e(quantize(-4.0 - 1.0 / 256, kQ7_8)), 0);
  EXPECT_EQ(e(quantize(1.0, kQ7_8)), std::int64_t{1} << 22);  // positive input: as 0
  EXPECT_EQ(sp(quantize(-4.5, kQ7_8)), 0);
  EXPECT_EQ(sp(quantize(4.0, kQ7_8)), quantize(4.0, kQ7_8));
  EXPECT_EQ(sp(kQ7_8.max_raw()), kQ7_8.max_raw());
  EXPECT_EQ(si(quantize(-9.0, kQ7_8)), 0);
  EXPECT_EQ(si(quantize(8.5, kQ7_8)), quantize(8.5, kQ7_8));
  EXPECT_EQ(si(0), 0);
}

TEST(ShiftBiasedExp, IsExactAtZeroMonotoneAndNeverBelowExp) {
  const Approximator e(Function::exp, {ApproxMethod::shift_biased, 0}, kQ5_10, kQ7_16);
  EXPECT_EQ(e(0), std::int64_t{1} << 16);
  EXPECT_EQ(e(quantize(3.0, kQ5_10)), std::int64_t{1} << 16);  // positive input: as 0
  EXPECT_EQ(e(kQ5_10.min_raw()), 0);
  std::int64_t previous = 0;
  for (std::int64_t x = kQ5_10.min_raw(); x <= 0; ++x) {
    ASSERT_GE(e(x), previous);
    previous = e(x);
    // (1 + f) >= 2^f: never below exp(x) by more than the output rounding.
    ASSERT_GE(to_double(e(x), kQ7_16), std::exp(to_double(x, kQ5_10)) - kQ7_16.lsb() / 2);
  }
  // v = -1 exactly (x = -ln 2 is not on the grid, but 2^-1 is reached in between): the
  // mantissa term is 1 + f with f in [0, 1).
  EXPECT_NEAR(shift_biased_exp_double(-std::log(2.0)), 0.5, 1e-12);
  EXPECT_EQ(shift_biased_exp_double(0.0), 1.0);
}

TEST(ExactApproximation, IsTheFunctionRoundedOnce) {
  for (Function f : {Function::exp, Function::softplus, Function::silu}) {
    const FixedFormat out = f == Function::exp ? kQ9_22 : kQ7_8;
    const Approximation exact_method{ApproxMethod::exact, 0};
    const ErrorBound measured = measure_error(f, exact_method, kQ7_8, out);
    EXPECT_LE(measured.abs_error, out.lsb() / 2) << function_name(f);
    EXPECT_LE(measured.abs_error, error_bound(f, exact_method, kQ7_8, out).abs_error);
  }
}

TEST(Approximations, RejectShiftBiasedForFunctionsOtherThanExp) {
  EXPECT_THROW(Approximator(Function::silu, {ApproxMethod::shift_biased, 0}, kQ5_10, kQ5_10), std::invalid_argument);
  EXPECT_THROW(make_pwl_table(Function::exp, 1, kQ5_10, kQ7_16), std::invalid_argument);
  EXPECT_THROW(fixed_format(NumberFormat{NumberType::bf16, 0, 0}), std::invalid_argument);
}

TEST(Approximations, FloatVariantsFollowTheSameConstruction) {
  const Approximation pwl{ApproxMethod::piecewise_linear, 16};
  EXPECT_EQ(approximate_float(Function::exp, pwl, 0.0f, NumberType::fp32), 1.0f);
  EXPECT_EQ(approximate_float(Function::exp, pwl, -5.0f, NumberType::fp32), 0.0f);
  EXPECT_EQ(approximate_float(Function::softplus, pwl, 6.0f, NumberType::fp32), 6.0f);
  EXPECT_NEAR(approximate_float(Function::exp, pwl, -1.0f, NumberType::fp32), std::exp(-1.0), 0.0079);
  EXPECT_EQ(approximate_float(Function::exp, {ApproxMethod::shift_biased, 0}, -std::log(2.0f), NumberType::bf16), 0.5f);
  EXPECT_EQ(approximate_float(Function::exp, {ApproxMethod::exact, 0}, -1.0f, NumberType::fp32), std::exp(-1.0f));
}

// FP8 E4M3: every finite pattern survives the round trip, and random floats go to the
// nearest finite value (ties to the even mantissa), saturating at +-448.
TEST(Fp8E4m3, RoundTripsEveryPatternAndRoundsToTheNearestEven) {
  std::vector<std::pair<float, std::uint8_t>> finite;  // (value, bits) of every finite pattern
  for (int b = 0; b < 256; ++b) {
    const auto bits = static_cast<std::uint8_t>(b);
    const float v = from_fp8_e4m3_bits(bits);
    if ((b & 0x7F) == 0x7F) {
      EXPECT_TRUE(std::isnan(v)) << b;
      continue;
    }
    EXPECT_EQ(fp8_e4m3_bits(v), bits) << b << " " << v;
    finite.emplace_back(v, bits);
  }
  EXPECT_EQ(from_fp8_e4m3_bits(0x7E), 448.0f);
  EXPECT_EQ(from_fp8_e4m3_bits(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(fp8_e4m3_bits(1e6f), 0x7E);
  EXPECT_EQ(fp8_e4m3_bits(-1e6f), 0xFE);
  EXPECT_EQ(fp8_e4m3_bits(std::numeric_limits<float>::quiet_NaN()) & 0x7F, 0x7F);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> exponent(-12, 10);
  for (int i = 0; i < 20000; ++i) {
    const float x = (rng() & 1 ? -1.0f : 1.0f) * std::exp2(exponent(rng));
    if (std::fabs(x) >= 448) continue;
    float best = 0;
    std::uint8_t best_bits = 0;
    float best_error = INFINITY;
    for (const auto& [v, bits] : finite) {
      if (std::signbit(v) != std::signbit(x)) continue;
      const float error = std::fabs(v - x);
      if (error < best_error || (error == best_error && (bits & 1) == 0))
        best = v, best_bits = bits, best_error = error;
    }
    EXPECT_EQ(fp8_e4m3_bits(x), best_bits) << x << " nearest " << best;
  }
}

}  // namespace
}  // namespace ssmsoc::numerics
