// ssmsoc: the command-line entry point. The only translation unit that includes CLI11.
#include <CLI/CLI.hpp>

#include <iostream>
#include <sstream>

#include "arch/spec/config_tree.hpp"
#include "cli/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"ssmsoc: simulator and accelerator model of a system-on-chip for state-space models"};
  app.set_version_flag("--version", SSMSOC_VERSION);
  app.require_subcommand(1);

  std::ostringstream out;
  int status = 0;

  auto* profile = app.add_subcommand("profile", "Silicon profiles: list them, show one resolved");
  profile->require_subcommand(1);

  bool list_json = false;
  auto* list = profile->add_subcommand("list", "List the shipped profiles with their headline figures");
  list->add_flag("--json", list_json, "Print JSON instead of a table");
  list->callback([&] { status = ssmsoc::cli::profile_list(list_json, out); });

  std::string show_name;
  bool show_json = false;
  auto* show = profile->add_subcommand("show", "Show one profile resolved (bases merged) with its derived figures");
  show->add_option("profile", show_name, "Profile name (see `profile list`) or path to a .yaml file")->required();
  show->add_flag("--json", show_json, "Print JSON: {name, file, bases, profile, derived}");
  show->callback([&] { status = ssmsoc::cli::profile_show(show_name, show_json, out); });

  ssmsoc::cli::KernelCommand kernel;
  bool kernel_list = false;
  auto* kernel_cmd =
      app.add_subcommand("kernel", "Run the golden kernel a kernel-case file names and write its outputs");
  kernel_cmd->add_option("--in", kernel.in, "Kernel-case safetensors file (inputs; metadata: kernel, flags, outputs)")
      ->check(CLI::ExistingFile);
  kernel_cmd->add_option("--out", kernel.out, "Where to write the outputs (safetensors)");
  kernel_cmd->add_option("--kernel", kernel.kernel, "Kernel to run instead of the file's metadata `kernel`");
  kernel_cmd->add_option("--flag", kernel.flags, "Override one of the file's flags: name=value (repeatable)");
  kernel_cmd->add_option("--format", kernel.format, "float (golden kernels) or fixed (bit-accurate scan unit)")
      ->check(CLI::IsMember({"float", "fixed"}));
  kernel_cmd->add_option("--profile", kernel.profile, "With --format fixed: the profile whose scan unit runs");
  kernel_cmd->add_flag("--list", kernel_list, "List the kernels and exit");
  kernel_cmd->callback([&] {
    if (kernel_list) {
      status = ssmsoc::cli::kernel_list(out);
      return;
    }
    if (kernel.in.empty() || kernel.out.empty()) throw CLI::RequiredError("--in and --out");
    status = ssmsoc::cli::kernel_run(kernel, out);
  });

  std::uint64_t numerics_seed = 20261101;
  auto* numerics = app.add_subcommand(
      "numerics", "Error of each shipped scan unit's bit-accurate kernels against the float golden kernels (Markdown)");
  numerics->add_option("--seed", numerics_seed, "Seed of the random inputs")->capture_default_str();
  numerics->callback([&] { status = ssmsoc::cli::numerics_table(numerics_seed, out); });

  ssmsoc::cli::GoldenCommand golden;
  auto* golden_cmd = app.add_subcommand(
      "golden", "Run a HuggingFace checkpoint on the golden model (prefill logits or greedy decode)");
  golden_cmd->add_option("--model", golden.model, "Checkpoint folder: config.json + model.safetensors")
      ->required()
      ->check(CLI::ExistingDirectory);
  golden_cmd->add_option("--input", golden.input, "Safetensors with input_ids [batch, length] (or gen_prompt_ids)")
      ->required()
      ->check(CLI::ExistingFile);
  golden_cmd->add_option("--out", golden.out, "Where to write logits (or gen_new_ids and gen_logits)")->required();
  golden_cmd->add_option("--generate", golden.generate, "Greedily generate N tokens from gen_prompt_ids")
      ->check(CLI::Range(1, 100000));
  golden_cmd->callback([&] { status = ssmsoc::cli::golden_run(golden, out); });

  auto add_model_options = [](CLI::App* command, ssmsoc::cli::ModelRunOptions& o) {
    command->add_option("--profile", o.profile, "Profile name or file")->required();
    command->add_option("--model", o.model, "Workload name (workloads/models), workload YAML, config.json or folder")
        ->required();
    command->add_option("--scenario", o.scenario, "Scenario YAML (workloads/scenarios)");
    command->add_option("--prompt", o.prompt, "Prompt tokens")->check(CLI::Range(1, 10000000));
    command->add_option("--generate", o.generate, "Generated tokens")->check(CLI::Range(0, 10000000));
    command->add_option("--batch", o.batch, "Concurrent sessions")->check(CLI::Range(1, 100000));
    command
        ->add_option("--prefill-chunk", o.prefill_chunk,
                     "Tokens per prefill Program (default: about 256, equal chunks); smaller is faster to simulate")
        ->check(CLI::Range(1, 1048576));
    command->add_option("--precision", o.precision,
                        "Matrix precision of weights and GEMMs (int4, int8, fp8, fp16, bf16, tf32, fp32, fp64); "
                        "default: bf16, else fp16, int8, fp32 as the profile has them");
  };
  ssmsoc::cli::CompileCommand compile;
  auto* compile_cmd = app.add_subcommand("compile", "Compile a model to Programs for a profile and dump a stage");
  add_model_options(compile_cmd, compile.model);
  compile_cmd->add_option("--emit", compile.emit, "graph, lowered, tiled, schedule, program, memory, kernels, summary")
      ->capture_default_str();
  compile_cmd->add_option("--out", compile.out, "Write each phase's Program to this folder (PHASE.ssmp)");
  compile_cmd->callback([&] { status = ssmsoc::cli::compile_run(compile, out); });

  ssmsoc::cli::RunCommand run;
  auto* run_cmd = app.add_subcommand("run", "Compile a model and simulate prefill and decode on a profile");
  add_model_options(run_cmd, run.model);
  run_cmd->add_option("--out", run.out, "Write summary.json and stats.json to this folder");
  run_cmd->add_option("--trace", run.trace, "Perfetto timeline of each phase (FILE.PHASE.json)");
  run_cmd->add_flag("--functional", run.functional,
                    "Run a checkpoint folder with real data (input_ids from --input; logits to --tensors-out)");
  run_cmd->add_option("--input", run.input, "With --functional: safetensors with input_ids (and gen_prompt_ids)")
      ->check(CLI::ExistingFile);
  run_cmd->add_option("--tensors-out", run.tensors_out,
                      "With --functional: where to write logits (and gen_new_ids, gen_logits)");
  run_cmd->callback([&] { status = ssmsoc::cli::model_run(run, out); });

  ssmsoc::cli::CosimCommand cosim;
  auto* cosim_cmd = app.add_subcommand(
      "cosim", "Check each profile's scan: RTL against the bit-accurate kernels, or the software scan against float");
  cosim_cmd->add_option("--profile", cosim.profile, "Profile name or file, or all")->capture_default_str();
  cosim_cmd->add_option("--seed", cosim.seed, "Seed of the random cases")->capture_default_str();
  cosim_cmd->add_option("--cases", cosim.cases, "Random cases per profile with a scan unit")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  cosim_cmd->add_option("--trace", cosim.trace, "FST waveform of the RTL run (FILE.fst)");
  cosim_cmd->callback([&] { status = ssmsoc::cli::cosim(cosim, out); });

  std::string disasm_path, disasm_profile;
  auto* disasm = app.add_subcommand("disasm", "List a Program file: buffers, streams and commands");
  disasm->add_option("program", disasm_path, "Program file (.ssmp)")->required();
  disasm->add_option("--profile", disasm_profile, "Also check that the Program fits this chip");
  disasm->callback([&] { status = ssmsoc::cli::disasm(disasm_path, disasm_profile, out); });

  ssmsoc::cli::SimCommand sim;
  auto* sim_cmd = app.add_subcommand("sim", "Run a Program on the SystemC model of a profile and print a summary");
  sim_cmd->add_option("program", sim.program, "Program file (.ssmp)")->required();
  sim_cmd->add_option("--profile", sim.profile, "Profile name (see `profile list`) or path to a .yaml file")
      ->required();
  sim_cmd->add_flag("--functional", sim.functional, "Compute real data (golden and bit-accurate kernels)");
  sim_cmd->add_option("--trace", sim.trace, "Write a Chrome/Perfetto JSON timeline to this file");
  sim_cmd->add_option("--stats", sim.stats, "Write statistics and energy as JSON to this file");
  sim_cmd->add_flag("--rtl-scan", sim.rtl_scan,
                    "Run every scan command on the Verilated RTL scan unit (its cycles, checked bit for bit)");
  sim_cmd->callback([&] { status = ssmsoc::cli::sim_run(sim, out); });

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
  std::cout << out.str();
  return status;
}
