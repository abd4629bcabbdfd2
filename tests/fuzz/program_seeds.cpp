// Writes seed Programs for fuzz_program into the folder given as the argument: the shared
// sample Program (tests/sample_program.hpp) and smaller ones made of its parts, so the
// corpus starts from images the decoder accepts.
#include <cstdio>
#include <string>

#include "arch/spec/program.hpp"
#include "tests/sample_program.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s FOLDER\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const ssmsoc::Program sample = ssmsoc::test::sample_program();
  ssmsoc::write_program(dir + "/sample.ssmp", sample);
  // The sample's buffers with one stream at a time (the semaphore waits and signals stay
  // balanced only in the whole sample, so each part keeps the sample's semaphore count).
  for (std::size_t i = 0; i < sample.streams.size(); ++i) {
    ssmsoc::Program part = sample;
    part.streams = {sample.streams[i]};
    try {
      ssmsoc::write_program(dir + "/stream" + std::to_string(i) + ".ssmp", part);
    } catch (const std::exception&) {  // a part that is not a valid Program on its own
    }
  }
  ssmsoc::Program empty;
  ssmsoc::write_program(dir + "/empty.ssmp", empty);
  return 0;
}
