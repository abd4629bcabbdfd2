// The per-command formulas (arch/spec/engine_cycles.hpp), the routes (sim/timing.hpp) and the
// bandwidth sharing (sim/fabric.hpp), checked against hand computations from the
// krsna-mobile and krsna-dc profiles.
#include <gtest/gtest.h>

#include "arch/spec/engine_cycles.hpp"
#include "sim/fabric.hpp"
#include "sim/sim.hpp"
#include "sim/timing.hpp"
#include "tests/sim/sim_support.hpp"

namespace ssmsoc::sim {
namespace {

using test::dc;
using test::mobile;

TEST(GemmTiming, WeightStationaryTilesKAndNAndStreamsM) {
  // krsna-mobile: 32x32 array, weight-stationary, bf16 at 512 MACs/cycle.
  // tiles = ceil(64/32) * ceil(64/32) = 4; each streams m = 64 rows at 32*32/512 = 2 cycles
  // per row: 128; fill/drain 32 + 32 - 2 = 62. 4 * 128 + 62 = 574.
  const ssm_command c = gemm_command({.m = 64, .n = 64, .k = 64, .precision = SSM_BF16});
  EXPECT_EQ(gemm_cycles(mobile().tile.matrix, c.gemm), 574u);
  // int8 at 1024 MACs/cycle: one row per cycle: 4 * 64 + 62.
  EXPECT_EQ(gemm_cycles(mobile().tile.matrix, gemm_command({.m = 64, .n = 64, .k = 64, .precision = SSM_INT8}).gemm),
            318u);
  // One more k row needs a third row of tiles: 6 * 128 + 62.
  EXPECT_EQ(gemm_cycles(mobile().tile.matrix, gemm_command({.m = 64, .n = 64, .k = 65, .precision = SSM_BF16}).gemm),
            830u);
}

TEST(GemmTiming, OutputStationaryTilesMAndNAndStreamsK) {
  // krsna-dc: 64x64 output-stationary, fp32 at 512 MACs/cycle: ceil(100/64) * ceil(64/64) = 2
  // tiles, k = 32 streamed at 64*64/512 = 8 cycles each: 256; fill 126. 2 * 256 + 126 = 638.
  EXPECT_EQ(gemm_cycles(dc().tile.matrix, gemm_command({.m = 100, .n = 64, .k = 32, .precision = SSM_FP32}).gemm),
            638u);
}

TEST(ScanTiming, BeatsPerStepPlusPipelineLatency) {
  // krsna-mobile: 32 lanes, depth 6, latency 6 + 5 = 11. A step (one channel or head row at
  // one time step) of N = 16 states takes ceil(16 / 32) = 1 beat.
  // Mamba-1: 64 channels x 8 steps = 512 beats.
  const ssm_command m1 = scan_command({.variant = SSM_SCAN_SELECTIVE, .channels = 64, .length = 8, .state = 16});
  EXPECT_EQ(scan_cycles(mobile().tile.scan, m1.scan), 512u + 11u);
  // Mamba-2: 8 heads x 16 rows x 4 steps = 512 beats; an update is one time step.
  const ssm_command ssd =
      scan_command({.variant = SSM_SCAN_SSD, .channels = 8, .head_dim = 16, .length = 4, .state = 16});
  EXPECT_EQ(scan_cycles(mobile().tile.scan, ssd.scan), 512u + 11u);
  const ssm_command up =
      scan_command({.variant = SSM_SCAN_MULTIHEAD_UPDATE, .channels = 8, .head_dim = 16, .length = 1, .state = 16});
  EXPECT_EQ(scan_cycles(mobile().tile.scan, up.scan), 128u + 11u);
  // N = 33 needs ceil(33 / 32) = 2 beats per step: the 33rd state costs a whole beat.
  EXPECT_EQ(scan_cycles(mobile().tile.scan, 1, 1, 33, 10), 2u * 10u + 11u);
  EXPECT_EQ(scan_cycles(mobile().tile.scan, 1, 1, 32, 10), 1u * 10u + 11u);
}

TEST(VectorTiming, ElementsOverLanesTimesCyclesPerElementPlusLatency) {
  // krsna-mobile: 64 lanes; add 1 cycle/element, latency 2; silu 3 cycles/element, latency 12.
  EXPECT_EQ(vector_pass_cycles(mobile().tile.vector, VectorFunction::add, 4096), 64u + 2u);
  EXPECT_EQ(vector_pass_cycles(mobile().tile.vector, VectorFunction::add, 4097), 65u + 2u);
  EXPECT_EQ(vector_pass_cycles(mobile().tile.vector, VectorFunction::silu, 64), 3u + 12u);
  // rmsnorm of 4 x 256: mul 16+3, reduce_sum 16+6, rsqrt ceil(4*2/64)=1 +8, mul 19, mul 19.
  const ssm_command norm = vector_command({.function = SSM_VEC_RMSNORM, .rows = 4, .cols = 256});
  EXPECT_EQ(compute_cycles(mobile(), norm), 19u + 22u + 9u + 19u + 19u);
}

TEST(Conv1dTiming, OneFmaPerTapThenSilu) {
  // 64 channels x 8 tokens x 4 taps = 2048 FMAs / 64 lanes = 32 + 4; SiLU 512 * 3 / 64 = 24 + 12.
  const ssm_command c = conv1d_command({.channels = 64, .length = 8, .width = 4, .silu = true});
  EXPECT_EQ(compute_cycles(mobile(), c), 36u + 36u);
}

TEST(DmaTiming, DramToTileIsLatencyPlusBytesOverTheBottleneck) {
  // krsna-mobile: DRAM 51.2 GB/s at 1 GHz = 51.2 B/cycle, 110 ns = 110 cycles; tile 0 is one
  // hop (2 cycles) from the memory port of column 0; SRAM latency 2. 5120 B: 100 cycles.
  const Network network(mobile());
  const ssm_command c = dma_command({.row_bytes = 5120});
  const DmaPath path = dma_path(mobile(), network, c.dma, {SSM_MEM_DRAM, 0}, {{SSM_MEM_TILE_SRAM, 0}});
  EXPECT_EQ(path.latency_cycles, 110u + 2u + 2u);
  EXPECT_DOUBLE_EQ(path.bottleneck_bytes_per_cycle, 51.2);
  EXPECT_EQ(dma_cycles(path), 214u);
  const ssm_command one_more = dma_command({.row_bytes = 5121});
  EXPECT_EQ(dma_cycles(dma_path(mobile(), network, one_more.dma, {SSM_MEM_DRAM, 0}, {{SSM_MEM_TILE_SRAM, 0}})), 215u);
  // Tile 5 = (1, 1): port of column 1, then one hop south: 2 hops.
  EXPECT_EQ(dma_path(mobile(), network, c.dma, {SSM_MEM_DRAM, 0}, {{SSM_MEM_TILE_SRAM, 5}}).latency_cycles,
            110u + 4u + 2u);
}

TEST(DmaTiming, TileToTileFollowsXyRouting) {
  // Tile 0 (0,0) to tile 15 (3,3): 3 hops east then 3 south; the 64 B/cycle link limits.
  const Network network(mobile());
  const ssm_command c = dma_command({.row_bytes = 6400});
  const DmaPath path = dma_path(mobile(), network, c.dma, {SSM_MEM_TILE_SRAM, 0}, {{SSM_MEM_TILE_SRAM, 15}});
  EXPECT_EQ(path.route_hops, 6u);
  EXPECT_EQ(path.latency_cycles, 2u + 6u * 2u + 2u);
  EXPECT_DOUBLE_EQ(path.bottleneck_bytes_per_cycle, 64.0);
  EXPECT_EQ(dma_cycles(path), 16u + 100u);
  std::vector<int> links;
  network.route(0, 15, links);
  ASSERT_EQ(links.size(), 6u);
  EXPECT_EQ(network.name(links[0]), "noc.tile0.east");
  EXPECT_EQ(network.name(links[2]), "noc.tile2.east");
  EXPECT_EQ(network.name(links[3]), "noc.tile3.south");
  EXPECT_EQ(network.name(links[5]), "noc.tile11.south");
}

// krsna-dc has memory ports on the north and the south edge: a tile uses its column's
// nearer port, so the 8 x 8 grid's rows 0-3 go north and rows 4-7 south (r + 1 hops vs
// 8 - r), and all 16 ports (16 x 128 B/cycle) carry twice what the north edge's 8 do.
TEST(DmaTiming, MemoryPortsOnTwoEdgesServeTheNearerHalfOfTheGrid) {
  const Profile& two = dc();
  ASSERT_EQ(two.noc.memory_edges, (std::vector<MemoryEdge>{MemoryEdge::north, MemoryEdge::south}));
  Profile north = dc();
  north.noc.memory_edges = {MemoryEdge::north};
  const Network network(two);
  std::vector<int> links;
  EXPECT_EQ(network.route(Network::kMemorySide, 3 * 8 + 5, links), 4);  // row 3: north, 3 hops down + port
  EXPECT_EQ(network.name(links.front()), "noc.memory_port5.down");
  links.clear();
  EXPECT_EQ(network.route(Network::kMemorySide, 4 * 8 + 5, links), 4);  // row 4: south port of column 5
  EXPECT_EQ(network.name(links.front()), "noc.memory_port13.down");
  EXPECT_EQ(network.name(links.back()), "noc.tile45.north");
  links.clear();
  EXPECT_EQ(network.route(63, Network::kMemorySide, links), 1);
  EXPECT_EQ(network.name(links.front()), "noc.memory_port15.up");
  // An op on tiles 0-39 (rows 0-4): rows 0-3 put 4 tiles on each north port, row 4 one on
  // each south port; on all 64, 4 per port; on one edge, 5 per port.
  EXPECT_EQ(busiest_memory_port_tiles(two, 40), 4);
  EXPECT_EQ(busiest_memory_port_tiles(two, 64), 4);
  EXPECT_EQ(busiest_memory_port_tiles(two, 3), 1);
  EXPECT_EQ(busiest_memory_port_tiles(north, 40), 5);
  EXPECT_EQ(memory_port_of(two, 37).port, 8 + 5);
  EXPECT_EQ(memory_port_of(two, 37).row, 7);
  EXPECT_EQ(memory_port_count(north), 8);
  EXPECT_EQ(memory_port_count(two), 16);
  // DRAM: 3276.8 GB/s at 1.5 GHz = 2184.5 B/cycle; the ports carry 1024 or 2048 of it.
  EXPECT_DOUBLE_EQ(memory_delivery_bytes_per_cycle(north, SSM_MEM_DRAM), 1024.0);
  EXPECT_DOUBLE_EQ(memory_delivery_bytes_per_cycle(two, SSM_MEM_DRAM), 2048.0);

  // Every tile reads 1 MiB from DRAM at once: the ports are the bottleneck, so twice the
  // ports take about half the time (latency aside).
  auto read_all = [](const Profile& p) {
    test::ProgramBuilder b;
    const std::uint64_t bytes = 1 << 20;
    const std::uint16_t src = b.buffer("weights", SSM_MEM_DRAM, bytes * std::uint64_t(p.tile_count));
    for (int t = 0; t < p.tile_count; ++t) {
      const std::uint16_t dst = b.buffer("in", SSM_MEM_TILE_SRAM, bytes, t);
      b.add(t, SSM_ENGINE_DMA,
            dma_command({.src = {src, 0, static_cast<std::uint32_t>(bytes * std::uint64_t(t))},
                         .dst = {dst, 0, 0},
                         .row_bytes = static_cast<std::uint32_t>(bytes)}));
    }
    return double(simulate_in_child(p, b.program, {}).cycles);
  };
  const double one_edge = read_all(north), two_edges = read_all(two);
  EXPECT_NEAR(one_edge, 64.0 * (1 << 20) / 1024.0, 0.02 * one_edge);
  EXPECT_NEAR(two_edges, 64.0 * (1 << 20) / 2048.0, 0.02 * two_edges);
}

TEST(Fabric, ConcurrentTransfersSplitTheSharedBandwidth) {
  Fabric f({100.0, 1000.0, 1000.0});
  int a = 0, b = 0;
  f.start(0, 1000, {0, 1}, &a);
  EXPECT_EQ(f.next_end(), 10u);  // alone: 100 B/cycle
  f.start(0, 500, {0, 2}, &b);
  EXPECT_EQ(f.next_end(), 10u);  // b: 500 B at 50 B/cycle
  EXPECT_TRUE(f.finish(9).empty());
  EXPECT_EQ(f.finish(10), std::vector<void*>{&b});
  // a moved 500 B by cycle 10; the other 500 at the full 100 B/cycle.
  EXPECT_EQ(f.next_end(), 15u);
  EXPECT_EQ(f.finish(15), std::vector<void*>{&a});
}

TEST(Fabric, MaxMinFairnessGivesUnusedShareToOthers) {
  // Resource 0 (100) is shared by a and b; b is also limited to 20 by resource 1, so a gets 80.
  Fabric f({100.0, 20.0});
  int a = 0, b = 0;
  f.start(0, 800, {0}, &a);
  f.start(0, 200, {0, 1}, &b);
  EXPECT_EQ(f.next_end(), 10u);
  const auto done = f.finish(10);
  EXPECT_EQ(done.size(), 2u);
}

// The DMA engine moves one transfer's bytes at a time and keeps up to
// tile.dma.outstanding_transfers awaiting their data. krsna-mobile, tile 0: a 5120-B load from
// DRAM is 114 cycles of latency (DRAM 110, a hop, SRAM 2) and 100 of bytes. Eight of them in
// one stream: with one outstanding each waits for the previous one's data (8 x 214); with
// eight the bytes move back to back and only the last latency shows (8 x 100 + 114); with two,
// a transfer's bytes wait for the data of the one two before it (its 100 + 114 over two).
// Completions stay in order, and the engine is busy over the union of its commands.
TEST(DmaTiming, OutstandingTransfersOverlapTheirLatency) {
  auto run = [](int outstanding) {
    Profile p = mobile();
    p.tile.dma.outstanding_transfers = outstanding;
    test::ProgramBuilder b;
    const std::uint16_t src = b.buffer("weights", SSM_MEM_DRAM, 8 * 5120),
                        dst = b.buffer("in", SSM_MEM_TILE_SRAM, 8 * 5120);
    for (std::uint32_t i = 0; i < 8; ++i)
      b.add(0, SSM_ENGINE_DMA, dma_command({.src = {src, 0, i * 5120}, .dst = {dst, 0, i * 5120}, .row_bytes = 5120}));
    const SimResult r = simulate_in_child(p, b.program, {});
    return std::pair{r.cycles, r.tiles.at(0).engines[SSM_ENGINE_DMA]};
  };
  const auto [serial, serial_dma] = run(1);
  const auto [overlapped, overlapped_dma] = run(8);
  const auto [two, two_dma] = run(2);
  EXPECT_EQ(serial_dma.commands, 8u);
  EXPECT_EQ(overlapped_dma.commands, 8u);
  EXPECT_EQ(serial_dma.busy_cycles, 8u * 214u);
  EXPECT_EQ(overlapped_dma.busy_cycles, 8u * 100u + 114u);
  EXPECT_EQ(serial - overlapped, 8u * 214u - (8u * 100u + 114u));
  // Two outstanding: the third transfer starts when the first's data is in (214), so every
  // two transfers take 214 cycles and the last one's data lands 114 after its bytes.
  EXPECT_EQ(two_dma.busy_cycles, 3u * 214u + 100u + 100u + 114u);
  EXPECT_LT(overlapped, two);
  EXPECT_LT(two, serial);
}

// A converting DMA moves its narrow side's bytes: widening 2,560 bf16 values (5,120 B) from
// DRAM into 10,240 B of float32 in SRAM takes as long as a plain 5,120-B load (krsna-mobile:
// 114 cycles of latency, 100 of bytes), and narrowing them back to DRAM as long as a plain
// 5,120-B store.
TEST(DmaTiming, AConvertingDmaMovesItsNarrowSidesBytes) {
  const Profile& p = mobile();
  auto dma_busy = [&](DmaArgs args) {
    test::ProgramBuilder b;
    const std::uint16_t dram = b.buffer("activations", SSM_MEM_DRAM, 10240),
                        sram = b.buffer("in", SSM_MEM_TILE_SRAM, 10240);
    if (args.src.buffer == 1)
      args.src.buffer = dram, args.dst.buffer = sram;
    else
      args.src.buffer = sram, args.dst.buffer = dram;
    b.add(0, SSM_ENGINE_DMA, dma_command(args));
    return simulate_in_child(p, b.program, {}).tiles.at(0).engines[SSM_ENGINE_DMA].busy_cycles;
  };
  const ssm_ref from_dram{1, 0, 0}, from_sram{2, 0, 0};
  const std::uint64_t plain_load = dma_busy({.src = from_dram, .row_bytes = 5120});
  EXPECT_EQ(plain_load, 214u);
  EXPECT_EQ(dma_busy({.src = from_dram, .row_bytes = 5120, .convert = DmaConvert::widen}), plain_load);
  EXPECT_LT(dma_busy({.src = from_dram, .row_bytes = 5120}), dma_busy({.src = from_dram, .row_bytes = 10240}));
  const std::uint64_t plain_store = dma_busy({.src = from_sram, .row_bytes = 5120});
  EXPECT_EQ(dma_busy({.src = from_sram, .row_bytes = 10240, .convert = DmaConvert::narrow}), plain_store);
}

// A compute engine's operands cross its tile SRAM's ports, which the DMA shares. krsna-mobile:
// 16 banks x 16 B = 256 B/cycle per tile. An ADD of 32 x 1024 floats: 32768 / 64 lanes + 2 =
// 514 cycles on the vector unit, but 3 x 131,072 B of operand traffic take 1,536 cycles of
// the ports. With a DRAM-to-SRAM transfer alongside (its own limit DRAM's 51.2 B/cycle), the
// ports give the ADD the remaining 204.8 B/cycle: 393,216 / 204.8 = 1,920 cycles.
TEST(SramPorts, APortBoundKernelRunsAtTheSramBandwidthAndSharesItWithTheDma) {
  const Profile& p = mobile();
  ASSERT_DOUBLE_EQ(memory_bytes_per_cycle(p, SSM_MEM_TILE_SRAM), 256.0);
  auto run = [&](bool with_dma) {
    test::ProgramBuilder b;
    const std::uint64_t bytes = 32 * 1024 * 4;
    const std::uint16_t x = b.buffer("x", SSM_MEM_TILE_SRAM, bytes), y = b.buffer("y", SSM_MEM_TILE_SRAM, bytes),
                        out = b.buffer("out", SSM_MEM_TILE_SRAM, bytes);
    const ssm_command add = vector_command(
        {.function = SSM_VEC_ADD, .rows = 32, .cols = 1024, .a = {x, 0, 0}, .b = {y, 0, 0}, .out = {out, 0, 0}});
    EXPECT_EQ(compute_cycles(p, add), 514u);
    EXPECT_EQ(compute_sram_traffic(add).total(), 3 * bytes);
    EXPECT_EQ(uncontended_compute_cycles(p, add), 1536u);
    b.add(0, SSM_ENGINE_VECTOR, add);
    if (with_dma) {
      const std::uint16_t src = b.buffer("weights", SSM_MEM_DRAM, 102400),
                          dst = b.buffer("in", SSM_MEM_TILE_SRAM, 102400);
      b.add(0, SSM_ENGINE_DMA, dma_command({.src = {src, 0, 0}, .dst = {dst, 0, 0}, .row_bytes = 102400}));
    }
    return simulate_in_child(p, b.program, {}).tiles.at(0).engines[SSM_ENGINE_VECTOR];
  };
  const EngineStats alone = run(false);
  EXPECT_EQ(alone.busy_cycles, 1536u);
  EXPECT_EQ(alone.stall_cycles, 1536u - 514u);
  const EngineStats shared = run(true);
  EXPECT_NEAR(double(shared.busy_cycles), 1920.0, 8.0);
}

// A GEMM over one k block of resident rows of A (lda = the whole K) touches m · k_b elements
// of A, not the rows' span: krsna-dc, a 64 x 64 x 512 bf16 block of 64 rows of K = 14,336
// reads 64 KiB of A and 64 KiB of B and accumulates 16 KiB of C (read and written): 160 KiB
// at 1,024 B/cycle = 160 cycles under its 1,024 + 126 of compute, so it runs at compute pace.
// Counting the span (1.8 MB) made it port-bound at 1,800 cycles.
TEST(SramPorts, AStridedGemmBlockCountsTheBytesItTouches) {
  const Profile& p = dc();
  ASSERT_DOUBLE_EQ(memory_bytes_per_cycle(p, SSM_MEM_TILE_SRAM), 1024.0);
  test::ProgramBuilder b;
  const std::uint32_t m = 64, n = 64, k_block = 512, k_total = 14336;
  const std::uint16_t a = b.buffer("a", SSM_MEM_TILE_SRAM, std::uint64_t(m) * k_total * 2),
                      w = b.buffer("w", SSM_MEM_TILE_SRAM, std::uint64_t(n) * k_block * 2),
                      c = b.buffer("c", SSM_MEM_TILE_SRAM, std::uint64_t(m) * n * 4);
  const ssm_command gemm = gemm_command({.a = {a, 0, 0},
                                         .b = {w, 0, 0},
                                         .c = {c, 0, 0},
                                         .m = m,
                                         .n = n,
                                         .k = k_block,
                                         .lda = k_total,
                                         .precision = SSM_BF16,
                                         .accumulate = true,
                                         .transpose_b = true});
  EXPECT_EQ(operand_extent(gemm, 0), (std::uint64_t(m - 1) * k_total + k_block) * 2);
  EXPECT_EQ(operand_bytes(gemm, 0), std::uint64_t(m) * k_block * 2);
  const SramTraffic traffic = compute_sram_traffic(gemm);
  EXPECT_EQ(traffic.read, 65536u + 65536u + 16384u);
  EXPECT_EQ(traffic.write, 16384u);
  EXPECT_EQ(compute_cycles(p, gemm), 1024u + 126u);
  EXPECT_EQ(uncontended_compute_cycles(p, gemm), 1150u);
  b.add(0, SSM_ENGINE_MATRIX, gemm);
  const EngineStats matrix = simulate_in_child(p, b.program, {}).tiles.at(0).engines[SSM_ENGINE_MATRIX];
  EXPECT_EQ(matrix.busy_cycles, 1150u);
  EXPECT_EQ(matrix.stall_cycles, 0u);
}

}  // namespace
}  // namespace ssmsoc::sim
