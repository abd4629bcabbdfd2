// Design-space sweeps (`ssmsoc sweep`): a spec names a base profile, axes over its key paths,
// workloads and objectives; its design points are screened by the compiler's cost model and
// the candidates (the cost model's Pareto front and a seeded sample) confirmed by the SystemC
// model; every result is a row of a SQLite database, so a killed sweep resumes with nothing
// lost or repeated, and shards of one spec (--shard k/N) merge row by row.
//
//   SweepSpec spec = load_sweep_spec("workloads/sweeps/krsna-mobile-sram.yaml");
//   SweepDatabase db("sram.db");
//   run_sweep(spec, db, SweepOptions{});
//   db.pareto(spec)  // the simulated Pareto front
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/profile.hpp"
#include "compiler/model.hpp"

struct sqlite3;

namespace ssmsoc::host {

// One axis: profile key paths ("tile.sram.size_bytes"; several when tied, as an SRAM's bytes
// and its area) and the values they take together, each a YAML scalar as a profile file would
// hold it (with its place in the spec, for errors): values[i][k] for keys[k].
struct SweepAxis {
  std::vector<std::string> keys;
  std::vector<SourcePos> key_places;  // of each key in the spec
  std::vector<std::vector<ConfigNode>> values;
};

struct SweepWorkload {
  std::string model;  // a workload name (workloads/models) or path
  compiler::Scenario scenario;
  double weight = 1;  // of its figures in the point's objectives (a weighted mean)
};

// What a point is judged by; each from one performance run of each workload.
enum class Metric {
  time_to_first_token,  // s, lower is better
  decode_latency,       // s per decode step
  decode_tokens_per_s,  // higher is better
  tokens_per_joule,     // decode tokens per joule, higher is better
  energy_per_token,     // J per decoded token
  average_power,        // W over the whole run
  area,                 // mm2 of the chip (the profile's area figures)
  idle_power,           // W the chip draws doing nothing (the profile's leakage)
  scan_error,           // the scan unit's largest output error relative to the float golden kernel on
                        // realistic operands of the workload's scan (arch/NUMERICS.md); NaN without a unit
};
const std::vector<std::string_view>& metric_names();
bool higher_is_better(Metric metric);
std::string_view metric_unit(Metric metric);  // "s", "tokens/J", "mm2", ...

// grid, random and latin_hypercube list their points first; nsga2 finds its own, evolving a
// population on the cost model's figures (pagmo's NSGA-II).
enum class Strategy { grid, random, latin_hypercube, nsga2 };

// A design point's id: its grid index (the last axis fastest), whatever found it.
using PointId = std::int64_t;

// A bound on a metric that a point must keep to be a candidate: `max` (or `min`) of its
// weighted mean over the workloads (NaN: no such bound).
struct SweepConstraint {
  Metric metric = Metric::area;
  double min = std::numeric_limits<double>::quiet_NaN(), max = std::numeric_limits<double>::quiet_NaN();
  bool admits(double value) const { return std::isnan(value) || !(value < min || value > max); }
};

struct SweepSpec {
  std::filesystem::path file;
  std::string name;
  std::string base;  // profile name or path
  std::vector<SweepAxis> axes;
  std::vector<SweepWorkload> workloads;
  std::vector<Metric> objectives;
  std::vector<SweepConstraint> constraints;
  Strategy strategy = Strategy::grid;
  int samples = 0;                      // random and latin_hypercube: points drawn
  int population = 0, generations = 0;  // nsga2
  std::uint64_t seed = 1;
  int confirm_sample = 0;  // points beyond the estimated front the SystemC model also runs
  std::string hash;        // of the spec file's bytes (rows of another spec are not reused)
};
// Strict YAML (sweeps/README in workloads/ lists the keys); errors name file:line:column. A
// constraint on the area or the idle power (the profile's own figures) that no design point
// meets is an error (checked on up to kConstraintCheckPoints of the points).
inline constexpr std::size_t kConstraintCheckPoints = 1000;
SweepSpec load_sweep_spec(const std::filesystem::path& file);

// The design points' ids: the grid's every combination, or `samples` points drawn with
// `seed`: uniformly (random) or one per stratum of every axis (latin_hypercube: each axis's
// values split into `samples` equal strata, each stratum used once, the axes' strata paired
// at random); a combination drawn twice is one point. nsga2: none (the search finds them).
std::vector<PointId> design_points(const SweepSpec& spec);
// A point's index on every axis, and back.
std::vector<int> point_indices(const SweepSpec& spec, PointId id);
PointId point_id(const SweepSpec& spec, const std::vector<int>& indices);

// The profile of a design point: the base with each axis's value at its key path.
Profile point_profile(const SweepSpec& spec, PointId point);

// The points of `costs` (lower is better in every column) no other point dominates, in
// index order.
std::vector<std::size_t> pareto_front(const std::vector<std::vector<double>>& costs);

// One row: a design point on one workload, from one tier.
enum class Tier { estimate, simulation };
struct SweepRow {
  PointId point = 0;
  int workload = 0;
  Tier tier = Tier::estimate;
  std::string values;           // the point's axis values, as JSON {"key": value}
  std::vector<double> metrics;  // by Metric, NaN where not computed
  std::string error;            // the point's error (then no metrics)
  std::string code_version;
};

// The results of sweeps in a SQLite file (WAL): one row per (spec hash, point, workload,
// tier). Rows are written as each point finishes and a row that is there is never computed
// again.
class SweepDatabase {
 public:
  explicit SweepDatabase(const std::filesystem::path& file);
  ~SweepDatabase();
  SweepDatabase(const SweepDatabase&) = delete;
  SweepDatabase& operator=(const SweepDatabase&) = delete;

  bool has(const SweepSpec& spec, PointId point, int workload, Tier tier) const;
  void insert(const SweepSpec& spec, const SweepRow& row);
  std::vector<SweepRow> rows(const SweepSpec& spec, Tier tier) const;
  // Copies every row of `other` this one lacks (shards of a sweep into one file).
  std::size_t merge(const std::filesystem::path& other);
  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  sqlite3* db_ = nullptr;
};

struct SweepOptions {
  int shard = 0, shards = 1;  // run the listed points at positions k with k % shards == shard
  int parallel = 0;           // points at a time, one child process each; 0: one per core
  std::string code_version;
  std::function<void(const std::string&)> progress;
};

struct SweepSummary {
  std::int64_t points = 0;                              // of the spec (all shards; nsga2: those the search evaluated)
  int estimated = 0;                                    // rows computed now by the cost model
  int simulated = 0;                                    // rows computed now by the SystemC model
  int reused = 0;                                       // rows already in the database
  double estimate_seconds = 0, simulation_seconds = 0;  // wall time of each tier's computed rows
  // The two tiers on the points both ran: Spearman's rank correlation of each objective and
  // the median relative error of the estimate (NaN with fewer than two points).
  std::vector<double> rank_correlation, median_error;
};

// The steps run_sweep is made of, for a driver that spreads a sweep over processes (mpirun):
// the rows of `ids` that `db` lacks for `tier`, computed by forked workers (counted into
// `summary`); the points of `ids` that lack a row; the points the SystemC tier confirms
// among the screened `ids` (the estimated front and `confirm_sample` others drawn with the
// seed, in id order); each objective's agreement between the tiers over every point `db`
// has in both.
void evaluate_points(const SweepSpec& spec, SweepDatabase& db, const std::vector<PointId>& ids, Tier tier,
                     const SweepOptions& options, SweepSummary& summary);
std::vector<PointId> missing_points(const SweepSpec& spec, const SweepDatabase& db, const std::vector<PointId>& ids,
                                    Tier tier);
std::vector<PointId> confirmation_points(const SweepSpec& spec, const SweepDatabase& db,
                                         const std::vector<PointId>& ids);
void tier_agreement(const SweepSpec& spec, const SweepDatabase& db, SweepSummary& summary);

// Screens this shard's points with the cost model, then confirms with the SystemC model the
// estimated Pareto front's points and `confirm_sample` others drawn with the seed. Points run
// in child processes, `parallel` at a time, each writing its rows itself (SQLite's WAL
// serialises the writers).
SweepSummary run_sweep(const SweepSpec& spec, SweepDatabase& db, const SweepOptions& options);

// A point's objective values: each metric's weighted mean over the workloads (NaN when a
// workload's row is missing or failed).
struct PointResult {
  PointId point = 0;
  std::string values;
  std::vector<double> objectives;  // in spec.objectives order
  bool feasible = true;            // keeps every constraint whose metric the rows have
};
std::vector<PointResult> point_results(const SweepSpec& spec, const std::vector<SweepRow>& rows);
// The Pareto front of the simulated points (every point complete on every workload and
// feasible).
std::vector<PointResult> simulated_front(const SweepSpec& spec, const SweepDatabase& db);

// Spearman's rank correlation of two equally long series (average ranks for ties).
double rank_correlation(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace ssmsoc::host
