// Bookkeeping of a run: DMA routes, memory images in and out, the statistics the engines
// count and the timeline trace.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/output_file.hpp"
#include "sim/sim.hpp"
#include "sim/sim_internal.hpp"

namespace ssmsoc::sim {

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

namespace {

// What a command counts, whenever it runs: the bytes each memory reads and writes (its side's
// own: a converting DMA's SRAM side is the float32 one; the network carries the narrow side's),
// MACs, lane steps and lane-cycles, SRAM operand traffic, NoC byte-hops; into the run and the
// command's op.
void count_command(const Profile& p, const Program& program, int tile, const ssm_command& c,
                   const std::optional<DmaPath>& route, SimResult& run, OpStats* op) {
  switch (c.head.opcode) {
    case SSM_OP_DMA: {
      const DmaPath& path = *route;
      const ProgramBuffer& src = program.buffers[c.dma.src.buffer];
      const ProgramBuffer& dst = program.buffers[c.dma.dst.buffer];
      const std::uint64_t read = std::uint64_t{c.dma.rows} * c.dma.row_bytes,
                          bytes = std::uint64_t{c.dma.rows} * dma_dst_row_bytes(c.dma);
      switch (src.memory) {
        case SSM_MEM_DRAM:
          run.dram_read_bytes += read;
          if (op) op->dram_read_bytes += read;
          break;
        case SSM_MEM_GLOBAL_BUFFER:
          run.global_buffer_read_bytes += read;
          if (op) op->global_buffer_bytes += read;
          break;
        case SSM_MEM_TILE_SRAM:
          run.tiles[static_cast<std::size_t>(src.tile)].sram_read_bytes += read;
          if (op) op->sram_read_bytes += read;
          break;
      }
      if (c.head.flags & SSM_DMA_BROADCAST) {
        const std::uint64_t mask = broadcast_mask(c.dma);
        for (int t = 0; t < std::min(p.tile_count, 64); ++t)
          if (mask >> t & 1) {
            run.tiles[static_cast<std::size_t>(t)].sram_write_bytes += bytes;
            if (op) op->sram_write_bytes += bytes;
          }
      } else if (dst.memory == SSM_MEM_DRAM) {
        run.dram_write_bytes += bytes;
        if (op) op->dram_write_bytes += bytes;
      } else if (dst.memory == SSM_MEM_GLOBAL_BUFFER) {
        run.global_buffer_write_bytes += bytes;
        if (op) op->global_buffer_bytes += bytes;
      } else {
        run.tiles[static_cast<std::size_t>(dst.tile)].sram_write_bytes += bytes;
        if (op) op->sram_write_bytes += bytes;
      }
      const double byte_hops = static_cast<double>(path.bytes) * static_cast<double>(path.hops);
      run.noc_byte_hops += byte_hops;
      if (op) op->noc_byte_hops += byte_hops;
      return;
    }
    case SSM_OP_GEMM: {
      const std::string precision(name_of(static_cast<Precision>(c.head.variant)));
      run.macs[precision] += gemm_macs(c.gemm);
      if (op) op->macs[precision] += gemm_macs(c.gemm);
      break;
    }
    case SSM_OP_SCAN:
      run.scan_lane_steps += scan_lane_steps(c.scan);
      if (op) op->scan_lane_steps += scan_lane_steps(c.scan);
      break;
    case SSM_OP_CONV1D:
    case SSM_OP_VECTOR: {
      const double lane_cycles = vector_lane_cycles(
          p.tile.vector, c.head.opcode == SSM_OP_CONV1D ? conv1d_passes(c.conv1d) : vector_passes(c.vector));
      run.vector_lane_cycles += lane_cycles;
      if (op) op->vector_lane_cycles += lane_cycles;
      break;
    }
  }
  // Operand traffic of a compute engine in its tile's SRAM.
  const SramTraffic traffic = compute_sram_traffic(c);
  TileStats& ts = run.tiles[static_cast<std::size_t>(tile)];
  ts.sram_read_bytes += traffic.read;
  ts.sram_write_bytes += traffic.write;
  if (op) op->sram_read_bytes += traffic.read, op->sram_write_bytes += traffic.write;
}

}  // namespace

SimResult count_actions(const Profile& profile, const Program& program) {
  const Network network(profile);
  SimResult r;
  r.tiles.assign(static_cast<std::size_t>(profile.tile_count), TileStats{});
  // A route's hops depend only on its ends (buffers, broadcast mask): routed once per pair.
  std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint64_t>, std::uint64_t> hops;
  for (const ProgramStream& s : program.streams)
    for (const ssm_command& c : s.commands) {
      if (c.head.opcode == SSM_OP_SIGNAL || c.head.opcode == SSM_OP_WAIT) continue;  // the firmware's
      std::optional<DmaPath> route;
      if (c.head.opcode == SSM_OP_DMA) {
        const std::uint64_t mask = c.head.flags & SSM_DMA_BROADCAST ? broadcast_mask(c.dma) : 0;
        const auto key = std::make_tuple(std::uint32_t{c.dma.src.buffer}, std::uint32_t{c.dma.dst.buffer}, mask);
        auto it = hops.find(key);
        if (it == hops.end()) it = hops.emplace(key, dma_route(profile, network, program, c.dma).hops).first;
        route.emplace();
        route->bytes = dma_transfer_bytes(c.dma);
        route->hops = it->second;
      }
      count_command(profile, program, s.tile, c, route, r, nullptr);
      ++r.commands;
    }
  account_energy(profile, r);
  return r;
}

void set_time(const Profile& profile, SimResult& run, std::uint64_t cycles) {
  run.cycles = cycles;
  run.seconds = Clock{profile.clock_mhz}.seconds(cycles);
  run.energy.clear();
  run.energy_j = 0;
  account_energy(profile, run);
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
  last_end_.assign(static_cast<std::size_t>(profile.tile_count) * SSM_ENGINE_COUNT, 0);
}

void Records::command_done(int tile, ssm_engine engine, const ssm_command& c, std::uint64_t start, std::uint64_t end,
                           std::uint64_t ideal) {
  TileStats& ts = result_.tiles[static_cast<std::size_t>(tile)];
  EngineStats& es = ts.engines[engine];
  ++es.commands;
  ++result_.commands;
  std::uint64_t& last_end = last_end_[static_cast<std::size_t>(tile) * SSM_ENGINE_COUNT + engine];
  const std::uint64_t busy_from = std::max(start, last_end);  // after what the engine already counted
  last_end = end;
  es.busy_cycles += end - busy_from;
  result_.timeline.add(engine, busy_from, end);
  OpStats* op = command_op_ ? &result_.ops[(*command_op_)[static_cast<std::size_t>(&c - command_base)]] : nullptr;
  if (op) {
    op->busy_cycles[engine] += end - busy_from;
    op->first_cycle = op->commands == 0 ? start : std::min(op->first_cycle, start);
    op->last_cycle = std::max(op->last_cycle, end);
    ++op->commands;
  }
  es.stall_cycles += end - busy_from > ideal ? end - busy_from - ideal : 0;
  if (trace_)
    slices_.push_back(
        Slice{static_cast<std::uint32_t>(tile), static_cast<std::uint8_t>(engine), c.head.opcode, busy_from, end});
  count_command(*profile_, *program_, tile, c, dma_paths[static_cast<std::size_t>(&c - command_base)], result_, op);
}

SimResult Records::finish(std::uint64_t cycles, const std::vector<double>& carried, const Network& network) {
  SimResult r = std::move(result_);
  r.cycles = cycles;
  r.seconds = Clock{profile_->clock_mhz}.seconds(cycles);
  for (int i = 0; i < network.resource_count(); ++i)
    if (network.is_link(i) && carried[static_cast<std::size_t>(i)] > 0)
      r.links.push_back(LinkStats{network.name(i), carried[static_cast<std::size_t>(i)]});
  account_energy(*profile_, r);
  for (OpStats& op : r.ops) account_op_energy(*profile_, op);
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
  write_output_file(path, nlohmann::json{{"traceEvents", events}, {"displayTimeUnit", "ns"}}.dump() + '\n');
}

}  // namespace ssmsoc::sim
