// Runs a golden kernel on a kernel-case file: a safetensors file whose metadata names the
// `kernel`, its `flags` ("a=1,b=0") and the `outputs` to produce, with the inputs as
// tensors (an optional input that is absent means None). This is what `ssmsoc kernel`
// does, and what the tests compare with the reference data.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "arch/golden/safetensors.hpp"
#include "arch/spec/profile.hpp"

namespace ssmsoc {

using KernelFlags = std::map<std::string, std::string>;

// "a=1,b=0" -> {a: 1, b: 0}. `where` names the source for errors.
KernelFlags parse_kernel_flags(const std::string& text, const std::string& where);

struct KernelRequest {
  std::string kernel;     // empty: the file's metadata `kernel`
  KernelFlags overrides;  // applied over the file's flags
  // Set: run the scan kernels bit-accurately as this scan unit computes them (fixed_scan).
  const ScanUnit* unit = nullptr;
  std::string format_name = "float";  // recorded in the outputs' metadata
};

// The names of the kernels run_kernel_case knows, sorted.
std::vector<std::string> golden_kernel_names();

// Runs the kernel and returns its outputs: those the metadata's `outputs` lists (all the
// kernel produces if it lists none), with metadata {kernel, flags} of the run. `source`
// names the input in errors (ConfigError, one line).
SafetensorsFile run_kernel_case(const SafetensorsFile& input, const std::string& source,
                                const KernelRequest& request = {});

}  // namespace ssmsoc
