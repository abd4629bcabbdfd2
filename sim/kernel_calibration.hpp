// Predicted against measured: each record of a GPU measurement file (tools/calibrate's JSON)
// predicted with the kernel model of a profile with `kernels:` (sim/kernel_model.hpp), for
// `ssmsoc calibrate`. A record timed launch after launch ("eager") is predicted as the kernel or
// the host's launch gap, whichever is longer; one replayed from a CUDA graph as the kernel plus
// the graph's gap. What the model does not describe (L2-resident buffers, operations made of
// several torch kernels, host round trips) is listed with the reason and no prediction. Records
// of whole models (suite "model": a prompt to its first token, or a decode step, measured here or
// published) are read and checked here and predicted by the caller with a full compile.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "arch/spec/profile.hpp"

namespace ssmsoc::sim {

struct CalibrationRow {
  std::string suite, op, impl, launch, set;
  std::string shape;         // the record's shape, as JSON
  double measured_us = 0;    // the median
  double predicted_us = 0;   // 0 where not modelled
  std::string not_modelled;  // why there is no prediction (empty when there is one)
  // A whole-model record (suite "model"): the workload it ran, the prompt or context tokens, the
  // sessions and the weights' precision (empty: the profile's default), for a full compile to
  // predict (host::predict_model_seconds); op "prefill" or "decode_step".
  std::string model, precision;
  int tokens = 0, batch = 1;
  std::string source;  // where a published figure comes from (the record's "source")
  double error() const { return measured_us > 0 && predicted_us > 0 ? predicted_us / measured_us - 1 : 0; }
};

// Every measurement of `file` in order. A file that is not such JSON, or a record without the
// fields its suite needs, is a ConfigError naming the file and the record.
std::vector<CalibrationRow> predict_measurements(const Profile& profile, const std::filesystem::path& file);

}  // namespace ssmsoc::sim
