// Fuzz target: the safetensors reader, then every tensor it accepts read as floats (or
// integers), as the kernel runner and the checkpoint loader read them.
#include "arch/golden/safetensors.hpp"
#include "arch/spec/config_tree.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto file = ssmsoc::fuzz::input_file(data, size, "input.safetensors");
  try {
    const ssmsoc::SafetensorsFile contents = ssmsoc::read_safetensors(file);
    for (const auto& [name, tensor] : contents.tensors) {
      if (ssmsoc::is_integer(tensor.dtype))
        (void)tensor.to_i64();
      else
        (void)tensor.to_f32();
    }
  } catch (const ssmsoc::ConfigError&) {
  }
  return 0;
}
