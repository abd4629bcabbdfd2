// The fuzz targets without libFuzzer: each argument is a file whose bytes go through the
// target once. The main build replays the inputs of fixed findings with it
// (tests/fuzz/findings/fixed/, one CTest case each), so a finding that comes back fails the
// ordinary suite, and under ASan + UBSan in the sanitized build.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "%s: cannot open the file\n", argv[i]);
      return 1;
    }
    const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
    std::printf("%s: replayed, %zu bytes\n", argv[i], bytes.size());
  }
  return 0;
}
