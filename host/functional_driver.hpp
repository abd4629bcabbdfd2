// The functional driver: runs a HuggingFace checkpoint end to end on the simulated chip with
// real data (library ssmsoc_host; `ssmsoc run --functional`). It is the host side of the
// chip: it compiles the model for the profile (compiler::CompileOptions::functional), loads
// the checkpoint's weights into the DRAM image at the memory plan's placements (in the
// precision each compiled tensor has: GEMM weights in the matrix precision, norms, A, D,
// biases and conv weights in float32; A = -exp(A_log)), gathers the embeddings of the actual
// tokens on the host into the "input_embeddings" buffer the first layer reads, runs the
// phases in order through the firmware on the SystemC model in functional mode
// (sim::simulate_in_child), carries every state buffer (conv and SSM states) from run to run
// through SimOptions::memory_in / memory_out, and reads the logits back from the
// activation arena. Greedy generation feeds each argmax token (ties to the lowest id, as
// torch.argmax) into the next decode step.
//
//   FunctionalDriver rt(load_hf_checkpoint("tests/data/models/mamba2"), load_profile("krsna-dc"));
//   FunctionalResult r = rt.forward(2, 16, ids);       // r.logits [2, 16, vocab]
//   FunctionalResult g = rt.generate(1, 6, prompt, 8);  // g.new_ids [1, 8], g.logits [1, 8, vocab]
//
// Supported so far: the eight SSM and hybrid families (host/README.md lists what is not yet:
// attention and MLP biases, dt clamps, ...) on profiles whose scan unit runs the model's
// scans natively and whose matrix array has fp32, bf16 or fp16 (fp32 preferred: then the results equal the
// golden model's within float rounding). With attention, each decode step is compiled at its
// exact context (CompileOptions::decode_context) and the prompt must fit one prefill chunk.
// Anything else is a one-line ConfigError naming what is missing.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "arch/hf/checkpoint.hpp"
#include "arch/spec/profile.hpp"
#include "compiler/compiler.hpp"

namespace ssmsoc::host {

// One simulated run of a phase's Program.
struct PhaseRun {
  std::string phase;
  std::uint64_t cycles = 0;
  double seconds = 0;
  double energy_j = 0;
  std::uint64_t commands = 0;
};

struct FunctionalResult {
  std::vector<float> logits;          // forward: [batch, length, vocab]; generate: [batch, n, vocab]
  std::vector<std::int64_t> new_ids;  // generate: [batch, n]
  std::vector<PhaseRun> runs;         // every simulation, in order
  Precision precision = Precision::fp32;
  std::string classification;
};

// The compile options of a functional run on `profile`: functional Programs, GEMMs in fp32
// when the matrix array has it (else bf16, then fp16).
compiler::CompileOptions functional_compile_options(const Profile& profile);

struct DriverOptions {
  int prefill_chunk = 0;  // tokens per prefill chunk (compiler::CompileOptions); 0: the compiler's default
};

class FunctionalDriver {
 public:
  // Checks that the model family and the profile are supported (ConfigError otherwise).
  FunctionalDriver(HfCheckpoint checkpoint, Profile profile, DriverOptions options = {});

  const HfCheckpoint& checkpoint() const { return checkpoint_; }
  const Profile& profile() const { return profile_; }

  // Prefill [batch, length] ids -> logits [batch, length, vocab] (every position).
  FunctionalResult forward(int batch, int length, std::span<const std::int64_t> ids) const;
  // Greedy decoding: logits[i] are the ones that chose new_ids[i], the first from the
  // prefill's last position, then one decode step each (as GoldenModel::generate).
  FunctionalResult generate(int batch, int prompt_length, std::span<const std::int64_t> prompt, int new_tokens) const;

 private:
  HfCheckpoint checkpoint_;
  Profile profile_;
  DriverOptions options_;
  compiler::ModelSpec model_;
  compiler::CompileOptions compile_options() const;
  // The model compiled with its "prefill" phase at `context` tokens already in the cache.
  compiler::CompileResult at_prefill_context(const compiler::Scenario& scenario, int context) const;
};

}  // namespace ssmsoc::host
