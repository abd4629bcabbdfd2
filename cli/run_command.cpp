// `ssmsoc compile` (a model to Programs for a profile, any stage dumped) and `ssmsoc run`
// (compile, then simulate every phase on the SystemC model and report the serving figures).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "arch/golden/safetensors.hpp"
#include "arch/hf/golden_model.hpp"
#include "arch/spec/config_tree.hpp"
#include "arch/spec/profile.hpp"
#include "cli/commands.hpp"
#include "compiler/compiler.hpp"
#include "host/functional_driver.hpp"
#include "sim/sim.hpp"

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

compiler::CompileOptions compile_options_of(const ModelRunOptions& o) {
  compiler::CompileOptions options;
  options.prefill_chunk = o.prefill_chunk;
  options.precision = o.precision;
  return options;
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

// The ops that keep the engines busiest in one run of a phase, each name taken over all
// layers ("mamba.in_proj" for layers.N.mamba.in_proj): share of the engines' busy cycles
// and DRAM bytes.
std::string busiest_ops(const compiler::PhaseProgram& phase, const sim::SimResult& result) {
  struct Group {
    double busy = 0, dram = 0;
  };
  std::map<std::string, Group> groups;
  double total = 0;
  for (std::size_t i = 0; i < result.ops.size() && i < phase.tiled.size(); ++i) {
    std::string name = phase.tiled[i].name;
    if (name.starts_with("layers.")) name = name.substr(name.find('.', 7) + 1);
    const sim::OpStats& o = result.ops[i];
    double busy = 0;
    for (std::uint64_t b : o.busy_cycles) busy += double(b);
    groups[name].busy += busy;
    groups[name].dram += double(o.dram_read_bytes + o.dram_write_bytes);
    total += busy;
  }
  std::vector<std::pair<std::string, Group>> order(groups.begin(), groups.end());
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.second.busy > b.second.busy; });
  std::string out = fmt::format("  busiest ops in {} (share of engine-busy cycles, DRAM bytes per run):", phase.name);
  for (std::size_t i = 0; i < std::min<std::size_t>(5, order.size()); ++i)
    out += fmt::format(" {} {:.0f}% {:.3g} GB;", order[i].first, total > 0 ? 100 * order[i].second.busy / total : 0,
                       order[i].second.dram / 1e9);
  out.back() = '\n';
  return out;
}

double max_abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    worst = std::max(worst, std::fabs(double(a[i]) - double(b[i])));
  return worst;
}

// `run --functional`: the checkpoint through the simulated chip with real data
// (host::FunctionalDriver), compared with the golden model.
int functional_run(const RunCommand& command, std::ostream& out) {
  const ModelRunOptions& o = command.model;
  if (!o.scenario.empty() || o.prompt > 0 || o.batch > 0)
    throw ConfigError("--functional: the prompt and batch come from --input (no --scenario, --prompt, --batch)");
  if (!command.trace.empty()) throw ConfigError("--functional: --trace is for performance runs");
  if (!o.precision.empty())
    throw ConfigError("--functional: the precision follows the chip (fp32 where it has it, else bf16 or fp16)");
  if (command.input.empty()) throw ConfigError("--functional needs --input (safetensors with input_ids)");
  const fs::path dir(o.model);
  if (!fs::is_directory(dir) || !fs::exists(dir / "model.safetensors"))
    throw ConfigError(
        fmt::format("--model {}: --functional needs a checkpoint folder (config.json + model.safetensors)", o.model));
  const Profile profile = load_profile(o.profile);
  const SafetensorsFile input = read_safetensors(command.input);
  const host::FunctionalDriver rt(load_hf_checkpoint(dir), profile, host::DriverOptions{o.prefill_chunk});
  const GoldenModel golden(rt.checkpoint());
  const int vocab = golden.vocab_size();
  const int generate = std::max(0, o.generate);

  int batch = 0, length = 0;
  const auto ids = token_ids(input, command.input, "input_ids", vocab, batch, length);
  int gen_batch = 0, gen_length = 0;
  std::vector<std::int64_t> prompt;
  if (generate > 0) prompt = token_ids(input, command.input, "gen_prompt_ids", vocab, gen_batch, gen_length);

  progress(fmt::format("simulating {} on {} (functional)", dir.filename().string(), profile.name));
  const host::FunctionalResult forward = rt.forward(batch, length, ids);
  const double logits_error = max_abs_difference(forward.logits, golden.forward(batch, length, ids));
  SafetensorsFile tensors;
  tensors.metadata = {{"producer", "ssmsoc run --functional"},
                      {"model_type", rt.checkpoint().model_type},
                      {"profile", profile.name},
                      {"precision", std::string(name_of(forward.precision))}};
  tensors.tensors["logits"] = Tensor::from_f32({batch, length, vocab}, forward.logits);
  std::vector<host::PhaseRun> runs = forward.runs;
  host::FunctionalResult gen;
  double gen_error = 0;
  bool ids_match = true;
  if (generate > 0) {
    progress(fmt::format("simulating {} on {} (functional, {} new tokens)", dir.filename().string(), profile.name,
                         generate));
    gen = rt.generate(gen_batch, gen_length, prompt, generate);
    const GoldenModel::Generation expected = golden.generate(gen_batch, gen_length, prompt, generate);
    gen_error = max_abs_difference(gen.logits, expected.logits);
    ids_match = gen.new_ids == expected.new_ids;
    tensors.tensors["gen_new_ids"] = Tensor::from_i64({gen_batch, generate}, gen.new_ids);
    tensors.tensors["gen_logits"] = Tensor::from_f32({gen_batch, generate, vocab}, gen.logits);
    runs.insert(runs.end(), gen.runs.begin(), gen.runs.end());
  }
  progress("");

  // Simulated runs per phase.
  struct PhaseTotal {
    std::string phase;
    int runs = 0;
    std::uint64_t cycles = 0;
    double seconds = 0, energy_j = 0;
  };
  std::vector<PhaseTotal> totals;
  double seconds = 0, energy = 0;
  for (const auto& r : runs) {
    auto it = std::find_if(totals.begin(), totals.end(), [&](const PhaseTotal& t) { return t.phase == r.phase; });
    if (it == totals.end()) it = totals.insert(totals.end(), PhaseTotal{r.phase});
    ++it->runs;
    it->cycles += r.cycles;
    it->seconds += r.seconds;
    it->energy_j += r.energy_j;
    seconds += r.seconds;
    energy += r.energy_j;
  }

  if (!command.tensors_out.empty()) write_safetensors(command.tensors_out, tensors);
  const std::string model_name = dir.filename().string();
  if (!command.out.empty()) {
    json summary{{"model", model_name},
                 {"profile", profile.name},
                 {"mode", "functional"},
                 {"classification", forward.classification},
                 {"precision", std::string(name_of(forward.precision))},
                 {"input_ids", {batch, length}},
                 {"max_logits_error_vs_golden", figure(logits_error, "max |logits - golden logits|")}};
    if (generate > 0) {
      summary["gen_prompt_ids"] = {gen_batch, gen_length};
      summary["generated_tokens"] = generate;
      summary["generated_ids_equal_golden"] = ids_match;
      summary["max_gen_logits_error_vs_golden"] = figure(gen_error, "max |gen_logits - golden gen_logits|");
    }
    summary["simulated_time"] = figure(seconds, "s");
    summary["energy"] = figure(energy, "J");
    json phases = json::array();
    for (const auto& t : totals)
      phases.push_back({{"phase", t.phase},
                        {"runs", t.runs},
                        {"cycles", t.cycles},
                        {"seconds", figure(t.seconds, "s")},
                        {"energy", figure(t.energy_j, "J")}});
    summary["phases"] = phases;
    fs::create_directories(command.out);
    std::ofstream(fs::path(command.out) / "summary.json") << summary.dump(2) << '\n';
  }

  out << fmt::format("{} on {} ({}), functional, {}\n", model_name, profile.name, forward.classification,
                     name_of(forward.precision));
  out << fmt::format("  input_ids [{}, {}] -> logits; max |logits - golden| {:.3g}\n", batch, length, logits_error);
  if (generate > 0)
    out << fmt::format("  gen_prompt_ids [{}, {}] -> {} new ids ({} golden's); max |gen_logits - golden| {:.3g}\n",
                       gen_batch, gen_length, generate, ids_match ? "equal to" : "DIFFERENT from", gen_error);
  for (const auto& t : totals)
    out << fmt::format("  phase {:<13} {:>4} run(s), {:>10} cycles, {:.4g} ms simulated\n", t.phase, t.runs, t.cycles,
                       t.seconds * 1e3);
  if (!command.tensors_out.empty()) out << fmt::format("  wrote {}\n", command.tensors_out);
  if (!command.out.empty()) out << fmt::format("  wrote {}/summary.json\n", command.out);
  return 0;
}

}  // namespace

int compile_run(const CompileCommand& command, std::ostream& out) {
  const auto& stages = compiler::stage_names();
  if (std::find(stages.begin(), stages.end(), command.emit) == stages.end())
    throw ConfigError(fmt::format("--emit {}: expected one of {}", command.emit, fmt::join(stages, ", ")));
  const Profile profile = load_profile(command.model.profile);
  const compiler::ModelSpec model = model_of(command.model.model);
  const compiler::CompileResult result =
      compiler::compile(model, scenario_of(command.model), profile, compile_options_of(command.model));
  if (!command.out.empty()) {
    fs::create_directories(command.out);
    for (const auto& phase : result.phases)
      write_program((fs::path(command.out) / (phase.name + ".ssmp")).string(), phase.program);
  }
  out << compiler::emit(result, command.emit);
  return 0;
}

int model_run(const RunCommand& command, std::ostream& out) {
  if (command.functional) return functional_run(command, out);
  if (!command.input.empty() || !command.tensors_out.empty())
    throw ConfigError("--input and --tensors-out need --functional");
  const Profile profile = load_profile(command.model.profile);
  const compiler::ModelSpec model = model_of(command.model.model);
  const compiler::Scenario scenario = scenario_of(command.model);
  progress(fmt::format("compiling {} for {}", model.name, profile.name));
  const compiler::CompileResult compiled =
      compiler::compile(model, scenario, profile, compile_options_of(command.model));

  struct PhaseRun {
    const compiler::PhaseProgram* phase;
    sim::SimResult result;
  };
  std::vector<sim::SimJob> jobs;
  std::size_t commands = 0;
  for (const auto& phase : compiled.phases) {
    sim::SimOptions options;
    options.source = phase.name;
    options.command_op = &phase.command_op;
    if (!command.trace.empty()) {
      const fs::path trace(command.trace);
      options.trace_path =
          (trace.parent_path() / (trace.stem().string() + "." + phase.name + trace.extension().string())).string();
    }
    jobs.push_back({&phase.program, options});
    commands += phase.program.command_count();
  }
  // The phases are independent simulations: one child process each, as many at a time as
  // there are cores.
  const int parallel = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  progress(fmt::format("simulating {} phases ({} commands) in {} processes", jobs.size(), commands,
                       std::min<std::size_t>(jobs.size(), std::size_t(parallel))));
  const std::vector<sim::SimResult> results = sim::simulate_in_children(profile, jobs, parallel, [&](std::size_t i) {
    progress(fmt::format("simulated {} ({} of {})", compiled.phases[i].name, i + 1, jobs.size()));
  });
  std::vector<PhaseRun> runs;
  for (std::size_t i = 0; i < results.size(); ++i) runs.push_back({&compiled.phases[i], results[i]});
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
    for (const auto& r : runs) {
      json phase_stats = sim::to_json(r.result, profile);
      for (std::size_t i = 0; i < phase_stats["ops"].size(); ++i) {  // ops by compiler op, named
        phase_stats["ops"][i]["name"] = r.phase->tiled[i].name;
        phase_stats["ops"][i]["kind"] = compiler::prim_name(r.phase->tiled[i].kind);
      }
      stats.push_back({{"phase", r.phase->name}, {"runs", r.phase->runs}, {"stats", phase_stats}});
    }
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
  for (const auto& r : runs)
    if (r.phase->name == "prefill" || r.phase->name == "decode") out << busiest_ops(*r.phase, r.result);
  if (!command.out.empty()) out << fmt::format("  wrote {}/summary.json and {}/stats.json\n", command.out, command.out);
  return 0;
}

}  // namespace ssmsoc::cli
