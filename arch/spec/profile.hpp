// A silicon profile: the typed, validated description of one chip. arch/README.md
// documents every field, its unit and its range; this header is the C++ view of it.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arch/spec/config_tree.hpp"

namespace ssmsoc {

// Enumerations with their spellings in profiles. The order of each *_names array is the
// order of the enumerators.
enum class Family { scan_accelerator, gpu, cpu, npu };
enum class Topology { mesh, torus, ring, crossbar, bus };
enum class MemoryEdge { north, south };
enum class Dataflow { weight_stationary, output_stationary, input_stationary };
enum class Precision { int4, int8, fp8, fp16, bf16, tf32, fp32, fp64 };
enum class ScanMode { mamba1, mamba2 };
enum class NumberType { fixed, fp32, bf16, fp16 };
enum class ApproxMethod { exact, piecewise_linear, shift_biased };
enum class FusedOp { delta_softplus, d_skip, silu_gate };
enum class DramTechnology { lpddr4x, lpddr5, lpddr5x, ddr4, ddr5, gddr6, gddr6x, hbm2e, hbm3, hbm3e, ddr3, lpddr4 };
enum class VectorFunction {
  add,
  mul,
  fma,
  max,
  relu,
  exp,
  log,
  sigmoid,
  silu,
  gelu,
  softplus,
  rsqrt,
  recip,
  reduce_sum,
  reduce_max,
  convert
};

const std::vector<std::string_view>& family_names();
const std::vector<std::string_view>& topology_names();
const std::vector<std::string_view>& memory_edge_names();
const std::vector<std::string_view>& dataflow_names();
const std::vector<std::string_view>& precision_names();
const std::vector<std::string_view>& scan_mode_names();
const std::vector<std::string_view>& number_type_names();
const std::vector<std::string_view>& approx_method_names();
const std::vector<std::string_view>& fused_op_names();
const std::vector<std::string_view>& dram_technology_names();
const std::vector<std::string_view>& vector_function_names();

// The profile spelling of an enumerator: name_of(Precision::int8) == "int8".
inline const std::vector<std::string_view>& names_of(Family) { return family_names(); }
inline const std::vector<std::string_view>& names_of(Topology) { return topology_names(); }
inline const std::vector<std::string_view>& names_of(MemoryEdge) { return memory_edge_names(); }
inline const std::vector<std::string_view>& names_of(Dataflow) { return dataflow_names(); }
inline const std::vector<std::string_view>& names_of(Precision) { return precision_names(); }
inline const std::vector<std::string_view>& names_of(ScanMode) { return scan_mode_names(); }
inline const std::vector<std::string_view>& names_of(NumberType) { return number_type_names(); }
inline const std::vector<std::string_view>& names_of(ApproxMethod) { return approx_method_names(); }
inline const std::vector<std::string_view>& names_of(FusedOp) { return fused_op_names(); }
inline const std::vector<std::string_view>& names_of(DramTechnology) { return dram_technology_names(); }
inline const std::vector<std::string_view>& names_of(VectorFunction) { return vector_function_names(); }
template <class Enum>
std::string_view name_of(Enum value) {
  return names_of(value)[static_cast<std::size_t>(value)];
}

inline constexpr std::size_t kVectorFunctionCount = 16;

// An energy or area figure and the id (a key of Profile::sources) of where it comes from.
struct Figure {
  double value = 0;
  std::string source;
};

// Signed two's complement with 1 + int_bits + frac_bits bits, or an IEEE-style float.
struct NumberFormat {
  NumberType type = NumberType::fp32;
  int int_bits = 0;
  int frac_bits = 0;
  int total_bits() const;
};

struct Approximation {
  ApproxMethod method = ApproxMethod::exact;
  int segments = 0;  // piecewise-linear only
};

struct MatrixArray {
  int rows = 0;
  int cols = 0;
  Dataflow dataflow = Dataflow::weight_stationary;
  std::map<Precision, std::int64_t> macs_per_cycle;  // at least one precision
};

struct ScanUnit {
  bool present = false;
  int lanes = 0;
  int max_state = 0;
  int pipeline_depth = 0;
  std::vector<ScanMode> modes;
  NumberFormat data_format;
  NumberFormat state_format;
  Approximation exp_approx;
  std::vector<FusedOp> fused_ops;
  std::optional<Approximation> softplus_approx;  // iff delta_softplus is fused
  std::optional<Approximation> silu_approx;      // iff silu_gate is fused
  // How the SSM state is kept in memory between chunks and tokens: float32, or narrower,
  // which the DMA converts to and from the unit's float32 (SSM_DMA_WIDEN / NARROW).
  Precision state_storage = Precision::fp32;

  bool fuses(FusedOp op) const;
  bool supports(ScanMode mode) const;

  // Timing of the unit (rtl/scan_unit/README.md; the RTL tests measure exactly this). A step
  // is one channel (Mamba-1) or one head row (Mamba-2) at one time step; its `state`
  // elements enter in ceil(state / lanes) beats, one beat per cycle, back to back across
  // steps; the last result leaves pipeline_depth + kOutputStages cycles after the last beat
  // (the stages after the state update: reduction, post-ops, output register).
  static constexpr int kOutputStages = 5;
  std::uint64_t beats_per_step(int state) const;
  std::uint64_t latency_cycles() const;
  std::uint64_t cycles(std::uint64_t steps, int state) const;  // from the first beat to the last result
};

struct VectorCost {
  double cycles_per_element = 0;
  int latency_cycles = 0;
};

struct VectorUnit {
  int lanes = 0;
  std::array<VectorCost, kVectorFunctionCount> cost;  // indexed by VectorFunction
  const VectorCost& operator[](VectorFunction f) const { return cost[static_cast<std::size_t>(f)]; }
};

struct Memory {
  std::int64_t size_bytes = 0;
  int banks = 0;
  int bytes_per_cycle_per_bank = 0;
  int latency_cycles = 0;
};

// The tile's DMA engine moves one transfer's bytes at a time; a transfer's latency (memory,
// route) overlaps the next transfers' bytes, up to `outstanding_transfers` awaiting their data.
struct DmaEngine {
  int outstanding_transfers = 1;  // 1: each transfer waits for the previous one's data
};

struct Tile {
  MatrixArray matrix;
  ScanUnit scan;
  VectorUnit vector;
  Memory sram;
  DmaEngine dma;
};

struct Noc {
  Topology topology = Topology::mesh;
  int link_bytes_per_cycle = 0;
  int hop_latency_cycles = 0;
  // Mesh and torus: the grid edges whose columns each carry a memory port (the global buffer
  // and the DRAM controllers behind them); a tile uses its column's nearer port.
  std::vector<MemoryEdge> memory_edges{MemoryEdge::north};
};

struct Dram {
  DramTechnology technology = DramTechnology::lpddr5;
  int channels = 0;
  double bandwidth_gb_per_s = 0;
  double latency_ns = 0;
  std::int64_t capacity_bytes = 0;
};

struct ControlCore {
  int dispatch_latency_cycles = 0;
  int interrupt_latency_cycles = 0;
  int queue_depth = 0;  // command slots of every engine's queue
};

struct Energy {
  std::map<Precision, Figure> mac_pj;
  std::optional<Figure> scan_step_pj;  // iff the scan unit is present
  Figure vector_op_pj;
  Figure sram_read_byte_pj;
  Figure sram_write_byte_pj;
  Figure global_buffer_byte_pj;
  Figure noc_byte_hop_pj;
  Figure dram_byte_pj;
  Figure leakage_w;
};

struct Area {
  // Per tile.
  Figure matrix_array;
  std::optional<Figure> scan_unit;  // iff the scan unit is present
  Figure vector_unit;
  Figure sram;
  Figure router;
  // Per chip.
  Figure global_buffer;
  Figure control_core;
  Figure dram_phy;
};

// The plain figures of Energy and Area by profile key, so that the loader, the JSON writer
// and reports walk one list. mac_pj and the scan unit's figures are handled apart.
template <class Owner>
struct FigureField {
  std::string_view key;
  Figure Owner::*member;
  bool per_tile;  // area: counted once per tile rather than once per chip
};
const std::vector<FigureField<Energy>>& energy_figure_fields();
const std::vector<FigureField<Area>>& area_figure_fields();

// An incumbent as its inference runtime runs it (`kernels:`, family gpu, cpu or npu;
// sim/kernel_model.hpp): kernels (a GPU's launches, a CPU runtime's parallel ops, an NPU graph's
// ops) one after another, each at least `kernel_floor_us` long; the blocks of a GEMM in waves
// over the tiles (SMs, cores), each at `matrix_efficiency` of its matrix engine's peak;
// memory-bound kernels at `dram_efficiency` of the DRAM bandwidth; a gap of `launch_gap_us`
// between kernels launched one by one (prefill) and `graph_gap_us` between the kernels of a
// replayed graph (decode: a CUDA graph, a CPU thread pool's barrier, an NPU graph's op
// boundary). The Mamba-1 selective scan runs one block per `scan_channels_per_block` channels,
// `scan_step_ns` per token and state element of a block.
// Processing units in the DRAM (HBM-PIM, as Pimba): a decode step's state updates run in the
// memory's banks, each unit streaming its banks' states at `bytes_per_cycle`; only the
// token's operands (x, dt, B, C in, y out) cross the bus to the GPU.
struct PimUnits {
  int units = 0;
  double clock_mhz = 0;
  int bytes_per_cycle = 0;  // state bytes a unit reads per cycle (its write goes to another bank)
  Figure efficiency;        // of that peak the units reach (row activations and precharges between bursts)
  double state_bits = 0;    // bits per state element in the memory (MX8: 8 + shared exponents)
};

struct KernelModel {
  Figure launch_gap_us;
  // The host's time to issue one GEMM eagerly (the library's dispatch: PyTorch's F.linear);
  // launch_gap_us where the profile gives none.
  Figure gemm_launch_gap_us;
  // The host's time per launch of the chunked SSD's kernels run eagerly (mamba_ssm's Python
  // wrapper around its Triton kernels); launch_gap_us where the profile gives none.
  Figure ssd_launch_gap_us;
  Figure graph_gap_us;
  Figure kernel_floor_us;
  Figure matrix_efficiency;
  // Tensor-core kernels other than the GEMM library's (FlashAttention, the chunked SSD's
  // kernels): their fraction of the peak; matrix_efficiency where the profile gives none.
  Figure fused_matrix_efficiency;
  // A tensor-core kernel's fixed time beyond its roofline (the k loop's pipeline fill, the
  // epilogue, split-k partials), added to each GEMM, attention and SSD kernel; 0 where the
  // profile gives none.
  Figure gemm_overhead_us;
  // A memory-bound kernel's fixed time beyond streaming its bytes (its first DRAM round trip,
  // its thread blocks' ramp), added to each element-wise, norm, copy, conv, scan and
  // state-update kernel that moves bytes; 0 where the profile gives none.
  Figure memory_overhead_us;
  // The chunked SSD's kernels' fraction of the peak; fused_matrix_efficiency where the profile
  // gives none.
  Figure ssd_matrix_efficiency;
  // FlashAttention as thread blocks of kAttentionQueryBlock queries of one head, in waves over
  // the SMs (largest first), each `attention_block_us` of fixed time plus its MACs at the SM's
  // rate x `attention_efficiency`; a decode step's blocks stream their keys and values. Absent
  // (source empty): attention is tensor-core work at fused_matrix_efficiency.
  Figure attention_efficiency;
  Figure attention_block_us;
  Figure dram_efficiency;
  // The fraction of the DRAM bandwidth a GEMM streams its operands at (the GEMV kernels of
  // decode stream weights slower than a copy); dram_efficiency where the profile gives none.
  Figure gemm_dram_efficiency;
  // How cuBLAS fills the SMs with a GEMM of few output tiles (sim/kernel_model.cpp,
  // gemm_seconds): k is split into slices of at least gemm_split_k_depth (absent: no split-K),
  // whose partial sums' reduction adds gemm_split_k_reduce_us (0 where absent); each SM with a
  // block streams operands at sm_stream_gb_per_s at most (absent: the DRAM alone limits). A
  // tile's epilogue (its output written back, the next tile's pipeline filled) overlaps its MACs
  // little: it costs as long as gemm_epilogue_depth more elements of k would (0 where absent),
  // which slows the short-k GEMMs whose output dominates.
  Figure gemm_split_k_depth;
  Figure gemm_split_k_reduce_us;
  Figure sm_stream_gb_per_s;
  Figure gemm_epilogue_depth;
  Figure scan_step_ns;
  int scan_channels_per_block = 0;
  std::vector<std::pair<int, int>> gemm_blocks;  // (rows, cols) of C per thread block, the library's choices
  // Tokens of the prompt per pass of the runtime (a graph compiled for a fixed prompt length, as
  // Qualcomm's Genie runs 128); 0: the whole prompt at once.
  int prompt_pass_tokens = 0;
  // Bits per SSM state element between tokens, as the stack keeps the states (32: float32;
  // 16: the model's precision, mamba_ssm's default cache dtype).
  double state_bits = 32;
  std::optional<PimUnits> pim;  // state updates in the memory
};

struct Profile {
  std::string name;  // the file name without .yaml
  std::filesystem::path file;
  std::vector<std::string> bases;  // the base chain, nearest first
  std::string description;
  Family family = Family::scan_accelerator;
  double power_budget_w = 0;
  double clock_mhz = 0;
  int tile_count = 0;
  int grid_rows = 0;
  int grid_cols = 0;
  Noc noc;
  Tile tile;
  Memory global_buffer;
  Dram dram;
  ControlCore control;
  Energy energy;
  Area area;
  std::optional<KernelModel> kernels;  // a GPU timed by its kernels instead of the tile model
  std::map<std::string, std::string> sources;
};

// The directory of shipped profiles: $SSMSOC_PROFILE_DIR, else the source tree's.
std::filesystem::path profile_directory();

// Shipped profile files, sorted by name.
std::vector<std::filesystem::path> shipped_profile_files();

// Profiles of published accelerators (profile_directory()/published), sorted by name: loadable
// by name like the shipped ones, but not among them (workloads/validation reproduces them).
std::vector<std::filesystem::path> published_profile_files();

// Loads a profile by name (looked up in profile_directory(), then its published/ folder) or by
// path (anything with a '/' or ending in .yaml). Throws ConfigError with a one-line message on any problem.
Profile load_profile(std::string_view name_or_path);
Profile load_profile_file(const std::filesystem::path& file);
// The file load_profile reads for a name or path (the same errors).
std::filesystem::path profile_file(std::string_view name_or_path);
// A variant of a profile (a sweep's design point): its resolved tree (bases merged) with
// `overlay` merged over it (config_tree.hpp's merge_config), then read and validated as a
// file is; errors name the overlay's place. `name`: the variant's.
Profile load_profile_with(std::string_view name_or_path, const ConfigNode& overlay, const std::string& name);

// Figures that follow from a profile; arch/README.md gives each formula.
struct PrecisionFigures {
  Precision precision;
  double peak_macs_per_s = 0;
  double peak_flop_per_s = 0;
  double ridge_flop_per_byte = 0;
  double matrix_power_at_peak_w = 0;
};

struct ProfileFigures {
  double clock_hz = 0;
  std::vector<PrecisionFigures> matrix;  // in Precision order
  double peak_scan_steps_per_s = 0;
  double peak_vector_ops_per_s = 0;
  double tile_sram_bytes_per_s = 0;
  double global_buffer_bytes_per_s = 0;
  double dram_bytes_per_s = 0;
  double noc_bisection_bytes_per_s = 0;
  std::int64_t total_sram_bytes = 0;
  double idle_power_w = 0;
  double total_area_mm2 = 0;
};

ProfileFigures derive_figures(const Profile& profile);

}  // namespace ssmsoc
