// `ssmsoc sim`: run a Program on the SystemC model of a profile and print a summary.
#include <fmt/format.h>

#include <memory>
#include <stdexcept>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/output_file.hpp"
#include "arch/spec/profile.hpp"
#include "arch/spec/program.hpp"
#include "cli/commands.hpp"
#include "rtl/scan_unit/cosim.hpp"
#include "sim/sim.hpp"

namespace ssmsoc::cli {

int sim_run(const SimCommand& command, std::ostream& out) {
  const Profile profile = load_profile(command.profile);
  const Program program = read_program(command.program);
  sim::SimOptions options;
  options.functional = command.functional;
  OutputFiles outputs;  // the trace and the statistics: both appear, or neither
  if (!command.trace.empty()) options.trace_path = outputs.stage(command.trace).string();
  options.source = command.program;
  std::unique_ptr<rtl::CommandCosim> rtl_scan;
  if (command.rtl_scan) {
    if (!profile.tile.scan.present) throw ConfigError(fmt::format("--rtl-scan: {} has no scan unit RTL", profile.name));
    try {
      rtl_scan = std::make_unique<rtl::CommandCosim>(profile);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(fmt::format("--rtl-scan: {}", e.what()));
    }
    options.scan_override = [&](const ssm_scan& s) { return rtl_scan->run(s); };
  }
  // One simulation in this process: SystemC elaborates here, once.
  sim::SimResult result;
  try {
    result = sim::simulate(profile, program, options);
  } catch (const std::runtime_error& e) {  // ConfigError too; and what functional mode does not model
    throw ConfigError(outputs.naming_targets(e.what()));
  }
  if (!command.stats.empty()) outputs.add(command.stats).write(sim::to_json(result, profile).dump(2) + '\n');
  outputs.commit();
  out << sim::summary(result, profile);
  if (rtl_scan) out << "scan commands run on the RTL scan unit: " << rtl_scan->commands() << " (0 mismatches)\n";
  if (!command.trace.empty()) out << "trace: " << command.trace << '\n';
  if (!command.stats.empty()) out << "stats: " << command.stats << '\n';
  return 0;
}

}  // namespace ssmsoc::cli
