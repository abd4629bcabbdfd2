#include "rtl/scan_unit/engine.hpp"

#include "arch/numerics/numerics.hpp"

namespace ssmsoc::rtl {

EngineConfig engine_config(const ScanUnit& unit) {
  EngineConfig c;
  c.lanes = unit.lanes;
  c.fixed = numerics::is_fixed(unit.data_format);
  c.data_bits = c.fixed ? unit.data_format.total_bits() : (unit.data_format.type == NumberType::fp32 ? 32 : 16);
  c.state_bits = c.fixed ? unit.state_format.total_bits() : (unit.state_format.type == NumberType::fp32 ? 32 : 16);
  return c;
}

}  // namespace ssmsoc::rtl
