// Random valid checkpoints of the eight SSM and hybrid families, for property tests of
// whatever runs them (the functional driver against the golden model). A seed gives the
// same model, weights and inputs on every platform (SeededRandom).
//
// Each draw varies what a family's config can vary and the functional driver runs: widths,
// Mamba heads, head_dim, groups (n_groups > 1), state sizes, conv widths, SSD chunk sizes,
// conv and projection biases, the gated norm on or off and before or after the gate
// (Falcon-H1), µP multipliers, layer patterns, attention heads and KV groups, rotary
// fractions, MoE sizes and routing options, Zamba2 shared blocks and adapters; then a batch
// of 1-3 prompts whose length crosses the prefill chunk, the SSD chunk and (up to 40 tokens)
// an attention key block of 32, and a few decode steps. Features the functional driver
// refuses (a dt clamp, attention and MLP biases, a residual multiplier outside Granite) are
// not drawn.
//
//   const RandomModel m = random_model(ModelFamily::bamba, 7);
//   GoldenModel(m.checkpoint).forward(m.batch, m.prompt_length, m.ids);
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "arch/hf/checkpoint.hpp"

namespace ssmsoc::test {

// How large a draw may be: `small` keeps the suite's sample fast, `large` is the nightly one's.
enum class ModelSize { small, large };

struct RandomModel {
  std::string name;         // "bamba/7": family and seed
  nlohmann::json config;    // the config.json the checkpoint was parsed from
  HfCheckpoint checkpoint;  // the parsed config with random weights of every expected tensor
  int batch = 1, prompt_length = 1, new_tokens = 1;
  int prefill_chunk = 0;          // the functional driver's prefill chunk (0: its default)
  std::vector<std::int64_t> ids;  // [batch, prompt_length]
};

// The eight families HfCheckpoint loads, in ModelFamily order.
std::vector<ModelFamily> random_model_families();

RandomModel random_model(ModelFamily family, std::uint64_t seed, ModelSize size = ModelSize::small);

// A one-line description of the draw's shape ("hidden 32, 3 layers [M*M], heads 4x8 g2 N16 ...").
std::string describe(const RandomModel& model);

}  // namespace ssmsoc::test
