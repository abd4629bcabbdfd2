#include "rtl/scan_unit/planted_bug.hpp"

#include "rtl/scan_unit/engine.hpp"

namespace ssmsoc::rtl {

std::unique_ptr<ScanEngine> make_engine_Vscan_bug_krsna_mobile(const EngineConfig& config);

std::unique_ptr<ScanEngine> make_planted_bug_engine() {
  return make_engine_Vscan_bug_krsna_mobile(engine_config(load_profile(kPlantedBugProfile).tile.scan));
}

}  // namespace ssmsoc::rtl
