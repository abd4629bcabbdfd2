// `ssmsoc sim --rtl-scan`: whole runs with the scan engine replaced by the Verilated RTL.
#include <gtest/gtest.h>

#include "arch/spec/program.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

// One Mamba-1 scan (64 channels, 8 steps, N = 16, softplus, D and gate) and one Mamba-2
// state update on tile 0.
Program scan_program() {
  Program p;
  auto buffer = [&](const char* name, std::uint64_t floats) {
    p.buffers.push_back({name, SSM_MEM_TILE_SRAM, SSM_BUF_SCRATCH, 0, 0, 4 * floats});
    return static_cast<std::uint16_t>(p.buffers.size() - 1);
  };
  const std::uint32_t ch = 64, len = 8, n = 16;
  ScanArgs m1;
  m1.variant = SSM_SCAN_SELECTIVE, m1.channels = ch, m1.length = len, m1.state = n, m1.softplus = true;
  m1.x = ref(buffer("x", len * ch)), m1.dt = ref(buffer("dt", len * ch)), m1.a = ref(buffer("a", ch * n));
  m1.b = ref(buffer("b", len * n)), m1.c = ref(buffer("c", len * n)), m1.d = ref(buffer("d", ch));
  m1.z = ref(buffer("z", len * ch)), m1.dt_bias = ref(buffer("bias", ch)), m1.out = ref(buffer("out", len * ch));
  ScanArgs m2;
  m2.variant = SSM_SCAN_MULTIHEAD_UPDATE, m2.channels = 4, m2.head_dim = 8, m2.state = n;
  m2.x = ref(buffer("x2", 32)), m2.dt = ref(buffer("dt2", 4)), m2.a = ref(buffer("a2", 4));
  m2.b = ref(buffer("b2", n)), m2.c = ref(buffer("c2", n)), m2.out = ref(buffer("out2", 32));
  m2.state_ref = ref(buffer("state2", 32 * n)), m2.load_state = true, m2.store_state = true;
  p.streams = {{0, SSM_ENGINE_SCAN, {scan_command(m1), scan_command(m2)}}};
  return p;
}

std::string cycles_line(const std::string& summary) {
  const auto at = summary.find("cycles");
  return at == std::string::npos ? "" : summary.substr(at, summary.find('\n', at) - at);
}

TEST(SimRtlScan, TimesEveryScanCommandOnTheRtlWithTheModelsCycles) {
  const auto path = (test::temp_dir() / "scan.ssmp").string();
  write_program(path, scan_program());
  for (const char* profile : {"krsna-mobile", "krsna-wear"}) {
    const auto model = test::run_ssmsoc("sim " + path + " --profile " + profile);
    const auto rtl = test::run_ssmsoc("sim " + path + " --profile " + profile + " --rtl-scan");
    ASSERT_EQ(model.status, 0) << model.err;
    ASSERT_EQ(rtl.status, 0) << rtl.err;
    EXPECT_NE(rtl.out.find("scan commands run on the RTL scan unit: 2 (0 mismatches)"), std::string::npos) << rtl.out;
    // The model's timing is the RTL's measured timing.
    EXPECT_FALSE(cycles_line(model.out).empty()) << model.out;
    EXPECT_EQ(cycles_line(rtl.out), cycles_line(model.out)) << profile;
  }
}

TEST(SimRtlScan, NeedsAScanUnit) {
  const auto path = (test::temp_dir() / "scan.ssmp").string();
  write_program(path, scan_program());
  const auto run = test::run_ssmsoc("sim " + path + " --profile h100-class --rtl-scan");
  EXPECT_EQ(run.status, 1);
  EXPECT_FALSE(run.err.empty());
}

}  // namespace
}  // namespace ssmsoc
