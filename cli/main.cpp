// ssmsoc: the command-line entry point. The only translation unit that includes CLI11.
//
// One function registers each subcommand: its options, bound to a command struct that its
// callback owns, and the callback that runs it. Commands write to Outcome::out, printed only
// when the whole command succeeds, so a failing command prints nothing but its error.
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>

#include "arch/spec/config_tree.hpp"
#include "cli/commands.hpp"

namespace {

namespace cli = ssmsoc::cli;

struct Outcome {
  std::ostringstream out;
  int status = 0;
};

void add_profile_commands(CLI::App& app, Outcome& outcome) {
  auto* profile = app.add_subcommand("profile", "Silicon profiles: list them, show one resolved");
  profile->require_subcommand(1);

  auto list_json = std::make_shared<bool>(false);
  auto* list = profile->add_subcommand("list", "List the shipped profiles with their headline figures");
  list->add_flag("--json", *list_json, "Print JSON instead of a table");
  list->callback([list_json, &outcome] { outcome.status = cli::profile_list(*list_json, outcome.out); });

  struct Show {
    std::string name;
    bool json = false;
  };
  auto show = std::make_shared<Show>();
  auto* show_cmd = profile->add_subcommand("show", "Show one profile resolved (bases merged) with its derived figures");
  show_cmd->add_option("profile", show->name, "Profile name (see `profile list`) or path to a .yaml file")->required();
  show_cmd->add_flag("--json", show->json, "Print JSON: {name, file, bases, profile, derived}");
  show_cmd->callback([show, &outcome] { outcome.status = cli::profile_show(show->name, show->json, outcome.out); });
}

// An input file (or, with `folder`, a folder) that must exist: a wrong input, so one line
// naming it and exit 1, where CLI11's own check would print usage and exit 2.
void require_input(const std::string& path, std::string_view option, bool folder) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) throw ssmsoc::ConfigError(fmt::format("{}: no such file ({})", path, option));
  if (folder && !std::filesystem::is_directory(status))
    throw ssmsoc::ConfigError(fmt::format("{}: expected a folder ({}), got a file", path, option));
  if (!folder && std::filesystem::is_directory(status))
    throw ssmsoc::ConfigError(fmt::format("{}: expected a file ({}), got a folder", path, option));
}

void add_kernel_command(CLI::App& app, Outcome& outcome) {
  struct Kernel {
    cli::KernelCommand command;
    bool list = false;
  };
  auto kernel = std::make_shared<Kernel>();
  cli::KernelCommand& k = kernel->command;
  auto* command = app.add_subcommand("kernel", "Run the golden kernel a kernel-case file names and write its outputs");
  command->add_option("--in", k.in, "Kernel-case safetensors file (inputs; metadata: kernel, flags, outputs)");
  command->add_option("--out", k.out, "Where to write the outputs (safetensors)");
  command->add_option("--kernel", k.kernel, "Kernel to run instead of the file's metadata `kernel`");
  command->add_option("--flag", k.flags, "Override one of the file's flags: name=value (repeatable)");
  command->add_option("--format", k.format, "float (golden kernels) or fixed (bit-accurate scan unit)")
      ->check(CLI::IsMember({"float", "fixed"}));
  command->add_option("--profile", k.profile, "With --format fixed: the profile whose scan unit runs");
  command->add_flag("--list", kernel->list, "List the kernels and exit");
  command->callback([kernel, &outcome] {
    if (kernel->list) {
      outcome.status = cli::kernel_list(outcome.out);
      return;
    }
    if (kernel->command.in.empty() || kernel->command.out.empty()) throw CLI::RequiredError("--in and --out");
    require_input(kernel->command.in, "--in", false);
    outcome.status = cli::kernel_run(kernel->command, outcome.out);
  });
}

void add_numerics_command(CLI::App& app, Outcome& outcome) {
  auto seed = std::make_shared<std::uint64_t>(20261101);
  auto* command = app.add_subcommand(
      "numerics", "Error of each shipped scan unit's bit-accurate kernels against the float golden kernels (Markdown)");
  command->add_option("--seed", *seed, "Seed of the random inputs")->capture_default_str();
  command->callback([seed, &outcome] { outcome.status = cli::numerics_table(*seed, outcome.out); });
}

void add_golden_command(CLI::App& app, Outcome& outcome) {
  auto golden = std::make_shared<cli::GoldenCommand>();
  auto* command = app.add_subcommand(
      "golden", "Run a HuggingFace checkpoint on the golden model (prefill logits or greedy decode)");
  command->add_option("--model", golden->model, "Checkpoint folder: config.json + model.safetensors")->required();
  command->add_option("--input", golden->input, "Safetensors with input_ids [batch, length] (or gen_prompt_ids)")
      ->required();
  command->add_option("--out", golden->out, "Where to write logits (or gen_new_ids and gen_logits)")->required();
  command->add_option("--generate", golden->generate, "Greedily generate N tokens from gen_prompt_ids")
      ->check(CLI::Range(1, 100000));
  command->callback([golden, &outcome] {
    require_input(golden->model, "--model", true);
    require_input(golden->input, "--input", false);
    outcome.status = cli::golden_run(*golden, outcome.out);
  });
}

// The scenario and compile options `compile`, `run` and `compare` share.
void add_scenario_options(CLI::App* command, cli::ModelRunOptions& o) {
  command->add_option("--scenario", o.scenario, "Scenario YAML (workloads/scenarios)");
  command->add_option("--prompt", o.prompt, "Prompt tokens")->check(CLI::Range(1, 10000000));
  command->add_option("--generate", o.generate, "Generated tokens")->check(CLI::Range(0, 10000000));
  command->add_option("--batch", o.batch, "Concurrent sessions")->check(CLI::Range(1, 100000));
  command
      ->add_option("--prefill-chunk", o.prefill_chunk,
                   "Tokens per prefill Program (default: the mapper's choice among 256, 512, 1024 and 2048, equal "
                   "chunks); smaller is faster to simulate")
      ->check(CLI::Range(1, 1048576));
  command->add_flag("--no-fusion", o.no_fusion,
                    "Run every op as lowered (no GEMM + residual-add or dt_proj + scan fusion), to measure what "
                    "fusion gives");
  command->add_option("--precision", o.precision,
                      "Matrix precision of weights and GEMMs (int4, int8, fp8, fp16, bf16, tf32, fp32, fp64); "
                      "default: bf16, else fp16, int8, fp32 as the profile has them");
}

void add_model_options(CLI::App* command, cli::ModelRunOptions& o) {
  command->add_option("--profile", o.profile, "Profile name or file")->required();
  command->add_option("--model", o.model, "Workload name (workloads/models), workload YAML, config.json or folder")
      ->required();
  add_scenario_options(command, o);
}

void add_compile_command(CLI::App& app, Outcome& outcome) {
  auto compile = std::make_shared<cli::CompileCommand>();
  auto* command = app.add_subcommand("compile", "Compile a model to Programs for a profile and dump a stage");
  add_model_options(command, compile->model);
  command
      ->add_option("--emit", compile->emit,
                   "graph, lowered, tiled, mapping, schedule, program, memory, kernels, launches, summary")
      ->capture_default_str();
  command->add_option("--out", compile->out, "Write each phase's Program to this folder (PHASE.ssmp)");
  command->callback([compile, &outcome] { outcome.status = cli::compile_run(*compile, outcome.out); });
}

void add_run_command(CLI::App& app, Outcome& outcome) {
  auto run = std::make_shared<cli::RunCommand>();
  auto* command = app.add_subcommand("run", "Compile a model and simulate prefill and decode on a profile");
  add_model_options(command, run->model);
  command->add_option("--out", run->out, "Write summary.json and stats.json to this folder");
  command->add_option("--trace", run->trace,
                      "Perfetto timeline of each phase (FILE.PHASE.json); simulates every layer");
  command->add_flag("--all-layers", run->all_layers,
                    "Simulate every layer (default: a phase whose layers repeat is timed from two of its layer "
                    "prefixes and extrapolated)");
  command->add_flag("--functional", run->functional,
                    "Run a checkpoint folder with real data (input_ids from --input; logits to --tensors-out)");
  command->add_option("--input", run->input, "With --functional: safetensors with input_ids (and gen_prompt_ids)");
  command->add_option("--tensors-out", run->tensors_out,
                      "With --functional: where to write logits (and gen_new_ids, gen_logits)");
  command->callback([run, &outcome] {
    if (!run->input.empty()) require_input(run->input, "--input", false);
    outcome.status = cli::model_run(*run, outcome.out);
  });
}

void add_serve_command(CLI::App& app, Outcome& outcome) {
  auto serve = std::make_shared<cli::ServeCommand>();
  auto* command = app.add_subcommand(
      "serve", "Serve a stream of requests on a profile: continuous batching, TTFT / TBT percentiles, goodput");
  command->add_option("--profile", serve->profile, "Profile name or file")->required();
  command->add_option("--model", serve->model, "Workload name (workloads/models), workload YAML, config.json or folder")
      ->required();
  command->add_option("--scenario", serve->scenario,
                      "A serving scenario: a name in workloads/scenarios/serve (chat, agentic, ...) or a YAML file");
  command->add_option("--requests", serve->requests,
                      "Requests, one JSON object a line: arrival_s, prompt_tokens, output_tokens (id, session, turn; a "
                      "follow-up: after ID, think_s instead of arrival_s)");
  command->add_option("--arrivals", serve->arrivals, "Generated arrivals: poisson:RATE or bursty:RATE:BURST (per s)");
  command->add_option("--duration", serve->duration, "Seconds of generated arrivals")
      ->check(CLI::Range(1e-3, 1e7))
      ->capture_default_str();
  command->add_option("--prompt-tokens", serve->prompt_tokens, "Generated prompts' tokens: N or LO:HI (uniform)")
      ->capture_default_str();
  command->add_option("--output-tokens", serve->output_tokens, "Generated outputs' tokens: N or LO:HI (uniform)")
      ->capture_default_str();
  command->add_option("--seed", serve->seed, "Seed of the generated requests")->capture_default_str();
  command->add_option("--policy", serve->policy,
                      "fcfs (default), spf (shortest prompt first) or sequential (one at a time)");
  command->add_option("--max-batch", serve->max_batch, "Sessions served at once at most (default 64)")
      ->check(CLI::Range(1, 100000));
  command
      ->add_option("--token-budget", serve->token_budget,
                   "Prompt tokens a step carries beside its decode tokens (default 512)")
      ->check(CLI::Range(1, 10000000));
  command->add_flag("--no-session-cache", serve->no_session_cache,
                    "Drop a session's state after each turn: every turn prefills its whole context");
  command->add_option("--slo", serve->slo, "Objectives: ttft=SECONDS,tbt=SECONDS (mean time between tokens)");
  command->add_flag("!--no-bucket-check", serve->check_buckets,
                    "Skip measuring the step buckets' interpolation against full simulations");
  command->add_option("--out", serve->out, "Write summary.json and requests.csv to this folder");
  command->callback([serve, &outcome] {
    if (!serve->requests.empty()) require_input(serve->requests, "--requests", false);
    outcome.status = cli::serve(*serve, outcome.out);
  });
}

void add_calibrate_command(CLI::App& app, Outcome& outcome) {
  auto calibrate = std::make_shared<cli::CalibrateCommand>();
  auto* command = app.add_subcommand(
      "calibrate", "Predict each record of a GPU measurement file (tools/calibrate) with a profile's kernel model");
  command->add_option("--profile", calibrate->profile, "A profile with kernels: (h100-class)")->required();
  command->add_option("--measurements", calibrate->measurements, "Measurement JSON (tools/calibrate/results/*.json)")
      ->required();
  command->add_option("--set", calibrate->set, "calibration, validation or all")->capture_default_str();
  command->callback([calibrate, &outcome] {
    require_input(calibrate->measurements, "--measurements", false);
    outcome.status = cli::calibrate(*calibrate, outcome.out);
  });
}

void add_compare_command(CLI::App& app, Outcome& outcome) {
  auto compare = std::make_shared<cli::CompareCommand>();
  auto* command = app.add_subcommand(
      "compare", "Models side by side on several profiles: TTFT, decode latency, tokens/s, tokens/J, energy, power");
  command->add_option("--model", compare->models, "Workload names or files (comma-separated or repeated)")
      ->required()
      ->delimiter(',');
  command
      ->add_option("--profiles", compare->profiles,
                   "Profile names or files (comma-separated); default: every shipped one")
      ->delimiter(',');
  add_scenario_options(command, compare->scenario);
  command->add_option("--serving-batch", compare->serving_batch, "Sessions of the second batch each pair runs at")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  command->add_option("--out", compare->out, "Write compare.json and compare.csv to this folder");
  command->callback([compare, &outcome] { outcome.status = cli::compare(*compare, outcome.out); });
}

void add_sweep_command(CLI::App& app, Outcome& outcome) {
  auto sweep = std::make_shared<cli::SweepCommand>();
  CLI::App* command = app.add_subcommand(
      "sweep", "Design-space sweep: the cost model screens every point, the SystemC model confirms the candidates");
  command->add_option("spec", sweep->spec, "Sweep spec YAML (workloads/sweeps)")->required();
  command->add_option("--db", sweep->db, "SQLite results file (default: the spec file's stem + .db here); resumes");
  command->add_option("--shard", sweep->shard, "Run shard k of N (k/N, from 0), e.g. a job array's task");
  command->add_option("--jobs", sweep->jobs, "Design points at a time, a child process each (default: one per core)")
      ->check(CLI::Range(1, 4096));
  command->add_flag("--status", sweep->status, "Report the database's rows for the spec; run nothing");
  command->add_option("--merge", sweep->merge, "Copy the rows of these shards' databases into --db; run nothing");
  command->add_option("--export", sweep->export_file, "Write every row to a .csv or .json file");
  command->add_option("--pareto", sweep->pareto, "Write the simulated Pareto front to a .json file");
  command->callback([sweep, &outcome] { outcome.status = cli::sweep(*sweep, outcome.out); });
}

void add_report_command(CLI::App& app, Outcome& outcome) {
  auto report = std::make_shared<cli::ReportCommand>();
  CLI::App* command = app.add_subcommand(
      "report", "One self-contained HTML page (and a CSV per table) from run folders, comparisons and sweeps");
  command
      ->add_option("results", report->results,
                   "Run folders (ssmsoc run --out), compare.json or its folder, sweep specs (.yaml)")
      ->required();
  command->add_option("--out", report->out, "The page (.html); its tables go beside it as STEM-TABLE.csv")
      ->capture_default_str();
  command->add_option("--sweep-db", report->sweep_db, "A sweep's database (default: the spec's stem + .db here)");
  command->add_option("--title", report->title, "The page's title")->capture_default_str();
  command->callback([report, &outcome] { outcome.status = cli::report(*report, outcome.out); });
}

void add_reproduce_command(CLI::App& app, Outcome& outcome) {
  auto reproduce = std::make_shared<cli::ReproduceCommand>();
  auto* command = app.add_subcommand(
      "reproduce", "Run the published SSM accelerators' reported points on their profiles, each against the paper");
  command->add_option("specs", reproduce->specs, "Reproduction specs or folders (default: workloads/validation)");
  command->add_option("--out", reproduce->out, "Write reproduction.json to this folder");
  command->callback([reproduce, &outcome] { outcome.status = cli::reproduce(*reproduce, outcome.out); });
}

void add_cosim_command(CLI::App& app, Outcome& outcome) {
  auto cosim = std::make_shared<cli::CosimCommand>();
  auto* command = app.add_subcommand(
      "cosim", "Check each profile's scan: RTL against the bit-accurate kernels, or the software scan against float");
  command->add_option("--profile", cosim->profile, "Profile name or file, or all")->capture_default_str();
  command->add_option("--seed", cosim->seed, "Seed of the random cases")->capture_default_str();
  command->add_option("--cases", cosim->cases, "Random cases per profile with a scan unit")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  command->add_option("--trace", cosim->trace, "FST waveform of the RTL run (FILE.fst)");
  command->callback([cosim, &outcome] { outcome.status = cli::cosim(*cosim, outcome.out); });
}

void add_disasm_command(CLI::App& app, Outcome& outcome) {
  struct Disasm {
    std::string program, profile;
  };
  auto disasm = std::make_shared<Disasm>();
  auto* command = app.add_subcommand("disasm", "List a Program file: buffers, streams and commands");
  command->add_option("program", disasm->program, "Program file (.ssmp)")->required();
  command->add_option("--profile", disasm->profile, "Also check that the Program fits this chip");
  command->callback(
      [disasm, &outcome] { outcome.status = cli::disasm(disasm->program, disasm->profile, outcome.out); });
}

void add_sim_command(CLI::App& app, Outcome& outcome) {
  auto sim = std::make_shared<cli::SimCommand>();
  auto* command = app.add_subcommand("sim", "Run a Program on the SystemC model of a profile and print a summary");
  command->add_option("program", sim->program, "Program file (.ssmp)")->required();
  command->add_option("--profile", sim->profile, "Profile name (see `profile list`) or path to a .yaml file")
      ->required();
  command->add_flag("--functional", sim->functional, "Compute real data (golden and bit-accurate kernels)");
  command->add_option("--trace", sim->trace, "Write a Chrome/Perfetto JSON timeline to this file");
  command->add_option("--stats", sim->stats, "Write statistics and energy as JSON to this file");
  command->add_flag("--rtl-scan", sim->rtl_scan,
                    "Run every scan command on the Verilated RTL scan unit (its cycles, checked bit for bit)");
  command->callback([sim, &outcome] { outcome.status = cli::sim_run(*sim, outcome.out); });
}

// Exit status: 0 (or the command's own) on success, 1 for wrong input (one line on stderr),
// 2 for a usage error.
int parse_and_run(CLI::App& app, int argc, char** argv, const Outcome& outcome) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const ssmsoc::ConfigError& e) {
    std::cerr << e.what() << '\n';
    return 1;
  } catch (const std::exception& e) {  // what the model does not handle: still one line, no abort
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  }
  std::cout << outcome.out.str() << std::flush;
  if (!std::cout) {  // e.g. a full disk behind a redirection: the output is cut off
    std::cerr << "ssmsoc: cannot write to standard output\n";
    return 1;
  }
  return outcome.status;
}

// Every subcommand, in the order `ssmsoc --help` lists them.
void add_commands(CLI::App& app, Outcome& outcome) {
  add_profile_commands(app, outcome);
  add_kernel_command(app, outcome);
  add_numerics_command(app, outcome);
  add_golden_command(app, outcome);
  add_compile_command(app, outcome);
  add_run_command(app, outcome);
  add_serve_command(app, outcome);
  add_compare_command(app, outcome);
  add_calibrate_command(app, outcome);
  add_reproduce_command(app, outcome);
  add_sweep_command(app, outcome);
  add_report_command(app, outcome);
  add_cosim_command(app, outcome);
  add_disasm_command(app, outcome);
  add_sim_command(app, outcome);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ssmsoc: simulator and accelerator model of a system-on-chip for state-space models"};
  app.set_version_flag("--version", SSMSOC_VERSION);
  app.require_subcommand(1);
  Outcome outcome;
  add_commands(app, outcome);
  return parse_and_run(app, argc, argv, outcome);
}
