// `ssmsoc profile list|show`.
#include <yaml-cpp/yaml.h>

#include <fmt/format.h>
#include <cctype>
#include <cmath>

#include "arch/spec/profile.hpp"
#include "arch/spec/profile_json.hpp"
#include "cli/commands.hpp"

namespace ssmsoc::cli {

using json = nlohmann::ordered_json;

namespace {

// "16.38 TMAC/s": three to four significant digits with an SI prefix.
std::string si(double value, std::string_view unit) {
  static const char* const prefixes[] = {"", "k", "M", "G", "T", "P", "E"};
  int index = 0;
  while (std::fabs(value) >= 1000 && index < 6) {
    value /= 1000;
    ++index;
  }
  // A word unit keeps its own space after the prefix: "512 G steps/s", "16.38 TMAC/s".
  const bool word = !unit.empty() && std::islower(static_cast<unsigned char>(unit.front()));
  return fmt::format("{:.4g} {}{}{}", value, prefixes[index], word && index > 0 ? " " : "", unit);
}

// "12 MiB": sizes in binary units.
std::string binary_size(std::int64_t bytes) {
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int index = 0;
  while (value >= 1024 && index < 4) {
    value /= 1024;
    ++index;
  }
  return fmt::format("{:.4g} {}", value, units[index]);
}

bool is_integer_precision(Precision p) { return p == Precision::int4 || p == Precision::int8; }

void emit_yaml(YAML::Emitter& out, const json& value) {
  if (value.is_object()) {
    bool leaf = value.size() <= 3 && std::all_of(value.begin(), value.end(), [](const json& v) {
                  return v.is_primitive() && !(v.is_string() && v.get<std::string>().size() > 40);
                });
    out << (leaf ? YAML::Flow : YAML::Block) << YAML::BeginMap;
    for (const auto& [key, child] : value.items()) {
      out << YAML::Key << key << YAML::Value;
      emit_yaml(out, child);
    }
    out << YAML::EndMap;
  } else if (value.is_array()) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const auto& item : value) emit_yaml(out, item);
    out << YAML::EndSeq;
  } else if (value.is_string()) {
    out << value.get<std::string>();
  } else {
    out << YAML::Value << value.dump();  // numbers and booleans exactly as JSON writes them
  }
}

// The figure a table compares chips by: int8 where the chip has it, else its fastest precision.
const PrecisionFigures& headline(const ProfileFigures& f) {
  const PrecisionFigures* best = &f.matrix.front();
  for (const auto& m : f.matrix) {
    if (m.precision == Precision::int8) return m;
    if (m.peak_macs_per_s > best->peak_macs_per_s) best = &m;
  }
  return *best;
}

json profile_envelope(const Profile& p) {
  json bases = json::array();
  for (const auto& b : p.bases) bases.push_back(b);
  return json{{"name", p.name},
              {"file", p.file.string()},
              {"bases", bases},
              {"profile", profile_to_json(p)},
              {"derived", figures_to_json(derive_figures(p))}};
}

}  // namespace

int profile_list(bool as_json, std::ostream& out) {
  std::vector<Profile> profiles;
  for (const auto& file : shipped_profile_files()) profiles.push_back(load_profile_file(file));
  if (as_json) {
    json list = json::array();
    for (const auto& p : profiles) {
      json entry = profile_envelope(p);
      entry.erase("profile");
      entry["description"] = p.description;
      entry["family"] = name_of(p.family);
      list.push_back(entry);
    }
    out << list.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    return 0;
  }
  out << fmt::format("{:<20} {:<17} {:>5} {:>9} {:>22} {:>16} {:>11} {:>8}  {}\n", "NAME", "FAMILY", "TILES", "CLOCK",
                     "PEAK MATRIX", "SCAN", "DRAM", "POWER", "DESCRIPTION");
  for (const auto& p : profiles) {
    ProfileFigures f = derive_figures(p);
    const PrecisionFigures& best = headline(f);
    std::string peak =
        fmt::format("{} {}", si(best.peak_flop_per_s, is_integer_precision(best.precision) ? "OP/s" : "FLOP/s"),
                    name_of(best.precision));
    std::string scan = p.tile.scan.present ? si(f.peak_scan_steps_per_s, "steps/s") : "-";
    out << fmt::format("{:<20} {:<17} {:>5} {:>9} {:>22} {:>16} {:>11} {:>8}  {}\n", p.name, name_of(p.family),
                       p.tile_count, si(f.clock_hz, "Hz"), peak, scan, si(f.dram_bytes_per_s, "B/s"),
                       si(p.power_budget_w, "W"), p.description);
  }
  return 0;
}

int profile_show(const std::string& name_or_file, bool as_json, std::ostream& out) {
  const Profile p = load_profile(name_or_file);
  if (as_json) {
    out << profile_envelope(p).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    return 0;
  }
  const ProfileFigures f = derive_figures(p);
  std::string bases;
  for (const auto& b : p.bases) bases += (bases.empty() ? "" : " <- ") + b;
  out << fmt::format("{}: {}\nfile: {}\nbases: {}\n\nDerived figures\n", p.name, p.description, p.file.string(),
                     bases.empty() ? "(none)" : bases);
  auto row = [&](std::string_view label, const std::string& value) {
    out << fmt::format("  {:<26} {}\n", label, value);
  };
  row("clock", si(f.clock_hz, "Hz"));
  for (const auto& m : f.matrix) {
    const bool integer = is_integer_precision(m.precision);
    row(fmt::format("matrix {}", name_of(m.precision)),
        fmt::format("{:<13} {:<14} ridge {:.4g} {}/B, {} at peak", si(m.peak_macs_per_s, "MAC/s"),
                    si(m.peak_flop_per_s, integer ? "OP/s" : "FLOP/s"), m.ridge_flop_per_byte, integer ? "OP" : "FLOP",
                    si(m.matrix_power_at_peak_w, "W")));
  }
  row("scan unit", p.tile.scan.present ? si(f.peak_scan_steps_per_s, "steps/s") : "none (scan runs in software)");
  row("vector unit", si(f.peak_vector_ops_per_s, "element-ops/s"));
  row("tile SRAM bandwidth", si(f.tile_sram_bytes_per_s, "B/s"));
  row("global buffer bandwidth", si(f.global_buffer_bytes_per_s, "B/s"));
  row("DRAM bandwidth", si(f.dram_bytes_per_s, "B/s"));
  row("NoC bisection bandwidth", f.noc_bisection_bytes_per_s > 0 ? si(f.noc_bisection_bytes_per_s, "B/s") : "-");
  row("total SRAM", binary_size(f.total_sram_bytes));
  row("idle power", si(f.idle_power_w, "W"));
  row("power budget", si(p.power_budget_w, "W"));
  row("total area", fmt::format("{:.4g} mm2", f.total_area_mm2));
  YAML::Emitter yaml;
  yaml.SetIndent(2);
  emit_yaml(yaml, profile_to_json(p));
  out << "\nResolved profile\n" << yaml.c_str() << '\n';
  return 0;
}

}  // namespace ssmsoc::cli
