// The Mamba-3 golden kernels (arch/golden/mamba3.hpp) against the reference data made from
// the official code (tests/data/kernels/mamba3_*, REFDATA-MANIFEST.md "## Mamba-3"), and
// their invariants on seeded random inputs.
#include "arch/golden/mamba3.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <numbers>
#include <string>
#include <vector>

#include "arch/golden/kernel_runner.hpp"
#include "arch/golden/kernels.hpp"
#include "arch/golden/safetensors.hpp"
#include "arch/golden/seeded_random.hpp"
#include "tests/reference.hpp"
#include "tests/support.hpp"

namespace ssmsoc::golden {
namespace {

constexpr double kTwoPi = 2 * std::numbers::pi;

// The manifest's tolerances for the Mamba-3 kernels: |got - expected| <= atol + rtol |expected|.
struct Tolerance {
  double rtol, atol;
};
Tolerance mamba3_tolerance(std::int64_t length) { return length > 64 ? Tolerance{5e-4, 1e-4} : Tolerance{1e-4, 2e-5}; }

// The largest error of one tensor, and its largest share of the allowed error.
struct Error {
  double max_abs = 0, worst_share = 0;
};

// Compares elementwise; angles modulo 2pi. Reports the first element out of tolerance.
Error compare(const std::vector<float>& got, const std::vector<float>& expected, Tolerance tol, bool modulo_two_pi,
              const std::string& what) {
  Error e;
  EXPECT_EQ(got.size(), expected.size()) << what;
  if (got.size() != expected.size()) return e;
  bool reported = false;
  for (std::size_t i = 0; i < got.size(); ++i) {
    double diff = double(got[i]) - double(expected[i]);
    if (modulo_two_pi) diff -= kTwoPi * std::round(diff / kTwoPi);
    const double bound = tol.atol + tol.rtol * std::fabs(expected[i]);
    e.max_abs = std::max(e.max_abs, std::fabs(diff));
    e.worst_share = std::max(e.worst_share, std::fabs(diff) / bound);
    if (std::fabs(diff) > bound && !reported) {
      ADD_FAILURE() << what << "[" << i << "]: " << got[i] << " vs " << expected[i] << " (|diff| " << std::fabs(diff)
                    << " > " << bound << ")";
      reported = true;
    }
  }
  return e;
}

std::vector<std::string> mamba3_case_names() {
  std::vector<std::string> names;
  for (const auto& name : test::kernel_case_names())
    if (name.rfind("mamba3_", 0) == 0) names.push_back(name);
  return names;
}

// A reference file's tensors, flags and dimensions.
class Case {
 public:
  explicit Case(const std::string& name)
      : file_(read_safetensors("tests/data/kernels/" + name + ".safetensors")),
        flags_(parse_kernel_flags(file_.metadata.at("flags"), name)) {
    for (const auto& [tensor_name, tensor] : file_.tensors) values_[tensor_name] = tensor.to_f32();
  }
  std::span<const float> operator[](const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? std::span<const float>{} : std::span<const float>(it->second);
  }
  const std::vector<float>& expected(const std::string& name) const { return values_.at(name); }
  int dim(const std::string& tensor, std::size_t axis) const {
    return static_cast<int>(file_.tensors.at(tensor).shape.at(axis));
  }
  int flag(const std::string& name) const { return std::stoi(flags_.at(name)); }
  double number(const std::string& name) const { return std::stod(flags_.at(name)); }
  const std::string& kernel() const { return file_.metadata.at("kernel"); }
  const std::string& outputs() const { return file_.metadata.at("outputs"); }
  bool has(const std::string& name) const { return values_.count(name) != 0; }

 private:
  SafetensorsFile file_;
  KernelFlags flags_;
  std::map<std::string, std::vector<float>> values_;
};

template <class Args>
void set_scan_inputs(const Case& c, Args& a) {
  a.batch = c.dim("v", 0), a.length = c.dim("v", 1), a.heads = c.dim("v", 2), a.head_dim = c.dim("v", 3);
  a.groups = c.flag("ngroups"), a.state = c.flag("d_state"), a.rope_angles = c.dim("angles", 3);
  a.q = c["q"], a.k = c["k"], a.v = c["v"], a.adt = c["adt"], a.dt = c["dt"], a.trap = c["trap"];
  a.angles = c["angles"], a.q_bias = c["q_bias"], a.k_bias = c["k_bias"], a.D = c["D"], a.z = c["z"];
  a.init_angle_state = c["init_angle_state"], a.init_ssm_state = c["init_ssm_state"];
  a.init_k_state = c["init_k_state"], a.init_v_state = c["init_v_state"];
}

Mamba3Result run_case(const Case& c) {
  const std::string& kernel = c.kernel();
  if (kernel == "mamba3_scan" || kernel == "mamba3_step_multistep") {
    Mamba3ScanArgs a;
    set_scan_inputs(c, a);
    return kernel == "mamba3_scan" ? mamba3_scan(a) : mamba3_step_multistep(a);
  }
  if (kernel == "mamba3_mimo_scan") {
    Mamba3MimoScanArgs a;
    set_scan_inputs(c, a);
    a.rank = c.flag("mimo_rank");
    a.mimo_x = c["mimo_x"], a.mimo_o = c["mimo_o"], a.mimo_z = c["mimo_z"], a.norm_weight = c["norm_weight"];
    return mamba3_mimo_scan(a);
  }
  EXPECT_EQ(kernel, "mamba3_mixer");
  Mamba3MixerArgs a;
  a.batch = c.dim("u", 0), a.length = c.dim("u", 1), a.d_model = c.flag("d_model");
  a.heads = c.flag("nheads"), a.head_dim = c.flag("headdim"), a.groups = c.flag("ngroups"), a.state = c.flag("d_state");
  a.rope_angles = c.flag("num_rope_angles"), a.rank = c.flag("mimo_rank");
  a.mimo = c.flag("is_mimo") == 1, a.outproj_norm = c.flag("is_outproj_norm") == 1;
  a.decode = c.flag("has_initial_states") == 1;  // a cache given: Mamba3.step per token
  a.A_floor = static_cast<float>(c.number("A_floor"));
  a.u = c["u"], a.in_proj = c["W.in_proj.weight"], a.out_proj = c["W.out_proj.weight"];
  a.B_norm = c["W.B_norm.weight"], a.C_norm = c["W.C_norm.weight"], a.B_bias = c["W.B_bias"], a.C_bias = c["W.C_bias"];
  a.D = c["W.D"], a.dt_bias = c["W.dt_bias"], a.norm = c["W.norm.weight"];
  a.mimo_x = c["W.mimo_x"], a.mimo_o = c["W.mimo_o"], a.mimo_z = c["W.mimo_z"];
  a.init_angle_state = c["init_angle_state"], a.init_ssm_state = c["init_ssm_state"];
  a.init_k_state = c["init_k_state"], a.init_v_state = c["init_v_state"];
  return mamba3_mixer(a);
}

class Mamba3Case : public ::testing::TestWithParam<std::string> {};

TEST_P(Mamba3Case, MatchesReference) {
  const Case c(GetParam());
  EXPECT_EQ(c.outputs(), "angle_state,k_state,out,ssm_state,v_state");
  const Mamba3Result r = run_case(c);
  const Tolerance tol = mamba3_tolerance(c.flag("seqlen"));
  const std::map<std::string, const std::vector<float>*> produced{{"out", &r.out},
                                                                  {"angle_state", &r.angle_state},
                                                                  {"ssm_state", &r.ssm_state},
                                                                  {"k_state", &r.k_state},
                                                                  {"v_state", &r.v_state}};
  for (const auto& [name, values] : produced) {
    const Error e = compare(*values, c.expected(name), tol, name == "angle_state", GetParam() + " " + name);
    // The largest errors, for the record (REFDATA-MANIFEST.md lists the naive float32 ones).
    std::cout << "[ mamba3   ] " << GetParam() << " " << name << ": max abs error " << e.max_abs << ", "
              << 100 * e.worst_share << "% of the tolerance\n";
  }
}

INSTANTIATE_TEST_SUITE_P(Mamba3Reference, Mamba3Case, ::testing::ValuesIn(mamba3_case_names()), test::param_name);

TEST(Mamba3Cases, AllReferenceFilesArePresent) { EXPECT_EQ(mamba3_case_names().size(), 13u); }

TEST(Mamba3Cases, MixerFlagsAgreeWithTheDerivedSizes) {
  for (const auto& name : mamba3_case_names()) {
    const Case c(name);
    if (c.kernel() != "mamba3_mixer") continue;
    const int state = c.flag("d_state"), angles = c.flag("num_rope_angles");
    EXPECT_EQ(mamba3_rope_angles(state, c.number("rope_fraction")), angles) << name;
    EXPECT_EQ(
        mamba3_in_proj_size(c.flag("nheads"), c.flag("headdim"), c.flag("ngroups"), state, angles, c.flag("mimo_rank")),
        c.dim("W.in_proj.weight", 0))
        << name;
    EXPECT_EQ(c.flag("nheads") * c.flag("headdim"), c.flag("expand") * c.flag("d_model")) << name;
  }
}

TEST(Mamba3RopeAngles, HalfTheEvenPartOfTheRotatedStateDims) {
  EXPECT_EQ(mamba3_rope_angles(16, 0.5), 4);
  EXPECT_EQ(mamba3_rope_angles(8, 0.5), 2);
  EXPECT_EQ(mamba3_rope_angles(8, 1.0), 4);
  EXPECT_EQ(mamba3_rope_angles(6, 0.5), 1);  // split 3 -> 2
  EXPECT_EQ(mamba3_rope_angles(128, 0.5), 32);
  EXPECT_THROW(mamba3_rope_angles(16, 1.5), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------
// Seeded random inputs.

// One random problem, owning its tensors; SISO uses rank 1 (the same memory layouts).
struct Problem {
  int batch = 1, length = 1, heads = 1, head_dim = 1, groups = 1, state = 2, angles = 0, rank = 1;
  std::vector<float> q, k, v, adt, dt, trap, theta, q_bias, k_bias, D, z, mimo_x, mimo_o, mimo_z, norm_weight;
  std::vector<float> init_angle, init_ssm, init_k, init_v;

  template <class Args>
  void fill(Args& a) const {
    a.batch = batch, a.length = length, a.heads = heads, a.head_dim = head_dim, a.groups = groups, a.state = state;
    a.rope_angles = angles;
    a.q = q, a.k = k, a.v = v, a.adt = adt, a.dt = dt, a.trap = trap, a.angles = theta, a.q_bias = q_bias;
    a.k_bias = k_bias, a.D = D, a.z = z;
    a.init_angle_state = init_angle, a.init_ssm_state = init_ssm, a.init_k_state = init_k, a.init_v_state = init_v;
  }
  Mamba3ScanArgs siso() const {
    Mamba3ScanArgs a;
    fill(a);
    return a;
  }
  Mamba3MimoScanArgs mimo() const {
    Mamba3MimoScanArgs a;
    fill(a);
    a.rank = rank, a.mimo_x = mimo_x, a.mimo_o = mimo_o, a.mimo_z = mimo_z, a.norm_weight = norm_weight;
    return a;
  }

  // Tokens [t0, t1) of the sequence with the given cache as the initial one.
  Problem tokens(int t0, int t1, const Mamba3Result& cache) const {
    Problem p = *this;
    p.length = t1 - t0;
    auto token_major = [&](const std::vector<float>& x) {
      if (x.empty()) return x;
      const std::size_t rest = x.size() / std::size_t(batch * length);
      std::vector<float> s;
      for (int b = 0; b < batch; ++b)
        s.insert(s.end(), x.begin() + std::ptrdiff_t((b * length + t0) * rest),
                 x.begin() + std::ptrdiff_t((b * length + t1) * rest));
      return s;
    };
    auto time_last = [&](const std::vector<float>& x) {
      std::vector<float> s;
      for (int i = 0; i < batch * heads; ++i)
        s.insert(s.end(), x.begin() + i * length + t0, x.begin() + i * length + t1);
      return s;
    };
    p.q = token_major(q), p.k = token_major(k), p.v = token_major(v), p.z = token_major(z);
    p.theta = token_major(theta);
    p.adt = time_last(adt), p.dt = time_last(dt), p.trap = time_last(trap);
    p.init_angle = cache.angle_state, p.init_ssm = cache.ssm_state, p.init_k = cache.k_state, p.init_v = cache.v_state;
    return p;
  }
};

Problem random_problem(SeededRandom& rng, bool with_cache, int rank = 1) {
  Problem p;
  auto pick = [&](std::initializer_list<int> values) {
    return *(values.begin() + std::ptrdiff_t(rng.next() % values.size()));
  };
  p.batch = pick({1, 2});
  p.length = pick({1, 2, 5, 9, 17, 24});
  p.heads = pick({1, 2, 4});
  p.groups = p.heads % 2 == 0 ? pick({1, 2}) : 1;
  p.head_dim = pick({1, 3, 8});
  p.state = pick({2, 4, 8, 16});
  p.angles = int(rng.next() % std::uint64_t(p.state / 2 + 1));
  p.rank = rank;
  const std::size_t B = p.batch, L = p.length, H = p.heads, P = p.head_dim, G = p.groups, N = p.state, S = p.angles,
                    R = p.rank;
  p.q = rng.normals(B * L * R * G * N), p.k = rng.normals(B * L * R * G * N);
  p.v = rng.normals(B * L * H * P), p.z = rng.normals(B * L * H * P);
  p.dt = rng.uniforms(B * H * L, 0.01, 1.0);
  p.adt.resize(p.dt.size());
  for (std::size_t i = 0; i < p.dt.size(); ++i) p.adt[i] = -float(rng.uniform(0.05, 4.0)) * p.dt[i];
  p.trap = rng.normals(B * H * L);
  p.theta = rng.normals(B * L * H * S);
  for (auto& a : p.theta) a *= 3;
  p.q_bias = rng.normals(H * R * N), p.k_bias = rng.normals(H * R * N), p.D = rng.normals(H);
  p.mimo_x = rng.normals(H * R * P), p.mimo_o = rng.normals(H * R * P), p.mimo_z = rng.normals(H * R * P);
  if (with_cache) {
    p.init_angle = rng.uniforms(B * H * S, 0.0, 30.0);  // the decode path need not reduce it
    p.init_ssm = rng.normals(B * H * P * N), p.init_k = rng.normals(B * R * H * N), p.init_v = rng.normals(B * H * P);
  }
  return p;
}

void expect_same_result(const Mamba3Result& got, const Mamba3Result& expected, const std::string& what) {
  const Tolerance tol{1e-5, 1e-6};
  compare(got.out, expected.out, tol, false, what + " out");
  compare(got.angle_state, expected.angle_state, tol, true, what + " angle_state");
  compare(got.ssm_state, expected.ssm_state, tol, false, what + " ssm_state");
  compare(got.k_state, expected.k_state, tol, false, what + " k_state");
  compare(got.v_state, expected.v_state, tol, false, what + " v_state");
}

constexpr std::uint64_t kSeed = 20261130;
constexpr int kTrials = 12;

TEST(Mamba3Properties, PrefillEqualsDecodeStepsFromTheSameCache) {
  SeededRandom rng(kSeed);
  for (int trial = 0; trial < kTrials; ++trial) {
    const Problem p = random_problem(rng, trial % 2 == 1);
    const std::string what = "trial " + std::to_string(trial);
    expect_same_result(mamba3_step_multistep(p.siso()), mamba3_scan(p.siso()), what + " siso");
    Problem m = random_problem(rng, trial % 2 == 0, 1 + trial % 3);
    if (trial % 3 == 0) m.norm_weight = rng.normals(std::size_t(m.heads * m.head_dim));
    expect_same_result(mamba3_mimo_step_multistep(m.mimo()), mamba3_mimo_scan(m.mimo()), what + " mimo");
  }
}

TEST(Mamba3Properties, PrefillSplitAnywhereResumesFromTheReturnedCache) {
  SeededRandom rng(kSeed + 1);
  for (int trial = 0; trial < kTrials; ++trial) {
    Problem p = random_problem(rng, trial % 2 == 1, 1 + trial % 2);
    if (p.length < 2) p = random_problem(rng, true, p.rank);
    if (p.length < 2) continue;
    const int cut = 1 + int(rng.next() % std::uint64_t(p.length - 1));
    const std::string what = "trial " + std::to_string(trial) + " cut " + std::to_string(cut);
    for (bool mimo : {false, true}) {
      if (!mimo && p.rank != 1) continue;
      auto run = [&](const Problem& x) { return mimo ? mamba3_mimo_scan(x.mimo()) : mamba3_scan(x.siso()); };
      const Mamba3Result whole = run(p);
      const Mamba3Result first = run(p.tokens(0, cut, {{}, p.init_angle, p.init_ssm, p.init_k, p.init_v}));
      const Mamba3Result second = run(p.tokens(cut, p.length, first));
      Mamba3Result joined = second;
      // Stitch the outputs [batch, length, heads, head_dim] back together.
      const std::size_t row = std::size_t(p.heads * p.head_dim);
      joined.out.clear();
      for (int b = 0; b < p.batch; ++b) {
        joined.out.insert(joined.out.end(), first.out.begin() + std::ptrdiff_t(b * cut * row),
                          first.out.begin() + std::ptrdiff_t((b + 1) * cut * row));
        const int rest = p.length - cut;
        joined.out.insert(joined.out.end(), second.out.begin() + std::ptrdiff_t(b * rest * row),
                          second.out.begin() + std::ptrdiff_t((b + 1) * rest * row));
      }
      expect_same_result(joined, whole, what + (mimo ? " mimo" : " siso"));
    }
  }
}

TEST(Mamba3Properties, AngleStateStaysInOneTurn) {
  SeededRandom rng(kSeed + 2);
  Problem p = random_problem(rng, true);
  p.angles = 1, p.state = 2, p.length = 24;
  const std::size_t B = p.batch, L = p.length, H = p.heads, P = p.head_dim, G = p.groups;
  p.q = rng.normals(B * L * G * 2), p.k = rng.normals(B * L * G * 2), p.q_bias = rng.normals(H * 2);
  p.k_bias = rng.normals(H * 2), p.theta.assign(B * L * H, 20.0f);  // tanh ~ 1: a half turn per unit of dt
  p.v = rng.normals(B * L * H * P), p.z = rng.normals(B * L * H * P);
  p.dt.assign(B * H * L, 3.0f), p.adt.assign(B * H * L, -0.3f), p.trap = rng.normals(B * H * L);
  p.init_angle = rng.uniforms(B * H, 0.0, 1000.0), p.init_ssm = rng.normals(B * H * P * 2);
  p.init_k = rng.normals(B * H * 2), p.init_v = rng.normals(B * H * P);
  const Mamba3Result r = mamba3_scan(p.siso());
  for (float a : r.angle_state) {
    EXPECT_GE(a, 0.0f);
    EXPECT_LT(a, float(kTwoPi));
  }
  // 24 steps of pi * tanh(20) * 3 = 72 pi (tanh(20) rounds to 1 in float32): whole turns.
  for (std::size_t i = 0; i < r.angle_state.size(); ++i) {
    const double expected = std::fmod(double(p.init_angle[i]), kTwoPi);
    double diff = r.angle_state[i] - expected;
    diff -= kTwoPi * std::round(diff / kTwoPi);
    EXPECT_LT(std::fabs(diff), 2e-4) << i;
  }
}

// SISO rotates interleaved pairs (2i, 2i+1), MIMO halved pairs (i, i + N/2): with the state
// dimension permuted (SISO dim 2i -> i, 2i+1 -> i + N/2) and unit projections, MIMO of rank 1
// is the SISO scan; with a norm weight it is the SISO scan followed by the gated RMSNorm
// (norm before gate), which is how the mixer applies is_outproj_norm to each form.
TEST(Mamba3Properties, MimoOfRankOneIsSisoWithTheStateDimPermuted) {
  SeededRandom rng(kSeed + 3);
  for (int trial = 0; trial < kTrials; ++trial) {
    const Problem p = random_problem(rng, trial % 2 == 0);
    const std::size_t N = p.state;
    auto permuted = [&](const std::vector<float>& x) {  // the last dimension is the state
      std::vector<float> y(x.size());
      for (std::size_t row = 0; row < x.size() / N; ++row)
        for (std::size_t j = 0; j < N; ++j) y[row * N + (j % 2 == 0 ? j / 2 : j / 2 + N / 2)] = x[row * N + j];
      return y;
    };
    Problem m = p;
    m.q = permuted(p.q), m.k = permuted(p.k), m.q_bias = permuted(p.q_bias), m.k_bias = permuted(p.k_bias);
    if (!p.init_k.empty()) m.init_k = permuted(p.init_k), m.init_ssm = permuted(p.init_ssm);
    const std::size_t HP = std::size_t(p.heads * p.head_dim);
    m.mimo_x.assign(HP, 1.0f), m.mimo_o.assign(HP, 1.0f), m.mimo_z.assign(HP, 1.0f);
    const bool norm = trial % 3 == 0;
    if (norm) m.norm_weight = rng.normals(HP);
    Problem s = p;
    if (norm) s.z.clear();  // the gate comes after the norm
    Mamba3Result siso = mamba3_scan(s.siso());
    if (norm)
      siso.out = gated_rmsnorm(p.batch * p.length, int(HP), p.head_dim, siso.out, p.z, m.norm_weight, 1e-5f, true);
    siso.ssm_state = permuted(siso.ssm_state), siso.k_state = permuted(siso.k_state);
    expect_same_result(mamba3_mimo_scan(m.mimo()), siso, "trial " + std::to_string(trial));
  }
}

// A mixer with random weights: prefill L tokens, then decode M more from its cache; the
// decode outputs and the final cache equal a prefill of all L + M tokens.
TEST(Mamba3Properties, MixerPrefillThenDecodeEqualsOneLongerPrefill) {
  SeededRandom rng(kSeed + 4);
  for (bool mimo : {false, true})
    for (bool outproj_norm : {false, true}) {
      Mamba3MixerArgs a;
      a.batch = 2, a.d_model = 12, a.heads = 4, a.head_dim = 6, a.groups = mimo ? 1 : 2, a.state = 8;
      a.rope_angles = mamba3_rope_angles(a.state, 0.5), a.rank = mimo ? 3 : 1, a.mimo = mimo;
      a.outproj_norm = outproj_norm;
      const std::size_t H = a.heads, P = a.head_dim, N = a.state, R = a.rank, DI = H * P, DM = a.d_model;
      const std::size_t in_size =
          std::size_t(mamba3_in_proj_size(a.heads, a.head_dim, a.groups, a.state, a.rope_angles, a.rank));
      auto scaled = [&](std::size_t n, double s) {
        std::vector<float> x = rng.normals(n);
        for (auto& v : x) v = float(v * s);
        return x;
      };
      const std::vector<float> in_proj = scaled(in_size * DM, 1 / std::sqrt(double(DM))),
                               out_proj = scaled(DM * DI, 1 / std::sqrt(double(DI))), B_norm = rng.normals(N),
                               C_norm = rng.normals(N), B_bias = rng.normals(H * R * N),
                               C_bias = rng.normals(H * R * N), D = rng.normals(H), dt_bias = scaled(H, 0.5),
                               mimo_x = rng.normals(H * R * P), mimo_o = rng.normals(H * R * P),
                               mimo_z = rng.normals(H * R * P), norm = rng.normals(DI);
      a.in_proj = in_proj, a.out_proj = out_proj, a.B_norm = B_norm, a.C_norm = C_norm, a.B_bias = B_bias;
      a.C_bias = C_bias, a.D = D, a.dt_bias = dt_bias;
      if (mimo) a.mimo_x = mimo_x, a.mimo_o = mimo_o, a.mimo_z = mimo_z;
      if (outproj_norm) a.norm = norm;
      const int L = 7, M = 4;
      const std::vector<float> u = rng.normals(std::size_t(a.batch * (L + M)) * DM);
      std::vector<float> u_prefix, u_suffix;
      for (int b = 0; b < a.batch; ++b) {
        const auto row = u.begin() + std::ptrdiff_t(std::size_t(b * (L + M)) * DM);
        u_prefix.insert(u_prefix.end(), row, row + std::ptrdiff_t(L * DM));
        u_suffix.insert(u_suffix.end(), row + std::ptrdiff_t(L * DM), row + std::ptrdiff_t((L + M) * DM));
      }
      Mamba3MixerArgs whole = a;
      whole.length = L + M, whole.u = u;
      const Mamba3Result all = mamba3_mixer(whole);
      Mamba3MixerArgs prefill = a;
      prefill.length = L, prefill.u = u_prefix;
      const Mamba3Result cache = mamba3_mixer(prefill);
      Mamba3MixerArgs decode = a;
      decode.length = M, decode.u = u_suffix, decode.decode = true;
      decode.init_angle_state = cache.angle_state, decode.init_ssm_state = cache.ssm_state;
      decode.init_k_state = cache.k_state, decode.init_v_state = cache.v_state;
      Mamba3Result steps = mamba3_mixer(decode);
      // Compare the decode outputs with the last M rows of the long prefill.
      Mamba3Result tail = all;
      tail.out.clear();
      for (int b = 0; b < a.batch; ++b) {
        const auto row = all.out.begin() + std::ptrdiff_t(std::size_t(b * (L + M)) * DM);
        tail.out.insert(tail.out.end(), row + std::ptrdiff_t(L * DM), row + std::ptrdiff_t((L + M) * DM));
      }
      expect_same_result(steps, tail,
                         std::string(mimo ? "mimo" : "siso") + (outproj_norm ? " outproj_norm" : " gated"));
      // The cache has the mixer layouts.
      EXPECT_EQ(steps.k_state.size(), std::size_t(a.batch) * R * H * N);
      EXPECT_EQ(steps.angle_state.size(), std::size_t(a.batch) * H * std::size_t(a.rope_angles));
    }
}

// A hand-worked step: one head, head_dim 1, state 2, one rotated pair.
TEST(Mamba3Step, MatchesAHandComputation) {
  const std::vector<float> q{1, 0}, k{0, 1}, v{2}, adt{-0.5f}, dt{0.5f}, trap{0}, angles{10};
  const std::vector<float> q_bias{0, 1}, k_bias{1, 0}, D{0.25f}, init_angle{1}, init_ssm{0.5f, -1};
  const std::vector<float> init_k{3, 4}, init_v{-1};
  Mamba3ScanArgs a;
  a.batch = 1, a.length = 1, a.heads = 1, a.head_dim = 1, a.state = 2, a.rope_angles = 1;
  a.q = q, a.k = k, a.v = v, a.adt = adt, a.dt = dt, a.trap = trap, a.angles = angles, a.q_bias = q_bias;
  a.k_bias = k_bias, a.D = D, a.init_angle_state = init_angle, a.init_ssm_state = init_ssm;
  a.init_k_state = init_k, a.init_v_state = init_v;
  const Mamba3Result r = mamba3_scan(a);
  const double theta = 1 + std::numbers::pi * std::tanh(10.0) * 0.5;
  const double c = std::cos(theta), s = std::sin(theta);
  // q + bias = (1, 1), k + bias = (1, 1): both rotate to (c - s, s + c).
  const double lam = 0.5, alpha = std::exp(-0.5), beta = (1 - lam) * 0.5 * alpha, gamma = lam * 0.5;
  const double h0 = alpha * 0.5 + beta * (-1) * 3 + gamma * 2 * (c - s);
  const double h1 = alpha * -1 + beta * (-1) * 4 + gamma * 2 * (s + c);
  const double y = h0 * (c - s) + h1 * (s + c) + 0.25 * 2;
  EXPECT_NEAR(r.out[0], y, 1e-5);
  EXPECT_NEAR(r.angle_state[0], std::fmod(theta, kTwoPi), 1e-6);
  EXPECT_NEAR(r.ssm_state[0], h0, 1e-6);
  EXPECT_NEAR(r.ssm_state[1], h1, 1e-6);
  EXPECT_NEAR(r.k_state[0], c - s, 1e-6);
  EXPECT_NEAR(r.k_state[1], s + c, 1e-6);
  EXPECT_EQ(r.v_state[0], 2);
}

// ---------------------------------------------------------------------------------------
// Rejected inputs: std::invalid_argument naming the tensor and what was expected.

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

TEST(Mamba3Errors, ZeroLengthAndMismatchedShapesNameTheTensor) {
  SeededRandom rng(kSeed + 5);
  Problem p = random_problem(rng, false);
  p.batch = 1, p.length = 2, p.heads = 2, p.groups = 1, p.head_dim = 3, p.state = 4, p.angles = 1;
  p.q = rng.normals(8), p.k = rng.normals(8), p.v = rng.normals(12), p.z = rng.normals(12);
  p.adt.assign(4, -0.1f), p.dt.assign(4, 0.1f), p.trap.assign(4, 0.0f), p.theta = rng.normals(4);
  p.q_bias = rng.normals(8), p.k_bias = rng.normals(8), p.D = rng.normals(2);
  EXPECT_NO_THROW(mamba3_scan(p.siso()));

  Problem empty = p;
  empty.length = 0;
  EXPECT_EQ(error_of([&] { mamba3_scan(empty.siso()); }), "length: expected at least 1, got 0");
  EXPECT_EQ(error_of([&] { mamba3_step_multistep(empty.siso()); }), "length: expected at least 1, got 0");

  Problem short_q = p;
  short_q.q.pop_back();
  EXPECT_EQ(error_of([&] { mamba3_scan(short_q.siso()); }),
            "q: expected 8 elements [batch 1, length 2, groups 1, state 4], got 7");
  Problem no_k = p;
  no_k.k.clear();
  EXPECT_EQ(error_of([&] { mamba3_scan(no_k.siso()); }),
            "k: expected 8 elements [batch 1, length 2, groups 1, state 4], got 0");
  Problem bad_cache = p;
  bad_cache.init_k = rng.normals(3);
  EXPECT_EQ(error_of([&] { mamba3_step_multistep(bad_cache.siso()); }),
            "init_k_state: expected 8 elements [batch 1, heads 2, state 4], got 3");
  Problem too_many_angles = p;
  too_many_angles.angles = 3;
  too_many_angles.theta = rng.normals(12);
  EXPECT_EQ(error_of([&] { mamba3_scan(too_many_angles.siso()); }),
            "rope_angles: expected 0..2 (pairs of a state of 4), got 3");
  Problem bad_groups = p;
  bad_groups.groups = 3;
  EXPECT_EQ(error_of([&] { mamba3_scan(bad_groups.siso()); }), "groups: 2 heads do not split into 3 groups");

  // MIMO: the rank index in q/k and the projections.
  Problem m = p;
  m.rank = 2, m.q = rng.normals(16), m.k = rng.normals(16), m.q_bias = rng.normals(16), m.k_bias = rng.normals(16);
  m.mimo_x = rng.normals(12), m.mimo_o = rng.normals(12), m.mimo_z = rng.normals(12);
  EXPECT_NO_THROW(mamba3_mimo_scan(m.mimo()));
  Problem siso_q = m;
  siso_q.q = p.q;
  EXPECT_EQ(error_of([&] { mamba3_mimo_scan(siso_q.mimo()); }),
            "q: expected 16 elements [batch 1, length 2, rank 2, groups 1, state 4], got 8");
  Problem no_mimo_z = m;
  no_mimo_z.mimo_z.clear();
  EXPECT_EQ(error_of([&] { mamba3_mimo_scan(no_mimo_z.mimo()); }),
            "mimo_z: required with z, expected 12 elements [heads 2, rank 2, head_dim 3]");
  Problem odd_state = m;
  odd_state.state = 3;
  EXPECT_EQ(error_of([&] { mamba3_mimo_scan(odd_state.mimo()); }),
            "state: the halved rotation needs an even state size, got 3");
}

TEST(Mamba3Errors, MixerNamesTheWeight) {
  const std::vector<float> u(2 * 4, 0.5f), in_proj(10, 0.0f);
  Mamba3MixerArgs a;
  a.batch = 1, a.length = 2, a.d_model = 4, a.heads = 2, a.head_dim = 2, a.state = 4, a.rope_angles = 1;
  a.u = u, a.in_proj = in_proj;
  // 2*4 (z, x) + 2*4 (B, C) + 3*2 + 1 = 23 outputs of 4 inputs.
  EXPECT_EQ(error_of([&] { mamba3_mixer(a); }),
            "in_proj.weight: expected 92 elements [in_proj outputs 23, d_model 4], got 10");
  a.length = 0;
  EXPECT_EQ(error_of([&] { mamba3_mixer(a); }), "length: expected at least 1, got 0");
  a.length = 2, a.rank = 2;
  EXPECT_EQ(error_of([&] { mamba3_mixer(a); }), "rank: a SISO mixer has rank 1, got 2");
}

}  // namespace
}  // namespace ssmsoc::golden
