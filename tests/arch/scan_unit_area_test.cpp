// The scan unit's area in a profile comes from a synthesis of that profile's RTL variant
// (scripts/synth-scan-unit.sh, results in rtl/scan_unit/synthesis/PROFILE.json): the stored
// result must describe the unit the profile has now (lanes, state size, number formats, fused
// operations), its gate-equivalent arithmetic must add up, and the profile's figure must be
// the result's area at the profile's process node. A profile whose scan unit changes without
// a new synthesis, or whose figure drifts from it, fails here.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "arch/spec/profile.hpp"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

const fs::path kSynthesisDir = "rtl/scan_unit/synthesis";

void expect_format(const nlohmann::json& stored, const NumberFormat& f, const std::string& what) {
  ASSERT_EQ(f.type, NumberType::fixed) << what << ": only fixed-point units are synthesized";
  EXPECT_EQ(stored.at("int_bits").get<int>(), f.int_bits) << what;
  EXPECT_EQ(stored.at("frac_bits").get<int>(), f.frac_bits) << what;
  EXPECT_EQ(stored.at("bits").get<int>(), f.total_bits()) << what;
}

TEST(ScanUnitArea, EveryStoredSynthesisMatchesItsProfileAndItsFigure) {
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(kSynthesisDir)) {
    if (entry.path().extension() != ".json") continue;
    const std::string name = entry.path().stem().string();
    SCOPED_TRACE(name);
    const nlohmann::json r = nlohmann::json::parse(std::ifstream(entry.path()));
    const Profile p = load_profile(name);
    ASSERT_TRUE(p.tile.scan.present);
    EXPECT_EQ(r.at("profile").get<std::string>(), name);
    // The unit synthesized is the profile's.
    EXPECT_EQ(r.at("lanes").get<int>(), p.tile.scan.lanes);
    EXPECT_EQ(r.at("max_state").get<int>(), p.tile.scan.max_state);
    EXPECT_EQ(r.at("pipeline_depth").get<int>(), p.tile.scan.pipeline_depth);
    expect_format(r.at("data_format"), p.tile.scan.data_format, "data_format");
    expect_format(r.at("state_format"), p.tile.scan.state_format, "state_format");
    EXPECT_EQ(r.at("fused").at("softplus").get<bool>(), p.tile.scan.fuses(FusedOp::delta_softplus));
    EXPECT_EQ(r.at("fused").at("d_skip").get<bool>(), p.tile.scan.fuses(FusedOp::d_skip));
    EXPECT_EQ(r.at("fused").at("silu_gate").get<bool>(), p.tile.scan.fuses(FusedOp::silu_gate));
    // The arithmetic: cells by type add up; gate equivalents by type add up to the total.
    long cells = 0;
    for (const auto& [type, count] : r.at("cells_by_type").items()) cells += count.get<long>();
    EXPECT_EQ(cells, r.at("cells_total").get<long>());
    const nlohmann::json& ge = r.at("nand2_equivalents");
    double ge_sum = 0;
    for (const auto& [type, value] : ge.at("by_type").items()) ge_sum += value.get<double>();
    const double total_ge = ge.at("total").get<double>();
    EXPECT_NEAR(ge_sum, total_ge, 1.0);
    EXPECT_GT(total_ge, 1000.0 * p.tile.scan.lanes);  // a lane's multipliers alone are thousands of gates
    // The area at the profile's node: gate equivalents x um2 per NAND2 / utilization.
    const nlohmann::json& area = r.at("area_mm2");
    const std::string node = area.at("profile_node").get<std::string>();
    const nlohmann::json& at_node = area.at(node);
    const double utilization = area.at("utilization").get<double>();
    ASSERT_GT(utilization, 0.0);
    const double mm2 = total_ge * at_node.at("um2_per_nand2").get<double>() / utilization / 1e6;
    EXPECT_NEAR(at_node.at("mm2").get<double>(), mm2, 1e-4);
    // The profile's figure is that area, and its source says so.
    ASSERT_TRUE(p.area.scan_unit.has_value());
    EXPECT_NEAR(p.area.scan_unit->value, at_node.at("mm2").get<double>(), 1e-4);
    const std::string& source = p.area.scan_unit->source;
    ASSERT_TRUE(p.sources.count(source)) << source;
    EXPECT_NE(p.sources.at(source).find(entry.path().filename().string()), std::string::npos)
        << "the source " << source << " names the stored result";
    ++checked;
  }
  EXPECT_GE(checked, 1);
}

// The lane-scaling syntheses (synthesis/lanes/: krsna-wear with 4 and 16 lanes, krsna-mobile
// with 16) describe their profiles too, and the gate count grows with the lanes on a straight
// line: krsna-wear's 4, 8 and 16 lanes within 1 % of the line through 4 and 16, the line the
// shipped sweeps tie lanes to area by (rtl/scan_unit/README.md, "Synthesis").
TEST(ScanUnitArea, LaneVariantsMatchTheirProfilesAndLieOnALine) {
  auto read = [](const fs::path& file) { return nlohmann::json::parse(std::ifstream(file)); };
  const fs::path lanes = kSynthesisDir / "lanes";
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(lanes)) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    const nlohmann::json r = read(entry.path());
    const Profile p = load_profile(r.at("profile_file").get<std::string>());
    EXPECT_EQ(r.at("lanes").get<int>(), p.tile.scan.lanes);
    EXPECT_EQ(r.at("max_state").get<int>(), p.tile.scan.max_state);
    expect_format(r.at("data_format"), p.tile.scan.data_format, "data_format");
    expect_format(r.at("state_format"), p.tile.scan.state_format, "state_format");
    ++checked;
  }
  EXPECT_EQ(checked, 3);
  auto ge = [&](const fs::path& file) { return read(file).at("nand2_equivalents").at("total").get<double>(); };
  const double ge4 = ge(lanes / "krsna-wear-4-lanes.json"), ge16 = ge(lanes / "krsna-wear-16-lanes.json");
  const double ge8 = ge(kSynthesisDir / "krsna-wear.json");
  EXPECT_LT(ge4, ge8);
  EXPECT_LT(ge8, ge16);
  EXPECT_NEAR(ge8, ge4 + (ge16 - ge4) * (8.0 - 4.0) / (16.0 - 4.0), 0.01 * ge8);
}

}  // namespace
}  // namespace ssmsoc
