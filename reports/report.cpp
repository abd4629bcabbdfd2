#include "reports/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/output_file.hpp"
#include "host/sweep.hpp"
#include "reports/charts.hpp"

namespace ssmsoc::reports {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const char* const kEngines[] = {"dma", "matrix", "scan", "vector"};
// Energy components an op has (leakage is the run's).
const char* const kComponents[] = {"matrix", "scan", "vector", "sram", "global_buffer", "noc", "dram"};
constexpr std::size_t kOpsShown = 12;  // per chart; the rest summed as "other ops"

// --- reading ---------------------------------------------------------------------------------

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(fmt::format("{}: cannot read", file.string()));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

json read_json(const fs::path& file) {
  const std::string text = read_text(file);
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n')
        ++line, column = 1;
      else
        ++column;
    }
    throw ConfigError(fmt::format("{}:{}:{}: not valid JSON", file.string(), line, column));
  }
}

// The value at a dotted key ("scenario.batch"); null when a part is missing.
const json* find(const json& j, std::string_view key) {
  const json* node = &j;
  for (std::size_t dot; node; key.remove_prefix(dot + 1)) {
    dot = key.find('.');
    const std::string part(key.substr(0, dot));
    node = node->is_object() && node->contains(part) ? &(*node)[part] : nullptr;
    if (dot == std::string_view::npos) break;
  }
  return node;
}
// The same, or a ConfigError naming the file and the key.
const json& at(const json& j, std::string_view key, const fs::path& file) {
  const json* node = find(j, key);
  if (!node) throw ConfigError(fmt::format("{}: {}: missing", file.string(), key));
  return *node;
}
double number(const json& j, std::string_view key, const fs::path& file) {
  const json& v = at(j, key, file);
  if (!v.is_number()) throw ConfigError(fmt::format("{}: {}: expected a number", file.string(), key));
  return v.get<double>();
}
std::string text(const json& j, std::string_view key, const fs::path& file) {
  const json& v = at(j, key, file);
  if (!v.is_string()) throw ConfigError(fmt::format("{}: {}: expected a string", file.string(), key));
  return v.get<std::string>();
}
// A {"value", "unit"} figure's value.
double figure(const json& j, std::string_view key, const fs::path& file) {
  const json& v = at(j, key, file);
  if (!v.is_object() || !v.contains("value") || !v["value"].is_number())
    throw ConfigError(
        fmt::format("{}: {}: expected a figure {{\"value\": number, \"unit\": text}}", file.string(), key));
  return v["value"].get<double>();
}
// A number or a figure's value at a dotted key; NaN when there is none.
double optional_figure(const json& j, std::string_view key) {
  const json* node = find(j, key);
  if (node && node->is_number()) return node->get<double>();
  if (node && node->is_object() && node->contains("value") && (*node)["value"].is_number())
    return (*node)["value"].get<double>();
  return kNaN;
}

// One simulated (or kernel-timed) run: a run folder, or a row of a comparison.
struct Run {
  fs::path source;  // summary.json or compare.json
  std::string model, profile, classification, precision;
  bool kernel_timed = false;  // an incumbent's kernel model, not the SystemC model, timed it
  int prompt = 0, generate = 0, batch = 1;
  std::map<std::string, double> headline;  // by headline key
  json summary;                            // the whole summary.json (null for a comparison row)
  json stats;                              // stats.json (null when absent)
  std::string label() const {
    return fmt::format("{} on {}, prompt {}, generate {}, batch {}", model, profile, prompt, generate, batch);
  }
  std::string short_label() const { return fmt::format("{} @ {}, {} tok, b{}", model, profile, prompt, batch); }
};

// The headline figures: key (in summary.json or a comparison row), title, unit.
struct Headline {
  const char* key;
  const char* title;
  const char* unit;
};
constexpr Headline kHeadline[] = {
    {"time_to_first_token", "time to first token", "s"},
    {"decode_latency_per_token", "decode latency per token", "s"},
    {"decode_throughput", "decode throughput", "tokens/s"},
    {"tokens_per_joule", "tokens per joule", "tokens/J"},
    {"energy_per_generated_token", "energy per generated token", "J/token"},
    {"average_power", "average power", "W"},
    {"dram_traffic", "DRAM traffic", "B"},
    {"energy", "energy", "J"},
    {"total_time", "total time", "s"},
};

// A run from its summary.json (read as `summary`) and the stats.json beside it.
Run read_run(const fs::path& summary_file, json summary) {
  Run r;
  r.source = summary_file;
  r.summary = std::move(summary);
  r.model = text(r.summary, "model", summary_file);
  r.profile = text(r.summary, "profile", summary_file);
  r.classification = r.summary.value("classification", "");
  r.precision = r.summary.value("precision", "");
  r.kernel_timed = r.summary.value("timing", "tiles") == "kernels";
  r.prompt = int(number(r.summary, "scenario.prompt_tokens", summary_file));
  r.generate = int(number(r.summary, "scenario.generate_tokens", summary_file));
  r.batch = int(number(r.summary, "scenario.batch", summary_file));
  for (const Headline& h : kHeadline) {
    if (std::string_view(h.key) == "tokens_per_joule") continue;
    r.headline[h.key] = figure(r.summary, h.key, summary_file);
  }
  const double per_token = r.headline["energy_per_generated_token"];
  r.headline["tokens_per_joule"] = per_token > 0 ? 1 / per_token : kNaN;
  const fs::path stats_file = summary_file.parent_path() / "stats.json";
  if (fs::is_regular_file(stats_file)) {
    r.stats = read_json(stats_file);
    if (!r.stats.is_array()) throw ConfigError(fmt::format("{}: expected an array of phases", stats_file.string()));
    for (std::size_t i = 0; i < r.stats.size(); ++i) {
      const std::string where = fmt::format("[{}]", i);
      for (const char* key : {"phase", "runs", "stats"})
        if (!r.stats[i].is_object() || !r.stats[i].contains(key))
          throw ConfigError(fmt::format("{}: {}.{}: missing", stats_file.string(), where, key));
    }
  }
  return r;
}

// A comparison's rows, each at its scenario batch and at its serving batch.
std::vector<Run> read_comparison(const fs::path& file, const json& c) {
  const json& rows = at(c, "rows", file);
  if (!rows.is_array()) throw ConfigError(fmt::format("{}: rows: expected an array", file.string()));
  std::vector<Run> runs;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const json& row = rows[i];
    const std::string where = fmt::format("rows[{}]", i);
    for (const char* at_batch : {"at_scenario_batch", "at_serving_batch"}) {
      if (!row.contains(at_batch) || row[at_batch].is_null()) continue;  // a pair that could not run
      Run r;
      r.source = file;
      r.model = text(row, "model", file);
      r.profile = text(row, "profile", file);
      r.prompt = int(number(c, "scenario.prompt_tokens", file));
      r.generate = int(number(c, "scenario.generate_tokens", file));
      const json& figures = row[at_batch];
      r.batch = int(number(figures, "batch", file));
      for (const Headline& h : kHeadline) {
        const double v = optional_figure(figures, h.key);
        r.headline[h.key] = v;
        if (std::string_view(h.key) == "time_to_first_token" && std::isnan(v))
          throw ConfigError(fmt::format("{}: {}.{}.{}: missing", file.string(), where, at_batch, h.key));
      }
      runs.push_back(std::move(r));
    }
  }
  return runs;
}

struct Sweep {
  host::SweepSpec spec;
  fs::path db_file;
  std::vector<host::PointResult> points, front;  // simulated
  std::size_t screened = 0;
  host::SweepSummary agreement;
};

Sweep read_sweep(const fs::path& spec_file, const ReportOptions& options) {
  Sweep s;
  s.spec = host::load_sweep_spec(spec_file);
  s.db_file = options.sweep_db.empty() ? fs::path(spec_file.stem().string() + ".db") : options.sweep_db;
  if (!fs::is_regular_file(s.db_file))
    throw ConfigError(
        fmt::format("{}: no such sweep database (run `ssmsoc sweep {}` first, or name it with --sweep-db)",
                    s.db_file.string(), spec_file.string()));
  host::SweepDatabase db(s.db_file);
  std::set<host::PointId> screened;
  for (const host::SweepRow& r : db.rows(s.spec, host::Tier::estimate)) screened.insert(r.point);
  s.screened = screened.size();
  s.points = host::point_results(s.spec, db.rows(s.spec, host::Tier::simulation));
  s.front = host::simulated_front(s.spec, db);
  host::tier_agreement(s.spec, db, s.agreement);
  return s;
}

// --- HTML pieces -----------------------------------------------------------------------------

// A number exactly as read (shortest round trip), for data-value attributes.
std::string exact(double v) { return std::isfinite(v) ? fmt::format("{}", v) : ""; }
std::string num(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : ""; }

std::string table_html(const Table& t, std::string_view caption, const std::vector<std::string>& attributes = {}) {
  std::string h = "<div class=\"table\"><table>";
  if (!caption.empty()) h += fmt::format("<caption>{}</caption>", escape(caption));
  h += "<thead><tr>";
  for (const std::string& c : t.header) h += "<th>" + escape(c) + "</th>";
  h += "</tr></thead><tbody>\n";
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    h += i < attributes.size() ? "<tr " + attributes[i] + ">" : "<tr>";
    for (const std::string& c : t.rows[i]) h += "<td>" + escape(c) + "</td>";
    h += "</tr>\n";
  }
  return h + "</tbody></table></div>\n";
}

// The op's name without its layer ("layers.3.mamba.in_proj" -> "mamba.in_proj").
std::string op_group(const std::string& name) {
  if (!name.starts_with("layers.")) return name;
  const std::size_t dot = name.find('.', 7);
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

// Per op group of a phase: what its ops did, summed over the layers.
struct OpGroup {
  std::string name, kind;
  std::map<std::string, double> busy;    // by engine, cycles summed over tiles
  std::map<std::string, double> energy;  // by component, J
  double dram_bytes = 0, span_cycles = 0;
  double flops = 0, scan_steps = 0, lane_cycles = 0;
  double busy_total() const {
    double sum = 0;
    for (const auto& [engine, cycles] : busy) sum += cycles;
    return sum;
  }
};

std::vector<OpGroup> op_groups(const json& phase_stats) {
  std::vector<OpGroup> groups;
  std::map<std::string, std::size_t> index;
  if (!phase_stats.contains("ops")) return groups;
  for (const json& op : phase_stats["ops"]) {
    const std::string name = op_group(op.value("name", "op"));
    auto [it, added] = index.emplace(name, groups.size());
    if (added) {
      groups.emplace_back();
      groups.back().name = name, groups.back().kind = op.value("kind", "");
    }
    OpGroup& g = groups[it->second];
    if (op.contains("busy_cycles"))
      for (const auto& [engine, cycles] : op["busy_cycles"].items()) g.busy[engine] += cycles.get<double>();
    if (op.contains("energy_joules"))
      for (const auto& [component, joules] : op["energy_joules"].items()) g.energy[component] += joules.get<double>();
    g.dram_bytes += op.value("dram_read_bytes", 0.0) + op.value("dram_write_bytes", 0.0);
    const double first = op.value("first_cycle", 0.0), last = op.value("last_cycle", 0.0);
    g.span_cycles += std::max(0.0, last - first);
    if (op.contains("macs"))
      for (const auto& [precision, macs] : op["macs"].items()) g.flops += 2 * macs.get<double>();
    g.scan_steps += op.value("scan_lane_steps", 0.0);
    g.lane_cycles += op.value("vector_lane_cycles", 0.0);
  }
  std::stable_sort(groups.begin(), groups.end(),
                   [](const OpGroup& a, const OpGroup& b) { return a.busy_total() > b.busy_total(); });
  return groups;
}

// The busiest kOpsShown groups and the rest summed as one bar.
template <class Value>
std::vector<Bar> top_bars(const std::vector<OpGroup>& groups, const std::vector<std::string>& parts, Value value) {
  std::vector<Bar> bars;
  Bar other{"other ops", std::vector<double>(parts.size(), 0.0)};
  for (std::size_t i = 0; i < groups.size(); ++i) {
    Bar b{groups[i].name, {}};
    for (const std::string& part : parts) b.parts.push_back(value(groups[i], part));
    if (i < kOpsShown) {
      bars.push_back(std::move(b));
    } else {
      for (std::size_t k = 0; k < parts.size(); ++k) other.parts[k] += b.parts[k];
    }
  }
  if (groups.size() > kOpsShown) bars.push_back(std::move(other));
  return bars;
}

double chip_figure(const Run& run, const char* key) { return optional_figure(run.summary, std::string("chip.") + key); }

// A phase's roofline: each op group where it ran (work per DRAM byte, work per second of its
// span) under the DRAM's slope and each engine's peak.
std::string roofline(const Run& run, const std::string& phase, const std::vector<OpGroup>& groups) {
  const double clock = chip_figure(run, "clock"), dram = chip_figure(run, "dram_bandwidth");
  if (!(clock > 0) || !(dram > 0)) return {};
  struct Engine {
    const char* name;
    const char* chip_key;
    std::size_t colour;
  };
  const Engine engines[] = {{"matrix", "peak_matrix", 0}, {"scan", "peak_scan", 1}, {"vector", "peak_vector", 2}};
  const char* const work_units[] = {"FLOP", "lane steps", "lane-cycles"};
  std::vector<Series> series;
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (int e = 0; e < 3; ++e) {
    Series s{fmt::format("{} ops ({})", engines[e].name, work_units[e]), engines[e].colour, {}, false, true};
    for (const OpGroup& g : groups) {
      const double work = e == 0 ? g.flops : e == 1 ? g.scan_steps : g.lane_cycles;
      // An op is placed by its main engine's work: GEMMs by FLOPs, scans by lane steps, the rest by lane-cycles.
      const bool main = e == 0   ? (g.kind == "gemm" || g.kind == "attention")
                        : e == 1 ? g.kind == "scan"
                                 : (g.kind == "vector" || g.kind == "conv1d");
      if (!main || work <= 0 || g.span_cycles <= 0 || g.dram_bytes <= 0) continue;
      const double intensity = work / g.dram_bytes, achieved = work / (g.span_cycles / clock);
      lo = std::min(lo, intensity), hi = std::max(hi, intensity);
      s.points.push_back(
          {intensity, achieved, fmt::format("{}: {:.4g} ops/B, {}", g.name, intensity, readable(achieved, "ops/s"))});
    }
    if (!s.points.empty()) series.push_back(std::move(s));
  }
  if (series.empty()) return {};
  lo = std::min(lo, 1.0) / 4, hi = std::max(hi, 1.0) * 4;
  for (int e = 0; e < 3; ++e) {
    const double peak = chip_figure(run, engines[e].chip_key);
    if (!(peak > 0)) continue;
    hi = std::max(hi, peak / dram * 4);
    const double ridge = peak / dram;
    series.push_back(Series{fmt::format("{} peak {}", engines[e].name, readable(peak, "/s")),
                            engines[e].colour,
                            {{std::min(ridge, lo), std::min(ridge, lo) * dram, ""}, {ridge, peak, ""}, {hi, peak, ""}},
                            true,
                            false,
                            true});
  }
  series.push_back(Series{
      fmt::format("DRAM {}", readable(dram, "B/s")), 9, {{lo, lo * dram, ""}, {hi, hi * dram, ""}}, true, false, true});
  return plot(Plot{fmt::format("{}: roofline (each op summed over its layers)", phase),
                   {"operations per DRAM byte", true},
                   {"operations per second", true},
                   series});
}

std::string timeline(const Run& run, const std::string& phase, const json& phase_stats) {
  const double clock = chip_figure(run, "clock");
  const json* t = phase_stats.contains("utilization_timeline") ? &phase_stats["utilization_timeline"] : nullptr;
  if (!t || !(clock > 0) || !phase_stats.contains("tiles")) return {};
  const double bucket = t->value("bucket_cycles", 0.0), tiles = double(phase_stats["tiles"].size());
  if (!(bucket > 0) || !(tiles > 0)) return {};
  std::vector<Series> series;
  for (std::size_t e = 0; e < std::size(kEngines); ++e) {
    if (!t->contains("busy_cycles") || !(*t)["busy_cycles"].contains(kEngines[e])) continue;
    Series s{kEngines[e], e, {}};
    const json& busy = (*t)["busy_cycles"][kEngines[e]];
    for (std::size_t i = 0; i < busy.size(); ++i)
      s.points.push_back({(double(i) + 0.5) * bucket / clock * 1e3, busy[i].get<double>() / (bucket * tiles), ""});
    if (!s.points.empty()) series.push_back(std::move(s));
  }
  if (series.empty()) return {};
  return plot(
      Plot{run.kernel_timed
               ? fmt::format("{}: engines busy over time (the kernels, one after another)", phase)
               : fmt::format("{}: engines busy over time (fraction of the tiles; the simulated Program)", phase),
           {"ms", false},
           {"busy fraction", false},
           series});
}

// Links to the phase's Perfetto traces in the run's folder (`ssmsoc run --trace DIR/NAME.json`
// writes NAME.PHASE.json), relative to the page.
std::string trace_links(const Run& run, const std::string& phase, const fs::path& page_folder) {
  std::vector<fs::path> traces;
  const fs::path folder = run.source.parent_path().empty() ? fs::path(".") : run.source.parent_path();
  for (const fs::directory_entry& e : fs::directory_iterator(folder))
    if (e.is_regular_file() && e.path().filename().string().ends_with("." + phase + ".json"))
      traces.push_back(e.path());
  std::sort(traces.begin(), traces.end());
  std::string links;
  for (const fs::path& t : traces) {
    const std::string href = fs::absolute(t).lexically_relative(fs::absolute(page_folder)).generic_string();
    links += fmt::format(" <a class=\"trace\" href=\"{}\">{}</a>", escape(href), escape(t.filename().string()));
  }
  if (links.empty())
    return "<p class=\"muted\">For a timeline command by command, run with <code>--trace FILE.json</code> into the "
           "run's folder and make the report again: it links each phase's trace, which Perfetto opens "
           "(ui.perfetto.dev, or <code>trace_processor</code> offline).</p>\n";
  return fmt::format("<p>Perfetto trace of this phase (open it in ui.perfetto.dev):{}</p>\n", links);
}

// --- the page --------------------------------------------------------------------------------

const char* const kStyle = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2330;margin:0 auto;max-width:1100px;padding:20px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;border-bottom:2px solid #d7dce5;padding-bottom:4px;margin-top:32px}
h3{font-size:16px;margin:22px 0 6px}.muted{color:#5b6474}
table{border-collapse:collapse;margin:8px 0 14px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d7dce5;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f1f3f7}
td.n{text-align:right}caption{text-align:left;font-weight:600;padding:4px 0}.table{overflow-x:auto}
svg.chart{display:block;max-width:100%;height:auto;margin:8px 0 18px;font:12px system-ui,sans-serif}
svg .chart-title{font-weight:600;font-size:13px}svg .grid{stroke:#e4e7ee}svg .frame{fill:none;stroke:#9aa3b2}
svg .series{fill:none;stroke-width:2}svg text{fill:#1d2330}
.pairs>input{position:absolute;opacity:0}.pairs>label{display:inline-block;border:1px solid #c5cbd6;border-radius:4px;
padding:2px 8px;margin:2px;cursor:pointer}.pairs>input:checked+label{background:#4e79a7;color:#fff}.pairs>.pane{display:none}
nav a{margin-right:12px}
@media print{body{max-width:none;padding:0}nav,.pairs>input,.pairs>label{display:none}.pairs>.pane{display:block}
section{break-inside:avoid-page}h2{break-after:avoid}}
)";

class Page {
 public:
  explicit Page(std::string title) : title_(std::move(title)) {}
  void section(const std::string& id, const std::string& heading, const std::string& body) {
    nav_.emplace_back(id, heading);
    body_ += fmt::format("<section id=\"{}\">\n<h2>{}</h2>\n{}</section>\n", escape(id), escape(heading), body);
  }
  std::string html(const std::string& intro, const std::string& extra_style) const {
    std::string nav;
    for (const auto& [id, heading] : nav_) nav += fmt::format("<a href=\"#{}\">{}</a>", escape(id), escape(heading));
    return fmt::format(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
        "content=\"width=device-width, initial-scale=1\">\n<title>{0}</title>\n<style>{1}{2}</style>\n</head>\n<body>\n"
        "<header><h1>{0}</h1>\n{3}<nav>{4}</nav></header>\n{5}</body>\n</html>\n",
        escape(title_), kStyle, extra_style, intro, nav, body_);
  }

 private:
  std::string title_;
  std::vector<std::pair<std::string, std::string>> nav_;
  std::string body_;
};

// The headline table of every run, each figure with its exact value in data-value.
std::string headline_section(const std::vector<Run>& runs, Table& table) {
  table.name = "runs";
  table.header = {"run", "model", "profile", "prompt tokens", "generated tokens", "batch"};
  for (const Headline& h : kHeadline) table.header.push_back(fmt::format("{} ({})", h.title, h.unit));
  std::string rows;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const Run& r = runs[i];
    std::vector<std::string> csv_row = {
        std::to_string(i + 1),  r.model, r.profile, std::to_string(r.prompt), std::to_string(r.generate),
        std::to_string(r.batch)};
    rows += fmt::format(
        "<tr data-run=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td "
        "class=\"n\">{}</td><td class=\"n\">{}</td>",
        i, i + 1, escape(r.model), escape(r.profile), r.prompt, r.generate, r.batch);
    for (const Headline& h : kHeadline) {
      const double v = r.headline.at(h.key);
      rows += fmt::format("<td class=\"n\" data-figure=\"{}\" data-value=\"{}\">{}</td>", h.key, exact(v),
                          escape(readable(v, h.unit)));
      csv_row.push_back(num(v));
    }
    rows += "</tr>\n";
    table.rows.push_back(std::move(csv_row));
  }
  std::string head = "<tr><th>#</th><th>model</th><th>profile</th><th>prompt</th><th>generated</th><th>batch</th>";
  for (const Headline& h : kHeadline) head += fmt::format("<th>{}</th>", escape(h.title));
  return fmt::format(
      "<div class=\"table\"><table id=\"headline\"><thead>{}</tr></thead><tbody>\n{}</tbody></table></div>\n", head,
      rows);
}

std::string comparison_section(const std::vector<Run>& runs) {
  std::string body;
  const Headline* shown[] = {&kHeadline[0], &kHeadline[1], &kHeadline[3], &kHeadline[5]};
  for (const Headline* h : shown) {
    std::vector<Bar> bars;
    for (std::size_t i = 0; i < runs.size(); ++i)
      bars.push_back(Bar{fmt::format("{}. {}", i + 1, runs[i].short_label()), {runs[i].headline.at(h->key)}});
    body += stacked_bars(fmt::format("{} ({})", h->title, h->unit), bars, {h->title}, {}, h->unit);
  }
  return body;
}

// Time, decode latency and a session's memory against the prompt, per model, where the runs
// of one profile cover several prompt lengths.
std::string scaling_section(const std::vector<Run>& runs, Table& table) {
  table.name = "scaling";
  table.header = {"profile",
                  "model",
                  "prompt tokens",
                  "time to first token (s)",
                  "decode latency per token (s)",
                  "SSM state per session (B)",
                  "KV cache per session (B)"};
  std::map<std::string, std::map<std::string, std::map<int, const Run*>>> by_profile;  // profile -> model -> prompt
  for (const Run& r : runs)
    if (!r.summary.is_null()) by_profile[r.profile][r.model][r.prompt] = &r;
  std::string body;
  for (const auto& [profile, models] : by_profile) {
    bool several = false;
    for (const auto& [model, prompts] : models) several |= prompts.size() > 1;
    if (!several) continue;
    std::vector<Series> ttft, decode, memory;
    std::size_t colour = 0;
    for (const auto& [model, prompts] : models) {
      const bool transformer = prompts.begin()->second->classification.find("transformer") != std::string::npos;
      Series t{model, colour, {}, true, true, transformer}, d = t, m = t;
      for (const auto& [prompt, run] : prompts) {
        const double state = optional_figure(run->summary, "memory.ssm_state_per_session"),
                     kv = optional_figure(run->summary, "memory.kv_cache_per_session");
        const double ttft_s = run->headline.at("time_to_first_token"),
                     decode_s = run->headline.at("decode_latency_per_token");
        t.points.push_back(
            {double(prompt), ttft_s, fmt::format("{}, {} tokens: {}", model, prompt, readable(ttft_s, "s"))});
        d.points.push_back(
            {double(prompt), decode_s, fmt::format("{}, {} tokens: {}", model, prompt, readable(decode_s, "s"))});
        const double bytes = (std::isnan(state) ? 0 : state) + (std::isnan(kv) ? 0 : kv);
        m.points.push_back(
            {double(prompt), bytes,
             fmt::format("{}, {} tokens: state {}, KV {}", model, prompt, readable(state, "B"), readable(kv, "B"))});
        table.rows.push_back({profile, model, std::to_string(prompt), num(ttft_s), num(decode_s), num(state), num(kv)});
      }
      ttft.push_back(std::move(t)), decode.push_back(std::move(d)), memory.push_back(std::move(m));
      ++colour;
    }
    body += fmt::format(
        "<h3>{}</h3>\n<p class=\"muted\">Transformers dashed. A session's memory is its SSM and conv "
        "state plus its KV cache at the run's context.</p>\n",
        escape(profile));
    body += plot(Plot{profile + ": time to first token", {"prompt tokens", true}, {"s", true}, ttft});
    body += plot(Plot{profile + ": decode latency per token", {"prompt tokens", true}, {"s", true}, decode});
    body += plot(Plot{profile + ": memory a session holds", {"prompt tokens", true}, {"bytes", true}, memory});
  }
  return body;
}

std::string numerics_section(const std::vector<Run>& runs, Table& table) {
  table.name = "numerics";
  table.header = {"profile",       "lanes",        "max state", "data format", "state format",   "state storage",
                  "exp",           "softplus",     "kernel",    "shape",       "output max abs", "output max rel",
                  "state max abs", "state max rel"};
  std::set<std::string> seen;
  for (const Run& r : runs) {
    if (r.summary.is_null() || !r.summary.contains("scan_unit") || !r.summary["scan_unit"].is_object()) continue;
    const json& u = r.summary["scan_unit"];
    const json& e = u.value("error", json::object());
    const std::string kernel = e.value("kernel", "");
    if (!seen.insert(r.profile + "/" + kernel).second) continue;
    const auto value_of = [](const json& j, const char* key) {
      if (!j.contains(key) || j[key].is_null()) return std::string("-");
      return j[key].is_string() ? j[key].get<std::string>() : num(j[key].get<double>());
    };
    table.rows.push_back({r.profile, value_of(u, "lanes"), value_of(u, "max_state"), value_of(u, "data_format"),
                          value_of(u, "state_format"), value_of(u, "state_storage"), value_of(u, "exp"),
                          value_of(u, "softplus"), kernel, value_of(e, "shape"), value_of(e, "output_max_abs"),
                          value_of(e, "output_max_rel"), value_of(e, "state_max_abs"), value_of(e, "state_max_rel")});
  }
  if (table.rows.empty()) return {};
  return "<p class=\"muted\">The scan unit's bit-accurate kernel against the float32 golden kernel on realistic "
         "operands of the model's scan generation (arch/NUMERICS.md): rel = max |error| / max |reference|.</p>\n" +
         table_html(table, "");
}

// One run's own section: phases, time and energy by op, rooflines, utilization over time.
std::string run_section(const Run& run, std::size_t index, const fs::path& page_folder, Table& phases, Table& ops,
                        Table& energy) {
  std::string body = fmt::format("<p class=\"muted\">{} &middot; {} &middot; from {}</p>\n", escape(run.classification),
                                 escape(run.precision), escape(run.source.string()));
  if (run.summary.contains("phases")) {
    Table t{"",
            {"phase", "runs", "cycles per run", "bound cycles", "bound by", "efficiency (bound / simulated)",
             "cost-model estimate vs simulated"},
            {}};
    for (const json& p : run.summary["phases"]) {
      const double cycles = p.value("cycles_per_run", 0.0), estimate = p.value("estimated_cycles_per_run", kNaN),
                   bound = p.value("bound_cycles_per_run", kNaN);
      const std::vector<std::string> row = {p.value("phase", ""),
                                            num(p.value("runs", 0.0)),
                                            num(cycles),
                                            num(bound),
                                            p.value("bound_by", ""),
                                            num(optional_figure(p, "efficiency")),
                                            cycles > 0 && estimate > 0
                                                ? fmt::format("{:+.1f} %", 100 * (estimate / cycles - 1))
                                                : std::string(run.kernel_timed ? "none (timed by its kernels)" : "")};
      t.rows.push_back(row);
      std::vector<std::string> csv_row = {std::to_string(index + 1)};
      csv_row.insert(csv_row.end(), row.begin(), row.end());
      phases.rows.push_back(std::move(csv_row));
    }
    body += table_html(t, "Phases");
  }
  if (run.stats.is_null()) return body + "<p class=\"muted\">No stats.json beside the summary: no breakdowns.</p>\n";
  const double clock = chip_figure(run, "clock");
  for (const json& entry : run.stats) {
    const std::string phase = entry.value("phase", "phase");
    const json& s = entry["stats"];
    const std::vector<OpGroup> groups = op_groups(s);
    const double tiles = s.contains("tiles") ? double(s["tiles"].size()) : 1.0;
    body += fmt::format("<h3>{} ({} run{})</h3>\n", escape(phase), entry.value("runs", 1),
                        entry.value("runs", 1) == 1 ? "" : "s");
    const std::vector<std::string> engines(std::begin(kEngines), std::end(kEngines));
    if (!groups.empty() && clock > 0)
      body += stacked_bars(
          tiles > 1 ? fmt::format("{}: engine-busy time by op (mean over the {} tiles, one run)", phase, tiles)
                    : fmt::format("{}: busy time by op (one run)", phase),
          top_bars(groups, engines,
                   [&](const OpGroup& g, const std::string& e) {
                     const auto it = g.busy.find(e);
                     return it == g.busy.end() ? 0.0 : it->second / tiles / clock;
                   }),
          engines, {}, "s");
    // Energy by component, each with the profile fields behind it.
    std::map<std::string, std::set<std::string>> fields;
    double leakage = 0;
    Table items{"", {"component", "profile field", "count", "unit", "per action", "joules"}, {}};
    if (s.contains("energy") && s["energy"].contains("items"))
      for (const json& item : s["energy"]["items"]) {
        const double joules = item.value("joules", 0.0);
        if (joules <= 0) continue;
        const std::string component = item.value("component", "");
        fields[component].insert(item.value("field", ""));
        if (component == "leakage") leakage += joules;
        const std::vector<std::string> row = {component,
                                              item.value("field", ""),
                                              num(item.value("count", 0.0)),
                                              item.value("unit", ""),
                                              num(item.value("per_action", 0.0)),
                                              num(joules)};
        items.rows.push_back(row);
        std::vector<std::string> csv_row = {std::to_string(index + 1), phase};
        csv_row.insert(csv_row.end(), row.begin(), row.end());
        energy.rows.push_back(std::move(csv_row));
      }
    std::vector<std::string> components, notes;
    std::vector<std::size_t> colours;
    for (std::size_t k = 0; k < std::size(kComponents); ++k) {
      const char* c = kComponents[k];
      bool any = false;
      for (const OpGroup& g : groups) any |= g.energy.count(c) > 0;
      if (!any) continue;
      components.push_back(c);
      colours.push_back(k);
      std::string note;
      for (const std::string& f : fields[c]) note += (note.empty() ? "" : " + ") + f;
      notes.push_back(note);
    }
    if (!components.empty())
      body += stacked_bars(
          fmt::format("{}: dynamic energy by op (one run; leakage {} is the run's)", phase, readable(leakage, "J")),
          top_bars(groups, components,
                   [](const OpGroup& g, const std::string& c) {
                     const auto it = g.energy.find(c);
                     return it == g.energy.end() ? 0.0 : it->second;
                   }),
          components, notes, "J", colours);
    if (!items.rows.empty()) body += table_html(items, phase + ": energy by source (count x the profile's figure)");
    body += roofline(run, phase, groups);
    body += timeline(run, phase, s);
    if (!run.kernel_timed) body += trace_links(run, phase, page_folder);  // kernels draw no trace
    for (const OpGroup& g : groups) {
      std::vector<std::string> row = {std::to_string(index + 1), phase, g.name, g.kind};
      for (const char* e : kEngines) row.push_back(num(g.busy.count(e) ? g.busy.at(e) : 0.0));
      row.push_back(num(g.dram_bytes));
      row.push_back(num(g.span_cycles));
      row.push_back(num(g.flops));
      row.push_back(num(g.scan_steps));
      row.push_back(num(g.lane_cycles));
      for (const char* c : kComponents) row.push_back(num(g.energy.count(c) ? g.energy.at(c) : 0.0));
      ops.rows.push_back(std::move(row));
    }
  }
  return body;
}

std::string sweep_section(const Sweep& sw, std::size_t index, std::string& style, Table& pareto) {
  const host::SweepSpec& spec = sw.spec;
  const auto& names = host::metric_names();
  std::vector<std::string> objectives, units;
  for (host::Metric m : spec.objectives) {
    objectives.emplace_back(names[std::size_t(m)]);
    units.emplace_back(host::metric_unit(m));
  }
  std::string body = fmt::format(
      "<p>Spec <code>{}</code> (base <code>{}</code>), database <code>{}</code>: {} points screened by the cost model, "
      "{} confirmed by the SystemC model, {} on the simulated Pareto front.</p>\n",
      escape(spec.file.string()), escape(spec.base), escape(sw.db_file.string()), sw.screened, sw.points.size(),
      sw.front.size());
  Table agreement{"", {"objective", "rank correlation (estimate vs SystemC)", "median error of the estimate"}, {}};
  for (std::size_t k = 0; k < objectives.size(); ++k) {
    const auto value = [&](const std::vector<double>& v, std::size_t i) {
      return i < v.size() && std::isfinite(v[i]) ? num(v[i]) : std::string("fewer than two points");
    };
    agreement.rows.push_back(
        {objectives[k], value(sw.agreement.rank_correlation, k), value(sw.agreement.median_error, k)});
  }
  body += table_html(agreement, "Tiers' agreement on the points both ran");
  std::set<host::PointId> on_front;
  for (const host::PointResult& p : sw.front) on_front.insert(p.point);
  // One scatter per pair of objectives; the radio buttons pick one (no script; all print).
  std::string inputs, panes;
  std::size_t pane = 0;
  const std::string group = fmt::format("sweep{}", index);
  for (std::size_t a = 0; a < objectives.size(); ++a)
    for (std::size_t b = a + 1; b < objectives.size(); ++b, ++pane) {
      Series all{"simulated points", 9, {}, false, true}, front{"Pareto front", 3, {}, true, true};
      for (const host::PointResult& p : sw.points) {
        const double x = p.objectives[a], y = p.objectives[b];
        if (!std::isfinite(x) || !std::isfinite(y)) continue;
        const Point pt{x, y,
                       fmt::format("point {} {}: {} {}, {} {}", p.point, p.values, objectives[a], readable(x, units[a]),
                                   objectives[b], readable(y, units[b]))};
        (on_front.count(p.point) ? front : all).points.push_back(pt);
      }
      std::sort(front.points.begin(), front.points.end(), [](const Point& l, const Point& r) { return l.x < r.x; });
      const std::string id = fmt::format("{}-pair{}", group, pane);
      inputs += fmt::format("<input type=\"radio\" name=\"{}\" id=\"{}\"{}><label for=\"{}\">{} vs {}</label>\n", group,
                            id, pane == 0 ? " checked" : "", id, escape(objectives[a]), escape(objectives[b]));
      style += fmt::format("#{}:checked~.pane-{}{{display:block}}", id, pane);
      panes += fmt::format("<div class=\"pane pane-{}\">{}</div>\n", pane,
                           plot(Plot{fmt::format("{}: {} vs {}", spec.name, objectives[b], objectives[a]),
                                     {fmt::format("{} ({})", objectives[a], units[a]), false},
                                     {fmt::format("{} ({})", objectives[b], units[b]), false},
                                     {all, front},
                                     kNaN,
                                     kNaN}));
    }
  // The panes follow every input and label, so that each :checked~ rule reaches its pane.
  if (pane > 0) body += fmt::format("<div class=\"pairs\">\n{}{}</div>\n", inputs, panes);
  pareto.name = "pareto";
  pareto.header = {"sweep", "point", "profile changes"};
  for (std::size_t k = 0; k < objectives.size(); ++k)
    pareto.header.push_back(fmt::format("{} ({})", objectives[k], units[k]));
  Table shown{"", {"point", fmt::format("changes from {} (the axes' values)", spec.base)}, {}};
  for (std::size_t k = 0; k < objectives.size(); ++k)
    shown.header.push_back(fmt::format("{} ({})", objectives[k], units[k]));
  for (const host::PointResult& p : sw.front) {
    std::string changes;
    const json values = json::parse(p.values, nullptr, false);
    if (values.is_object())
      for (const auto& [key, value] : values.items())
        changes +=
            (changes.empty() ? "" : "; ") + key + " = " + (value.is_string() ? value.get<std::string>() : value.dump());
    std::vector<std::string> row = {std::to_string(p.point), changes};
    for (double v : p.objectives) row.push_back(num(v));
    shown.rows.push_back(row);
    row.insert(row.begin(), spec.name);
    pareto.rows.push_back(std::move(row));
  }
  body += table_html(shown, "Pareto points (SystemC results)");
  return body;
}

}  // namespace

Report make_report(const std::vector<fs::path>& results, const ReportOptions& options) {
  if (results.empty()) throw ConfigError("report: no results given (run folders, compare.json or sweep specs)");
  std::vector<Run> runs;
  std::vector<Sweep> sweeps;
  for (const fs::path& path : results) {
    if (fs::is_directory(path)) {
      if (fs::is_regular_file(path / "summary.json"))
        runs.push_back(read_run(path / "summary.json", read_json(path / "summary.json")));
      else if (fs::is_regular_file(path / "compare.json"))
        for (Run& r : read_comparison(path / "compare.json", read_json(path / "compare.json")))
          runs.push_back(std::move(r));
      else
        throw ConfigError(
            fmt::format("{}: holds neither summary.json (ssmsoc run --out) nor compare.json "
                        "(ssmsoc compare --out)",
                        path.string()));
    } else if (!fs::exists(path)) {
      throw ConfigError(fmt::format("{}: no such file or folder", path.string()));
    } else if (path.extension() == ".yaml" || path.extension() == ".yml") {
      sweeps.push_back(read_sweep(path, options));
    } else if (path.extension() == ".json") {
      json result = read_json(path);
      if (result.is_object() && result.contains("rows"))
        for (Run& r : read_comparison(path, result)) runs.push_back(std::move(r));
      else
        runs.push_back(read_run(path, std::move(result)));
    } else {
      throw ConfigError(
          fmt::format("{}: expected a run folder, a summary.json or compare.json, or a sweep spec (.yaml); "
                      "a sweep database is read through its spec (--sweep-db)",
                      path.string()));
    }
  }
  Report report;
  Page page(options.title);
  std::string style;
  std::string intro = "<p class=\"muted\">Made by <code>ssmsoc report</code> from ";
  for (std::size_t i = 0; i < results.size(); ++i)
    intro += (i ? ", " : "") + fmt::format("<code>{}</code>", escape(results[i].string()));
  intro += ". Hover a mark for its figure; every table is also a CSV beside this page.</p>\n";
  Table runs_table, phases{"phases",
                           {"run", "phase", "runs", "cycles per run", "bound cycles", "bound by", "efficiency",
                            "estimate vs simulated"},
                           {}};
  Table ops{"ops", {"run", "phase", "op", "kind"}, {}};
  for (const char* e : kEngines) ops.header.push_back(fmt::format("{} busy cycles", e));
  for (const char* c : {"DRAM bytes", "span cycles", "FLOP", "scan lane steps", "vector lane-cycles"})
    ops.header.push_back(c);
  for (const char* c : kComponents) ops.header.push_back(fmt::format("{} energy (J)", c));
  Table energy{"energy", {"run", "phase", "component", "profile field", "count", "unit", "per action", "joules"}, {}};
  if (!runs.empty()) {
    page.section("headline", "Headline", headline_section(runs, runs_table));
    report.tables.push_back(runs_table);
  }
  if (runs.size() > 1) page.section("comparison", "Side by side", comparison_section(runs));
  Table scaling;
  if (const std::string body = scaling_section(runs, scaling); !body.empty()) {
    page.section("scaling", "Scaling with context", body);
    report.tables.push_back(scaling);
  }
  for (std::size_t i = 0; i < runs.size(); ++i)
    if (!runs[i].summary.is_null())
      page.section(fmt::format("run-{}", i + 1), fmt::format("{}. {}", i + 1, runs[i].label()),
                   run_section(runs[i], i, options.page_folder, phases, ops, energy));
  Table numerics;
  if (const std::string body = numerics_section(runs, numerics); !body.empty()) {
    page.section("numerics", "Scan-unit numerics", body);
    report.tables.push_back(numerics);
  }
  Table pareto;
  for (std::size_t i = 0; i < sweeps.size(); ++i) {
    Table front;
    page.section(fmt::format("sweep-{}", i + 1), fmt::format("Sweep {}", sweeps[i].spec.name),
                 sweep_section(sweeps[i], i, style, front));
    pareto.name = front.name, pareto.header = front.header;
    pareto.rows.insert(pareto.rows.end(), front.rows.begin(), front.rows.end());
  }
  for (Table* t : {&phases, &ops, &energy, &pareto})
    if (!t->rows.empty()) report.tables.push_back(*t);
  report.html = page.html(intro, style);
  return report;
}

std::string csv(const Table& table) {
  const auto field = [](const std::string& f) {
    if (f.find_first_of(",\"\n\r") == std::string::npos) return f;
    std::string quoted = "\"";
    for (char c : f) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
  };
  const auto line = [&](const std::vector<std::string>& fields) {
    std::string l;
    for (std::size_t i = 0; i < fields.size(); ++i) l += (i ? "," : "") + field(fields[i]);
    return l + "\n";
  };
  std::string out = line(table.header);
  for (const auto& row : table.rows) out += line(row);
  return out;
}

std::vector<fs::path> write_report(const Report& report, const fs::path& html) {
  if (html.extension() != ".html") throw ConfigError(fmt::format("--out {}: expected an .html file", html.string()));
  OutputFiles outputs;
  if (html.has_parent_path()) outputs.create_folder(html.parent_path());
  std::vector<fs::path> written = {html};
  outputs.add(html).write(report.html);
  for (const Table& t : report.tables) {
    const fs::path file = html.parent_path() / (html.stem().string() + "-" + t.name + ".csv");
    outputs.add(file).write(csv(t));
    written.push_back(file);
  }
  outputs.commit();
  return written;
}

}  // namespace ssmsoc::reports
