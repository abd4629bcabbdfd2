// Fuzz target: the silicon profile loader (YAML → validated Profile), the figures derived
// from a profile it accepts and their JSON (what `ssmsoc profile show --json` prints). A
// profile may name a shipped base (`base: krsna-mobile`).
#include "arch/spec/config_tree.hpp"
#include "arch/spec/profile.hpp"
#include "arch/spec/profile_json.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto file = ssmsoc::fuzz::input_file(data, size, "profile.yaml");
  try {
    const ssmsoc::Profile profile = ssmsoc::load_profile_file(file);
    const ssmsoc::ProfileFigures figures = ssmsoc::derive_figures(profile);
    (void)ssmsoc::profile_to_json(profile).dump();
    (void)ssmsoc::figures_to_json(figures).dump();
  } catch (const ssmsoc::ConfigError&) {
  }
  return 0;
}
