// `ssmsoc cosim`: the scan of every profile checked against its reference — the Verilated
// RTL scan unit against the bit-accurate kernels (bit for bit) on chips with a scan unit,
// the software scan the compiler selects against the float golden kernels (within the
// stated bound) on the others.
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "arch/golden/scan_algorithms.hpp"
#include "arch/spec/config_tree.hpp"
#include "arch/spec/profile.hpp"
#include "cli/commands.hpp"
#include "rtl/scan_unit/cosim.hpp"

namespace ssmsoc::cli {

namespace {

std::string rate(double per_s) {
  return per_s >= 1e6 ? fmt::format("{:.1f} M", per_s / 1e6) : fmt::format("{:.0f} k", per_s / 1e3);
}

}  // namespace

int cosim(const CosimCommand& command, std::ostream& out) {
  std::vector<std::string> wanted;
  if (command.profile == "all") {
    for (const auto& file : shipped_profile_files()) wanted.push_back(file.stem().string());
  } else {
    wanted.push_back(load_profile(command.profile).name);  // a clear error for an unknown name
  }
  const auto rtl_profiles = rtl::cosim_profiles();
  const auto has_rtl = [&](const std::string& name) {
    return std::find(rtl_profiles.begin(), rtl_profiles.end(), name) != rtl_profiles.end();
  };

  std::vector<rtl::CosimRow> rtl_rows;
  if (std::any_of(wanted.begin(), wanted.end(), has_rtl)) {
    rtl::CosimOptions options;
    options.profile = command.profile == "all" ? "all" : wanted.front();
    options.seed = command.seed;
    options.cases = command.cases;
    options.trace_file = command.trace;
    try {
      rtl_rows = rtl::run_cosim(options);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(fmt::format("cosim: {}", e.what()));
    }
  } else if (!command.trace.empty()) {
    throw ConfigError(fmt::format("--trace: {} has no scan unit RTL to trace", wanted.front()));
  }
  std::vector<scanalgo::SoftwareScanRow> software_rows;
  if (!std::all_of(wanted.begin(), wanted.end(), has_rtl))
    for (auto& row : scanalgo::software_scan_check(command.seed))
      if (std::find(wanted.begin(), wanted.end(), row.profile) != wanted.end()) software_rows.push_back(row);

  bool failed = false;
  out << fmt::format("{:<20} {:<52} {:>6} {:>9} {:>24} {:>8} {:>13}\n", "PROFILE", "CHECK", "CASES", "STEPS", "RESULT",
                     "CYCLES", "LANE-STEPS/S");
  for (const auto& r : rtl_rows) {
    failed = failed || r.mismatches > 0;
    out << fmt::format("{:<20} {:<52} {:>6} {:>9} {:>24} {:>8} {:>13}\n", r.profile,
                       "RTL scan unit vs bit-accurate kernels", r.cases, r.steps,
                       r.mismatches == 0 ? std::string("0 mismatches") : fmt::format("{} MISMATCHES", r.mismatches),
                       r.cycles, rate(r.lane_steps_per_s));
    if (!r.first_mismatch.empty()) out << "  first mismatch: " << r.first_mismatch << '\n';
  }
  for (const auto& r : software_rows) {
    failed = failed || !r.pass;
    std::string algorithms = r.algorithms;  // "mamba1: A; mamba2: B" -> "software A / B"
    for (const auto& [from, to] : {std::pair{"mamba1: ", "software "}, std::pair{"; mamba2: ", " / "}})
      if (auto at = algorithms.find(from); at != std::string::npos)
        algorithms.replace(at, std::string(from).size(), to);
    out << fmt::format("{:<20} {:<52} {:>6} {:>9} {:>24} {:>8} {:>13}\n", r.profile, algorithms, r.cases, r.steps,
                       fmt::format("rel {:.1e} {} {:.1e}", r.max_rel, r.pass ? "<=" : "> BOUND", r.bound), "-", "-");
  }
  return failed ? 1 : 0;
}

}  // namespace ssmsoc::cli
