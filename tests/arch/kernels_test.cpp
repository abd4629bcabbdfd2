// The golden kernels against the reference data made with the official implementations
// (tests/data/kernels, copied from the reference set; REFDATA-MANIFEST.md describes each
// file and the tolerances used here).
#include "kernels.hpp"

#include <gtest/gtest.h>

#include <cmath>
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
  } else {
    FAIL() << "no golden kernel for " << kernel;
  }
}

INSTANTIATE_TEST_SUITE_P(Reference, KernelCase,
                         ::testing::Values("causal_conv1d_nobias_init", "causal_conv1d_none", "causal_conv1d_silu",
                                           "causal_conv1d_update_hf_state", "causal_conv1d_update_multistep",
                                           "causal_conv1d_update_state_wm1", "gated_rmsnorm", "gated_rmsnorm_groups",
                                           "gated_rmsnorm_norm_before_gate", "rmsnorm", "selective_scan_full",
                                           "selective_scan_n1", "selective_scan_plain", "selective_state_update_full",
                                           "selective_state_update_mh", "selective_state_update_multistep",
                                           "selective_state_update_plain"),
                         test::param_name);

TEST(GoldenActivations, SoftplusPassesThroughAboveTwenty) {
  EXPECT_EQ(softplus(20.5f), 20.5f);
  EXPECT_FLOAT_EQ(softplus(0.0f), std::log(2.0f));
  EXPECT_FLOAT_EQ(silu(1.0f), 1.0f / (1.0f + std::exp(-1.0f)));
}

TEST(GoldenKernels, RejectMismatchedShapes) {
  const std::vector<float> x(10), w(3);
  EXPECT_THROW(rmsnorm(2, 4, x, w, 1e-5f), std::invalid_argument);
  EXPECT_THROW(gated_rmsnorm(2, 5, 2, x, {}, std::vector<float>(5), 1e-5f, false), std::invalid_argument);
}

}  // namespace
}  // namespace ssmsoc::golden
