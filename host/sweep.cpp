#include "host/sweep.hpp"

#include <fmt/format.h>
#include <sqlite3.h>
#include <pagmo/algorithms/nsga2.hpp>
#include <pagmo/bfe.hpp>
#include <pagmo/population.hpp>
#include <pagmo/problem.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "arch/golden/fixed_scan.hpp"
#include "compiler/compiler.hpp"
#include "host/performance_run.hpp"

namespace ssmsoc::host {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kMaxGridPoints = 1000000;

// Each metric, in Metric order: its name in specs, its database column (the unit in the
// name), its unit and whether higher is better. Both tiers give every one.
struct MetricInfo {
  std::string_view name;
  const char* column;
  std::string_view unit;
  bool higher_is_better;
};
constexpr MetricInfo kMetricInfo[] = {
    {"time_to_first_token", "time_to_first_token_s", "s", false},
    {"decode_latency", "decode_latency_s", "s", false},
    {"decode_tokens_per_s", "decode_tokens_per_s", "tokens/s", true},
    {"tokens_per_joule", "tokens_per_joule", "tokens/J", true},
    {"energy_per_token", "energy_per_token_j", "J/token", false},
    {"average_power", "average_power_w", "W", false},
    {"area", "area_mm2", "mm2", false},
    {"idle_power", "idle_power_w", "W", false},
    {"scan_error", "scan_error", "relative", false},
};
constexpr std::size_t kMetrics = std::size(kMetricInfo);
static_assert(kMetrics == std::size_t(Metric::scan_error) + 1, "a MetricInfo per Metric");

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// FNV-1a: which spec a row belongs to (not a security boundary).
std::string fnv1a_hex(const std::string& bytes) {
  std::uint64_t h = 1469598103934665603ull;
  for (const char c : bytes) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return fmt::format("{:016x}", h);
}

ConfigNode scalar_node(std::string text, const SourcePos& pos) {
  ConfigNode n;
  n.kind = ConfigNode::Kind::scalar;
  n.scalar = std::move(text);
  n.pos = pos;
  return n;
}

// A key path's value, and where the spec names the key.
struct Setting {
  std::string key;
  SourcePos key_place;
  const ConfigNode* value;
};

// {"a": {"b": {"c": value}}} for key path "a.b.c".
ConfigNode overlay_of(const std::vector<Setting>& settings) {
  ConfigNode root;
  root.kind = ConfigNode::Kind::map;
  for (const auto& [key, key_place, value] : settings) {
    ConfigNode* node = &root;
    std::size_t start = 0;
    for (;;) {
      const std::size_t dot = key.find('.', start);
      const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      auto it =
          std::find_if(node->entries.begin(), node->entries.end(), [&](const ConfigEntry& e) { return e.key == part; });
      if (it == node->entries.end()) {
        ConfigEntry e;
        e.key = part;
        e.key_pos = key_place;
        if (dot != std::string::npos) {
          e.value.kind = ConfigNode::Kind::map;
          e.value.pos = key_place;
        }
        node->entries.push_back(std::move(e));
        it = std::prev(node->entries.end());
      }
      if (dot == std::string::npos) {
        it->value = *value;
        break;
      }
      node = &it->value;
      start = dot + 1;
    }
  }
  return root;
}

// A uniform double in [0, 1) from the generator's bits (the same on every standard library).
double unit(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1.0p-53; }

std::string values_json(const SweepSpec& spec, const std::vector<int>& point) {  // axis indices
  json j = json::object();
  for (std::size_t a = 0; a < spec.axes.size(); ++a)
    for (std::size_t k = 0; k < spec.axes[a].keys.size(); ++k) {
      const std::string& text = spec.axes[a].values[std::size_t(point[a])][k].scalar;
      char* end = nullptr;
      const double number = std::strtod(text.c_str(), &end);
      if (end && *end == '\0' && !text.empty())
        j[spec.axes[a].keys[k]] = number;
      else
        j[spec.axes[a].keys[k]] = text;
    }
  return j.dump();
}

void check_key_path(const MapReader& r, std::string_view field, const std::string& key) {
  if (key.empty() || key.front() == '.' || key.back() == '.' || key.find("..") != std::string::npos)
    r.fail(field, "expected a profile key path such as tile.sram.size_bytes");
}

// An axis: {key, values: [...]} or {key, range: {from, to, count, scale, integer}}, or tied
// keys {keys: [a, b], values: [[a0, b0], [a1, b1], ...]}.
SweepAxis read_axis(const MapReader& r) {
  SweepAxis axis;
  if (r.has("key") == r.has("keys")) r.fail_here("expected key: (one profile key path) or keys: [...] (tied)");
  if (r.has("values") == r.has("range")) r.fail_here("expected either values: [...] or range: {from, to, count}");
  auto scalar = [&](const ConfigNode& item) {
    if (item.kind != ConfigNode::Kind::scalar) r.fail("values", "expected scalar values");
    return item;
  };
  const ConfigNode* values = r.has("values") ? &r.required("values", "a list of values") : nullptr;
  if (values && (values->kind != ConfigNode::Kind::sequence || values->items.empty()))
    r.fail("values", "expected a non-empty list of values");
  if (r.has("keys")) {
    const ConfigNode& keys = r.required("keys", "a list of key paths");
    if (keys.kind != ConfigNode::Kind::sequence || keys.items.size() < 2)
      r.fail("keys", "expected a list of at least two key paths (tied: they take their values together)");
    for (std::size_t k = 0; k < keys.items.size(); ++k) {
      axis.keys.push_back(config_string(keys.items[k], fmt::format("{}.keys[{}]", r.path(), k)));
      axis.key_places.push_back(keys.items[k].pos);
      check_key_path(r, "keys", axis.keys.back());
    }
    if (!values) r.fail("range", "tied keys take values: [[...], ...], one list per point");
    for (const ConfigNode& row : values->items) {
      if (row.kind != ConfigNode::Kind::sequence || row.items.size() != axis.keys.size())
        r.fail("values", fmt::format("expected lists of {} values, one per key", axis.keys.size()));
      std::vector<ConfigNode> tied;
      for (const ConfigNode& item : row.items) tied.push_back(scalar(item));
      axis.values.push_back(std::move(tied));
    }
    return axis;
  }
  axis.keys.push_back(r.string("key"));
  axis.key_places.push_back(r.node().find("key")->pos);
  check_key_path(r, "key", axis.keys.back());
  if (values) {
    for (const ConfigNode& item : values->items) axis.values.push_back({scalar(item)});
    return axis;
  }
  const MapReader range = r.map("range", {"from", "to", "count", "scale", "integer"});
  const double from = range.number("from", -1e300, 1e300), to = range.number("to", -1e300, 1e300);
  const int count = static_cast<int>(range.integer("count", 1, 10000));
  const bool log = range.has("scale") && range.choice("scale", {"linear", "log"}) == 1;
  const bool integer = range.has("integer") && range.boolean("integer");
  if (log && (from <= 0 || to <= 0)) range.fail("scale", "a log range needs from and to above 0");
  for (int i = 0; i < count; ++i) {
    const double t = count == 1 ? 0.0 : double(i) / double(count - 1);
    const double x = log ? from * std::pow(to / from, t) : from + (to - from) * t;
    axis.values.push_back(
        {scalar_node(integer ? fmt::format("{}", std::llround(x)) : fmt::format("{}", x), range.node().pos)});
  }
  return axis;
}

// The settings of value `v` of an axis.
void add_settings(std::vector<Setting>& settings, const SweepAxis& axis, std::size_t v) {
  for (std::size_t k = 0; k < axis.keys.size(); ++k)
    settings.push_back(Setting{axis.keys[k], axis.key_places[k], &axis.values.at(v)[k]});
}

// A run's figure for metric `m`; the profile's own (profile_metrics) are NaN here.
double metric_of(Metric m, const ServingFigures& f) {
  switch (m) {
    case Metric::time_to_first_token:
      return f.time_to_first_token_s;
    case Metric::decode_latency:
      return f.decode_latency_s > 0 ? f.decode_latency_s : kNaN;
    case Metric::decode_tokens_per_s:
      return f.decode_latency_s > 0 ? f.decode_tokens_per_s : kNaN;
    case Metric::tokens_per_joule:
      return f.energy_per_token_j > 0 ? 1.0 / f.energy_per_token_j : kNaN;
    case Metric::energy_per_token:
      return f.energy_per_token_j > 0 ? f.energy_per_token_j : kNaN;
    case Metric::average_power:
      return f.average_power_w;
    case Metric::area:
    case Metric::idle_power:
    case Metric::scan_error:
      break;
  }
  return kNaN;
}

// The metrics a profile gives by itself, into both tiers' rows; the scan unit's error (for a
// workload of SSM generation `generation`) only when `scan_error`, being the slowest.
void profile_metrics(std::vector<double>& m, const Profile& profile, int generation = 0, bool scan_error = false) {
  const ProfileFigures f = derive_figures(profile);
  m[std::size_t(Metric::area)] = f.total_area_mm2;
  m[std::size_t(Metric::idle_power)] = f.idle_power_w;
  const ScanUnit& unit = profile.tile.scan;
  if (!scan_error || !unit.present || generation == 0) return;
  const ScanMode mode = generation == 1 ? ScanMode::mamba1 : ScanMode::mamba2;
  if (!unit.supports(mode)) return;
  m[std::size_t(Metric::scan_error)] =
      generation == 1 ? fixed::selective_scan_error(profile.name, unit, fixed::kErrorTableSeed).out_rel
                      : fixed::ssd_error(profile.name, unit, fixed::kErrorTableSeed).out_rel;
}

bool uses(const SweepSpec& spec, Metric m) {
  return std::find(spec.objectives.begin(), spec.objectives.end(), m) != spec.objectives.end() ||
         std::any_of(spec.constraints.begin(), spec.constraints.end(),
                     [&](const SweepConstraint& c) { return c.metric == m; });
}

bool uses_energy(const SweepSpec& spec) {
  return uses(spec, Metric::tokens_per_joule) || uses(spec, Metric::energy_per_token) ||
         uses(spec, Metric::average_power);
}

// The cost model's figures of a point: each phase's time from its estimate. With `energy`, its
// Programs (layer samples, extrapolated as a run is) are counted, not run: the actions a
// simulation would count (sim::count_actions) at the estimated times give the energy and
// power metrics as the SystemC tier computes them.
std::vector<double> estimate_metrics(const compiler::CompileResult& r, const compiler::Scenario& scenario,
                                     const Profile& profile, bool energy) {
  std::vector<double> m(kMetrics, kNaN);
  if (energy) {
    std::vector<sim::SimResult> phases;
    for (const compiler::PhaseProgram& p : r.phases) {
      sim::SimResult counted =
          p.samples.empty()
              ? sim::count_actions(profile, p.program)
              : sim::extrapolate(sim::count_actions(profile, p.samples.at(0).program),
                                 sim::count_actions(profile, p.samples.at(1).program), p.sample_repeats());
      sim::set_time(profile, counted, static_cast<std::uint64_t>(std::llround(p.estimated_cycles)));
      phases.push_back(std::move(counted));
    }
    const ServingFigures f = serving_figures(r, phases, scenario);
    for (std::size_t k = 0; k < kMetrics; ++k) m[k] = metric_of(Metric(k), f);
    return m;
  }
  const double hz = profile.clock_mhz * 1e6;
  double ttft = 0, decode = 0;
  for (const compiler::PhaseProgram& p : r.phases)
    (p.name == "decode" ? decode : ttft) += p.estimated_cycles * (p.name == "decode" ? 1 : p.runs) / hz;
  m[std::size_t(Metric::time_to_first_token)] = ttft;
  if (decode > 0) {
    m[std::size_t(Metric::decode_latency)] = decode;
    m[std::size_t(Metric::decode_tokens_per_s)] = scenario.batch / decode;
  }
  return m;
}

class Statement {
 public:
  Statement(sqlite3* db, const char* sql, const fs::path& file) : file_(file) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK)
      throw ConfigError(fmt::format("{}: {}", file.string(), sqlite3_errmsg(db)));
  }
  ~Statement() { sqlite3_finalize(s_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  void text(int i, const std::string& v) { sqlite3_bind_text(s_, i, v.c_str(), -1, SQLITE_TRANSIENT); }
  void integer(int i, std::int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void real(int i, double v) { std::isnan(v) ? sqlite3_bind_null(s_, i) : sqlite3_bind_double(s_, i, v); }
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw ConfigError(fmt::format("{}: {}", file_.string(), sqlite3_errmsg(sqlite3_db_handle(s_))));
  }
  std::string column_text(int i) const {
    const unsigned char* t = sqlite3_column_text(s_, i);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  double column_real(int i) const {
    return sqlite3_column_type(s_, i) == SQLITE_NULL ? kNaN : sqlite3_column_double(s_, i);
  }
  std::int64_t column_integer(int i) const { return sqlite3_column_int64(s_, i); }

 private:
  sqlite3_stmt* s_ = nullptr;
  fs::path file_;
};

const char* tier_name(Tier t) { return t == Tier::estimate ? "estimate" : "simulation"; }

void exec(sqlite3* db, const char* sql, const fs::path& file) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string m = message ? message : "error";
    sqlite3_free(message);
    throw ConfigError(fmt::format("{}: {}", file.string(), m));
  }
}

double median(std::vector<double> v) {
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

const std::vector<std::string_view>& metric_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v;
    for (const MetricInfo& m : kMetricInfo) v.push_back(m.name);
    return v;
  }();
  return names;
}

bool higher_is_better(Metric m) { return kMetricInfo[std::size_t(m)].higher_is_better; }
std::string_view metric_unit(Metric m) { return kMetricInfo[std::size_t(m)].unit; }

namespace {

// constraints: [{metric: M, max: X}, {metric: M, min: Y}, ...]; one on a profile figure (area,
// idle power) that no design point meets is refused.
void read_constraints(const MapReader& r, SweepSpec& spec) {
  const ConfigNode& list = r.required("constraints", "a list of constraints");
  if (list.kind != ConfigNode::Kind::sequence)
    r.fail("constraints", "expected a list of {metric, max} or {metric, min}");
  for (std::size_t i = 0; i < list.items.size(); ++i) {
    const MapReader c(list.items[i], fmt::format("constraints[{}]", i), {"metric", "min", "max"});
    SweepConstraint k;
    k.metric = static_cast<Metric>(c.choice("metric", metric_names()));
    if (!c.has("min") && !c.has("max")) c.fail_here("expected min: or max: (or both)");
    if (c.has("min")) k.min = c.number("min", -1e300, 1e300);
    if (c.has("max")) k.max = c.number("max", -1e300, 1e300);
    if (k.min > k.max) c.fail("min", fmt::format("min {} is above max {}: no value meets both", k.min, k.max));
    if (k.metric == Metric::area || k.metric == Metric::idle_power) {
      SweepSpec sampled = spec;  // nsga2 lists no points: a random sample of the space
      if (spec.strategy == Strategy::nsga2)
        sampled.strategy = Strategy::random, sampled.samples = int(kConstraintCheckPoints);
      const std::vector<PointId> points = design_points(sampled);
      const std::size_t step = std::max<std::size_t>(1, points.size() / kConstraintCheckPoints);
      double lowest = std::numeric_limits<double>::infinity(), highest = -lowest;
      bool met = false;
      for (std::size_t p = 0; p < points.size() && !met; p += step) {
        std::vector<double> m(kMetrics, kNaN);
        profile_metrics(m, point_profile(spec, points[p]));
        const double v = m[std::size_t(k.metric)];
        lowest = std::min(lowest, v), highest = std::max(highest, v);
        met = k.admits(v);
      }
      if (!met)
        c.fail_here(fmt::format("no design point meets it: its {} spans {:.4g} to {:.4g}",
                                metric_names()[std::size_t(k.metric)], lowest, highest));
    }
    spec.constraints.push_back(k);
  }
}

}  // namespace

SweepSpec load_sweep_spec(const fs::path& file) {
  const ConfigNode root = parse_yaml_file(file);
  const MapReader r(
      root, "", {"name", "description", "base", "axes", "workloads", "objectives", "constraints", "search", "confirm"});
  SweepSpec spec;
  spec.file = file;
  spec.hash = fnv1a_hex(read_bytes(file));
  spec.name = r.has("name") ? r.string("name") : file.stem().string();
  if (r.has("description")) r.string("description");
  spec.base = r.string("base");
  load_profile(spec.base);  // names the base's own problems first

  const ConfigNode& axes = r.required("axes", "a list of axes");
  if (axes.kind != ConfigNode::Kind::sequence || axes.items.empty()) r.fail("axes", "expected a non-empty list");
  for (std::size_t i = 0; i < axes.items.size(); ++i) {
    const MapReader a(axes.items[i], fmt::format("axes[{}]", i), {"key", "keys", "values", "range"});
    SweepAxis axis = read_axis(a);
    for (const std::string& key : axis.keys)
      for (const SweepAxis& other : spec.axes)
        if (std::find(other.keys.begin(), other.keys.end(), key) != other.keys.end())
          a.fail(a.has("key") ? "key" : "keys", fmt::format("{} is already on an axis", key));
    // Every value, alone on the base: a misspelt key or an out-of-range value is named here.
    spec.axes.push_back(std::move(axis));
    for (std::size_t v = 0; v < spec.axes.back().values.size(); ++v) {
      std::vector<Setting> settings;
      add_settings(settings, spec.axes.back(), v);
      load_profile_with(spec.base, overlay_of(settings), spec.name);
    }
  }

  const ConfigNode& workloads = r.required("workloads", "a list of workloads");
  if (workloads.kind != ConfigNode::Kind::sequence || workloads.items.empty())
    r.fail("workloads", "expected a non-empty list");
  for (std::size_t i = 0; i < workloads.items.size(); ++i) {
    const MapReader w(workloads.items[i], fmt::format("workloads[{}]", i),
                      {"model", "scenario", "prompt", "generate", "batch", "weight"});
    SweepWorkload wl;
    wl.model = w.string("model");
    try {
      compiler::load_workload(wl.model, "the workload");
    } catch (const ConfigError& e) {
      throw ConfigError(w.node().find("model")->pos, w.child_path("model"), e.what());
    }
    // A scenario (workloads/scenarios, by name or path) or prompt: and generate:; either's
    // numbers overridden by the keys given.
    if (w.has("scenario")) {
      const std::string name = w.string("scenario");
      const fs::path shipped =
          profile_directory().parent_path().parent_path() / "workloads" / "scenarios" / (name + ".yaml");
      const fs::path path = fs::exists(name) ? fs::path(name) : shipped;
      if (!fs::is_regular_file(path))
        w.fail("scenario", fmt::format("no scenario file or name '{}' (see workloads/scenarios)", name));
      wl.scenario = compiler::load_scenario(path);
    } else {
      wl.scenario.prompt_tokens = static_cast<int>(w.integer("prompt", 1, 1 << 20));
      wl.scenario.generate_tokens = 0;
    }
    if (w.has("prompt")) wl.scenario.prompt_tokens = static_cast<int>(w.integer("prompt", 1, 1 << 20));
    if (w.has("generate")) wl.scenario.generate_tokens = static_cast<int>(w.integer("generate", 0, 1 << 20));
    if (w.has("batch")) wl.scenario.batch = static_cast<int>(w.integer("batch", 1, 4096));
    wl.scenario.name = fmt::format("{}[{}]", spec.name, i);
    wl.weight = w.has("weight") ? w.number("weight", 0, 1e9) : 1.0;
    spec.workloads.push_back(std::move(wl));
  }

  const ConfigNode& objectives = r.required("objectives", "a list of metrics");
  if (objectives.kind != ConfigNode::Kind::sequence || objectives.items.empty())
    r.fail("objectives", "expected a non-empty list of metrics");
  for (std::size_t i = 0; i < objectives.items.size(); ++i) {
    const Metric m =
        static_cast<Metric>(config_choice(objectives.items[i], fmt::format("objectives[{}]", i), metric_names()));
    if (std::find(spec.objectives.begin(), spec.objectives.end(), m) != spec.objectives.end())
      throw ConfigError(objectives.items[i].pos, fmt::format("objectives[{}]", i), "named twice");
    spec.objectives.push_back(m);
  }

  if (r.has("search")) {
    const MapReader s = r.map("search", {"strategy", "samples", "seed", "population", "generations"});
    spec.strategy = static_cast<Strategy>(s.choice("strategy", {"grid", "random", "latin_hypercube", "nsga2"}));
    const bool sampled = spec.strategy == Strategy::random || spec.strategy == Strategy::latin_hypercube;
    if (sampled)
      spec.samples = static_cast<int>(s.integer("samples", 1, 1000000));
    else if (s.has("samples"))
      s.fail("samples",
             "samples are for random and latin_hypercube (a grid takes every combination; nsga2 a "
             "population over generations)");
    if (spec.strategy == Strategy::nsga2) {
      spec.population = static_cast<int>(s.integer("population", 8, 100000));
      if (spec.population % 4 != 0) s.fail("population", "NSGA-II takes a population that is a multiple of 4");
      spec.generations = static_cast<int>(s.integer("generations", 1, 100000));
      if (spec.objectives.size() < 2) r.fail("objectives", "nsga2 searches on two objectives or more");
    } else {
      for (const char* key : {"population", "generations"})
        if (s.has(key)) s.fail(key, "population and generations are for nsga2");
    }
    if (s.has("seed")) spec.seed = static_cast<std::uint64_t>(s.integer("seed", 0, std::int64_t{1} << 62));
  }
  double combinations = 1;
  for (const SweepAxis& a : spec.axes) combinations *= double(a.values.size());
  if (spec.strategy == Strategy::grid && combinations > double(kMaxGridPoints))
    r.fail("axes", fmt::format("the grid has {:.0f} points, more than {}; search with random, latin_hypercube or "
                               "nsga2 instead",
                               combinations, kMaxGridPoints));
  if (combinations > 0x1p62)
    r.fail("axes", fmt::format("{:.3g} combinations: more than a point id holds", combinations));
  if (r.has("confirm")) {
    const MapReader c = r.map("confirm", {"sample"});
    spec.confirm_sample = static_cast<int>(c.integer("sample", 0, 1000000));
  }
  if (r.has("constraints")) read_constraints(r, spec);
  return spec;
}

PointId point_id(const SweepSpec& spec, const std::vector<int>& indices) {
  PointId id = 0;
  for (std::size_t a = 0; a < spec.axes.size(); ++a) id = id * PointId(spec.axes[a].values.size()) + indices.at(a);
  return id;
}

std::vector<int> point_indices(const SweepSpec& spec, PointId id) {
  std::vector<int> indices(spec.axes.size());
  for (std::size_t a = spec.axes.size(); a-- > 0;) {
    const auto n = PointId(spec.axes[a].values.size());
    indices[a] = static_cast<int>(id % n);
    id /= n;
  }
  return indices;
}

std::vector<PointId> design_points(const SweepSpec& spec) {
  std::vector<PointId> ids;
  if (spec.strategy == Strategy::nsga2) return ids;
  if (spec.strategy == Strategy::grid) {
    PointId n = 1;
    for (const SweepAxis& a : spec.axes) n *= PointId(a.values.size());
    for (PointId i = 0; i < n; ++i) ids.push_back(i);
    return ids;
  }
  const std::size_t axes = spec.axes.size();
  std::mt19937_64 rng(spec.seed);
  const int n = spec.samples;
  std::vector<std::vector<int>> points(std::size_t(n), std::vector<int>(axes, 0));
  for (std::size_t a = 0; a < axes; ++a) {
    const int values = static_cast<int>(spec.axes[a].values.size());
    std::vector<int> strata(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) strata[std::size_t(i)] = i;
    for (int i = n - 1; i > 0; --i) std::swap(strata[std::size_t(i)], strata[rng() % std::uint64_t(i + 1)]);
    for (int i = 0; i < n; ++i) {
      const double u = spec.strategy == Strategy::random ? unit(rng) : (strata[std::size_t(i)] + unit(rng)) / n;
      points[std::size_t(i)][a] = std::min(values - 1, static_cast<int>(u * values));
    }
  }
  std::set<PointId> seen;
  for (const auto& p : points)
    if (seen.insert(point_id(spec, p)).second) ids.push_back(point_id(spec, p));
  return ids;
}

Profile point_profile(const SweepSpec& spec, PointId id) {
  const std::vector<int> point = point_indices(spec, id);
  std::vector<Setting> settings;
  for (std::size_t a = 0; a < spec.axes.size(); ++a) add_settings(settings, spec.axes[a], std::size_t(point.at(a)));
  return load_profile_with(spec.base, overlay_of(settings), spec.name);
}

std::vector<std::size_t> pareto_front(const std::vector<std::vector<double>>& costs) {
  std::vector<std::size_t> front;
  for (std::size_t i = 0; i < costs.size(); ++i) {
    bool dominated = false;
    for (std::size_t j = 0; j < costs.size() && !dominated; ++j) {
      if (j == i) continue;
      bool no_worse = true, better = false;
      for (std::size_t k = 0; k < costs[i].size(); ++k) {
        no_worse = no_worse && costs[j][k] <= costs[i][k];
        better = better || costs[j][k] < costs[i][k];
      }
      dominated = no_worse && better;
    }
    if (!dominated) front.push_back(i);
  }
  return front;
}

double rank_correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const std::size_t n = a.size();
  if (n < 2 || b.size() != n) return kNaN;
  auto ranks = [n](const std::vector<double>& v) {
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return v[x] < v[y]; });
    std::vector<double> r(n);
    for (std::size_t i = 0; i < n;) {
      std::size_t j = i;
      while (j + 1 < n && v[order[j + 1]] == v[order[i]]) ++j;
      for (std::size_t k = i; k <= j; ++k) r[order[k]] = 0.5 * double(i + j);
      i = j + 1;
    }
    return r;
  };
  const std::vector<double> ra = ranks(a), rb = ranks(b);
  double ma = 0, mb = 0;
  for (std::size_t i = 0; i < n; ++i) ma += ra[i], mb += rb[i];
  ma /= double(n), mb /= double(n);
  double cov = 0, va = 0, vb = 0;
  for (std::size_t i = 0; i < n; ++i) {
    cov += (ra[i] - ma) * (rb[i] - mb);
    va += (ra[i] - ma) * (ra[i] - ma);
    vb += (rb[i] - mb) * (rb[i] - mb);
  }
  return va > 0 && vb > 0 ? cov / std::sqrt(va * vb) : kNaN;
}

SweepDatabase::SweepDatabase(const fs::path& file) : file_(file) {
  if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    const std::string m = db_ ? sqlite3_errmsg(db_) : "cannot open";
    sqlite3_close(db_);
    throw ConfigError(fmt::format("{}: {}", file.string(), m));
  }
  sqlite3_busy_timeout(db_, 10000);
  // Two processes making the same new file (a sweep and its --status) can find it locked in a
  // way the busy handler does not wait for (switching to WAL): retried for up to 10 s.
  const auto setup = [&](const std::string& sql) {
    for (int attempt = 0;; ++attempt) {
      const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
      if (rc == SQLITE_OK) return;
      if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || attempt == 200) {
        exec(db_, sql.c_str(), file_);  // throws, naming the file
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  };
  setup("PRAGMA journal_mode=WAL");
  std::string columns;
  for (const MetricInfo& m : kMetricInfo) columns += fmt::format(", {} REAL", m.column);
  setup(
      fmt::format("CREATE TABLE IF NOT EXISTS results (spec_hash TEXT NOT NULL, spec_name TEXT NOT NULL, point "
                  "INTEGER NOT NULL, workload INTEGER NOT NULL, tier TEXT NOT NULL, point_values TEXT NOT NULL{}, "
                  "error TEXT NOT NULL, code_version TEXT NOT NULL, PRIMARY KEY (spec_hash, point, workload, tier))",
                  columns));
}

SweepDatabase::~SweepDatabase() { sqlite3_close(db_); }

bool SweepDatabase::has(const SweepSpec& spec, PointId point, int workload, Tier tier) const {
  Statement s(db_, "SELECT 1 FROM results WHERE spec_hash = ? AND point = ? AND workload = ? AND tier = ?", file_);
  s.text(1, spec.hash), s.integer(2, point), s.integer(3, workload), s.text(4, tier_name(tier));
  return s.step();
}

void SweepDatabase::insert(const SweepSpec& spec, const SweepRow& row) {
  std::string names, marks;
  for (const MetricInfo& m : kMetricInfo) names += fmt::format(", {}", m.column), marks += ", ?";
  Statement s(db_,
              fmt::format("INSERT OR IGNORE INTO results (spec_hash, spec_name, point, workload, tier, point_values{}, "
                          "error, code_version) VALUES (?, ?, ?, ?, ?, ?{}, ?, ?)",
                          names, marks)
                  .c_str(),
              file_);
  int i = 1;
  s.text(i++, spec.hash), s.text(i++, spec.name), s.integer(i++, row.point), s.integer(i++, row.workload);
  s.text(i++, tier_name(row.tier)), s.text(i++, row.values);
  for (std::size_t m = 0; m < kMetrics; ++m) s.real(i++, m < row.metrics.size() ? row.metrics[m] : kNaN);
  s.text(i++, row.error), s.text(i++, row.code_version);
  s.step();
}

std::vector<SweepRow> SweepDatabase::rows(const SweepSpec& spec, Tier tier) const {
  std::string names;
  for (const MetricInfo& m : kMetricInfo) names += fmt::format(", {}", m.column);
  Statement s(
      db_,
      fmt::format("SELECT point, workload, point_values{}, error, code_version FROM results WHERE spec_hash = ? "
                  "AND tier = ? ORDER BY point, workload",
                  names)
          .c_str(),
      file_);
  s.text(1, spec.hash), s.text(2, tier_name(tier));
  std::vector<SweepRow> out;
  while (s.step()) {
    SweepRow r;
    r.point = s.column_integer(0);
    r.workload = static_cast<int>(s.column_integer(1));
    r.tier = tier;
    r.values = s.column_text(2);
    for (std::size_t m = 0; m < kMetrics; ++m) r.metrics.push_back(s.column_real(3 + int(m)));
    r.error = s.column_text(3 + int(kMetrics));
    r.code_version = s.column_text(4 + int(kMetrics));
    out.push_back(std::move(r));
  }
  return out;
}

std::size_t SweepDatabase::merge(const fs::path& other) {
  if (!fs::is_regular_file(other)) throw ConfigError(fmt::format("{}: no such sweep database", other.string()));
  Statement attach(db_, "ATTACH DATABASE ? AS other", file_);
  attach.text(1, other.string());
  attach.step();
  const int before = sqlite3_total_changes(db_);
  try {
    exec(db_, "INSERT OR IGNORE INTO results SELECT * FROM other.results", other);
  } catch (...) {
    exec(db_, "DETACH DATABASE other", file_);
    throw;
  }
  const int added = sqlite3_total_changes(db_) - before;
  exec(db_, "DETACH DATABASE other", file_);
  return static_cast<std::size_t>(added);
}

std::vector<PointResult> point_results(const SweepSpec& spec, const std::vector<SweepRow>& rows) {
  std::vector<PointResult> out;
  double total_weight = 0;
  for (const SweepWorkload& w : spec.workloads) total_weight += w.weight;
  for (std::size_t i = 0; i < rows.size();) {
    std::size_t j = i;
    PointResult p;
    p.point = rows[i].point;
    p.values = rows[i].values;
    p.objectives.assign(spec.objectives.size(), 0.0);
    std::set<int> seen;
    bool failed = false;
    for (; j < rows.size() && rows[j].point == p.point; ++j) {
      const SweepRow& r = rows[j];
      if (!r.error.empty()) failed = true;
      seen.insert(r.workload);
      const double w = spec.workloads.at(std::size_t(r.workload)).weight / (total_weight > 0 ? total_weight : 1.0);
      for (std::size_t k = 0; k < spec.objectives.size(); ++k)
        p.objectives[k] += w * r.metrics.at(std::size_t(spec.objectives[k]));
    }
    if (failed || seen.size() != spec.workloads.size()) std::fill(p.objectives.begin(), p.objectives.end(), kNaN);
    // The constraints on the weighted means of their metrics, where the rows have them.
    for (const SweepConstraint& c : spec.constraints) {
      double mean = 0;
      for (std::size_t k = i; k < j; ++k)
        mean += spec.workloads.at(std::size_t(rows[k].workload)).weight / (total_weight > 0 ? total_weight : 1.0) *
                rows[k].metrics.at(std::size_t(c.metric));
      p.feasible = p.feasible && (failed || seen.size() != spec.workloads.size() || c.admits(mean));
    }
    out.push_back(std::move(p));
    i = j;
  }
  return out;
}

namespace {

// The front of the points whose objectives are all known, over the objectives the tier has
// for every such point (columns all NaN are left out).
std::vector<std::size_t> front_of(const SweepSpec& spec, const std::vector<PointResult>& points) {
  std::vector<std::size_t> usable;
  std::vector<bool> column(spec.objectives.size(), false);
  for (const PointResult& p : points)
    for (std::size_t k = 0; k < p.objectives.size(); ++k) column[k] = column[k] || !std::isnan(p.objectives[k]);
  std::vector<std::vector<double>> costs;
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (!points[i].feasible) continue;
    std::vector<double> c;
    bool complete = true;
    for (std::size_t k = 0; k < spec.objectives.size(); ++k) {
      if (!column[k]) continue;
      const double v = points[i].objectives[k];
      complete = complete && !std::isnan(v);
      c.push_back(higher_is_better(spec.objectives[k]) ? -v : v);
    }
    if (!complete) continue;
    usable.push_back(i);
    costs.push_back(std::move(c));
  }
  std::vector<std::size_t> front;
  for (std::size_t f : pareto_front(costs)) front.push_back(usable[f]);
  return front;
}

}  // namespace

std::vector<PointResult> simulated_front(const SweepSpec& spec, const SweepDatabase& db) {
  const std::vector<PointResult> points = point_results(spec, db.rows(spec, Tier::simulation));
  std::vector<PointResult> out;
  for (std::size_t i : front_of(spec, points)) out.push_back(points[i]);
  return out;
}

void evaluate_points(const SweepSpec& spec, SweepDatabase& db, const std::vector<PointId>& ids, Tier tier,
                     const SweepOptions& options, SweepSummary& summary) {
  std::vector<compiler::ModelSpec> models;
  std::vector<int> generation;  // of each workload's SSM layers (0: none)
  for (const SweepWorkload& w : spec.workloads) {
    models.push_back(compiler::load_workload(w.model));
    generation.push_back(compiler::recognize_architecture(compiler::build_graph(models.back())).ssm_generation);
  }
  const bool scan_error = uses(spec, Metric::scan_error), energy = uses_energy(spec);
  // One point's rows on every workload, into `into` (a child's own connection).
  auto evaluate = [&](SweepDatabase& into, PointId id) {
    const std::vector<int> point = point_indices(spec, id);
    for (int w = 0; w < int(spec.workloads.size()); ++w) {
      if (into.has(spec, id, w, tier)) continue;
      SweepRow row;
      row.point = id, row.workload = w, row.tier = tier;
      row.values = values_json(spec, point);
      row.code_version = options.code_version;
      row.metrics.assign(kMetrics, kNaN);
      const compiler::Scenario& scenario = spec.workloads[std::size_t(w)].scenario;
      try {
        const Profile profile = point_profile(spec, id);
        // An incumbent timed by its kernels has no tile model to estimate: its kernel model,
        // in process and fast, is both tiers.
        if (tier == Tier::estimate && !profile.kernels) {
          compiler::CompileOptions o;
          o.programs = energy;
          o.sample_layers = energy;
          o.validate = false;  // counted, not run: the SystemC tier validates what it runs
          row.metrics = estimate_metrics(compiler::compile(models[std::size_t(w)], scenario, profile, o), scenario,
                                         profile, energy);
        } else {
          PerformanceOptions o;
          o.parallel = 1;
          const PerformanceRun run = run_performance(models[std::size_t(w)], scenario, profile, o);
          for (std::size_t m = 0; m < kMetrics; ++m) row.metrics[m] = metric_of(Metric(m), run.figures);
        }
        profile_metrics(row.metrics, profile, generation[std::size_t(w)], scan_error);
      } catch (const std::exception& e) {
        row.error = e.what();
      }
      into.insert(spec, row);
    }
  };
  std::vector<PointId> todo;
  for (const PointId id : ids) {
    int missing = 0;
    for (int w = 0; w < int(spec.workloads.size()); ++w) missing += db.has(spec, id, w, tier) ? 0 : 1;
    summary.reused += int(spec.workloads.size()) - missing;
    (tier == Tier::estimate ? summary.estimated : summary.simulated) += missing;
    if (missing > 0 && std::find(todo.begin(), todo.end(), id) == todo.end()) todo.push_back(id);
  }
  // `parallel` child processes at a time, each writing its own rows.
  const int parallel =
      options.parallel > 0 ? options.parallel : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::size_t next = 0, done = 0;
  int running = 0;
  const char* what = tier == Tier::estimate ? "estimated" : "simulated";
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  while (done < todo.size()) {
    while (running < parallel && next < todo.size()) {
      const PointId id = todo[next++];
      std::fflush(nullptr);
      const pid_t pid = fork();
      if (pid < 0) throw std::runtime_error("sweep: fork failed");
      if (pid == 0) {
        int status = 0;
        try {
          SweepDatabase own(db.file());  // never the parent's connection across fork
          evaluate(own, id);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "sweep: point %lld: %s\n", static_cast<long long>(id), e.what());
          status = 1;
        }
        _exit(status);
      }
      ++running;
    }
    int status = 0;
    if (wait(&status) < 0) throw std::runtime_error("sweep: wait failed");
    --running;
    ++done;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      throw std::runtime_error(fmt::format("sweep: a worker stopped ({}); its rows are not written, the others stand",
                                           WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                                             : "signal " + std::to_string(WTERMSIG(status))));
    const double rate = double(done) / std::max(1e-9, elapsed());
    const auto eta = static_cast<long>(double(todo.size() - done) / rate);
    if (options.progress)
      options.progress(fmt::format("{} {} of {} points, {:.1f} points/s, ETA {}:{:02}:{:02}", what, done, todo.size(),
                                   rate, eta / 3600, eta / 60 % 60, eta % 60));
  }
  (tier == Tier::estimate ? summary.estimate_seconds : summary.simulation_seconds) += elapsed();
}

std::vector<PointId> missing_points(const SweepSpec& spec, const SweepDatabase& db, const std::vector<PointId>& ids,
                                    Tier tier) {
  std::vector<PointId> out;
  for (const PointId id : ids)
    for (int w = 0; w < int(spec.workloads.size()); ++w)
      if (!db.has(spec, id, w, tier)) {
        out.push_back(id);
        break;
      }
  return out;
}

std::vector<PointId> confirmation_points(const SweepSpec& spec, const SweepDatabase& db,
                                         const std::vector<PointId>& ids) {
  const std::set<PointId> own(ids.begin(), ids.end());
  std::vector<PointResult> estimated;
  for (PointResult& p : point_results(spec, db.rows(spec, Tier::estimate)))
    if (own.count(p.point)) estimated.push_back(std::move(p));
  std::vector<PointId> confirm;
  for (std::size_t i : front_of(spec, estimated)) confirm.push_back(estimated[i].point);
  std::vector<PointId> rest;
  for (const PointId id : ids)
    if (std::find(confirm.begin(), confirm.end(), id) == confirm.end()) rest.push_back(id);
  std::mt19937_64 rng(spec.seed ^ 0x5eed);
  for (std::size_t i = rest.size(); i > 1; --i) std::swap(rest[i - 1], rest[rng() % i]);
  rest.resize(std::min(rest.size(), std::size_t(spec.confirm_sample)));
  confirm.insert(confirm.end(), rest.begin(), rest.end());
  std::sort(confirm.begin(), confirm.end());
  return confirm;
}

void tier_agreement(const SweepSpec& spec, const SweepDatabase& db, SweepSummary& summary) {
  std::map<PointId, PointResult> estimated;
  for (PointResult& p : point_results(spec, db.rows(spec, Tier::estimate))) estimated[p.point] = std::move(p);
  const std::vector<PointResult> simulated = point_results(spec, db.rows(spec, Tier::simulation));
  summary.rank_correlation.clear(), summary.median_error.clear();
  for (std::size_t k = 0; k < spec.objectives.size(); ++k) {
    std::vector<double> a, b, errors;
    for (const PointResult& s : simulated) {
      const auto e = estimated.find(s.point);
      if (e == estimated.end() || std::isnan(e->second.objectives[k]) || std::isnan(s.objectives[k])) continue;
      a.push_back(e->second.objectives[k]), b.push_back(s.objectives[k]);
      if (s.objectives[k] != 0) errors.push_back(std::abs(e->second.objectives[k] / s.objectives[k] - 1));
    }
    summary.rank_correlation.push_back(rank_correlation(a, b));
    summary.median_error.push_back(median(errors));
  }
}

namespace {

// NSGA-II's view of a sweep (pagmo user-defined problem and batch evaluator): the decision
// vector is the point's index on every axis (all integer), the fitness its objectives from
// the screening tier, lower is better; a point that fails or breaks a constraint gets
// kInfeasible in every objective. Both only hold a pointer to the sweep's batch function.
constexpr double kInfeasible = 1e30;
using BatchFitness = std::function<pagmo::vector_double(const pagmo::vector_double&)>;

struct SweepProblem {
  const BatchFitness* batch = nullptr;
  pagmo::vector_double lower, upper;
  pagmo::vector_double::size_type objectives = 2;
  pagmo::vector_double fitness(const pagmo::vector_double& x) const { return (*batch)(x); }
  std::pair<pagmo::vector_double, pagmo::vector_double> get_bounds() const { return {lower, upper}; }
  pagmo::vector_double::size_type get_nobj() const { return objectives; }
  pagmo::vector_double::size_type get_nix() const { return lower.size(); }
  pagmo::thread_safety get_thread_safety() const { return pagmo::thread_safety::none; }
};

struct SweepBatch {
  const BatchFitness* batch = nullptr;
  pagmo::vector_double operator()(const pagmo::problem&, const pagmo::vector_double& dvs) const {
    return (*batch)(dvs);
  }
  pagmo::thread_safety get_thread_safety() const { return pagmo::thread_safety::none; }
};

// The points an NSGA-II search evaluates (screened), from the start population through its
// generations; every point it found, in id order.
std::vector<PointId> evolve(const SweepSpec& spec, SweepDatabase& db, const SweepOptions& options,
                            SweepSummary& summary) {
  // Each batch (the start population, then each generation's children) is screened by the
  // workers; a resumed search finds its points in the database.
  const BatchFitness batch = [&](const pagmo::vector_double& dvs) {
    const std::size_t dims = spec.axes.size(), n = dvs.size() / dims;
    std::vector<PointId> ids;
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<int> indices(dims);
      for (std::size_t a = 0; a < dims; ++a) indices[a] = static_cast<int>(std::lround(dvs[i * dims + a]));
      ids.push_back(point_id(spec, indices));
    }
    evaluate_points(spec, db, ids, Tier::estimate, options, summary);
    std::map<PointId, PointResult> results;
    for (PointResult& p : point_results(spec, db.rows(spec, Tier::estimate))) results[p.point] = std::move(p);
    pagmo::vector_double f;
    for (const PointId id : ids) {
      const PointResult& p = results.at(id);
      for (std::size_t k = 0; k < spec.objectives.size(); ++k) {
        const double v = p.objectives[k];
        f.push_back(!p.feasible || std::isnan(v) ? kInfeasible : higher_is_better(spec.objectives[k]) ? -v : v);
      }
    }
    return f;
  };
  SweepProblem problem;
  problem.batch = &batch;
  problem.objectives = spec.objectives.size();
  for (const SweepAxis& a : spec.axes) problem.lower.push_back(0), problem.upper.push_back(double(a.values.size() - 1));
  const pagmo::bfe evaluator{SweepBatch{&batch}};
  pagmo::population population(pagmo::problem{problem}, evaluator, std::size_t(spec.population),
                               static_cast<unsigned>(spec.seed));
  pagmo::nsga2 nsga2(static_cast<unsigned>(spec.generations), 0.95, 10., 0.01, 50., static_cast<unsigned>(spec.seed));
  nsga2.set_bfe(evaluator);
  population = nsga2.evolve(population);
  std::set<PointId> found;
  for (const SweepRow& r : db.rows(spec, Tier::estimate)) found.insert(r.point);
  return {found.begin(), found.end()};
}

}  // namespace

SweepSummary run_sweep(const SweepSpec& spec, SweepDatabase& db, const SweepOptions& options) {
  if (options.shards < 1 || options.shard < 0 || options.shard >= options.shards)
    throw ConfigError(fmt::format("--shard {}/{}: expected k/N with 0 <= k < N", options.shard, options.shards));
  SweepSummary summary;
  std::vector<PointId> mine;
  if (spec.strategy == Strategy::nsga2) {
    if (options.shards > 1)
      throw ConfigError(
          fmt::format("{}: --shard splits a listed set of points; nsga2 evolves one population", spec.file.string()));
    mine = evolve(spec, db, options, summary);
    summary.points = static_cast<std::int64_t>(mine.size());
  } else {
    const std::vector<PointId> listed = design_points(spec);
    summary.points = static_cast<std::int64_t>(listed.size());
    for (std::size_t k = 0; k < listed.size(); ++k)
      if (int(k % std::size_t(options.shards)) == options.shard) mine.push_back(listed[k]);
    evaluate_points(spec, db, mine, Tier::estimate, options, summary);
  }
  evaluate_points(spec, db, confirmation_points(spec, db, mine), Tier::simulation, options, summary);
  tier_agreement(spec, db, summary);
  return summary;
}

}  // namespace ssmsoc::host
