#include "arch/spec/profile.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <cstdlib>
#include <system_error>

namespace ssmsoc {

namespace fs = std::filesystem;

// clang-format off
const std::vector<std::string_view>& family_names() { static const std::vector<std::string_view> v{"scan-accelerator", "gpu", "cpu", "npu"}; return v; }
const std::vector<std::string_view>& topology_names() { static const std::vector<std::string_view> v{"mesh", "torus", "ring", "crossbar", "bus"}; return v; }
const std::vector<std::string_view>& memory_edge_names() { static const std::vector<std::string_view> v{"north", "south"}; return v; }
const std::vector<std::string_view>& dataflow_names() { static const std::vector<std::string_view> v{"weight-stationary", "output-stationary", "input-stationary"}; return v; }
const std::vector<std::string_view>& precision_names() { static const std::vector<std::string_view> v{"int4", "int8", "fp8", "fp16", "bf16", "tf32", "fp32", "fp64"}; return v; }
const std::vector<std::string_view>& scan_mode_names() { static const std::vector<std::string_view> v{"mamba1", "mamba2"}; return v; }
const std::vector<std::string_view>& number_type_names() { static const std::vector<std::string_view> v{"fixed", "fp32", "bf16", "fp16"}; return v; }
const std::vector<std::string_view>& approx_method_names() { static const std::vector<std::string_view> v{"exact", "piecewise-linear", "shift-biased"}; return v; }
const std::vector<std::string_view>& fused_op_names() { static const std::vector<std::string_view> v{"delta_softplus", "d_skip", "silu_gate"}; return v; }
const std::vector<std::string_view>& dram_technology_names() { static const std::vector<std::string_view> v{"lpddr4x", "lpddr5", "lpddr5x", "ddr4", "ddr5", "gddr6", "gddr6x", "hbm2e", "hbm3", "hbm3e", "ddr3", "lpddr4"}; return v; }
const std::vector<std::string_view>& vector_function_names() { static const std::vector<std::string_view> v{"add", "mul", "fma", "max", "relu", "exp", "log", "sigmoid", "silu", "gelu", "softplus", "rsqrt", "recip", "reduce_sum", "reduce_max", "convert"}; return v; }
// clang-format on

const std::vector<FigureField<Energy>>& energy_figure_fields() {
  static const std::vector<FigureField<Energy>> fields{
      {"vector_op_pj", &Energy::vector_op_pj, false},
      {"sram_read_byte_pj", &Energy::sram_read_byte_pj, false},
      {"sram_write_byte_pj", &Energy::sram_write_byte_pj, false},
      {"global_buffer_byte_pj", &Energy::global_buffer_byte_pj, false},
      {"noc_byte_hop_pj", &Energy::noc_byte_hop_pj, false},
      {"dram_byte_pj", &Energy::dram_byte_pj, false},
      {"leakage_w", &Energy::leakage_w, false},
  };
  return fields;
}

const std::vector<FigureField<Area>>& area_figure_fields() {
  static const std::vector<FigureField<Area>> fields{
      {"matrix_array", &Area::matrix_array, true},
      {"vector_unit", &Area::vector_unit, true},
      {"sram", &Area::sram, true},
      {"router", &Area::router, true},
      {"global_buffer", &Area::global_buffer, false},
      {"control_core", &Area::control_core, false},
      {"dram_phy", &Area::dram_phy, false},
  };
  return fields;
}

int NumberFormat::total_bits() const {
  switch (type) {
    case NumberType::fixed:
      return 1 + int_bits + frac_bits;
    case NumberType::fp32:
      return 32;
    case NumberType::bf16:
    case NumberType::fp16:
      return 16;
  }
  return 0;
}

bool ScanUnit::fuses(FusedOp op) const { return std::find(fused_ops.begin(), fused_ops.end(), op) != fused_ops.end(); }
std::uint64_t ScanUnit::beats_per_step(int state) const {
  return static_cast<std::uint64_t>((state + lanes - 1) / lanes);
}
std::uint64_t ScanUnit::latency_cycles() const { return static_cast<std::uint64_t>(pipeline_depth + kOutputStages); }
std::uint64_t ScanUnit::cycles(std::uint64_t steps, int state) const {
  return steps * beats_per_step(state) + latency_cycles();
}

bool ScanUnit::supports(ScanMode mode) const { return std::find(modes.begin(), modes.end(), mode) != modes.end(); }

fs::path profile_directory() {
  if (const char* dir = std::getenv("SSMSOC_PROFILE_DIR"); dir != nullptr && *dir != '\0') return dir;
  return SSMSOC_SOURCE_PROFILE_DIR;
}

namespace {
std::vector<fs::path> profile_files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_regular_file() && entry.path().extension() == ".yaml") files.push_back(entry.path());
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) { return a.stem() < b.stem(); });
  return files;
}
}  // namespace

std::vector<fs::path> shipped_profile_files() { return profile_files_in(profile_directory()); }
std::vector<fs::path> published_profile_files() { return profile_files_in(profile_directory() / "published"); }

namespace {

constexpr std::int64_t kKiB = 1024;
constexpr std::int64_t kMiB = kKiB * 1024;
constexpr std::int64_t kGiB = kMiB * 1024;
constexpr std::int64_t kTiB = kGiB * 1024;

template <class Enum>
Enum read_enum(const MapReader& map, std::string_view key) {
  return static_cast<Enum>(map.choice(key, names_of(Enum{})));
}

// A list of distinct enumerators; `allow_empty` for lists that may be [].
template <class Enum>
std::vector<Enum> read_enum_list(const MapReader& map, std::string_view key, bool allow_empty) {
  const auto& names = names_of(Enum{});
  std::string options;
  for (auto name : names) options += fmt::format("{}{}", options.empty() ? "" : ", ", name);
  const ConfigNode& node = map.required(key, fmt::format("a list of {}", options));
  std::string path = map.child_path(key);
  if (node.kind != ConfigNode::Kind::sequence)
    throw ConfigError(node.pos, path, fmt::format("expected a list of {}, got {}", options, node.describe()));
  if (node.items.empty() && !allow_empty)
    throw ConfigError(node.pos, path, fmt::format("expected at least one of {}", options));
  std::vector<Enum> values;
  for (std::size_t i = 0; i < node.items.size(); ++i) {
    std::string item_path = fmt::format("{}[{}]", path, i);
    auto value = static_cast<Enum>(config_choice(node.items[i], item_path, names));
    if (std::find(values.begin(), values.end(), value) != values.end())
      throw ConfigError(node.items[i].pos, item_path, fmt::format("'{}' is listed twice", name_of(value)));
    values.push_back(value);
  }
  return values;
}

class ProfileReader {
 public:
  explicit ProfileReader(Profile& profile) : profile_(profile) {}

  void read(const ConfigNode& root) {
    root_ = &root;
    MapReader top(root, "",
                  {"base", "description", "family", "power_budget_w", "clock_mhz", "tiles", "noc", "tile",
                   "global_buffer", "dram", "control", "energy", "area_mm2", "kernels", "sources"});
    read_sources(top);
    profile_.description = top.string("description");
    profile_.family = read_enum<Family>(top, "family");
    profile_.power_budget_w = top.number("power_budget_w", 0, 10000);
    profile_.clock_mhz = top.number("clock_mhz", 0, 10000);
    read_tiles(top.map("tiles", {"count", "grid"}));
    read_noc(top.map("noc", {"topology", "link_bytes_per_cycle", "hop_latency_cycles", "memory_edges"}));
    MapReader tile = top.map("tile", {"matrix", "scan", "vector", "sram", "dma"});
    read_matrix(tile.map("matrix", {"rows", "cols", "dataflow", "precisions"}));
    read_scan(tile);
    read_vector(tile.map("vector", {"lanes", "functions"}));
    profile_.tile.sram = read_memory(tile, "sram", 1 * kGiB);
    if (tile.has("dma"))
      profile_.tile.dma.outstanding_transfers =
          static_cast<int>(tile.map("dma", {"outstanding_transfers"}).integer("outstanding_transfers", 1, 1024));
    profile_.global_buffer = read_memory(top, "global_buffer", 16 * kGiB);
    read_dram(top.map("dram", {"technology", "channels", "bandwidth_gb_per_s", "latency_ns", "capacity_bytes"}));
    MapReader control = top.map("control", {"dispatch_latency_cycles", "interrupt_latency_cycles", "queue_depth"});
    profile_.control.dispatch_latency_cycles = static_cast<int>(control.integer("dispatch_latency_cycles", 0, 100000));
    profile_.control.interrupt_latency_cycles =
        static_cast<int>(control.integer("interrupt_latency_cycles", 0, 100000));
    profile_.control.queue_depth = static_cast<int>(control.integer("queue_depth", 1, 4096));
    read_energy(top);
    read_area(top);
    if (top.has("kernels")) read_kernels(top);
    if (profile_.family == Family::scan_accelerator && !profile_.tile.scan.present)
      fail_cross("tile.scan.present", "family", "a scan-accelerator needs tile.scan.present: true");
  }

 private:
  // The node at a dotted key path of the resolved tree (the path must exist).
  const ConfigNode& at(std::string_view path) const {
    const ConfigNode* node = root_;
    std::size_t start = 0;
    while (start <= path.size()) {
      std::size_t dot = path.find('.', start);
      if (dot == std::string_view::npos) dot = path.size();
      node = node->find(path.substr(start, dot - start));
      start = dot + 1;
    }
    return *node;
  }

  // A rule between two fields, reported at the one the loaded file itself sets (that is
  // where the user is editing), naming where the other one is.
  [[noreturn]] void fail_cross(const std::string& path_a, const std::string& path_b, std::string_view message) const {
    const ConfigNode& a = at(path_a);
    const ConfigNode& b = at(path_b);
    const std::string top_file = profile_.file.string();
    const bool report_b = b.pos.file == top_file && a.pos.file != top_file;
    const ConfigNode& here = report_b ? b : a;
    const ConfigNode& other = report_b ? a : b;
    throw ConfigError(here.pos, report_b ? path_b : path_a,
                      fmt::format("{} (see {} at {}:{}:{})", message, report_b ? path_a : path_b, other.pos.file,
                                  other.pos.line, other.pos.column));
  }

  void read_sources(const MapReader& top) {
    MapReader sources = top.free_map("sources");
    if (sources.node().entries.empty()) sources.fail_here("expected at least one source");
    for (const auto& entry : sources.node().entries)
      profile_.sources[entry.key] = config_string(entry.value, sources.child_path(entry.key));
  }

  void read_tiles(const MapReader& tiles) {
    MapReader grid = tiles.map("grid", {"rows", "cols"});
    profile_.grid_rows = static_cast<int>(grid.integer("rows", 1, 4096));
    profile_.grid_cols = static_cast<int>(grid.integer("cols", 1, 4096));
    profile_.tile_count = static_cast<int>(tiles.integer("count", 1, 65536));
    const std::int64_t places = std::int64_t{profile_.grid_rows} * profile_.grid_cols;
    if (profile_.tile_count > places)
      fail_cross("tiles.count", "tiles.grid",
                 fmt::format("{} tiles do not fit a {}x{} grid ({} places)", profile_.tile_count, profile_.grid_rows,
                             profile_.grid_cols, places));
    if (profile_.tile_count <= places - profile_.grid_cols)
      fail_cross("tiles.count", "tiles.grid",
                 fmt::format("{} tiles leave the last row of a {}x{} grid empty; use fewer rows", profile_.tile_count,
                             profile_.grid_rows, profile_.grid_cols));
  }

  void read_noc(const MapReader& noc) {
    profile_.noc.topology = read_enum<Topology>(noc, "topology");
    profile_.noc.link_bytes_per_cycle = static_cast<int>(noc.integer("link_bytes_per_cycle", 1, 4096));
    profile_.noc.hop_latency_cycles = static_cast<int>(noc.integer("hop_latency_cycles", 0, 1000));
    if (noc.has("memory_edges")) {
      const Topology t = profile_.noc.topology;
      if (t != Topology::mesh && t != Topology::torus)
        noc.fail("memory_edges",
                 fmt::format("only a mesh or torus has edges for memory ports; a {} has one port", name_of(t)));
      profile_.noc.memory_edges = read_enum_list<MemoryEdge>(noc, "memory_edges", false);
      std::sort(profile_.noc.memory_edges.begin(), profile_.noc.memory_edges.end());
    }
  }

  void read_matrix(const MapReader& matrix) {
    MatrixArray& m = profile_.tile.matrix;
    m.rows = static_cast<int>(matrix.integer("rows", 1, 1024));
    m.cols = static_cast<int>(matrix.integer("cols", 1, 1024));
    m.dataflow = read_enum<Dataflow>(matrix, "dataflow");
    MapReader precisions = matrix.free_map("precisions");
    if (precisions.node().entries.empty()) precisions.fail_here("expected at least one precision");
    const std::int64_t max_macs = std::int64_t{4} * m.rows * m.cols;  // sub-word packing: up to 4 per PE
    for (const auto& entry : precisions.node().entries) {
      auto precision = static_cast<Precision>(precision_key(precisions, entry));
      MapReader cost(entry.value, precisions.child_path(entry.key), {"macs_per_cycle"});
      const std::int64_t macs = cost.integer("macs_per_cycle", 1, std::int64_t{1} << 40);
      if (macs > max_macs)
        fail_cross(
            cost.child_path("macs_per_cycle"), "tile.matrix.rows",
            fmt::format("{} MACs/cycle exceed 4 per PE of the {}x{} array ({})", macs, m.rows, m.cols, max_macs));
      m.macs_per_cycle[precision] = macs;
    }
  }

  Approximation read_approximation(const MapReader& parent, std::string_view key, bool exp) {
    MapReader approx = parent.map(key, {"method", "segments"});
    Approximation a;
    a.method = read_enum<ApproxMethod>(approx, "method");
    if (a.method == ApproxMethod::shift_biased && !exp)
      approx.fail("method", "shift-biased approximates exp only; use exact or piecewise-linear");
    if (a.method == ApproxMethod::piecewise_linear)
      a.segments = static_cast<int>(approx.integer("segments", 2, 4096));
    else if (approx.has("segments"))
      approx.fail("segments", "only a piecewise-linear approximation has segments");
    return a;
  }

  NumberFormat read_format(const MapReader& parent, std::string_view key) {
    MapReader format = parent.map(key, {"type", "int_bits", "frac_bits"});
    NumberFormat f;
    f.type = read_enum<NumberType>(format, "type");
    if (f.type != NumberType::fixed) {
      for (auto width : {"int_bits", "frac_bits"})
        if (format.has(width)) format.fail(width, "only a fixed-point format has int_bits and frac_bits");
      return f;
    }
    f.int_bits = static_cast<int>(format.integer("int_bits", 0, 62));
    f.frac_bits = static_cast<int>(format.integer("frac_bits", 0, 62));
    if (f.total_bits() > 64)
      format.fail("frac_bits", fmt::format("1 sign + {} integer + {} fraction bits is {} bits; at most 64 fit",
                                           f.int_bits, f.frac_bits, f.total_bits()));
    return f;
  }

  void read_scan(const MapReader& tile) {
    const ConfigNode& node = tile.required("scan", "a mapping with key present");
    ScanUnit& s = profile_.tile.scan;
    {
      MapReader presence(node, tile.child_path("scan"));
      s.present = presence.boolean("present");
      if (!s.present) {
        for (const auto& entry : node.entries)
          if (entry.key != "present")
            fail_cross(presence.child_path(entry.key), "tile.scan.present",
                       fmt::format("{} is not allowed when tile.scan.present is false (a variant drops the "
                                   "inherited scan keys with `scan: !replace {{present: false}}`)",
                                   presence.child_path(entry.key)));
        return;
      }
    }
    MapReader scan(node, tile.child_path("scan"),
                   {"present", "lanes", "max_state", "pipeline_depth", "modes", "data_format", "state_format",
                    "exp_approx", "fused_ops", "softplus_approx", "silu_approx", "state_storage"});
    s.lanes = static_cast<int>(scan.integer("lanes", 1, 4096));
    s.max_state = static_cast<int>(scan.integer("max_state", 1, 65536));
    s.pipeline_depth = static_cast<int>(scan.integer("pipeline_depth", 1, 256));
    s.modes = read_enum_list<ScanMode>(scan, "modes", false);
    s.data_format = read_format(scan, "data_format");
    s.state_format = read_format(scan, "state_format");
    if (s.state_format.total_bits() < s.data_format.total_bits())
      fail_cross("tile.scan.state_format", "tile.scan.data_format",
                 fmt::format("the state ({} bits) must be at least as wide as the data ({} bits)",
                             s.state_format.total_bits(), s.data_format.total_bits()));
    if (scan.has("state_storage")) {
      s.state_storage = read_enum<Precision>(scan, "state_storage");
      if (s.state_storage != Precision::fp32 && s.state_storage != Precision::bf16 &&
          s.state_storage != Precision::fp16 && s.state_storage != Precision::fp8)
        scan.fail("state_storage", "expected fp32, bf16, fp16 or fp8 (the formats the DMA converts)");
    }
    s.exp_approx = read_approximation(scan, "exp_approx", true);
    s.fused_ops = read_enum_list<FusedOp>(scan, "fused_ops", true);
    s.softplus_approx = fused_approximation(scan, "softplus_approx", FusedOp::delta_softplus);
    s.silu_approx = fused_approximation(scan, "silu_approx", FusedOp::silu_gate);
  }

  std::optional<Approximation> fused_approximation(const MapReader& scan, std::string_view key, FusedOp op) {
    if (profile_.tile.scan.fuses(op)) return read_approximation(scan, key, false);
    if (scan.has(key))
      fail_cross(scan.child_path(key), "tile.scan.fused_ops",
                 fmt::format("{} is only given when fused_ops lists {}", key, name_of(op)));
    return std::nullopt;
  }

  void read_vector(const MapReader& vector) {
    VectorUnit& v = profile_.tile.vector;
    v.lanes = static_cast<int>(vector.integer("lanes", 1, 65536));
    MapReader functions = vector.free_map("functions");
    std::array<bool, kVectorFunctionCount> priced{};
    const auto& names = vector_function_names();
    for (const auto& entry : functions.node().entries) {
      auto index = known_key(functions, entry, names, "vector function");
      MapReader cost(entry.value, functions.child_path(entry.key), {"cycles_per_element", "latency_cycles"});
      v.cost[index].cycles_per_element = cost.number("cycles_per_element", 0, 100000);
      v.cost[index].latency_cycles = static_cast<int>(cost.integer("latency_cycles", 0, 100000));
      priced[index] = true;
    }
    for (std::size_t i = 0; i < names.size(); ++i)
      if (!priced[i])
        throw ConfigError(functions.node().pos, functions.child_path(names[i]),
                          "missing; every vector function must be priced "
                          "({cycles_per_element: number, latency_cycles: int})");
  }

  Memory read_memory(const MapReader& parent, std::string_view key, std::int64_t max_bytes) {
    MapReader memory = parent.map(key, {"size_bytes", "banks", "bytes_per_cycle_per_bank", "latency_cycles"});
    Memory m;
    m.size_bytes = memory.size_bytes("size_bytes", kKiB, max_bytes);
    m.banks = static_cast<int>(memory.integer("banks", 1, 1024));
    m.bytes_per_cycle_per_bank = static_cast<int>(memory.integer("bytes_per_cycle_per_bank", 1, 4096));
    m.latency_cycles = static_cast<int>(memory.integer("latency_cycles", 0, 1000));
    if (m.size_bytes % m.banks != 0)
      memory.fail("banks", fmt::format("{} bytes do not divide into {} banks of equal size", m.size_bytes, m.banks));
    const std::int64_t bank_bytes = m.size_bytes / m.banks;
    if (bank_bytes % m.bytes_per_cycle_per_bank != 0)
      memory.fail("bytes_per_cycle_per_bank", fmt::format("a bank of {} bytes is not a whole number of {}-byte rows",
                                                          bank_bytes, m.bytes_per_cycle_per_bank));
    return m;
  }

  void read_dram(const MapReader& dram) {
    Dram& d = profile_.dram;
    d.technology = read_enum<DramTechnology>(dram, "technology");
    d.channels = static_cast<int>(dram.integer("channels", 1, 1024));
    d.bandwidth_gb_per_s = dram.number("bandwidth_gb_per_s", 0, 100000);
    d.latency_ns = dram.number("latency_ns", 0, 10000);
    d.capacity_bytes = dram.size_bytes("capacity_bytes", kMiB, 64 * kTiB);
  }

  void read_kernels(const MapReader& top) {
    if (profile_.family == Family::scan_accelerator)
      fail_cross("kernels", "family", "the kernel-level model is for the incumbents (family gpu, cpu or npu)");
    MapReader k = top.map("kernels", {"launch_gap_us",
                                      "gemm_launch_gap_us",
                                      "ssd_launch_gap_us",
                                      "graph_gap_us",
                                      "kernel_floor_us",
                                      "matrix_efficiency",
                                      "fused_matrix_efficiency",
                                      "gemm_overhead_us",
                                      "memory_overhead_us",
                                      "ssd_matrix_efficiency",
                                      "attention_efficiency",
                                      "attention_block_us",
                                      "dram_efficiency",
                                      "gemm_dram_efficiency",
                                      "gemm_split_k_depth",
                                      "gemm_split_k_reduce_us",
                                      "sm_stream_gb_per_s",
                                      "gemm_epilogue_depth",
                                      "scan_step_ns",
                                      "scan_channels_per_block",
                                      "gemm_blocks",
                                      "prompt_pass_tokens",
                                      "state_bits",
                                      "pim"});
    // Rates and efficiencies divide: above 0.
    auto positive = [&](std::string_view key, double max) {
      const Figure f = read_figure(k, key, max);
      if (f.value <= 0) k.map(key, {"value", "source"}).fail("value", "expected a value above 0");
      return f;
    };
    KernelModel m;
    m.launch_gap_us = read_figure(k, "launch_gap_us", 1e4);
    m.gemm_launch_gap_us = k.has("gemm_launch_gap_us") ? read_figure(k, "gemm_launch_gap_us", 1e4) : m.launch_gap_us;
    m.ssd_launch_gap_us = k.has("ssd_launch_gap_us") ? read_figure(k, "ssd_launch_gap_us", 1e5) : m.launch_gap_us;
    m.graph_gap_us = read_figure(k, "graph_gap_us", 1e4);
    m.kernel_floor_us = read_figure(k, "kernel_floor_us", 1e4);
    m.matrix_efficiency = positive("matrix_efficiency", 1);
    m.fused_matrix_efficiency =
        k.has("fused_matrix_efficiency") ? positive("fused_matrix_efficiency", 1) : m.matrix_efficiency;
    if (k.has("gemm_overhead_us")) m.gemm_overhead_us = read_figure(k, "gemm_overhead_us", 1e4);
    if (k.has("memory_overhead_us")) m.memory_overhead_us = read_figure(k, "memory_overhead_us", 1e4);
    m.ssd_matrix_efficiency =
        k.has("ssd_matrix_efficiency") ? positive("ssd_matrix_efficiency", 1) : m.fused_matrix_efficiency;
    if (k.has("attention_efficiency") != k.has("attention_block_us"))
      k.fail(k.has("attention_efficiency") ? "attention_efficiency" : "attention_block_us",
             "attention_efficiency and attention_block_us come together (the wave model of FlashAttention)");
    if (k.has("attention_efficiency")) {
      m.attention_efficiency = positive("attention_efficiency", 1);
      m.attention_block_us = read_figure(k, "attention_block_us", 1e4);
    }
    m.dram_efficiency = positive("dram_efficiency", 1);
    m.gemm_dram_efficiency = k.has("gemm_dram_efficiency") ? positive("gemm_dram_efficiency", 1) : m.dram_efficiency;
    if (k.has("gemm_split_k_depth")) m.gemm_split_k_depth = positive("gemm_split_k_depth", 1 << 20);
    if (k.has("gemm_split_k_reduce_us")) {
      if (!k.has("gemm_split_k_depth"))
        k.fail("gemm_split_k_reduce_us", "gemm_split_k_reduce_us needs gemm_split_k_depth (split-K)");
      m.gemm_split_k_reduce_us = read_figure(k, "gemm_split_k_reduce_us", 1e4);
    }
    if (k.has("sm_stream_gb_per_s")) m.sm_stream_gb_per_s = positive("sm_stream_gb_per_s", 1e5);
    if (k.has("gemm_epilogue_depth")) m.gemm_epilogue_depth = read_figure(k, "gemm_epilogue_depth", 1 << 16);
    m.scan_step_ns = positive("scan_step_ns", 1e6);
    m.scan_channels_per_block = static_cast<int>(k.integer("scan_channels_per_block", 1, 1 << 16));
    if (k.has("prompt_pass_tokens"))
      m.prompt_pass_tokens = static_cast<int>(k.integer("prompt_pass_tokens", 1, 1 << 20));
    if (k.has("state_bits")) m.state_bits = k.number("state_bits", 1, 64);
    if (k.has("pim")) {
      const MapReader pim = k.map("pim", {"units", "clock_mhz", "bytes_per_cycle", "efficiency", "state_bits"});
      PimUnits u;
      u.units = static_cast<int>(pim.integer("units", 1, 1 << 20));
      u.clock_mhz = pim.number("clock_mhz", 0, 1e5);
      u.bytes_per_cycle = static_cast<int>(pim.integer("bytes_per_cycle", 1, 4096));
      u.efficiency = read_figure(pim, "efficiency", 1);
      if (u.efficiency.value <= 0) pim.map("efficiency", {"value", "source"}).fail("value", "expected a value above 0");
      u.state_bits = pim.number("state_bits", 1, 64);
      m.pim = u;
    }
    const ConfigNode& blocks = k.required("gemm_blocks", "a list of [rows, cols] pairs");
    const std::string path = k.child_path("gemm_blocks");
    if (blocks.kind != ConfigNode::Kind::sequence || blocks.items.empty())
      throw ConfigError(blocks.pos, path, "expected a list of [rows, cols] pairs");
    for (std::size_t i = 0; i < blocks.items.size(); ++i) {
      const ConfigNode& pair = blocks.items[i];
      const std::string at = fmt::format("{}[{}]", path, i);
      if (pair.kind != ConfigNode::Kind::sequence || pair.items.size() != 2)
        throw ConfigError(pair.pos, at, "expected [rows, cols]");
      m.gemm_blocks.emplace_back(static_cast<int>(config_integer(pair.items[0], at + "[0]", 1, 4096)),
                                 static_cast<int>(config_integer(pair.items[1], at + "[1]", 1, 4096)));
    }
    profile_.kernels = m;
  }

  Figure read_figure(const MapReader& parent, std::string_view key, double max) {
    MapReader figure = parent.map(key, {"value", "source"});
    Figure f;
    f.value = figure.non_negative("value", max);
    f.source = figure.string("source");
    if (!profile_.sources.count(f.source)) {
      std::vector<std::string> ids;
      for (const auto& [id, text] : profile_.sources) ids.push_back(id);
      std::string suggestion = closest_match(f.source, ids);
      figure.fail("source", suggestion.empty() ? fmt::format("'{}' is not a key of 'sources'", f.source)
                                               : fmt::format("'{}' is not a key of 'sources' (did you mean '{}'?)",
                                                             f.source, suggestion));
    }
    return f;
  }

  void read_energy(const MapReader& top) {
    MapReader energy =
        top.map("energy", {"mac_pj", "scan_step_pj", "vector_op_pj", "sram_read_byte_pj", "sram_write_byte_pj",
                           "global_buffer_byte_pj", "noc_byte_hop_pj", "dram_byte_pj", "leakage_w"});
    Energy& e = profile_.energy;
    MapReader mac = energy.free_map("mac_pj");
    for (const auto& entry : mac.node().entries) {
      auto precision = static_cast<Precision>(precision_key(mac, entry));
      if (!profile_.tile.matrix.macs_per_cycle.count(precision))
        fail_cross(mac.child_path(entry.key), "tile.matrix.precisions",
                   fmt::format("tile.matrix.precisions does not list {}", entry.key));
      e.mac_pj[precision] = read_figure(mac, entry.key, 1e6);
    }
    for (const auto& [precision, macs] : profile_.tile.matrix.macs_per_cycle)
      if (!e.mac_pj.count(precision))
        fail_cross("energy.mac_pj", fmt::format("tile.matrix.precisions.{}", name_of(precision)),
                   fmt::format("no MAC energy for {}, which tile.matrix.precisions lists", name_of(precision)));
    e.scan_step_pj = scan_figure(energy, "scan_step_pj");
    for (const auto& field : energy_figure_fields()) e.*field.member = read_figure(energy, field.key, 1e6);
    if (e.leakage_w.value >= profile_.power_budget_w)
      fail_cross("energy.leakage_w.value", "power_budget_w",
                 fmt::format("leakage of {} W does not fit the power budget of {} W", e.leakage_w.value,
                             profile_.power_budget_w));
  }

  void read_area(const MapReader& top) {
    MapReader area = top.map("area_mm2", {"matrix_array", "scan_unit", "vector_unit", "sram", "router", "global_buffer",
                                          "control_core", "dram_phy"});
    Area& a = profile_.area;
    a.scan_unit = scan_figure(area, "scan_unit");
    for (const auto& field : area_figure_fields()) a.*field.member = read_figure(area, field.key, 1e6);
  }

  // A figure that exists exactly when the tile has a scan unit.
  std::optional<Figure> scan_figure(const MapReader& parent, std::string_view key) {
    if (profile_.tile.scan.present) return read_figure(parent, key, 1e6);
    if (parent.has(key))
      fail_cross(parent.child_path(key), "tile.scan.present",
                 fmt::format("{} is not allowed when tile.scan.present is false", parent.child_path(key)));
    return std::nullopt;
  }

  static std::size_t known_key(const MapReader& map, const ConfigEntry& entry,
                               const std::vector<std::string_view>& names, std::string_view what) {
    for (std::size_t i = 0; i < names.size(); ++i)
      if (entry.key == names[i]) return i;
    std::vector<std::string> options(names.begin(), names.end());
    std::string suggestion = closest_match(entry.key, options);
    std::string list;
    for (const auto& o : options) list += (list.empty() ? "" : ", ") + o;
    throw ConfigError(entry.key_pos, map.child_path(entry.key),
                      suggestion.empty() ? fmt::format("unknown {}; expected one of {}", what, list)
                                         : fmt::format("unknown {} (did you mean '{}'?)", what, suggestion));
  }

  static std::size_t precision_key(const MapReader& map, const ConfigEntry& entry) {
    return known_key(map, entry, precision_names(), "precision");
  }

  Profile& profile_;
  const ConfigNode* root_ = nullptr;
};

fs::path locate_base(const std::string& base, const fs::path& file, const ConfigNode& node) {
  const fs::path here = file.parent_path();
  if (base.find('/') != std::string::npos || fs::path(base).extension() == ".yaml") {
    fs::path candidate = (here / base).lexically_normal();
    if (fs::is_regular_file(candidate)) return candidate;
    throw ConfigError(node.pos, "base", fmt::format("no file {}", candidate.string()));
  }
  std::vector<fs::path> dirs{here, profile_directory()};
  std::vector<std::string> known;
  for (const auto& dir : dirs) {
    fs::path candidate = (dir / (base + ".yaml")).lexically_normal();
    if (fs::is_regular_file(candidate)) return candidate;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.path().extension() == ".yaml") known.push_back(entry.path().stem().string());
  }
  std::string suggestion = closest_match(base, known);
  throw ConfigError(
      node.pos, "base",
      fmt::format("no profile named '{}' next to this file or in {}{}", base, profile_directory().string(),
                  suggestion.empty() ? "" : fmt::format(" (did you mean '{}'?)", suggestion)));
}

void erase_key(ConfigNode& map, std::string_view key) {
  std::erase_if(map.entries, [&](const ConfigEntry& e) { return e.key == key; });
}

// The file's tree with its bases merged in. `chain` holds the files being resolved, to
// catch loops.
ConfigNode resolve(const fs::path& file, std::vector<fs::path>& chain, std::vector<std::string>& bases) {
  ConfigNode tree = parse_yaml_file(file);
  if (tree.kind != ConfigNode::Kind::map)
    throw ConfigError(tree.pos, "", fmt::format("expected a mapping of profile keys, got {}", tree.describe()));
  const ConfigEntry* base_entry = tree.find_entry("base");
  if (base_entry == nullptr) return tree;
  const std::string base = config_string(base_entry->value, "base");
  const fs::path base_file = locate_base(base, file, base_entry->value);
  const fs::path canonical = fs::weakly_canonical(base_file);
  if (std::find(chain.begin(), chain.end(), canonical) != chain.end()) {
    std::string loop;
    for (const auto& f : chain) loop += f.filename().string() + " -> ";
    throw ConfigError(base_entry->value.pos, "base",
                      fmt::format("inheritance loop: {}{}", loop, canonical.filename().string()));
  }
  chain.push_back(canonical);
  bases.push_back(base_file.stem().string());
  ConfigNode merged = resolve(base_file, chain, bases);
  erase_key(merged, "description");  // every file describes itself
  erase_key(tree, "base");
  return merge_config(std::move(merged), tree);
}

}  // namespace

Profile load_profile_file(const fs::path& file) {
  Profile profile;
  profile.name = file.stem().string();
  profile.file = file;
  std::vector<fs::path> chain{fs::weakly_canonical(file)};
  ConfigNode tree = resolve(file, chain, profile.bases);
  ProfileReader(profile).read(tree);
  return profile;
}

Profile load_profile(std::string_view name_or_path) { return load_profile_file(profile_file(name_or_path)); }

Profile load_profile_with(std::string_view name_or_path, const ConfigNode& overlay, const std::string& name) {
  const fs::path file = profile_file(name_or_path);
  Profile profile;
  profile.name = name;
  profile.file = file;
  std::vector<fs::path> chain{fs::weakly_canonical(file)};
  ConfigNode tree = merge_config(resolve(file, chain, profile.bases), overlay);
  ProfileReader(profile).read(tree);
  return profile;
}

fs::path profile_file(std::string_view name_or_path) {
  const std::string arg(name_or_path);
  if (arg.find('/') != std::string::npos || fs::path(arg).extension() == ".yaml") {
    if (!fs::is_regular_file(arg)) throw ConfigError(fmt::format("{}: no such profile file", arg));
    return arg;
  }
  for (const fs::path& dir : {profile_directory(), profile_directory() / "published"})
    if (const fs::path file = dir / (arg + ".yaml"); fs::is_regular_file(file)) return file;
  std::vector<std::string> known;
  for (const auto& f : shipped_profile_files()) known.push_back(f.stem().string());
  for (const auto& f : published_profile_files()) known.push_back(f.stem().string());
  std::string suggestion = closest_match(arg, known);
  std::string list;
  for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
  throw ConfigError(fmt::format("no profile named '{}' in {}{}; known profiles: {}", arg, profile_directory().string(),
                                suggestion.empty() ? "" : fmt::format(" (did you mean '{}'?)", suggestion), list));
}

ProfileFigures derive_figures(const Profile& p) {
  ProfileFigures f;
  const double tiles = p.tile_count;
  f.clock_hz = p.clock_mhz * 1e6;
  f.dram_bytes_per_s = p.dram.bandwidth_gb_per_s * 1e9;
  for (const auto& [precision, macs] : p.tile.matrix.macs_per_cycle) {
    PrecisionFigures m{precision};
    m.peak_macs_per_s = tiles * static_cast<double>(macs) * f.clock_hz;
    m.peak_flop_per_s = 2 * m.peak_macs_per_s;
    m.ridge_flop_per_byte = m.peak_flop_per_s / f.dram_bytes_per_s;
    m.matrix_power_at_peak_w = m.peak_macs_per_s * p.energy.mac_pj.at(precision).value * 1e-12;
    f.matrix.push_back(m);
  }
  f.peak_scan_steps_per_s = p.tile.scan.present ? tiles * p.tile.scan.lanes * f.clock_hz : 0;
  f.peak_vector_ops_per_s = tiles * p.tile.vector.lanes * f.clock_hz;
  const auto bytes_per_cycle = [](const Memory& m) { return double(m.banks) * m.bytes_per_cycle_per_bank; };
  f.tile_sram_bytes_per_s = tiles * bytes_per_cycle(p.tile.sram) * f.clock_hz;
  f.global_buffer_bytes_per_s = bytes_per_cycle(p.global_buffer) * f.clock_hz;
  double links_cut = 0;  // a single tile has no bisection
  if (p.tile_count > 1) switch (p.noc.topology) {
      case Topology::mesh:
        links_cut = std::min(p.grid_rows, p.grid_cols);
        break;
      case Topology::torus:
        links_cut = 2.0 * std::min(p.grid_rows, p.grid_cols);
        break;
      case Topology::ring:
        links_cut = 2;
        break;
      case Topology::crossbar:
        links_cut = p.tile_count / 2;
        break;
      case Topology::bus:
        links_cut = 0.5;  // one shared medium: counted once, not per direction
        break;
    }
  f.noc_bisection_bytes_per_s = 2 * links_cut * p.noc.link_bytes_per_cycle * f.clock_hz;
  f.total_sram_bytes = std::int64_t{p.tile_count} * p.tile.sram.size_bytes + p.global_buffer.size_bytes;
  f.idle_power_w = p.energy.leakage_w.value;
  f.total_area_mm2 = p.area.scan_unit ? tiles * p.area.scan_unit->value : 0.0;
  for (const auto& field : area_figure_fields())
    f.total_area_mm2 += (field.per_tile ? tiles : 1.0) * (p.area.*field.member).value;
  return f;
}

}  // namespace ssmsoc
