#include "rtl/scan_unit/cosim.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "arch/golden/seeded_random.hpp"
#include "arch/spec/config_tree.hpp"
#include "arch/spec/output_file.hpp"
#include "rtl/scan_unit/harness.hpp"

namespace ssmsoc::rtl {

std::vector<std::string> cosim_profiles() { return scan_variant_profiles(); }

namespace {

// Opens the engine's trace where `traces` stages `file`; a failure names the file the user gave
// and the system's reason.
void open_staged_trace(ScanEngine& engine, OutputFiles& traces, const std::filesystem::path& file) {
  const std::filesystem::path staged = traces.stage(file);
  errno = 0;
  try {
    engine.open_trace(staged.string());
  } catch (const std::runtime_error&) {
    const int error = errno != 0 ? errno : EIO;
    throw ConfigError(fmt::format("{}: cannot write: {}", file.string(), std::strerror(error)));
  }
}

}  // namespace

std::vector<CosimRow> run_cosim(const CosimOptions& options) {
  std::vector<std::string> profiles;
  if (options.profile == "all") {
    profiles = scan_variant_profiles();
  } else {
    profiles = {options.profile};
  }
  if (!options.trace_file.empty() && std::filesystem::path(options.trace_file).extension() != ".fst")
    throw std::invalid_argument(
        fmt::format("trace file '{}': only FST traces (.fst) are supported", options.trace_file));
  const std::vector<Case> reference =
      options.refdata
          ? refdata_cases(options.refdata_directory.empty() ? default_refdata_directory() : options.refdata_directory)
          : std::vector<Case>{};
  std::vector<CosimRow> rows;
  OutputFiles traces;  // written to temporaries, put in place together once every run is done
  for (const std::string& name : profiles) {
    const Profile profile = load_profile(name);
    std::unique_ptr<ScanEngine> engine = make_scan_engine(name);
    if (!options.trace_file.empty()) {
      std::filesystem::path file = options.trace_file;
      if (profiles.size() > 1) file.replace_extension(fmt::format(".{}.fst", name));
      open_staged_trace(*engine, traces, file);
    }
    CosimRow row;
    row.profile = name;
    double seconds = 0;
    long lane_steps = 0;
    auto add = [&](const Case& c) {
      const CaseResult r = run_case(*engine, c, profile.tile.scan);
      ++row.cases;
      row.steps += r.steps;
      row.mismatches += r.mismatches;
      row.cycles += static_cast<long>(r.cycles);
      seconds += r.rtl_seconds;
      lane_steps += r.lane_steps;
      if (r.first.found && row.first_mismatch.empty()) row.first_mismatch = r.first.message;
    };
    for (const Case& c : reference) {
      // A reference case the unit cannot hold (N above max_state, a mode it lacks) is skipped.
      bool fits = true;
      for (const Phase& p : c.phases) {
        const bool mamba2 = p.kernel == Kernel::state_update_multihead || p.kernel == Kernel::ssd;
        fits = fits && p.state <= profile.tile.scan.max_state &&
               profile.tile.scan.supports(mamba2 ? ScanMode::mamba2 : ScanMode::mamba1);
      }
      if (fits) add(c);
    }
    for (const Case& c : random_cases(profile.tile.scan, options.seed, options.cases)) add(c);
    row.lane_steps_per_s = seconds > 0 ? static_cast<double>(lane_steps) / seconds : 0;
    rows.push_back(row);
    engine->close_trace();
  }
  traces.commit();
  return rows;
}

namespace {

// A phase of the command's shapes with seeded operands in realistic ranges.
Phase command_phase(const ssm_scan& s) {
  SeededRandom random(std::uint64_t{s.channels} * 1000003u + std::uint64_t{s.head_dim} * 10007u +
                      std::uint64_t{s.length} * 101u + s.state + s.head.variant);
  Phase p;
  const bool mamba2 = ssm_scan_is_mamba2(s.head.variant);
  const bool update = ssm_scan_is_update(s.head.variant);
  p.kernel = s.head.variant == SSM_SCAN_SELECTIVE          ? Kernel::selective_scan
             : s.head.variant == SSM_SCAN_STATE_UPDATE     ? Kernel::state_update
             : s.head.variant == SSM_SCAN_MULTIHEAD_UPDATE ? Kernel::state_update_multihead
                                                           : Kernel::ssd;
  p.dim = static_cast<int>(s.channels), p.head_dim = mamba2 ? static_cast<int>(s.head_dim) : 1;
  p.length = update ? 1 : static_cast<int>(s.length), p.state = static_cast<int>(s.state);
  p.groups = static_cast<int>(s.groups);
  p.softplus = (s.head.flags & SSM_SCAN_SOFTPLUS) != 0;
  const std::size_t h = s.channels, hp = h * p.head_dim, l = p.length, n = s.state, g = s.groups;
  p.u = random.normals(l * hp);
  p.delta = p.softplus ? random.uniforms(l * h, -4.0, 1.0) : random.uniforms(l * h, 0.001, 0.1);
  p.A = random.decays(mamba2 ? h : h * n);
  p.B = random.normals(l * g * n);
  p.C = random.normals(l * g * n);
  if (s.d.buffer != SSM_NO_BUFFER) p.D = random.uniforms(h, 0.5, 1.5);
  if (s.z.buffer != SSM_NO_BUFFER) p.z = random.normals(l * hp);
  if (s.dt_bias.buffer != SSM_NO_BUFFER) p.bias = random.uniforms(h, -1.0, 0.0);
  if (update || (s.head.flags & SSM_SCAN_LOAD_STATE)) p.state_in = random.uniforms(hp * n, -0.5, 0.5);
  return p;
}

}  // namespace

CommandCosim::CommandCosim(const Profile& profile)
    : unit_(profile.tile.scan), engine_(make_scan_engine(profile.name)) {}
CommandCosim::~CommandCosim() = default;

std::uint64_t CommandCosim::run(const ssm_scan& command) {
  Case c;
  c.name = fmt::format("scan command {}", commands_++);
  c.phases = {command_phase(command)};
  const CaseResult r = run_case(*engine_, c, unit_);
  if (r.mismatches > 0) throw std::runtime_error(fmt::format("RTL scan unit mismatch: {}", r.first.message));
  return r.cycles;
}

}  // namespace ssmsoc::rtl
