// Fuzz target: a HuggingFace config.json into the model description (every supported
// family), the tensors a checkpoint of it must hold and its parameter count, and the
// checkpoint loader's config step.
#include "arch/hf/checkpoint.hpp"
#include "arch/spec/config_tree.hpp"
#include "arch/spec/model.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto file = ssmsoc::fuzz::input_file(data, size, "config.json");
  try {
    const nlohmann::json config = ssmsoc::read_json_file(file);
    const ssmsoc::ModelConfig model = ssmsoc::parse_model_config(config, file, ssmsoc::supported_model_types());
    (void)ssmsoc::expected_tensors(model);
    (void)ssmsoc::parameter_count(model);
    (void)ssmsoc::parse_hf_config(config, file);
  } catch (const ssmsoc::ConfigError&) {
  }
  return 0;
}
