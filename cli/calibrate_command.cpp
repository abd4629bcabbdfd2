// `ssmsoc calibrate`: a GPU profile's kernel model against measurements of the real chip
// (tools/calibrate's JSON): each record predicted and measured, then per suite and set the
// median and largest error.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/profile.hpp"
#include "cli/commands.hpp"
#include "host/performance_run.hpp"
#include "sim/kernel_calibration.hpp"

namespace ssmsoc::cli {

int calibrate(const CalibrateCommand& command, std::ostream& out) {
  const Profile profile = load_profile(command.profile);
  if (command.set != "all" && command.set != "calibration" && command.set != "validation")
    throw ConfigError(fmt::format("--set: expected calibration, validation or all, got '{}'", command.set));
  const std::vector<sim::CalibrationRow> rows = host::predict_measurements(profile, command.measurements, command.set);
  out << fmt::format("{} against {}\n", profile.name, command.measurements);
  out << fmt::format("{:<12} {:<28} {:<6} {:<11} {:>12} {:>12} {:>8}  {}\n", "suite", "op", "launch", "set",
                     "measured us", "predicted us", "error", "shape");
  std::map<std::pair<std::string, std::string>, std::vector<double>> errors;  // (suite, set) -> |error|
  std::size_t unmodelled = 0;
  for (const sim::CalibrationRow& r : rows) {
    if (!r.not_modelled.empty()) {
      ++unmodelled;
      out << fmt::format("{:<12} {:<28} {:<6} {:<11} {:>12.3f} {:>12} {:>8}  {} ({})\n", r.suite, r.op, r.launch, r.set,
                         r.measured_us, "-", "-", r.shape, r.not_modelled);
      continue;
    }
    errors[{r.suite, r.set}].push_back(std::abs(r.error()));
    out << fmt::format("{:<12} {:<28} {:<6} {:<11} {:>12.3f} {:>12.3f} {:>+7.1f}%  {}\n", r.suite, r.op, r.launch,
                       r.set, r.measured_us, r.predicted_us, 100 * r.error(), r.shape);
  }
  out << fmt::format("\n{:<12} {:<11} {:>8} {:>14} {:>14}\n", "suite", "set", "records", "median |error|",
                     "max |error|");
  for (auto& [key, e] : errors) {
    std::sort(e.begin(), e.end());
    const double median = e.size() % 2 ? e[e.size() / 2] : (e[e.size() / 2 - 1] + e[e.size() / 2]) / 2;
    out << fmt::format("{:<12} {:<11} {:>8} {:>13.1f}% {:>13.1f}%\n", key.first, key.second, e.size(), 100 * median,
                       100 * e.back());
  }
  if (unmodelled) out << fmt::format("{} records the model does not describe (their reasons above)\n", unmodelled);
  return 0;
}

}  // namespace ssmsoc::cli
