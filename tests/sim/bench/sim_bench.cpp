// Simulator speed: a Program of N commands (default 100,000) in performance mode on
// krsna-mobile, one core: commands per wall second. Usage: sim_bench [N] [streams]
// The commands are vector ReLUs spread round-robin over `streams` tiles (default 4), one
// stream each.
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "arch/spec/profile.hpp"
#include "arch/spec/program.hpp"
#include "sim/sim.hpp"

int main(int argc, char** argv) {
  using namespace ssmsoc;
  const long n = argc > 1 ? std::atol(argv[1]) : 100000;
  const int streams = argc > 2 ? std::atoi(argv[2]) : 4;
  const Profile profile = load_profile("krsna-mobile");
  Program p;
  for (int t = 0; t < streams; ++t) {
    p.buffers.push_back({"x", SSM_MEM_TILE_SRAM, SSM_BUF_ACTIVATIONS, t, 0, 4096});
    p.buffers.push_back({"out", SSM_MEM_TILE_SRAM, SSM_BUF_ACTIVATIONS, t, 4096, 4096});
    p.streams.push_back({t, SSM_ENGINE_VECTOR, {}});
  }
  long made = 0;
  for (long i = 0; made < n; ++i) {
    const int t = static_cast<int>(i % streams);
    auto& s = p.streams[static_cast<std::size_t>(t)].commands;
    s.push_back(vector_command({.function = SSM_VEC_RELU,
                                .rows = 1,
                                .cols = 1024,
                                .a = ref(static_cast<std::uint16_t>(2 * t)),
                                .out = ref(static_cast<std::uint16_t>(2 * t + 1))}));
    ++made;
  }
  const auto start = std::chrono::steady_clock::now();
  const sim::SimResult r = sim::simulate(profile, p, {});
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("commands %llu, simulated cycles %llu, wall %.3f s, %.3g commands/s\n",
              static_cast<unsigned long long>(r.commands), static_cast<unsigned long long>(r.cycles), wall,
              static_cast<double>(r.commands) / wall);
  return 0;
}
