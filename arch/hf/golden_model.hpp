// The golden (reference) executor of HuggingFace state-space and hybrid language models:
// plain float32 C++ on the golden kernels (kernels.hpp), following each family's
// transformers implementation (the pure-PyTorch path). Prefill runs the sequence kernels
// (selective_scan, ssd_chunked with the config's chunk size, causal_conv1d, causal attention
// over a KV cache); decoding runs the single-step kernels (selective_state_update*,
// causal_conv1d_update on a conv state of d_conv inputs as in HF caches, attention over the
// growing KV cache). A session that prefills again after earlier tokens runs SSD and the
// convolution from the cached states; Mamba-1 (whose selective_scan takes no initial state)
// then runs one state update per token. Mamba-3 (mamba_ssm's MambaLMHeadModel with Mamba3
// mixers) runs the golden Mamba-3 mixer (golden/mamba3.hpp): its scan for a prefill (from the
// cached angle, SSM, k and v states after earlier tokens) and Mamba3.step for a decode step,
// then mamba_ssm's GatedMLP. Sequences of a batch are independent and run one after another.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "arch/hf/checkpoint.hpp"

namespace ssmsoc {

class GoldenModel {
 public:
  explicit GoldenModel(HfCheckpoint checkpoint);

  const HfCheckpoint& checkpoint() const { return checkpoint_; }
  int vocab_size() const { return checkpoint_.vocab_size; }

  // Prefill [batch, length] ids -> logits [batch, length, vocab].
  std::vector<float> forward(int batch, int length, std::span<const std::int64_t> ids) const;

  // Every intermediate of one sequence's prefill, [length, hidden] each (logits [length,
  // vocab]), for comparison with transformers' output_hidden_states.
  struct Trace {
    std::vector<float> embedding;            // after the embedding multiplier
    std::vector<std::vector<float>> layers;  // each decoder layer's output
    std::vector<float> final_norm;           // the final norm's output (the LM head's input)
    std::vector<float> logits;
  };
  Trace trace(std::span<const std::int64_t> ids) const;

  struct Cache;  // per-layer conv state, SSM state and KV cache of one sequence

  // A decoding session of one sequence with per-layer caches. It refers to the model, which
  // must outlive it.
  class Session {
   public:
    Session(Session&&) noexcept;
    Session& operator=(Session&&) noexcept;
    ~Session();

    // Runs `ids` after whatever the session has seen: logits [ids.size(), vocab].
    std::vector<float> prefill(std::span<const std::int64_t> ids);
    // One decode step: logits [vocab].
    std::vector<float> step(std::int64_t id);
    // Tokens seen so far.
    int position() const;

   private:
    friend class GoldenModel;
    explicit Session(const GoldenModel& model);
    const GoldenModel* model_;
    std::unique_ptr<Cache> cache_;
  };
  Session start() const;  // batch 1

  struct Generation {
    std::vector<std::int64_t> new_ids;  // [batch, n]
    std::vector<float> logits;          // [batch, n, vocab]
  };
  // Greedy decoding (ties go to the lowest id, as torch.argmax): logits[i] are the ones that
  // chose new_ids[i], the first from the prefill's last position, then one decode step each.
  Generation generate(int batch, int prompt_length, std::span<const std::int64_t> prompt, int new_tokens) const;

 private:
  // Runs tokens through the model, updating the cache: logits [ids.size(), vocab].
  std::vector<float> run(Cache& cache, std::span<const std::int64_t> ids, Trace* trace = nullptr) const;

  HfCheckpoint checkpoint_;
};

}  // namespace ssmsoc
