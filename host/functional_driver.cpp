#include "host/functional_driver.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "arch/numerics/numerics.hpp"
#include "arch/spec/config_tree.hpp"
#include "compiler/weights.hpp"
#include "sim/sim.hpp"

namespace ssmsoc::host {

namespace {

using Bytes = std::vector<std::byte>;
using Images = std::map<std::string, Bytes>;

constexpr const char* kEmbeddings = "input_embeddings";

// Float values in a tensor's storage format: float32, or a 16-bit matrix precision.
Bytes encode(std::span<const float> values, int bits, Precision precision) {
  Bytes out;
  if (bits >= 32) {
    out.resize(values.size() * 4);
    std::memcpy(out.data(), values.data(), out.size());
    return out;
  }
  if (precision != Precision::bf16 && precision != Precision::fp16)
    throw ConfigError(
        fmt::format("--functional: weights in {} are not supported (fp32, bf16, fp16)", name_of(precision)));
  const NumberType type = precision == Precision::bf16 ? NumberType::bf16 : NumberType::fp16;
  std::vector<std::uint16_t> packed(values.size());
  for (std::size_t i = 0; i < values.size(); ++i)
    packed[i] = static_cast<std::uint16_t>(numerics::float_bits(values[i], type));
  out.resize(packed.size() * 2);
  std::memcpy(out.data(), packed.data(), out.size());
  return out;
}

// A value as the chip's matrix precision holds it (the embedding table's rows).
float round_to(float x, Precision precision) {
  if (precision == Precision::bf16)
    return numerics::from_float_bits(numerics::float_bits(x, NumberType::bf16), NumberType::bf16);
  if (precision == Precision::fp16)
    return numerics::from_float_bits(numerics::float_bits(x, NumberType::fp16), NumberType::fp16);
  return x;
}

void check_model(const HfCheckpoint& ck) {
  if (ck.mamba.version == 3)
    throw ConfigError(
        fmt::format("{}: --functional: Mamba-3 is not supported: the compiler does not map Mamba-3 "
                    "layers yet (ssmsoc golden runs them)",
                    ck.dir.string()));
  // MoE: the functional lowering weights every expert by on-chip routing weights: Jamba's
  // (softmax then top k, not renormalised, unscaled, no shared expert), Granite's (top k
  // logits then softmax over the k, shared MLP) or Nemotron-H's (sigmoid, top k by score +
  // correction bias, renormalised or not, scaled, shared expert).
  const auto& f = ck.ffn;
  const bool stacked = ck.feed_forward_layout() == FeedForwardLayout::stacked;
  const bool moe =
      std::find(ck.layers.begin(), ck.layers.end(), LayerKind::moe) != ck.layers.end() ||
      std::find(ck.feed_forward.begin(), ck.feed_forward.end(), FeedForwardKind::moe) != ck.feed_forward.end();
  const bool jamba_routing = f.routing == Routing::softmax_topk && !f.normalize_routing && f.routed_scaling == 1.0f &&
                             f.shared_intermediate_size == 0;
  const bool nemotron_routing = f.routing == Routing::sigmoid_topk;
  const bool granite_routing = f.routing == Routing::topk_softmax && f.routed_scaling == 1.0f;
  if (moe && !jamba_routing && !nemotron_routing && !granite_routing)
    throw ConfigError(
        fmt::format("{}: --functional: MoE routing other than softmax then top k (Jamba), top k then softmax "
                    "(Granite) or sigmoid with a correction bias (Nemotron-H) is not supported yet",
                    ck.dir.string()));
  // Granite without experts runs only its shared MLP, which the compiled dense MLP is not.
  if (stacked && f.experts == 0)
    throw ConfigError(
        fmt::format("{}: --functional: granitemoehybrid without experts is not supported yet", ck.dir.string()));
  if (ck.attention.bias || f.bias)
    throw ConfigError(fmt::format("{}: --functional: attention or MLP biases are not supported yet", ck.dir.string()));
  // Granite's is folded into the last projection of each residual branch (compiler::weight_values).
  if (ck.residual_multiplier != 1.0f && !stacked)
    throw ConfigError(fmt::format("{}: --functional: a residual multiplier is not supported yet", ck.dir.string()));
  const MambaShape& s = ck.mamba;
  if (s.dt_min > 0.0f || std::isfinite(s.dt_max))
    throw ConfigError(
        fmt::format("{}: --functional: a dt clamp (time_step_limit) is not supported yet", ck.dir.string()));
}

void check_profile(const Profile& profile, const HfCheckpoint& ck) {
  const ScanUnit& unit = profile.tile.scan;
  const ScanMode mode = ck.mamba.version == 1 ? ScanMode::mamba1 : ScanMode::mamba2;
  if (!unit.present || !unit.supports(mode) || ck.mamba.d_state > unit.max_state)
    throw ConfigError(fmt::format(
        "{}: --functional needs a scan unit running Mamba-{} with N = {} natively (software scans are timing-only "
        "for now)",
        profile.name, ck.mamba.version, ck.mamba.d_state));
  const auto& have = profile.tile.matrix.macs_per_cycle;
  if (!have.count(Precision::fp32) && !have.count(Precision::bf16) && !have.count(Precision::fp16))
    throw ConfigError(fmt::format("{}: --functional needs an fp32, bf16 or fp16 matrix array (tile.matrix.precisions)",
                                  profile.name));
}

int argmax(std::span<const float> row) {
  int best = 0;  // ties to the lowest id, as torch.argmax
  for (std::size_t i = 1; i < row.size(); ++i)
    if (row[i] > row[best]) best = static_cast<int>(i);
  return best;
}

// Runs the phases of one compiled model, carrying the state images.
class Driver {
 public:
  Driver(const HfCheckpoint& ck, const Profile& profile, const compiler::CompileResult& compiled,
         FunctionalResult& result)
      : ck_(ck), profile_(profile), compiled_(compiled), result_(result) {
    const compiler::CheckpointTensors tensors{
        [&ck](const std::string& name) { return ck.has(name); },
        [&ck](const std::string& name) -> const std::vector<float>& { return ck.weight(name); }};
    std::map<std::string, int> bits;
    for (const auto& phase : compiled.phases)
      for (const auto& t : phase.lowered.tensors)
        if (t.kind == compiler::TensorKind::weight) bits[t.name] = t.bits;
    for (const auto& [name, placement] : compiled.memory.weights) {
      const int b = bits.at(name);
      const std::uint64_t elements = placement.bytes * 8 / std::uint64_t(b);
      const std::vector<float> values = compiler::weight_values(ck, tensors, name, elements);
      if (values.size() != elements)
        throw ConfigError(fmt::format("--functional: the compiled weight '{}' has {} elements, the checkpoint {}", name,
                                      elements, values.size()));
      weights_[name] = encode(values, b, compiled.precision);
    }
    table_ = ck.weight(ck.embedding_name());
    for (float& v : table_) v = round_to(v * ck.embedding_multiplier, compiled.precision);
  }

  // Runs phase `index` once on the tokens `ids` (its rows, session-major): logits [rows, vocab].
  std::vector<float> run(std::size_t index, std::span<const std::int64_t> ids) { return run(compiled_, index, ids); }

  // The same on another compilation of the model with the same memory plan (decode at an
  // exact context): weights and states are bound by buffer name.
  std::vector<float> run(const compiler::CompileResult& compiled, std::size_t index,
                         std::span<const std::int64_t> ids) {
    const compiler::PhaseProgram& phase = compiled.phases.at(index);
    const std::size_t h = std::size_t(ck_.hidden_size);
    std::vector<float> embeddings(ids.size() * h);
    for (std::size_t r = 0; r < ids.size(); ++r)
      std::copy_n(table_.begin() + static_cast<std::ptrdiff_t>(std::size_t(ids[r]) * h), h,
                  embeddings.begin() + static_cast<std::ptrdiff_t>(r * h));
    sim::SimOptions options;
    options.functional = true;
    options.source = phase.name;
    for (const ProgramBuffer& b : phase.program.buffers) {
      if (b.kind == SSM_BUF_WEIGHTS) {
        options.memory_in[b.name] = weights_.at(b.name);
      } else if (b.name == kEmbeddings) {
        options.memory_in[b.name] = encode(embeddings, 32, Precision::fp32);
      } else if (b.kind == SSM_BUF_STATE) {
        if (auto it = states_.find(b.name); it != states_.end()) options.memory_in[b.name] = it->second;
        options.memory_out.push_back(b.name);
      }
    }
    options.memory_out.push_back("activations");
    const int logits_tensor = phase.lowered.tensor("lm_head.logits");
    const std::string logits_buffer =
        logits_tensor < 0 ? "activations" : compiler::activation_buffer(compiled.memory, index, logits_tensor);
    if (logits_buffer != "activations") options.memory_out.push_back(logits_buffer);
    sim::SimResult r = sim::simulate_in_child(profile_, phase.program, options);
    result_.runs.push_back(PhaseRun{phase.name, r.cycles, r.seconds, r.energy_j, phase.program.command_count()});
    for (auto& [name, bytes] : r.memory_out)
      if (name.rfind("activations", 0) != 0) states_[name] = std::move(bytes);
    const int t = phase.lowered.tensor("lm_head.logits");
    if (t < 0) throw ConfigError(fmt::format("--functional: phase {} computes no logits", phase.name));
    const compiler::TensorDef& def = phase.lowered.tensors[std::size_t(t)];
    const std::int64_t offset = compiled.memory.activation_offsets.at(index).at(std::size_t(t));
    const Bytes& arena = r.memory_out.at(logits_buffer);
    std::vector<float> logits(std::size_t(def.rows * def.cols));
    std::memcpy(logits.data(), arena.data() + offset, logits.size() * 4);
    return logits;
  }

  // The prefill phases over [batch, length] ids: logits [batch, length, vocab]. A "prefill"
  // Program is compiled at one context for all its runs; with attention (whose key range and
  // positions depend on it), each run whose context differs runs `at_context(context)`'s.
  template <typename AtContext>
  std::vector<float> prefill(int batch, int length, std::span<const std::int64_t> ids, AtContext at_context) {
    const std::size_t vocab = std::size_t(ck_.vocab_size);
    const bool attention = ck_.has_attention();
    std::vector<float> logits(std::size_t(batch) * length * vocab);
    int done = 0;
    for (std::size_t i = 0; i < compiled_.phases.size(); ++i) {
      const auto& phase = compiled_.phases[i];
      if (phase.name != "prefill" && phase.name != "prefill-rest") continue;
      const int chunk = phase.phase.tokens;
      for (int run = 0; run < phase.runs; ++run, done += chunk) {
        std::vector<std::int64_t> rows;
        for (int s = 0; s < batch; ++s)
          for (int k = 0; k < chunk; ++k) rows.push_back(ids[std::size_t(s) * length + done + k]);
        std::vector<float> out;
        if (attention && phase.phase.context != done) {
          const compiler::CompileResult at = at_context(done);
          out = this->run(at, phase_index(at, phase.name), rows);
        } else {
          out = run_phase(i, rows);
        }
        for (int s = 0; s < batch; ++s)
          std::copy_n(out.begin() + static_cast<std::ptrdiff_t>(std::size_t(s) * chunk * vocab), chunk * vocab,
                      logits.begin() + static_cast<std::ptrdiff_t>((std::size_t(s) * length + done) * vocab));
      }
    }
    return logits;
  }

  std::vector<float> run_phase(std::size_t index, std::span<const std::int64_t> ids) { return run(index, ids); }

  std::size_t phase_index(const std::string& name) const { return phase_index(compiled_, name); }
  static std::size_t phase_index(const compiler::CompileResult& compiled, const std::string& name) {
    for (std::size_t i = 0; i < compiled.phases.size(); ++i)
      if (compiled.phases[i].name == name) return i;
    throw ConfigError(fmt::format("--functional: the compiled model has no {} phase", name));
  }

 private:
  const HfCheckpoint& ck_;
  const Profile& profile_;
  const compiler::CompileResult& compiled_;
  FunctionalResult& result_;
  Images weights_, states_;
  std::vector<float> table_;
};

void check_ids(std::span<const std::int64_t> ids, std::size_t expected, int vocab) {
  if (ids.size() != expected)
    throw ConfigError(fmt::format("--functional: {} token ids for {} positions", ids.size(), expected));
  for (std::int64_t id : ids)
    if (id < 0 || id >= vocab)
      throw ConfigError(fmt::format("--functional: id {} is outside the vocabulary of {}", id, vocab));
}

}  // namespace

compiler::CompileOptions functional_compile_options(const Profile& profile) {
  compiler::CompileOptions o;
  o.functional = true;
  const auto& have = profile.tile.matrix.macs_per_cycle;
  for (Precision p : {Precision::fp32, Precision::bf16, Precision::fp16})
    if (have.count(p)) {
      o.precision = std::string(name_of(p));
      break;
    }
  return o;
}

FunctionalDriver::FunctionalDriver(HfCheckpoint checkpoint, Profile profile, DriverOptions options)
    : checkpoint_(std::move(checkpoint)), profile_(std::move(profile)), options_(options) {
  check_model(checkpoint_);
  check_profile(profile_, checkpoint_);
  static_cast<ModelConfig&>(model_) = checkpoint_;
  model_.file = checkpoint_.dir / "config.json";
  model_.name = checkpoint_.dir.filename().string();
}

compiler::CompileOptions FunctionalDriver::compile_options() const {
  compiler::CompileOptions o = functional_compile_options(profile_);
  o.prefill_chunk = options_.prefill_chunk;
  return o;
}

compiler::CompileResult FunctionalDriver::at_prefill_context(const compiler::Scenario& scenario, int context) const {
  compiler::CompileOptions o = compile_options();
  o.prefill_context = context;
  return compiler::compile(model_, scenario, profile_, o);
}

FunctionalResult FunctionalDriver::forward(int batch, int length, std::span<const std::int64_t> ids) const {
  check_ids(ids, std::size_t(batch) * std::size_t(length), checkpoint_.vocab_size);
  compiler::Scenario scenario;
  scenario.prompt_tokens = length;
  scenario.generate_tokens = 0;
  scenario.batch = batch;
  const compiler::CompileResult compiled = compiler::compile(model_, scenario, profile_, compile_options());
  FunctionalResult result;
  result.precision = compiled.precision;
  result.classification = compiled.classification.summary;
  Driver driver(checkpoint_, profile_, compiled, result);
  result.logits =
      driver.prefill(batch, length, ids, [&](int context) { return at_prefill_context(scenario, context); });
  return result;
}

FunctionalResult FunctionalDriver::generate(int batch, int prompt_length, std::span<const std::int64_t> prompt,
                                            int new_tokens) const {
  check_ids(prompt, std::size_t(batch) * std::size_t(prompt_length), checkpoint_.vocab_size);
  if (new_tokens < 1) throw ConfigError("--functional: --generate needs at least 1 new token");
  compiler::Scenario scenario;
  scenario.prompt_tokens = prompt_length;
  scenario.generate_tokens = new_tokens;
  scenario.batch = batch;
  const compiler::CompileResult compiled = compiler::compile(model_, scenario, profile_, compile_options());
  FunctionalResult result;
  result.precision = compiled.precision;
  result.classification = compiled.classification.summary;
  Driver driver(checkpoint_, profile_, compiled, result);
  const std::size_t vocab = std::size_t(checkpoint_.vocab_size);
  const std::vector<float> prefill =
      driver.prefill(batch, prompt_length, prompt, [&](int context) { return at_prefill_context(scenario, context); });
  const std::size_t sessions = static_cast<std::size_t>(batch);
  std::vector<std::vector<std::int64_t>> ids(sessions);
  std::vector<std::vector<float>> logits(sessions);
  std::vector<std::int64_t> next(sessions);
  for (int s = 0; s < batch; ++s) {
    const auto row = std::span(prefill).subspan((std::size_t(s) * prompt_length + prompt_length - 1) * vocab, vocab);
    next[std::size_t(s)] = argmax(row);
    ids[std::size_t(s)].push_back(next[std::size_t(s)]);
    logits[std::size_t(s)].insert(logits[std::size_t(s)].end(), row.begin(), row.end());
  }
  if (new_tokens > 1) {
    const std::size_t decode = driver.phase_index("decode");
    const bool exact = checkpoint_.has_attention();  // attention: decode compiled at each exact context
    for (int step = 1; step < new_tokens; ++step) {
      std::vector<float> out;
      if (exact) {
        compiler::CompileOptions o = compile_options();
        o.decode_context = prompt_length + step - 1;
        const compiler::CompileResult at = compiler::compile(model_, scenario, profile_, o);
        out = driver.run(at, Driver::phase_index(at, "decode"), next);
      } else {
        out = driver.run_phase(decode, next);
      }
      for (int s = 0; s < batch; ++s) {
        const auto row = std::span(out).subspan(std::size_t(s) * vocab, vocab);
        next[std::size_t(s)] = argmax(row);
        ids[std::size_t(s)].push_back(next[std::size_t(s)]);
        logits[std::size_t(s)].insert(logits[std::size_t(s)].end(), row.begin(), row.end());
      }
    }
  }
  for (int s = 0; s < batch; ++s) {
    result.new_ids.insert(result.new_ids.end(), ids[std::size_t(s)].begin(), ids[std::size_t(s)].end());
    result.logits.insert(result.logits.end(), logits[std::size_t(s)].begin(), logits[std::size_t(s)].end());
  }
  return result;
}

}  // namespace ssmsoc::host
