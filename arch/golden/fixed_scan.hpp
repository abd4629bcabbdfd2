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

// The error table of arch/NUMERICS.md: each shipped profile with a scan unit, its fixed
// kernels against the float32 golden kernels on seeded random inputs (the ranges are in
// NUMERICS.md). rel = max |error| / max |reference| over the tensor.
inline constexpr std::uint64_t kErrorTableSeed = 20261101;
struct ErrorRow {
  std::string profile;
  std::string kernel;  // "selective_scan" (Mamba-1) or "ssd" (Mamba-2)
  std::string shape;
  double out_abs = 0, out_rel = 0, state_abs = 0, state_rel = 0;
};
std::vector<ErrorRow> error_table(std::uint64_t seed = kErrorTableSeed);
std::string error_table_markdown(const std::vector<ErrorRow>& rows);

}  // namespace ssmsoc::fixed
