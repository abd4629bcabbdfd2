// Behavioural model of the floating-point IP block of a float-format scan unit
// (krsna-dc): each function calls, through DPI-C, the same C++ float operation as the
// bit-accurate model (arch/fixed_scan.cpp, FloatOps; implemented in fp_dpi.cpp). Operands
// and results are raw bit patterns (fp32: 32 bits; bf16, fp16: the low 16 bits); types use
// the NumberType order (1 fp32, 2 bf16, 3 fp16). Not synthesizable: a real unit would
// instantiate a vendor FP adder, multiplier and function unit here; it is excluded from
// synthesis estimates (rtl/scan_unit/README.md).
package scan_fp_pkg;
  // round_to(a + b, type)
  import "DPI-C" pure function int unsigned ssm_fp_add(
    input int unsigned a, input int unsigned b, input int type_code);
  // round_to(a * b, out_type), a and b of their own types
  import "DPI-C" pure function int unsigned ssm_fp_mul(
    input int unsigned a, input int a_type, input int unsigned b, input int b_type, input int out_type);
  // numerics::approximate_float(function, {method, segments}, x, out_type)
  import "DPI-C" pure function int unsigned ssm_fp_fn(
    input int function_code, input int method, input int segments, input int unsigned x, input int in_type,
    input int out_type);
endpackage
