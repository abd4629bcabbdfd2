// The declarations of the run statistics and energy sources, and what iterates them: the JSON
// of a run and its reading back, energy accounting, the summary and the README tables.
#include "sim/stats.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "sim/sim_internal.hpp"

namespace ssmsoc::sim {

namespace {

template <class T>
struct MemberOf;
template <class Record, class Value>
struct MemberOf<Value Record::*> {
  using record = Record;
};

// A statistic kept in a member of its record.
template <auto member>
constexpr Statistic<typename MemberOf<decltype(member)>::record> kept(std::string_view name, std::string_view unit,
                                                                      std::string_view description,
                                                                      Derivation derivation, std::string_view how,
                                                                      std::string_view summary = {},
                                                                      double summary_scale = 1) {
  using Record = typename MemberOf<decltype(member)>::record;
  return {name,
          unit,
          description,
          derivation,
          how,
          [](const Record& r, const SimResult&) { return nlohmann::json(r.*member); },
          [](Record& r, const nlohmann::json& j) { j.get_to(r.*member); },
          summary,
          summary_scale};
}

double engine_utilization(const EngineStats& s, const SimResult& run) {
  return run.cycles == 0 ? 0.0 : static_cast<double>(s.busy_cycles) / static_cast<double>(run.cycles);
}

nlohmann::json links_json(const SimResult& r, const SimResult&) {
  nlohmann::json links = nlohmann::json::array();
  for (const auto& l : r.links) links.push_back({{"name", l.name}, {"bytes", l.bytes}});
  return links;
}
void read_links(SimResult& r, const nlohmann::json& j) {
  for (const auto& l : j) r.links.push_back(LinkStats{l.at("name"), l.at("bytes")});
}

nlohmann::json energy_items_json(const SimResult& r, const SimResult&) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& e : r.energy)
    items.push_back({{"component", e.component},
                     {"field", e.field},
                     {"count", e.count},
                     {"unit", e.unit},
                     {"per_action", e.per_action},
                     {"joules", e.joules}});
  return items;
}
void read_energy_items(SimResult& r, const nlohmann::json& j) {
  for (const auto& e : j)
    r.energy.push_back(
        EnergyItem{e.at("component"), e.at("field"), e.at("count"), e.at("unit"), e.at("per_action"), e.at("joules")});
}

template <class Map>
nlohmann::json map_json(const Map& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [key, value] : m) j[key] = value;
  return j;
}

nlohmann::json timeline_json(const SimResult& r, const SimResult&) {
  nlohmann::json busy = nlohmann::json::object();
  for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e)
    busy[std::string(engine_name(static_cast<ssm_engine>(e)))] = r.timeline.busy[e];
  return {{"bucket_cycles", r.timeline.bucket_cycles}, {"busy_cycles", busy}};
}
void read_timeline(SimResult& r, const nlohmann::json& j) {
  r.timeline.bucket_cycles = j.at("bucket_cycles");
  for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e)
    j.at("busy_cycles").at(std::string(engine_name(static_cast<ssm_engine>(e)))).get_to(r.timeline.busy[e]);
}

// The items that cost energy, each with its count and the profile field it was multiplied by.
std::string energy_item_lines(const SimResult& r) {
  std::string out;
  for (const auto& e : r.energy)
    if (e.joules > 0)
      out += fmt::format("  {:<14} {:.6g} J  ({:.6g} {} x {} = {})\n", e.component, e.joules, e.count, e.unit, e.field,
                         e.per_action);
  return out;
}

nlohmann::json op_busy_json(const OpStats& o, const SimResult&) {
  nlohmann::json busy;
  for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e) busy[engine_name(static_cast<ssm_engine>(e))] = o.busy_cycles[e];
  return busy;
}
void read_op_busy(OpStats& o, const nlohmann::json& j) {
  for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e) o.busy_cycles[e] = j.at(engine_name(static_cast<ssm_engine>(e)));
}

constexpr Derivation counted = Derivation::counted;
constexpr Derivation derived = Derivation::derived;

// What ran: engine commands, and the per-memory byte counts as DMAs and compute operands move them.
const Statistic<SimResult> kRunStatistics[] = {
    kept<&SimResult::cycles>("cycles", "cycles", "from the start of the firmware to its program-done write", counted,
                             "the control core's kRegDone write", "{} cycles"),
    kept<&SimResult::seconds>("seconds", "s", "simulated time", derived, "cycles / (clock_mhz · 1e6)",
                              "{:.3f} us at {clock_mhz} MHz", 1e6),
    kept<&SimResult::commands>("commands", "commands", "engine commands executed", counted,
                               "every engine, at each command's end", "{} commands"),
    kept<&SimResult::dram_read_bytes>("dram.read_bytes", "bytes", "bytes read from DRAM", counted,
                                      "DMA engines: the bytes of each DMA whose source is DRAM", "{} bytes read"),
    kept<&SimResult::dram_write_bytes>("dram.write_bytes", "bytes", "bytes written to DRAM", counted,
                                       "DMA engines: the bytes of each DMA whose destination is DRAM",
                                       "{} bytes written"),
    kept<&SimResult::global_buffer_read_bytes>("global_buffer.read_bytes", "bytes", "bytes read from the global buffer",
                                               counted, "DMA engines: DMAs whose source is the global buffer"),
    kept<&SimResult::global_buffer_write_bytes>("global_buffer.write_bytes", "bytes",
                                                "bytes written to the global buffer", counted,
                                                "DMA engines: DMAs whose destination is the global buffer"),
    kept<&SimResult::noc_byte_hops>("noc.byte_hops", "byte-hops", "bytes times the NoC links they cross", counted,
                                    "DMA engines: bytes × route hops (a broadcast: its union of routes)"),
    {"noc.links", "bytes", "bytes each NoC link carried (links that carried any), by link name", counted,
     "the bandwidth-sharing model, per link", links_json, read_links},
    kept<&SimResult::macs>("macs", "MACs", "multiply-accumulates by precision", counted,
                           "matrix engines: m · n · k per GEMM"),
    kept<&SimResult::scan_lane_steps>("scan_lane_steps", "lane steps", "scan unit lane steps", counted,
                                      "scan engines: channels · head_dim · state · length per SCAN"),
    kept<&SimResult::vector_lane_cycles>("vector_lane_cycles", "lane-cycles", "vector unit lane-cycles", counted,
                                         "vector engines: elements · cycles_per_element per pass (CONV1D, VECTOR)"),
    kept<&SimResult::firmware_signals>("firmware.signals", "signals",
                                       "SIGNALs executed: SIGNAL commands and signalling sync points", counted,
                                       "the firmware (ssmfw::RunCounters)"),
    kept<&SimResult::firmware_waits>("firmware.waits", "waits",
                                     "WAITs passed: WAIT commands and the waits of sync points", counted,
                                     "the firmware (ssmfw::RunCounters)"),
    kept<&SimResult::firmware_wakeups>("firmware.wakeups", "wakeups", "times the firmware slept until an interrupt",
                                       counted, "the firmware (ssmfw::RunCounters)"),
    {"utilization_timeline", "cycles",
     "busy cycles of each engine kind summed over the tiles, in buckets of bucket_cycles (at most 128, "
     "doubling in width as the run goes on); a sampled phase's are its longer sample's",
     counted, "every engine, at each command's end", timeline_json, read_timeline},
    kept<&SimResult::energy_j>("energy.total_joules", "J", "energy of the run", derived,
                               "the sum of energy.items' joules", "{:.6g} J"),
    {"energy.items",
     "J",
     "energy by source: count × the per-action figure of a profile field (energy sources below)",
     derived,
     "count × per_action (× 1e-12 for pJ)",
     energy_items_json,
     read_energy_items,
     {},
     1,
     energy_item_lines},
};

const Statistic<TileStats> kTileStatistics[] = {
    kept<&TileStats::sram_read_bytes>("sram_read_bytes", "bytes", "bytes read from the tile's SRAM", counted,
                                      "DMAs from it, and the bytes every compute operand reads"),
    kept<&TileStats::sram_write_bytes>("sram_write_bytes", "bytes", "bytes written to the tile's SRAM", counted,
                                       "DMAs to it, and the bytes every compute operand writes"),
};

const Statistic<EngineStats> kEngineStatistics[] = {
    {"utilization", "fraction", "busy / total cycles", derived, "busy_cycles / cycles (0 when cycles is 0)",
     [](const EngineStats& s, const SimResult& run) { return nlohmann::json(engine_utilization(s, run)); }, nullptr,
     "{:6.2f}%", 100},
    kept<&EngineStats::commands>("commands", "commands", "commands the engine ran", counted,
                                 "the engine, at each command's end", "{} commands"),
    kept<&EngineStats::busy_cycles>("busy_cycles", "cycles", "cycles running a command (stalls included)", counted,
                                    "the engine: end − start of each command", "{} busy"),
    kept<&EngineStats::stall_cycles>("stall_cycles", "cycles", "of the busy cycles, those waiting for shared bandwidth",
                                     counted, "the engine: its busy cycles beyond each command's uncontended time",
                                     "{} stalled cycles"),
    {"idle_cycles", "cycles", "cycles not running a command", derived, "cycles − busy_cycles (at least 0)",
     [](const EngineStats& s, const SimResult& run) {
       return nlohmann::json(run.cycles - std::min(run.cycles, s.busy_cycles));
     }},
};

const Statistic<OpStats> kOpStatistics[] = {
    {"busy_cycles", "cycles", "busy cycles of the op's commands, by engine (summed over tiles)", counted,
     "every engine, at each command's end", op_busy_json, read_op_busy},
    kept<&OpStats::commands>("commands", "commands", "commands of the op", counted,
                             "every engine, at each command's end"),
    kept<&OpStats::dram_read_bytes>("dram_read_bytes", "bytes", "DRAM bytes the op's DMAs read", counted,
                                    "DMA engines, as dram.read_bytes"),
    kept<&OpStats::dram_write_bytes>("dram_write_bytes", "bytes", "DRAM bytes the op's DMAs wrote", counted,
                                     "DMA engines, as dram.write_bytes"),
    kept<&OpStats::first_cycle>("first_cycle", "cycles", "start of the op's first command", counted,
                                "every engine, at each command's end"),
    kept<&OpStats::last_cycle>("last_cycle", "cycles", "end of the op's last command", counted,
                               "every engine, at each command's end"),
    {"macs", "MACs", "multiply-accumulates of the op's GEMMs by precision", counted, "as the run's macs",
     [](const OpStats& o, const SimResult&) { return map_json(o.macs); },
     [](OpStats& o, const nlohmann::json& j) { j.get_to(o.macs); }},
    kept<&OpStats::scan_lane_steps>("scan_lane_steps", "lane steps", "scan unit lane steps of the op", counted,
                                    "as the run's scan_lane_steps"),
    kept<&OpStats::vector_lane_cycles>("vector_lane_cycles", "lane-cycles", "vector unit lane-cycles of the op",
                                       counted, "as the run's vector_lane_cycles"),
    kept<&OpStats::sram_read_bytes>("sram_read_bytes", "bytes", "tile SRAM bytes the op read (all tiles)", counted,
                                    "as the tiles' sram_read_bytes"),
    kept<&OpStats::sram_write_bytes>("sram_write_bytes", "bytes", "tile SRAM bytes the op wrote (all tiles)", counted,
                                     "as the tiles' sram_write_bytes"),
    kept<&OpStats::global_buffer_bytes>("global_buffer_bytes", "bytes", "global buffer bytes the op read and wrote",
                                        counted, "DMA engines, as global_buffer.*_bytes"),
    kept<&OpStats::noc_byte_hops>("noc_byte_hops", "byte-hops", "bytes times NoC links of the op's DMAs", counted,
                                  "as the run's noc.byte_hops"),
    {"energy_joules", "J", "the op's dynamic energy by component (leakage is the run's)", derived,
     "its counts × the per-action figures of the run's energy items",
     [](const OpStats& o, const SimResult&) { return map_json(o.energy_j); },
     [](OpStats& o, const nlohmann::json& j) { j.get_to(o.energy_j); }},
};

// The figure and the count of each energy source, in the order of energy_sources().
struct EnergyAccount {
  EnergySource source;
  const Figure* (*figure)(const Energy&);  // null: the profile has none (per_precision: unused)
  double (*count)(const SimResult&, std::string_view precision);
  double joules_per_unit;  // of count × figure: 1e-12 for pJ, 1 for W × s
};

double total_sram(const SimResult& r, std::uint64_t TileStats::*bytes) {
  double sum = 0;
  for (const auto& t : r.tiles) sum += static_cast<double>(t.*bytes);
  return sum;
}

template <Figure Energy::*member>
const Figure* plain(const Energy& e) {
  return &(e.*member);
}

const EnergyAccount kEnergyAccounts[] = {
    {{"matrix", "energy.mac_pj", "macs.<precision>", "MACs", true},
     nullptr,
     [](const SimResult& r, std::string_view precision) {
       const auto it = r.macs.find(std::string(precision));
       return it == r.macs.end() ? 0.0 : static_cast<double>(it->second);
     },
     1e-12},
    {{"scan", "energy.scan_step_pj", "scan_lane_steps", "lane steps"},
     [](const Energy& e) { return e.scan_step_pj ? &*e.scan_step_pj : nullptr; },
     [](const SimResult& r, std::string_view) { return static_cast<double>(r.scan_lane_steps); },
     1e-12},
    {{"vector", "energy.vector_op_pj", "vector_lane_cycles", "lane-cycles"},
     plain<&Energy::vector_op_pj>,
     [](const SimResult& r, std::string_view) { return r.vector_lane_cycles; },
     1e-12},
    {{"sram", "energy.sram_read_byte_pj", "Σ tiles[t].sram_read_bytes", "bytes"},
     plain<&Energy::sram_read_byte_pj>,
     [](const SimResult& r, std::string_view) { return total_sram(r, &TileStats::sram_read_bytes); },
     1e-12},
    {{"sram", "energy.sram_write_byte_pj", "Σ tiles[t].sram_write_bytes", "bytes"},
     plain<&Energy::sram_write_byte_pj>,
     [](const SimResult& r, std::string_view) { return total_sram(r, &TileStats::sram_write_bytes); },
     1e-12},
    {{"global_buffer", "energy.global_buffer_byte_pj", "global_buffer.read_bytes + global_buffer.write_bytes", "bytes"},
     plain<&Energy::global_buffer_byte_pj>,
     [](const SimResult& r, std::string_view) {
       return static_cast<double>(r.global_buffer_read_bytes + r.global_buffer_write_bytes);
     },
     1e-12},
    {{"noc", "energy.noc_byte_hop_pj", "noc.byte_hops", "byte-hops"},
     plain<&Energy::noc_byte_hop_pj>,
     [](const SimResult& r, std::string_view) { return r.noc_byte_hops; },
     1e-12},
    {{"dram", "energy.dram_byte_pj", "dram.read_bytes + dram.write_bytes", "bytes"},
     plain<&Energy::dram_byte_pj>,
     [](const SimResult& r, std::string_view) { return static_cast<double>(r.dram_read_bytes + r.dram_write_bytes); },
     1e-12},
    // Leakage: W × simulated seconds, in joules directly.
    {{"leakage", "energy.leakage_w", "seconds", "seconds"},
     plain<&Energy::leakage_w>,
     [](const SimResult& r, std::string_view) { return r.seconds; },
     1},
};

// The JSON object at a statistic's dotted name, created on the way.
nlohmann::json& at_name(nlohmann::json& object, std::string_view name) {
  nlohmann::json* j = &object;
  for (std::size_t dot; (dot = name.find('.')) != std::string_view::npos; name.remove_prefix(dot + 1))
    j = &(*j)[std::string(name.substr(0, dot))];
  return (*j)[std::string(name)];
}
const nlohmann::json& at_name(const nlohmann::json& object, std::string_view name) {
  const nlohmann::json* j = &object;
  for (std::size_t dot; (dot = name.find('.')) != std::string_view::npos; name.remove_prefix(dot + 1))
    j = &j->at(std::string(name.substr(0, dot)));
  return j->at(std::string(name));
}

template <class Record>
nlohmann::json write_all(std::span<const Statistic<Record>> statistics, const Record& record, const SimResult& run) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& s : statistics) at_name(j, s.name) = s.write(record, run);
  return j;
}
template <class Record>
Record read_all(std::span<const Statistic<Record>> statistics, const nlohmann::json& j) {
  Record record{};
  for (const auto& s : statistics)
    if (s.read) s.read(record, at_name(j, s.name));
  return record;
}

// A statistic's summary phrase.
template <class Record>
std::string phrase(const Statistic<Record>& s, const Record& record, const SimResult& run, const Profile& p) {
  const nlohmann::json value = s.write(record, run);
  const auto clock = fmt::arg("clock_mhz", p.clock_mhz);
  if (value.is_number_unsigned() && s.summary_scale == 1)
    return fmt::format(fmt::runtime(s.summary), value.get<std::uint64_t>(), clock);
  return fmt::format(fmt::runtime(s.summary), value.get<double>() * s.summary_scale, clock);
}

std::string_view group_of(std::string_view name) {
  const std::size_t dot = name.find('.');
  return dot == std::string_view::npos ? std::string_view{} : name.substr(0, dot);
}

std::string markdown_cell(std::string_view text) {
  std::string out;
  for (char c : text) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

template <class Record>
void statistic_rows(std::string& out, std::string_view scope, std::span<const Statistic<Record>> statistics) {
  for (const auto& s : statistics)
    out += fmt::format("| {} | `{}` | {} | {} | {}: {} |\n", scope, s.name, s.unit, markdown_cell(s.description),
                       s.derivation == Derivation::counted ? "counted" : "derived", markdown_cell(s.how));
}

}  // namespace

std::span<const Statistic<SimResult>> run_statistics() { return kRunStatistics; }
std::span<const Statistic<TileStats>> tile_statistics() { return kTileStatistics; }
std::span<const Statistic<EngineStats>> engine_statistics() { return kEngineStatistics; }
std::span<const Statistic<OpStats>> op_statistics() { return kOpStatistics; }

std::span<const EnergySource> energy_sources() {
  static const auto sources = [] {
    std::vector<EnergySource> s;
    for (const EnergyAccount& a : kEnergyAccounts) s.push_back(a.source);
    return s;
  }();
  return sources;
}

double SimResult::utilization(int tile, ssm_engine engine) const {
  return engine_utilization(tiles[static_cast<std::size_t>(tile)].engines[engine], *this);
}

void account_energy(const Profile& p, SimResult& r) {
  auto add = [&](const EnergyAccount& a, std::string field, double count, double per_action) {
    EnergyItem item{std::string(a.source.component), std::move(field), count,
                    std::string(a.source.unit),      per_action,       count * per_action * a.joules_per_unit};
    r.energy_j += item.joules;
    r.energy.push_back(std::move(item));
  };
  for (const EnergyAccount& a : kEnergyAccounts) {
    if (a.source.per_precision) {
      for (const auto& [precision, figure] : p.energy.mac_pj) {
        const std::string name(name_of(precision));
        add(a, fmt::format("{}.{}", a.source.field, name), a.count(r, name), figure.value);
      }
    } else if (const Figure* figure = a.figure(p.energy)) {
      add(a, std::string(a.source.field), a.count(r, {}), figure->value);
    }
  }
}

void account_op_energy(const Profile& p, OpStats& op) {
  SimResult counts;
  counts.macs = op.macs;
  counts.scan_lane_steps = op.scan_lane_steps;
  counts.vector_lane_cycles = op.vector_lane_cycles;
  counts.tiles.push_back(TileStats{{}, op.sram_read_bytes, op.sram_write_bytes});
  counts.global_buffer_read_bytes = op.global_buffer_bytes;
  counts.noc_byte_hops = op.noc_byte_hops;
  counts.dram_read_bytes = op.dram_read_bytes;
  counts.dram_write_bytes = op.dram_write_bytes;
  account_energy(p, counts);  // seconds = 0: no leakage
  op.energy_j.clear();
  for (const EnergyItem& item : counts.energy)
    if (item.joules > 0) op.energy_j[item.component] += item.joules;
}

void UtilizationTimeline::add(unsigned engine, std::uint64_t start, std::uint64_t end) {
  while (end > bucket_cycles * kBuckets) {  // merge pairs: every bucket twice as wide
    for (auto& buckets : busy) {
      for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i / 2] = (i % 2 ? buckets[i / 2] : 0) + buckets[i];
      buckets.resize((buckets.size() + 1) / 2);
    }
    bucket_cycles *= 2;
  }
  std::vector<std::uint64_t>& buckets = busy[engine];
  for (std::uint64_t t = start; t < end;) {
    const std::uint64_t b = t / bucket_cycles, upto = std::min(end, (b + 1) * bucket_cycles);
    if (buckets.size() <= b) buckets.resize(b + 1, 0);
    buckets[b] += upto - t;
    t = upto;
  }
}

nlohmann::json to_json(const SimResult& r, const Profile& p) {
  nlohmann::json result = write_all(run_statistics(), r, r);
  result["profile"] = p.name;
  nlohmann::json& tiles = result["tiles"] = nlohmann::json::array();
  for (std::size_t t = 0; t < r.tiles.size(); ++t) {
    nlohmann::json tile = write_all(tile_statistics(), r.tiles[t], r);
    tile["tile"] = t;
    nlohmann::json& engines = tile["engines"];
    for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e)
      engines[engine_name(static_cast<ssm_engine>(e))] = write_all(engine_statistics(), r.tiles[t].engines[e], r);
    tiles.push_back(std::move(tile));
  }
  // Only runs given SimOptions::command_op have ops.
  if (!r.ops.empty()) {
    nlohmann::json& ops = result["ops"] = nlohmann::json::array();
    for (const OpStats& o : r.ops) ops.push_back(write_all(op_statistics(), o, r));
  }
  return result;
}

SimResult from_json(const nlohmann::json& j) {
  SimResult r = read_all(run_statistics(), j);
  for (const auto& t : j.at("tiles")) {
    TileStats tile = read_all(tile_statistics(), t);
    for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e)
      tile.engines[e] = read_all(engine_statistics(), t.at("engines").at(engine_name(static_cast<ssm_engine>(e))));
    r.tiles.push_back(tile);
  }
  if (j.contains("ops"))
    for (const auto& o : j.at("ops")) r.ops.push_back(read_all(op_statistics(), o));
  return r;
}

std::string summary(const SimResult& r, const Profile& p) {
  // A line per group of run statistics with phrases ("dram.read_bytes" is in group dram),
  // followed by its statistics' summary lines; the run's own group first and the engine table
  // after it. An engine's first phrase (its utilization) heads its line.
  auto group_line = [&](std::string_view group) {
    std::vector<std::string> phrases;
    for (const auto& s : run_statistics())
      if (!s.summary.empty() && group_of(s.name) == group) phrases.push_back(phrase(s, r, r, p));
    return fmt::format("{}: {}\n", group.empty() ? "profile " + p.name : std::string(group), fmt::join(phrases, ", "));
  };
  std::string out = group_line({});
  out += "utilization (busy / total cycles) of the engines that ran:\n";
  for (std::size_t t = 0; t < r.tiles.size(); ++t)
    for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e) {
      const EngineStats& s = r.tiles[t].engines[e];
      if (s.commands == 0) continue;
      std::vector<std::string> phrases;
      for (const auto& stat : engine_statistics())
        if (!stat.summary.empty()) phrases.push_back(phrase(stat, s, r, p));
      out += fmt::format("  tile {:<3} {:<6} {}  {}\n", t, engine_name(static_cast<ssm_engine>(e)), phrases.front(),
                         fmt::join(phrases.begin() + 1, phrases.end(), ", "));
    }
  std::vector<std::string_view> groups;
  for (const auto& s : run_statistics()) {
    const std::string_view group = group_of(s.name);
    if (!s.summary.empty() && !group.empty() && std::find(groups.begin(), groups.end(), group) == groups.end())
      groups.push_back(group);
  }
  for (std::string_view group : groups) {
    out += group_line(group);
    for (const auto& s : run_statistics())
      if (s.summary_lines && group_of(s.name) == group) out += s.summary_lines(r);
  }
  return out;
}

std::string statistics_markdown() {
  std::string out =
      "| where | statistic | unit | meaning | how |\n"
      "| --- | --- | --- | --- | --- |\n";
  statistic_rows(out, "run", run_statistics());
  statistic_rows(out, "tiles[t]", tile_statistics());
  statistic_rows(out, "tiles[t].engines.E", engine_statistics());
  statistic_rows(out, "ops[i]", op_statistics());
  out +=
      "\n| energy item | component | count | unit |\n"
      "| --- | --- | --- | --- |\n";
  for (const EnergySource& s : energy_sources())
    out += fmt::format("| `{}{}` | {} | `{}` | {} |\n", s.field, s.per_precision ? ".<precision>" : "", s.component,
                       s.count, s.unit);
  return out;
}

SimResult extrapolate(const SimResult& shorter, const SimResult& longer, double repeats) {
  const auto more = [&](auto a, auto b) {
    using T = decltype(a);
    const double value = double(a) + repeats * (double(b) - double(a));
    if constexpr (std::is_integral_v<T>)
      return static_cast<T>(std::llround(std::max(0.0, value)));
    else
      return static_cast<T>(value);
  };
  if (shorter.tiles.size() != longer.tiles.size() || shorter.energy.size() != longer.energy.size())
    throw std::logic_error("extrapolate: runs of different chips");
  SimResult r;
  r.cycles = more(shorter.cycles, longer.cycles);
  r.seconds = more(shorter.seconds, longer.seconds);
  r.tiles = longer.tiles;
  for (std::size_t t = 0; t < r.tiles.size(); ++t) {
    const TileStats &a = shorter.tiles[t], &b = longer.tiles[t];
    TileStats& o = r.tiles[t];
    o.sram_read_bytes = more(a.sram_read_bytes, b.sram_read_bytes);
    o.sram_write_bytes = more(a.sram_write_bytes, b.sram_write_bytes);
    for (std::size_t e = 0; e < o.engines.size(); ++e) {
      o.engines[e].commands = more(a.engines[e].commands, b.engines[e].commands);
      o.engines[e].busy_cycles = more(a.engines[e].busy_cycles, b.engines[e].busy_cycles);
      o.engines[e].stall_cycles = more(a.engines[e].stall_cycles, b.engines[e].stall_cycles);
    }
  }
  r.dram_read_bytes = more(shorter.dram_read_bytes, longer.dram_read_bytes);
  r.dram_write_bytes = more(shorter.dram_write_bytes, longer.dram_write_bytes);
  r.global_buffer_read_bytes = more(shorter.global_buffer_read_bytes, longer.global_buffer_read_bytes);
  r.global_buffer_write_bytes = more(shorter.global_buffer_write_bytes, longer.global_buffer_write_bytes);
  r.noc_byte_hops = more(shorter.noc_byte_hops, longer.noc_byte_hops);
  std::map<std::string, double> link_bytes;
  for (const LinkStats& l : shorter.links) link_bytes[l.name] -= (repeats - 1) * l.bytes;
  for (const LinkStats& l : longer.links) link_bytes[l.name] += repeats * l.bytes;
  for (const LinkStats& l : longer.links) r.links.push_back({l.name, link_bytes[l.name]});
  std::map<std::string, std::uint64_t> macs = shorter.macs;
  for (const auto& [precision, count] : longer.macs) macs[precision] = more(macs[precision], count);
  r.macs = macs;
  r.scan_lane_steps = more(shorter.scan_lane_steps, longer.scan_lane_steps);
  r.vector_lane_cycles = more(shorter.vector_lane_cycles, longer.vector_lane_cycles);
  r.commands = more(shorter.commands, longer.commands);
  r.firmware_signals = more(shorter.firmware_signals, longer.firmware_signals);
  r.firmware_waits = more(shorter.firmware_waits, longer.firmware_waits);
  r.firmware_wakeups = more(shorter.firmware_wakeups, longer.firmware_wakeups);
  r.timeline = longer.timeline;
  r.energy = longer.energy;
  r.energy_j = 0;
  for (std::size_t i = 0; i < r.energy.size(); ++i) {
    r.energy[i].count = more(shorter.energy[i].count, longer.energy[i].count);
    r.energy[i].joules = more(shorter.energy[i].joules, longer.energy[i].joules);
    r.energy_j += r.energy[i].joules;
  }
  return r;
}

}  // namespace ssmsoc::sim
