// `ssmsoc reproduce`: the published accelerators' reported points (workloads/validation/*.yaml)
// run on their designs' profiles, each next to the paper's number with the ratio.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/output_file.hpp"
#include "arch/spec/profile.hpp"
#include "cli/commands.hpp"
#include "host/reproduction.hpp"

namespace ssmsoc::cli {

namespace fs = std::filesystem;

int reproduce(const ReproduceCommand& command, std::ostream& out) {
  std::vector<host::ReproductionSpec> specs;
  if (command.specs.empty()) specs = host::load_reproductions(host::validation_directory());
  for (const std::string& s : command.specs) {
    if (fs::is_directory(s)) {
      for (host::ReproductionSpec& spec : host::load_reproductions(s)) specs.push_back(std::move(spec));
    } else {
      if (!fs::is_regular_file(s)) throw ConfigError(fmt::format("{}: no such reproduction spec", s));
      specs.push_back(host::load_reproduction(s));
    }
  }
  host::ReproductionOptions options;
  options.progress = [](const std::string& line) {
    if (isatty(STDERR_FILENO)) std::fprintf(stderr, "\r\033[K%s", line.c_str());
  };
  const std::vector<host::ReproducedPoint> points = host::reproduce(specs, options);
  options.progress("");
  out << host::reproduction_table(points);
  std::size_t outside = 0;
  for (const host::ReproducedPoint& p : points) outside += p.within() ? 0 : 1;
  out << fmt::format("\n{} of {} points within their tolerance\n", points.size() - outside, points.size());
  if (!command.out.empty()) {
    OutputFiles outputs;
    outputs.create_folder(command.out);
    outputs.add(fs::path(command.out) / "reproduction.json").write(host::reproduction_json(points).dump(2) + '\n');
    outputs.commit();
    out << fmt::format("wrote {}\n", (fs::path(command.out) / "reproduction.json").string());
  }
  return outside == 0 ? 0 : 1;
}

}  // namespace ssmsoc::cli
