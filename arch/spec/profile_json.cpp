#include "arch/spec/profile_json.hpp"

namespace ssmsoc {

using json = nlohmann::ordered_json;

namespace {

json figure(const Figure& f) { return json{{"value", f.value}, {"source", f.source}}; }

json number_format(const NumberFormat& f) {
  json j{{"type", name_of(f.type)}};
  if (f.type == NumberType::fixed) {
    j["int_bits"] = f.int_bits;
    j["frac_bits"] = f.frac_bits;
  }
  return j;
}

json approximation(const Approximation& a) {
  json j{{"method", name_of(a.method)}};
  if (a.method == ApproxMethod::piecewise_linear) j["segments"] = a.segments;
  return j;
}

template <class Enum>
json names(const std::vector<Enum>& values) {
  json j = json::array();
  for (Enum v : values) j.push_back(name_of(v));
  return j;
}

json noc(const Noc& n) {
  json j{{"topology", name_of(n.topology)},
         {"link_bytes_per_cycle", n.link_bytes_per_cycle},
         {"hop_latency_cycles", n.hop_latency_cycles}};
  if (n.topology == Topology::mesh || n.topology == Topology::torus) j["memory_edges"] = names(n.memory_edges);
  return j;
}

json memory(const Memory& m) {
  return json{{"size_bytes", m.size_bytes},
              {"banks", m.banks},
              {"bytes_per_cycle_per_bank", m.bytes_per_cycle_per_bank},
              {"latency_cycles", m.latency_cycles}};
}

json scan_unit(const ScanUnit& s) {
  json j{{"present", s.present}};
  if (!s.present) return j;
  j["lanes"] = s.lanes;
  j["max_state"] = s.max_state;
  j["pipeline_depth"] = s.pipeline_depth;
  j["modes"] = names(s.modes);
  j["data_format"] = number_format(s.data_format);
  j["state_format"] = number_format(s.state_format);
  j["exp_approx"] = approximation(s.exp_approx);
  j["fused_ops"] = names(s.fused_ops);
  if (s.softplus_approx) j["softplus_approx"] = approximation(*s.softplus_approx);
  if (s.silu_approx) j["silu_approx"] = approximation(*s.silu_approx);
  if (s.state_storage != Precision::fp32) j["state_storage"] = name_of(s.state_storage);
  return j;
}

}  // namespace

json profile_to_json(const Profile& p) {
  json precisions = json::object();
  for (const auto& [precision, macs] : p.tile.matrix.macs_per_cycle)
    precisions[std::string(name_of(precision))] = json{{"macs_per_cycle", macs}};
  json functions = json::object();
  for (std::size_t i = 0; i < kVectorFunctionCount; ++i)
    functions[std::string(vector_function_names()[i])] =
        json{{"cycles_per_element", p.tile.vector.cost[i].cycles_per_element},
             {"latency_cycles", p.tile.vector.cost[i].latency_cycles}};
  json mac_pj = json::object();
  for (const auto& [precision, f] : p.energy.mac_pj) mac_pj[std::string(name_of(precision))] = figure(f);

  json energy{{"mac_pj", mac_pj}};
  if (p.energy.scan_step_pj) energy["scan_step_pj"] = figure(*p.energy.scan_step_pj);
  for (const auto& field : energy_figure_fields()) energy[std::string(field.key)] = figure(p.energy.*field.member);

  json area = json::object();
  if (p.area.scan_unit) area["scan_unit"] = figure(*p.area.scan_unit);
  for (const auto& field : area_figure_fields()) area[std::string(field.key)] = figure(p.area.*field.member);

  json sources = json::object();
  for (const auto& [id, text] : p.sources) sources[id] = text;

  json out{
      {"description", p.description},
      {"family", name_of(p.family)},
      {"power_budget_w", p.power_budget_w},
      {"clock_mhz", p.clock_mhz},
      {"tiles", {{"count", p.tile_count}, {"grid", {{"rows", p.grid_rows}, {"cols", p.grid_cols}}}}},
      {"noc", noc(p.noc)},
      {"tile",
       {{"matrix",
         {{"rows", p.tile.matrix.rows},
          {"cols", p.tile.matrix.cols},
          {"dataflow", name_of(p.tile.matrix.dataflow)},
          {"precisions", precisions}}},
        {"scan", scan_unit(p.tile.scan)},
        {"vector", {{"lanes", p.tile.vector.lanes}, {"functions", functions}}},
        {"sram", memory(p.tile.sram)},
        {"dma", {{"outstanding_transfers", p.tile.dma.outstanding_transfers}}}}},
      {"global_buffer", memory(p.global_buffer)},
      {"dram",
       {{"technology", name_of(p.dram.technology)},
        {"channels", p.dram.channels},
        {"bandwidth_gb_per_s", p.dram.bandwidth_gb_per_s},
        {"latency_ns", p.dram.latency_ns},
        {"capacity_bytes", p.dram.capacity_bytes}}},
      {"control",
       {{"dispatch_latency_cycles", p.control.dispatch_latency_cycles},
        {"interrupt_latency_cycles", p.control.interrupt_latency_cycles},
        {"queue_depth", p.control.queue_depth}}},
      {"energy", energy},
      {"area_mm2", area},
  };
  if (p.kernels) {
    const KernelModel& k = *p.kernels;
    json blocks = json::array();
    for (const auto& [rows, cols] : k.gemm_blocks) blocks.push_back(json::array({rows, cols}));
    out["kernels"] = json{{"launch_gap_us", figure(k.launch_gap_us)},
                          {"gemm_launch_gap_us", figure(k.gemm_launch_gap_us)},
                          {"ssd_launch_gap_us", figure(k.ssd_launch_gap_us)},
                          {"graph_gap_us", figure(k.graph_gap_us)},
                          {"kernel_floor_us", figure(k.kernel_floor_us)},
                          {"matrix_efficiency", figure(k.matrix_efficiency)},
                          {"fused_matrix_efficiency", figure(k.fused_matrix_efficiency)},
                          {"dram_efficiency", figure(k.dram_efficiency)},
                          {"gemm_dram_efficiency", figure(k.gemm_dram_efficiency)},
                          {"scan_step_ns", figure(k.scan_step_ns)},
                          {"scan_channels_per_block", k.scan_channels_per_block},
                          {"gemm_blocks", blocks}};
    if (!k.gemm_overhead_us.source.empty()) out["kernels"]["gemm_overhead_us"] = figure(k.gemm_overhead_us);
    if (!k.memory_overhead_us.source.empty()) out["kernels"]["memory_overhead_us"] = figure(k.memory_overhead_us);
    if (!k.ssd_matrix_efficiency.source.empty())
      out["kernels"]["ssd_matrix_efficiency"] = figure(k.ssd_matrix_efficiency);
    if (!k.attention_efficiency.source.empty()) {
      out["kernels"]["attention_efficiency"] = figure(k.attention_efficiency);
      out["kernels"]["attention_block_us"] = figure(k.attention_block_us);
    }
    if (k.prompt_pass_tokens > 0) out["kernels"]["prompt_pass_tokens"] = k.prompt_pass_tokens;
    if (k.state_bits != 32) out["kernels"]["state_bits"] = k.state_bits;
    if (k.pim)
      out["kernels"]["pim"] = json{{"units", k.pim->units},
                                   {"clock_mhz", k.pim->clock_mhz},
                                   {"bytes_per_cycle", k.pim->bytes_per_cycle},
                                   {"efficiency", figure(k.pim->efficiency)},
                                   {"state_bits", k.pim->state_bits}};
  }
  out["sources"] = sources;
  return out;
}

json figures_to_json(const ProfileFigures& f) {
  json matrix = json::object();
  for (const auto& m : f.matrix)
    matrix[std::string(name_of(m.precision))] = json{{"peak_macs_per_s", m.peak_macs_per_s},
                                                     {"peak_flop_per_s", m.peak_flop_per_s},
                                                     {"ridge_flop_per_byte", m.ridge_flop_per_byte},
                                                     {"matrix_power_at_peak_w", m.matrix_power_at_peak_w}};
  return json{{"clock_hz", f.clock_hz},
              {"matrix", matrix},
              {"peak_scan_steps_per_s", f.peak_scan_steps_per_s},
              {"peak_vector_ops_per_s", f.peak_vector_ops_per_s},
              {"tile_sram_bytes_per_s", f.tile_sram_bytes_per_s},
              {"global_buffer_bytes_per_s", f.global_buffer_bytes_per_s},
              {"dram_bytes_per_s", f.dram_bytes_per_s},
              {"noc_bisection_bytes_per_s", f.noc_bisection_bytes_per_s},
              {"total_sram_bytes", f.total_sram_bytes},
              {"idle_power_w", f.idle_power_w},
              {"total_area_mm2", f.total_area_mm2}};
}

}  // namespace ssmsoc
