// `ssmsoc compile` (a model to Programs for a profile, any stage dumped), `ssmsoc run`
// (compile, then simulate every phase on the SystemC model and report the serving figures) and
// `ssmsoc compare` (models run on several profiles, their figures side by side).
#include <fmt/format.h>

#include <unistd.h>
#include <set>
#include <sstream>

#include <algorithm>
#include <filesystem>

#include "arch/golden/safetensors.hpp"
#include "arch/hf/checkpoint.hpp"
#include "arch/spec/config_tree.hpp"
#include "arch/spec/output_file.hpp"
#include "arch/spec/profile.hpp"
#include "cli/commands.hpp"
#include "compiler/compiler.hpp"
#include "host/comparison.hpp"
#include "host/functional_driver.hpp"
#include "host/functional_run.hpp"
#include "host/performance_run.hpp"
#include "host/serving.hpp"

namespace ssmsoc::cli {

namespace fs = std::filesystem;

namespace {

compiler::CompileOptions compile_options_of(const ModelRunOptions& o) {
  compiler::CompileOptions options;
  options.prefill_chunk = o.prefill_chunk;
  options.precision = o.precision;
  options.fuse = !o.no_fusion;
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

// `run --functional`: the checkpoint through the simulated chip with real data, compared
// with the golden model (host::run_functional).
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
  const host::FunctionalDriver driver(load_hf_checkpoint(dir), profile, host::DriverOptions{o.prefill_chunk});
  const int vocab = driver.checkpoint().vocab_size;
  host::FunctionalRequest request;
  request.generate = std::max(0, o.generate);
  request.ids = token_ids(input, command.input, "input_ids", vocab, request.batch, request.length);
  if (request.generate > 0)
    request.prompt = token_ids(input, command.input, "gen_prompt_ids", vocab, request.gen_batch, request.gen_length);

  const std::string model_name = dir.filename().string();
  const host::FunctionalRun run = host::run_functional(driver, model_name, request, progress);
  progress("");

  OutputFiles outputs;  // all appear, or none
  if (!command.tensors_out.empty()) write_safetensors(outputs.add(command.tensors_out), run.tensors);
  if (!command.out.empty()) {
    outputs.create_folder(command.out);
    outputs.add(fs::path(command.out) / "summary.json").write(host::summary_json(run).dump(2) + '\n');
  }
  outputs.commit();

  out << fmt::format("{} on {} ({}), functional, {}\n", model_name, profile.name, run.classification,
                     name_of(run.precision));
  out << fmt::format("  input_ids [{}, {}] -> logits; max |logits - golden| {:.3g}\n", request.batch, request.length,
                     run.max_logits_error);
  if (request.generate > 0)
    out << fmt::format("  gen_prompt_ids [{}, {}] -> {} new ids ({} golden's); max |gen_logits - golden| {:.3g}\n",
                       request.gen_batch, request.gen_length, request.generate,
                       run.generated_ids_equal_golden ? "equal to" : "DIFFERENT from", run.max_gen_logits_error);
  for (const auto& t : run.phases)
    out << fmt::format("  phase {:<13} {:>4} run(s), {:>10} cycles, {:.4g} ms simulated\n", t.phase, t.runs, t.cycles,
                       t.seconds * 1e3);
  if (!command.tensors_out.empty()) out << fmt::format("  wrote {}\n", command.tensors_out);
  if (!command.out.empty()) out << fmt::format("  wrote {}/summary.json\n", command.out);
  return 0;
}

// The serving figures as `run` prints them.
void print_figures(const host::PerformanceRun& run, std::ostream& out) {
  const host::ServingFigures& f = run.figures;
  const compiler::Scenario& s = run.scenario;
  out << fmt::format("{} on {} ({}), prompt {} tokens, {} generated, batch {}, {}\n", run.compiled.model_name,
                     run.compiled.profile_name, run.compiled.classification.summary, s.prompt_tokens, s.generate_tokens,
                     s.batch, name_of(run.compiled.precision));
  // A bound is what no mapping beats; efficiency = bound / simulated.
  auto against = [](double simulated, double bound) {
    return bound > 0 ? fmt::format(" (bound {:.4g} ms, efficiency {:.2f})", bound * 1e3, bound / simulated) : "";
  };
  out << fmt::format("  time to first token      {:.4g} ms{}\n", f.time_to_first_token_s * 1e3,
                     against(f.time_to_first_token_s, f.time_to_first_token_bound_s));
  out << fmt::format("  decode latency per token {:.4g} ms{}\n", f.decode_latency_s * 1e3,
                     f.decode_latency_s > 0 ? against(f.decode_latency_s, f.decode_bound_s) : "");
  out << fmt::format("  decode throughput        {:.4g} tokens/s\n", f.decode_tokens_per_s);
  out << fmt::format("  total time               {:.4g} ms\n", f.total_s * 1e3);
  out << fmt::format("  DRAM traffic             {:.4g} GB\n", f.dram_bytes / 1e9);
  out << fmt::format("  energy                   {:.4g} J ({:.4g} mJ per generated token)\n", f.energy_j,
                     f.energy_per_token_j * 1e3);
  out << fmt::format("  average power            {:.4g} W\n", f.average_power_w);
  // An incumbent timed by its kernels (sim/kernel_model.hpp): its time by kind of kernel, its launches.
  const bool kernels = !run.compiled.phases.empty() && !run.compiled.phases.front().launches.empty();
  if (kernels) {
    out << fmt::format("  time in kernels          matrix {:.1f}% scan {:.1f}% memory-bound {:.1f}%\n",
                       100 * f.utilization[SSM_ENGINE_MATRIX], 100 * f.utilization[SSM_ENGINE_SCAN],
                       100 * f.utilization[SSM_ENGINE_DMA]);
  } else {
    out << "  utilization             ";
    for (std::size_t e = 0; e < SSM_ENGINE_COUNT; ++e)
      out << fmt::format(" {} {:.1f}%", engine_name(static_cast<ssm_engine>(e)), 100 * f.utilization[e]);
    out << '\n';
  }
  for (const auto& p : f.phases) {
    const std::string estimate =
        kernels ? std::string()
                : fmt::format("estimate {:+.1f} %, ",
                              100 * (p.estimated_cycles_per_run / std::max<double>(1, double(p.cycles_per_run)) - 1));
    const std::string sampled =
        p.simulated_layers < p.layers
            ? fmt::format(" ({} of {} layers simulated, the rest extrapolated)", p.simulated_layers, p.layers)
            : std::string();
    out << fmt::format(
        "  phase {:<13} {:>4} run(s) x {:>12} cycles ({}bound {:.0f} by {}, efficiency {:.2f}), {:>8} {}{}\n", p.phase,
        p.runs, p.cycles_per_run, estimate, p.bound_cycles_per_run, p.bound_by, p.efficiency(), p.commands,
        kernels ? "kernels" : "commands", sampled);
  }
  // The ops that keep the engines busiest in one run of prefill and of decode.
  for (const auto& p : f.phases) {
    if (p.phase != "prefill" && p.phase != "decode") continue;
    std::string line = fmt::format("  busiest ops in {} (share of engine-busy cycles, DRAM bytes per run):", p.phase);
    for (std::size_t i = 0; i < std::min<std::size_t>(5, p.ops.size()); ++i)
      line +=
          fmt::format(" {} {:.0f}% {:.3g} GB;", p.ops[i].name, 100 * p.ops[i].busy_share, p.ops[i].dram_bytes / 1e9);
    line.back() = '\n';  // over the last ';' (the ':' when no op ran)
    out << line;
  }
}

}  // namespace

int compile_run(const CompileCommand& command, std::ostream& out) {
  const auto& stages = compiler::stage_names();
  if (std::find(stages.begin(), stages.end(), command.emit) == stages.end())
    throw ConfigError(fmt::format("--emit {}: expected one of {}", command.emit, fmt::join(stages, ", ")));
  const Profile profile = load_profile(command.model.profile);
  const compiler::ModelSpec model = compiler::load_workload(command.model.model);
  const compiler::CompileResult result =
      compiler::compile(model, scenario_of(command.model), profile, compile_options_of(command.model));
  if (!command.out.empty()) {
    OutputFiles programs;  // all appear, or none
    programs.create_folder(command.out);
    for (const auto& phase : result.phases) {
      const auto bytes = encode_program(phase.program);
      programs.add(fs::path(command.out) / (phase.name + ".ssmp")).write(bytes.data(), bytes.size());
    }
    programs.commit();
  }
  out << compiler::emit(result, command.emit);
  return 0;
}

int model_run(const RunCommand& command, std::ostream& out) {
  if (command.functional) return functional_run(command, out);
  if (!command.input.empty() || !command.tensors_out.empty())
    throw ConfigError("--input and --tensors-out need --functional");
  const Profile profile = load_profile(command.model.profile);
  const compiler::ModelSpec model = compiler::load_workload(command.model.model);
  const compiler::Scenario scenario = scenario_of(command.model);
  host::PerformanceOptions options;
  options.compile = compile_options_of(command.model);
  options.trace = command.trace;
  options.all_layers = command.all_layers;
  options.progress = progress;
  host::PerformanceRun run = host::run_performance(model, scenario, profile, options);
  progress("");

  if (!command.out.empty()) {  // with the traces: all appear, or none
    run.trace_files.create_folder(command.out);
    run.trace_files.add(fs::path(command.out) / "summary.json").write(host::summary_json(run).dump(2) + '\n');
    run.trace_files.add(fs::path(command.out) / "stats.json").write(host::stats_json(run, profile).dump(2) + '\n');
  }
  run.trace_files.commit();
  print_figures(run, out);
  if (!command.out.empty()) out << fmt::format("  wrote {}/summary.json and {}/stats.json\n", command.out, command.out);
  return 0;
}

int compare(const CompareCommand& command, std::ostream& out) {
  // Every input read before anything runs: a wrong name fails at once.
  std::vector<compiler::ModelSpec> models;
  for (const std::string& m : command.models) models.push_back(compiler::load_workload(m));
  std::vector<Profile> profiles;
  if (command.profiles.empty())
    for (const fs::path& file : shipped_profile_files()) profiles.push_back(load_profile_file(file));
  for (const std::string& p : command.profiles) profiles.push_back(load_profile(p));
  host::ComparisonOptions options;
  options.compile = compile_options_of(command.scenario);
  options.serving_batch = command.serving_batch;
  options.progress = progress;
  const host::Comparison comparison = host::compare(models, profiles, scenario_of(command.scenario), options);
  progress("");
  if (!command.out.empty()) {
    OutputFiles outputs;  // both appear, or neither
    outputs.create_folder(command.out);
    outputs.add(fs::path(command.out) / "compare.json").write(host::comparison_json(comparison).dump(2) + '\n');
    outputs.add(fs::path(command.out) / "compare.csv").write(host::comparison_csv(comparison));
    outputs.commit();
  }
  out << host::comparison_table(comparison);
  if (!command.out.empty()) out << fmt::format("wrote {}/compare.json and {}/compare.csv\n", command.out, command.out);
  return 0;
}

namespace {

// "ttft=S,tbt=S" (either or both) into the options' objectives.
void parse_slo(const std::string& text, host::ServeOptions& options) {
  std::stringstream parts(text);
  std::string part;
  while (std::getline(parts, part, ',')) {
    const std::size_t eq = part.find('=');
    const std::string key = part.substr(0, eq);
    double value = 0;
    try {
      std::size_t used = 0;
      value = std::stod(part.substr(eq == std::string::npos ? part.size() : eq + 1), &used);
      if (eq == std::string::npos || used != part.size() - eq - 1 || !(value > 0)) throw std::invalid_argument("");
    } catch (const std::exception&) {
      throw ConfigError(fmt::format("--slo \"{}\": expected ttft=SECONDS,tbt=SECONDS (positive numbers)", text));
    }
    if (key == "ttft")
      options.slo_ttft_s = value;
    else if (key == "tbt")
      options.slo_tbt_s = value;
    else
      throw ConfigError(fmt::format("--slo \"{}\": unknown objective \"{}\" (ttft, tbt)", text, key));
  }
}

}  // namespace

// A serving scenario by name (workloads/scenarios/serve/NAME.yaml) or file.
fs::path serve_scenario_file(const std::string& name) {
  if (fs::exists(name)) return name;
  // Beside the shipped profiles, as compiler::load_workload finds the workloads.
  const fs::path file =
      profile_directory().parent_path().parent_path() / "workloads" / "scenarios" / "serve" / (name + ".yaml");
  if (!fs::exists(file)) {
    std::set<std::string> shipped;
    for (const auto& entry : fs::directory_iterator(file.parent_path()))
      if (entry.path().extension() == ".yaml") shipped.insert(entry.path().stem().string());
    std::string names;
    for (const std::string& n : shipped) names += (names.empty() ? "" : ", ") + n;
    throw ConfigError(fmt::format("--scenario \"{}\": no such serving scenario (shipped: {})", name, names));
  }
  return file;
}

int serve(const ServeCommand& command, std::ostream& out) {
  const int sources = !command.requests.empty() + !command.arrivals.empty() + !command.scenario.empty();
  if (sources != 1)
    throw ConfigError(
        "serve: give one of --scenario NAME, --requests FILE.jsonl or --arrivals poisson:RATE (with --duration)");
  // Every input read before anything runs; the command line's options override the scenario's.
  host::ServeOptions options;
  std::vector<host::ServeRequest> requests;
  std::string traffic = command.requests;
  if (!command.scenario.empty()) {
    host::ServeScenario scenario = host::load_serve_scenario(serve_scenario_file(command.scenario), options);
    requests = std::move(scenario.requests);
    traffic = fmt::format("scenario {}: {}", scenario.name, scenario.traffic);
  } else if (!command.arrivals.empty()) {
    requests = host::generate_requests(host::parse_arrivals(command.arrivals), command.duration,
                                       host::parse_token_range(command.prompt_tokens, "--prompt-tokens"),
                                       host::parse_token_range(command.output_tokens, "--output-tokens"), command.seed);
    traffic = fmt::format("{} for {} s, prompts {}, outputs {}, seed {}", command.arrivals, command.duration,
                          command.prompt_tokens, command.output_tokens, command.seed);
  } else {
    requests = host::load_requests(command.requests);
  }
  if (requests.empty())
    throw ConfigError(fmt::format("serve: {}: no request arrives; a higher rate or a longer duration", traffic));
  if (!command.policy.empty()) options.policy = command.policy;
  if (options.policy != "fcfs" && options.policy != "spf" && options.policy != "sequential")
    throw ConfigError(fmt::format("--policy \"{}\": expected fcfs, spf or sequential", options.policy));
  if (command.max_batch > 0) options.max_batch = command.max_batch;
  if (command.token_budget > 0) options.token_budget = command.token_budget;
  if (command.no_session_cache) options.keep_sessions = false;
  parse_slo(command.slo, options);
  const Profile profile = load_profile(command.profile);
  const compiler::ModelSpec model = compiler::load_workload(command.model);
  progress(fmt::format("planning the memory of {} on {}", model.name, profile.name));
  options.memory = host::planned_session_memory(model, profile);
  host::StepCosts costs(host::simulated_shapes(model, profile), model.has_attention());
  progress("serving");
  const host::ServeResult result = host::serve(requests, costs, options);
  nlohmann::ordered_json summary;
  summary["model"] = model.name;
  summary["profile"] = profile.name;
  summary["source"] = traffic;
  summary.update(host::serve_summary(result, options));
  summary["step_shapes_simulated"] = costs.simulated();
  if (command.check_buckets) {
    progress("checking the step buckets against full simulations");
    // Shapes between buckets: batches 9 and 22, a chunk of 9/16 of the token budget.
    std::vector<int> batches;
    for (const int b : {9, 22})
      if (b <= options.max_batch) batches.push_back(b);
    summary["bucket_error"] = costs.bucket_error(batches, {std::max(18, options.token_budget * 9 / 16)});
  }
  progress("");
  if (!command.out.empty()) {
    OutputFiles outputs;  // both appear, or neither
    outputs.create_folder(command.out);
    outputs.add(fs::path(command.out) / "summary.json").write(summary.dump(2) + '\n');
    outputs.add(fs::path(command.out) / "requests.csv").write(host::requests_csv(result));
    outputs.commit();
  }
  auto dist = [&](const char* key) {
    const auto& d = summary[key];
    return fmt::format("p50 {} p90 {} p99 {} s", host::readable(d["p50"].get<double>()),
                       host::readable(d["p90"].get<double>()), host::readable(d["p99"].get<double>()));
  };
  out << fmt::format("{} on {}: {} requests, {} completed, {} dropped; {} tokens out of {} asked ({} policy)\n",
                     model.name, profile.name, requests.size(), summary["completed"].get<std::int64_t>(),
                     summary["dropped"].size(), summary["tokens_out"].get<std::int64_t>(),
                     summary["tokens_asked"].get<std::int64_t>(), options.policy);
  out << fmt::format("  time to first token    {}\n", dist("ttft"));
  out << fmt::format("  time between tokens    {}\n", dist("time_between_tokens"));
  out << fmt::format("  end to end             {}\n", dist("end_to_end"));
  out << fmt::format("  throughput             {} tokens/s, {} requests/s over {} s; mean decode batch {}\n",
                     host::readable(summary["throughput"]["value"].get<double>()),
                     host::readable(summary["request_rate"]["value"].get<double>()), host::readable(result.makespan_s),
                     host::readable(summary["mean_decode_batch"].get<double>()));
  if (options.slo_ttft_s > 0 || options.slo_tbt_s > 0)
    out << fmt::format("  SLO attainment         {:.1f} % (goodput {} requests/s)\n",
                       100 * summary["slo"]["attainment"].get<double>(),
                       host::readable(summary["slo"]["goodput"]["value"].get<double>()));
  out << fmt::format("  energy                 {} J, {} J per token; {} step shapes simulated\n",
                     host::readable(result.energy_j),
                     host::readable(summary["energy_per_token"]["value"].get<double>()), costs.simulated());
  const auto& cache = summary["state_cache"];
  const auto reused = cache["hits"].get<std::uint64_t>() + cache["restores"].get<std::uint64_t>();
  out << fmt::format(
      "  session states         peak {} sessions, {} MB resident of {} MB; {} of {} turns reuse a kept state ({} "
      "restored from host memory)\n",
      result.peak_sessions, host::readable(result.peak_resident_bytes / 1e6),
      host::readable(options.memory.capacity_bytes < 1e299 ? options.memory.capacity_bytes / 1e6 : 0), reused,
      reused + cache["misses"].get<std::uint64_t>(), cache["restores"].get<std::uint64_t>());
  if (summary.contains("bucket_error"))
    out << fmt::format("  bucket interpolation   {:.2f} % largest error against full simulation\n",
                       100 * summary["bucket_error"].get<double>());
  if (!command.out.empty())
    out << fmt::format("  wrote {}/summary.json and {}/requests.csv\n", command.out, command.out);
  return 0;
}

}  // namespace ssmsoc::cli
