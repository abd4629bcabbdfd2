// `ssmsoc golden` as a user runs it, against the reference outputs of transformers.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "arch/golden/safetensors.hpp"
#include "tests/reference.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

// Model outputs: max |a - b| <= 1e-4 + 1e-4 |b| (the reference data's tolerance).
void expect_close(const std::vector<float>& actual, const std::vector<float>& expected, const std::string& what) {
  test::expect_close(actual, expected, 1e-4, 1e-4, what);
}

class GoldenCommandFamily : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenCommandFamily, WritesLogitsEqualToTransformers) {
  const std::string model = "tests/data/models/" + GetParam();
  const fs::path out = test::temp_dir() / (GetParam() + "-logits.safetensors");
  const auto run = test::run_ssmsoc("golden --model " + model + " --input " + model + "/reference.safetensors --out " +
                                    out.string());
  ASSERT_EQ(run.status, 0) << run.err;
  const SafetensorsFile produced = read_safetensors(out);
  const SafetensorsFile reference = read_safetensors(model + "/reference.safetensors");
  EXPECT_EQ(produced.tensors.size(), 1u);
  EXPECT_EQ(produced.tensors.at("logits").shape, reference.tensors.at("logits").shape);
  expect_close(produced.tensors.at("logits").to_f32(), reference.tensors.at("logits").to_f32(), "logits");
}

TEST_P(GoldenCommandFamily, GeneratesTheSameTokensAsTransformers) {
  const std::string model = "tests/data/models/" + GetParam();
  const fs::path out = test::temp_dir() / (GetParam() + "-generated.safetensors");
  const auto run = test::run_ssmsoc("golden --model " + model + " --input " + model +
                                    "/reference.safetensors --generate 8 --out " + out.string());
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.out, "golden " + read_safetensors(out).metadata.at("model_type") +
                         ": 1 x 6 prompt tokens, 8 generated -> " + out.string() + "\n");
  const SafetensorsFile produced = read_safetensors(out);
  const SafetensorsFile reference = read_safetensors(model + "/reference.safetensors");
  EXPECT_EQ(produced.tensors.at("gen_new_ids").to_i64(), reference.tensors.at("gen_new_ids").to_i64());
  expect_close(produced.tensors.at("gen_logits").to_f32(), reference.tensors.at("gen_logits").to_f32(), "gen_logits");
}

INSTANTIATE_TEST_SUITE_P(Families, GoldenCommandFamily, ::testing::ValuesIn(test::model_families()), test::param_name);

// Mamba-3 runs on the golden model; the commands that compile a model say that the compiler
// does not map its layers yet, in one line, and write nothing.
TEST(GoldenCommand, Mamba3IsGoldenOnlyAndTheCompilingCommandsSayWhy) {
  const std::string model = "tests/data/models/mamba3";
  const fs::path out = test::temp_dir() / "mamba3-never";
  auto run = test::run_ssmsoc("run --functional --profile krsna-dc --model " + model + " --input " + model +
                              "/reference.safetensors --out " + out.string());
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err, model +
                         ": --functional: Mamba-3 is not supported: the compiler does not map Mamba-3 layers yet "
                         "(ssmsoc golden runs them)\n");
  run = test::run_ssmsoc("run --profile krsna-mobile --model " + model + " --prompt 16 --generate 2 --out " +
                         out.string());
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err, model +
                         "/config.json: ssm_cfg: Mamba-3 is not supported here: the compiler does not map Mamba-3 "
                         "layers yet (ssmsoc golden runs them)\n");
  EXPECT_FALSE(fs::exists(out));
}

TEST(GoldenCommand, RejectsBadInputsAndWritesNothing) {
  const fs::path out = test::temp_dir() / "never.safetensors";
  SafetensorsFile ids;
  ids.tensors["input_ids"] = Tensor::from_i64({1, 3}, {1, 256, 2});
  const fs::path outside = test::temp_dir() / "outside.safetensors";
  write_safetensors(outside, ids);
  auto run = test::run_ssmsoc("golden --model tests/data/models/mamba1 --input " + outside.string() + " --out " +
                              out.string());
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err, outside.string() + ": tensor 'input_ids': id 256 at [0, 1] is outside the vocabulary of 256\n");
  run = test::run_ssmsoc("golden --model tests/data/models/mamba1 --input " + outside.string() +
                         " --generate 2 --out " + out.string());
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err, outside.string() + ": tensor 'gen_prompt_ids': missing\n");
  const fs::path model = test::temp_dir() / "gpt2";
  fs::create_directories(model);
  test::write_file("gpt2/config.json", R"({"model_type": "gpt2"})");
  run =
      test::run_ssmsoc("golden --model " + model.string() + " --input " + outside.string() + " --out " + out.string());
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.err.find("gpt2"), std::string::npos) << run.err;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace ssmsoc
