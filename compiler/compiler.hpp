// The compiler's API: compile(model, scenario, profile, options) runs the straight list of
// passes and returns every stage's result; emit(result, stage) prints a stage.
//
//   build_graph -> recognize_architecture -> lower_graph (per phase) -> fuse_residual_adds
//   -> select_scan_kernels -> fuse_dt_projections
//   -> plan_memory -> choose_mappings (per op: tiles, blocks, SRAM layout) -> generate_program
//   (scheduling, codegen) -> validate_program
//
// Phases (one Program each): the prompt runs as prefill chunks of about `prefill_chunk`
// tokens per session, by default the candidate chunk (kPrefillChunkCandidates) the cost model
// finds fastest for the whole prompt (equal chunks where possible: 300 tokens -> 2 x 150); the SSM and conv
// states carry from chunk to chunk and the KV cache grows, so one "prefill" Program is run
// `runs` times (attention at the mean context of the chunks, exact in total because its work
// is linear in the context), plus "prefill-rest" for a shorter last chunk when the prompt
// does not split evenly. Each chunk keeps every session's last hidden state; "logits" runs
// the final norm and LM head on it once. "decode" is one token per session at the mean
// context of the generation, run generate - 1 times (the first generated token comes from
// the prefill's logits).
#pragma once

#include <string>
#include <vector>

#include "arch/spec/program.hpp"
#include "compiler/codegen.hpp"
#include "compiler/cost_model.hpp"
#include "compiler/graph.hpp"
#include "compiler/kernel_plan.hpp"
#include "compiler/lower.hpp"
#include "compiler/mapping.hpp"
#include "compiler/memory_plan.hpp"
#include "compiler/model.hpp"

namespace ssmsoc::compiler {

// The prefill chunk of functional compiles, and the candidates the mapper tries otherwise
// (compile() picks the one the cost model finds fastest for the whole prompt).
inline constexpr int kDefaultPrefillChunk = 256;
inline constexpr int kPrefillChunkCandidates[] = {256, 512, 1024, 2048};
// A GPU profile with `kernels:` runs the prompt in one forward pass up to this many tokens per
// session, in chunks of it beyond (as serving stacks' chunked prefill).
inline constexpr int kKernelPrefillChunk = 8192;

struct CompileOptions {
  std::string precision;  // matrix precision ("bf16", "int8", ...); empty: choose_precision
  int prefill_chunk = 0;  // tokens per prefill chunk; 0: the mapper's choice (functional: about kDefaultPrefillChunk)
  bool validate = true;   // validate_program on every Program (with the profile)
  bool fold_sync = true;  // fold WAIT/SIGNAL commands into the engine commands' sync points
  bool fuse = true;       // fuse_residual_adds, fuse_dt_projections (false: every op as lowered, to measure fusion)
  // false: no Programs, only the mappings and the cost model's estimates (a sweep's screening).
  bool programs = true;
  // For functional execution (host/functional_driver.hpp): every prefill phase computes the logits of
  // all its tokens (no "logits" phase), the host writes the token embeddings into the
  // "input_embeddings" state buffer, and "decode" is compiled at `decode_context` (tokens
  // already in the cache; -1: the mean context of the generation).
  bool functional = false;
  int decode_context = -1;
  // The tokens already in the cache when the "prefill" phase runs (-1: the mean over its
  // runs); the functional runtime compiles each chunk of an attention model at its own.
  int prefill_context = -1;
  // Timing runs of a native chip (host/performance_run.hpp): a phase whose decoder layers
  // repeat (every layer, or a hybrid's pattern of `period` layers) gets no whole Program but
  // two of its layer prefixes (PhaseProgram::samples); the simulator times those and the
  // host extrapolates, exactly for every figure that adds up layer by layer.
  bool sample_layers = false;
};

// A Program of a phase's prologue, its first `layers` decoder layers and its epilogue
// (CompileOptions::sample_layers): the first `period` x k layers, then the phase's last
// layers mod `period` (which continue the pattern), so that it ends as the phase does. The
// shorter sample has kWarmupPeriods periods: the chip settles into its steady pattern in
// them (queues, prefetches, the firmware's backlog). The longer one adds averaged_periods
// periods, at least kAveragedLayers layers: a steady chip may still repeat itself over a few
// periods rather than one (the firmware's turns over its queues), and the phase's other
// periods take the average of those.
inline constexpr int kWarmupPeriods = 2;
inline constexpr int kAveragedLayers = 6;
inline int averaged_periods(int period) { return (kAveragedLayers + period - 1) / period; }

struct LayerSample {
  int layers = 0;
  Program program;
  std::vector<std::uint32_t> command_op;  // per command: the phase's op it runs (an index into `tiled`)
};

struct PhaseProgram {
  std::string name;  // "prefill", "prefill-rest", "logits", "decode"
  Phase phase;
  int runs = 1;  // how many times the runtime runs it
  Module lowered;
  std::vector<OpMapping> mappings;        // per op of `lowered`
  std::vector<TiledOp> tiled;             // their summaries (--emit tiled)
  Program program;                        // none for a profile with `kernels:`, which has `launches` instead
  std::vector<KernelCall> launches;       // a GPU profile's kernels (plan_kernels)
  std::vector<std::uint32_t> command_op;  // per command: its op's index in `mappings` and `tiled` (CodegenResult)
  double estimated_cycles = 0;            // cost model, one run
  Bound bound;                            // what no mapping beats, one run (phase_bound)
  // With CompileOptions::sample_layers, a phase of `layers` decoder layers that repeat every
  // `layer_period`: `program` stays empty and samples[0] (kWarmupPeriods periods + layers mod
  // period) and samples[1] (`averaged_periods` more) stand for it; the whole phase is
  // samples[0] plus sample_repeats() times the difference. Empty: `program` is the whole phase.
  std::vector<LayerSample> samples;
  int layers = 0, layer_period = 0, averaged_periods = 0;
  // How many times samples[1] - samples[0] the whole phase adds to samples[0].
  double sample_repeats() const {
    return samples.size() == 2 ? double(layers / layer_period - kWarmupPeriods) / averaged_periods : 0;
  }
  // Commands of the whole phase's Program (counted from the samples when sampled).
  std::size_t command_count() const;
};

struct KernelChoice {
  std::string phase;
  std::string op;  // first op with this choice
  ScanKernel kernel = ScanKernel::native;
  std::string reason;
  int layers = 0;  // scan ops with this choice in the phase
};

struct CompileResult {
  std::string model_name, profile_name;
  Precision precision = Precision::bf16;
  Graph graph;
  Classification classification;
  std::vector<KernelChoice> kernels;
  MemoryPlan memory;
  std::vector<PhaseProgram> phases;
  double estimated_seconds = 0;  // cost model: all runs of all phases
};

CompileResult compile(const ModelSpec& model, const Scenario& scenario, const Profile& profile,
                      const CompileOptions& options = {});

// Stages for emit: graph | lowered | tiled | mapping | schedule | program | memory | kernels |
// launches | summary.
const std::vector<std::string>& stage_names();
std::string emit(const CompileResult& result, const std::string& stage);

}  // namespace ssmsoc::compiler
