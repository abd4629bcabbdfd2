// The entry points of the library: the fit check, simulate(), and simulations in forked child
// processes (one, or several jobs in parallel) whose results come back through a pipe.
#include <fmt/format.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>

#include "arch/spec/config_tree.hpp"
#include "sim/functional.hpp"
#include "sim/sim.hpp"
#include "sim/sim_internal.hpp"
#include "sim/stats.hpp"

namespace ssmsoc::sim {

namespace {}  // namespace

void check_program_fits(const Profile& profile, const Program& program, const std::string& source) {
  validate_program(program, source, &profile);
  std::size_t index = 0;
  for (std::size_t si = 0; si < program.streams.size(); ++si) {
    const ProgramStream& s = program.streams[si];
    for (const ssm_command& c : s.commands) {
      const std::size_t command_index = index++;
      auto fail = [&](const std::string& message) {
        throw ConfigError(fmt::format("{}: {}: {}", source, command_place(command_index, si, s), message));
      };
      const unsigned op = c.head.opcode;
      if (op == SSM_OP_GEMM) {
        const auto precision = static_cast<Precision>(c.head.variant);
        if (!profile.tile.matrix.macs_per_cycle.count(precision))
          fail(fmt::format("the matrix array of {} has no {} (tile.matrix.precisions)", profile.name,
                           name_of(precision)));
      }
      if (op == SSM_OP_SCAN) {
        const ScanUnit& unit = profile.tile.scan;
        if (!unit.present) fail(fmt::format("{} has no scan unit (tile.scan.present is false)", profile.name));
        const ScanMode mode = ssm_scan_is_mamba2(c.head.variant) ? ScanMode::mamba2 : ScanMode::mamba1;
        if (!unit.supports(mode))
          fail(fmt::format("the scan unit of {} does not run {} (tile.scan.modes)", profile.name, name_of(mode)));
        if (c.scan.state > static_cast<std::uint32_t>(unit.max_state))
          fail(fmt::format("state {} exceeds the scan unit's max_state {} of {}", c.scan.state, unit.max_state,
                           profile.name));
      }
      if (op == SSM_OP_GEMM || op == SSM_OP_SCAN || op == SSM_OP_CONV1D || op == SSM_OP_VECTOR) {
        for (const OperandView& o : operands_of(c)) {
          if (o.ref.buffer == SSM_NO_BUFFER) continue;
          const ProgramBuffer& b = program.buffers[o.ref.buffer];
          if (b.memory != SSM_MEM_TILE_SRAM || b.tile != s.tile)
            fail(
                fmt::format("operand {} is buffer '{}' outside tile {}'s SRAM; engines read and write their own "
                            "tile's SRAM (move it with a DMA)",
                            o.name, b.name, s.tile));
        }
      }
      if (op == SSM_OP_DMA && (c.head.flags & SSM_DMA_BROADCAST)) {
        const std::uint64_t mask = broadcast_mask(c.dma);
        if (mask == 0) fail("a broadcast to no tile (tile mask 0)");
        if (profile.tile_count < 64 && (mask >> profile.tile_count) != 0)
          fail(fmt::format("the broadcast mask 0x{:x} names tiles beyond the {} of {}", mask, profile.tile_count,
                           profile.name));
      }
    }
  }
}

void check_run(const Profile& profile, const Program& program, const SimOptions& options) {
  check_program_fits(profile, program, options.source);
  if (!options.functional) return;
  std::size_t index = 0;
  for (std::size_t si = 0; si < program.streams.size(); ++si)
    for (const ssm_command& c : program.streams[si].commands) {
      if (const std::string why = Functional::unsupported(c); !why.empty())
        throw ConfigError(
            fmt::format("{}: {}: {}", options.source, command_place(index, si, program.streams[si]), why));
      ++index;
    }
}

SimResult simulate(const Profile& profile, const Program& program, const SimOptions& options) {
  check_run(profile, program, options);
  return simulate_checked(profile, program, options);
}

namespace {

void write_all(int fd, const void* data, std::size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd, p, bytes);
    if (n <= 0) {
      if (errno == EINTR) continue;
      _exit(3);
    }
    p += n, bytes -= static_cast<std::size_t>(n);
  }
}

// A simulation running in a forked child: its pid and the read end of its result pipe.
struct Child {
  pid_t pid;
  int fd;
};

Child start_child(const Profile& profile, const Program& program, const SimOptions& options) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("simulate_in_child: pipe failed");
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("simulate_in_child: fork failed");
  if (pid == 0) {
    // The child dies with its parent (killed by a signal too), so an interrupted run leaves
    // no simulation behind; a parent that died before prctl took effect is caught by getppid.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    close(fds[0]);
    // Message: kind byte ('R' result, 'C' ConfigError, 'E' other error), then a length-prefixed
    // JSON or error text, then the memory_out buffers.
    std::string text;
    char kind = 'R';
    SimResult result;
    try {
      result = simulate_checked(profile, program, options);
      text = to_json(result, profile).dump();
    } catch (const ConfigError& e) {
      kind = 'C', text = e.what();
    } catch (const std::exception& e) {
      kind = 'E', text = e.what();
    }
    write_all(fds[1], &kind, 1);
    const std::uint64_t n = text.size();
    write_all(fds[1], &n, 8);
    write_all(fds[1], text.data(), text.size());
    const std::uint64_t buffers = result.memory_out.size();
    write_all(fds[1], &buffers, 8);
    for (const auto& [name, bytes] : result.memory_out) {
      const std::uint64_t ln = name.size(), lb = bytes.size();
      write_all(fds[1], &ln, 8);
      write_all(fds[1], name.data(), name.size());
      write_all(fds[1], &lb, 8);
      write_all(fds[1], bytes.data(), bytes.size());
    }
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  return {pid, fds[0]};
}

SimResult collect_child(Child child) {
  std::string data;
  char chunk[65536];
  for (;;) {
    const ssize_t n = ::read(child.fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(chunk, static_cast<std::size_t>(n));
  }
  close(child.fd);
  int status = 0;
  waitpid(child.pid, &status, 0);
  std::size_t at = 0;
  auto take = [&](void* out, std::size_t bytes) {
    if (at + bytes > data.size())
      throw std::runtime_error(fmt::format("simulate_in_child: the simulation process died (status {})", status));
    std::memcpy(out, data.data() + at, bytes);
    at += bytes;
  };
  char kind = 0;
  std::uint64_t n = 0;
  take(&kind, 1);
  take(&n, 8);
  std::string text(n, '\0');
  take(text.data(), n);
  if (kind == 'C') throw ConfigError(text);
  if (kind != 'R') throw std::runtime_error(text);
  SimResult result = from_json(nlohmann::json::parse(text));
  std::uint64_t buffers = 0;
  take(&buffers, 8);
  for (std::uint64_t i = 0; i < buffers; ++i) {
    std::uint64_t ln = 0, lb = 0;
    take(&ln, 8);
    std::string name(ln, '\0');
    take(name.data(), ln);
    take(&lb, 8);
    std::vector<std::byte> bytes(lb);
    take(bytes.data(), lb);
    result.memory_out[name] = std::move(bytes);
  }
  return result;
}

}  // namespace

SimResult simulate_in_child(const Profile& profile, const Program& program, const SimOptions& options) {
  // Checks run in the parent, so a bad Program is reported without a fork.
  check_run(profile, program, options);
  return collect_child(start_child(profile, program, options));
}

std::vector<SimResult> simulate_in_children(const Profile& profile, const std::vector<SimJob>& jobs, int parallel,
                                            const std::function<void(std::size_t)>& collected) {
  for (const SimJob& job : jobs) check_run(profile, *job.program, job.options);
  std::vector<SimResult> results(jobs.size());
  std::vector<Child> running;
  std::size_t next = 0, done = 0;
  std::exception_ptr error;
  // Children finish in any order, but their results are collected in job order (a child
  // blocks on a full pipe until read), so the outcome is the same at any parallelism.
  while (done < jobs.size()) {
    while (!error && next < jobs.size() && running.size() < std::size_t(std::max(1, parallel))) {
      running.push_back(start_child(profile, *jobs[next].program, jobs[next].options));
      ++next;
    }
    if (running.empty()) break;
    try {
      results[done] = collect_child(running.front());
      if (collected && !error) collected(done);
    } catch (...) {
      if (!error) error = std::current_exception();
    }
    running.erase(running.begin());
    ++done;
  }
  if (error) std::rethrow_exception(error);
  return results;
}

}  // namespace ssmsoc::sim
