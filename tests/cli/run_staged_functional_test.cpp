// Activations in DRAM: GEMM inputs are staged once through the global buffer, and the
// results still equal the golden model's.
#include <gtest/gtest.h>

#include "arch/golden/safetensors.hpp"
#include "tests/reference.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

TEST(StagedActivations, FunctionalRunWithActivationsInDramMatchesTransformers) {
  // krsna-dc with a 2 KiB global buffer: the tiny models' activations go to DRAM.
  const auto profile = test::write_file("dc-small-gb.yaml", R"(base: krsna-dc
description: krsna-dc with a 2 KiB global buffer, so activations live in DRAM
global_buffer: {size_bytes: 2 KiB, banks: 4, bytes_per_cycle_per_bank: 32}
)");
  for (const std::string family : {"mamba1", "mamba2"}) {
    const std::string model = "tests/data/models/" + family;
    const auto tiled = test::run_ssmsoc("compile --profile " + profile.string() + " --model " + model +
                                        " --prompt 16 --generate 2 --emit tiled");
    ASSERT_EQ(tiled.status, 0) << tiled.err;
    EXPECT_NE(tiled.out.find("by n(staged)"), std::string::npos) << family << ": no GEMM input staged";
    const auto out = test::temp_dir() / (family + "-staged.safetensors");
    const auto run = test::run_ssmsoc("run --functional --profile " + profile.string() + " --model " + model +
                                      " --input " + model + "/reference.safetensors --tensors-out " + out.string());
    ASSERT_EQ(run.status, 0) << run.err;
    test::expect_close(read_safetensors(out).tensors.at("logits").to_f32(),
                       read_safetensors(model + "/reference.safetensors").tensors.at("logits").to_f32(), 1e-4, 1e-4,
                       family + " logits");
  }
}

}  // namespace
}  // namespace ssmsoc
