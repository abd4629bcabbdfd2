// Fuzz target: the command line of `ssmsoc` — every subcommand, option, validator and range
// check of cli/main.cpp, with the commands themselves replaced by stubs (the other targets
// fuzz what they read). The input is the argument list, one argument per line.
//
// cli/main.cpp is the only translation unit with the CLI's registration code, all in an
// anonymous namespace; it is compiled here with its main() renamed so this file can build
// the same application.
#define main ssmsoc_cli_main
#include "cli/main.cpp"  // NOLINT(bugprone-suspicious-include)
#undef main

#include <string_view>

namespace ssmsoc::cli {

// Stubs: parsing reached the command with these arguments.
int profile_list(bool, std::ostream&) { return 0; }
int profile_show(const std::string&, bool, std::ostream&) { return 0; }
int kernel_run(const KernelCommand&, std::ostream&) { return 0; }
int kernel_list(std::ostream&) { return 0; }
int numerics_table(std::uint64_t, std::ostream&) { return 0; }
int golden_run(const GoldenCommand&, std::ostream&) { return 0; }
int compile_run(const CompileCommand&, std::ostream&) { return 0; }
int model_run(const RunCommand&, std::ostream&) { return 0; }
int serve(const ServeCommand&, std::ostream&) { return 0; }
int calibrate(const CalibrateCommand&, std::ostream&) { return 0; }
int compare(const CompareCommand&, std::ostream&) { return 0; }
int reproduce(const ReproduceCommand&, std::ostream&) { return 0; }
int sweep(const SweepCommand&, std::ostream&) { return 0; }
int report(const ReportCommand&, std::ostream&) { return 0; }
int cosim(const CosimCommand&, std::ostream&) { return 0; }
int disasm(const std::string&, const std::string&, std::ostream&) { return 0; }
int sim_run(const SimCommand&, std::ostream&) { return 0; }

}  // namespace ssmsoc::cli

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> args{"ssmsoc"};
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (!rest.empty() && args.size() < 64) {
    const std::size_t end = rest.find('\n');
    args.emplace_back(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  CLI::App app{"ssmsoc"};
  app.set_version_flag("--version", "0");
  app.require_subcommand(1);
  Outcome outcome;
  add_commands(app, outcome);
  try {
    app.parse(static_cast<int>(args.size()), argv.data());
    (void)app.help();            // the usage text of whatever was parsed
  } catch (const CLI::Error&) {  // usage errors, --help and --version: main exits 2 or 0
  } catch (const ssmsoc::ConfigError&) {
  }
  return 0;
}
