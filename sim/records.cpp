// Bookkeeping of a run: the fit check, statistics, energy, JSON, the timeline trace and the
// child-process runner.
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/model.hpp"
#include "sim/functional.hpp"
#include "sim/sim.hpp"
#include "sim/sim_internal.hpp"

namespace ssmsoc::sim {

namespace {

std::uint64_t broadcast_mask(const ssm_dma& d) { return (std::uint64_t{d.tile_mask_high} << 32) | d.tile_mask_low; }

// Whether operand k of a compute command is written (else read); state operands by flags.
bool writes(const ssm_command& c, const char* name) {
  const std::string n = name;
  if (n == "out") return true;
  if (c.head.opcode == SSM_OP_GEMM) return n == "c";
  return false;
}
bool state_read(const ssm_command& c) {
  if (c.head.opcode == SSM_OP_SCAN) return c.head.flags & SSM_SCAN_LOAD_STATE;
  return c.head.flags & (SSM_CONV_LOAD_STATE | SSM_CONV_UPDATE);
}
bool state_written(const ssm_command& c) {
  if (c.head.opcode == SSM_OP_SCAN) return c.head.flags & SSM_SCAN_STORE_STATE;
  return c.head.flags & (SSM_CONV_STORE_STATE | SSM_CONV_UPDATE);
}

}  // namespace

double SimResult::utilization(int tile, ssm_engine engine) const {
  return cycles == 0 ? 0.0
                     : static_cast<double>(tiles[static_cast<std::size_t>(tile)].engines[engine].busy_cycles) /
                           static_cast<double>(cycles);
}

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
        const ScanMode mode = mamba2_variant(c.head.variant) ? ScanMode::mamba2 : ScanMode::mamba1;
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

DmaPath dma_route(const Profile& profile, const Network& network, const Program& program, const ssm_dma& d) {
  const ProgramBuffer& src = program.buffers[d.src.buffer];
  const ProgramBuffer& dst = program.buffers[d.dst.buffer];
  std::vector<MemoryPlace> destinations;
  if (d.head.flags & SSM_DMA_BROADCAST) {
    const std::uint64_t mask = broadcast_mask(d);
    for (int t = 0; t < std::min(profile.tile_count, 64); ++t)
      if (mask >> t & 1) destinations.push_back({SSM_MEM_TILE_SRAM, t});
  } else {
    destinations.push_back({dst.memory, dst.tile});
  }
  return dma_path(profile, network, d, {src.memory, src.tile}, destinations);
}

void load_memory_in(const Program& program, const SimOptions& options, Memories& memories) {
  for (const auto& [name, bytes] : options.memory_in) {
    const auto it = std::find_if(program.buffers.begin(), program.buffers.end(),
                                 [&](const ProgramBuffer& b) { return b.name == name; });
    if (it == program.buffers.end())
      throw ConfigError(
          fmt::format("{}: input for buffer '{}', which the Program does not have", options.source, name));
    if (bytes.size() > it->bytes)
      throw ConfigError(fmt::format("{}: input of {} bytes for buffer '{}' of {} bytes", options.source, bytes.size(),
                                    name, it->bytes));
    memories.of(*it).write(it->address, bytes.data(), bytes.size());
  }
}

void read_memory_out(const Program& program, const SimOptions& options, Memories& memories, SimResult& result) {
  for (const auto& name : options.memory_out) {
    const auto it = std::find_if(program.buffers.begin(), program.buffers.end(),
                                 [&](const ProgramBuffer& b) { return b.name == name; });
    if (it == program.buffers.end())
      throw ConfigError(fmt::format("{}: output buffer '{}' is not in the Program", options.source, name));
    std::vector<std::byte> bytes(it->bytes);
    memories.of(*it).read(it->address, bytes.data(), bytes.size());
    result.memory_out[name] = std::move(bytes);
  }
}

void Records::init(const Profile& profile, const Program& program, const SimOptions& options) {
  profile_ = &profile;
  program_ = &program;
  trace_ = !options.trace_path.empty();
  command_op_ = options.command_op;
  if (command_op_) {
    if (command_op_->size() != program.command_count())
      throw ConfigError(fmt::format("{}: {} op indices for {} commands", options.source, command_op_->size(),
                                    program.command_count()));
    std::uint32_t ops = 0;
    for (std::uint32_t op : *command_op_) ops = std::max(ops, op + 1);
    result_.ops.resize(ops);
  }
  result_.tiles.assign(static_cast<std::size_t>(profile.tile_count), TileStats{});
}

void Records::command_done(int tile, ssm_engine engine, const ssm_command& c, std::uint64_t start, std::uint64_t end,
                           std::uint64_t ideal) {
  TileStats& ts = result_.tiles[static_cast<std::size_t>(tile)];
  EngineStats& es = ts.engines[engine];
  ++es.commands;
  ++result_.commands;
  es.busy_cycles += end - start;
  OpStats* op = command_op_ ? &result_.ops[(*command_op_)[static_cast<std::size_t>(&c - command_base)]] : nullptr;
  if (op) {
    op->busy_cycles[engine] += end - start;
    ++op->commands;
  }
  es.stall_cycles += end - start > ideal ? end - start - ideal : 0;
  if (trace_)
    slices_.push_back(
        Slice{static_cast<std::uint32_t>(tile), static_cast<std::uint8_t>(engine), c.head.opcode, start, end});
  const Profile& p = *profile_;
  switch (c.head.opcode) {
    case SSM_OP_DMA: {
      const DmaPath& path = *dma_paths[static_cast<std::size_t>(&c - command_base)];
      const ProgramBuffer& src = program_->buffers[c.dma.src.buffer];
      const ProgramBuffer& dst = program_->buffers[c.dma.dst.buffer];
      const std::uint64_t bytes = path.bytes;
      switch (src.memory) {
        case SSM_MEM_DRAM:
          result_.dram_read_bytes += bytes;
          if (op) op->dram_read_bytes += bytes;
          break;
        case SSM_MEM_GLOBAL_BUFFER:
          result_.global_buffer_read_bytes += bytes;
          break;
        case SSM_MEM_TILE_SRAM:
          result_.tiles[static_cast<std::size_t>(src.tile)].sram_read_bytes += bytes;
          break;
      }
      if (c.head.flags & SSM_DMA_BROADCAST) {
        const std::uint64_t mask = (std::uint64_t{c.dma.tile_mask_high} << 32) | c.dma.tile_mask_low;
        for (int t = 0; t < std::min(p.tile_count, 64); ++t)
          if (mask >> t & 1) result_.tiles[static_cast<std::size_t>(t)].sram_write_bytes += bytes;
      } else if (dst.memory == SSM_MEM_DRAM) {
        result_.dram_write_bytes += bytes;
        if (op) op->dram_write_bytes += bytes;
      } else if (dst.memory == SSM_MEM_GLOBAL_BUFFER) {
        result_.global_buffer_write_bytes += bytes;
      } else {
        result_.tiles[static_cast<std::size_t>(dst.tile)].sram_write_bytes += bytes;
      }
      result_.noc_byte_hops += static_cast<double>(bytes) * static_cast<double>(path.hops);
      return;
    }
    case SSM_OP_GEMM:
      result_.macs[std::string(name_of(static_cast<Precision>(c.head.variant)))] += gemm_macs(c.gemm);
      break;
    case SSM_OP_SCAN:
      result_.scan_lane_steps += scan_lane_steps(c.scan);
      break;
    case SSM_OP_CONV1D:
      result_.vector_lane_cycles += vector_lane_cycles(p.tile.vector, conv1d_passes(c.conv1d));
      break;
    case SSM_OP_VECTOR:
      result_.vector_lane_cycles += vector_lane_cycles(p.tile.vector, vector_passes(c.vector));
      break;
  }
  // Operand traffic of a compute engine in its tile's SRAM.
  const auto operands = operands_of(c);
  for (std::size_t k = 0; k < operands.size(); ++k) {
    const OperandView& o = operands[k];
    if (o.ref.buffer == SSM_NO_BUFFER) continue;
    const std::uint64_t bytes = operand_extent(c, static_cast<int>(k));
    if (std::string_view(o.name) == "state") {
      if (state_read(c)) ts.sram_read_bytes += bytes;
      if (state_written(c)) ts.sram_write_bytes += bytes;
    } else if (writes(c, o.name)) {
      ts.sram_write_bytes += bytes;
      if (c.head.opcode == SSM_OP_GEMM && (c.head.flags & SSM_GEMM_ACCUMULATE)) ts.sram_read_bytes += bytes;
    } else {
      ts.sram_read_bytes += bytes;
    }
  }
}

SimResult Records::finish(std::uint64_t cycles, const std::vector<double>& carried, const Network& network) {
  SimResult r = std::move(result_);
  r.cycles = cycles;
  r.seconds = Clock{profile_->clock_mhz}.seconds(cycles);
  for (int i = 0; i < network.resource_count(); ++i)
    if (network.is_link(i) && carried[static_cast<std::size_t>(i)] > 0)
      r.links.push_back(LinkStats{network.name(i), carried[static_cast<std::size_t>(i)]});
  account_energy(*profile_, r);
  return r;
}

void Records::write_trace(const std::string& path, const Profile& profile) const {
  // Chrome trace-event JSON (Perfetto reads it): a process per tile, a thread per engine.
  nlohmann::json events = nlohmann::json::array();
  for (int t = 0; t < profile.tile_count; ++t) {
    events.push_back(
        {{"ph", "M"}, {"name", "process_name"}, {"pid", t}, {"args", {{"name", fmt::format("tile {}", t)}}}});
    for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e)
      events.push_back({{"ph", "M"},
                        {"name", "thread_name"},
                        {"pid", t},
                        {"tid", e},
                        {"args", {{"name", engine_name(static_cast<ssm_engine>(e))}}}});
  }
  const Clock clock{profile.clock_mhz};
  for (const Slice& s : slices_)
    events.push_back({{"ph", "X"},
                      {"name", opcode_name(static_cast<ssm_opcode>(s.opcode))},
                      {"pid", s.tile},
                      {"tid", s.engine},
                      {"ts", clock.microseconds(static_cast<double>(s.start))},
                      {"dur", clock.microseconds(static_cast<double>(s.end - s.start))},
                      {"args", {{"start_cycle", s.start}, {"cycles", s.end - s.start}}}});
  std::ofstream out(path);
  out << nlohmann::json{{"traceEvents", events}, {"displayTimeUnit", "ns"}}.dump() << '\n';
  if (!out) throw ConfigError(fmt::format("{}: cannot write the trace", path));
}

void account_energy(const Profile& p, SimResult& r) {
  auto add = [&](const std::string& component, const std::string& field, double count, const std::string& unit,
                 double per_action) {
    EnergyItem item{component, field, count, unit, per_action, count * per_action * 1e-12};
    r.energy_j += item.joules;
    r.energy.push_back(std::move(item));
  };
  for (const auto& [precision, figure] : p.energy.mac_pj) {
    const std::string name(name_of(precision));
    const auto it = r.macs.find(name);
    add("matrix", "energy.mac_pj." + name, it == r.macs.end() ? 0.0 : static_cast<double>(it->second), "MACs",
        figure.value);
  }
  if (p.energy.scan_step_pj)
    add("scan", "energy.scan_step_pj", static_cast<double>(r.scan_lane_steps), "lane steps",
        p.energy.scan_step_pj->value);
  add("vector", "energy.vector_op_pj", r.vector_lane_cycles, "lane-cycles", p.energy.vector_op_pj.value);
  double sram_read = 0, sram_write = 0;
  for (const auto& t : r.tiles)
    sram_read += static_cast<double>(t.sram_read_bytes), sram_write += static_cast<double>(t.sram_write_bytes);
  add("sram", "energy.sram_read_byte_pj", sram_read, "bytes", p.energy.sram_read_byte_pj.value);
  add("sram", "energy.sram_write_byte_pj", sram_write, "bytes", p.energy.sram_write_byte_pj.value);
  add("global_buffer", "energy.global_buffer_byte_pj",
      static_cast<double>(r.global_buffer_read_bytes + r.global_buffer_write_bytes), "bytes",
      p.energy.global_buffer_byte_pj.value);
  add("noc", "energy.noc_byte_hop_pj", r.noc_byte_hops, "byte-hops", p.energy.noc_byte_hop_pj.value);
  add("dram", "energy.dram_byte_pj", static_cast<double>(r.dram_read_bytes + r.dram_write_bytes), "bytes",
      p.energy.dram_byte_pj.value);
  // Leakage: W x s, kept in joules directly.
  EnergyItem leak{"leakage", "energy.leakage_w",       r.seconds,
                  "seconds", p.energy.leakage_w.value, p.energy.leakage_w.value * r.seconds};
  r.energy_j += leak.joules;
  r.energy.push_back(std::move(leak));
}

nlohmann::json to_json(const SimResult& r, const Profile& p) {
  nlohmann::json tiles = nlohmann::json::array();
  for (std::size_t t = 0; t < r.tiles.size(); ++t) {
    nlohmann::json engines;
    for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e) {
      const EngineStats& s = r.tiles[t].engines[e];
      engines[engine_name(static_cast<ssm_engine>(e))] = {
          {"commands", s.commands},
          {"busy_cycles", s.busy_cycles},
          {"stall_cycles", s.stall_cycles},
          {"idle_cycles", r.cycles - std::min(r.cycles, s.busy_cycles)},
          {"utilization", r.utilization(static_cast<int>(t), static_cast<ssm_engine>(e))}};
    }
    tiles.push_back({{"tile", t},
                     {"engines", engines},
                     {"sram_read_bytes", r.tiles[t].sram_read_bytes},
                     {"sram_write_bytes", r.tiles[t].sram_write_bytes}});
  }
  nlohmann::json links = nlohmann::json::array();
  for (const auto& l : r.links) links.push_back({{"name", l.name}, {"bytes", l.bytes}});
  nlohmann::json energy = nlohmann::json::array();
  for (const auto& e : r.energy)
    energy.push_back({{"component", e.component},
                      {"field", e.field},
                      {"count", e.count},
                      {"unit", e.unit},
                      {"per_action", e.per_action},
                      {"joules", e.joules}});
  nlohmann::json result = {
      {"profile", p.name},
      {"cycles", r.cycles},
      {"seconds", r.seconds},
      {"commands", r.commands},
      {"tiles", tiles},
      {"dram", {{"read_bytes", r.dram_read_bytes}, {"write_bytes", r.dram_write_bytes}}},
      {"global_buffer", {{"read_bytes", r.global_buffer_read_bytes}, {"write_bytes", r.global_buffer_write_bytes}}},
      {"noc", {{"byte_hops", r.noc_byte_hops}, {"links", links}}},
      {"macs", r.macs},
      {"scan_lane_steps", r.scan_lane_steps},
      {"vector_lane_cycles", r.vector_lane_cycles},
      {"firmware", {{"signals", r.firmware_signals}, {"waits", r.firmware_waits}, {"wakeups", r.firmware_wakeups}}},
      {"energy", {{"total_joules", r.energy_j}, {"items", energy}}}};
  if (!r.ops.empty()) {
    nlohmann::json ops = nlohmann::json::array();
    for (const OpStats& o : r.ops) {
      nlohmann::json busy;
      for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e) busy[engine_name(static_cast<ssm_engine>(e))] = o.busy_cycles[e];
      ops.push_back({{"busy_cycles", busy},
                     {"commands", o.commands},
                     {"dram_read_bytes", o.dram_read_bytes},
                     {"dram_write_bytes", o.dram_write_bytes}});
    }
    result["ops"] = ops;
  }
  return result;
}

namespace {

SimResult from_json(const nlohmann::json& j) {
  SimResult r;
  r.cycles = j.at("cycles");
  r.seconds = j.at("seconds");
  r.commands = j.at("commands");
  for (const auto& t : j.at("tiles")) {
    TileStats ts;
    for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e) {
      const auto& s = t.at("engines").at(engine_name(static_cast<ssm_engine>(e)));
      ts.engines[e] = EngineStats{s.at("commands"), s.at("busy_cycles"), s.at("stall_cycles")};
    }
    ts.sram_read_bytes = t.at("sram_read_bytes");
    ts.sram_write_bytes = t.at("sram_write_bytes");
    r.tiles.push_back(ts);
  }
  r.dram_read_bytes = j.at("dram").at("read_bytes");
  r.dram_write_bytes = j.at("dram").at("write_bytes");
  r.global_buffer_read_bytes = j.at("global_buffer").at("read_bytes");
  r.global_buffer_write_bytes = j.at("global_buffer").at("write_bytes");
  r.noc_byte_hops = j.at("noc").at("byte_hops");
  for (const auto& l : j.at("noc").at("links")) r.links.push_back(LinkStats{l.at("name"), l.at("bytes")});
  r.macs = j.at("macs").get<std::map<std::string, std::uint64_t>>();
  r.scan_lane_steps = j.at("scan_lane_steps");
  r.vector_lane_cycles = j.at("vector_lane_cycles");
  r.firmware_signals = j.at("firmware").at("signals");
  r.firmware_waits = j.at("firmware").at("waits");
  r.firmware_wakeups = j.at("firmware").at("wakeups");
  r.energy_j = j.at("energy").at("total_joules");
  for (const auto& e : j.at("energy").at("items"))
    r.energy.push_back(
        EnergyItem{e.at("component"), e.at("field"), e.at("count"), e.at("unit"), e.at("per_action"), e.at("joules")});
  if (j.contains("ops"))
    for (const auto& o : j.at("ops")) {
      OpStats op;
      for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e)
        op.busy_cycles[e] = o.at("busy_cycles").at(engine_name(static_cast<ssm_engine>(e)));
      op.commands = o.at("commands");
      op.dram_read_bytes = o.at("dram_read_bytes");
      op.dram_write_bytes = o.at("dram_write_bytes");
      r.ops.push_back(op);
    }
  return r;
}

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

}  // namespace

namespace {

// A simulation running in a forked child: its pid and the read end of its result pipe.
struct Child {
  pid_t pid;
  int fd;
};

Child start_child(const Profile& profile, const Program& program, const SimOptions& options) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("simulate_in_child: pipe failed");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("simulate_in_child: fork failed");
  if (pid == 0) {
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

std::string summary(const SimResult& r, const Profile& p) {
  std::string out = fmt::format("profile {}: {} cycles, {:.3f} us at {} MHz, {} commands\n", p.name, r.cycles,
                                r.seconds * 1e6, p.clock_mhz, r.commands);
  out += "utilization (busy / total cycles) of the engines that ran:\n";
  for (std::size_t t = 0; t < r.tiles.size(); ++t)
    for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e) {
      const EngineStats& s = r.tiles[t].engines[e];
      if (s.commands == 0) continue;
      out += fmt::format("  tile {:<3} {:<6} {:6.2f}%  {} commands, {} busy, {} stalled cycles\n", t,
                         engine_name(static_cast<ssm_engine>(e)),
                         100.0 * r.utilization(static_cast<int>(t), static_cast<ssm_engine>(e)), s.commands,
                         s.busy_cycles, s.stall_cycles);
    }
  out += fmt::format("dram: {} bytes read, {} bytes written\n", r.dram_read_bytes, r.dram_write_bytes);
  out += fmt::format("energy: {:.6g} J\n", r.energy_j);
  for (const auto& e : r.energy)
    if (e.joules > 0)
      out += fmt::format("  {:<14} {:.6g} J  ({:.6g} {} x {} = {})\n", e.component, e.joules, e.count, e.unit, e.field,
                         e.per_action);
  return out;
}

}  // namespace ssmsoc::sim
