#include "sim/kernel_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <queue>
#include <stdexcept>
#include <vector>

#include "arch/spec/engine_cycles.hpp"
#include "sim/sim_internal.hpp"

namespace ssmsoc::sim {

namespace {

double ceil_div(double a, double b) { return std::ceil(a / b); }

const KernelModel& model_of(const Profile& profile) {
  if (!profile.kernels)
    throw std::invalid_argument(fmt::format("{}: the profile has no kernels: section", profile.name));
  return *profile.kernels;
}

// An SM's tensor-core MACs per second in `precision` at the profile's clock.
double sm_macs_per_s(const Profile& profile, Precision precision) {
  const auto it = profile.tile.matrix.macs_per_cycle.find(precision);
  if (it == profile.tile.matrix.macs_per_cycle.end())
    throw std::invalid_argument(
        fmt::format("{}: the tensor cores have no {} precision", profile.name, name_of(precision)));
  return double(it->second) * profile.clock_mhz * 1e6;
}

double dram_seconds(const Profile& profile, double bytes, double efficiency) {
  return bytes / (profile.dram.bandwidth_gb_per_s * 1e9 * efficiency);
}

// Split-K: when a GEMM's output tiles leave SMs idle and k is long, the library splits k into
// slices of at least gemm_split_k_depth, at most as many as fill the SMs (1: no split; always 1
// on a profile without the figure).
double split_k_slices(const KernelModel& km, double tiles, double sms, std::int64_t k) {
  if (km.gemm_split_k_depth.value <= 0 || tiles >= sms) return 1;
  return std::max(1.0, std::min(std::floor(sms / tiles), std::floor(double(k) / km.gemm_split_k_depth.value)));
}

// A GEMM as cuBLAS runs it on Hopper: each thread block computes a (rows x cols) tile of C over
// its slice of k, in waves over the SMs. Split-K's float32 partial sums are written and read
// back, and their reduction adds gemm_split_k_reduce_us. The operands stream at the DRAM's rate
// x gemm_dram_efficiency, or at sm_stream_gb_per_s per SM with a block, whichever is less: a
// GEMM of few blocks cannot draw the whole bandwidth. Each block's epilogue adds the time of
// gemm_epilogue_depth more elements of k. The library's tile is the one that finishes first.
double gemm_seconds(const Profile& profile, const KernelCall& g) {
  const KernelModel& km = model_of(profile);
  const double sm_rate = sm_macs_per_s(profile, g.precision) * km.matrix_efficiency.value;
  const double sms = profile.tile_count;
  const double dram_rate = profile.dram.bandwidth_gb_per_s * 1e9 * km.gemm_dram_efficiency.value;
  double best = 0;
  for (const auto& [rows, cols] : km.gemm_blocks) {
    const double tiles = double(g.batch) * ceil_div(double(g.m), rows) * ceil_div(double(g.n), cols);
    const double slices = split_k_slices(km, tiles, sms, g.k);
    const double blocks = tiles * slices;
    const double compute = ceil_div(blocks, sms) * double(rows) * cols *
                           (ceil_div(double(g.k), slices) + km.gemm_epilogue_depth.value) / sm_rate;
    const double partial_sum_bytes = slices > 1 ? 2.0 * 4.0 * slices * double(g.batch) * double(g.m) * double(g.n) : 0;
    const double stream_rate = km.sm_stream_gb_per_s.value > 0
                                   ? std::min(dram_rate, std::min(blocks, sms) * km.sm_stream_gb_per_s.value * 1e9)
                                   : dram_rate;
    const double seconds = std::max(compute, (g.bytes + partial_sum_bytes) / stream_rate) +
                           (slices > 1 ? km.gemm_split_k_reduce_us.value * 1e-6 : 0.0);
    if (best == 0 || seconds < best) best = seconds;
  }
  return best;
}

// FlashAttention's thread blocks: kAttentionQueryBlock queries of one head each, a causal
// block seeing the keys up to its last query; in waves over the SMs, the longest first (a
// block's time: attention_block_us plus its MACs at the SM's rate x attention_efficiency).
constexpr int kAttentionQueryBlock = 128;

double attention_blocks_seconds(const Profile& profile, const KernelCall& k) {
  const KernelModel& km = model_of(profile);
  const double sm_rate = sm_macs_per_s(profile, k.precision) * km.attention_efficiency.value;
  const std::int64_t blocks = (k.length + kAttentionQueryBlock - 1) / kAttentionQueryBlock;
  std::vector<double> block_s;  // one head's
  for (std::int64_t i = 0; i < blocks; ++i) {
    const double rows = double(std::min<std::int64_t>(kAttentionQueryBlock, k.length - i * kAttentionQueryBlock));
    const double keys =
        double(k.m) +
        (k.causal ? double(std::min<std::int64_t>(k.length, (i + 1) * kAttentionQueryBlock)) : double(k.length));
    block_s.push_back(km.attention_block_us.value * 1e-6 + 2.0 * rows * keys * double(k.k) / sm_rate);
  }
  std::sort(block_s.begin(), block_s.end(), std::greater<>());
  // Every head has the same blocks: hand them out longest first, each to the least busy SM; a
  // whole round of equal blocks (one per SM) adds the same to every SM, so only the rest of a
  // round goes block by block (many sessions' heads stay cheap to time).
  const std::int64_t sm_count = profile.tile_count;
  double rounds_s = 0;  // what whole rounds add to every SM
  std::priority_queue<double, std::vector<double>, std::greater<>> sms;
  for (std::int64_t s = 0; s < sm_count; ++s) sms.push(0);
  for (const double b : block_s) {
    rounds_s += double(k.batch / sm_count) * b;
    for (std::int64_t h = 0; h < k.batch % sm_count; ++h) {
      const double least = sms.top();
      sms.pop();
      sms.push(least + b);
    }
  }
  double busiest = 0;
  while (!sms.empty()) busiest = sms.top(), sms.pop();
  return rounds_s + busiest;
}

}  // namespace

double kernel_seconds(const Profile& profile, const KernelCall& k) {
  const KernelModel& km = model_of(profile);
  double compute = 0;
  switch (k.kind) {
    case KernelKind::gemm:
      compute = gemm_seconds(profile, k);
      break;
    case KernelKind::chunked_ssd:
      compute =
          k.flops / 2 / (sm_macs_per_s(profile, k.precision) * profile.tile_count * km.ssd_matrix_efficiency.value);
      break;
    case KernelKind::selective_scan: {
      // A thread block per scan_channels_per_block channels, in waves over the SMs; a block
      // steps through the tokens, each step over the state.
      const double blocks = ceil_div(double(k.channels), km.scan_channels_per_block);
      compute =
          ceil_div(blocks, profile.tile_count) * double(k.length) * double(k.state) * km.scan_step_ns.value * 1e-9;
      break;
    }
    case KernelKind::attention:
      if (!km.attention_block_us.source.empty()) {
        // The blocks' waves, or their fixed time and the keys and values streamed (decode).
        const double stream =
            km.attention_block_us.value * 1e-6 + dram_seconds(profile, k.bytes, km.dram_efficiency.value);
        return std::max({attention_blocks_seconds(profile, k), stream, k.launches * km.kernel_floor_us.value * 1e-6});
      }
      compute =
          k.flops / 2 / (sm_macs_per_s(profile, k.precision) * profile.tile_count * km.fused_matrix_efficiency.value);
      break;
    case KernelKind::state_update:
      if (km.pim) {
        // In the memory: every unit streams its banks' share of the states (and writes the
        // new ones to a paired bank meanwhile).
        const PimUnits& u = *km.pim;
        compute = k.memory_bytes / (double(u.units) * u.clock_mhz * 1e6 * u.bytes_per_cycle * u.efficiency.value);
      }
      break;
    case KernelKind::memory:
      break;
  }
  const bool gemm = k.kind == KernelKind::gemm;
  const double dram = dram_seconds(profile, k.bytes, gemm ? km.gemm_dram_efficiency.value : km.dram_efficiency.value);
  // A kernel carries a fixed time beyond its roofline: a tensor-core kernel's (GEMMs,
  // FlashAttention, the SSD's) its pipeline fill and epilogue, a memory-bound one's its first
  // DRAM round trip and ramp (none without bytes to move).
  const bool tensor_core = gemm || k.kind == KernelKind::chunked_ssd || k.kind == KernelKind::attention;
  const double overhead = k.launches * 1e-6 *
                          (tensor_core   ? km.gemm_overhead_us.value
                           : k.bytes > 0 ? km.memory_overhead_us.value
                                         : 0.0);
  return std::max({compute, dram, k.launches * km.kernel_floor_us.value * 1e-6}) + overhead;
}

double host_issue_seconds(const Profile& profile, const KernelCall& k) {
  const KernelModel& km = model_of(profile);
  const Figure& gap = k.kind == KernelKind::gemm          ? km.gemm_launch_gap_us
                      : k.kind == KernelKind::chunked_ssd ? km.ssd_launch_gap_us
                                                          : km.launch_gap_us;
  return k.launches * gap.value * 1e-6;
}

double launch_span_seconds(const Profile& profile, const KernelCall& k, double device, bool graph) {
  // A graph's kernels follow each other with the graph's gap; launched one by one, a stream of
  // the same kernel runs at the slower of the host issuing it and the device running it.
  if (graph) return device + k.launches * model_of(profile).graph_gap_us.value * 1e-6;
  return std::max(device, host_issue_seconds(profile, k));
}

SimResult simulate_kernels(const Profile& profile, const std::vector<KernelCall>& kernels, std::size_t ops,
                           bool graph) {
  model_of(profile);  // a profile without kernels: is an error even for a phase without kernels
  const double hz = profile.clock_mhz * 1e6;
  SimResult r;
  r.tiles.resize(1);  // the GPU as one: an engine's busy cycles are its kernels' time
  r.ops.resize(ops);
  // Launched one by one on a GPU, the host issues each kernel into the stream's queue and runs
  // ahead of the device: a kernel starts once issued and once the one before it has ended. A
  // CPU's or NPU's runtime runs its ops itself: each takes at least its per-op overhead.
  const bool queued = !graph && profile.family == Family::gpu;
  double seconds = 0, issued = 0, dram_bytes = 0;
  for (const KernelCall& k : kernels) {
    const double device = kernel_seconds(profile, k);
    double begin = seconds;
    if (queued) {
      issued += host_issue_seconds(profile, k);
      begin = std::max(issued, seconds);
      seconds = begin + device;
    } else {
      seconds += launch_span_seconds(profile, k, device, graph);
    }
    const auto start = static_cast<std::uint64_t>(std::llround(begin * hz));
    dram_bytes += k.bytes;
    const bool matrix =
        k.kind == KernelKind::gemm || k.kind == KernelKind::chunked_ssd || k.kind == KernelKind::attention;
    const double macs = matrix ? k.flops / 2 : 0;
    if (macs > 0) r.macs[std::string(name_of(k.precision))] += static_cast<std::uint64_t>(macs);
    const ssm_engine engine = matrix                         ? SSM_ENGINE_MATRIX
                              : k.kind == KernelKind::memory ? SSM_ENGINE_DMA
                                                             : SSM_ENGINE_SCAN;
    const auto busy = static_cast<std::uint64_t>(std::llround(device * hz));
    r.tiles[0].engines[engine].busy_cycles += busy;
    ++r.tiles[0].engines[engine].commands;
    ++r.commands;
    r.timeline.add(engine, start, start + busy);
    if (k.op >= 0 && std::size_t(k.op) < ops) {
      OpStats& o = r.ops[std::size_t(k.op)];
      if (o.commands == 0) o.first_cycle = start;
      o.last_cycle = static_cast<std::uint64_t>(std::llround(seconds * hz));
      o.busy_cycles[engine] += busy;
      ++o.commands;
      o.dram_read_bytes += static_cast<std::uint64_t>(k.bytes);
      if (macs > 0) o.macs[std::string(name_of(k.precision))] += static_cast<std::uint64_t>(macs);
    }
  }
  r.seconds = seconds;
  r.cycles = static_cast<std::uint64_t>(std::llround(seconds * hz));
  r.dram_read_bytes = static_cast<std::uint64_t>(dram_bytes);
  account_energy(profile, r);
  for (OpStats& o : r.ops) account_op_energy(profile, o);
  return r;
}

}  // namespace ssmsoc::sim
