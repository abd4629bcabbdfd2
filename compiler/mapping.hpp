// The mapping of one op onto the tiles, as a value: how it is split over the tiles, the
// block of each of its loops, how a tile's SRAM is laid out for it, and the cost model's
// estimate. Choosing a mapping (here) is apart from emitting it (codegen.hpp): the emitter
// follows an OpMapping and decides nothing; a mapper that searches loop orders, tile sizes
// per memory level and buffering replaces choose_mapping and keeps the emitter.

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arch/spec/profile.hpp"
#include "compiler/cost_model.hpp"
#include "compiler/lower.hpp"
#include "compiler/memory_plan.hpp"

namespace ssmsoc::compiler {

struct Range {
  std::int64_t begin = 0, end = 0;
  std::int64_t size() const { return end - begin; }
  bool operator==(const Range&) const = default;
};

// The dimension an op is split over the tiles by.
//   repeat: GEMM's MoE experts;  n, m: GEMM's output columns or rows;  k: GEMM's reduction
//   (each tile a partial C, summed by a second pass: OpMapping::k_partials);  rows, cols: VECTOR;
//   channels: CONV1D, Mamba-1 SCAN;  heads: Mamba-2 SCAN (heads, or (head, row slice) pairs
//   when a head's rows are split), ATTENTION ((session, head) pairs);  dma_rows: COPY, on
//   tile 0's DMA stream.
enum class Partition { repeat, n, m, k, rows, cols, channels, heads, dma_rows };

// One tile's SRAM during an op: a resident region from byte 0 (what stays for the whole
// op: accumulators, norm weights, conv and SSM states), then `slots` slots of
// `slot_bytes` each that the DMA fills, step after step, in turn: with two, it fills one
// while the engines work on the other (double buffering). Inside a region the emitter
// packs a step's operands in a fixed order per kind, at the step's sizes (a last, partial
// block packs tighter). More than two slots keep more loads in flight where a slot's round
// trip (loads, their latency, the compute) is longer than two steps.
constexpr int kMaxSlots = 4;

struct SramLayout {
  std::uint64_t resident_bytes = 0;  // 64-byte aligned
  std::uint64_t slot_bytes = 0;      // 64-byte aligned
  int slots = 2;
  std::uint64_t slot_base(int slot) const { return resident_bytes + std::uint64_t(slot) * slot_bytes; }
  std::uint64_t total_bytes() const { return resident_bytes + std::uint64_t(slots) * slot_bytes; }
};

struct OpMapping {
  std::string name;  // the op's
  Prim kind = Prim::vector;

  // Spatial: tile t works on tiles[t] of [0, extent) of the partitioned dimension; the
  // ranges follow each other and cover it once. tiles.size() is the tiles with work.
  Partition partition = Partition::rows;
  std::int64_t extent = 0;
  std::vector<Range> tiles;

  // Temporal: the block of each loop of the kind (0 where it has no such loop). The loop
  // order is the emitter's, fixed per kind (codegen.cpp).
  std::int64_t m_b = 0, n_b = 0, k_b = 0;  // GEMM (loops: repeat, m, n, k)
  // GEMM by m with the weights broadcast: each tile keeps its rows of A resident, m_b of them
  // at a time (passes over its rows where they do not all fit; the weights are broadcast once
  // per pass), and every step's B block is read from memory once and written into every
  // tile's slot at once, in `b_leaders` slices of n_b / b_leaders weight rows,
  // slice j by tile j's DMA (a DRAM stream per leader: one DMA engine alone cannot carry a
  // wide memory's bandwidth). DRAM sees each weight byte once per pass whatever m is.
  bool b_broadcast = false;
  int b_leaders = 0;
  // Broadcast in `b_groups` groups of tiles.size() / b_groups consecutive tiles: group g
  // computes columns [g * b_group_cols, (g + 1) * b_group_cols) of C (the last group the
  // rest), each tile of it the rows tiles[t] (the groups' ranges alike), and broadcasts its
  // own share of the weights: a tile keeps as many rows as an array holds where one group of
  // all the tiles would leave each too few.
  int b_groups = 1;
  std::int64_t b_group_cols = 0;
  // The C blocks' stores and a fused residual's loads, spread over each n block's k steps in
  // `c_chunks` pieces of every tile's rows (1: at the block's edge): enough pieces that a
  // step's share, added to the step's broadcast, does not pass what the memory delivers
  // during the step's compute, so the tiles' transfers do not hold up the next broadcast.
  std::int64_t c_chunks = 1;
  // GEMM by k (few rows, long k: a one-token GEMM on an array that streams k): tile t
  // multiplies A[:, tiles[t]] by its slice of every weight row, n_b columns a step, into a
  // partial C [m, n] (tile 0's starting from a fused residual) and stores it as column t of
  // a [m x n, tiles] float32 table in the global buffer at `k_partials`; after a barrier,
  // tile r sums rows reduce_rows[r] of the table (REDUCE_SUM) into C.
  std::uint64_t k_partials = 0;
  std::vector<Range> reduce_rows;
  std::int64_t rows_b = 0, cols_b = 0;  // VECTOR (loops: rows, columns)
  std::int64_t row_period = 0;          // VECTOR: a row block never crosses a multiple of it (RoPE: a session)
  std::int64_t length_b = 0;            // CONV1D, SCAN (loops: sessions, channels, tokens)
  std::int64_t channels_b = 0;          // SCAN: channels (Mamba-2: heads) per step
  std::int64_t head_dim_b = 0;          // SCAN: head_dim rows per step (Mamba-2 splits a head that does not fit)
  std::int64_t row_slices = 1;          // SCAN: ceil(head_dim / head_dim_b); units = channels x row_slices
  // SCAN with one step per (session, channel block), CONV1D with one per session: the step's
  // slot carries its state (loaded with its operands, stored with its output) and the
  // weights (A, D and the dt bias; the conv's) stay resident for all the sessions.
  // Otherwise the state is resident per run and refilled after the steps that use it.
  bool state_in_slot = false;
  ScanKernel scan_kernel = ScanKernel::native;
  std::int64_t q_b = 0, kv_b = 0;  // ATTENTION (loops: (session, head), queries, keys)

  SramLayout sram;  // COPY: none (all zero)

  std::int64_t steps = 0;  // steps on the busiest tile
  double cycles = 0;       // cost-model estimate of the busiest tile
};

// choose_mapping: today's mapping of one op of `module` (its tensors and phase) under the
// memory plan, per kind:
//   GEMM: by n, m or MoE expert; (m_b, n_b, k_b) the fewest steps within 2 % of
//         the cost model's fastest block that fits the SRAM (C twice resident, A + B per slot);
//         or by m with the weights broadcast (b_broadcast) where the cost model finds it
//         faster (groups of tiles, passes over a tile's rows, n_b, k_b and the leaders
//         searched); by n over more, narrower tiles where the weights bind (one token);
//         or by k for at most 16 rows (k_partials: partial sums in the global buffer, then
//         a pass that adds them) where the array streams k too slowly for one token;
//   VECTOR: by rows, or columns for an elementwise op of fewer rows than tiles; columns
//         halved until a row block fits, single-buffered when one row needs half the SRAM;
//   CONV1D: by channels, the longest token block that fits; the state in the slot where a
//         session is one step;
//   SCAN: by channels (heads): the largest channel block whose token block reaches 32 tokens
//         (or all of them), then head_dim row slices (Mamba-2), then single-buffered; the
//         state in the slot where a (session, channel block) is one step;
//   ATTENTION: by (session, head), the q_b x kv_b whose operands fit that the cost model
//         finds fastest;
// Each estimate follows the op's pipeline on its busiest tile (compiler/README.md, "Cost
// model") and ends with the barrier after the op.
//   COPY: one DMA stream.
// Throws ConfigError when no block fits the tile SRAM.
// Worked example (tests/compiler/mapping_test.cpp): krsna-wear (4 tiles of 256 KiB, a 16x16
// array), GEMM m=32 n=64 k=128 in bf16: by n, 16 columns per tile; m_b=32 n_b=16 k_b=128
// (a tile's share in one step); resident 2 x 32x16x4 = 4096 B, slots of 32x128x2 +
// 16x128x2 = 12288 B: 28672 B of SRAM per tile.
// `module_index`: the module's place in plan_memory's list (where its activations live).
OpMapping choose_mapping(const PrimOp& op, const Module& module, const MemoryPlan& plan, const Profile& profile,
                         const CostModel& cost, std::size_t module_index = 0);
// Every op of `module`, in order; GEMMs of one shape share one block search.
std::vector<OpMapping> choose_mappings(const Module& module, std::size_t module_index, const MemoryPlan& plan,
                                       const Profile& profile);

// Where each op's region goes in every tile's SRAM: apart from the previous op's region where
// both fit, so that the op's first weight loads go before the barrier between them and load
// while the previous op finishes (`prefetch`). Only ops whose steps the emitter places
// (generate_program shifts them); the weights-broadcast GEMM and copies stay at 0 and wait.
// choose_mappings counts the overlap in the estimates; generate_program follows it.
struct SramPlacement {
  std::uint64_t base = 0;
  bool prefetch = false;
};
std::vector<SramPlacement> place_in_sram(const Module& module, const std::vector<OpMapping>& mappings,
                                         const Profile& profile);

// VECTOR: whether input `i` is a per-column weight, resident for the whole op (RMSNORM's
// b, GATED_RMSNORM's c, TOPK_BIAS's b).
bool vector_weight_input(const PrimOp& op, std::size_t i);
// The bytes a command of a software scan works on (its largest operand; 0 for SCAN): at
// most the block's state, it runs on the state's bytes, else on scratch of the slot.
std::uint64_t scan_work_bytes(const Work& w);
// The state slices a scan runs in (native_split: ceil(N / max_state), else 1), and the scan
// op restricted to `head_dim_rows` rows of each head (a step of a split head).
int scan_state_passes(const PrimOp& op, const Profile& profile);
PrimOp scan_rows(const PrimOp& op, std::int64_t head_dim_rows);
// The resident bytes of a fused dt_proj's weight rows for `channels` channels of a scan
// (PrimOp::dt_rank; 0 without), rounded up to 64 so the state after them stays aligned.
std::uint64_t scan_dt_weight_bytes(const PrimOp& op, const Module& module, std::int64_t channels);

// The sum over ops of the busiest tile's cycles (the ops run one after another).
double estimated_cycles(const std::vector<OpMapping>& mappings);

// A mapping in one line of `compile --emit tiled`.
struct TiledOp {
  std::string name;
  Prim kind = Prim::vector;
  int tiles = 1;                // tiles with work
  std::string partition;        // "n", "m", "m(bcast)", "repeat", "rows", "cols", "channels", "heads", "rows(dma)"
  std::string blocks;           // e.g. "m_b=64 n_b=128 k_b=256"
  std::int64_t steps = 0;       // steps on the busiest tile
  std::int64_t sram_bytes = 0;  // per tile: resident + slots
  double cycles = 0;            // cost-model estimate of the busiest tile
  double bound_cycles = 0;      // what no mapping beats (cost_model.hpp's op_bound); 0: not computed
  std::string bound_by;         // "compute" or "DRAM"
};
TiledOp summarize(const OpMapping& mapping);
std::string dump_tiled(const std::vector<TiledOp>& tiled);
// `compile --emit mapping`: per op its mapping, estimate, bound and estimate / bound.
std::string dump_mapping(const std::vector<TiledOp>& tiled);

}  // namespace ssmsoc::compiler
