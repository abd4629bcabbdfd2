// Seeded random inputs that are the same on every platform: mt19937_64 is fully specified,
// and the uniform and normal draws are made here rather than by the standard
// distributions (whose algorithms the standard leaves open). Used by the error tables.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace ssmsoc {

class SeededRandom {
 public:
  explicit SeededRandom(std::uint64_t seed) : engine_(seed) {}
  double uniform(double lo, double hi) { return lo + (hi - lo) * std::ldexp(double(engine_() >> 11), -53); }
  double normal() {  // Box-Muller, cosine branch
    const double u1 = std::ldexp(double((engine_() >> 11) + 1), -53);
    const double u2 = std::ldexp(double(engine_() >> 11), -53);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.14159265358979323846 * u2);
  }
  std::vector<float> normals(std::size_t count) {
    std::vector<float> v(count);
    for (auto& x : v) x = static_cast<float>(normal());
    return v;
  }
  std::vector<float> uniforms(std::size_t count, double lo, double hi) {
    std::vector<float> v(count);
    for (auto& x : v) x = static_cast<float>(uniform(lo, hi));
    return v;
  }
  // Decays A = -exp(U(0, log 16)), as Mamba's A_log initialisation spans.
  std::vector<float> decays(std::size_t count) {
    std::vector<float> v(count);
    for (auto& x : v) x = static_cast<float>(-std::exp(uniform(0.0, std::log(16.0))));
    return v;
  }
  std::uint64_t next() { return engine_(); }

 private:
  std::mt19937_64 engine_;
};

}  // namespace ssmsoc
