// The statistics declared once (sim/stats.hpp): every declaration is in a run's JSON with a
// unit, the JSON reads back to the same run, derived statistics equal their formulas on
// generated runs, and sim/README.md's tables are the declarations.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "sim/stats.hpp"
#include "tests/sim/sim_support.hpp"
#include "tests/support.hpp"

namespace ssmsoc::sim {
namespace {

using test::mobile;
using test::ProgramBuilder;

// A seeded mix on tiles 0..3 of krsna-mobile: DRAM -> SRAM DMAs, bf16 GEMMs and vector adds,
// a few chained by semaphores; every third command is its own compiler op.
struct GeneratedRun {
  Program program;
  std::vector<std::uint32_t> command_op;
};
GeneratedRun generate(unsigned seed) {
  std::mt19937 rng(seed);
  auto pick = [&](std::uint32_t lo, std::uint32_t hi) {
    return std::uniform_int_distribution<std::uint32_t>(lo, hi)(rng);
  };
  ProgramBuilder b;
  const int commands = static_cast<int>(pick(3, 9));
  for (int i = 0; i < commands; ++i) {
    const int tile = static_cast<int>(pick(0, 3));
    ssm_command c{};
    ssm_engine engine = SSM_ENGINE_DMA;
    switch (pick(0, 2)) {
      case 0: {
        const std::uint32_t bytes = 64 * pick(1, 200);
        const auto src = b.buffer("src", SSM_MEM_DRAM, bytes);
        const auto dst = b.buffer("dst", SSM_MEM_TILE_SRAM, bytes, tile);
        c = dma_command({.src = ref(src), .dst = ref(dst), .row_bytes = bytes});
        break;
      }
      case 1: {
        const std::uint32_t m = pick(1, 64), n = pick(1, 64), k = pick(1, 64);
        const auto a = b.buffer("a", SSM_MEM_TILE_SRAM, 2ull * m * k, tile);
        const auto w = b.buffer("b", SSM_MEM_TILE_SRAM, 2ull * k * n, tile);
        const auto out = b.buffer("c", SSM_MEM_TILE_SRAM, 4ull * m * n, tile);
        c = gemm_command({.a = ref(a), .b = ref(w), .c = ref(out), .m = m, .n = n, .k = k, .precision = SSM_BF16});
        engine = SSM_ENGINE_MATRIX;
        break;
      }
      default: {
        const std::uint32_t cols = pick(1, 5000);
        const auto x = b.buffer("x", SSM_MEM_TILE_SRAM, 4ull * cols, tile);
        const auto out = b.buffer("out", SSM_MEM_TILE_SRAM, 4ull * cols, tile);
        c = vector_command(
            {.function = SSM_VEC_ADD, .rows = 1, .cols = cols, .a = ref(x), .b = ref(x), .out = ref(out)});
        engine = SSM_ENGINE_VECTOR;
      }
    }
    if (pick(0, 1))
      b.chain(tile, engine, c);
    else
      b.add(tile, engine, c);
  }
  GeneratedRun run{b.program, {}};
  for (std::size_t i = 0; i < run.program.command_count(); ++i)
    run.command_op.push_back(static_cast<std::uint32_t>(i / 3));
  return run;
}

std::vector<SimResult> simulate_generated(const std::vector<GeneratedRun>& runs) {
  std::vector<SimJob> jobs;
  for (const GeneratedRun& r : runs) {
    SimOptions options;
    options.command_op = &r.command_op;
    jobs.push_back({&r.program, options});
  }
  return simulate_in_children(mobile(), jobs, 2);
}

const std::vector<SimResult>& generated_results() {
  static const std::vector<GeneratedRun> runs = [] {
    std::vector<GeneratedRun> r;
    for (unsigned seed = 1; seed <= 6; ++seed) r.push_back(generate(seed));
    return r;
  }();
  static const std::vector<SimResult> results = simulate_generated(runs);
  return results;
}

const nlohmann::json* find(const nlohmann::json& object, std::string_view name) {
  const nlohmann::json* j = &object;
  for (;;) {
    const std::size_t dot = name.find('.');
    const std::string key(name.substr(0, dot));
    if (!j->is_object() || !j->contains(key)) return nullptr;
    j = &j->at(key);
    if (dot == std::string_view::npos) return j;
    name.remove_prefix(dot + 1);
  }
}

template <class Record>
void expect_declared_in(const nlohmann::json& object, std::span<const Statistic<Record>> statistics,
                        const std::string& where) {
  for (const auto& s : statistics) {
    EXPECT_NE(find(object, s.name), nullptr) << where << " lacks " << s.name;
    EXPECT_FALSE(s.unit.empty()) << s.name;
    EXPECT_FALSE(s.description.empty()) << s.name;
    EXPECT_FALSE(s.how.empty()) << s.name;
  }
}

TEST(Statistics, EveryDeclaredStatisticIsInARunsJsonWithAUnit) {
  const SimResult& r = generated_results().front();
  const nlohmann::json j = to_json(r, mobile());
  expect_declared_in(j, run_statistics(), "the run");
  ASSERT_EQ(j.at("tiles").size(), static_cast<std::size_t>(mobile().tile_count));
  for (const auto& tile : j.at("tiles")) {
    expect_declared_in(tile, tile_statistics(), "a tile");
    for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e)
      expect_declared_in(tile.at("engines").at(engine_name(static_cast<ssm_engine>(e))), engine_statistics(),
                         "an engine");
  }
  ASSERT_FALSE(j.at("ops").empty());
  for (const auto& op : j.at("ops")) expect_declared_in(op, op_statistics(), "an op");
  // Nothing in the JSON is undeclared: the run's keys are its statistics' first names, the
  // profile's name, the tiles and the ops.
  std::set<std::string> keys{"profile", "tiles", "ops"};
  for (const auto& s : run_statistics()) keys.insert(std::string(s.name.substr(0, s.name.find('.'))));
  for (const auto& [key, value] : j.items()) EXPECT_TRUE(keys.count(key)) << key << " is not declared";
}

TEST(Statistics, FromJsonOfToJsonRoundTrips) {
  for (const SimResult& r : generated_results()) {
    const nlohmann::json j = to_json(r, mobile());
    const SimResult back = from_json(j);
    EXPECT_EQ(to_json(back, mobile()), j);
    EXPECT_EQ(back.cycles, r.cycles);
    EXPECT_EQ(back.dram_read_bytes, r.dram_read_bytes);
    EXPECT_EQ(back.macs, r.macs);
    EXPECT_EQ(back.energy.size(), r.energy.size());
    ASSERT_EQ(back.ops.size(), r.ops.size());
    for (std::size_t i = 0; i < r.ops.size(); ++i) EXPECT_EQ(back.ops[i].busy_cycles, r.ops[i].busy_cycles);
    // A run without ops has no "ops" key, and reads back without ops.
    SimResult no_ops = r;
    no_ops.ops.clear();
    EXPECT_FALSE(to_json(no_ops, mobile()).contains("ops"));
    EXPECT_TRUE(from_json(to_json(no_ops, mobile())).ops.empty());
  }
}

TEST(Statistics, DerivedStatisticsEqualTheirFormulas) {
  const Profile& p = mobile();
  for (const SimResult& r : generated_results()) {
    ASSERT_GT(r.cycles, 0u);
    const nlohmann::json j = to_json(r, p);
    EXPECT_DOUBLE_EQ(j.at("seconds").get<double>(), static_cast<double>(r.cycles) / (p.clock_mhz * 1e6));
    for (std::size_t t = 0; t < r.tiles.size(); ++t)
      for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e) {
        const auto& engine = j.at("tiles").at(t).at("engines").at(engine_name(static_cast<ssm_engine>(e)));
        const std::uint64_t busy = r.tiles[t].engines[e].busy_cycles;
        EXPECT_DOUBLE_EQ(engine.at("utilization").get<double>(),
                         static_cast<double>(busy) / static_cast<double>(r.cycles));
        EXPECT_EQ(engine.at("idle_cycles").get<std::uint64_t>(), r.cycles - busy);
      }
    // energy.total_joules = the items' sum; each item = count x per-action figure of its field.
    double total = 0, dram_joules = -1;
    for (const auto& item : j.at("energy").at("items")) {
      total += item.at("joules").get<double>();
      if (item.at("field") == "energy.dram_byte_pj") {
        EXPECT_EQ(item.at("count").get<double>(), static_cast<double>(r.dram_read_bytes + r.dram_write_bytes));
        dram_joules = item.at("joules");
      }
    }
    EXPECT_DOUBLE_EQ(j.at("energy").at("total_joules").get<double>(), total);
    EXPECT_DOUBLE_EQ(dram_joules,
                     static_cast<double>(r.dram_read_bytes + r.dram_write_bytes) * p.energy.dram_byte_pj.value * 1e-12);
  }
}

TEST(Statistics, EnergyItemsFollowTheSourcesInOrder) {
  const SimResult& r = generated_results().front();
  std::vector<std::string> expected;
  for (const EnergySource& s : energy_sources()) {
    if (s.per_precision)
      for (const auto& [precision, figure] : mobile().energy.mac_pj)
        expected.push_back(std::string(s.field) + "." + std::string(name_of(precision)));
    else if (s.field != "energy.scan_step_pj" || mobile().energy.scan_step_pj)
      expected.push_back(std::string(s.field));
  }
  std::vector<std::string> fields;
  for (const EnergyItem& item : r.energy) fields.push_back(item.field);
  EXPECT_EQ(fields, expected);
  EXPECT_EQ(fields.back(), "energy.leakage_w");
}

TEST(Statistics, SummaryHasALinePerGroupOfStatistics) {
  ProgramBuilder b;
  const auto x = b.buffer("x", SSM_MEM_TILE_SRAM, 4 * 4096);
  const auto y = b.buffer("y", SSM_MEM_TILE_SRAM, 4 * 4096);
  b.add(0, SSM_ENGINE_VECTOR,
        vector_command({.function = SSM_VEC_ADD, .rows = 1, .cols = 4096, .a = ref(x), .b = ref(x), .out = ref(y)}));
  const std::string s = summary(simulate_in_child(mobile(), b.program, {}), mobile());
  // 8 dispatch + 192 + 50 interrupt cycles at 1 GHz: the add needs 66 cycles of the vector
  // unit but its 3 x 16 KiB of operands 192 of the 256 B/cycle SRAM ports (126 stalled).
  EXPECT_EQ(s.substr(0, s.find('\n', s.find("tile 0")) + 1),
            "profile krsna-mobile: 250 cycles, 0.250 us at 1000 MHz, 1 commands\n"
            "utilization (busy / total cycles) of the engines that ran:\n"
            "  tile 0   vector  76.80%  1 commands, 192 busy, 126 stalled cycles\n");
  EXPECT_NE(s.find("\ndram: 0 bytes read, 0 bytes written\nenergy: "), std::string::npos) << s;
}

TEST(Statistics, ReadmeTablesAreTheDeclarations) {
  std::ifstream in("sim/README.md");
  ASSERT_TRUE(in) << "run from the source directory";
  std::stringstream text;
  text << in.rdbuf();
  const std::string readme = text.str();
  const std::string begin = "<!-- statistics: sim::statistics_markdown() -->\n", end = "\n<!-- end of statistics -->";
  const std::size_t from = readme.find(begin), to = readme.find(end);
  ASSERT_NE(from, std::string::npos);
  ASSERT_NE(to, std::string::npos);
  const std::string generated = statistics_markdown();
  EXPECT_EQ(readme.substr(from + begin.size(), to - from - begin.size()), generated)
      << "sim/README.md's table is not the one generated; it reads:\n"
      << generated;
}

}  // namespace
}  // namespace ssmsoc::sim
