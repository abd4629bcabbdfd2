#include "cosim.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "harness.hpp"

namespace ssmsoc::rtl {

std::vector<std::string> cosim_profiles() { return scan_variant_profiles(); }

std::vector<CosimRow> run_cosim(const CosimOptions& options) {
  std::vector<std::string> profiles;
  if (options.profile == "all") {
    profiles = scan_variant_profiles();
  } else {
    profiles = {options.profile};
  }
  if (!options.trace_file.empty() && std::filesystem::path(options.trace_file).extension() != ".fst")
    throw std::invalid_argument(
        fmt::format("trace file '{}': only FST traces (.fst) are supported", options.trace_file));
  const std::vector<Case> reference =
      options.refdata
          ? refdata_cases(options.refdata_directory.empty() ? default_refdata_directory() : options.refdata_directory)
          : std::vector<Case>{};
  std::vector<CosimRow> rows;
  for (const std::string& name : profiles) {
    const Profile profile = load_profile(name);
    std::unique_ptr<ScanEngine> engine = make_scan_engine(name);
    if (!options.trace_file.empty()) {
      std::filesystem::path file = options.trace_file;
      if (profiles.size() > 1) file.replace_extension(fmt::format(".{}.fst", name));
      engine->open_trace(file.string());
    }
    CosimRow row;
    row.profile = name;
    double seconds = 0;
    long lane_steps = 0;
    auto add = [&](const Case& c) {
      const CaseResult r = run_case(*engine, c, profile.tile.scan);
      ++row.cases;
      row.steps += r.steps;
      row.mismatches += r.mismatches;
      row.cycles += static_cast<long>(r.cycles);
      seconds += r.rtl_seconds;
      lane_steps += r.lane_steps;
      if (r.first.found && row.first_mismatch.empty()) row.first_mismatch = r.first.message;
    };
    for (const Case& c : reference) {
      // A reference case the unit cannot hold (N above max_state, a mode it lacks) is skipped.
      bool fits = true;
      for (const Phase& p : c.phases) {
        const bool mamba2 = p.kernel == Kernel::state_update_multihead || p.kernel == Kernel::ssd;
        fits = fits && p.state <= profile.tile.scan.max_state &&
               profile.tile.scan.supports(mamba2 ? ScanMode::mamba2 : ScanMode::mamba1);
      }
      if (fits) add(c);
    }
    for (const Case& c : random_cases(profile.tile.scan, options.seed, options.cases)) add(c);
    row.lane_steps_per_s = seconds > 0 ? static_cast<double>(lane_steps) / seconds : 0;
    rows.push_back(row);
  }
  return rows;
}

}  // namespace ssmsoc::rtl
