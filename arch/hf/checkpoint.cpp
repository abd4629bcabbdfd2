#include "arch/hf/checkpoint.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "arch/golden/safetensors.hpp"
#include "arch/spec/config_tree.hpp"

namespace ssmsoc {

namespace {

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

}  // namespace

const std::vector<float>& HfCheckpoint::weight(const std::string& name) const {
  auto it = weights.find(name);
  if (it == weights.end())
    throw ConfigError(fmt::format("{}: tensor '{}' was not loaded", (dir / "model.safetensors").string(), name));
  return it->second.values;
}

HfCheckpoint parse_hf_config(const nlohmann::json& config, const std::filesystem::path& file,
                             const ModelConfigOptions& options) {
  HfCheckpoint ck;
  static_cast<ModelConfig&>(ck) = parse_model_config(config, file, supported_model_types(), options);
  ck.dir = file.parent_path();
  return ck;
}

HfCheckpoint load_hf_checkpoint(const std::filesystem::path& dir) {
  const auto config_file = dir / "config.json";
  HfCheckpoint ck = parse_hf_config(read_json_file(config_file), config_file);
  ck.dir = dir;

  const auto weights_file = dir / "model.safetensors";
  SafetensorsFile file = read_safetensors(weights_file);
  for (const auto& [name, shape] : expected_tensors(ck)) {
    auto found = file.tensors.find(name);
    if (found == file.tensors.end())
      throw ConfigError(fmt::format("{}: missing tensor '{}'", weights_file.string(), name));
    const Tensor& tensor = found->second;
    if (tensor.shape != shape)
      throw ConfigError(fmt::format("{}: tensor '{}' has shape {}, expected {}", weights_file.string(), name,
                                    shape_text(tensor.shape), shape_text(shape)));
    if (is_integer(tensor.dtype))
      throw ConfigError(fmt::format("{}: tensor '{}' has integer dtype {}, expected a float one", weights_file.string(),
                                    name, dtype_name(tensor.dtype)));
    std::vector<float> values = tensor.to_f32();
    // A NaN or infinite weight would spread through every logit: refuse it with its place.
    const auto bad = std::find_if(values.begin(), values.end(), [](float v) { return !std::isfinite(v); });
    if (bad != values.end())
      throw ConfigError(fmt::format("{}: tensor '{}': element {} is {}, expected finite weights", weights_file.string(),
                                    name, bad - values.begin(), *bad));
    ck.weights[name] = Weight{tensor.shape, std::move(values)};
  }
  return ck;
}

}  // namespace ssmsoc
