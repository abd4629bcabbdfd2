// `ssmsoc compile` (a model to Programs for a profile, any stage dumped) and `ssmsoc run`
// (compile, then simulate every phase on the SystemC model and report the serving figures).
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "compiler.hpp"
#include "config_tree.hpp"
#include "profile.hpp"
#include "sim.hpp"

namespace ssmsoc::cli {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

// A model by path, or by workload name (workloads/models/NAME.yaml in the source tree).
compiler::ModelSpec model_of(const std::string& name_or_path) {
  if (fs::exists(name_or_path)) return compiler::load_model(name_or_path);
  const fs::path workload =
      profile_directory().parent_path().parent_path() / "workloads" / "models" / (name_or_path + ".yaml");
  if (fs::exists(workload)) return compiler::load_model(workload);
  throw ConfigError(fmt::format("--model {}: no such file, folder or workload (see workloads/models)", name_or_path));
}

compiler::Scenario scenario_of(const ModelRunOptions& o) {
  compiler::Scenario s;
  if (!o.scenario.empty()) s = compiler::load_scenario(o.scenario);
  if (o.prompt > 0) s.prompt_tokens = o.prompt;
  if (o.generate >= 0) s.generate_tokens = o.generate;
  if (o.batch > 0) s.batch = o.batch;
  compiler::check_scenario(s);
  return s;
}

// Progress on the terminal only, so redirected output stays clean and deterministic.
void progress(const std::string& line) {
  if (isatty(STDERR_FILENO)) std::fprintf(stderr, "\r\033[K%s", line.c_str());
}

json figure(double value, const char* unit) { return json{{"value", value}, {"unit", unit}}; }

}  // namespace

int compile_run(const CompileCommand& command, std::ostream& out) {
  const Profile profile = load_profile(command.model.profile);
  const compiler::ModelSpec model = model_of(command.model.model);
  const compiler::CompileResult result = compiler::compile(model, scenario_of(command.model), profile);
  const auto& stages = compiler::stage_names();
  if (std::find(stages.begin(), stages.end(), command.emit) == stages.end())
    throw ConfigError(fmt::format("--emit {}: expected one of {}", command.emit, fmt::join(stages, ", ")));
  if (!command.out.empty()) {
    fs::create_directories(command.out);
    for (const auto& phase : result.phases)
      write_program((fs::path(command.out) / (phase.name + ".ssmp")).string(), phase.program);
  }
  out << compiler::emit(result, command.emit);
  return 0;
}

int model_run(const RunCommand& command, std::ostream& out) {
  const Profile profile = load_profile(command.model.profile);
  const compiler::ModelSpec model = model_of(command.model.model);
  const compiler::Scenario scenario = scenario_of(command.model);
  progress(fmt::format("compiling {} for {}", model.name, profile.name));
  const compiler::CompileResult compiled = compiler::compile(model, scenario, profile);

  struct PhaseRun {
    const compiler::PhaseProgram* phase;
    sim::SimResult result;
  };
  std::vector<PhaseRun> runs;
  for (std::size_t i = 0; i < compiled.phases.size(); ++i) {
    const auto& phase = compiled.phases[i];
    progress(fmt::format("simulating {} ({} of {}, {} commands)", phase.name, i + 1, compiled.phases.size(),
                         phase.program.command_count()));
    sim::SimOptions options;
    options.source = phase.name;
    if (!command.trace.empty()) {
      const fs::path trace(command.trace);
      options.trace_path =
          (trace.parent_path() / (trace.stem().string() + "." + phase.name + trace.extension().string())).string();
    }
    runs.push_back({&phase, sim::simulate_in_child(profile, phase.program, options)});
  }
  progress("");

  // Totals over every run of every phase; the serving figures from the phases' roles.
  double prefill_s = 0, decode_step_s = 0, total_s = 0, energy_j = 0, decode_energy_j = 0, dram_bytes = 0;
  std::array<double, SSM_ENGINE_COUNT> busy{};
  double engine_cycles = 0;
  for (const auto& r : runs) {
    const double n = r.phase->runs;
    total_s += n * r.result.seconds;
    energy_j += n * r.result.energy_j;
    dram_bytes += n * double(r.result.dram_read_bytes + r.result.dram_write_bytes);
    if (r.phase->name == "decode") {
      decode_step_s = r.result.seconds;
      decode_energy_j = r.result.energy_j;
    } else {
      prefill_s += n * r.result.seconds;
    }
    for (const auto& tile : r.result.tiles)
      for (std::size_t e = 0; e < SSM_ENGINE_COUNT; ++e) busy[e] += n * double(tile.engines[e].busy_cycles);
    engine_cycles += n * double(r.result.cycles) * double(r.result.tiles.size());
  }
  const int batch = scenario.batch;
  const double decode_tokens_per_s = decode_step_s > 0 ? batch / decode_step_s : 0;
  const double generated = double(batch) * scenario.generate_tokens;
  const double energy_per_token_j = decode_step_s > 0 ? decode_energy_j / batch : 0;

  json summary{
      {"model", model.name},
      {"profile", profile.name},
      {"classification", compiled.classification.summary},
      {"scenario",
       {{"prompt_tokens", scenario.prompt_tokens}, {"generate_tokens", scenario.generate_tokens}, {"batch", batch}}},
      {"precision", std::string(name_of(compiled.precision))},
      {"time_to_first_token", figure(prefill_s, "s")},
      {"decode_latency_per_token", figure(decode_step_s, "s")},
      {"decode_throughput", figure(decode_tokens_per_s, "tokens/s")},
      {"total_time", figure(total_s, "s")},
      {"dram_traffic", figure(dram_bytes, "B")},
      {"energy", figure(energy_j, "J")},
      {"energy_per_generated_token", figure(energy_per_token_j, "J/token")},
      {"average_power", figure(total_s > 0 ? energy_j / total_s : 0, "W")},
      {"generated_tokens", figure(generated, "tokens")}};
  json utilization = json::object();
  for (std::size_t e = 0; e < SSM_ENGINE_COUNT; ++e)
    utilization[engine_name(static_cast<ssm_engine>(e))] =
        figure(engine_cycles > 0 ? busy[e] / engine_cycles : 0, "fraction of cycles busy");
  summary["utilization"] = utilization;
  json kernels = json::array();
  for (const auto& k : compiled.kernels)
    kernels.push_back({{"phase", k.phase}, {"layers", k.layers}, {"reason", k.reason}});
  summary["scan_kernels"] = kernels;
  json phases = json::array();
  for (const auto& r : runs)
    phases.push_back({{"phase", r.phase->name},
                      {"runs", r.phase->runs},
                      {"commands", r.phase->program.command_count()},
                      {"cycles_per_run", r.result.cycles},
                      {"seconds_per_run", figure(r.result.seconds, "s")}});
  summary["phases"] = phases;

  if (!command.out.empty()) {
    fs::create_directories(command.out);
    json stats = json::array();
    for (const auto& r : runs)
      stats.push_back({{"phase", r.phase->name}, {"runs", r.phase->runs}, {"stats", sim::to_json(r.result, profile)}});
    std::ofstream(fs::path(command.out) / "summary.json") << summary.dump(2) << '\n';
    std::ofstream(fs::path(command.out) / "stats.json") << stats.dump(2) << '\n';
  }

  out << fmt::format("{} on {} ({}), prompt {} tokens, {} generated, batch {}, {}\n", model.name, profile.name,
                     compiled.classification.summary, scenario.prompt_tokens, scenario.generate_tokens, batch,
                     name_of(compiled.precision));
  out << fmt::format("  time to first token      {:.4g} ms\n", prefill_s * 1e3);
  out << fmt::format("  decode latency per token {:.4g} ms\n", decode_step_s * 1e3);
  out << fmt::format("  decode throughput        {:.4g} tokens/s\n", decode_tokens_per_s);
  out << fmt::format("  total time               {:.4g} ms\n", total_s * 1e3);
  out << fmt::format("  DRAM traffic             {:.4g} GB\n", dram_bytes / 1e9);
  out << fmt::format("  energy                   {:.4g} J ({:.4g} mJ per generated token)\n", energy_j,
                     energy_per_token_j * 1e3);
  out << fmt::format("  average power            {:.4g} W\n", total_s > 0 ? energy_j / total_s : 0);
  out << "  utilization             ";
  for (std::size_t e = 0; e < SSM_ENGINE_COUNT; ++e)
    out << fmt::format(" {} {:.1f}%", engine_name(static_cast<ssm_engine>(e)),
                       engine_cycles > 0 ? 100 * busy[e] / engine_cycles : 0);
  out << '\n';
  for (const auto& r : runs)
    out << fmt::format("  phase {:<13} {:>4} run(s) x {:>12} cycles, {:>8} commands\n", r.phase->name, r.phase->runs,
                       r.result.cycles, r.phase->program.command_count());
  if (!command.out.empty()) out << fmt::format("  wrote {}/summary.json and {}/stats.json\n", command.out, command.out);
  return 0;
}

}  // namespace ssmsoc::cli
