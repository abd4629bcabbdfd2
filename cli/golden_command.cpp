// `ssmsoc golden`: runs a HuggingFace checkpoint on the golden model executor.
#include <fmt/format.h>

#include "arch/golden/safetensors.hpp"
#include "arch/hf/golden_model.hpp"
#include "arch/spec/config_tree.hpp"
#include "cli/commands.hpp"

namespace ssmsoc::cli {

std::vector<std::int64_t> token_ids(const SafetensorsFile& file, const std::string& source, const std::string& name,
                                    int vocab, int& batch, int& length) {
  auto it = file.tensors.find(name);
  if (it == file.tensors.end()) throw ConfigError(fmt::format("{}: tensor '{}': missing", source, name));
  const Tensor& tensor = it->second;
  if (tensor.shape.size() != 2 || tensor.shape[0] < 1 || tensor.shape[1] < 1)
    throw ConfigError(fmt::format("{}: tensor '{}': expected token ids [batch, length], got {} dimensions", source,
                                  name, tensor.shape.size()));
  if (!is_integer(tensor.dtype))
    throw ConfigError(
        fmt::format("{}: tensor '{}': expected an integer dtype, got {}", source, name, dtype_name(tensor.dtype)));
  const std::vector<std::int64_t> ids = tensor.to_i64();
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= vocab)
      throw ConfigError(fmt::format("{}: tensor '{}': id {} at [{}, {}] is outside the vocabulary of {}", source, name,
                                    ids[i], i / tensor.shape[1], i % tensor.shape[1], vocab));
  batch = static_cast<int>(tensor.shape[0]);
  length = static_cast<int>(tensor.shape[1]);
  return ids;
}

int golden_run(const GoldenCommand& command, std::ostream& out) {
  const GoldenModel model(load_hf_checkpoint(command.model));
  const SafetensorsFile input = read_safetensors(command.input);
  const int vocab = model.vocab_size();
  SafetensorsFile result;
  result.metadata = {{"producer", "ssmsoc golden"}, {"model_type", model.checkpoint().model_type}};
  int batch = 0, length = 0;
  if (command.generate > 0) {
    const auto prompt = token_ids(input, command.input, "gen_prompt_ids", vocab, batch, length);
    const auto generation = model.generate(batch, length, prompt, command.generate);
    result.tensors["gen_new_ids"] = Tensor::from_i64({batch, command.generate}, generation.new_ids);
    result.tensors["gen_logits"] = Tensor::from_f32({batch, command.generate, vocab}, generation.logits);
    out << fmt::format("golden {}: {} x {} prompt tokens, {} generated -> {}\n", result.metadata["model_type"], batch,
                       length, command.generate, command.out);
  } else {
    const auto ids = token_ids(input, command.input, "input_ids", vocab, batch, length);
    result.tensors["logits"] = Tensor::from_f32({batch, length, vocab}, model.forward(batch, length, ids));
    out << fmt::format("golden {}: {} x {} tokens -> {}\n", result.metadata["model_type"], batch, length, command.out);
  }
  write_safetensors(command.out, result);
  return 0;
}

}  // namespace ssmsoc::cli
