// The compiled weights' values from a checkpoint: the compiler's weight tensors (named by
// lowering, "layers.3.mamba.in_proj", "shared0.mlp.up_proj") from the HuggingFace tensors of
// the model's family (named by arch/spec/model.hpp's LayerTensorNames). Several HF tensors
// may make one compiled tensor (q, k and v into qkv_proj; gate and up into up_proj; experts
// stacked), and the µP multipliers are folded into the weights they follow (each scales a
// linear map's input or output rows). The functional driver (host/) loads the results into
// the DRAM image.
//
//   CheckpointTensors t{has, values};  // e.g. over HfCheckpoint::weights
//   weight_values(model, t, "layers.0.mamba.A", 24)  // -exp(backbone.layers.0.mixer.A_log)
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "arch/spec/model.hpp"

namespace ssmsoc::compiler {

// A checkpoint's tensors by their HF names.
struct CheckpointTensors {
  std::function<bool(const std::string& name)> has;
  // The values of a tensor; for a name it lacks, the source's own error.
  std::function<const std::vector<float>&(const std::string& name)> values;
};

// The values of compiled weight `name` (`elements` of them: a missing conv bias is zeros).
// A name no checkpoint tensor makes is a ConfigError.
std::vector<float> weight_values(const ModelConfig& model, const CheckpointTensors& tensors, const std::string& name,
                                 std::uint64_t elements);

}  // namespace ssmsoc::compiler
