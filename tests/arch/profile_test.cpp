#include "arch/spec/profile.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "arch/spec/profile_json.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

const fs::path kGoodDir = fs::absolute("tests/data/profiles/good");

// Writes a profile into the test's temporary directory and returns its path.
fs::path write_profile(const std::string& name, const std::string& text) {
  return test::write_file(name + ".yaml", text);
}

std::string tiny_variant(const std::string& overrides) {
  return "base: " + (kGoodDir / "tiny.yaml").string() + "\ndescription: variant\n" + overrides + "\n";
}

const PrecisionFigures& matrix_figures(const ProfileFigures& f, Precision p) {
  for (const auto& m : f.matrix)
    if (m.precision == p) return m;
  throw std::out_of_range("precision not in the profile");
}

TEST(ProfileLoading, ReadsEveryFieldOfTheTinyProfile) {
  const Profile p = load_profile((kGoodDir / "tiny.yaml").string());
  EXPECT_EQ(p.name, "tiny");
  EXPECT_TRUE(p.bases.empty());
  EXPECT_EQ(p.family, Family::scan_accelerator);
  EXPECT_EQ(p.clock_mhz, 800);
  EXPECT_EQ(p.control.queue_depth, 4);
  EXPECT_EQ(p.tile_count, 6);
  EXPECT_EQ(p.grid_rows, 2);
  EXPECT_EQ(p.grid_cols, 3);
  EXPECT_EQ(p.noc.topology, Topology::torus);
  EXPECT_EQ(p.tile.matrix.dataflow, Dataflow::output_stationary);
  EXPECT_EQ(p.tile.matrix.macs_per_cycle.at(Precision::int8), 128);
  EXPECT_EQ(p.tile.matrix.macs_per_cycle.at(Precision::bf16), 64);
  EXPECT_EQ(p.tile.matrix.macs_per_cycle.size(), 2u);
  const ScanUnit& s = p.tile.scan;
  EXPECT_TRUE(s.present);
  EXPECT_EQ(s.lanes, 4);
  EXPECT_EQ(s.max_state, 16);
  EXPECT_EQ(s.pipeline_depth, 3);
  EXPECT_TRUE(s.supports(ScanMode::mamba1));
  EXPECT_FALSE(s.supports(ScanMode::mamba2));
  EXPECT_EQ(s.data_format.type, NumberType::fixed);
  EXPECT_EQ(s.data_format.total_bits(), 16);
  EXPECT_EQ(s.state_format.total_bits(), 28);
  EXPECT_EQ(s.exp_approx.method, ApproxMethod::piecewise_linear);
  EXPECT_EQ(s.exp_approx.segments, 8);
  EXPECT_TRUE(s.fuses(FusedOp::delta_softplus));
  EXPECT_FALSE(s.fuses(FusedOp::d_skip));
  ASSERT_TRUE(s.silu_approx.has_value());
  EXPECT_EQ(s.silu_approx->method, ApproxMethod::exact);
  EXPECT_EQ(p.tile.vector[VectorFunction::convert].cycles_per_element, 0.5);
  EXPECT_EQ(p.tile.vector[VectorFunction::gelu].latency_cycles, 16);
  EXPECT_EQ(p.tile.sram.size_bytes, 64 * 1024);
  EXPECT_EQ(p.global_buffer.size_bytes, 256 * 1024);
  EXPECT_EQ(p.dram.capacity_bytes, std::int64_t{1} << 30);
  EXPECT_EQ(p.dram.technology, DramTechnology::lpddr4x);
  EXPECT_EQ(p.energy.mac_pj.at(Precision::bf16).value, 0.5);
  EXPECT_EQ(p.energy.mac_pj.at(Precision::bf16).source, "test");
  EXPECT_EQ(p.sources.at("test"), "figures made up for tests");
}

TEST(ProfileFigures, MatchHandComputationsForTheTinyProfile) {
  const ProfileFigures f = derive_figures(load_profile((kGoodDir / "tiny.yaml").string()));
  EXPECT_DOUBLE_EQ(f.clock_hz, 800e6);
  // int8: 6 tiles x 128 MAC/cycle x 800 MHz; DRAM 12.8 GB/s.
  const auto& int8 = matrix_figures(f, Precision::int8);
  EXPECT_DOUBLE_EQ(int8.peak_macs_per_s, 6.144e11);
  EXPECT_DOUBLE_EQ(int8.peak_flop_per_s, 1.2288e12);
  EXPECT_DOUBLE_EQ(int8.ridge_flop_per_byte, 96);
  EXPECT_DOUBLE_EQ(int8.matrix_power_at_peak_w, 0.06144);  // x 0.1 pJ
  const auto& bf16 = matrix_figures(f, Precision::bf16);
  EXPECT_DOUBLE_EQ(bf16.peak_macs_per_s, 3.072e11);
  EXPECT_DOUBLE_EQ(bf16.ridge_flop_per_byte, 48);
  EXPECT_DOUBLE_EQ(bf16.matrix_power_at_peak_w, 0.1536);    // x 0.5 pJ
  EXPECT_DOUBLE_EQ(f.peak_scan_steps_per_s, 1.92e10);       // 6 x 4 lanes x 800 MHz
  EXPECT_DOUBLE_EQ(f.peak_vector_ops_per_s, 3.84e10);       // 6 x 8 lanes x 800 MHz
  EXPECT_DOUBLE_EQ(f.tile_sram_bytes_per_s, 1.536e11);      // 6 x 4 banks x 8 B x 800 MHz
  EXPECT_DOUBLE_EQ(f.global_buffer_bytes_per_s, 1.024e11);  // 8 banks x 16 B x 800 MHz
  EXPECT_DOUBLE_EQ(f.dram_bytes_per_s, 12.8e9);
  // 2x3 torus: 2 x min(2, 3) = 4 links cut, 2 directions, 16 B, 800 MHz.
  EXPECT_DOUBLE_EQ(f.noc_bisection_bytes_per_s, 1.024e11);
  EXPECT_EQ(f.total_sram_bytes, 6 * 65536 + 262144);
  EXPECT_DOUBLE_EQ(f.idle_power_w, 0.05);
  // 6 x (0.1 + 0.05 + 0.02 + 0.1 + 0.01) + 0.3 + 0.05 + 0.5
  EXPECT_NEAR(f.total_area_mm2, 2.53, 1e-12);
}

TEST(ProfileFigures, BisectionFollowsTheTopology) {
  struct Case {
    const char* topology;
    double links_cut;
  };
  // 2x3 grid of 6 tiles: mesh min(2,3) = 2, ring 2, crossbar 6/2 = 3, bus one shared medium.
  for (const Case c : {Case{"mesh", 2}, Case{"ring", 2}, Case{"crossbar", 3}, Case{"bus", 0.5}}) {
    const fs::path file = write_profile(std::string("bisection-") + c.topology,
                                        tiny_variant(std::string("noc: {topology: ") + c.topology + "}"));
    const ProfileFigures f = derive_figures(load_profile(file.string()));
    EXPECT_DOUBLE_EQ(f.noc_bisection_bytes_per_s, 2 * c.links_cut * 16 * 800e6) << c.topology;
  }
  const fs::path single =
      write_profile("bisection-single", tiny_variant("tiles: {count: 1, grid: {rows: 1, cols: 1}}"));
  EXPECT_EQ(derive_figures(load_profile(single.string())).noc_bisection_bytes_per_s, 0);
}

TEST(ProfileInheritance, VariantOverridesOneKeyAndKeepsTheRest) {
  const Profile base = load_profile((kGoodDir / "tiny.yaml").string());
  const Profile variant = load_profile((kGoodDir / "tiny-lanes16.yaml").string());
  EXPECT_EQ(variant.name, "tiny-lanes16");
  EXPECT_EQ(variant.bases, std::vector<std::string>{"tiny"});
  EXPECT_EQ(variant.description, "tiny with 16 scan lanes");
  EXPECT_EQ(variant.tile.scan.lanes, 16);
  Profile expected = base;
  expected.tile.scan.lanes = 16;
  expected.description = variant.description;
  EXPECT_EQ(profile_to_json(variant), profile_to_json(expected));
}

TEST(ProfileInheritance, TwoLevelsReplaceListsAndNullRemovesAKey) {
  const Profile p = load_profile((kGoodDir / "tiny-no-gate.yaml").string());
  EXPECT_EQ(p.bases, (std::vector<std::string>{"tiny-lanes16", "tiny"}));
  EXPECT_EQ(p.tile.scan.lanes, 16);           // from the middle profile
  EXPECT_EQ(p.tile.scan.max_state, 16);       // from the root
  EXPECT_EQ(p.noc.topology, Topology::mesh);  // overridden...
  EXPECT_EQ(p.noc.link_bytes_per_cycle, 16);  // ...next to an inherited key
  EXPECT_EQ(p.tile.scan.fused_ops, (std::vector<FusedOp>{FusedOp::delta_softplus, FusedOp::d_skip}));
  EXPECT_FALSE(p.tile.scan.silu_approx.has_value());     // removed with null
  EXPECT_TRUE(p.tile.scan.softplus_approx.has_value());  // kept
  EXPECT_EQ(p.energy.dram_byte_pj.value, 35);
  EXPECT_EQ(p.energy.dram_byte_pj.source, "other");
}

TEST(ProfileInheritance, ReplaceTagDropsTheBaseMappingWhole) {
  const Profile p = load_profile((kGoodDir / "tiny-gpu.yaml").string());
  EXPECT_EQ(p.family, Family::gpu);
  EXPECT_FALSE(p.tile.scan.present);
  EXPECT_FALSE(p.energy.scan_step_pj.has_value());
  EXPECT_FALSE(p.area.scan_unit.has_value());
  const ProfileFigures f = derive_figures(p);
  EXPECT_EQ(f.peak_scan_steps_per_s, 0);
  EXPECT_NEAR(f.total_area_mm2, 2.53 - 6 * 0.05, 1e-12);
}

TEST(ProfileInheritance, DescriptionIsNotInherited) {
  const fs::path file =
      write_profile("no-description", "base: " + (kGoodDir / "tiny.yaml").string() + "\nclock_mhz: 900\n");
  EXPECT_THROW(load_profile(file.string()), ConfigError);
}

TEST(ProfileInheritance, ShippedBaseIsFoundByName) {
  const fs::path file =
      write_profile("mobile-lanes64", "base: krsna-mobile\ndescription: more lanes\ntile: {scan: {lanes: 64}}\n");
  const Profile p = load_profile(file.string());
  EXPECT_EQ(p.bases, std::vector<std::string>{"krsna-mobile"});
  EXPECT_EQ(p.tile.scan.lanes, 64);
  EXPECT_DOUBLE_EQ(derive_figures(p).peak_scan_steps_per_s,
                   2 * derive_figures(load_profile("krsna-mobile")).peak_scan_steps_per_s);
}

TEST(ProfileValues, SizesTakeBinaryUnitsAndFractions) {
  const fs::path file = write_profile("sizes", tiny_variant("tile: {sram: {size_bytes: 1.5 MiB, banks: 2}}\n"
                                                            "dram: {capacity_bytes: 3221225472}"));
  const Profile p = load_profile(file.string());
  EXPECT_EQ(p.tile.sram.size_bytes, 1536 * 1024);
  EXPECT_EQ(p.dram.capacity_bytes, 3 * (std::int64_t{1} << 30));
}

TEST(ProfileValues, QuotedStringsAreNotNumbersButDescriptionsMayBeQuoted) {
  const fs::path ok = write_profile("quoted-ok", tiny_variant("sources: {test: \"42\"}"));
  EXPECT_EQ(load_profile(ok.string()).sources.at("test"), "42");
  const fs::path bad = write_profile("quoted-bad", tiny_variant("tile: {scan: {lanes: !!str 8}}"));
  EXPECT_THROW(load_profile(bad.string()), ConfigError);
}

TEST(ProfileLookup, UnknownNameSuggestsTheNearestShippedProfile) {
  try {
    load_profile("krsna-mobil");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'krsna-mobile'?"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_profile("no/such/file.yaml"), ConfigError);
}

TEST(ProfileLookup, ProfileDirectoryCanBeOverridden) {
  ASSERT_EQ(setenv("SSMSOC_PROFILE_DIR", kGoodDir.c_str(), 1), 0);
  const Profile p = load_profile("tiny-lanes16");
  std::vector<std::string> names;
  for (const auto& f : shipped_profile_files()) names.push_back(f.stem().string());
  unsetenv("SSMSOC_PROFILE_DIR");
  EXPECT_EQ(p.tile.scan.lanes, 16);
  EXPECT_EQ(names, (std::vector<std::string>{"tiny", "tiny-gpu", "tiny-lanes16", "tiny-no-gate"}));
}

// The shipped profiles.

std::vector<std::string> shipped_names() {
  std::vector<std::string> names;
  for (const auto& f : shipped_profile_files()) names.push_back(f.stem().string());
  return names;
}

TEST(ShippedProfiles, AllRequiredChipsAreShipped) {
  const auto names = shipped_names();
  for (const char* name : {"krsna-wear", "krsna-mobile", "krsna-dc", "h100-class", "mi300-class", "xeon-amx-class",
                           "cortex-a-neon-class", "hexagon-npu-class"})
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
}

class ShippedProfile : public ::testing::TestWithParam<std::string> {};

TEST_P(ShippedProfile, LoadsWithConsistentFigures) {
  const Profile p = load_profile(GetParam());
  const ProfileFigures f = derive_figures(p);
  EXPECT_FALSE(p.description.empty());
  EXPECT_EQ(p.tile.scan.present, p.family == Family::scan_accelerator) << "native scan exactly on accelerators";
  for (const auto& m : f.matrix) {
    EXPECT_GT(m.peak_macs_per_s, 0);
    // The matrix array alone at full rate must fit within the chip's power budget, but for a
    // GPU whose energies are all-in measurements: an H100's tensor cores at full clock exceed
    // its 700 W (a dense bf16 GEMM runs at 1.38 GHz there, measured; h100-class's sources).
    if (!p.kernels) {
      EXPECT_LT(m.matrix_power_at_peak_w, p.power_budget_w) << name_of(m.precision);
    }
  }
  EXPECT_GT(f.dram_bytes_per_s, 0);
  EXPECT_GT(f.total_area_mm2, 0);
  EXPECT_LT(f.idle_power_w, p.power_budget_w);
}

TEST_P(ShippedProfile, JsonIsALoadableProfileThatRoundTrips) {
  const Profile p = load_profile(GetParam());
  const nlohmann::ordered_json json = profile_to_json(p);
  const fs::path copy = write_profile(GetParam() + "-roundtrip", json.dump(2));
  EXPECT_EQ(profile_to_json(load_profile(copy.string())), json);
}

INSTANTIATE_TEST_SUITE_P(All, ShippedProfile, ::testing::ValuesIn(shipped_names()), test::param_name);

// The published designs (arch/profiles/published): loadable by name, not among the shipped
// ones, and their JSON keeps what only they use (the state's storage, the units in memory).
class PublishedProfile : public ::testing::TestWithParam<std::string> {};

std::vector<std::string> published_names() {
  std::vector<std::string> names;
  for (const auto& f : published_profile_files()) names.push_back(f.stem().string());
  return names;
}

TEST_P(PublishedProfile, LoadsByNameAndItsJsonRoundTripsEveryField) {
  const Profile p = load_profile(GetParam());
  EXPECT_EQ(p.file.parent_path().filename(), "published");
  for (const auto& shipped : shipped_names()) EXPECT_NE(shipped, GetParam());
  const nlohmann::ordered_json json = profile_to_json(p);
  const Profile copy = load_profile(write_profile(GetParam() + "-roundtrip", json.dump(2)).string());
  EXPECT_EQ(profile_to_json(copy), json);
  EXPECT_EQ(copy.tile.scan.state_storage, p.tile.scan.state_storage);
  EXPECT_EQ(copy.kernels.has_value(), p.kernels.has_value());
  if (p.kernels) {
    EXPECT_EQ(copy.kernels->state_bits, p.kernels->state_bits);
    EXPECT_EQ(copy.kernels->prompt_pass_tokens, p.kernels->prompt_pass_tokens);
    ASSERT_EQ(copy.kernels->pim.has_value(), p.kernels->pim.has_value());
    if (p.kernels->pim) {
      EXPECT_EQ(copy.kernels->pim->units, p.kernels->pim->units);
      EXPECT_EQ(copy.kernels->pim->efficiency.value, p.kernels->pim->efficiency.value);
      EXPECT_EQ(copy.kernels->pim->state_bits, p.kernels->pim->state_bits);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, PublishedProfile, ::testing::ValuesIn(published_names()), test::param_name);

TEST(PublishedProfiles, TheFourDesignsAreThere) {
  EXPECT_EQ(published_names(),
            (std::vector<std::string>{"a100-80gb", "fastmamba-vc709", "lightmamba-vck190", "pimba-a100"}));
  EXPECT_EQ(load_profile("lightmamba-vck190").tile.scan.state_storage, Precision::fp8);
  EXPECT_TRUE(load_profile("pimba-a100").kernels->pim.has_value());
}

// Peak rates that vendors publish, reproduced from the profiles' per-tile figures.
TEST(ShippedProfiles, ReproduceDatasheetPeaks) {
  auto peak_flop = [](const char* name, Precision p) {
    return matrix_figures(derive_figures(load_profile(name)), p).peak_flop_per_s;
  };
  EXPECT_NEAR(peak_flop("h100-class", Precision::fp16), 989.4e12, 0.005 * 989.4e12);  // H100 SXM dense FP16
  EXPECT_NEAR(peak_flop("h100-class", Precision::fp8), 1978.9e12, 0.005 * 1978.9e12);
  EXPECT_NEAR(peak_flop("mi300-class", Precision::fp16), 1307.4e12, 0.005 * 1307.4e12);  // MI300X dense FP16
  EXPECT_NEAR(peak_flop("hexagon-npu-class", Precision::int8), 45e12, 0.05 * 45e12);     // "45 TOPS"
  EXPECT_DOUBLE_EQ(derive_figures(load_profile("h100-class")).dram_bytes_per_s, 3.35e12);
  EXPECT_DOUBLE_EQ(derive_figures(load_profile("mi300-class")).dram_bytes_per_s, 5.3e12);
  EXPECT_DOUBLE_EQ(derive_figures(load_profile("krsna-mobile")).dram_bytes_per_s, 51.2e9);  // LPDDR5-6400 x64
}

}  // namespace
}  // namespace ssmsoc
