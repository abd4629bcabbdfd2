// The scan unit RTL against the bit-accurate kernels (rtl/scan_unit): zero mismatches on
// the reference data and on seeded random cases for every Verilated variant, the timing
// formula of rtl/scan_unit/README.md, a planted bug that the harness must name, the RTL
// assertions, traces and the co-simulation API.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "arch/spec/engine_cycles.hpp"
#include "arch/spec/program.hpp"
#include "rtl/scan_unit/cosim.hpp"
#include "rtl/scan_unit/harness.hpp"
#include "rtl/scan_unit/planted_bug.hpp"

namespace {

using namespace ssmsoc;
using namespace ssmsoc::rtl;

std::string test_name(const testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

bool fits(const Case& c, const ScanUnit& unit) {
  for (const Phase& p : c.phases) {
    const bool mamba2 = p.kernel == Kernel::state_update_multihead || p.kernel == Kernel::ssd;
    if (p.state > unit.max_state || !unit.supports(mamba2 ? ScanMode::mamba2 : ScanMode::mamba1)) return false;
  }
  return true;
}

// A Mamba-1 scan of one batch, `dim` channels, `length` steps and state size `n`.
Phase scan_phase(int dim, int length, int n) {
  Phase p;
  p.kernel = Kernel::selective_scan;
  p.dim = dim, p.length = length, p.state = n;
  for (int i = 0; i < dim * length; ++i) {
    p.u.push_back(0.25f * static_cast<float>(i % 9) - 1.0f);
    p.delta.push_back(0.1f * static_cast<float>(i % 5));
  }
  for (int i = 0; i < dim * n; ++i) p.A.push_back(-1.0f - 0.5f * static_cast<float>(i % 6));
  for (int i = 0; i < n * length; ++i) {
    p.B.push_back(0.125f * static_cast<float>(i % 11) - 0.5f);
    p.C.push_back(0.3f - 0.05f * static_cast<float>(i % 13));
  }
  return p;
}

TEST(ScanUnitVariants, OnePerProfileWithAScanUnit) {
  std::vector<std::string> expected;
  for (const auto& file : shipped_profile_files()) {
    const Profile profile = load_profile_file(file);
    if (profile.tile.scan.present) expected.push_back(profile.name);
  }
  std::sort(expected.begin(), expected.end());
  std::vector<std::string> built = scan_variant_profiles();
  std::sort(built.begin(), built.end());
  EXPECT_EQ(built, expected);
  EXPECT_THROW(make_scan_engine("h100-class"), std::invalid_argument);
}

class ScanUnitCosim : public testing::TestWithParam<std::string> {};

TEST_P(ScanUnitCosim, ReferenceDataBitExact) {
  const Profile profile = load_profile(GetParam());
  const ScanUnit& unit = profile.tile.scan;
  auto engine = make_scan_engine(GetParam());
  long steps = 0;
  int cases = 0;
  for (const Case& c : refdata_cases(default_refdata_directory())) {
    if (!fits(c, unit)) continue;
    const CaseResult r = run_case(*engine, c, unit);
    EXPECT_EQ(r.mismatches, 0) << r.first.message;
    steps += r.steps;
    ++cases;
  }
  EXPECT_GE(cases, 10);
  EXPECT_GT(steps, 5000);
}

TEST_P(ScanUnitCosim, RandomCasesBitExact) {
  const Profile profile = load_profile(GetParam());
  const ScanUnit& unit = profile.tile.scan;
  auto engine = make_scan_engine(GetParam());
  long steps = 0, mismatches = 0;
  int batch = 0;
  while (steps < 10000) {
    for (const Case& c : random_cases(unit, 100 + static_cast<std::uint64_t>(batch), 16)) {
      const CaseResult r = run_case(*engine, c, unit);
      EXPECT_EQ(r.mismatches, 0) << r.first.message;
      steps += r.steps;
      mismatches += r.mismatches;
    }
    ++batch;
  }
  EXPECT_EQ(mismatches, 0);
  RecordProperty("steps", std::to_string(steps));
}

// Measured cycles equal the formula of README.md ("Timing"): II = ceil(N / Lanes) beats,
// latency = PipelineDepth + 5 from a step's last beat to its result, job = beats + latency.
TEST_P(ScanUnitCosim, TimingMatchesFormula) {
  const Profile profile = load_profile(GetParam());
  const ScanUnit& unit = profile.tile.scan;
  const Timing timing = timing_of(unit);
  auto engine = make_scan_engine(GetParam());
  for (int n : {1, unit.lanes, std::min(unit.lanes + 1, unit.max_state), unit.max_state}) {
    for (int length : {1, 5}) {
      const Phase p = scan_phase(3, length, n);
      const JobOutput out = engine->run(make_job(p, unit, {}));
      const std::uint64_t beats = timing.beats_per_step(n) * 3 * static_cast<std::uint64_t>(length);
      EXPECT_EQ(out.beats, beats);
      EXPECT_EQ(out.latency_cycles, timing.latency_cycles()) << "N=" << n << " L=" << length;
      EXPECT_EQ(out.cycles, timing.job_cycles(beats)) << "N=" << n << " L=" << length;
      EXPECT_EQ(out.min_interval, timing.beats_per_step(n)) << "N=" << n << " L=" << length;
    }
  }
  EXPECT_EQ(timing.latency_cycles(), static_cast<std::uint64_t>(unit.pipeline_depth) + 5);
}

// A Mamba-2 SSD of one batch: `heads` heads of `head_dim` rows, `length` steps, state `n`.
Phase ssd_phase(int heads, int head_dim, int length, int n) {
  Phase p;
  p.kernel = Kernel::ssd;
  p.dim = heads, p.head_dim = head_dim, p.length = length, p.state = n;
  for (int i = 0; i < length * heads * head_dim; ++i) p.u.push_back(0.2f * static_cast<float>(i % 7) - 0.6f);
  for (int i = 0; i < length * heads; ++i) p.delta.push_back(0.05f + 0.01f * static_cast<float>(i % 4));
  for (int h = 0; h < heads; ++h) p.A.push_back(-1.0f - static_cast<float>(h));
  for (int i = 0; i < length * n; ++i) {
    p.B.push_back(0.1f * static_cast<float>(i % 9) - 0.4f);
    p.C.push_back(0.25f - 0.05f * static_cast<float>(i % 7));
  }
  return p;
}

// The simulator's scan engine takes its time from the same commands as the RTL needs: for
// Mamba-1 scans and Mamba-2 SSDs of several shapes, ssmsoc::scan_cycles is within 2% of the
// cycles the Verilated unit measures (the formula is shared, so they are equal).
TEST_P(ScanUnitCosim, SimulatorScanTimingMatchesTheRtl) {
  const Profile profile = load_profile(GetParam());
  const ScanUnit& unit = profile.tile.scan;
  auto engine = make_scan_engine(GetParam());
  for (int n : {1, unit.lanes, std::min(unit.lanes + 1, unit.max_state), unit.max_state}) {
    const ssm_command m1 = scan_command(
        {.variant = SSM_SCAN_SELECTIVE, .channels = 6, .length = 7, .state = static_cast<std::uint32_t>(n)});
    const double rtl_m1 = static_cast<double>(engine->run(make_job(scan_phase(6, 7, n), unit, {})).cycles);
    EXPECT_NEAR(static_cast<double>(ssmsoc::scan_cycles(unit, m1.scan)), rtl_m1, 0.02 * rtl_m1) << "Mamba-1, N=" << n;
    const ssm_command m2 = scan_command(
        {.variant = SSM_SCAN_SSD, .channels = 2, .head_dim = 3, .length = 5, .state = static_cast<std::uint32_t>(n)});
    const double rtl_m2 = static_cast<double>(engine->run(make_job(ssd_phase(2, 3, 5, n), unit, {})).cycles);
    EXPECT_NEAR(static_cast<double>(ssmsoc::scan_cycles(unit, m2.scan)), rtl_m2, 0.02 * rtl_m2) << "Mamba-2, N=" << n;
  }
}

// Stalls on both streams change the cycles, never the results.
TEST_P(ScanUnitCosim, BackpressureKeepsResults) {
  const Profile profile = load_profile(GetParam());
  const ScanUnit& unit = profile.tile.scan;
  auto engine = make_scan_engine(GetParam());
  Case c;
  c.name = "stalled scan";
  c.phases = {scan_phase(2, 9, std::min(unit.max_state, unit.lanes + 3))};
  c.drive = {0.4, 0.6, 11};
  const CaseResult r = run_case(*engine, c, unit);
  EXPECT_EQ(r.mismatches, 0) << r.first.message;
  EXPECT_GT(r.cycles, timing_of(unit).job_cycles(r.jobs.at(0).beats));
}

INSTANTIATE_TEST_SUITE_P(Profiles, ScanUnitCosim, testing::ValuesIn(scan_variant_profiles()), test_name);

TEST(ScanUnitPlantedBug, HarnessNamesTheElementAndCycle) {
  const Profile profile = load_profile(kPlantedBugProfile);
  const ScanUnit& unit = profile.tile.scan;
  auto engine = make_planted_bug_engine();
  Case c;
  c.name = "planted";
  c.phases = {scan_phase(1, 12, 16)};
  const std::uint64_t first_beat = engine->cycle();
  const CaseResult r = run_case(*engine, c, unit);
  ASSERT_TRUE(r.first.found);
  EXPECT_EQ(r.mismatches, 1);
  EXPECT_FALSE(r.first.state);
  EXPECT_EQ(r.first.element, "batch 0, channel 0, step 7");
  EXPECT_EQ(r.first.rtl ^ r.first.expected, 4);
  // The eighth result: seven one-beat steps after the first, then the latency.
  EXPECT_EQ(r.first.cycle, first_beat + 7 + timing_of(unit).latency_cycles());
  EXPECT_NE(r.first.message.find("step 7"), std::string::npos) << r.first.message;
  EXPECT_NE(r.first.message.find("at cycle " + std::to_string(r.first.cycle)), std::string::npos) << r.first.message;
}

TEST(ScanUnitAssertions, StateSizeAboveMaxStateStopsTheRtl) {
  const Profile profile = load_profile("krsna-mobile");
  const ScanUnit& unit = profile.tile.scan;
  auto engine = make_scan_engine("krsna-mobile");
  Job job = make_job(scan_phase(1, 1, 4), unit, {});
  job.runs[0].n = unit.max_state + 1;  // more than the unit holds
  job.vectors.resize(job.vectors.size() + 4 * static_cast<std::size_t>(unit.max_state), 0);
  job.runs[0].h0.resize(static_cast<std::size_t>(unit.max_state) + 1, 0);
  job.state_count = static_cast<std::size_t>(unit.max_state) + 1;
  EXPECT_THROW(engine->run(job), std::runtime_error);
}

TEST(ScanUnitTrace, WritesAnFstWaveform) {
  const Profile profile = load_profile("krsna-wear");
  const auto file = std::filesystem::temp_directory_path() / "ssmsoc_scan_unit_trace_test.fst";
  std::filesystem::remove(file);
  {
    auto engine = make_scan_engine("krsna-wear");
    engine->open_trace(file.string());
    Case c;
    c.name = "traced";
    c.phases = {scan_phase(1, 4, 8)};
    EXPECT_EQ(run_case(*engine, c, profile.tile.scan).mismatches, 0);
    engine->close_trace();
  }
  ASSERT_TRUE(std::filesystem::exists(file));
  EXPECT_GT(std::filesystem::file_size(file), 100u);
  std::filesystem::remove(file);
}

TEST(ScanUnitCosimApi, RunsOneProfile) {
  CosimOptions options;
  options.profile = "krsna-wear";
  options.cases = 4;
  options.refdata = false;
  const auto rows = run_cosim(options);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].profile, "krsna-wear");
  EXPECT_EQ(rows[0].cases, 4);
  EXPECT_GT(rows[0].steps, 0);
  EXPECT_EQ(rows[0].mismatches, 0) << rows[0].first_mismatch;
  EXPECT_GT(rows[0].cycles, 0);
  EXPECT_GT(rows[0].lane_steps_per_s, 0);
  EXPECT_EQ(rows[0].first_mismatch, "");
}

TEST(ScanUnitCosimApi, RejectsUnknownProfilesAndVcd) {
  CosimOptions options;
  options.profile = "xeon-amx-class";
  options.refdata = false;
  EXPECT_THROW(run_cosim(options), std::invalid_argument);
  options.profile = "krsna-wear";
  options.trace_file = "wave.vcd";
  EXPECT_THROW(run_cosim(options), std::invalid_argument);
}

}  // namespace
