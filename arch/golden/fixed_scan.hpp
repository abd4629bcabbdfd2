// Bit-accurate scan kernels: the selective scan, state updates and the sequential SSD
// recurrence exactly as a profile's scan unit computes them (arch/NUMERICS.md, "The
// datapath"). They take the same float inputs as the golden kernels (kernels.hpp),
// quantize them to the unit's data format, run the datapath in the unit's formats with its
// approximations, do the operations the unit does not fuse in float32 on the vector unit,
// and return the float results together with the raw values the RTL must reproduce.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "arch/golden/kernels.hpp"
#include "arch/spec/profile.hpp"

namespace ssmsoc::fixed {

// Raw values: two's complement integers for a fixed format, IEEE bit patterns (fp32: 32
// bits; bf16, fp16: 16 bits) for a float format.
struct ScanOutput {
  golden::ScanResult result;            // out (after the vector unit's post-ops) and final state, as float
  std::vector<std::int64_t> out_raw;    // what the unit writes (y, plus the fused post-ops), in state_format
  std::vector<std::int64_t> state_raw;  // the final state, in state_format
};

// Mamba-1 selective scan; the state starts at zero, or at initial_state_raw
// ([batch, dim, state] raw values in state_format) when that is not empty.
ScanOutput selective_scan(const golden::SelectiveScanArgs& args, const ScanUnit& unit,
                          std::span<const std::int64_t> initial_state_raw = {});

// One decode step, Mamba-1 layout. The state is args.state_in quantized to state_format,
// or state_raw when that is not empty (then args.state_in may be empty).
ScanOutput selective_state_update(const golden::StateUpdateArgs& args, const ScanUnit& unit,
                                  std::span<const std::int64_t> state_raw = {});

// One decode step, Mamba-2 multi-head layout (scalar A per head). State as above.
ScanOutput selective_state_update_multihead(const golden::MultiHeadStateUpdateArgs& args, const ScanUnit& unit,
                                            std::span<const std::int64_t> state_raw = {});

// Mamba-2 SSD in its sequential form, on the golden kernel's arguments (kernels.hpp,
// golden::SsdArgs; dt already after softplus): h_t = exp(dt_t*A) h_{t-1} + (dt_t*x_t) B_t,
// y_t = <h_t, C_t> + D*x_t. result.out is y [batch, length, heads, head_dim]; result.state
// the final state.
using golden::SsdArgs;
ScanOutput ssd_sequential(const SsdArgs& args, const ScanUnit& unit,
                          std::span<const std::int64_t> initial_state_raw = {});

// Operands as a trained-from-initialisation Mamba layer sees them (arch/NUMERICS.md,
// "Realistic operands"), seeded: per channel (Mamba-1) or head (Mamba-2) a dt bias with
// softplus(dt_bias) log-uniform in [0.001, 0.1] (the official dt initialisation) and a
// per-step projection dt_raw ~ N(0, 0.5), so dt = softplus(dt_raw + dt_bias);
// A = -exp(A_log) with A_log = log(U(1, 16)); x (u), z, B, C ~ N(0, 1) (unit RMS);
// D ~ U(0.5, 1.5). The vectors own the data; args() views them.
inline constexpr double kRealisticDtRawSigma = 0.5;
struct Mamba1Operands {
  int batch = 0, dim = 0, length = 0, state = 0;
  std::vector<float> u, delta, delta_bias, A, B, C, D, z;
  // A selective scan with the softplus and the bias in the kernel (delta_softplus).
  golden::SelectiveScanArgs args() const;
};
struct Mamba2Operands {
  int batch = 0, length = 0, heads = 0, head_dim = 0, state = 0;
  std::vector<float> x, dt, A, B, C, D;  // dt after softplus(dt_raw + dt_bias), as the SSD takes it
  SsdArgs args() const;
};
Mamba1Operands realistic_mamba1_operands(std::uint64_t seed, int batch, int dim, int length, int state);
Mamba2Operands realistic_mamba2_operands(std::uint64_t seed, int batch, int length, int heads, int head_dim, int state);

// The error table of arch/NUMERICS.md: each shipped profile with a scan unit, its fixed
// kernels against the float32 golden kernels on realistic operands of L = 2048 steps
// (the shapes are in NUMERICS.md). rel = max |error| / max |reference| over the tensor.
inline constexpr std::uint64_t kErrorTableSeed = 20261101;
inline constexpr int kErrorTableLength = 2048;
struct ErrorRow {
  std::string profile;
  std::string kernel;  // "selective_scan" (Mamba-1) or "ssd" (Mamba-2)
  std::string shape;
  double out_abs = 0, out_rel = 0, state_abs = 0, state_rel = 0;
};
// One row: the profile's unit on the realistic operands of `seed`.
ErrorRow selective_scan_error(const std::string& profile, const ScanUnit& unit, std::uint64_t seed);
ErrorRow ssd_error(const std::string& profile, const ScanUnit& unit, std::uint64_t seed);
std::vector<ErrorRow> error_table(std::uint64_t seed = kErrorTableSeed);
std::string error_table_markdown(const std::vector<ErrorRow>& rows);

}  // namespace ssmsoc::fixed
