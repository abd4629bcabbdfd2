// `ssmsoc kernel`: runs the golden kernel a kernel-case file names and writes its outputs;
// `ssmsoc numerics`: the scan units' error against the float kernels.
#include "arch/golden/fixed_scan.hpp"
#include "arch/golden/kernel_runner.hpp"
#include "arch/spec/config_tree.hpp"
#include "arch/spec/profile.hpp"
#include "cli/commands.hpp"

#include <fmt/format.h>

#include <optional>

namespace ssmsoc::cli {

int kernel_run(const KernelCommand& command, std::ostream& out) {
  KernelRequest request;
  request.kernel = command.kernel;
  for (const auto& flag : command.flags) {
    const KernelFlags parsed = parse_kernel_flags(flag, "--flag");
    if (parsed.size() != 1) throw ConfigError(fmt::format("--flag: expected one name=value, got '{}'", flag));
    request.overrides.insert(parsed.begin(), parsed.end());
  }
  std::optional<Profile> profile;
  if (command.format == "fixed") {
    if (command.profile.empty())
      throw ConfigError("--format fixed: needs --profile NAME|FILE (whose scan unit to run)");
    profile = load_profile(command.profile);
    if (!profile->tile.scan.present)
      throw ConfigError(fmt::format("--profile {}: has no scan unit ({}), so there is no bit-accurate kernel to run",
                                    profile->name, name_of(profile->family)));
    request.unit = &profile->tile.scan;
    request.format_name = "fixed:" + profile->name;
  } else if (!command.profile.empty()) {
    throw ConfigError("--profile: only used with --format fixed");
  }
  const SafetensorsFile input = read_safetensors(command.in);
  const SafetensorsFile result = run_kernel_case(input, command.in, request);
  write_safetensors(command.out, result);
  std::string names;
  for (const auto& [name, tensor] : result.tensors) names += (names.empty() ? "" : ", ") + name;
  out << fmt::format("{} ({}): {} -> {} ({})\n", result.metadata.at("kernel"), request.format_name, command.in,
                     command.out, names);
  return 0;
}

int numerics_table(std::uint64_t seed, std::ostream& out) {
  out << fixed::error_table_markdown(fixed::error_table(seed));
  return 0;
}

int kernel_list(std::ostream& out) {
  for (const auto& name : golden_kernel_names()) out << name << '\n';
  return 0;
}

}  // namespace ssmsoc::cli
