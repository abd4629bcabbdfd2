#include "host/performance_run.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <thread>

#include "arch/golden/fixed_scan.hpp"
#include "arch/spec/config_tree.hpp"
#include "sim/kernel_model.hpp"

namespace ssmsoc::host {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

// The ops of one run of a phase grouped by their name over all layers, busiest first.
std::vector<OpShare> op_shares(const compiler::PhaseProgram& phase, const sim::SimResult& result) {
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
  std::vector<OpShare> shares;
  for (const auto& [name, group] : order) shares.push_back({name, total > 0 ? group.busy / total : 0, group.dram});
  return shares;
}

// The decoder layers of a phase's ops (one more than the last layer index).
int layers_of(const compiler::PhaseProgram& phase) {
  int layers = 0;
  for (const compiler::PrimOp& op : phase.lowered.ops) layers = std::max(layers, op.layer + 1);
  return layers;
}

// Per op of a sampled phase (PhaseProgram::samples), its statistics: those of the longer
// sample where the op ran there (its span moved past the layers the sample skipped when it
// comes after them); an op of a layer the sample skipped takes those of the op at its place in
// the periods the longer sample averages over, its span moved by the periods between.
std::vector<sim::OpStats> extrapolated_ops(const compiler::PhaseProgram& phase, const sim::SimResult& longer,
                                           double period_cycles) {
  const auto& ops = phase.lowered.ops;
  const int period = phase.layer_period, layers = phase.layers, tail = layers - layers % period;
  const int warmup = compiler::kWarmupPeriods * period, averaged = phase.averaged_periods * period;
  std::vector<std::size_t> begin(std::size_t(layers) + 1, ops.size());  // each layer's first op; then their end
  for (std::size_t i = 0; i < ops.size(); ++i)
    if (ops[i].layer >= 0) {
      begin[std::size_t(ops[i].layer)] = std::min(begin[std::size_t(ops[i].layer)], i);
      begin[std::size_t(layers)] = i + 1;
    }
  const auto moved = [&](sim::OpStats s, int periods) {
    const auto by = static_cast<std::uint64_t>(std::llround(periods * period_cycles));
    if (s.commands > 0) s.first_cycle += by, s.last_cycle += by;
    return s;
  };
  const auto ran = [&](std::size_t i) { return i < longer.ops.size() ? longer.ops[i] : sim::OpStats{}; };
  std::vector<sim::OpStats> out(ops.size());
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const int layer = ops[i].layer;
    if (layer >= warmup + averaged && layer < tail) {
      const int same = warmup + (layer - warmup) % averaged;
      out[i] = moved(ran(begin[std::size_t(same)] + (i - begin[std::size_t(layer)])), (layer - same) / period);
    } else if (layer >= tail || (layer < 0 && i >= begin[std::size_t(layers)])) {
      out[i] = moved(ran(i), (tail - warmup - averaged) / period);
    } else {
      out[i] = ran(i);
    }
  }
  return out;
}

// A number format as the profiles and NUMERICS.md write it: Q7.15 (fixed) or its type's name.
std::string format_name(const NumberFormat& f) {
  return f.type == NumberType::fixed ? fmt::format("Q{}.{}", f.int_bits, f.frac_bits) : std::string(name_of(f.type));
}
std::string approximation_name(const Approximation& a) {
  return a.method == ApproxMethod::piecewise_linear ? fmt::format("piecewise-linear, {} segments", a.segments)
                                                    : std::string(name_of(a.method));
}

// The scan unit that ran the model's scans, and its error against the float golden kernel on
// realistic operands of the model's scan (arch/NUMERICS.md's table, one row); null without a
// unit or an SSM.
json scan_unit_json(const Profile& profile, int generation) {
  const ScanUnit& unit = profile.tile.scan;
  const ScanMode mode = generation == 1 ? ScanMode::mamba1 : ScanMode::mamba2;
  if (!unit.present || generation == 0 || !unit.supports(mode)) return nullptr;
  const fixed::ErrorRow e = generation == 1 ? fixed::selective_scan_error(profile.name, unit, fixed::kErrorTableSeed)
                                            : fixed::ssd_error(profile.name, unit, fixed::kErrorTableSeed);
  json fused = json::array();
  for (FusedOp op : unit.fused_ops) fused.push_back(std::string(name_of(op)));
  return {{"lanes", unit.lanes},
          {"max_state", unit.max_state},
          {"data_format", format_name(unit.data_format)},
          {"state_format", format_name(unit.state_format)},
          {"state_storage", std::string(name_of(unit.state_storage))},
          {"exp", approximation_name(unit.exp_approx)},
          {"softplus", unit.softplus_approx ? json(approximation_name(*unit.softplus_approx)) : json(nullptr)},
          {"fused", fused},
          {"error",
           {{"kernel", e.kernel},
            {"shape", e.shape},
            {"seed", fixed::kErrorTableSeed},
            {"output_max_abs", e.out_abs},
            {"output_max_rel", e.out_rel},
            {"state_max_abs", e.state_abs},
            {"state_max_rel", e.state_rel}}}};
}

}  // namespace

std::string readable(double value) {
  return std::abs(value) >= 1e4 ? fmt::format("{:.0f}", value) : fmt::format("{:.4g}", value);
}

std::string csv_quoted(const std::string& text) {
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + '"';
}

json figure(double value, const char* unit) { return json{{"value", value}, {"unit", unit}}; }

ServingFigures serving_figures(const compiler::CompileResult& compiled, const std::vector<sim::SimResult>& simulated,
                               const compiler::Scenario& scenario) {
  ServingFigures f;
  double decode_step_energy_j = 0, engine_cycles = 0;
  double prompt_compute_s = 0, prompt_dram_bytes = 0, dram_seconds_per_byte = 0;
  std::array<double, SSM_ENGINE_COUNT> busy_cycles{};
  for (std::size_t i = 0; i < compiled.phases.size() && i < simulated.size(); ++i) {
    const compiler::PhaseProgram& phase = compiled.phases[i];
    const sim::SimResult& result = simulated[i];
    const double n = phase.runs;
    f.total_s += n * result.seconds;
    f.energy_j += n * result.energy_j;
    f.dram_bytes += n * double(result.dram_read_bytes + result.dram_write_bytes);
    const double hz = result.cycles > 0 ? double(result.cycles) / result.seconds : 1;
    if (phase.name == "decode") {
      f.decode_latency_s = result.seconds;
      f.decode_bound_s = phase.bound.cycles() / hz;
      decode_step_energy_j = result.energy_j;
    } else {
      f.time_to_first_token_s += n * result.seconds;
      prompt_compute_s += n * phase.bound.compute_cycles() / hz;
      // A shorter last chunk reads the weights the full chunks read.
      if (phase.name != "prefill-rest") prompt_dram_bytes += double(phase.bound.weight_bytes);
      prompt_dram_bytes += n * 2.0 * double(phase.bound.state_bytes);
      if (phase.bound.dram_bytes > 0)
        dram_seconds_per_byte = phase.bound.dram_cycles / double(phase.bound.dram_bytes) / hz;
    }
    for (const auto& tile : result.tiles)
      for (std::size_t e = 0; e < SSM_ENGINE_COUNT; ++e) busy_cycles[e] += n * double(tile.engines[e].busy_cycles);
    engine_cycles += n * double(result.cycles) * double(result.tiles.size());
    std::size_t launches = 0;
    for (const KernelCall& k : phase.launches) launches += std::size_t(k.launches);
    const int layers = layers_of(phase);
    f.phases.push_back({phase.name, phase.runs, phase.launches.empty() ? phase.command_count() : launches, layers,
                        phase.samples.empty() ? layers : phase.samples.back().layers, result.cycles, result.seconds,
                        phase.estimated_cycles, phase.bound.cycles(), phase.bound.bound_by(),
                        op_shares(phase, result)});
  }
  f.time_to_first_token_bound_s = std::max(prompt_compute_s, prompt_dram_bytes * dram_seconds_per_byte);
  const int batch = scenario.batch;
  f.decode_tokens_per_s = f.decode_latency_s > 0 ? batch / f.decode_latency_s : 0;
  f.energy_per_token_j = f.decode_latency_s > 0 ? decode_step_energy_j / batch : 0;
  f.average_power_w = f.total_s > 0 ? f.energy_j / f.total_s : 0;
  f.generated_tokens = double(batch) * scenario.generate_tokens;
  for (std::size_t e = 0; e < SSM_ENGINE_COUNT; ++e)
    f.utilization[e] = engine_cycles > 0 ? busy_cycles[e] / engine_cycles : 0;
  return f;
}

PerformanceRun run_performance(const compiler::ModelSpec& model, const compiler::Scenario& scenario,
                               const Profile& profile, const PerformanceOptions& options) {
  const auto progress = [&](const std::string& line) {
    if (options.progress) options.progress(line);
  };
  PerformanceRun run;
  run.scenario = scenario;
  run.profile = profile;
  progress(fmt::format("compiling {} for {}", model.name, profile.name));
  compiler::CompileOptions compile_options = options.compile;
  compile_options.sample_layers = !options.all_layers && options.trace.empty() && !profile.kernels;
  run.compiled = compiler::compile(model, scenario, profile, compile_options);
  if (profile.kernels) {
    // An incumbent timed by its kernels (sim/kernel_model.hpp): a GPU replays every phase from a
    // CUDA graph, as a serving stack captures them; a CPU's or NPU's runtime replays decode and
    // runs the prompt op by op.
    if (!options.trace.empty())
      throw ConfigError(
          fmt::format("--trace: {} is timed by its kernels (kernels:), which draw no timeline", profile.name));
    for (const auto& phase : run.compiled.phases)
      run.simulated.push_back(sim::simulate_kernels(profile, phase.launches, phase.tiled.size(),
                                                    phase.name == "decode" || profile.family == Family::gpu));
    run.figures = serving_figures(run.compiled, run.simulated, scenario);
    return run;
  }

  std::vector<sim::SimJob> jobs;
  std::vector<std::string> job_names;
  std::size_t commands = 0;
  // The traces' folder is made with them (and goes again if the run fails).
  if (!options.trace.empty() && fs::path(options.trace).has_parent_path())
    run.trace_files.create_folder(fs::path(options.trace).parent_path());
  auto skipped = [&](const compiler::PhaseProgram& phase) {
    return !options.only_phases.empty() &&
           std::find(options.only_phases.begin(), options.only_phases.end(), phase.name) == options.only_phases.end();
  };
  for (const auto& phase : run.compiled.phases) {
    if (skipped(phase)) continue;
    sim::SimOptions sim_options;
    sim_options.source = phase.name;
    sim_options.command_op = &phase.command_op;
    if (!options.trace.empty()) {
      const fs::path trace(options.trace);
      sim_options.trace_path =
          run.trace_files
              .stage(trace.parent_path() / (trace.stem().string() + "." + phase.name + trace.extension().string()))
              .string();
    }
    if (phase.samples.empty()) {
      jobs.push_back({&phase.program, sim_options});
      job_names.push_back(phase.name);
      commands += phase.program.command_count();
    }
    for (const compiler::LayerSample& sample : phase.samples) {
      sim_options.source = fmt::format("{} ({} of {} layers)", phase.name, sample.layers, phase.layers);
      sim_options.command_op = &sample.command_op;
      jobs.push_back({&sample.program, sim_options});
      job_names.push_back(sim_options.source);
      commands += sample.program.command_count();
    }
  }
  // The Programs are independent simulations: one child process each.
  const int parallel =
      options.parallel > 0 ? options.parallel : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  progress(fmt::format("simulating {} Programs ({} commands) in {} processes", jobs.size(), commands,
                       std::min<std::size_t>(jobs.size(), std::size_t(parallel))));
  std::vector<sim::SimResult> results;
  try {
    results = sim::simulate_in_children(profile, jobs, parallel, [&](std::size_t i) {
      progress(fmt::format("simulated {} ({} of {})", job_names[i], i + 1, jobs.size()));
    });
  } catch (const ConfigError& e) {  // e.g. a trace that could not be written: name the user's file
    throw ConfigError(run.trace_files.naming_targets(e.what()));
  }
  std::size_t job = 0;
  for (const auto& phase : run.compiled.phases) {
    if (skipped(phase)) {
      run.simulated.emplace_back();
      continue;
    }
    if (phase.samples.empty()) {
      run.simulated.push_back(std::move(results[job++]));
      continue;
    }
    const sim::SimResult &shorter = results[job], &longer = results[job + 1];
    job += 2;
    sim::SimResult whole = sim::extrapolate(shorter, longer, phase.sample_repeats());
    whole.ops =
        extrapolated_ops(phase, longer, (double(longer.cycles) - double(shorter.cycles)) / phase.averaged_periods);
    run.simulated.push_back(std::move(whole));
  }
  run.figures = serving_figures(run.compiled, run.simulated, scenario);
  return run;
}

double predict_model_seconds(const compiler::ModelSpec& model, const Profile& profile, bool decode, int tokens,
                             int batch, bool graph, const compiler::CompileOptions& options) {
  if (!profile.kernels)
    throw ConfigError(
        fmt::format("{}: the profile has no kernels: section to predict a whole model with", profile.name));
  compiler::Scenario s;
  s.prompt_tokens = tokens;
  s.generate_tokens = decode ? 2 : 1;
  s.batch = batch;
  const compiler::CompileResult compiled = compiler::compile(model, s, profile, options);
  double seconds = 0;
  for (const auto& phase : compiled.phases) {
    if ((phase.name == "decode") != decode) continue;
    seconds += phase.runs * sim::simulate_kernels(profile, phase.launches, phase.tiled.size(), graph).seconds;
  }
  return seconds;
}

std::vector<sim::CalibrationRow> predict_measurements(const Profile& profile, const fs::path& file,
                                                      const std::string& set) {
  std::vector<sim::CalibrationRow> rows;
  std::size_t index = 0;
  for (sim::CalibrationRow& r : sim::predict_measurements(profile, file)) {
    const std::size_t i = index++;
    if (set != "all" && r.set != set) continue;
    if (!r.model.empty()) {
      compiler::CompileOptions options;
      options.precision = r.precision;
      try {
        r.predicted_us =
            1e6 * predict_model_seconds(compiler::load_workload(r.model, "shape.model"), profile, r.op == "decode_step",
                                        r.tokens, r.batch, r.launch == "graph", options);
      } catch (const ConfigError& e) {
        throw ConfigError(fmt::format("{}: measurements[{}] ({}): {}", file.string(), i, r.model, e.what()));
      }
      r.not_modelled.clear();
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

json summary_json(const PerformanceRun& run) {
  const ServingFigures& f = run.figures;
  const compiler::Scenario& s = run.scenario;
  json summary{
      {"model", run.compiled.model_name},
      {"profile", run.compiled.profile_name},
      {"classification", run.compiled.classification.summary},
      {"scenario", {{"prompt_tokens", s.prompt_tokens}, {"generate_tokens", s.generate_tokens}, {"batch", s.batch}}},
      {"precision", std::string(name_of(run.compiled.precision))},
      // "tiles": the SystemC model ran the Programs; "kernels": an incumbent's kernel model timed them.
      {"timing", run.profile.kernels ? "kernels" : "tiles"},
      {"time_to_first_token", figure(f.time_to_first_token_s, "s")},
      {"time_to_first_token_bound", figure(f.time_to_first_token_bound_s, "s")},
      {"decode_latency_bound", figure(f.decode_bound_s, "s")},
      {"decode_latency_per_token", figure(f.decode_latency_s, "s")},
      {"decode_throughput", figure(f.decode_tokens_per_s, "tokens/s")},
      {"total_time", figure(f.total_s, "s")},
      {"dram_traffic", figure(f.dram_bytes, "B")},
      {"energy", figure(f.energy_j, "J")},
      {"energy_per_generated_token", figure(f.energy_per_token_j, "J/token")},
      {"average_power", figure(f.average_power_w, "W")},
      {"generated_tokens", figure(f.generated_tokens, "tokens")}};
  json utilization = json::object();
  for (std::size_t e = 0; e < SSM_ENGINE_COUNT; ++e)
    utilization[engine_name(static_cast<ssm_engine>(e))] = figure(f.utilization[e], "fraction of cycles busy");
  summary["utilization"] = utilization;
  json kernels = json::array();
  for (const auto& k : run.compiled.kernels)
    kernels.push_back({{"phase", k.phase}, {"layers", k.layers}, {"reason", k.reason}});
  summary["scan_kernels"] = kernels;
  json phases = json::array();
  for (const auto& p : f.phases)
    phases.push_back({{"phase", p.phase},
                      {"runs", p.runs},
                      {"commands", p.commands},
                      {"layers", p.layers},
                      {"simulated_layers", p.simulated_layers},
                      {"cycles_per_run", p.cycles_per_run},
                      {"seconds_per_run", figure(p.seconds_per_run, "s")},
                      {"estimated_cycles_per_run", p.estimated_cycles_per_run},
                      {"bound_cycles_per_run", p.bound_cycles_per_run},
                      {"bound_by", p.bound_by},
                      {"efficiency", figure(p.efficiency(), "bound / simulated")}});
  summary["phases"] = phases;
  // The chip's ceilings (a report's roofline) and the memory a session holds, each with the
  // profile fields or the plan it comes from.
  const ProfileFigures chip = derive_figures(run.profile);
  const auto from = [](json value, const char* source) {
    value["from"] = source;
    return value;
  };
  json peak_flop = nullptr;
  for (const PrecisionFigures& m : chip.matrix)
    if (m.precision == run.compiled.precision)
      peak_flop = from(figure(m.peak_flop_per_s, "FLOP/s"),
                       "2 x tile.matrix.macs_per_cycle.<precision> x tile_count x clock_mhz");
  summary["chip"] = {{"tiles", run.profile.tile_count},
                     {"clock", from(figure(chip.clock_hz, "Hz"), "clock_mhz")},
                     {"peak_matrix", peak_flop},
                     {"peak_scan", from(figure(chip.peak_scan_steps_per_s, "lane steps/s"),
                                        "tile.scan.lanes x tile_count x clock_mhz")},
                     {"peak_vector", from(figure(chip.peak_vector_ops_per_s, "lane-cycles/s"),
                                          "tile.vector.lanes x tile_count x clock_mhz")},
                     {"dram_bandwidth", from(figure(chip.dram_bytes_per_s, "B/s"), "dram.bandwidth_gb_per_s")},
                     {"area", from(figure(chip.total_area_mm2, "mm2"), "area.* (per tile x tile_count)")},
                     {"idle_power", from(figure(chip.idle_power_w, "W"), "energy.leakage_w")}};
  const compiler::MemoryPlan& memory = run.compiled.memory;
  summary["memory"] = {
      {"weights", from(figure(double(memory.weight_bytes), "B"), "the model's weights in the run's precision")},
      {"context_tokens", memory.context},
      {"ssm_state_per_session", from(figure(double(memory.ssm_state_bytes_per_session), "B"),
                                     "conv and SSM states of one session (the memory plan)")},
      {"kv_cache_per_session", from(figure(double(memory.kv_bytes_per_session), "B"),
                                    "keys and values of one session at context_tokens (the memory plan)")}};
  summary["scan_unit"] = scan_unit_json(run.profile, run.compiled.classification.ssm_generation);
  return summary;
}

json stats_json(const PerformanceRun& run, const Profile& profile) {
  json stats = json::array();
  for (std::size_t p = 0; p < run.simulated.size() && p < run.compiled.phases.size(); ++p) {
    const compiler::PhaseProgram& phase = run.compiled.phases[p];
    json phase_stats = sim::to_json(run.simulated[p], profile);
    for (std::size_t i = 0; i < phase_stats["ops"].size(); ++i) {  // ops by compiler op, named
      phase_stats["ops"][i]["name"] = phase.tiled[i].name;
      phase_stats["ops"][i]["kind"] = compiler::prim_name(phase.tiled[i].kind);
    }
    stats.push_back({{"phase", phase.name}, {"runs", phase.runs}, {"stats", phase_stats}});
  }
  return stats;
}

}  // namespace ssmsoc::host
