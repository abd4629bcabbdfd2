// The software scan algorithms of silicon without a native scan unit: each against the
// golden kernels within its stated bound, the parallel prefix scan against the sequential
// one in exact arithmetic, the association order and the matrix-input rounding made
// visible, determinism (arch/SCAN_ALGORITHMS.md).
#include "arch/golden/scan_algorithms.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "arch/golden/fixed_scan.hpp"
#include "arch/golden/kernel_runner.hpp"
#include "arch/golden/safetensors.hpp"
#include "tests/support.hpp"

namespace ssmsoc::scanalgo {
namespace {

const std::vector<std::string>& non_native_profiles() {
  static const std::vector<std::string> names{"h100-class", "mi300-class", "xeon-amx-class", "cortex-a-neon-class",
                                              "hexagon-npu-class"};
  return names;
}

// max |actual - expected| / max |expected| over the tensor.
double relative_error(const std::vector<float>& actual, const std::vector<float>& expected) {
  EXPECT_EQ(actual.size(), expected.size());
  double error = 0, scale = 0;
  for (std::size_t i = 0; i < std::min(actual.size(), expected.size()); ++i) {
    error = std::max(error, std::fabs(double(actual[i]) - expected[i]));
    scale = std::max(scale, std::fabs(double(expected[i])));
  }
  return scale > 0 ? error / scale : error;
}

bool bitwise_equal(const std::vector<float>& x, const std::vector<float>& y) {
  return x.size() == y.size() && (x.empty() || std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0);
}

// Inputs owned next to the arguments that view them.
struct Mamba1Inputs {
  std::vector<std::vector<float>> storage;
  golden::SelectiveScanArgs args;
};
struct Mamba2Inputs {
  std::vector<std::vector<float>> storage;
  golden::SsdArgs args;
};

std::vector<float> optional_tensor(const SafetensorsFile& file, const std::string& name) {
  const auto it = file.tensors.find(name);
  return it == file.tensors.end() ? std::vector<float>{} : it->second.to_f32();
}
int dim(const SafetensorsFile& file, const std::string& name, std::size_t axis) {
  return static_cast<int>(file.tensors.at(name).shape.at(axis));
}

Mamba1Inputs mamba1_reference(const std::string& name) {
  const SafetensorsFile f = read_safetensors("tests/data/kernels/" + name + ".safetensors");
  Mamba1Inputs in;
  golden::SelectiveScanArgs& a = in.args;
  a.batch = dim(f, "u", 0), a.dim = dim(f, "u", 1), a.length = dim(f, "u", 2), a.state = dim(f, "A", 1);
  a.groups = f.tensors.at("B").shape.size() == 4 ? dim(f, "B", 1) : 1;
  in.storage = {f.tensors.at("u").to_f32(), f.tensors.at("delta").to_f32(),  f.tensors.at("A").to_f32(),
                f.tensors.at("B").to_f32(), f.tensors.at("C").to_f32(),      optional_tensor(f, "D"),
                optional_tensor(f, "z"),    optional_tensor(f, "delta_bias")};
  a.u = in.storage[0], a.delta = in.storage[1], a.A = in.storage[2], a.B = in.storage[3], a.C = in.storage[4];
  a.D = in.storage[5], a.z = in.storage[6], a.delta_bias = in.storage[7];
  a.delta_softplus = parse_kernel_flags(f.metadata.at("flags"), name).at("delta_softplus") == "1";
  return in;
}

Mamba2Inputs mamba2_reference(const std::string& name) {
  const SafetensorsFile f = read_safetensors("tests/data/kernels/" + name + ".safetensors");
  Mamba2Inputs in;
  golden::SsdArgs& a = in.args;
  a.batch = dim(f, "x", 0), a.length = dim(f, "x", 1), a.heads = dim(f, "x", 2), a.head_dim = dim(f, "x", 3);
  a.groups = dim(f, "B", 2), a.state = dim(f, "B", 3);
  in.storage = {f.tensors.at("x").to_f32(),          f.tensors.at("dt").to_f32(), f.tensors.at("A").to_f32(),
                f.tensors.at("B").to_f32(),          f.tensors.at("C").to_f32(),  optional_tensor(f, "D"),
                optional_tensor(f, "initial_states")};
  a.x = in.storage[0], a.dt = in.storage[1], a.A = in.storage[2], a.B = in.storage[3], a.C = in.storage[4];
  a.D = in.storage[5], a.initial_state = in.storage[6];
  return in;
}

// Realistic random inputs (the ranges of SCAN_ALGORITHMS.md).
Mamba1Inputs mamba1_random(std::uint64_t seed, int batch, int dim_, int length, int state, int groups) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  const auto draw = [&](std::size_t n, auto f) {
    std::vector<float> v(n);
    for (auto& x : v) x = f();
    return v;
  };
  const std::size_t bdl = std::size_t(batch) * dim_ * length, bgnl = std::size_t(batch) * groups * state * length;
  Mamba1Inputs in;
  in.storage = {draw(bdl, [&] { return normal(engine); }),
                draw(bdl, [&] { return -4.0f + 5.0f * uniform(engine); }),
                draw(std::size_t(dim_) * state, [&] { return -std::exp(uniform(engine) * std::log(16.0f)); }),
                draw(bgnl, [&] { return normal(engine); }),
                draw(bgnl, [&] { return normal(engine); }),
                draw(std::size_t(dim_), [&] { return 0.5f + uniform(engine); }),
                draw(bdl, [&] { return normal(engine); })};
  golden::SelectiveScanArgs& a = in.args;
  a.batch = batch, a.dim = dim_, a.length = length, a.state = state, a.groups = groups;
  a.u = in.storage[0], a.delta = in.storage[1], a.A = in.storage[2], a.B = in.storage[3], a.C = in.storage[4];
  a.D = in.storage[5], a.z = in.storage[6];
  a.delta_softplus = true;
  return in;
}

Mamba2Inputs mamba2_random(std::uint64_t seed, int length, int heads, int head_dim, int groups, int state) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  const auto draw = [&](std::size_t n, auto f) {
    std::vector<float> v(n);
    for (auto& x : v) x = f();
    return v;
  };
  const std::size_t lhp = std::size_t(length) * heads * head_dim, lgn = std::size_t(length) * groups * state;
  Mamba2Inputs in;
  in.storage = {draw(lhp, [&] { return normal(engine); }),
                draw(std::size_t(length) * heads, [&] { return golden::softplus(-4.0f + 5.0f * uniform(engine)); }),
                draw(std::size_t(heads), [&] { return -std::exp(uniform(engine) * std::log(16.0f)); }),
                draw(lgn, [&] { return normal(engine); }),
                draw(lgn, [&] { return normal(engine); }),
                draw(std::size_t(heads), [&] { return 0.5f + uniform(engine); })};
  golden::SsdArgs& a = in.args;
  a.batch = 1, a.length = length, a.heads = heads, a.head_dim = head_dim, a.groups = groups, a.state = state;
  a.x = in.storage[0], a.dt = in.storage[1], a.A = in.storage[2], a.B = in.storage[3], a.C = in.storage[4];
  a.D = in.storage[5];
  return in;
}

// ---------------------------------------------------------------------------------------
// Per-profile choices.

TEST(SiliconOf, DerivesLanesFusedFmaAndMatrixInputFromTheProfileFields) {
  const Silicon h100 = silicon_of(load_profile("h100-class"));
  EXPECT_EQ(h100.family, Family::gpu);
  EXPECT_EQ(h100.lanes, 128);
  EXPECT_TRUE(h100.fused_fma);
  EXPECT_EQ(h100.matrix_input, Precision::bf16);  // bf16 and fp16 tie at 2048 MACs/cycle: bf16's range wins
  EXPECT_EQ(silicon_of(load_profile("mi300-class")).matrix_input, Precision::bf16);
  const Silicon hexagon = silicon_of(load_profile("hexagon-npu-class"));
  EXPECT_EQ(hexagon.matrix_input, Precision::fp16);  // its only float precision
  EXPECT_FALSE(hexagon.fused_fma);                   // fma priced as a mul plus an add
  EXPECT_EQ(silicon_of(load_profile("xeon-amx-class")).lanes, 32);
  EXPECT_EQ(silicon_of(load_profile("cortex-a-neon-class")).lanes, 8);
}

TEST(SiliconOf, FollowsTheFieldsNotTheName) {
  Profile p = load_profile("h100-class");
  p.tile.matrix.macs_per_cycle.erase(Precision::bf16);
  p.tile.matrix.macs_per_cycle.erase(Precision::fp16);
  EXPECT_EQ(silicon_of(p).matrix_input, Precision::tf32);
  p.tile.matrix.macs_per_cycle = {{Precision::int8, 4096}};
  EXPECT_EQ(silicon_of(p).matrix_input, Precision::fp32);  // no float matrix precision: fp32 on the vector unit
  p.tile.vector.cost[static_cast<std::size_t>(VectorFunction::fma)].cycles_per_element = 2;
  EXPECT_FALSE(silicon_of(p).fused_fma);
  p.tile.vector.lanes = 64;
  EXPECT_EQ(silicon_of(p).lanes, 64);
}

TEST(PlanFor, NamesTheAlgorithmsOfEachFamily) {
  const ScanPlan gpu = plan_for(load_profile("h100-class"));
  EXPECT_EQ(gpu.mamba1, Algorithm::blelloch_prefix_scan);
  EXPECT_EQ(gpu.mamba2, Algorithm::chunked_ssd_matrix);
  EXPECT_EQ(gpu.mamba2_precision, "bf16 matrix inputs, fp32 accumulation; fp32 vector, fused FMA");
  const ScanPlan npu = plan_for(load_profile("hexagon-npu-class"));
  EXPECT_EQ(npu.mamba1, Algorithm::sequential_vector_scan);
  EXPECT_EQ(npu.mamba2, Algorithm::chunked_ssd_matrix);
  const ScanPlan cpu = plan_for(load_profile("xeon-amx-class"));
  EXPECT_EQ(cpu.mamba1, Algorithm::sequential_vector_scan);
  EXPECT_EQ(cpu.mamba2, Algorithm::sequential_vector_scan);
  EXPECT_EQ(cpu.mamba1_precision, "fp32 vector, 32 lanes, fused FMA");
  const ScanPlan native = plan_for(load_profile("krsna-mobile"));
  EXPECT_EQ(native.mamba1, Algorithm::native_scan_unit);
  EXPECT_EQ(algorithm_name(Algorithm::blelloch_prefix_scan), "blelloch-prefix-scan");
}

TEST(RunSoftwareScan, RunsTheNativeScanUnitOnAScanAccelerator) {
  const Profile profile = load_profile("krsna-mobile");
  const Mamba1Inputs in = mamba1_random(3, 1, 4, 20, 16, 1);
  EXPECT_TRUE(bitwise_equal(run_software_scan(profile, in.args).out,
                            fixed::selective_scan(in.args, profile.tile.scan).result.out));
}

// ---------------------------------------------------------------------------------------
// Each profile's algorithms against the golden kernels.

class SoftwareScanProfile : public ::testing::TestWithParam<std::string> {};

TEST_P(SoftwareScanProfile, Mamba1MatchesTheGoldenReferenceCasesWithinItsBound) {
  const Profile profile = load_profile(GetParam());
  const ScanPlan plan = plan_for(profile);
  const double bound = error_bound(plan.mamba1, plan.silicon);
  for (const char* name : {"selective_scan_full", "selective_scan_n1", "selective_scan_plain"}) {
    const Mamba1Inputs in = mamba1_reference(name);
    const golden::ScanResult expected = golden::selective_scan(in.args);
    const golden::ScanResult actual = run_software_scan(profile, in.args);
    EXPECT_LE(relative_error(actual.out, expected.out), bound) << name;
    EXPECT_LE(relative_error(actual.state, expected.state), bound) << name;
  }
}

TEST_P(SoftwareScanProfile, Mamba2MatchesTheGoldenReferenceCasesWithinItsBound) {
  const Profile profile = load_profile(GetParam());
  const ScanPlan plan = plan_for(profile);
  const double bound = error_bound(plan.mamba2, plan.silicon);
  for (const char* name : {"ssd_basic", "ssd_groups_ragged_init", "ssd_short_noD_init", "ssd_decode_multistep"}) {
    const Mamba2Inputs in = mamba2_reference(name);
    const golden::ScanResult expected = golden::ssd_sequential(in.args);
    const golden::ScanResult actual = run_software_scan(profile, in.args);
    EXPECT_LE(relative_error(actual.out, expected.out), bound) << name;
    EXPECT_LE(relative_error(actual.state, expected.state), bound) << name;
  }
}

TEST_P(SoftwareScanProfile, LongRandomSequencesStayWithinTheBound) {
  const Profile profile = load_profile(GetParam());
  const ScanPlan plan = plan_for(profile);
  const Mamba1Inputs m1 = mamba1_random(11, 1, 4, 2048, 16, 1);
  const golden::ScanResult e1 = golden::selective_scan(m1.args), r1 = run_software_scan(profile, m1.args);
  EXPECT_LE(relative_error(r1.out, e1.out), error_bound(plan.mamba1, plan.silicon));
  const Mamba2Inputs m2 = mamba2_random(12, 2048, 2, 8, 1, 32);
  const golden::ScanResult e2 = golden::ssd_sequential(m2.args), r2 = run_software_scan(profile, m2.args);
  EXPECT_LE(relative_error(r2.out, e2.out), error_bound(plan.mamba2, plan.silicon));
  EXPECT_LE(relative_error(r2.state, e2.state), error_bound(plan.mamba2, plan.silicon));
}

TEST_P(SoftwareScanProfile, IsDeterministic) {
  const Profile profile = load_profile(GetParam());
  const Mamba1Inputs m1 = mamba1_random(21, 2, 4, 300, 16, 2);
  EXPECT_TRUE(bitwise_equal(run_software_scan(profile, m1.args).out, run_software_scan(profile, m1.args).out));
  const Mamba2Inputs m2 = mamba2_random(22, 300, 4, 8, 2, 16);
  EXPECT_TRUE(bitwise_equal(run_software_scan(profile, m2.args).out, run_software_scan(profile, m2.args).out));
}

INSTANTIATE_TEST_SUITE_P(Shipped, SoftwareScanProfile, ::testing::ValuesIn(non_native_profiles()), test::param_name);

// ---------------------------------------------------------------------------------------
// The error check and its bounds.

const std::vector<SoftwareScanRow>& default_check() {
  static const std::vector<SoftwareScanRow> rows = software_scan_check();
  return rows;
}

TEST(SoftwareScanCheck, HasOnePassingRowPerNonNativeProfile) {
  const auto& rows = default_check();
  std::vector<std::string> names;
  for (const auto& row : rows) names.push_back(row.profile);
  std::vector<std::string> expected = non_native_profiles();
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(names, expected);
  for (const auto& row : rows) {
    EXPECT_TRUE(row.pass) << row.profile;
    ASSERT_EQ(row.parts.size(), 2u);
    EXPECT_EQ(row.cases, 3 + 4 + 2 * kSoftwareScanRandomCases) << row.profile;  // reference + random
    EXPECT_GT(row.steps, 2 * 2048) << row.profile;
    EXPECT_LE(row.max_rel, row.bound) << row.profile;
    EXPECT_NE(row.algorithms.find("mamba2: "), std::string::npos);
  }
}

TEST(SoftwareScanCheck, BoundsAreWithinFourTimesTheMeasurement) {
  for (const auto& row : default_check())
    for (const auto& part : row.parts) {
      EXPECT_LE(part.max_rel, part.bound) << row.profile << " " << part.model;
      EXPECT_LE(part.bound, 4 * part.max_rel) << row.profile << " " << part.model;
    }
}

TEST(SoftwareScanCheck, IsDeterministicForASeed) {
  const auto again = software_scan_check(kSoftwareScanSeed, kSoftwareScanRandomCases);
  ASSERT_EQ(again.size(), default_check().size());
  for (std::size_t i = 0; i < again.size(); ++i) {
    EXPECT_EQ(again[i].max_abs, default_check()[i].max_abs);
    EXPECT_EQ(again[i].max_rel, default_check()[i].max_rel);
  }
  EXPECT_EQ(software_scan_markdown(again), software_scan_markdown(default_check()));
}

TEST(SoftwareScanCheck, RunsWithoutReferenceCases) {
  const auto rows = software_scan_check(7, 1, "");
  for (const auto& row : rows) {
    EXPECT_EQ(row.cases, 2);
    EXPECT_TRUE(row.pass) << row.profile;
  }
}

TEST(ErrorBound, ScalesWithTheMatrixInputPrecision) {
  Silicon s;
  s.matrix_input = Precision::bf16;
  const double bf16 = error_bound(Algorithm::chunked_ssd_matrix, s);
  s.matrix_input = Precision::fp16;
  const double fp16 = error_bound(Algorithm::chunked_ssd_matrix, s);
  EXPECT_NEAR(bf16 / fp16, 8.0, 0.2);
  EXPECT_EQ(error_bound(Algorithm::sequential_vector_scan, s), kFp32ScanBound);
  EXPECT_THROW(error_bound(Algorithm::native_scan_unit, s), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------
// The prefix scan and the association order.

// a in {-1, 0, 1}, b in quarters of [-2, 2]: every partial product and sum is exact in fp32.
void exact_inputs(std::size_t length, std::uint64_t seed, std::vector<float>& a, std::vector<float>& b) {
  std::mt19937_64 engine(seed);
  a.resize(length), b.resize(length);
  for (std::size_t t = 0; t < length; ++t) {
    a[t] = static_cast<float>(static_cast<int>(engine() % 3) - 1);
    b[t] = static_cast<float>(static_cast<int>(engine() % 17) - 8) / 4.0f;
  }
}

TEST(BlellochLinearScan, EqualsTheSequentialScanInExactArithmetic) {
  for (std::size_t length : {1u, 2u, 3u, 100u, 127u, 128u, 129u, 1000u, 16384u, 16385u})
    for (int block : {2, 7, 32, 128}) {
      std::vector<float> a, b;
      exact_inputs(length, length * 131 + block, a, b);
      EXPECT_TRUE(bitwise_equal(blelloch_linear_scan(a, b, block, true), sequential_linear_scan(a, b, true)))
          << "L=" << length << " block=" << block;
      EXPECT_TRUE(bitwise_equal(blelloch_linear_scan(a, b, block, false), sequential_linear_scan(a, b, false)))
          << "L=" << length << " block=" << block;
    }
}

TEST(BlellochLinearScan, EqualsTheSequentialScanOnAVeryLongSequence) {
  std::vector<float> a, b;
  exact_inputs((1u << 20) + 3, 99, a, b);      // three levels of 128-element blocks
  for (auto& x : a) x = x == 0.0f ? 1.0f : x;  // no resets: the sums run over the whole sequence
  EXPECT_TRUE(bitwise_equal(blelloch_linear_scan(a, b, 128, true), sequential_linear_scan(a, b, true)));
}

TEST(BlellochLinearScan, HandlesEmptyAndRejectsBadArguments) {
  EXPECT_TRUE(blelloch_linear_scan({}, {}, 128, true).empty());
  const std::vector<float> one{1.0f}, two{1.0f, 2.0f};
  EXPECT_THROW(blelloch_linear_scan(one, two, 128, true), std::invalid_argument);
  EXPECT_THROW(blelloch_linear_scan(one, one, 1, true), std::invalid_argument);
}

TEST(BlellochLinearScan, AssociationOrderChangesTheBitsButStaysWithinTheBound) {
  // Realistic decays a = exp(dt A) and inputs b = dt B u.
  std::mt19937_64 engine(5);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  std::vector<float> a(2048), b(2048);
  for (std::size_t t = 0; t < a.size(); ++t) {
    const float dt = golden::softplus(-4.0f + 5.0f * uniform(engine));
    a[t] = std::exp(-dt * std::exp(uniform(engine) * std::log(16.0f)));
    b[t] = dt * normal(engine) * normal(engine);
  }
  const std::vector<float> parallel = blelloch_linear_scan(a, b, 128, true);
  const std::vector<float> sequential = sequential_linear_scan(a, b, true);
  EXPECT_FALSE(bitwise_equal(parallel, sequential));
  EXPECT_LE(relative_error(parallel, sequential), kFp32ScanBound);
}

TEST(BlellochSelectiveScan, EqualsSequentialAndGoldenInExactArithmetic) {
  // A = 0 makes every decay exp(0) = 1; power-of-two dt, B, u, C keep every sum exact.
  for (int length : {1, 100, 128, 129, 1000}) {
    const int dim = 3, state = 5;
    std::vector<float> u(dim * length), delta(dim * length), A(dim * state, 0.0f), B(state * length), C(state * length);
    for (int i = 0; i < dim * length; ++i) u[i] = float(i % 5 - 2), delta[i] = (i % 3 == 0) ? 0.5f : 0.25f;
    for (int i = 0; i < state * length; ++i) B[i] = float(i % 3 - 1), C[i] = (i % 4 == 0) ? -2.0f : 1.0f;
    golden::SelectiveScanArgs args;
    args.batch = 1, args.dim = dim, args.length = length, args.state = state;
    args.u = u, args.delta = delta, args.A = A, args.B = B, args.C = C;
    Silicon gpu;
    gpu.lanes = 128;
    const golden::ScanResult parallel = blelloch_selective_scan(args, gpu);
    const golden::ScanResult golden_result = golden::selective_scan(args);
    EXPECT_TRUE(bitwise_equal(parallel.out, golden_result.out)) << length;
    EXPECT_TRUE(bitwise_equal(parallel.state, golden_result.state)) << length;
    EXPECT_TRUE(bitwise_equal(parallel.out, sequential_selective_scan(args, gpu).out)) << length;
  }
}

TEST(BlellochSelectiveScan, DiffersBitwiseFromTheSequentialScanOnRandomData) {
  const Mamba1Inputs in = mamba1_random(8, 2, 8, 300, 16, 2);
  Silicon gpu;
  gpu.lanes = 128;
  const golden::ScanResult parallel = blelloch_selective_scan(in.args, gpu);
  const golden::ScanResult sequential = sequential_selective_scan(in.args, gpu);
  EXPECT_FALSE(bitwise_equal(parallel.state, sequential.state));
  const golden::ScanResult expected = golden::selective_scan(in.args);
  EXPECT_LE(relative_error(parallel.out, expected.out), kFp32ScanBound);
  EXPECT_LE(relative_error(parallel.state, expected.state), kFp32ScanBound);
}

TEST(LaneTreeDot, AddsInTheOrderOfAHorizontalAdd) {
  // Lanes 0 and 1 hold 1e8 - 1e8 = 0 and 1 + 1 = 2; summing in order loses the first 1.
  const float x[] = {1e8f, 1.0f, -1e8f, 1.0f}, ones[] = {1.0f, 1.0f, 1.0f, 1.0f};
  EXPECT_EQ(lane_tree_dot(x, ones, 4, 2, true), 2.0f);
  EXPECT_EQ(lane_tree_dot(x, ones, 4, 1, true), 1.0f);
  EXPECT_EQ(lane_tree_dot(x, ones, 4, 8, true), 2.0f);  // (1e8 + -1e8) + (1 + 1) after padding
  EXPECT_EQ(lane_tree_dot(x, ones, 0, 8, true), 0.0f);
}

TEST(SequentialScan, FusedAndSeparateMultiplyAddDifferInTheBits) {
  const Mamba1Inputs in = mamba1_random(9, 1, 8, 200, 16, 1);
  Silicon fused, separate;
  fused.lanes = separate.lanes = 8;
  separate.fused_fma = false;
  const golden::ScanResult f = sequential_selective_scan(in.args, fused),
                           s = sequential_selective_scan(in.args, separate);
  EXPECT_FALSE(bitwise_equal(f.state, s.state));
  EXPECT_LE(relative_error(s.out, f.out), kFp32ScanBound);
}

// ---------------------------------------------------------------------------------------
// The chunked SSD.

TEST(ChunkedSsd, RoundsTheMatrixInputs) {
  const Mamba2Inputs in = mamba2_random(31, 300, 2, 8, 1, 32);
  const golden::ScanResult expected = golden::ssd_sequential(in.args);
  Silicon s;
  s.matrix_input = Precision::fp32;
  const golden::ScanResult fp32 = chunked_ssd(in.args, s);
  s.matrix_input = Precision::bf16;
  const golden::ScanResult bf16 = chunked_ssd(in.args, s);
  s.matrix_input = Precision::fp16;
  const golden::ScanResult fp16 = chunked_ssd(in.args, s);
  EXPECT_FALSE(bitwise_equal(bf16.out, fp32.out));
  EXPECT_FALSE(bitwise_equal(fp16.out, bf16.out));
  const double e32 = relative_error(fp32.out, expected.out), e16 = relative_error(fp16.out, expected.out),
               eb16 = relative_error(bf16.out, expected.out);
  EXPECT_LE(e32, kChunkedSsdFloor);
  EXPECT_GT(e16, 4 * e32);   // the fp16 rounding dominates fp32's
  EXPECT_GT(eb16, 4 * e16);  // bf16 keeps 3 fraction bits fewer than fp16
  s.matrix_input = Precision::bf16;
  EXPECT_LE(eb16, error_bound(Algorithm::chunked_ssd_matrix, s));
}

TEST(ChunkedSsd, EqualsTheSequentialSsdInExactArithmeticForAnyChunk) {
  // A = 0: every decay is exp(0) = 1; small integers and dt = 1/2 keep every product and sum
  // exact in bf16 inputs and fp32 accumulation.
  const int length = 37, heads = 2, head_dim = 3, groups = 1, state = 4;
  std::vector<float> x(length * heads * head_dim), dt(length * heads, 0.5f), A(heads, 0.0f), B(length * groups * state),
      C(length * groups * state), D{1.0f, -2.0f}, init(heads * head_dim * state);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 7) - 3);
  for (std::size_t i = 0; i < B.size(); ++i) B[i] = float(int(i % 3) - 1), C[i] = float(int(i % 5) - 2);
  for (std::size_t i = 0; i < init.size(); ++i) init[i] = float(int(i % 4) - 2);
  golden::SsdArgs args;
  args.batch = 1, args.length = length, args.heads = heads, args.head_dim = head_dim, args.groups = groups;
  args.state = state, args.x = x, args.dt = dt, args.A = A, args.B = B, args.C = C, args.D = D;
  args.initial_state = init;
  const golden::ScanResult expected = golden::ssd_sequential(args);
  for (int chunk : {1, 5, 16, 37, 256}) {
    Silicon s;
    s.matrix_input = Precision::bf16, s.ssd_chunk = chunk;
    const golden::ScanResult r = chunked_ssd(args, s);
    EXPECT_TRUE(bitwise_equal(r.out, expected.out)) << chunk;
    EXPECT_TRUE(bitwise_equal(r.state, expected.state)) << chunk;
  }
  EXPECT_TRUE(bitwise_equal(sequential_ssd(args, Silicon{}).out, expected.out));
}

TEST(ChunkedSsd, RejectsBadShapesAndSilicon) {
  Mamba2Inputs in = mamba2_random(1, 8, 2, 4, 1, 8);
  Silicon s;
  s.ssd_chunk = 0;
  EXPECT_THROW(chunked_ssd(in.args, s), std::invalid_argument);
  s = Silicon{};
  s.matrix_input = Precision::int8;
  EXPECT_THROW(chunked_ssd(in.args, s), std::invalid_argument);
  in.args.A = std::span<const float>(in.storage[2]).first(1);
  EXPECT_THROW(chunked_ssd(in.args, Silicon{}), std::invalid_argument);
}

TEST(RoundMatrixInput, RoundsToNearestEven) {
  // tf32 keeps 10 fraction bits: 1 + 2^-11 is a tie to 1; 1 + 3*2^-11 a tie up to 1 + 2^-9.
  EXPECT_EQ(round_matrix_input(1.0f + std::ldexp(1.0f, -11), Precision::tf32), 1.0f);
  EXPECT_EQ(round_matrix_input(1.0f + 3 * std::ldexp(1.0f, -11), Precision::tf32), 1.0f + std::ldexp(1.0f, -9));
  EXPECT_EQ(round_matrix_input(-(1.0f + 3 * std::ldexp(1.0f, -11)), Precision::tf32), -(1.0f + std::ldexp(1.0f, -9)));
  EXPECT_EQ(round_matrix_input(1.0f + std::ldexp(1.0f, -8), Precision::bf16), 1.0f);
  EXPECT_EQ(round_matrix_input(1.0f + 3 * std::ldexp(1.0f, -12), Precision::fp16), 1.0f + std::ldexp(1.0f, -10));
  EXPECT_EQ(round_matrix_input(0.1f, Precision::fp32), 0.1f);
  EXPECT_THROW(round_matrix_input(1.0f, Precision::int8), std::invalid_argument);
}

}  // namespace
}  // namespace ssmsoc::scanalgo
