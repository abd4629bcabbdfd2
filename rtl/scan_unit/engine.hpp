// What the generated variant translation units share with the harness: the formats a
// driver needs and the factory signature. Internal to ssmsoc_rtl_scan_unit.
#pragma once

#include <memory>

#include "rtl/scan_unit/harness.hpp"

namespace ssmsoc::rtl {

struct EngineConfig {
  int lanes = 1;
  int data_bits = 16, state_bits = 32;
  bool fixed = true;  // raw state values are sign-extended (else IEEE bit patterns)
};

// The formats of a profile's unit, as scan_unit_gen derives them for the RTL package.
EngineConfig engine_config(const ScanUnit& unit);

using EngineFactory = std::unique_ptr<ScanEngine> (*)(const EngineConfig&);

}  // namespace ssmsoc::rtl
