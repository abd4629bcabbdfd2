// Co-simulation of the scan unit RTL against the bit-accurate kernels, for the CLI
// (`ssmsoc cosim --profile NAME|all [--seed S] [--cases N] [--trace FILE.fst]`).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "arch/spec/isa.h"
#include "arch/spec/profile.hpp"

namespace ssmsoc::rtl {

class ScanEngine;

struct CosimOptions {
  std::string profile = "all";  // a profile with a Verilated variant, or "all"
  std::uint64_t seed = 1;
  int cases = 64;                           // random cases per profile (0: none)
  bool refdata = true;                      // also every reference-data scan case
  std::filesystem::path refdata_directory;  // empty: the source tree's tests/data/kernels
  // FST waveform of the whole run; with several profiles the profile name is inserted
  // before the extension (cosim.krsna-mobile.fst). Only .fst is supported.
  std::string trace_file;
};

struct CosimRow {
  std::string profile;
  int cases = 0;
  long steps = 0;               // results compared (one per channel or head row and step)
  long mismatches = 0;          // differing raw values, outputs and final states
  long cycles = 0;              // clock cycles of all jobs (first input to last output each)
  double lane_steps_per_s = 0;  // state-element updates per second of RTL simulation
  std::string first_mismatch;   // empty when there is none
};

// Runs the reference-data cases and `cases` seeded random cases on each selected profile's
// variant. Throws std::invalid_argument for a profile without a variant or a bad trace name.
std::vector<CosimRow> run_cosim(const CosimOptions& options);

// Profiles run_cosim accepts.
std::vector<std::string> cosim_profiles();

// The scan commands of a whole simulated run on the RTL (`ssmsoc sim --rtl-scan`): each
// command runs on the profile's Verilated variant with seeded operands of its shapes (and
// its optional operands and flags), every raw value is checked against the bit-accurate
// kernels, and the cycles the unit took are returned. Throws std::runtime_error on a
// mismatch (naming the element and cycle), std::invalid_argument for a profile without a
// variant.
class CommandCosim {
 public:
  explicit CommandCosim(const Profile& profile);
  ~CommandCosim();
  std::uint64_t run(const ssm_scan& command);
  std::uint64_t commands() const { return commands_; }

 private:
  const ScanUnit& unit_;
  std::unique_ptr<ScanEngine> engine_;
  std::uint64_t commands_ = 0;
};

}  // namespace ssmsoc::rtl
