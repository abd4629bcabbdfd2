// The statistics of a run, each declared once (sim/stats.cpp): its key in stats.json, its unit,
// what it means and how it is obtained (counted by the model, or derived by a formula from
// others). to_json, the reading back of a child's result, the summary of `ssmsoc sim` and the
// table of sim/README.md iterate the declarations. Adding a statistic is a declaration here
// and the line of the model that counts it.
//
// Energy items are declared likewise (energy_sources()): each is a count of actions times the
// per-action figure of a named profile field, e.g. energy.dram_byte_pj × (dram.read_bytes +
// dram.write_bytes).
#pragma once

#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "arch/spec/profile.hpp"
#include "sim/sim.hpp"

namespace ssmsoc::sim {

enum class Derivation {
  counted,  // the model adds it up as the run goes
  derived,  // a formula of other statistics (and the profile)
};

// A statistic kept in (or computed from) a `Record`: SimResult (one per run), TileStats,
// EngineStats (one per engine of a tile) or OpStats (one per compiler op).
template <class Record>
struct Statistic {
  std::string_view name;  // key in its record's JSON object; a '.' nests ("dram.read_bytes")
  std::string_view unit;
  std::string_view description;
  Derivation derivation;
  std::string_view how;  // what counts it, or its formula
  // Its JSON value (the run: for statistics derived from the run's totals).
  nlohmann::json (*write)(const Record&, const SimResult& run);
  // Sets it from its JSON value; null for statistics not kept in the record (recomputed).
  void (*read)(Record&, const nlohmann::json&) = nullptr;
  // Its phrase in the summary (fmt format of the value times summary_scale; {clock_mhz} names
  // the profile's clock); empty: not in the summary.
  std::string_view summary = {};
  double summary_scale = 1;
  // Lines the summary prints under its group's line (a structured statistic's entries).
  std::string (*summary_lines)(const Record&) = nullptr;
};

std::span<const Statistic<SimResult>> run_statistics();
std::span<const Statistic<TileStats>> tile_statistics();
std::span<const Statistic<EngineStats>> engine_statistics();
std::span<const Statistic<OpStats>> op_statistics();

// A source of energy: `count` actions of a run times the profile's per-action figure `field`.
struct EnergySource {
  std::string_view component;  // matrix, scan, vector, sram, global_buffer, noc, dram, leakage
  std::string_view field;      // the profile field; energy.mac_pj has one per precision (.bf16 ...)
  std::string_view count;      // the statistics it multiplies
  std::string_view unit;       // what the count counts
  bool per_precision = false;  // one item per precision of energy.mac_pj, counting macs.<precision>
};
std::span<const EnergySource> energy_sources();

// The statistics and energy sources as the markdown tables of sim/README.md.
std::string statistics_markdown();

// Reads a run's statistics back from to_json (memory_out excepted).
SimResult from_json(const nlohmann::json& stats);

}  // namespace ssmsoc::sim
