// The golden kernels against the reference data made with the official implementations
// (tests/data/kernels, copied from the reference set; REFDATA-MANIFEST.md describes each
// file and the tolerances used here).
#include "kernels.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "safetensors.hpp"
#include "support.hpp"

namespace ssmsoc::golden {
namespace {

struct Case {
  SafetensorsFile file;
  std::map<std::string, std::string> flags;

  std::vector<float> in(const std::string& name) const {
    auto it = file.tensors.find(name);
    return it == file.tensors.end() ? std::vector<float>{} : it->second.to_f32();
  }
  std::int64_t dim(const std::string& tensor, std::size_t axis) const { return file.tensors.at(tensor).shape.at(axis); }
  bool flag(const std::string& name) const { return flags.at(name) == "1"; }
  float param(const std::string& name) const { return std::stof(flags.at(name)); }
};

Case load_case(const std::string& name) {
  Case c{read_safetensors("tests/data/kernels/" + name + ".safetensors"), {}};
  std::stringstream flags(c.file.metadata.at("flags"));
  std::string item;
  while (std::getline(flags, item, ','))
    if (auto eq = item.find('='); eq != std::string::npos) c.flags[item.substr(0, eq)] = item.substr(eq + 1);
  return c;
}

// max |actual - expected| <= atol + rtol * |expected|, reporting the first element that is not.
void expect_close(const std::vector<float>& actual, const std::vector<float>& expected, double rtol, double atol,
                  const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double bound = atol + rtol * std::fabs(expected[i]);
    ASSERT_LE(std::fabs(double(actual[i]) - expected[i]), bound)
        << what << "[" << i << "]: " << actual[i] << " vs " << expected[i];
  }
}

class KernelCase : public ::testing::TestWithParam<std::string> {};

Activation activation_of(const Case& c) {
  return c.flags.at("activation") == "silu" ? Activation::silu : Activation::none;
}

TEST_P(KernelCase, MatchesReference) {
  const Case c = load_case(GetParam());
  const std::string kernel = c.file.metadata.at("kernel");
  if (kernel == "causal_conv1d") {
    const int b = c.dim("x", 0), d = c.dim("x", 1), l = c.dim("x", 2), w = c.dim("weight", 1);
    const ConvResult r =
        causal_conv1d(b, d, l, w, c.in("x"), c.in("weight"), c.in("bias"), c.in("initial_states"), activation_of(c));
    expect_close(r.out, c.in("out"), 1e-5, 1e-6, "out");
    if (c.flag("return_final_states")) expect_close(r.conv_state, c.in("final_states"), 0, 0, "final_states");
  } else if (kernel == "causal_conv1d_update" || kernel == "causal_conv1d_update_multistep") {
    const bool multi = kernel == "causal_conv1d_update_multistep";
    const std::string state = multi ? "conv_state0" : "conv_state";
    const int b = c.dim("x", 0), d = c.dim("x", 1), t = multi ? c.dim("x", 2) : 1;
    const ConvResult r = causal_conv1d_update(b, d, t, c.dim("weight", 1), c.dim(state, 2), c.in("x"), c.in(state),
                                              c.in("weight"), c.in("bias"), activation_of(c));
    expect_close(r.out, c.in("out"), 1e-5, 1e-6, "out");
    expect_close(r.conv_state, c.in(multi ? "final_conv_state" : "new_conv_state"), 0, 0, "conv_state");
  } else if (kernel == "rmsnorm") {
    const int n = c.dim("weight", 0);
    const auto x = c.in("x");
    expect_close(rmsnorm(x.size() / n, n, x, c.in("weight"), c.param("eps")), c.in("out"), 1e-5, 1e-6, "out");
  } else if (kernel == "gated_rmsnorm") {
    const int n = c.dim("weight", 0);
    const auto x = c.in("x");
    expect_close(gated_rmsnorm(x.size() / n, n, std::stoi(c.flags.at("group_size")), x, c.in("z"), c.in("weight"),
                               c.param("eps"), c.flag("norm_before_gate")),
                 c.in("out"), 1e-5, 1e-6, "out");
  } else if (kernel == "selective_scan") {
    SelectiveScanArgs a;
    a.batch = c.dim("u", 0), a.dim = c.dim("u", 1), a.length = c.dim("u", 2), a.state = c.dim("A", 1);
    a.groups = 1;
    const auto u = c.in("u"), delta = c.in("delta"), A = c.in("A"), B = c.in("B"), C = c.in("C"), D = c.in("D"),
               z = c.in("z"), bias = c.in("delta_bias");
    a.u = u, a.delta = delta, a.A = A, a.B = B, a.C = C, a.D = D, a.z = z, a.delta_bias = bias;
    a.delta_softplus = c.flag("delta_softplus");
    const ScanResult r = selective_scan(a);
    expect_close(r.out, c.in("out"), 1e-4, 1e-5, "out");
    expect_close(r.state, c.in("last_state"), 1e-4, 1e-5, "last_state");
  } else if (kernel == "selective_state_update") {
    StateUpdateArgs a;
    a.batch = c.dim("x", 0), a.dim = c.dim("x", 1), a.state = c.dim("A", 1);
    const auto state = c.in("state"), x = c.in("x"), dt = c.in("dt"), A = c.in("A"), B = c.in("B"), C = c.in("C"),
               D = c.in("D"), z = c.in("z"), bias = c.in("dt_bias");
    a.state_in = state, a.x = x, a.dt = dt, a.A = A, a.B = B, a.C = C, a.D = D, a.z = z, a.dt_bias = bias;
    a.dt_softplus = c.flag("dt_softplus");
    const ScanResult r = selective_state_update(a);
    expect_close(r.out, c.in("out"), 1e-5, 5e-6, "out");
    expect_close(r.state, c.in("new_state"), 1e-5, 5e-6, "new_state");
  } else if (kernel == "selective_state_update_mh") {
    MultiHeadStateUpdateArgs a;
    a.batch = c.dim("x", 0), a.heads = c.dim("x", 1), a.head_dim = c.dim("x", 2), a.state = c.dim("state", 3);
    a.groups = c.dim("B", 1);
    const auto state = c.in("state"), x = c.in("x"), dt = c.in("dt"), A = c.in("A"), B = c.in("B"), C = c.in("C"),
               D = c.in("D"), z = c.in("z"), bias = c.in("dt_bias");
    a.state_in = state, a.x = x, a.dt = dt, a.A = A, a.B = B, a.C = C, a.D = D, a.z = z, a.dt_bias = bias;
    a.dt_softplus = c.flag("dt_softplus");
    const ScanResult r = selective_state_update_multihead(a);
    expect_close(r.out, c.in("out"), 1e-5, 5e-6, "out");
    expect_close(r.state, c.in("new_state"), 1e-5, 5e-6, "new_state");
  } else if (kernel == "selective_state_update_multistep") {
    // L decode steps, one state update each, equal the scan over L.
    const int b = c.dim("u", 0), d = c.dim("u", 1), l = c.dim("u", 2), n = c.dim("A", 1);
    const auto u = c.in("u"), delta = c.in("delta"), A = c.in("A"), B = c.in("B"), C = c.in("C"), D = c.in("D"),
               z = c.in("z"), bias = c.in("delta_bias");
    std::vector<float> state = c.in("state0"), out(u.size());
    for (int t = 0; t < l; ++t) {
      auto column = [&](const std::vector<float>& v) {  // [.., rows, L] -> [.., rows] at step t
        std::vector<float> s(v.size() / l);
        for (std::size_t i = 0; i < s.size(); ++i) s[i] = v[i * l + t];
        return s;
      };
      const auto xt = column(u), dtt = column(delta), zt = column(z), Bt = column(B), Ct = column(C);
      StateUpdateArgs a;
      a.batch = b, a.dim = d, a.state = n;
      a.state_in = state, a.x = xt, a.dt = dtt, a.A = A, a.B = Bt, a.C = Ct, a.D = D, a.z = zt, a.dt_bias = bias;
      a.dt_softplus = c.flag("dt_softplus");
      ScanResult r = selective_state_update(a);
      state = std::move(r.state);
      for (std::size_t i = 0; i < r.out.size(); ++i) out[i * l + t] = r.out[i];
    }
    expect_close(out, c.in("out"), 1e-4, 1e-5, "out");
    expect_close(state, c.in("last_state"), 1e-4, 1e-5, "last_state");
  } else if (kernel == "ssd" || kernel == "ssd_decode_multistep") {
    SsdArgs a;
    a.batch = c.dim("x", 0), a.length = c.dim("x", 1), a.heads = c.dim("x", 2), a.head_dim = c.dim("x", 3);
    a.groups = c.dim("B", 2), a.state = c.dim("B", 3);
    const auto x = c.in("x"), dt = c.in("dt"), A = c.in("A"), B = c.in("B"), C = c.in("C"), D = c.in("D"),
               init = c.in("initial_states");
    a.x = x, a.dt = dt, a.A = A, a.B = B, a.C = C, a.D = D, a.initial_state = init;
    const double rtol = a.length > 100 ? 2e-4 : 1e-4, atol = a.length > 100 ? 5e-5 : 1e-5;
    const ScanResult sequential = ssd_sequential(a);
    expect_close(sequential.out, c.in("y"), rtol, atol, "y (sequential)");
    expect_close(sequential.state, c.in("final_state"), rtol, atol, "final_state (sequential)");
    if (kernel == "ssd") {
      // The chunked algorithm at the file's chunk size and at others (the result does not
      // depend on it), including chunks that do not divide the length.
      for (int chunk : {std::stoi(c.flags.at("chunk_size")), 1, 3, 5, 64}) {
        const ScanResult chunked = ssd_chunked(a, chunk);
        const std::string label = " (chunk " + std::to_string(chunk) + ")";
        expect_close(chunked.out, c.in("y"), rtol, atol, "y" + label);
        expect_close(chunked.state, c.in("final_state"), rtol, atol, "final_state" + label);
      }
      expect_close(sequential.out, c.in("y_sequential"), rtol, atol, "y_sequential");
    } else {
      // Decode: one multi-head state update per step gives the same as the recurrence.
      std::vector<float> state = init, y(x.size());
      const std::size_t h = a.heads, p = a.head_dim, g = a.groups, n = a.state, l = a.length;
      for (std::size_t t = 0; t < l; ++t) {
        std::vector<float> xt, dtt, Bt, Ct;
        for (std::size_t b = 0; b < std::size_t(a.batch); ++b) {
          const std::size_t row = b * l + t;
          xt.insert(xt.end(), x.begin() + row * h * p, x.begin() + (row + 1) * h * p);
          dtt.insert(dtt.end(), dt.begin() + row * h, dt.begin() + (row + 1) * h);
          Bt.insert(Bt.end(), B.begin() + row * g * n, B.begin() + (row + 1) * g * n);
          Ct.insert(Ct.end(), C.begin() + row * g * n, C.begin() + (row + 1) * g * n);
        }
        MultiHeadStateUpdateArgs u;
        u.batch = a.batch, u.heads = a.heads, u.head_dim = a.head_dim, u.state = a.state, u.groups = a.groups;
        u.state_in = state, u.x = xt, u.dt = dtt, u.A = A, u.B = Bt, u.C = Ct, u.D = D;
        ScanResult step = selective_state_update_multihead(u);
        state = std::move(step.state);
        for (std::size_t b = 0; b < std::size_t(a.batch); ++b)
          std::copy_n(&step.out[b * h * p], h * p, &y[(b * l + t) * h * p]);
      }
      expect_close(y, c.in("y"), rtol, atol, "y (decode steps)");
      expect_close(state, c.in("final_state"), rtol, atol, "final_state (decode steps)");
    }
  } else {
    FAIL() << "no golden kernel for " << kernel;
  }
}

// Every reference kernel file has its golden kernel.
std::vector<std::string> reference_cases() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator("tests/data/kernels"))
    if (entry.path().extension() == ".safetensors") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(Reference, KernelCase, ::testing::ValuesIn(reference_cases()), test::param_name);

TEST(KernelCases, AllReferenceFilesArePresent) { EXPECT_EQ(reference_cases().size(), 21u); }

TEST(GoldenActivations, SoftplusPassesThroughAboveTwenty) {
  EXPECT_EQ(softplus(20.5f), 20.5f);
  EXPECT_FLOAT_EQ(softplus(0.0f), std::log(2.0f));
  EXPECT_FLOAT_EQ(silu(1.0f), 1.0f / (1.0f + std::exp(-1.0f)));
}

TEST(GoldenLinear, MatchesAHandComputation) {
  // x [2, 3] · Wᵀ with W [2, 3], plus bias.
  const std::vector<float> x{1, 2, 3, -1, 0, 2}, w{1, 0, -1, 2, 1, 0}, bias{0.5f, -1};
  EXPECT_EQ(linear(2, 3, 2, x, w, bias), (std::vector<float>{-1.5f, 3, -2.5f, -3}));
  EXPECT_EQ(linear(2, 3, 2, x, w, {}), (std::vector<float>{-2, 4, -3, -2}));
}

TEST(GoldenRope, RotatesPairsByPositionTimesFrequency) {
  // head_dim 4, rotary_dim 4, theta 100: inv_freq = {1, 100^-0.5 = 0.1}.
  std::vector<float> x{1, 2, 3, 4, 1, 2, 3, 4};
  const std::vector<std::int64_t> positions{0, 2};
  apply_rope(x, 2, 1, 4, 4, 100.0f, positions);
  EXPECT_EQ(std::vector<float>(x.begin(), x.begin() + 4), (std::vector<float>{1, 2, 3, 4}));  // position 0
  // Position 2: pair (x0, x2) rotates by 2 rad, pair (x1, x3) by 0.2 rad.
  EXPECT_FLOAT_EQ(x[4], 1 * std::cos(2.0f) - 3 * std::sin(2.0f));
  EXPECT_FLOAT_EQ(x[6], 3 * std::cos(2.0f) + 1 * std::sin(2.0f));
  EXPECT_FLOAT_EQ(x[5], 2 * std::cos(0.2f) - 4 * std::sin(0.2f));
  EXPECT_FLOAT_EQ(x[7], 4 * std::cos(0.2f) + 2 * std::sin(0.2f));
}

TEST(GoldenRope, PartialRotaryLeavesTheTailAlone) {
  std::vector<float> x{1, 2, 3, 4};
  const std::vector<std::int64_t> positions{5};
  apply_rope(x, 1, 1, 4, 2, 10000.0f, positions);
  EXPECT_FLOAT_EQ(x[0], std::cos(5.0f) - 2 * std::sin(5.0f));
  EXPECT_FLOAT_EQ(x[1], 2 * std::cos(5.0f) + std::sin(5.0f));
  EXPECT_EQ(x[2], 3);
  EXPECT_EQ(x[3], 4);
}

TEST(GoldenAttention, FirstTokenSeesOnlyItselfAndGroupsShareKvHeads) {
  // 4 query heads over 2 kv heads, head_dim 2.
  KvCache cache(2, 2);
  const std::vector<float> k0{1, 0, 0, 1}, v0{10, 20, 30, 40};
  cache.append(1, k0, v0);
  const std::vector<float> q(4 * 2, 1.0f);
  const auto out = causal_attention(q, 1, 4, cache, 1.0f);
  EXPECT_EQ(out, (std::vector<float>{10, 20, 10, 20, 30, 40, 30, 40}));
}

TEST(GoldenAttention, SoftmaxWeightsFollowScoresAndCausality) {
  KvCache cache(1, 1);
  const std::vector<float> k{0, 1, 2}, v{1, 2, 4};
  cache.append(3, k, v);
  // Queries for positions 1 and 2 (the last two); q = 1, scale 1: scores = k.
  const std::vector<float> q{1, 1};
  const auto out = causal_attention(q, 2, 1, cache, 1.0f);
  const float e0 = 1, e1 = std::exp(1.0f), e2 = std::exp(2.0f);
  EXPECT_FLOAT_EQ(out[0], (1 * e0 + 2 * e1) / (e0 + e1));                // position 1 sees 0..1
  EXPECT_FLOAT_EQ(out[1], (1 * e0 + 2 * e1 + 4 * e2) / (e0 + e1 + e2));  // position 2 sees 0..2
  // Decode: appending one position and querying it equals the prefill row.
  KvCache step(1, 1);
  step.append(2, std::vector<float>{0, 1}, std::vector<float>{1, 2});
  step.append(1, std::vector<float>{2}, std::vector<float>{4});
  EXPECT_FLOAT_EQ(causal_attention(std::vector<float>{1}, 1, 1, step, 1.0f)[0], out[1]);
}

TEST(GoldenRouting, SoftmaxThenTopK) {
  const std::vector<float> logits{0, 2, 1, 2};  // experts 1 and 3 tie: lower index first
  const auto routes = route_topk(1, 4, 2, logits, Routing::softmax_topk, false);
  EXPECT_EQ(routes[0].experts, (std::vector<int>{1, 3}));
  const float total = 1 + 2 * std::exp(2.0f) + std::exp(1.0f);
  EXPECT_FLOAT_EQ(routes[0].weights[0], std::exp(2.0f) / total);
  const auto normalized = route_topk(1, 4, 2, logits, Routing::softmax_topk, true);
  EXPECT_FLOAT_EQ(normalized[0].weights[0], 0.5f);
}

TEST(GoldenRouting, TopKThenSoftmaxAndSigmoidWithBias) {
  const std::vector<float> logits{3, 1, 2, 0};
  const auto routes = route_topk(1, 4, 2, logits, Routing::topk_softmax, false);
  EXPECT_EQ(routes[0].experts, (std::vector<int>{0, 2}));
  EXPECT_FLOAT_EQ(routes[0].weights[0], 1 / (1 + std::exp(-1.0f)));
  // The correction bias changes which experts are chosen, not their weights.
  const std::vector<float> bias{0, 5, 0, 0};
  const auto sig = route_topk(1, 4, 2, logits, Routing::sigmoid_topk, true, bias, 2.0f);
  EXPECT_EQ(sig[0].experts, (std::vector<int>{1, 0}));
  const float s1 = 1 / (1 + std::exp(-1.0f)), s0 = 1 / (1 + std::exp(-3.0f));
  EXPECT_FLOAT_EQ(sig[0].weights[0], 2 * s1 / (s1 + s0));
}

TEST(GoldenKernels, RejectMismatchedShapes) {
  const std::vector<float> x(10), w(3);
  EXPECT_THROW(rmsnorm(2, 4, x, w, 1e-5f), std::invalid_argument);
  EXPECT_THROW(gated_rmsnorm(2, 5, 2, x, {}, std::vector<float>(5), 1e-5f, false), std::invalid_argument);
}

}  // namespace
}  // namespace ssmsoc::golden
