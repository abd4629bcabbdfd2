// `ssmsoc kernel`: runs the golden kernel a kernel-case file names and writes its outputs.
#include "commands.hpp"
#include "config_tree.hpp"
#include "kernel_runner.hpp"

#include <fmt/format.h>

namespace ssmsoc::cli {

int kernel_run(const KernelCommand& command, std::ostream& out) {
  KernelRequest request;
  request.kernel = command.kernel;
  for (const auto& flag : command.flags) {
    const KernelFlags parsed = parse_kernel_flags(flag, "--flag");
    if (parsed.size() != 1) throw ConfigError(fmt::format("--flag: expected one name=value, got '{}'", flag));
    request.overrides.insert(parsed.begin(), parsed.end());
  }
  const SafetensorsFile input = read_safetensors(command.in);
  const SafetensorsFile result = run_kernel_case(input, command.in, request);
  write_safetensors(command.out, result);
  std::string names;
  for (const auto& [name, tensor] : result.tensors) names += (names.empty() ? "" : ", ") + name;
  out << fmt::format("{}: {} -> {} ({})\n", result.metadata.at("kernel"), command.in, command.out, names);
  return 0;
}

int kernel_list(std::ostream& out) {
  for (const auto& name : golden_kernel_names()) out << name << '\n';
  return 0;
}

}  // namespace ssmsoc::cli
