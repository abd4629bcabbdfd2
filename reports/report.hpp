// `ssmsoc report`: one self-contained HTML page, and a CSV per table beside it, from result
// files only: run folders (summary.json and stats.json of `ssmsoc run --out`), comparisons
// (compare.json of `ssmsoc compare --out`) and sweeps (a sweep spec and its database). One
// result is a run's report; several are compared side by side.
//
//   Report r = make_report({"runs/quickstart", "runs/other"});
//   write_report(r, "report.html");  // report.html, report-runs.csv, report-ops.csv, ...
//
// The page answers where time and energy go (by op, by engine, by component with the profile
// field behind each figure), how far each op is from the roofline, how the chip is used over
// time, how a model scales with context (time and the memory a session holds), which design
// of a sweep wins (the Pareto front over any two objectives), and how accurate the scan unit
// is. Its charts are SVG made here; it has no script and fetches nothing.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace ssmsoc::reports {

struct ReportOptions {
  // A sweep's database; default: its spec's stem + ".db" in the working folder, as
  // `ssmsoc sweep` writes it.
  std::filesystem::path sweep_db;
  std::string title = "ssmsoc report";
  // Where the page will be: links to a run's Perfetto traces are relative to it.
  std::filesystem::path page_folder = ".";
};

// A table of the report, written as <stem>-<name>.csv beside the page.
struct Table {
  std::string name;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

struct Report {
  std::string html;
  std::vector<Table> tables;
};

// Reads every result (a run folder or its summary.json, a comparison folder or its
// compare.json, a sweep spec .yaml); ConfigError naming the file and the place (a JSON
// error's line and column, a missing figure's key) on bad input.
Report make_report(const std::vector<std::filesystem::path>& results, const ReportOptions& options = {});

// RFC 4180: fields with a comma, quote or line break quoted.
std::string csv(const Table& table);

// The page at `html` and its tables beside it: all written, or none. Returns their paths.
std::vector<std::filesystem::path> write_report(const Report& report, const std::filesystem::path& html);

}  // namespace ssmsoc::reports
