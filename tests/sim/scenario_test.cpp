// Whole-chip timing scenarios on krsna-mobile (1 GHz, so one cycle is one ns): single
// commands of each kind, overlap and semaphores, DRAM contention, dispatch and interrupt
// latency, queue back-pressure, statistics, energy and the trace. Each simulation runs in a
// child process (SystemC elaborates once per process). Profile figures used:
//   control.dispatch_latency_cycles = 8, control.interrupt_latency_cycles = 50,
//   tile.vector.lanes = 64 (add: 1 cycle/element, latency 2), DRAM 51.2 B/cycle, 110 cycles.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "arch/spec/config_tree.hpp"
#include "sim/timing.hpp"
#include "tests/sim/sim_support.hpp"
#include "tests/support.hpp"

namespace ssmsoc::sim {
namespace {

using test::mobile;
using test::ProgramBuilder;

constexpr std::uint64_t kDispatch = 8, kInterrupt = 50;

SimResult run(const Program& program, SimOptions options = {}) { return simulate_in_child(mobile(), program, options); }

// A SiLU of `cols` float32 elements on `tile`: 3 cycles per element on 64 lanes + latency 12
// (4096 elements: 204 cycles). Its operands (8 B per element, 170 B/cycle) stay within the
// tile SRAM's 256 B/cycle beside a DRAM transfer's 51.2, so its time is the vector unit's
// (SramPorts.* in timing_test.cpp is about the ports).
ssm_command vector_silu(ProgramBuilder& b, int tile, std::uint32_t cols) {
  const auto x = b.buffer("x", SSM_MEM_TILE_SRAM, 4ull * cols, tile);
  const auto out = b.buffer("out", SSM_MEM_TILE_SRAM, 4ull * cols, tile);
  return vector_command({.function = SSM_VEC_SILU, .rows = 1, .cols = cols, .a = ref(x), .out = ref(out)});
}

// A DMA of `bytes` from a fresh DRAM buffer into `tile`'s SRAM.
ssm_command dram_to_tile(ProgramBuilder& b, int tile, std::uint32_t bytes) {
  const auto src = b.buffer("src", SSM_MEM_DRAM, bytes);
  const auto dst = b.buffer("dst", SSM_MEM_TILE_SRAM, bytes, tile);
  return dma_command({.src = ref(src), .dst = ref(dst), .row_bytes = bytes});
}

TEST(SimTiming, SingleVectorCommandIsDispatchPlusComputePlusInterrupt) {
  ProgramBuilder b;
  b.add(0, SSM_ENGINE_VECTOR, vector_silu(b, 0, 4096));
  const SimResult r = run(b.program);
  // 4096 x 3 / 64 lanes + latency 12 = 204 cycles on the engine.
  EXPECT_EQ(r.tiles[0].engines[SSM_ENGINE_VECTOR].busy_cycles, 204u);
  EXPECT_EQ(r.cycles, kDispatch + 204 + kInterrupt);
  EXPECT_DOUBLE_EQ(r.seconds, 262e-9);
  // One element more needs one cycle more (t-1 / t on the lane boundary).
  ProgramBuilder b2;
  b2.add(0, SSM_ENGINE_VECTOR, vector_silu(b2, 0, 4097));
  EXPECT_EQ(run(b2.program).cycles, kDispatch + 205 + kInterrupt);
}

TEST(SimTiming, SingleCommandsOfEachEngineMatchTheFormulas) {
  struct Case {
    ssm_engine engine;
    std::uint64_t cycles;
  };
  ProgramBuilder gemm;
  const auto a = gemm.buffer("a", SSM_MEM_TILE_SRAM, 64 * 64 * 2),
             bb = gemm.buffer("b", SSM_MEM_TILE_SRAM, 64 * 64 * 2),
             c = gemm.buffer("c", SSM_MEM_TILE_SRAM, 64 * 64 * 4);
  gemm.add(0, SSM_ENGINE_MATRIX,
           gemm_command({.a = ref(a), .b = ref(bb), .c = ref(c), .m = 64, .n = 64, .k = 64, .precision = SSM_BF16}));
  EXPECT_EQ(run(gemm.program).cycles, kDispatch + 574 + kInterrupt);

  ProgramBuilder scan;
  const std::uint32_t ch = 64, len = 8, n = 16;
  auto buf = [&](const char* name, std::uint64_t floats) { return scan.buffer(name, SSM_MEM_TILE_SRAM, 4 * floats); };
  const auto x = buf("x", len * ch), dt = buf("dt", len * ch), am = buf("a", ch * n), bm = buf("b", len * n),
             cm = buf("c", len * n), out = buf("out", len * ch);
  scan.add(0, SSM_ENGINE_SCAN,
           scan_command({.variant = SSM_SCAN_SELECTIVE,
                         .channels = ch,
                         .length = len,
                         .state = n,
                         .x = ref(x),
                         .dt = ref(dt),
                         .a = ref(am),
                         .b = ref(bm),
                         .c = ref(cm),
                         .out = ref(out)}));
  // 64 channels x 8 steps, one beat each (N = 16 <= 32 lanes), then depth 6 + 5 output stages.
  EXPECT_EQ(run(scan.program).cycles, kDispatch + 64 * 8 + 6 + 5 + kInterrupt);

  ProgramBuilder conv;
  const auto cx = conv.buffer("x", SSM_MEM_TILE_SRAM, 4 * 8 * 64), cw = conv.buffer("w", SSM_MEM_TILE_SRAM, 4 * 64 * 4),
             co = conv.buffer("out", SSM_MEM_TILE_SRAM, 4 * 8 * 64);
  conv.add(
      0, SSM_ENGINE_VECTOR,
      conv1d_command(
          {.channels = 64, .length = 8, .width = 4, .x = ref(cx), .weight = ref(cw), .out = ref(co), .silu = true}));
  EXPECT_EQ(run(conv.program).cycles, kDispatch + 72 + kInterrupt);

  ProgramBuilder dma;
  dma.add(0, SSM_ENGINE_DMA, dram_to_tile(dma, 0, 5120));
  const SimResult r = run(dma.program);
  EXPECT_EQ(r.cycles, kDispatch + 214 + kInterrupt);
  EXPECT_EQ(r.dram_read_bytes, 5120u);
  EXPECT_EQ(r.tiles[0].sram_write_bytes, 5120u);
  EXPECT_DOUBLE_EQ(r.noc_byte_hops, 5120.0);
}

TEST(SimTiming, StreamsWithoutSemaphoreOverlap) {
  // DMA (214 cycles) and SiLU (204) on tile 0, both dispatched at 0, visible at 8.
  ProgramBuilder b;
  b.add(0, SSM_ENGINE_DMA, dram_to_tile(b, 0, 5120));
  b.add(0, SSM_ENGINE_VECTOR, vector_silu(b, 0, 4096));
  const SimResult r = run(b.program);
  // The SiLU ends at 212, the DMA at 222; the SiLU's interrupt reaches the core at 262 and
  // finds both done.
  EXPECT_EQ(r.cycles, kDispatch + 204 + kInterrupt);
  EXPECT_EQ(r.tiles[0].engines[SSM_ENGINE_DMA].busy_cycles, 214u);
  EXPECT_EQ(r.tiles[0].engines[SSM_ENGINE_VECTOR].busy_cycles, 204u);
}

TEST(SimTiming, SemaphoreSerializesAndWaitReleasesExactlyAfterInterrupt) {
  // DMA ends at 8 + 214 = 222; its interrupt reaches the core at 272, which executes the
  // SIGNAL, releases the WAIT and dispatches the add: it starts at 280 (not 279), ends at
  // 346, and the program completes at 346 + 50.
  ProgramBuilder b;
  const std::uint32_t sem = b.semaphore();
  b.add(0, SSM_ENGINE_DMA, dram_to_tile(b, 0, 5120));
  b.add(0, SSM_ENGINE_DMA, signal_command(sem, 1));
  b.add(0, SSM_ENGINE_VECTOR, wait_command(sem, 1));
  b.add(0, SSM_ENGINE_VECTOR, vector_silu(b, 0, 4096));
  SimOptions options;
  options.trace_path = (test::temp_dir() / "serial.json").string();
  const SimResult r = run(b.program, options);
  EXPECT_EQ(r.cycles, 8 + 214 + 50 + 8 + 204 + 50);
  EXPECT_EQ(r.firmware_signals, 1u);
  EXPECT_EQ(r.firmware_waits, 1u);
  const auto trace = nlohmann::json::parse(test::slurp(options.trace_path));
  std::uint64_t vector_start = 0;
  for (const auto& e : trace["traceEvents"])
    if (e["ph"] == "X" && e["name"] == "vector") vector_start = e["args"]["start_cycle"];
  EXPECT_EQ(vector_start, 280u);
  EXPECT_NE(vector_start, 279u);
}

TEST(SimTiming, SignalWaitsForEveryEarlierCommandOfItsStream) {
  // Two adds then a SIGNAL on one stream: the SIGNAL takes effect after the second add
  // (8..74..140, interrupt 190), so the DMA behind the WAIT starts at 198.
  ProgramBuilder b;
  const std::uint32_t sem = b.semaphore();
  b.add(0, SSM_ENGINE_VECTOR, vector_silu(b, 0, 4096));
  b.add(0, SSM_ENGINE_VECTOR, vector_silu(b, 0, 4096));
  b.add(0, SSM_ENGINE_VECTOR, signal_command(sem, 1));
  b.add(0, SSM_ENGINE_DMA, wait_command(sem, 1));
  b.add(0, SSM_ENGINE_DMA, dram_to_tile(b, 0, 5120));
  EXPECT_EQ(run(b.program).cycles, 8 + 204 + 204 + 50 + 8 + 214 + 50);
}

TEST(SimTiming, TwoTilesShareTheDramBandwidth) {
  // Tiles 0 and 1 each read 5120 B from DRAM at once: 25.6 B/cycle each, 200 cycles + 114.
  ProgramBuilder b;
  b.add(0, SSM_ENGINE_DMA, dram_to_tile(b, 0, 5120));
  b.add(1, SSM_ENGINE_DMA, dram_to_tile(b, 1, 5120));
  const SimResult r = run(b.program);
  EXPECT_EQ(r.cycles, 8 + 200 + 114 + 50);
  EXPECT_EQ(r.tiles[0].engines[SSM_ENGINE_DMA].busy_cycles, 314u);
  EXPECT_EQ(r.tiles[0].engines[SSM_ENGINE_DMA].stall_cycles, 100u);
  EXPECT_EQ(r.tiles[1].engines[SSM_ENGINE_DMA].stall_cycles, 100u);
  EXPECT_EQ(r.dram_read_bytes, 10240u);
}

TEST(SimTiming, ShorterTransferReleasesItsShareWhenDone) {
  // 5120 B and 2560 B: both at 25.6 until the short one ends at 100; the long one then
  // moves its last 2560 B at 51.2 in 50 cycles. Ends: 8+100+114 and 8+150+114.
  ProgramBuilder b;
  b.add(0, SSM_ENGINE_DMA, dram_to_tile(b, 0, 5120));
  b.add(1, SSM_ENGINE_DMA, dram_to_tile(b, 1, 2560));
  const SimResult r = run(b.program);
  EXPECT_EQ(r.tiles[1].engines[SSM_ENGINE_DMA].busy_cycles, 214u);
  EXPECT_EQ(r.tiles[0].engines[SSM_ENGINE_DMA].busy_cycles, 264u);
  // Tile 1's interrupt wakes the core at 222 + 50 = 272, the cycle tile 0 completes: the
  // core reads both completion counters then (a completion is visible to a register read in
  // its own cycle), so the program ends at 272, not at tile 0's own interrupt (322).
  EXPECT_EQ(r.cycles, 8u + 264u);
}

TEST(SimTiming, QueuedCommandsHideTheDispatchLatency) {
  // Queue depth 8: both adds are queued at 0; the second starts when the first ends.
  ProgramBuilder b;
  b.add(0, SSM_ENGINE_VECTOR, vector_silu(b, 0, 4096));
  b.add(0, SSM_ENGINE_VECTOR, vector_silu(b, 0, 4096));
  EXPECT_EQ(run(b.program).cycles, 8 + 204 + 204 + 50);
}

TEST(SimTiming, FullQueueBackPressureCostsInterruptAndDispatchLatency) {
  // Queue depth 1: the second add is pushed only when the core learns of the first's
  // completion (74 + 50), and reaches the engine 8 cycles later.
  ProgramBuilder b;
  b.add(0, SSM_ENGINE_VECTOR, vector_silu(b, 0, 4096));
  b.add(0, SSM_ENGINE_VECTOR, vector_silu(b, 0, 4096));
  SimOptions options;
  options.queue_depth = 1;
  EXPECT_EQ(run(b.program, options).cycles, 8 + 204 + 50 + 8 + 204 + 50);
}

TEST(SimTiming, QueueDepthComesFromTheProfile) {
  ProgramBuilder b;
  for (int i = 0; i < 6; ++i) b.add(0, SSM_ENGINE_VECTOR, vector_silu(b, 0, 64));
  SimOptions one;
  one.queue_depth = 1;
  const auto shallow = test::write_file("mobile-queue-1.yaml",
                                        "base: krsna-mobile\ndescription: one slot per queue\n"
                                        "control: {queue_depth: 1}\n");
  const SimResult by_profile = simulate_in_child(load_profile(shallow.string()), b.program, {});
  EXPECT_EQ(by_profile.cycles, run(b.program, one).cycles);
  EXPECT_GT(by_profile.cycles, run(b.program).cycles);  // krsna-mobile's 8 slots hide the dispatch latency
}

TEST(SimTiming, EmptyProgramTakesNoTime) {
  ProgramBuilder b;
  EXPECT_EQ(run(b.program).cycles, 0u);
}

TEST(SimErrors, DeadlockedProgramIsAnError) {
  ProgramBuilder b;
  const std::uint32_t sem = b.semaphore();
  b.add(0, SSM_ENGINE_VECTOR, wait_command(sem, 1));
  b.add(0, SSM_ENGINE_VECTOR, vector_silu(b, 0, 64));
  try {
    run(b.program);
    FAIL() << "expected a deadlock";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("deadlock"), std::string::npos) << e.what();
  }
}

TEST(SimParallel, ChildrenGiveTheResultsOfSingleRunsInJobOrder) {
  ProgramBuilder small, large;
  small.add(0, SSM_ENGINE_VECTOR, vector_silu(small, 0, 64));
  large.add(0, SSM_ENGINE_VECTOR, vector_silu(large, 0, 64 * 500));
  const std::vector<SimJob> jobs = {{&large.program, {}}, {&small.program, {}}, {&large.program, {}}};
  for (int parallel : {1, 2, 3}) {
    std::vector<std::size_t> order;
    const std::vector<SimResult> r =
        simulate_in_children(mobile(), jobs, parallel, [&](std::size_t i) { order.push_back(i); });
    EXPECT_EQ(order, (std::vector<std::size_t>{0, 1, 2}));
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0].cycles, run(large.program).cycles);
    EXPECT_EQ(r[1].cycles, run(small.program).cycles);
    EXPECT_EQ(r[2].cycles, r[0].cycles);
    EXPECT_GT(r[0].cycles, r[1].cycles);
  }
}

TEST(SimParallel, AFailingJobIsReportedAfterTheOthersEnd) {
  ProgramBuilder good, stuck;
  good.add(0, SSM_ENGINE_VECTOR, vector_silu(good, 0, 64));
  const std::uint32_t sem = stuck.semaphore();
  stuck.add(0, SSM_ENGINE_VECTOR, wait_command(sem, 1));
  stuck.add(0, SSM_ENGINE_VECTOR, vector_silu(stuck, 0, 64));
  try {
    simulate_in_children(mobile(), {{&good.program, {}}, {&stuck.program, {}}, {&good.program, {}}}, 2);
    FAIL() << "expected a deadlock";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("deadlock"), std::string::npos) << e.what();
  }
}

TEST(SimErrors, ComputeOperandsMustBeInTheTilesSram) {
  ProgramBuilder b;
  const auto x = b.buffer("x", SSM_MEM_DRAM, 256);
  const auto out = b.buffer("out", SSM_MEM_TILE_SRAM, 256);
  b.add(0, SSM_ENGINE_VECTOR, vector_command({.function = SSM_VEC_RELU, .cols = 64, .a = ref(x), .out = ref(out)}));
  EXPECT_THROW(check_program_fits(mobile(), b.program, "p"), ConfigError);
}

TEST(SimStats, EnergyNamesItsProfileFields) {
  ProgramBuilder b;
  b.add(0, SSM_ENGINE_VECTOR, vector_silu(b, 0, 4096));
  const SimResult r = run(b.program);
  double total = 0;
  bool vector_found = false, leakage_found = false;
  for (const auto& e : r.energy) {
    total += e.joules;
    if (e.field == "energy.vector_op_pj") {
      vector_found = true;
      EXPECT_DOUBLE_EQ(e.count, 3 * 4096.0);  // 4096 elements x 3 cycles/element
      EXPECT_DOUBLE_EQ(e.joules, 3 * 4096 * 0.25e-12);
    }
    if (e.field == "energy.leakage_w") {
      leakage_found = true;
      EXPECT_DOUBLE_EQ(e.joules, 0.4 * 262e-9);
    }
    if (e.field == "energy.sram_read_byte_pj") {
      EXPECT_DOUBLE_EQ(e.count, 4 * 4096.0);
    }
    if (e.field == "energy.sram_write_byte_pj") {
      EXPECT_DOUBLE_EQ(e.count, 4 * 4096.0);
    }
  }
  EXPECT_TRUE(vector_found);
  EXPECT_TRUE(leakage_found);
  EXPECT_DOUBLE_EQ(r.energy_j, total);
}

TEST(SimTrace, PerfettoJsonHasOneTrackPerEnginePerTile) {
  ProgramBuilder b;
  b.add(0, SSM_ENGINE_DMA, dram_to_tile(b, 0, 5120));
  b.add(3, SSM_ENGINE_VECTOR, vector_silu(b, 3, 4096));
  SimOptions options;
  options.trace_path = (test::temp_dir() / "trace.json").string();
  run(b.program, options);
  const auto trace = nlohmann::json::parse(test::slurp(options.trace_path));
  int threads = 0, slices = 0;
  std::set<std::pair<int, int>> tracks;
  for (const auto& e : trace.at("traceEvents")) {
    if (e.at("ph") == "M" && e.at("name") == "thread_name") {
      ++threads;
      tracks.insert({e.at("pid").get<int>(), e.at("tid").get<int>()});
    }
    if (e.at("ph") == "X") {
      ++slices;
      EXPECT_TRUE(tracks.count({e.at("pid").get<int>(), e.at("tid").get<int>()}));
    }
  }
  EXPECT_EQ(threads, 16 * 4);
  EXPECT_EQ(tracks.size(), 64u);
  EXPECT_EQ(slices, 2);
}

}  // namespace
}  // namespace ssmsoc::sim
