// Fuzz target: the Program decoder. A Program it accepts must list, and encode to an image
// that decodes to the same Program again.
#include <cstdlib>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/program.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  ssmsoc::Program program;
  try {
    program = ssmsoc::decode_program(bytes, "fuzz.ssmp");
  } catch (const ssmsoc::ConfigError&) {
    return 0;
  }
  const std::string listing = ssmsoc::program_listing(program);
  const std::vector<std::byte> image = ssmsoc::encode_program(program);
  // A Program the decoder accepted is valid, so its own image must decode, to the same listing.
  if (ssmsoc::program_listing(ssmsoc::decode_program(image, "re-encoded")) != listing) std::abort();
  return 0;
}
