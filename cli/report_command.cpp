// `ssmsoc report`: reports/report.hpp renders, this writes and says where.
#include <fmt/format.h>

#include <chrono>

#include "cli/commands.hpp"
#include "reports/report.hpp"

namespace ssmsoc::cli {

int report(const ReportCommand& command, std::ostream& out) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::filesystem::path> results(command.results.begin(), command.results.end());
  reports::ReportOptions options;
  options.sweep_db = command.sweep_db;
  options.title = command.title;
  options.page_folder = std::filesystem::path(command.out).parent_path();
  if (options.page_folder.empty()) options.page_folder = ".";
  const reports::Report report = reports::make_report(results, options);
  const std::vector<std::filesystem::path> written = reports::write_report(report, command.out);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out << fmt::format("wrote {} and {} table{} beside it ({:.2f} s)\n", written.front().string(), written.size() - 1,
                     written.size() == 2 ? "" : "s", seconds);
  return 0;
}

}  // namespace ssmsoc::cli
