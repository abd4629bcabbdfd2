// Activations split between the global buffer and DRAM (plan_memory's split arena: a tensor
// takes the first fit on chip or spills), and the results still equal the golden model's.
#include <gtest/gtest.h>

#include "arch/golden/safetensors.hpp"
#include "tests/reference.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

TEST(SplitActivations, FunctionalRunWithActivationsSpilledToDramMatchesTransformers) {
  // krsna-dc with a 2 KiB global buffer: most of the tiny models' activations spill to DRAM.
  const auto profile = test::write_file("dc-small-gb.yaml", R"(base: krsna-dc
description: krsna-dc with a 2 KiB global buffer, so activations spill to DRAM
global_buffer: {size_bytes: 2 KiB, banks: 4, bytes_per_cycle_per_bank: 32}
)");
  for (const std::string family : {"mamba1", "mamba2"}) {
    const std::string model = "tests/data/models/" + family;
    const auto memory = test::run_ssmsoc("compile --profile " + profile.string() + " --model " + model +
                                         " --prompt 16 --generate 2 --emit memory");
    ASSERT_EQ(memory.status, 0) << memory.err;
    EXPECT_NE(memory.out.find("spilled into DRAM"), std::string::npos) << family << ": no arena split\n" << memory.out;
    const auto out = test::temp_dir() / (family + "-split.safetensors");
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
