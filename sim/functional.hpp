// Functional mode: each command's arithmetic on the memory images, with the golden kernels
// (kernels.hpp) and, on the scan unit, the bit-accurate kernels of the profile's formats
// (fixed_scan.hpp). sim/README.md lists the semantics the ISA leaves to the engines.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "arch/spec/profile.hpp"
#include "arch/spec/program.hpp"
#include "sim/memory.hpp"

namespace ssmsoc::sim {

class Functional {
 public:
  Functional(const Profile& profile, const Program& program, Memories& memories)
      : profile_(profile), program_(program), memories_(memories) {}
  // Runs one command of a stream on `tile`. Throws std::runtime_error for what functional
  // mode does not model (named in the message).
  void execute(int tile, const ssm_command& command);
  // What functional mode does not model in this command, from its fields alone (empty: it
  // is modelled). simulate() checks every command before it starts.
  static std::string unsupported(const ssm_command& command);

  std::vector<float> load(ssm_ref ref, std::uint64_t count) const;
  void store(ssm_ref ref, std::span<const float> values);

 private:
  void dma(const ssm_dma& d);
  void gemm(const ssm_gemm& g);
  void scan(const ssm_scan& s);
  void conv1d(const ssm_conv1d& c);
  void vector(const ssm_vector& v);
  std::vector<float> load_matrix(ssm_ref ref, std::uint64_t rows, std::uint64_t cols, std::uint64_t ld,
                                 unsigned precision) const;

  const Profile& profile_;
  const Program& program_;
  Memories& memories_;
};

}  // namespace ssmsoc::sim
