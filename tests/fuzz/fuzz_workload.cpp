// Fuzz target: a workload YAML (workloads/models/*.yaml) into the compiler's model, and its
// parameter count.
#include "arch/spec/config_tree.hpp"
#include "compiler/model.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto file = ssmsoc::fuzz::input_file(data, size, "workload.yaml");
  try {
    const ssmsoc::compiler::ModelSpec model = ssmsoc::compiler::load_model(file);
    (void)ssmsoc::compiler::parameter_count(model);
  } catch (const ssmsoc::ConfigError&) {
  }
  return 0;
}
