// `ssmsoc compile` and `ssmsoc run` as a user runs them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "arch/spec/program.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

const std::string kSmall = "--profile krsna-mobile --model mamba-130m --prompt 64 --generate 4";

TEST(CompileCommand, ShowsTheKernelChoicesAndWritesValidPrograms) {
  const fs::path dir = test::temp_dir() / "programs";
  const auto run = test::run_ssmsoc("compile " + kSmall + " --emit kernels --out " + dir.string());
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("native"), std::string::npos) << run.out;
  for (const char* phase : {"prefill", "logits", "decode"}) {
    const fs::path file = dir / (std::string(phase) + ".ssmp");
    ASSERT_TRUE(fs::exists(file)) << file;
    EXPECT_GT(read_program(file.string()).command_count(), 0u) << phase;
    EXPECT_EQ(test::run_ssmsoc("disasm " + file.string() + " --profile krsna-mobile").status, 0) << phase;
  }
}

TEST(CompileCommand, PrefillChunkSetsThePrefillProgram) {
  const auto run = test::run_ssmsoc("compile " + kSmall + " --prefill-chunk 16 --emit summary");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("prefill: 16 tokens x 1 sessions, context 24, runs 4"), std::string::npos) << run.out;
  const auto bad = test::run_ssmsoc("compile " + kSmall + " --prefill-chunk 0");
  EXPECT_EQ(bad.status, 2);
}

TEST(CompileCommand, PrecisionHalvesTheWeightsInInt8) {
  // Jamba-1.5-Mini's 52 B parameters: 96 GiB in bf16 do not fit h100-class's 80 GiB; in int8 they do.
  const std::string jamba = "--profile h100-class --model jamba-1.5-mini --prompt 16 --generate 2 --emit memory";
  auto run = test::run_ssmsoc("compile " + jamba);
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.err.find("weights of 96.07 GiB"), std::string::npos) << run.err;
  run = test::run_ssmsoc("compile " + jamba + " --precision int8");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("weights: 48.04 GiB in DRAM"), std::string::npos) << run.out;
  run = test::run_ssmsoc("compile " + kSmall + " --precision fp64");
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.err.find("precision: krsna-mobile has no fp64 matrix unit"), std::string::npos) << run.err;
}

TEST(CompileCommand, RejectsUnknownStagesAndModels) {
  auto run = test::run_ssmsoc("compile " + kSmall + " --emit nonsense");
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.err.find("--emit nonsense: expected one of graph"), std::string::npos) << run.err;
  run = test::run_ssmsoc("compile --profile krsna-mobile --model mamba-9000b");
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.err.find("--model mamba-9000b: no such file, folder or workload"), std::string::npos) << run.err;
}

TEST(RunCommand, PrintsTheServingFiguresAndWritesThemWithUnits) {
  const fs::path dir = test::temp_dir() / "run";
  const auto run = test::run_ssmsoc("run " + kSmall + " --out " + dir.string());
  ASSERT_EQ(run.status, 0) << run.err;
  for (const char* line : {"time to first token", "decode latency per token", "decode throughput", "DRAM traffic",
                           "energy", "average power", "utilization"})
    EXPECT_NE(run.out.find(line), std::string::npos) << line << "\n" << run.out;
  const auto summary = nlohmann::json::parse(test::slurp(dir / "summary.json"));
  EXPECT_EQ(summary["model"], "mamba-130m");
  EXPECT_EQ(summary["decode_latency_per_token"]["unit"], "s");
  const double decode = summary["decode_latency_per_token"]["value"];
  const double throughput = summary["decode_throughput"]["value"];
  EXPECT_GT(decode, 0);
  EXPECT_NEAR(throughput, 1.0 / decode, 1e-9 * throughput);  // batch 1
  // Decode reads every weight once: at least the weights' bytes over the DRAM bandwidth.
  EXPECT_GT(decode, 130e6 * 2 / 51.2e9 * 0.9);
  const auto stats = nlohmann::json::parse(test::slurp(dir / "stats.json"));
  EXPECT_EQ(stats.size(), summary["phases"].size());
  // Statistics per compiler op, named, and the busiest ones on the terminal.
  const auto& ops = stats[0]["stats"]["ops"];
  ASSERT_GT(ops.size(), 10u);
  bool in_proj = false;
  for (const auto& op : ops) in_proj = in_proj || (op["name"] == "layers.0.mamba.in_proj" && op["kind"] == "gemm");
  EXPECT_TRUE(in_proj);
  EXPECT_NE(run.out.find("busiest ops in prefill"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("mamba.in_proj"), std::string::npos) << run.out;
}

// A phase of repeating layers is timed from two layer samples, and the run says so; --all-layers
// simulates every layer, to the same figures.
TEST(RunCommand, SamplesRepeatingLayersUnlessAllLayersAreAskedFor) {
  const fs::path sampled = test::temp_dir() / "sampled", whole = test::temp_dir() / "whole";
  const auto a = test::run_ssmsoc("run " + kSmall + " --out " + sampled.string());
  const auto b = test::run_ssmsoc("run " + kSmall + " --all-layers --out " + whole.string());
  ASSERT_EQ(a.status, 0) << a.err;
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_NE(a.out.find("of 24 layers simulated, the rest extrapolated"), std::string::npos) << a.out;
  EXPECT_EQ(b.out.find("layers simulated"), std::string::npos) << b.out;
  const auto s = nlohmann::json::parse(test::slurp(sampled / "summary.json"));
  const auto w = nlohmann::json::parse(test::slurp(whole / "summary.json"));
  EXPECT_LT(s["phases"][0]["simulated_layers"].get<int>(), 24);
  EXPECT_EQ(w["phases"][0]["simulated_layers"], 24);
  for (const char* figure : {"time_to_first_token", "decode_latency_per_token", "energy"})
    EXPECT_NEAR(s[figure]["value"].get<double>(), w[figure]["value"].get<double>(),
                0.005 * w[figure]["value"].get<double>())
        << figure;
}

TEST(RunCommand, IsDeterministic) {
  const fs::path a = test::temp_dir() / "a", b = test::temp_dir() / "b";
  ASSERT_EQ(test::run_ssmsoc("run " + kSmall + " --out " + a.string()).status, 0);
  ASSERT_EQ(test::run_ssmsoc("run " + kSmall + " --out " + b.string()).status, 0);
  EXPECT_EQ(test::slurp(a / "summary.json"), test::slurp(b / "summary.json"));
  EXPECT_EQ(test::slurp(a / "stats.json"), test::slurp(b / "stats.json"));
}

}  // namespace
}  // namespace ssmsoc

namespace ssmsoc {
namespace {

// `calibrate`: each record of a measurement file against its prediction, the summary per suite
// and set; a wrong --set, a missing file and a profile without kernels: are one-line errors.
TEST(CalibrateCommand, PrintsPredictedAgainstMeasuredAndRejectsBadInput) {
  const std::string sample = "tests/data/calibration/sample-measurements.json";
  auto run = test::run_ssmsoc("calibrate --profile h100-class --measurements " + sample);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("h100-class against " + sample), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("an L2-resident buffer"), std::string::npos);
  EXPECT_NE(run.out.find("median |error|"), std::string::npos);
  EXPECT_NE(run.out.find("5 records the model does not describe"), std::string::npos) << run.out;
  run = test::run_ssmsoc("calibrate --profile h100-class --set validation --measurements " + sample);
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.out.find(" calibration "), std::string::npos);  // only the validation records
  EXPECT_NE(run.out.find("validation"), std::string::npos);
  run = test::run_ssmsoc("calibrate --profile h100-class --set some --measurements " + sample);
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err, "--set: expected calibration, validation or all, got 'some'\n");
  run = test::run_ssmsoc("calibrate --profile h100-class --measurements nowhere.json");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err, "nowhere.json: no such file (--measurements)\n");
  run = test::run_ssmsoc("calibrate --profile krsna-mobile --measurements " + sample);
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.err.find("krsna-mobile: the profile has no kernels: section"), std::string::npos) << run.err;
  EXPECT_TRUE(run.out.empty());
}

// Whole-model records: predicted by a full compile; a record naming no workload, or without
// its tokens, is a one-line error naming the file and the record.
TEST(CalibrateCommand, PredictsWholeModelRecordsAndNamesABadOne) {
  const auto record = [](const std::string& shape) {
    return R"({"measurements": [{"suite": "model", "op": "decode_step", "launch": "graph", "set": "validation", )"
           R"("median_us": 5000, "shape": )" +
           shape + "}]}";
  };
  const fs::path good =
      test::write_file("model-good.json", record(R"({"model": "mamba-130m", "tokens": 64, "batch": 2})"));
  auto run = test::run_ssmsoc("calibrate --profile h100-class --measurements " + good.string());
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("model        decode_step"), std::string::npos) << run.out;
  EXPECT_EQ(run.out.find("records the model does not describe"), std::string::npos) << run.out;
  const fs::path unknown =
      test::write_file("model-unknown.json", record(R"({"model": "nonesuch", "tokens": 64, "batch": 1})"));
  run = test::run_ssmsoc("calibrate --profile h100-class --measurements " + unknown.string());
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.err.find(unknown.string() + ": measurements[0] (nonesuch): shape.model nonesuch: no such file"),
            std::string::npos)
      << run.err;
  const fs::path no_tokens = test::write_file("model-no-tokens.json", record(R"({"model": "mamba-130m", "batch": 1})"));
  run = test::run_ssmsoc("calibrate --profile h100-class --measurements " + no_tokens.string());
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.err, no_tokens.string() + ": measurements[0].shape.tokens: missing\n");
}

// `compare`: the table on the terminal, compare.json and compare.csv in --out; a wrong profile or
// model fails before anything runs and writes nothing.
TEST(CompareCommand, PrintsTheTableWritesBothFilesAndRejectsBadNames) {
  const fs::path dir = test::temp_dir() / "compare";
  const std::string args =
      "compare --model mamba-130m --profiles krsna-mobile,h100-class --prompt 32 --generate 4 "
      "--serving-batch 4";
  auto run = test::run_ssmsoc(args + " --out " + dir.string());
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("mamba-130m: prompt 32 tokens, 4 generated; batch 1 and 4"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("h100-class           gpu (kernels)"), std::string::npos) << run.out;
  const auto json = nlohmann::json::parse(test::slurp(dir / "compare.json"));
  ASSERT_EQ(json["rows"].size(), 2u);
  EXPECT_EQ(json["rows"][0]["profile"], "krsna-mobile");
  EXPECT_GT(json["rows"][0]["at_serving_batch"]["decode_throughput"]["value"].get<double>(),
            json["rows"][0]["at_scenario_batch"]["decode_throughput"]["value"].get<double>());
  EXPECT_EQ(test::slurp(dir / "compare.csv").substr(0, 20), "model,profile,family");

  const fs::path nothing = test::temp_dir() / "compare-bad";
  run = test::run_ssmsoc(args + " --profiles krsna-mobile,nonesuch --out " + nothing.string());
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.err.find("nonesuch"), std::string::npos) << run.err;
  run = test::run_ssmsoc("compare --model mamba-9000b --profiles h100-class --out " + nothing.string());
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.err.find("--model mamba-9000b: no such file, folder or workload"), std::string::npos) << run.err;
  EXPECT_FALSE(fs::exists(nothing));
  EXPECT_EQ(test::run_ssmsoc(args + " --serving-batch 0").status, 2);
}

}  // namespace
}  // namespace ssmsoc
