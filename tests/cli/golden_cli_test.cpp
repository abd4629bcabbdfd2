// `ssmsoc golden` as a user runs it, against the reference outputs of transformers.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "safetensors.hpp"
#include "support.hpp"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

void expect_close(const std::vector<float>& actual, const std::vector<float>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i)
    ASSERT_LE(std::fabs(actual[i] - expected[i]), 1e-4 + 1e-4 * std::fabs(expected[i])) << i;
}

TEST(GoldenCommand, WritesLogitsEqualToTransformers) {
  const fs::path out = test::temp_dir() / "logits.safetensors";
  const auto run = test::run_ssmsoc(
      "golden --model tests/data/models/mamba2 --input "
      "tests/data/models/mamba2/reference.safetensors --out " +
      out.string());
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.out, "golden mamba2: 2 x 16 tokens -> " + out.string() + "\n");
  const SafetensorsFile produced = read_safetensors(out);
  const SafetensorsFile reference = read_safetensors("tests/data/models/mamba2/reference.safetensors");
  EXPECT_EQ(produced.tensors.size(), 1u);
  EXPECT_EQ(produced.tensors.at("logits").shape, reference.tensors.at("logits").shape);
  expect_close(produced.tensors.at("logits").to_f32(), reference.tensors.at("logits").to_f32());
}

TEST(GoldenCommand, GeneratesTheSameTokensAsTransformers) {
  const fs::path out = test::temp_dir() / "generated.safetensors";
  const auto run = test::run_ssmsoc(
      "golden --model tests/data/models/jamba --input "
      "tests/data/models/jamba/reference.safetensors --generate 8 --out " +
      out.string());
  ASSERT_EQ(run.status, 0) << run.err;
  const SafetensorsFile produced = read_safetensors(out);
  const SafetensorsFile reference = read_safetensors("tests/data/models/jamba/reference.safetensors");
  EXPECT_EQ(produced.tensors.at("gen_new_ids").to_i64(), reference.tensors.at("gen_new_ids").to_i64());
  expect_close(produced.tensors.at("gen_logits").to_f32(), reference.tensors.at("gen_logits").to_f32());
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
