// scan_cosim_bench [PROFILE...]: co-simulation speed of each Verilated scan unit, in
// lane-steps (state-element updates) per second of RTL simulation on one core, for a
// Mamba-1 scan with N = max_state (every lane busy) and with N = 16 (the reference data's
// size). Prints a markdown table.
#include <fmt/format.h>

#include <chrono>
#include <iostream>
#include <random>

#include "rtl/scan_unit/harness.hpp"

namespace {

using namespace ssmsoc;
using namespace ssmsoc::rtl;

struct Speed {
  double lane_steps_per_s = 0, cycles_per_s = 0;
  std::uint64_t mismatches = 0;
};

Speed measure(ScanEngine& engine, const ScanUnit& unit, int n, int dim, int length) {
  std::mt19937_64 random(7);
  std::normal_distribution<float> normal(0, 1);
  std::uniform_real_distribution<float> uniform(-4, 1);
  Phase p;
  p.kernel = Kernel::selective_scan;
  p.batch = 1, p.dim = dim, p.length = length, p.state = n;
  const std::size_t bdl = static_cast<std::size_t>(dim * length), nl = static_cast<std::size_t>(n * length);
  for (std::size_t i = 0; i < bdl; ++i) {
    p.u.push_back(normal(random));
    p.delta.push_back(uniform(random));
    p.z.push_back(normal(random));
  }
  for (std::size_t i = 0; i < nl; ++i) {
    p.B.push_back(normal(random));
    p.C.push_back(normal(random));
  }
  for (int i = 0; i < dim * n; ++i) p.A.push_back(-1.0f - static_cast<float>(i % 7));
  for (int i = 0; i < dim; ++i) p.D.push_back(1.0f);
  p.softplus = true;
  const Job job = make_job(p, unit, {});
  const auto start = std::chrono::steady_clock::now();
  const JobOutput out = engine.run(job);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const fixed::ScanOutput want = expected_output(p, unit, {});
  Speed s;
  s.lane_steps_per_s = static_cast<double>(out.lane_steps) / seconds;
  s.cycles_per_s = static_cast<double>(out.cycles) / seconds;
  for (std::size_t i = 0; i < want.out_raw.size(); ++i) s.mismatches += want.out_raw[i] != out.out_raw[i];
  for (std::size_t i = 0; i < want.state_raw.size(); ++i) s.mismatches += want.state_raw[i] != out.state_raw[i];
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> profiles(argv + 1, argv + argc);
  if (profiles.empty()) profiles = scan_variant_profiles();
  std::cout
      << "| profile | lanes | N | lane-steps/s | cycles/s | mismatches |\n| --- | --- | --- | --- | --- | --- |\n";
  for (const std::string& name : profiles) {
    const Profile profile = load_profile(name);
    const ScanUnit& unit = profile.tile.scan;
    auto engine = make_scan_engine(name);
    for (int n : {unit.max_state, 16}) {
      // About two million lane-steps per measurement.
      const int length = std::max(64, 2000000 / (n * 16));
      const Speed s = measure(*engine, unit, n, 16, length);
      std::cout << fmt::format("| {} | {} | {} | {:.3g} M | {:.3g} M | {} |\n", name, unit.lanes, n,
                               s.lane_steps_per_s / 1e6, s.cycles_per_s / 1e6, s.mismatches);
    }
  }
  return 0;
}
