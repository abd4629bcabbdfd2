// `ssmsoc sweep`: a design-space sweep (host/sweep.hpp): the cost model screens every point,
// the SystemC model confirms the candidates, every result a row of a SQLite database.
#include <fmt/format.h>
#include <unistd.h>

#include <mpi.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/output_file.hpp"
#include "cli/commands.hpp"
#include "host/performance_run.hpp"
#include "host/sweep.hpp"

namespace ssmsoc::cli {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string number(double v) { return std::isnan(v) ? "-" : fmt::format("{:.4g}", v); }

json value_or_null(double v) { return std::isnan(v) ? json(nullptr) : json(v); }

// Every row of both tiers, as CSV or JSON (by the file's extension).
std::string export_rows(const host::SweepSpec& spec, const host::SweepDatabase& db, const fs::path& file) {
  const auto& names = host::metric_names();
  const bool csv = file.extension() == ".csv";
  std::string text;
  json rows = json::array();
  if (csv) {
    text = "tier,point,workload,values";
    for (const auto& n : names) text += fmt::format(",{}", n);
    text += ",error\n";
  }
  for (const host::Tier tier : {host::Tier::estimate, host::Tier::simulation})
    for (const host::SweepRow& r : db.rows(spec, tier)) {
      const char* t = tier == host::Tier::estimate ? "estimate" : "simulation";
      if (csv) {
        text += fmt::format("{},{},{},{}", t, r.point, r.workload, host::csv_quoted(r.values));
        for (const double m : r.metrics) text += "," + (std::isnan(m) ? std::string() : fmt::format("{}", m));
        text += "," + host::csv_quoted(r.error) + "\n";
      } else {
        json j{{"tier", t}, {"point", r.point}, {"workload", r.workload}, {"values", json::parse(r.values)}};
        for (std::size_t m = 0; m < names.size(); ++m) j[std::string(names[m])] = value_or_null(r.metrics[m]);
        j["error"] = r.error;
        j["code_version"] = r.code_version;
        rows.push_back(std::move(j));
      }
    }
  return csv ? text : json{{"spec", spec.name}, {"spec_hash", spec.hash}, {"rows", rows}}.dump(2) + "\n";
}

json front_json(const host::SweepSpec& spec, const std::vector<host::PointResult>& front,
                const host::SweepSummary& agreement) {
  json tiers = json::object();
  for (std::size_t k = 0; k < spec.objectives.size(); ++k)
    tiers[std::string(host::metric_names()[std::size_t(spec.objectives[k])])] = {
        {"rank_correlation", value_or_null(agreement.rank_correlation[k])},
        {"median_relative_error", value_or_null(agreement.median_error[k])}};
  json points = json::array();
  for (const host::PointResult& p : front) {
    json o = json::object();
    for (std::size_t k = 0; k < spec.objectives.size(); ++k)
      o[std::string(host::metric_names()[std::size_t(spec.objectives[k])])] = value_or_null(p.objectives[k]);
    points.push_back({{"point", p.point}, {"values", json::parse(p.values)}, {"objectives", o}});
  }
  return {{"spec", spec.name},
          {"spec_hash", spec.hash},
          {"tier", "simulation"},
          {"front", points},
          {"cost_model_vs_systemc", tiers}};
}

std::string front_table(const host::SweepSpec& spec, const std::vector<host::PointResult>& front) {
  std::string out = fmt::format("{:>6}", "point");
  for (const host::Metric m : spec.objectives) out += fmt::format("  {:>20}", host::metric_names()[std::size_t(m)]);
  out += "  values\n";
  for (const host::PointResult& p : front) {
    out += fmt::format("{:>6}", p.point);
    for (const double v : p.objectives) out += fmt::format("  {:>20}", number(v));
    out += "  " + p.values + "\n";
  }
  return out;
}

// Under mpirun (OpenMPI's or a PMI launcher's variables): the ranks share the sweep. Rank 0
// reads the database and hands out the points still missing, each rank computes its share
// into a part file beside it (`DB.rankR`, kept if the run is killed, merged on the next),
// and rank 0 merges the parts: the screening first, then the candidates chosen on every
// screened point, as one process would, so the database ends the same.
bool under_mpi() { return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE"); }

host::SweepSummary share_sweep(const host::SweepSpec& spec, host::SweepDatabase* db, const fs::path& db_file,
                               const host::SweepOptions& options, int rank, int size);

// The points of `ids` at positions k with k % size == rank, after rank 0's list is broadcast.
std::vector<host::PointId> share_of(std::vector<host::PointId> ids, int rank, int size) {
  long long n = static_cast<long long>(ids.size());
  MPI_Bcast(&n, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
  ids.resize(std::size_t(n));
  MPI_Bcast(ids.data(), int(n), MPI_INT64_T, 0, MPI_COMM_WORLD);
  std::vector<host::PointId> mine;
  for (std::size_t k = 0; k < ids.size(); ++k)
    if (int(k % std::size_t(size)) == rank) mine.push_back(ids[k]);
  return mine;
}

// `db`: rank 0's (the others have none).
host::SweepSummary run_with_mpi(const host::SweepSpec& spec, host::SweepDatabase* db, const fs::path& db_file,
                                const host::SweepOptions& options, int rank, int size) {
  // A rank that fails mid-way would leave the others waiting at a barrier: all stop.
  try {
    return share_sweep(spec, db, db_file, options, rank, size);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ssmsoc: rank %d: %s\n", rank, e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
    throw;
  }
}

host::SweepSummary share_sweep(const host::SweepSpec& spec, host::SweepDatabase* db, const fs::path& db_file,
                               const host::SweepOptions& options, int rank, int size) {
  auto part = [&](int r) { return fs::path(db_file.string() + fmt::format(".rank{}", r)); };
  auto merge_parts = [&] {
    for (int r = 0; r < size; ++r)
      if (fs::is_regular_file(part(r))) db->merge(part(r));
  };
  host::SweepSummary summary;
  const std::vector<host::PointId> listed = host::design_points(spec);
  summary.points = std::int64_t(listed.size());
  std::vector<host::PointId> todo;
  if (rank == 0) {
    merge_parts();  // a killed run's rows
    todo = host::missing_points(spec, *db, listed, host::Tier::estimate);
  }
  {
    const std::vector<host::PointId> mine = share_of(todo, rank, size);  // after rank 0's first merge
    host::SweepDatabase own(part(rank));
    host::evaluate_points(spec, own, mine, host::Tier::estimate, options, summary);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    merge_parts();
    todo = host::missing_points(spec, *db, host::confirmation_points(spec, *db, listed), host::Tier::simulation);
  }
  {
    const std::vector<host::PointId> mine = share_of(todo, rank, size);
    host::SweepDatabase own(part(rank));
    host::evaluate_points(spec, own, mine, host::Tier::simulation, options, summary);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  int counts[3] = {summary.estimated, summary.simulated, summary.reused}, totals[3] = {};
  double seconds[2] = {summary.estimate_seconds, summary.simulation_seconds}, longest[2] = {};
  MPI_Reduce(counts, totals, 3, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
  MPI_Reduce(seconds, longest, 2, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  summary.estimated = totals[0], summary.simulated = totals[1], summary.reused = totals[2];
  summary.estimate_seconds = longest[0], summary.simulation_seconds = longest[1];
  if (rank == 0) {
    merge_parts();
    for (int r = 0; r < size; ++r) {
      std::error_code ignored;
      for (const char* tail : {"", "-wal", "-shm"}) fs::remove(part(r).string() + tail, ignored);
    }
  }
  if (rank == 0) host::tier_agreement(spec, *db, summary);
  return summary;
}

}  // namespace

namespace {

int sweep_on(const SweepCommand& command, std::ostream& out, int rank, int size) {
  // Everything the user gave is checked before the database is opened.
  const host::SweepSpec spec = host::load_sweep_spec(command.spec);
  host::SweepOptions options;
  if (!command.shard.empty()) {
    int k = -1, n = 0;
    char tail = 0;
    if (std::sscanf(command.shard.c_str(), "%d/%d%c", &k, &n, &tail) != 2 || n < 1 || k < 0 || k >= n)
      throw ConfigError(fmt::format("--shard {}: expected k/N with 0 <= k < N", command.shard));
    options.shard = k, options.shards = n;
  }
  const fs::path export_file = command.export_file;
  if (!export_file.empty() && export_file.extension() != ".csv" && export_file.extension() != ".json")
    throw ConfigError(fmt::format("--export {}: expected a .csv or .json file", command.export_file));
  if (!command.pareto.empty() && fs::path(command.pareto).extension() != ".json")
    throw ConfigError(fmt::format("--pareto {}: expected a .json file", command.pareto));
  for (const std::string& other : command.merge)
    if (!fs::is_regular_file(other)) throw ConfigError(fmt::format("--merge {}: no such sweep database", other));
  const fs::path db_file =
      command.db.empty() ? fs::path(fs::path(command.spec).stem().string() + ".db") : fs::path(command.db);
  if (size > 1 && (options.shards > 1 || spec.strategy == host::Strategy::nsga2))
    throw ConfigError(
        fmt::format("{}: under mpirun the ranks share the points; {}", command.spec,
                    options.shards > 1 ? "--shard is for separate jobs" : "nsga2 evolves one population"));
  // Under mpirun only rank 0 opens the database; the others write their part files.
  std::optional<host::SweepDatabase> main_db;
  if (rank == 0) main_db.emplace(db_file);
  if (rank != 0) {
    options.parallel = command.jobs;
    options.code_version = SSMSOC_VERSION;
    run_with_mpi(spec, nullptr, db_file, options, rank, size);
    return 0;
  }
  host::SweepDatabase& db = *main_db;
  if (!command.merge.empty()) {
    for (const std::string& other : command.merge)
      out << fmt::format("merged {} rows of {} into {}\n", db.merge(other), other, db_file.string());
  } else if (!command.status) {
    options.parallel = command.jobs;
    options.code_version = SSMSOC_VERSION;
    options.progress = [](const std::string& line) {
      if (isatty(STDERR_FILENO)) std::fprintf(stderr, "\r\033[K%s", line.c_str());
    };
    const host::SweepSummary s =
        size > 1 ? run_with_mpi(spec, &db, db_file, options, rank, size) : host::run_sweep(spec, db, options);
    options.progress("");
    out << fmt::format("sweep {}: {} points; {} estimated and {} simulated now, {} rows reused ({})\n", spec.name,
                       s.points, s.estimated, s.simulated, s.reused, db_file.string());
    auto rate = [](int rows, double seconds) {
      return rows > 0 && seconds > 0 ? fmt::format(" in {:.2f} s ({:.1f} rows/s, {:.0f} per hour)", seconds,
                                                   rows / seconds, 3600 * rows / seconds)
                                     : std::string();
    };
    out << fmt::format("  screening {} rows{}; SystemC {} rows{}\n", s.estimated, rate(s.estimated, s.estimate_seconds),
                       s.simulated, rate(s.simulated, s.simulation_seconds));
  }
  // The tiers' agreement over every point both ran (after a run, a merge or for --status).
  host::SweepSummary agreement;
  host::tier_agreement(spec, db, agreement);
  for (std::size_t k = 0; k < spec.objectives.size(); ++k)
    out << fmt::format(
        "  {:<22} cost model vs SystemC: rank correlation {}, median error {}\n",
        host::metric_names()[std::size_t(spec.objectives[k])], number(agreement.rank_correlation[k]),
        std::isnan(agreement.median_error[k]) ? "-" : fmt::format("{:.1f} %", 100 * agreement.median_error[k]));
  // nsga2 lists no points: those it evaluated.
  std::size_t points = host::design_points(spec).size();
  if (spec.strategy == host::Strategy::nsga2) {
    std::set<host::PointId> found;
    for (const host::SweepRow& r : db.rows(spec, host::Tier::estimate)) found.insert(r.point);
    points = found.size();
  }
  for (const host::Tier tier : {host::Tier::estimate, host::Tier::simulation}) {
    const auto rows = db.rows(spec, tier);
    std::size_t failed = 0;
    for (const host::SweepRow& r : rows) failed += r.error.empty() ? 0 : 1;
    out << fmt::format("  {:<10} {} of {} rows ({} points x {} workloads){}\n",
                       tier == host::Tier::estimate ? "estimated" : "simulated", rows.size(),
                       points * spec.workloads.size(), points, spec.workloads.size(),
                       failed ? fmt::format(", {} failed: the design does not take the workload (--export "
                                            "gives each error)",
                                            failed)
                              : "");
  }
  const std::vector<host::PointResult> front = host::simulated_front(spec, db);
  out << fmt::format("Pareto front of the simulated points ({}):\n", front.size()) << front_table(spec, front);
  OutputFiles outputs;
  if (!command.export_file.empty()) outputs.add(command.export_file).write(export_rows(spec, db, command.export_file));
  if (!command.pareto.empty()) outputs.add(command.pareto).write(front_json(spec, front, agreement).dump(2) + "\n");
  outputs.commit();
  return 0;
}

}  // namespace

int sweep(const SweepCommand& command, std::ostream& out) {
  // Under mpirun every rank runs this; rank 0 alone prints and writes.
  int rank = 0, size = 1;
  struct MpiSession {
    bool on = false;
    ~MpiSession() {
      if (on) MPI_Finalize();
    }
  } mpi;
  if (under_mpi() && !command.status && command.merge.empty()) {
    setenv("OMPI_MCA_mpi_warn_on_fork", "0", 0);  // the workers are forked; they never call MPI
    MPI_Init(nullptr, nullptr);
    mpi.on = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
  }
  std::ostringstream discarded;
  std::ostream& print = rank == 0 ? out : discarded;
  try {
    return sweep_on(command, print, rank, size);
  } catch (const std::exception& e) {
    if (rank == 0) throw;
    return 1;  // rank 0 says it
  }
}

}  // namespace ssmsoc::cli
