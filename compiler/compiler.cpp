#include "compiler/compiler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "arch/spec/config_tree.hpp"

namespace ssmsoc::compiler {

namespace {

void collect_kernels(const PhaseProgram& p, std::vector<KernelChoice>& out) {
  std::vector<KernelChoice> here;
  for (const PrimOp& op : p.lowered.ops) {
    if (op.kind != Prim::scan) continue;
    auto it = std::find_if(here.begin(), here.end(), [&](const KernelChoice& k) {
      return k.kernel == op.kernel && k.reason == op.kernel_reason;
    });
    if (it == here.end()) {
      here.push_back(KernelChoice{p.name, op.name, op.kernel, op.kernel_reason, 1});
    } else {
      ++it->layers;
    }
  }
  out.insert(out.end(), here.begin(), here.end());
}

}  // namespace

namespace {

// The phases of a compile with prefill chunks of about `target` tokens, and their runs.
struct PhasePlan {
  std::vector<Phase> phases;
  std::vector<int> runs;
};

PhasePlan plan_phases(const Scenario& scenario, const CompileOptions& options, int target, bool exact) {
  const int prompt = scenario.prompt_tokens, gen = scenario.generate_tokens;
  const int max_context = prompt + std::max(0, gen);
  // Chunks of equal length where possible: 300 tokens -> 2 x 150 rather than 256 + 44.
  const int count = (prompt + target - 1) / target;
  const int chunk = exact ? std::min(target, prompt) : (prompt + count - 1) / count;
  const int full = prompt / chunk, rest = prompt - full * chunk;
  PhasePlan plan;
  // Attention at the mean context of the chunks (its work is linear in the context).
  const int prefill_context = options.prefill_context >= 0 ? options.prefill_context : (full - 1) * chunk / 2;
  plan.phases.push_back(Phase{"prefill", chunk, scenario.batch, prefill_context, max_context, false, false});
  plan.runs.push_back(full);
  if (rest > 0) {
    plan.phases.push_back(Phase{"prefill-rest", rest, scenario.batch, full * chunk, max_context, false, false});
    plan.runs.push_back(1);
  }
  if (!options.functional) {
    plan.phases.push_back(Phase{"logits", 1, scenario.batch, prompt, max_context, true, true});
    plan.runs.push_back(1);
  }
  if (gen > 1) {
    const int context = options.decode_context >= 0 ? options.decode_context : prompt + (gen - 1) / 2;
    plan.phases.push_back(Phase{"decode", 1, scenario.batch, context, max_context, true, false});
    plan.runs.push_back(gen - 1);
  }
  if (options.functional)
    for (Phase& ph : plan.phases) {
      ph.host_embeddings = true;
      ph.functional = true;
      ph.all_logits = ph.name != "decode";
    }
  return plan;
}

// Lowers every phase of `plan` into `r` (scan kernels chosen), plans the memory and chooses
// each op's mapping: everything but the Programs. A profile timed by its kernels has no tile
// mappings (its ops are its kernels, whatever its tiles' memories hold): each op is summarised
// by its name and kind alone.
void lower_and_map(CompileResult& r, const PhasePlan& plan, const Scenario& scenario, const Profile& profile,
                   const std::string& model_name, const CompileOptions& options) {
  r.phases.clear();
  r.kernels.clear();
  for (std::size_t i = 0; i < plan.phases.size(); ++i) {
    PhaseProgram p;
    p.name = plan.phases[i].name;
    p.phase = plan.phases[i];
    p.runs = plan.runs[i];
    p.lowered = lower_graph(r.graph, plan.phases[i], r.precision,
                            profile.tile.scan.present ? profile.tile.scan.state_storage : Precision::fp32);
    if (options.fuse) fuse_residual_adds(p.lowered);
    select_scan_kernels(p.lowered, profile);
    if (options.fuse) fuse_dt_projections(p.lowered);
    collect_kernels(p, r.kernels);
    r.phases.push_back(std::move(p));
  }
  std::vector<const Module*> mods;
  for (const auto& p : r.phases) mods.push_back(&p.lowered);
  const int max_context = scenario.prompt_tokens + std::max(0, scenario.generate_tokens);
  r.memory = plan_memory(mods, profile, model_name, scenario.batch, max_context);
  for (std::size_t index = 0; index < r.phases.size(); ++index) {
    PhaseProgram& p = r.phases[index];
    if (!profile.kernels) p.mappings = choose_mappings(p.lowered, index, r.memory, profile);
    p.tiled.clear();
    for (std::size_t i = 0; i < p.lowered.ops.size(); ++i) {
      TiledOp t;
      if (profile.kernels) {
        t.name = p.lowered.ops[i].name;
        t.kind = p.lowered.ops[i].kind;
      } else {
        t = summarize(p.mappings[i]);
      }
      const Bound b = op_bound(p.lowered.ops[i], p.lowered, index, r.memory, profile);
      t.bound_cycles = b.cycles();
      t.bound_by = b.bound_by();
      p.tiled.push_back(std::move(t));
    }
    p.estimated_cycles = estimated_cycles(p.mappings);
    p.bound = phase_bound(p.lowered, index, r.memory, profile);
  }
}

// About 2 s of simulation (sim/README.md, "Speed").
constexpr double kSlowProgramCommands = 4e6;

// The commands of the largest Program of `r`, from its mappings (about four per step and
// tile: loads, compute, stores, sync) before generating it.
double largest_program_commands(const CompileResult& r) {
  double largest = 0;
  for (const PhaseProgram& p : r.phases) {
    double commands = 0;
    for (const OpMapping& m : p.mappings) commands += 4.0 * double(m.steps) * double(m.tiles.size());
    largest = std::max(largest, commands);
  }
  return largest;
}

// Whether a phase's Program would pass the image limit.
bool programs_too_large(const CompileResult& r) {
  return largest_program_commands(r) > double(kMaxProgramImageBytes) / sizeof(ssm_command);
}

// The cost model's cycles of the whole prompt (every prefill phase times its runs).
double prefill_cycles(const CompileResult& r) {
  double cycles = 0;
  for (const PhaseProgram& p : r.phases)
    if (p.name == "prefill" || p.name == "prefill-rest") cycles += p.estimated_cycles * p.runs;
  return cycles;
}

// What times an op, to find the period of a phase's layers: everything of it but its name,
// and of the tensors it reads and writes their shapes, widths and where they live.
std::string timing_signature(const PrimOp& op, const OpMapping& mapping, const SramPlacement& place, const Module& mod,
                             const MemoryPlan& plan, std::size_t index) {
  const TiledOp t = summarize(mapping);
  // (Not its estimate, which counts the prefetch from the op before it: the previous layer's.)
  std::string s = fmt::format("{} {} {} {} {} {} {} {}|", static_cast<int>(op.kind), t.tiles, t.partition, t.blocks,
                              t.steps, t.sram_bytes, place.base, place.prefetch);
  s += fmt::format("{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}|", op.m, op.n, op.k, op.w_row0,
                   op.repeat, static_cast<int>(op.precision), static_cast<int>(op.function), op.rows, op.cols,
                   op.param0, op.param1, op.param2, op.flags, op.sessions, op.length, op.channels, op.head_dim,
                   op.state, op.groups, op.width, op.version);
  s += fmt::format("{} {} {} {} {} {} {} {} {} {} {} {}|", op.softplus, op.gate, op.skip, op.dt_rank,
                   static_cast<int>(op.kernel), op.state_passes, op.chunk, op.heads, op.kv_heads, op.context,
                   op.src_row0, op.dst_row0);
  for (const auto* views : {&op.in, &op.out})
    for (const View& v : *views) {
      if (v.tensor < 0) {  // an input the op does without
        s += "-;";
        continue;
      }
      const TensorDef& d = mod.tensors.at(static_cast<std::size_t>(v.tensor));
      int memory = -1;  // weights: DRAM
      if (d.kind == TensorKind::activation) memory = plan.activation_spilled.at(index).at(std::size_t(v.tensor));
      if (d.kind == TensorKind::state) memory = 10 + static_cast<int>(plan.states.at(d.name).memory);
      s += fmt::format("{} {} {} {} {} {} {};", static_cast<int>(d.kind), d.rows, d.cols, d.bits, v.col0, v.cols,
                       memory);
    }
  return s;
}

// Samples a phase whose decoder layers repeat (CompileOptions::sample_layers): when its ops are
// a prologue, then layer 0's, layer 1's ... in order, then an epilogue, and layer i times as
// layer i + period does, it gets two LayerSamples instead of a whole Program. Not when the
// whole phase would be barely larger than the longer sample.
void sample_layers(PhaseProgram& p, std::size_t index, const MemoryPlan& plan, const Profile& profile,
                   const std::string& source, const CompileOptions& options) {
  const auto& ops = p.lowered.ops;
  std::size_t first = 0;
  while (first < ops.size() && ops[first].layer < 0) ++first;
  std::vector<std::size_t> begin;  // of each layer; then its end
  std::size_t end = first;
  for (; end < ops.size() && ops[end].layer >= 0; ++end) {
    if (end == first || ops[end].layer != ops[end - 1].layer) {
      if (ops[end].layer != static_cast<int>(begin.size())) return;  // layers out of order
      begin.push_back(end);
    }
  }
  for (std::size_t i = end; i < ops.size(); ++i)
    if (ops[i].layer >= 0) return;  // layers after the epilogue began
  const int layers = static_cast<int>(begin.size());
  begin.push_back(end);
  const std::vector<SramPlacement> places = place_in_sram(p.lowered, p.mappings, profile);
  std::vector<std::string> signature(layers);
  for (int l = 0; l < layers; ++l)
    for (std::size_t i = begin[l]; i < begin[l + 1]; ++i)
      signature[l] += timing_signature(ops[i], p.mappings[i], places[i], p.lowered, plan, index) + "\n";
  int period = 0;
  for (int candidate = 1; candidate <= layers / (kWarmupPeriods + 2) && period == 0; ++candidate) {
    if (layers / candidate < kWarmupPeriods + averaged_periods(candidate) + 1) continue;
    bool repeats = true;
    // (Layer 0 may differ: it follows the prologue, and both samples run it.)
    for (int l = 1; l + candidate < layers && repeats; ++l) repeats = signature[l] == signature[l + candidate];
    if (repeats) period = candidate;
  }
  if (period == 0) return;  // too few periods: the samples would be most of the phase
  const int rest = layers % period;
  std::vector<LayerSample> samples;
  for (const int periods : {kWarmupPeriods, kWarmupPeriods + averaged_periods(period)}) {
    LayerSample sample;
    sample.layers = periods * period + rest;
    std::vector<std::uint32_t> full_op;  // the sample's op i is the phase's full_op[i]
    for (std::size_t i = 0; i < first; ++i) full_op.push_back(static_cast<std::uint32_t>(i));
    for (int l = 0; l < sample.layers; ++l) {
      const int layer = l < periods * period ? l : layers - rest + (l - periods * period);
      for (std::size_t i = begin[layer]; i < begin[layer + 1]; ++i) full_op.push_back(static_cast<std::uint32_t>(i));
    }
    for (std::size_t i = end; i < ops.size(); ++i) full_op.push_back(static_cast<std::uint32_t>(i));
    Module mod = p.lowered;  // every field of the phase's module, then the sample's ops
    mod.ops.clear();
    std::vector<OpMapping> mappings;
    for (std::uint32_t i : full_op) {
      mod.ops.push_back(ops[i]);
      mappings.push_back(p.mappings[i]);
    }
    CodegenResult g = generate_program(mod, index, plan, mappings, profile, options.fold_sync);
    if (options.validate)
      validate_program(g.program, fmt::format("{} ({} of {} layers)", source, sample.layers, layers), &profile);
    sample.program = std::move(g.program);
    sample.command_op.reserve(g.command_op.size());
    for (std::uint32_t op : g.command_op) sample.command_op.push_back(full_op.at(op));
    samples.push_back(std::move(sample));
  }
  p.samples = std::move(samples);
  p.layers = layers;
  p.layer_period = period;
  p.averaged_periods = averaged_periods(period);
}

// The Programs of every phase of `r`, validated unless the options say not to.
void generate_programs(CompileResult& r, const ModelSpec& model, const Profile& profile,
                       const CompileOptions& options) {
  const double hz = profile.clock_mhz * 1e6;
  r.estimated_seconds = 0;
  for (const PhaseProgram& p : r.phases) r.estimated_seconds += p.estimated_cycles * p.runs / hz;
  if (!options.programs) return;
  for (std::size_t i = 0; i < r.phases.size(); ++i) {
    PhaseProgram& p = r.phases[i];
    const std::string source = fmt::format("{} {} on {}", model.name, p.name, profile.name);
    if (options.sample_layers && !options.functional) {
      sample_layers(p, i, r.memory, profile, source, options);
      if (!p.samples.empty()) continue;
    }
    CodegenResult g = generate_program(p.lowered, i, r.memory, p.mappings, profile, options.fold_sync);
    p.program = std::move(g.program);
    p.command_op = std::move(g.command_op);
    if (options.validate) validate_program(p.program, source, &profile);
  }
}

}  // namespace

CompileResult compile(const ModelSpec& model, const Scenario& scenario, const Profile& profile,
                      const CompileOptions& options) {
  check_scenario(scenario);
  CompileResult r;
  r.model_name = model.name;
  r.profile_name = profile.name;
  r.precision = choose_precision(profile, options.precision);
  r.graph = build_graph(model);
  r.classification = recognize_architecture(r.graph);

  if (profile.kernels && !options.functional) {
    // An incumbent's kernels, no Programs: the prompt in one pass (or chunks of kKernelPrefillChunk),
    // or in the runtime's fixed passes.
    const int pass =
        profile.kernels->prompt_pass_tokens > 0 ? profile.kernels->prompt_pass_tokens : kKernelPrefillChunk;
    const int chunk =
        options.prefill_chunk > 0 ? options.prefill_chunk : std::min(std::max(1, scenario.prompt_tokens), pass);
    lower_and_map(r, plan_phases(scenario, options, chunk, true), scenario, profile, model.name, options);
    for (PhaseProgram& p : r.phases) {
      p.launches = plan_kernels(p.lowered, profile);
      p.estimated_cycles = 0;  // the tile model's estimate does not apply
    }
    return r;
  }
  if (options.prefill_chunk > 0 || options.functional) {
    const int target = options.prefill_chunk > 0 ? options.prefill_chunk : kDefaultPrefillChunk;
    lower_and_map(r, plan_phases(scenario, options, target, options.prefill_chunk > 0), scenario, profile, model.name,
                  options);
  } else {
    // The mapper's chunk: the candidate whose whole prompt the cost model finds fastest (a
    // larger chunk reads the weights fewer times but needs more room for its activations;
    // a larger one must be 3 % faster, and 3 % per doubling of the chunk where its Programs
    // pass kSlowProgramCommands: they are larger and slower to simulate). A
    // candidate whose activations or Programs do not fit is skipped; when none fits (many
    // sessions), the chunk halves until its Programs do.
    double best = -1;
    int best_target = kDefaultPrefillChunk;
    for (const int target : kPrefillChunkCandidates) {
      if (target > kPrefillChunkCandidates[0] && (target / 2) >= scenario.prompt_tokens) break;
      CompileResult trial = r;
      try {
        lower_and_map(trial, plan_phases(scenario, options, target, false), scenario, profile, model.name, options);
      } catch (const ConfigError&) {
        continue;
      }
      if (programs_too_large(trial)) continue;
      const double cycles = prefill_cycles(trial);
      // Past kSlowProgramCommands a doubling of the chunk doubles the simulation's work for
      // the same prompt: then 3 % per doubling.
      const double doublings =
          largest_program_commands(trial) > kSlowProgramCommands ? std::log2(double(target) / best_target) : 1.0;
      if (best < 0 || cycles < best * std::pow(0.97, doublings)) best = cycles, best_target = target;
    }
    if (best < 0)
      for (best_target = kPrefillChunkCandidates[0] / 2; best_target > 1; best_target /= 2) {
        lower_and_map(r, plan_phases(scenario, options, best_target, false), scenario, profile, model.name, options);
        if (!programs_too_large(r)) break;
      }
    lower_and_map(r, plan_phases(scenario, options, best_target, false), scenario, profile, model.name, options);
    // The estimate of the Programs' size is rough: halve the chunk until they fit.
    for (int target = best_target;; target /= 2) {
      try {
        generate_programs(r, model, profile, options);
        return r;
      } catch (const ProgramTooLarge&) {
        if (target / 2 < 1) throw;
        lower_and_map(r, plan_phases(scenario, options, target / 2, false), scenario, profile, model.name, options);
      }
    }
  }
  generate_programs(r, model, profile, options);
  return r;
}

std::size_t PhaseProgram::command_count() const {
  if (samples.size() != 2) return program.command_count();
  const std::size_t shorter = samples[0].program.command_count(), longer = samples[1].program.command_count();
  return shorter + static_cast<std::size_t>(std::llround(sample_repeats() * double(longer - shorter)));
}

const std::vector<std::string>& stage_names() {
  static const std::vector<std::string> names = {"graph",   "lowered", "tiled",   "mapping",  "schedule",
                                                 "program", "memory",  "kernels", "launches", "summary"};
  return names;
}

std::string emit(const CompileResult& r, const std::string& stage) {
  auto per_phase = [&](auto&& f) {
    std::string out;
    for (const PhaseProgram& p : r.phases) out += fmt::format("## {} (runs {})\n", p.name, p.runs) + f(p);
    return out;
  };
  if (stage == "graph") return dump_graph(r.graph) + "# class: " + r.classification.summary + "\n";
  if (stage == "lowered") return per_phase([](const PhaseProgram& p) { return dump_module(p.lowered); });
  if (stage == "tiled") return per_phase([](const PhaseProgram& p) { return dump_tiled(p.tiled); });
  if (stage == "mapping")
    return per_phase([](const PhaseProgram& p) {
      double ops_bound = 0;
      for (const TiledOp& t : p.tiled) ops_bound += t.bound_cycles;
      return dump_mapping(p.tiled) +
             fmt::format(
                 "# phase: est {:.0f} cycles; bound {:.0f} ({}: matrix {:.0f}, scan {:.0f}, vector {:.0f}, "
                 "DRAM {:.0f} for {} bytes of weights and states), est / bound {:.2f}; the ops' own bounds "
                 "add up to {:.0f}\n",
                 p.estimated_cycles, p.bound.cycles(), p.bound.bound_by(), p.bound.matrix_cycles, p.bound.scan_cycles,
                 p.bound.vector_cycles, p.bound.dram_cycles, p.bound.dram_bytes, p.estimated_cycles / p.bound.cycles(),
                 ops_bound);
    });
  if (stage == "schedule") return per_phase([](const PhaseProgram& p) { return dump_schedule(p.program); });
  if (stage == "program") return per_phase([](const PhaseProgram& p) { return program_listing(p.program); });
  if (stage == "memory") return dump_memory_plan(r.memory);
  if (stage == "launches")
    return per_phase([](const PhaseProgram& p) {
      return p.launches.empty() ? std::string("no kernels: the profile has no kernels: section\n")
                                : dump_kernels(p.launches);
    });
  if (stage == "kernels") {
    std::string out;
    for (const KernelChoice& k : r.kernels)
      out += fmt::format("{} ({} scan ops, e.g. {}): {}\n", k.phase, k.layers, k.op, k.reason);
    return out.empty() ? "no scan ops\n" : out;
  }
  if (stage == "summary") {
    std::string out = fmt::format("model {} on {} ({}): {}\n", r.model_name, r.profile_name, name_of(r.precision),
                                  r.classification.summary);
    for (const PhaseProgram& p : r.phases)
      out +=
          fmt::format("{}: {} tokens x {} sessions, context {}, runs {}: {} commands, est {:.0f} cycles/run\n", p.name,
                      p.phase.tokens, p.phase.sessions, p.phase.context, p.runs, p.command_count(), p.estimated_cycles);
    out += emit(r, "kernels") + emit(r, "memory");
    out += fmt::format("estimated total: {:.6f} s (cost model; the simulator decides)\n", r.estimated_seconds);
    return out;
  }
  std::string list;
  for (const auto& s : stage_names()) list += (list.empty() ? "" : ", ") + s;
  throw ConfigError(fmt::format("emit: unknown stage \"{}\" (stages: {})", stage, list));
}

}  // namespace ssmsoc::compiler
