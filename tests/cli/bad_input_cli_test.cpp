// Wrong inputs that once crashed ssmsoc, ran it out of memory or were accepted: each must give
// one line on stderr naming the file and the key (or tensor, flag), exit 1, and write nothing.
// The binary runs as a child under a memory limit and a timeout, so a regression shows as a
// failed test rather than a killed test run. The generated tests corrupt every numeric key of
// each checkpoint config and of some workloads with zero, negative and huge values.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "arch/golden/safetensors.hpp"
#include "arch/spec/model.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

// Address space for the child (MiB) and its time (s): far below what the bad inputs used to
// reach (24 GB, 15.8 GB), far above what a tiny model needs.
constexpr int kMemoryMiB = 3072;
constexpr int kTimeoutSeconds = 60;

// The memory limit: the address space (ulimit -v), except under AddressSanitizer, which
// reserves terabytes of shadow address space at start: there, ASan's own limits on resident
// memory and on one allocation (a larger one returns null: std::bad_alloc).
#if defined(__SANITIZE_ADDRESS__)
const std::string kMemoryLimit = "ASAN_OPTIONS=hard_rss_limit_mb=" + std::to_string(kMemoryMiB) +
                                 ":max_allocation_size_mb=" + std::to_string(kMemoryMiB) +
                                 ":allocator_may_return_null=1 && export ASAN_OPTIONS";
#else
const std::string kMemoryLimit = "ulimit -v " + std::to_string(kMemoryMiB * 1024);
#endif

test::CommandResult run_limited(const std::string& args) {
  const auto out = test::temp_dir() / "limited-stdout.txt";
  const auto err = test::temp_dir() / "limited-stderr.txt";
  const std::string command = kMemoryLimit + " && timeout " + std::to_string(kTimeoutSeconds) + " " +
                              SSMSOC_SSMSOC_BINARY + " " + args + " >" + out.string() + " 2>" + err.string();
  const int raw = std::system(command.c_str());
  return test::CommandResult{WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, test::slurp(out), test::slurp(err)};
}

// One line, exit 1, naming `file` and `key`.
void expect_one_line_error(const test::CommandResult& run, const std::string& file, const std::string& key,
                           const std::string& what) {
  EXPECT_EQ(run.status, 1) << what << ": " << run.err;
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << what << ": " << run.err;
  EXPECT_NE(run.err.find(file), std::string::npos) << what << ": " << run.err;
  EXPECT_NE(run.err.find(key), std::string::npos) << what << ": " << run.err;
}

const fs::path kModels = fs::path("tests/data/models");
const char* const kFamilies[] = {"mamba1",    "mamba2",     "jamba",  "bamba", "granitemoehybrid",
                                 "falcon_h1", "nemotron_h", "zamba2", "mamba3"};

// A copy of a test checkpoint with its config changed by `edit`.
fs::path checkpoint_with(const std::string& family, const std::string& name,
                         const std::function<void(nlohmann::json&)>& edit) {
  const fs::path dir = test::temp_dir() / ("ck-" + family + "-" + name);
  fs::create_directories(dir);
  fs::copy_file(kModels / family / "model.safetensors", dir / "model.safetensors",
                fs::copy_options::overwrite_existing);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(kModels / family / "config.json"));
  edit(config);
  std::ofstream(dir / "config.json") << config.dump(2);
  return dir;
}

test::CommandResult golden(const fs::path& dir, const std::string& family) {
  const fs::path out = test::temp_dir() / "never.safetensors";
  auto run = run_limited("golden --model " + dir.string() + " --input " + (kModels / family).string() +
                         "/reference.safetensors --out " + out.string());
  if (run.status != 0) {
    EXPECT_FALSE(fs::exists(out)) << run.err;
  }
  fs::remove(out);
  return run;
}

struct Corruption {
  std::string family, key, value;
};

// HF keys the parser does not read (token ids, initialisation): any value is accepted.
bool informational(const std::string& key) {
  static const std::vector<std::string> keys = {
      "bos_token_id",         "eos_token_id",       "pad_token_id",    "initializer_range", "time_step_min",
      "time_step_max",        "time_step_floor",    "time_step_scale", "attention_dropout", "hidden_dropout",
      "router_aux_loss_coef", "num_logits_to_keep", "sliding_window",  "mamba_dt_rank",     "projectors_bias"};
  return std::find(keys.begin(), keys.end(), key) != keys.end() || key.find("dropout") != std::string::npos;
}
// Keys with no upper bound (scales, RoPE's base), and scales that may be negative.
bool unbounded_above(const std::string& key) {
  return key.find("multiplier") != std::string::npos || key == "routed_scaling_factor" || key == "logits_scaling" ||
         key == "rope_theta" || key == "rotary_emb_base";
}
bool may_be_negative(const std::string& key) {
  return (key.find("multiplier") != std::string::npos && key != "attention_multiplier") ||
         key == "routed_scaling_factor";
}
// Whether a corruption must be refused: a negative or huge value of a key the parser reads,
// unless the key takes it. Zero may be valid (an offset, a count of shared experts).
bool must_refuse(const std::string& key, const std::string& value) {
  if (informational(key) || value == "0") return false;
  return value.front() == '-' ? !may_be_negative(key) : !unbounded_above(key);
}

std::vector<Corruption> checkpoint_corruptions() {
  std::vector<Corruption> out;
  for (const char* family : kFamilies) {
    const nlohmann::json config = nlohmann::json::parse(std::ifstream(kModels / family / "config.json"));
    for (const auto& [key, value] : config.items())
      if (value.is_number() && !value.is_boolean())
        for (const char* corrupt : {"0", "-1", "1000000000"}) out.push_back({family, key, corrupt});
  }
  return out;
}

std::string corruption_name(const ::testing::TestParamInfo<Corruption>& info) {
  std::string value = info.param.value == "0" ? "zero" : info.param.value == "-1" ? "negative" : "huge";
  return info.param.family + "_" + info.param.key + "_" + value;
}

class CorruptCheckpointConfig : public ::testing::TestWithParam<Corruption> {};

// Zero may be a valid value (an offset, a count of shared experts) and then the run either
// succeeds or fails on the weights' shapes; negative and huge integers never are.
TEST_P(CorruptCheckpointConfig, GivesOneLineNamingTheKeyNeverACrash) {
  const Corruption& c = GetParam();
  const nlohmann::json original = nlohmann::json::parse(std::ifstream(kModels / c.family / "config.json"));
  const fs::path dir = checkpoint_with(c.family, c.key + c.value, [&](nlohmann::json& config) {
    config[c.key] = c.value == "-1" ? nlohmann::json(-1) : nlohmann::json(std::stoll(c.value));
  });
  const auto run = golden(dir, c.family);
  const std::string what = c.family + " " + c.key + "=" + c.value;
  EXPECT_TRUE(run.status == 0 || run.status == 1) << what << ": status " << run.status << " " << run.err;
  if (run.status == 1) {
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << what << ": " << run.err;
  }
  std::set<std::string> read;
  parse_model_config(original, "config.json", supported_model_types(), ModelConfigOptions{nullptr, &read});
  if (read.count(c.key) && must_refuse(c.key, c.value))
    expect_one_line_error(run, (dir / "config.json").string(), c.key, what);
}

INSTANTIATE_TEST_SUITE_P(Generated, CorruptCheckpointConfig, ::testing::ValuesIn(checkpoint_corruptions()),
                         corruption_name);

// Workload YAMLs: each numeric key set to zero, a negative and a huge value by rewriting its
// line; `compile` must refuse or compile, never crash or hang.
struct WorkloadCorruption {
  std::string workload, key, value;
};

std::vector<WorkloadCorruption> workload_corruptions() {
  std::vector<WorkloadCorruption> out;
  const std::regex numeric(R"(^([a-z_]+): (-?[0-9.e+-]+)\s*$)");
  for (const char* workload : {"mamba-130m", "mamba2-130m", "granite-4.0-h-tiny", "zamba2-2.7b", "pythia-160m"}) {
    std::ifstream in(fs::path("workloads/models") / (std::string(workload) + ".yaml"));
    std::string line;
    std::smatch match;
    while (std::getline(in, line))
      if (std::regex_match(line, match, numeric))
        for (const char* corrupt : {"0", "-64", "1000000000"}) out.push_back({workload, match[1], corrupt});
  }
  return out;
}

class CorruptWorkload : public ::testing::TestWithParam<WorkloadCorruption> {};

TEST_P(CorruptWorkload, GivesOneLineNamingTheKeyNeverACrash) {
  const WorkloadCorruption& c = GetParam();
  std::ifstream in(fs::path("workloads/models") / (c.workload + ".yaml"));
  std::stringstream text;
  std::string line;
  while (std::getline(in, line)) text << (line.rfind(c.key + ":", 0) == 0 ? c.key + ": " + c.value : line) << '\n';
  const fs::path file = test::write_file(c.workload + "-" + c.key + ".yaml", text.str());
  const auto run = run_limited("compile --profile krsna-mobile --model " + file.string() + " --emit summary");
  const std::string what = c.workload + " " + c.key + "=" + c.value;
  EXPECT_TRUE(run.status == 0 || run.status == 1) << what << ": status " << run.status << " " << run.err;
  if (run.status == 1) {
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << what << ": " << run.err;
  }
  if (must_refuse(c.key, c.value)) expect_one_line_error(run, file.string(), c.key, what);
}

std::string workload_corruption_name(const ::testing::TestParamInfo<WorkloadCorruption>& param) {
  const std::string& value = param.param.value;
  std::string name = param.param.workload + "_" + param.param.key + "_" +
                     (value == "0"     ? "zero"
                      : value == "-64" ? "negative"
                                       : "huge");
  std::replace_if(
      name.begin(), name.end(), [](char ch) { return !std::isalnum(static_cast<unsigned char>(ch)); }, '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(Generated, CorruptWorkload, ::testing::ValuesIn(workload_corruptions()),
                         workload_corruption_name);

// The reproducers of issue 11, one each.
TEST(BadModelConfig, bad_zero_attention_heads_names_the_key) {
  const fs::path dir = checkpoint_with("jamba", "zero-heads", [](nlohmann::json& c) { c["num_attention_heads"] = 0; });
  const auto run = golden(dir, "jamba");
  EXPECT_EQ(run.err,
            (dir / "config.json").string() + ": num_attention_heads: expected an integer in 1..65536, got 0\n");
  EXPECT_EQ(run.status, 1);
}

TEST(BadModelConfig, bad_billion_layers_is_refused_before_allocating) {
  const fs::path dir =
      checkpoint_with("mamba2", "billion-layers", [](nlohmann::json& c) { c["num_hidden_layers"] = 1000000000; });
  const auto run = golden(dir, "mamba2");
  EXPECT_EQ(run.err,
            (dir / "config.json").string() + ": num_hidden_layers: expected an integer in 1..4096, got 1000000000\n");
}

TEST(BadModelConfig, bad_epsilons_and_expansion_must_be_positive) {
  const std::vector<std::tuple<std::string, std::string, nlohmann::json, std::string>> cases = {
      {"jamba", "rms_norm_eps", -1, "expected a number in (0, 1], got -1"},
      {"mamba1", "layer_norm_epsilon", 0, "expected a number in (0, 1], got 0"},
      {"mamba2", "expand", -1, "expected a number greater than 0, got -1"},
      {"mamba2", "state_size", 0, "expected an integer in 1..4096, got 0"},
      {"mamba2", "conv_kernel", 0, "expected an integer in 1..256, got 0"},
      {"mamba1", "time_step_rank", 0, "expected an integer in 1..65536, got 0"},
      {"mamba2", "max_position_embeddings", -64, "expected an integer in 1..16777216, got -64"},
      {"mamba2", "vocab_size", 0, "expected an integer in 1..4194304, got 0"},
      {"jamba", "num_experts_per_tok", 0, "expected an integer in 1..4096, got 0"},
      {"jamba", "num_experts_per_tok", 5, "5 experts per token of 4 experts"},
  };
  for (const auto& [family, key, value, message] : cases) {
    const fs::path dir = checkpoint_with(family, key, [&](nlohmann::json& c) { c[key] = value; });
    const auto run = golden(dir, family);
    EXPECT_EQ(run.err, (dir / "config.json").string() + ": " + key + ": " + message + "\n");
    EXPECT_EQ(run.status, 1);
  }
}

TEST(BadModelConfig, bad_workload_zero_sizes_name_file_line_and_key) {
  for (const std::string key : {"hidden_size", "intermediate_size", "vocab_size"}) {
    std::ifstream in("workloads/models/mamba-130m.yaml");
    std::stringstream text;
    std::string line;
    int key_line = 0, number = 0;
    while (std::getline(in, line)) {
      ++number;
      if (line.rfind(key + ":", 0) == 0) {
        key_line = number;
        line = key + ": 0";
      }
      text << line << '\n';
    }
    ASSERT_GT(key_line, 0) << key;
    const fs::path file = test::write_file("zero-" + key + ".yaml", text.str());
    const auto run = run_limited("compile --profile krsna-mobile --model " + file.string() + " --emit summary");
    EXPECT_EQ(run.status, 1);
    EXPECT_EQ(run.err.rfind(
                  file.string() + ":" + std::to_string(key_line) + ":1: " + key + ": expected an integer in 1..", 0),
              0u)
        << run.err;
  }
}

TEST(BadModelConfig, bad_nonfinite_weight_is_refused_with_the_tensor) {
  // mamba2's final norm is the last f32 tensor written: poke a NaN into a copy's first element.
  const fs::path dir = checkpoint_with("mamba2", "nan-weight", [](nlohmann::json&) {});
  std::fstream file(dir / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
  std::uint64_t header_size = 0;
  file.read(reinterpret_cast<char*>(&header_size), 8);
  std::string header(header_size, '\0');
  file.read(header.data(), static_cast<std::streamsize>(header_size));
  const nlohmann::json entries = nlohmann::json::parse(header);
  const auto& norm = entries.at("backbone.norm_f.weight");
  ASSERT_EQ(norm.at("dtype"), "F32");
  const float nan = std::numeric_limits<float>::quiet_NaN();
  file.seekp(static_cast<std::streamoff>(8 + header_size + norm.at("data_offsets")[0].get<std::uint64_t>()));
  file.write(reinterpret_cast<const char*>(&nan), sizeof nan);
  file.close();
  const auto run = golden(dir, "mamba2");
  EXPECT_EQ(run.err, (dir / "model.safetensors").string() +
                         ": tensor 'backbone.norm_f.weight': element 0 is nan, expected finite weights\n");
  EXPECT_EQ(run.status, 1);
}

TEST(BadKernelCase, bad_flags_sizes_shapes_and_values_name_their_place) {
  const fs::path out = test::temp_dir() / "never.safetensors";
  auto kernel = [&](const std::string& in, const std::string& flags) {
    return run_limited("kernel --in " + in + " " + flags + " --out " + out.string());
  };
  auto run = kernel("tests/data/kernels/ssd_basic.safetensors", "--flag chunk_size=1000000000");
  EXPECT_EQ(run.err,
            "tests/data/kernels/ssd_basic.safetensors: kernel ssd: flags: 'chunk_size' expected an integer in "
            "1..4096, got '1000000000'\n");
  EXPECT_EQ(run.status, 1);
  run = kernel("tests/data/kernels/causal_conv1d_silu.safetensors", "--flag width=-1");
  EXPECT_EQ(run.err,
            "tests/data/kernels/causal_conv1d_silu.safetensors: kernel causal_conv1d: --flag width: not a flag this "
            "kernel reads (it reads: activation)\n");
  EXPECT_EQ(run.status, 1);
  run = kernel("tests/data/kernels/ssd_basic.safetensors", "--flag chunk_sise=4");
  EXPECT_EQ(run.err,
            "tests/data/kernels/ssd_basic.safetensors: kernel ssd: --flag chunk_sise: not a flag this kernel reads (it "
            "reads: chunk_size)\n");
  EXPECT_EQ(run.status, 1);

  // B as [b, L, N] instead of [b, N, L]: the same element count, another layout.
  SafetensorsFile scan = read_safetensors("tests/data/kernels/selective_scan_full.safetensors");
  Tensor& B = scan.tensors.at("B");
  B.shape = {B.shape[0], B.shape[2], B.shape[1]};
  const fs::path transposed = test::temp_dir() / "scan-B-transposed.safetensors";
  write_safetensors(transposed, scan);
  run = kernel(transposed.string(), "");
  EXPECT_EQ(run.err,
            transposed.string() + ": kernel selective_scan: tensor 'B': expected shape [2, 16, 37], got [2, 37, 16]\n");
  EXPECT_EQ(run.status, 1);

  SafetensorsFile plain = read_safetensors("tests/data/kernels/selective_scan_plain.safetensors");
  std::vector<float> u = plain.tensors.at("u").to_f32();
  u[3] = std::numeric_limits<float>::infinity();
  plain.tensors["u"] = Tensor::from_f32(plain.tensors.at("u").shape, u);
  const fs::path infinite = test::temp_dir() / "scan-u-inf.safetensors";
  write_safetensors(infinite, plain);
  run = kernel(infinite.string(), "");
  EXPECT_EQ(run.err,
            infinite.string() + ": kernel selective_scan: tensor 'u': element 3 is inf, expected finite inputs\n");
  EXPECT_EQ(run.status, 1);
  EXPECT_FALSE(fs::exists(out));
}

TEST(BadInputPath, bad_missing_or_folder_inputs_are_one_line_exit_1) {
  const fs::path out = test::temp_dir() / "never.safetensors";
  auto run = run_limited("kernel --in /nonexistent/case.safetensors --out " + out.string());
  EXPECT_EQ(run.err, "/nonexistent/case.safetensors: no such file (--in)\n");
  EXPECT_EQ(run.status, 1);
  run = run_limited("kernel --in tests/data/kernels --out " + out.string());
  EXPECT_EQ(run.err, "tests/data/kernels: expected a file (--in), got a folder\n");
  EXPECT_EQ(run.status, 1);
  run = run_limited(
      "golden --model tests/data/models/mamba2/config.json --input tests/data/models/mamba2/"
      "reference.safetensors --out " +
      out.string());
  EXPECT_EQ(run.err, "tests/data/models/mamba2/config.json: expected a folder (--model), got a file\n");
  EXPECT_EQ(run.status, 1);
  run = run_limited("golden --model /nonexistent --input tests/data/models/mamba2/reference.safetensors --out " +
                    out.string());
  EXPECT_EQ(run.err, "/nonexistent: no such file (--model)\n");
  EXPECT_EQ(run.status, 1);
  run = run_limited("golden --model tests/data/models/mamba2 --input tests/data/models --out " + out.string());
  EXPECT_EQ(run.err, "tests/data/models: expected a file (--input), got a folder\n");
  EXPECT_EQ(run.status, 1);
  run = run_limited("compile --profile krsna-mobile --model /nonexistent/model.yaml");
  EXPECT_EQ(run.err, "--model /nonexistent/model.yaml: no such file, folder or workload (see workloads/models)\n");
  EXPECT_EQ(run.status, 1);
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace ssmsoc
