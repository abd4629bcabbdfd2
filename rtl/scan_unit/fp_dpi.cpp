// The DPI-C functions of scan_fp_pkg.sv: the floating-point IP block of a float-format scan
// unit, modelled by the same C++ float operations as the bit-accurate model
// (arch/golden/fixed_scan.cpp, FloatOps): every operation in fp32, its result rounded to the
// destination format. Operands and results are raw bit patterns.
#include <cstdint>

#include "arch/numerics/numerics.hpp"

namespace {

using ssmsoc::NumberType;
namespace numerics = ssmsoc::numerics;

NumberType type_of(int code) { return static_cast<NumberType>(code); }
float value(unsigned int bits, int type) { return numerics::from_float_bits(bits, type_of(type)); }
unsigned int bits(float x, int type) {
  return static_cast<unsigned int>(numerics::float_bits(numerics::round_to(x, type_of(type)), type_of(type)));
}

}  // namespace

extern "C" {

unsigned int ssm_fp_add(unsigned int a, unsigned int b, int type_code) {
  return bits(value(a, type_code) + value(b, type_code), type_code);
}

unsigned int ssm_fp_mul(unsigned int a, int a_type, unsigned int b, int b_type, int out_type) {
  return bits(value(a, a_type) * value(b, b_type), out_type);
}

unsigned int ssm_fp_fn(int function_code, int method, int segments, unsigned int x, int in_type, int out_type) {
  const ssmsoc::Approximation approx{static_cast<ssmsoc::ApproxMethod>(method), segments};
  const float y = numerics::approximate_float(static_cast<numerics::Function>(function_code), approx, value(x, in_type),
                                              type_of(out_type));
  return static_cast<unsigned int>(numerics::float_bits(y, type_of(out_type)));
}

}  // extern "C"
