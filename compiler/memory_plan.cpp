#include "compiler/memory_plan.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "arch/spec/config_tree.hpp"

namespace ssmsoc::compiler {

namespace {

std::string gib(std::uint64_t bytes) { return fmt::format("{:.2f} GiB", double(bytes) / double(1ull << 30)); }
std::string mib(std::uint64_t bytes) { return fmt::format("{:.2f} MiB", double(bytes) / double(1ull << 20)); }

// Liveness-based first-fit arenas for one module's activations: in order of definition each
// tensor takes the first fit below `on_chip` bytes, or else the first fit in the spill arena
// (`spilled`; with on_chip = max, nothing spills). Returns the offsets.
std::vector<std::int64_t> arena_offsets(const Module& mod, std::uint64_t on_chip, std::uint64_t& arena,
                                        std::uint64_t& spill, std::vector<bool>& spilled) {
  const std::size_t n = mod.tensors.size();
  std::vector<std::int64_t> first(n, -1), last(n, -1), offset(n, -1);
  for (std::size_t i = 0; i < mod.ops.size(); ++i) {
    for (const auto* views : {&mod.ops[i].in, &mod.ops[i].out})
      for (const View& v : *views) {
        if (v.tensor < 0) continue;
        if (first[v.tensor] < 0) first[v.tensor] = static_cast<std::int64_t>(i);
        last[v.tensor] = static_cast<std::int64_t>(i);
      }
  }
  struct Live {
    std::uint64_t begin, end;
    std::int64_t last;
  };
  // The first fit of `size` bytes among the tensors live in `live` at `when`.
  auto place = [](std::vector<Live>& live, std::int64_t when, std::uint64_t size) {
    std::erase_if(live, [&](const Live& l) { return l.last < when; });
    std::sort(live.begin(), live.end(), [](const Live& a, const Live& b) { return a.begin < b.begin; });
    std::uint64_t at = 0;
    for (const Live& l : live) {
      if (at + size <= l.begin) break;
      at = std::max(at, l.end);
    }
    return at;
  };
  std::vector<Live> live, live_spilled;
  std::vector<std::size_t> order;
  for (std::size_t t = 0; t < n; ++t)
    if (mod.tensors[t].kind == TensorKind::activation && first[t] >= 0) order.push_back(t);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return first[a] < first[b]; });
  arena = spill = 0;
  spilled.assign(n, false);
  for (std::size_t t : order) {
    const std::uint64_t size = align64(mod.tensors[t].bytes());
    std::uint64_t at = place(live, first[t], size);
    if (at + size <= on_chip) {
      live.push_back(Live{at, at + size, last[t]});
      arena = std::max(arena, at + size);
    } else {
      at = place(live_spilled, first[t], size);
      live_spilled.push_back(Live{at, at + size, last[t]});
      spill = std::max(spill, at + size);
      spilled[t] = true;
    }
    offset[t] = static_cast<std::int64_t>(at);
  }
  return offset;
}

}  // namespace

MemoryPlan plan_memory(const std::vector<const Module*>& modules, const Profile& profile, const std::string& model,
                       int batch, int context) {
  MemoryPlan plan;
  plan.batch = batch;
  plan.context = context;
  std::uint64_t state_total = 0;
  for (const Module* mod : modules) {
    for (const TensorDef& t : mod->tensors) {
      if (t.kind == TensorKind::weight && !plan.weights.count(t.name)) {
        plan.weights[t.name] = Placement{SSM_MEM_DRAM, 0, t.bytes()};
      } else if (t.kind == TensorKind::state && !plan.states.count(t.name)) {
        plan.states[t.name] = Placement{SSM_MEM_DRAM, 0, t.bytes()};
        state_total += align64(t.bytes());
        const bool kv = t.name.find("_cache") != std::string::npos;
        (kv ? plan.kv_bytes_per_session : plan.ssm_state_bytes_per_session) += t.bytes() / std::uint64_t(batch);
      }
    }
    std::uint64_t arena = 0, spill = 0;
    std::vector<bool> spilled;
    plan.activation_offsets.push_back(arena_offsets(*mod, ~std::uint64_t{0}, arena, spill, spilled));
    plan.arena_bytes.push_back(arena);
    plan.activation_bytes = std::max(plan.activation_bytes, arena);
  }
  plan.state_bytes_per_session = plan.ssm_state_bytes_per_session + plan.kv_bytes_per_session;
  // Weights first in DRAM, in name order (deterministic).
  std::uint64_t dram = 0;
  for (auto& [name, p] : plan.weights) {
    p.address = dram;
    dram += align64(p.bytes);
  }
  plan.weight_bytes = dram;
  const std::uint64_t gb = static_cast<std::uint64_t>(profile.global_buffer.size_bytes);
  const std::uint64_t cap = static_cast<std::uint64_t>(profile.dram.capacity_bytes);
  if (plan.weight_bytes > cap)
    throw ConfigError(fmt::format("{}: {}: weights of {} ({} bytes) do not fit the {} DRAM of {} (dram.capacity_bytes)",
                                  profile.file.string(), model, gib(plan.weight_bytes), plan.weight_bytes, gib(cap),
                                  profile.name));
  // Each arena on chip when it fits; the global buffer's arenas from 0, DRAM's after the weights.
  std::uint64_t gb_used = 0, dram_arena = 0;
  for (const std::uint64_t arena : plan.arena_bytes) {
    const bool on_chip = arena <= gb;
    plan.activation_memory.push_back(on_chip ? SSM_MEM_GLOBAL_BUFFER : SSM_MEM_DRAM);
    (on_chip ? gb_used : dram_arena) = std::max(on_chip ? gb_used : dram_arena, align64(arena));
  }
  const std::uint64_t per = std::max<std::uint64_t>(1, plan.state_bytes_per_session);
  plan.sessions_on_chip = static_cast<std::int64_t>((gb - std::min(gb, gb_used)) / per);
  if (plan.state_bytes_per_session == 0) plan.sessions_on_chip = 0;
  plan.state_memory = gb_used + state_total <= gb ? SSM_MEM_GLOBAL_BUFFER : SSM_MEM_DRAM;
  // Arenas that did not fit: split over the global buffer's free part (past the states on
  // chip); the spilled part goes where a whole DRAM arena would.
  const std::uint64_t free_at = plan.state_memory == SSM_MEM_GLOBAL_BUFFER ? gb_used + state_total : 0;
  const std::uint64_t free = gb - std::min(gb, free_at);
  for (std::size_t i = 0; i < modules.size(); ++i) {
    plan.activation_spilled.emplace_back(modules[i]->tensors.size(), false);
    plan.spill_bytes.push_back(0);
    plan.arena_address.push_back(plan.activation_memory[i] == SSM_MEM_DRAM ? plan.weight_bytes : 0);
    if (plan.activation_memory[i] == SSM_MEM_GLOBAL_BUFFER) continue;
    std::uint64_t arena = 0, spill = 0;
    std::vector<bool> spilled;
    std::vector<std::int64_t> offsets = arena_offsets(*modules[i], free, arena, spill, spilled);
    if (spill == 0 || arena == 0) continue;  // nothing gained
    plan.activation_offsets[i] = std::move(offsets);
    plan.activation_spilled[i] = std::move(spilled);
    plan.activation_memory[i] = SSM_MEM_GLOBAL_BUFFER;
    plan.arena_bytes[i] = arena;
    plan.spill_bytes[i] = spill;
    plan.arena_address[i] = free_at;
    dram_arena = std::max(dram_arena, align64(spill));
  }
  dram += dram_arena;
  plan.sessions_in_dram = static_cast<std::int64_t>((cap - std::min(cap, dram)) / per);
  if (plan.state_bytes_per_session == 0) plan.sessions_in_dram = 0;
  std::uint64_t at = plan.state_memory == SSM_MEM_GLOBAL_BUFFER ? gb_used : dram;
  for (auto& [name, p] : plan.states) {
    p.memory = plan.state_memory;
    p.address = at;
    at += align64(p.bytes);
  }
  if (plan.state_memory == SSM_MEM_DRAM) dram = at;
  if (dram > cap)
    throw ConfigError(fmt::format(
        "{}: {}: weights {} + state cache {} ({} sessions of {} tokens) + activations exceed the {} DRAM of {} "
        "(dram.capacity_bytes)",
        profile.file.string(), model, gib(plan.weight_bytes), gib(state_total), batch, context, gib(cap),
        profile.name));
  return plan;
}

std::string dump_memory_plan(const MemoryPlan& p) {
  auto where = [](ssm_memory m) { return m == SSM_MEM_GLOBAL_BUFFER ? "global buffer" : "DRAM"; };
  std::string out;
  out += fmt::format("weights: {} in DRAM ({} tensors)\n", gib(p.weight_bytes), p.weights.size());
  std::string arenas;
  for (std::size_t i = 0; i < p.arena_bytes.size(); ++i)
    arenas += fmt::format("{}{} in the {}{}", i ? ", " : "", mib(p.arena_bytes[i]), where(p.activation_memory.at(i)),
                          p.spill_bytes.at(i) ? fmt::format(" + {} spilled into DRAM", mib(p.spill_bytes[i])) : "");
  out += fmt::format("activations: an arena per phase: {}\n", arenas);
  out += fmt::format(
      "state cache per session at {} tokens: {} bytes (SSM and conv states {} bytes, KV cache {} bytes); {} "
      "sessions in the {}\n",
      p.context, p.state_bytes_per_session, p.ssm_state_bytes_per_session, p.kv_bytes_per_session, p.batch,
      where(p.state_memory));
  out += fmt::format("sessions of {} tokens that fit: {} in the global buffer, {} in DRAM\n", p.context,
                     p.sessions_on_chip, p.sessions_in_dram);
  return out;
}

bool in_dram(const Module& mod, int tensor, const MemoryPlan& plan, std::size_t module_index) {
  const TensorDef& t = mod.tensors.at(static_cast<std::size_t>(tensor));
  if (t.kind == TensorKind::weight) return true;
  if (t.kind == TensorKind::state) return plan.state_memory == SSM_MEM_DRAM;
  return plan.activation_memory.at(module_index) == SSM_MEM_DRAM ||
         plan.activation_spilled.at(module_index).at(static_cast<std::size_t>(tensor));
}

std::string activation_buffer(const MemoryPlan& plan, std::size_t module_index, int tensor) {
  return plan.activation_spilled.at(module_index).at(static_cast<std::size_t>(tensor)) ? "activations.spilled"
                                                                                       : "activations";
}

std::uint64_t global_buffer_free_offset(const MemoryPlan& plan, std::size_t module_index) {
  std::uint64_t free_at = 0;
  if (plan.state_memory == SSM_MEM_GLOBAL_BUFFER)
    for (const auto& [name, placement] : plan.states)
      free_at = std::max(free_at, align64(placement.address + placement.bytes));
  if (plan.activation_memory.at(module_index) == SSM_MEM_GLOBAL_BUFFER)
    free_at = std::max(free_at, align64(plan.arena_address.at(module_index) + plan.arena_bytes.at(module_index)));
  return free_at;
}

}  // namespace ssmsoc::compiler
