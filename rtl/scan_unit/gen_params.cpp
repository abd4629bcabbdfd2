// scan_unit_gen: writes the SystemVerilog header `scan_cfg.svh` that parameterizes the
// scan unit RTL for one profile: one `define per parameter, read before the RTL sources
// (scan_unit.sv turns them into its localparams). Macros rather than a package, so that
// yosys 0.23 (no usable package support) reads the same file as Verilator. Every number comes from the profile loader
// (ssmsoc::load_profile) and the piecewise-linear coefficient ROMs from numerics.hpp's
// table generation, so the RTL cannot disagree with the bit-accurate model.
//
//   scan_unit_gen PROFILE OUT.svh     PROFILE: a shipped profile name or a .yaml path
//
// Exits non-zero with a one-line message when the profile has no scan unit or asks for
// something the RTL does not implement (rtl/scan_unit/README.md, "Limits").
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "arch/numerics/numerics.hpp"
#include "arch/spec/profile.hpp"

namespace {

using namespace ssmsoc;
using numerics::FixedFormat;
using numerics::Function;

int clog2(std::int64_t v) {
  int bits = 0;
  while ((std::int64_t{1} << bits) < v) ++bits;
  return bits;
}

// A W-bit two's complement literal.
std::string literal(std::int64_t raw, int width) {
  const std::uint64_t mask = width >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << width) - 1;
  return fmt::format("{}'h{:x}", width, static_cast<std::uint64_t>(raw) & mask);
}

struct ApproxParams {
  int method = 0;  // ApproxMethod order: exact, piecewise-linear, shift-biased
  int segments = 2;
  int log2_range = 0;
  int log2_length = 0;
  std::vector<std::int64_t> knots;  // segments + 1, in the output width
};

ApproxParams approx_params(Function function, const std::optional<Approximation>& approx, bool fixed_unit,
                           FixedFormat in, FixedFormat out) {
  ApproxParams p;
  p.knots.assign(3, 0);
  if (!approx) return p;
  p.method = static_cast<int>(approx->method);
  if (!fixed_unit) {
    p.segments = approx->method == ApproxMethod::piecewise_linear ? approx->segments : 2;
    return p;  // float units evaluate every function in the floating-point block (DPI)
  }
  if (approx->method == ApproxMethod::exact)
    throw std::invalid_argument(
        fmt::format("{}: an exact approximation in a fixed-point unit has no RTL implementation (use piecewise-linear "
                    "or shift-biased)",
                    numerics::function_name(function)));
  if (approx->method == ApproxMethod::piecewise_linear) {
    const numerics::PwlTable t = numerics::make_pwl_table(function, approx->segments, in, out);
    p.segments = t.segments;
    p.log2_range = t.log2_range;
    p.log2_length = t.log2_length;
    p.knots = t.knots;
  }
  return p;
}

// One macro per line; comments stay on lines of their own (not part of the macro text).
void define(std::ostream& os, const std::string& name, const std::string& value, const std::string& comment = {}) {
  if (!comment.empty()) os << "// " << comment << "\n";
  os << "`define " << name << " " << value << "\n";
}

void write_approx(std::ostream& os, const std::string& name, const ApproxParams& p, int out_width) {
  define(os, fmt::format("SCAN_{}_METHOD", name), std::to_string(p.method));
  define(os, fmt::format("SCAN_{}_SEGMENTS", name), std::to_string(p.segments));
  define(os, fmt::format("SCAN_{}_LOG2_RANGE", name), std::to_string(p.log2_range));
  define(os, fmt::format("SCAN_{}_LOG2_LENGTH", name), std::to_string(p.log2_length));
  const int knots = static_cast<int>(p.knots.size());
  os << fmt::format("// {} bits: knot i in bits [i*{} +: {}]\n", knots * out_width, out_width, out_width);
  os << fmt::format("`define SCAN_{}_KNOTS {{", name);
  for (int i = knots - 1; i >= 0; --i) {
    os << ((knots - 1 - i) % 4 == 0 ? (i == knots - 1 ? " \\\n    " : ", \\\n    ") : ", ");
    os << literal(p.knots[static_cast<std::size_t>(i)], out_width);
  }
  os << " \\\n  }\n";
}

std::string generate(const Profile& profile) {
  const ScanUnit& u = profile.tile.scan;
  if (!u.present) throw std::invalid_argument("tile.scan.present is false: the profile has no scan unit");
  const bool data_fixed = numerics::is_fixed(u.data_format), state_fixed = numerics::is_fixed(u.state_format);
  if (data_fixed != state_fixed)
    throw std::invalid_argument("a fixed-point data format with a float state format (or the reverse) is not modelled");
  if (u.pipeline_depth < 4)
    throw std::invalid_argument(fmt::format(
        "pipeline_depth {} is below the 4 stages the RTL needs from input to state update", u.pipeline_depth));
  const bool fixed_unit = data_fixed;
  FixedFormat d{}, s{};
  int data_w = 32, state_w = 32;
  if (fixed_unit) {
    d = numerics::fixed_format(u.data_format);
    s = numerics::fixed_format(u.state_format);
    data_w = d.total_bits();
    state_w = s.total_bits();
    if (u.exp_approx.method == ApproxMethod::shift_biased && s.frac_bits > d.frac_bits + numerics::kLog2eFracBits)
      throw std::invalid_argument("shift-biased exp: more state fraction bits than the exponent has is not supported");
  } else {
    data_w = u.data_format.type == NumberType::fp32 ? 32 : 16;
    state_w = u.state_format.type == NumberType::fp32 ? 32 : 16;
  }
  const int acc_w = data_w + state_w + clog2(u.max_state) + 1;
  if (fixed_unit && acc_w > 126) throw std::invalid_argument("the <h, C> accumulator would need more than 126 bits");
  const int max_beats = (u.max_state + u.lanes - 1) / u.lanes;

  const ApproxParams exp = approx_params(Function::exp, u.exp_approx, fixed_unit, d, s);
  const ApproxParams softplus = approx_params(Function::softplus, u.softplus_approx, fixed_unit, d, d);
  const ApproxParams silu = approx_params(Function::silu, u.silu_approx, fixed_unit, d, d);

  std::ostringstream os;
  os << "// Generated by scan_unit_gen from profile " << profile.name << " (" << profile.file.filename().string()
     << "). Do not edit: change the profile.\n";
  os << "// The scan unit's parameters, one macro each; read before the RTL sources.\n";
  const auto bit = [](bool b) { return fmt::format("1'b{:d}", b); };
  define(os, "SCAN_LANES", std::to_string(u.lanes));
  define(os, "SCAN_MAX_STATE", std::to_string(u.max_state));
  define(os, "SCAN_MAX_BEATS", std::to_string(max_beats), "ceil(MaxState / Lanes)");
  define(os, "SCAN_STATE_NW", std::to_string(clog2(u.max_state + 1)), "width of a state size 1..MaxState");
  define(os, "SCAN_BEAT_W", std::to_string(std::max(1, clog2(max_beats))), "width of a beat index");
  define(os, "SCAN_PIPELINE_DEPTH", std::to_string(u.pipeline_depth), "cycles from input beat to state update");
  define(os, "SCAN_MAMBA1", bit(u.supports(ScanMode::mamba1)));
  define(os, "SCAN_MAMBA2", bit(u.supports(ScanMode::mamba2)));
  define(os, "SCAN_IS_FLOAT", bit(!fixed_unit), "float formats: behavioural FP block (DPI-C), not synthesizable");
  define(os, "SCAN_DATA_TYPE", std::to_string(static_cast<int>(u.data_format.type)),
         "NumberType order: 0 fixed, 1 fp32, 2 bf16, 3 fp16");
  define(os, "SCAN_STATE_TYPE", std::to_string(static_cast<int>(u.state_format.type)));
  define(os, "SCAN_DATA_W", std::to_string(data_w));
  define(os, "SCAN_DATA_FRAC", std::to_string(d.frac_bits));
  define(os, "SCAN_STATE_W", std::to_string(state_w));
  define(os, "SCAN_STATE_FRAC", std::to_string(s.frac_bits));
  define(os, "SCAN_ACC_W", std::to_string(acc_w), "DataW + StateW + clog2(MaxState) + 1");
  define(os, "SCAN_FUSE_SOFTPLUS", bit(u.fuses(FusedOp::delta_softplus)));
  define(os, "SCAN_FUSE_D_SKIP", bit(u.fuses(FusedOp::d_skip)));
  define(os, "SCAN_FUSE_SILU_GATE", bit(u.fuses(FusedOp::silu_gate)));
  define(os, "SCAN_LOG2E_FRAC", std::to_string(numerics::kLog2eFracBits));
  define(os, "SCAN_LOG2E_RAW",
         fmt::format("{}'d{}", numerics::kLog2eFracBits + 2,
                     std::llround(std::ldexp(1.44269504088896340736, numerics::kLog2eFracBits))),
         "round(log2(e) * 2^Log2eFrac)");
  os << "// Approximations. ApproxMethod order: 0 exact, 1 piecewise-linear, 2 shift-biased\n";
  write_approx(os, "EXP", exp, state_w);
  write_approx(os, "SOFTPLUS", softplus, data_w);
  write_approx(os, "SILU", silu, data_w);
  return os.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: scan_unit_gen PROFILE OUT.svh\n";
    return 2;
  }
  try {
    const Profile profile = load_profile(argv[1]);
    const std::string text = generate(profile);
    // Rewrite only when the content changes, so an unchanged profile does not re-verilate.
    {
      std::ifstream old(argv[2], std::ios::binary);
      if (old) {
        const std::string previous((std::istreambuf_iterator<char>(old)), std::istreambuf_iterator<char>());
        if (previous == text) return 0;
      }
    }
    std::ofstream out(argv[2], std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error(fmt::format("cannot write {}", argv[2]));
  } catch (const std::exception& e) {
    std::cerr << "scan_unit_gen: " << argv[1] << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
