// Software scan algorithms for silicon without a native scan unit (GPU, CPU and NPU
// profiles), executed as that silicon computes them: in the precision of the unit that runs
// each step and in the association order the algorithm's parallel structure implies.
// arch/SCAN_ALGORITHMS.md documents the choice per profile family, where every rounding
// happens, each algorithm's association order and the measured error table.
//
// All functions take the golden kernels' arguments (kernels.hpp) and return a
// golden::ScanResult with the same layout, so every result compares directly with
// golden::selective_scan and golden::ssd_sequential.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "arch/golden/kernels.hpp"
#include "arch/spec/profile.hpp"

namespace ssmsoc::scanalgo {

enum class Algorithm {
  native_scan_unit,        // the profile's own scan unit (fixed_scan.hpp); not a software algorithm
  blelloch_prefix_scan,    // work-efficient parallel prefix scan on the SIMT cores (GPU, Mamba-1)
  chunked_ssd_matrix,      // Mamba-2 SSD: intra-chunk matrix products on the matrix unit (GPU, NPU)
  sequential_vector_scan,  // one time step after another, SIMD across channels and state (CPU; NPU Mamba-1)
};
std::string_view algorithm_name(Algorithm algorithm);  // "blelloch-prefix-scan", ...

// What the algorithms need to know of the silicon, derived from a profile's fields
// (never from its name) by silicon_of.
struct Silicon {
  Family family = Family::gpu;
  // tile.vector.lanes: the thread-block size of the GPU prefix scan (one element per thread)
  // and the SIMD width of the CPU/NPU vector scan and of its horizontal reductions.
  int lanes = 1;
  // Whether the vector unit computes a*b + c with one rounding: true when the profile
  // prices fma below mul + add (tile.vector.functions), false when fma costs a mul and an
  // add, i.e. is issued as the two.
  bool fused_fma = true;
  // The precision the matrix unit's inputs are rounded to (products are exact and
  // accumulate in fp32): matrix_float_precision (arch/spec/engine_cycles.hpp), or fp32 when
  // the unit has no floating precision (the products then run on the vector unit in fp32).
  Precision matrix_input = Precision::fp32;
  // Chunk length of the chunked SSD (Mamba-2's default chunk_size).
  int ssd_chunk = 256;
};
inline constexpr int kDefaultSsdChunk = 256;
Silicon silicon_of(const Profile& profile);

// The algorithm each model runs on a profile, by family: gpu: Blelloch (Mamba-1) and
// chunked SSD (Mamba-2); npu: sequential vector scan (Mamba-1) and chunked SSD (Mamba-2);
// cpu: sequential vector scan for both; scan-accelerator: the native scan unit.
struct ScanPlan {
  Silicon silicon;
  Algorithm mamba1 = Algorithm::native_scan_unit;
  Algorithm mamba2 = Algorithm::native_scan_unit;
  std::string mamba1_precision;  // one line, e.g. "fp32 vector lanes, fused FMA"
  std::string mamba2_precision;  // e.g. "bf16 matrix inputs, fp32 accumulation; fp32 vector"
};
ScanPlan plan_for(const Profile& profile);

// Runs the plan's algorithm on golden arguments. For a scan-accelerator profile this is the
// bit-accurate scan unit (fixed_scan.hpp); std::invalid_argument when its unit lacks the mode.
golden::ScanResult run_software_scan(const Profile& profile, const golden::SelectiveScanArgs& args);
golden::ScanResult run_software_scan(const Profile& profile, const golden::SsdArgs& args);

// ---------------------------------------------------------------------------------------
// The algorithms, for a given Silicon.

// Mamba-1 selective scan as a Blelloch scan of h_t = a_t h_{t-1} + b_t per (batch, channel,
// state element), a_t = exp(dt_t A), b_t = (dt_t B_t) u_t; y_t = <h_t, C_t> summed over the
// state index in order (each thread loops over its states); element-wise steps in fp32.
golden::ScanResult blelloch_selective_scan(const golden::SelectiveScanArgs& args, const Silicon& silicon);
// Mamba-1 selective scan stepped in time, vectorised across channels and state; <h, C> in
// the lane-tree order of a SIMD horizontal add.
golden::ScanResult sequential_selective_scan(const golden::SelectiveScanArgs& args, const Silicon& silicon);
// Mamba-2 SSD chunked: C·Bᵀ, the masked decay-weighted products, the chunk states and the
// state-to-output term on the matrix unit (inputs rounded to silicon.matrix_input, fp32
// accumulation); chunk cumulative sums, exponentials and the recurrence across chunks on
// the vector unit in fp32.
golden::ScanResult chunked_ssd(const golden::SsdArgs& args, const Silicon& silicon);
// Mamba-2 SSD stepped in time on the vector unit, <h, C> in lane-tree order.
golden::ScanResult sequential_ssd(const golden::SsdArgs& args, const Silicon& silicon);

// The linear recurrence h_t = a_t h_{t-1} + b_t from h_{-1} = 0, returning every h_t:
// as the GPU computes it (a Blelloch up-sweep/down-sweep per chunk of `block` elements,
// the chunk totals scanned the same way, recursively, then each chunk's carry applied),
// and step by step. (a1, b1)∘(a2, b2) = (a1 a2, a2 b1 + b2). block >= 2 (a one-thread
// block would never shrink the carries); blelloch_selective_scan uses max(2, lanes).
std::vector<float> blelloch_linear_scan(std::span<const float> a, std::span<const float> b, int block, bool fused_fma);
std::vector<float> sequential_linear_scan(std::span<const float> a, std::span<const float> b, bool fused_fma);

// sum_k x_k y_k as a SIMD unit of `lanes` lanes computes it: lane k mod lanes accumulates
// its products in order, then a horizontal add halves the lanes pairwise (lane i += lane
// i + w for w = lanes/2, ..., 1; lanes not a power of two are padded with zero lanes).
float lane_tree_dot(const float* x, const float* y, std::size_t n, int lanes, bool fused_fma);

// x rounded to nearest even into a matrix input precision: fp32 (unchanged), tf32 (10
// fraction bits, fp32 range), bf16, fp16; others are std::invalid_argument.
float round_matrix_input(float x, Precision precision);

// ---------------------------------------------------------------------------------------
// Error bounds: each shipped profile without a native scan unit, its algorithms against the
// float32 golden kernels (golden::selective_scan, golden::ssd_sequential) on the reference
// cases of tests/data/kernels (selective_scan_*, ssd_*) and on seeded random cases. Errors
// cover the output and the final state; rel = max |error| / max |golden| over a tensor.

inline constexpr std::uint64_t kSoftwareScanSeed = 20261101;
inline constexpr int kSoftwareScanRandomCases = 4;  // per model; the first is the long one (L = 2048)

// One model's algorithm on one profile.
struct SoftwareScanPart {
  std::string model;  // "mamba1" or "mamba2"
  Algorithm algorithm = Algorithm::sequential_vector_scan;
  std::string precision;
  int cases = 0;           // reference + random
  std::int64_t steps = 0;  // time steps over all cases and sequences (batch x length, summed)
  double max_abs = 0, max_rel = 0;
  double bound = 0;  // on max_rel
  bool pass = false;
};

// One row per profile. max_abs, max_rel: the largest over its parts; bound: the largest of
// the parts' bounds; pass: every part within its own bound.
struct SoftwareScanRow {
  std::string profile;
  std::string algorithms;  // "mamba1: blelloch-prefix-scan; mamba2: chunked-ssd-matrix"
  int cases = 0;
  std::int64_t steps = 0;
  double max_abs = 0, max_rel = 0, bound = 0;
  bool pass = false;
  std::vector<SoftwareScanPart> parts;  // mamba1, mamba2
};

// The stated bound on max rel for an algorithm on a silicon (SCAN_ALGORITHMS.md): the fp32
// vector algorithms kFp32ScanBound; the chunked SSD 3 u + kChunkedSsdFloor, u the unit
// roundoff of its matrix input precision (2^-8 bf16, 2^-11 fp16 and tf32, 2^-24 fp32) and
// the floor the fp32 error of its cumulative-sum decays. Both constants are set about
// 2-4x above what software_scan_check measures with the default seed.
inline constexpr double kFp32ScanBound = 7e-7;
inline constexpr double kChunkedSsdFloor = 3e-5;
double error_bound(Algorithm algorithm, const Silicon& silicon);
double unit_roundoff(Precision precision);

// The directory of the reference kernel cases: the source tree's tests/data/kernels.
std::string reference_kernel_directory();

std::vector<SoftwareScanRow> software_scan_check(std::uint64_t seed = kSoftwareScanSeed,
                                                 int random_cases = kSoftwareScanRandomCases);
// The same, with the reference cases read from `reference_dir` ("" for none).
std::vector<SoftwareScanRow> software_scan_check(std::uint64_t seed, int random_cases,
                                                 const std::string& reference_dir);
// The table of SCAN_ALGORITHMS.md: one line per part.
std::string software_scan_markdown(const std::vector<SoftwareScanRow>& rows);

}  // namespace ssmsoc::scanalgo
