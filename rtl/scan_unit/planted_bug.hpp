// Test-only: the krsna-mobile scan unit built with +define+PLANT_BUG (bit 2 of the eighth
// result after reset flipped), its own Verilated PREFIX. Library ssmsoc_rtl_scan_unit_bug.
#pragma once

#include <memory>

#include "rtl/scan_unit/harness.hpp"

namespace ssmsoc::rtl {

inline constexpr const char* kPlantedBugProfile = "krsna-mobile";
std::unique_ptr<ScanEngine> make_planted_bug_engine();

}  // namespace ssmsoc::rtl
