// Speed of the golden kernels at Mamba-2.8B sizes and of the golden model on a
// mamba-130m-shaped checkpoint with random weights. Run: build/tests/golden_bench
// (--benchmark_filter=... to pick one).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "arch/golden/kernels.hpp"
#include "arch/golden/safetensors.hpp"
#include "arch/hf/golden_model.hpp"

namespace ssmsoc {
namespace {

std::vector<float> random_vector(std::size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 engine(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(engine);
  return v;
}

// Mamba-2.8B's selective scan: D = 5120 channels, N = 16, one sequence of L = 2048.
void BM_SelectiveScan(benchmark::State& state) {
  const int d = 5120, n = 16, l = static_cast<int>(state.range(0));
  const auto u = random_vector(std::size_t(d) * l, -1, 1, 1), delta = random_vector(std::size_t(d) * l, -4, 1, 2),
             z = random_vector(std::size_t(d) * l, -1, 1, 3), A = random_vector(std::size_t(d) * n, -8, -1, 4),
             B = random_vector(std::size_t(n) * l, -1, 1, 5), C = random_vector(std::size_t(n) * l, -1, 1, 6),
             D = random_vector(d, 0, 1, 7), bias = random_vector(d, -1, 0, 8);
  golden::SelectiveScanArgs a;
  a.batch = 1, a.dim = d, a.length = l, a.state = n;
  a.u = u, a.delta = delta, a.A = A, a.B = B, a.C = C, a.D = D, a.z = z, a.delta_bias = bias;
  a.delta_softplus = true;
  for (auto _ : state) benchmark::DoNotOptimize(golden::selective_scan(a));
  state.counters["state_updates/s"] =
      benchmark::Counter(double(d) * n * l, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_SelectiveScan)->Arg(2048)->Unit(benchmark::kMillisecond);

// Mamba-2.8B's SSD: 80 heads of 64, N = 128, one sequence of L = 2048, chunk 256.
golden::SsdArgs ssd_args(int l, std::vector<std::vector<float>>& storage) {
  const int h = 80, p = 64, n = 128;
  storage = {random_vector(std::size_t(l) * h * p, -1, 1, 1),
             random_vector(std::size_t(l) * h, 0.001f, 0.1f, 2),
             random_vector(h, -8, -1, 3),
             random_vector(std::size_t(l) * n, -1, 1, 4),
             random_vector(std::size_t(l) * n, -1, 1, 5),
             random_vector(h, 0, 1, 6)};
  golden::SsdArgs a;
  a.batch = 1, a.length = l, a.heads = h, a.head_dim = p, a.groups = 1, a.state = n;
  a.x = storage[0], a.dt = storage[1], a.A = storage[2], a.B = storage[3], a.C = storage[4], a.D = storage[5];
  return a;
}

void BM_SsdChunked(benchmark::State& state) {
  std::vector<std::vector<float>> storage;
  const auto a = ssd_args(static_cast<int>(state.range(0)), storage);
  for (auto _ : state) benchmark::DoNotOptimize(golden::ssd_chunked(a, 256));
  state.counters["tokens/s"] = benchmark::Counter(double(a.length), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_SsdChunked)->Arg(2048)->Unit(benchmark::kMillisecond);

void BM_SsdSequential(benchmark::State& state) {
  std::vector<std::vector<float>> storage;
  const auto a = ssd_args(static_cast<int>(state.range(0)), storage);
  for (auto _ : state) benchmark::DoNotOptimize(golden::ssd_sequential(a));
  state.counters["tokens/s"] = benchmark::Counter(double(a.length), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_SsdSequential)->Arg(2048)->Unit(benchmark::kMillisecond);

// A mamba-130m-shaped checkpoint (d_model 768, 24 layers, N 16, vocab 50280, tied
// embeddings) with random weights, written once to a temporary folder.
std::filesystem::path mamba_130m_checkpoint() {
  const auto dir = std::filesystem::temp_directory_path() / "ssmsoc-bench-mamba-130m";
  if (std::filesystem::exists(dir / "model.safetensors")) return dir;
  std::filesystem::create_directories(dir);
  const int h = 768, layers = 24, inner = 1536, n = 16, rank = 48, vocab = 50280, conv = 4;
  std::ofstream(dir / "config.json") << R"({"model_type": "mamba", "hidden_size": 768, "num_hidden_layers": 24,
    "intermediate_size": 1536, "state_size": 16, "conv_kernel": 4, "time_step_rank": 48, "vocab_size": 50280,
    "layer_norm_epsilon": 1e-05, "tie_word_embeddings": true, "use_bias": false, "use_conv_bias": true})";
  SafetensorsFile file;
  unsigned seed = 1;
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape, float lo, float hi) {
    std::size_t count = 1;
    for (auto d : shape) count *= std::size_t(d);
    file.tensors[name] = Tensor::from_f32(shape, random_vector(count, lo, hi, seed++));
  };
  add("backbone.embeddings.weight", {vocab, h}, -0.05f, 0.05f);
  for (int l = 0; l < layers; ++l) {
    const std::string p = "backbone.layers." + std::to_string(l) + ".";
    add(p + "norm.weight", {h}, 0.9f, 1.1f);
    add(p + "mixer.in_proj.weight", {2 * inner, h}, -0.04f, 0.04f);
    add(p + "mixer.conv1d.weight", {inner, 1, conv}, -0.5f, 0.5f);
    add(p + "mixer.conv1d.bias", {inner}, -0.1f, 0.1f);
    add(p + "mixer.x_proj.weight", {rank + 2 * n, inner}, -0.03f, 0.03f);
    add(p + "mixer.dt_proj.weight", {inner, rank}, -0.1f, 0.1f);
    add(p + "mixer.dt_proj.bias", {inner}, -4.0f, -2.0f);
    add(p + "mixer.A_log", {inner, n}, 0.0f, 2.7f);
    add(p + "mixer.D", {inner}, 0.5f, 1.5f);
    add(p + "mixer.out_proj.weight", {h, inner}, -0.03f, 0.03f);
  }
  add("backbone.norm_f.weight", {h}, 0.9f, 1.1f);
  write_safetensors(dir / "model.safetensors", file);
  return dir;
}

void BM_GoldenModelMamba130m(benchmark::State& state) {
  const GoldenModel model(load_hf_checkpoint(mamba_130m_checkpoint()));
  const int tokens = static_cast<int>(state.range(0));
  std::vector<std::int64_t> ids(tokens);
  std::mt19937 engine(9);
  for (auto& id : ids) id = std::uniform_int_distribution<std::int64_t>(0, 50279)(engine);
  for (auto _ : state) benchmark::DoNotOptimize(model.forward(1, tokens, ids));
  state.counters["tokens/s"] = benchmark::Counter(double(tokens), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_GoldenModelMamba130m)->Arg(1024)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
}  // namespace ssmsoc

BENCHMARK_MAIN();
