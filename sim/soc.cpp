// The SystemC modules of the chip and the elaboration of a run (simulate_checked). sim/README.md describes the model.
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#if defined(__SANITIZE_ADDRESS__)
#include <pthread.h>
#include <sanitizer/common_interface_defs.h>
#endif

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>

#include "arch/spec/config_tree.hpp"
#include "firmware/runtime.h"
#include "sim/device_registers.hpp"
#include "sim/fabric.hpp"
#include "sim/functional.hpp"
#include "sim/sim.hpp"
#include "sim/sim_internal.hpp"
#include "sim/timing.hpp"

// libsystemc's main() refers to sc_main; ssmsoc drives SystemC from its own main.
int sc_main(int, char**) { return 0; }

namespace ssmsoc::sim {

namespace {

using namespace sc_core;

// The bus address of a register of queue q.
constexpr std::uint64_t queue_register(std::uint32_t q, ssmfw::QueueRegister r) {
  return SSM_QUEUE_BLOCK_BASE + std::uint64_t{q} * SSM_QUEUE_STRIDE + r;
}

// Everything the modules share: the profile, the clock, the network and the run's records.
struct Chip {
  const Profile& profile;
  const Program& program;
  const SimOptions& options;
  Clock clock;
  Network network;
  Memories* memories = nullptr;
  Functional* functional = nullptr;
  Records records;
  std::string error;
  // kRegQueueChanged: a bit per queue, set when it completes a command or frees a slot.
  std::vector<std::uint32_t> queue_changed;
  void mark_changed(std::uint32_t queue) { queue_changed[queue / 32] |= 1u << (queue % 32); }

  Chip(const Profile& p, const Program& prog, const SimOptions& o)
      : profile(p),
        program(prog),
        options(o),
        clock{p.clock_mhz},
        network(p),
        queue_changed((static_cast<std::size_t>(p.tile_count) * SSM_ENGINE_COUNT + 31) / 32) {}

  // Cycles <-> SystemC time (1 ps resolution). Double is exact enough: 2^53 ps is 104 days.
  sc_time at(std::uint64_t cycle) const {
    return sc_time::from_value(static_cast<sc_dt::uint64>(std::llround(static_cast<double>(cycle) * ps_per_cycle)));
  }
  std::uint64_t now() const {
    return static_cast<std::uint64_t>(std::llround(static_cast<double>(sc_time_stamp().value()) / ps_per_cycle));
  }
  const double ps_per_cycle = 1e6 / clock.mhz;
  const int queue_depth = options.queue_depth > 0 ? options.queue_depth : profile.control.queue_depth;
  sc_time until(std::uint64_t cycle) const { return at(cycle) - sc_time_stamp(); }
  void fail(const std::string& message) {
    if (error.empty()) error = message;
    stop();
  }
  // Ends the simulation once: several engines may fail in the same delta cycle, and a
  // second sc_stop is a SystemC warning (an exception here).
  void stop() {
    if (stopped) return;
    stopped = true;
    sc_stop();
  }
  bool stopped = false;
};

class FabricModule;
class ControlCore;

// One engine of one tile with its command queue.
class Engine : public sc_module {
 public:
  SC_HAS_PROCESS(Engine);
  Engine(sc_module_name name, Chip& chip, int tile, ssm_engine kind, FabricModule& fabric, ControlCore& core)
      : sc_module(name),
        chip_(chip),
        tile_(tile),
        kind_(kind),
        queue_(ssmfw::queue_index(static_cast<std::uint32_t>(tile), kind)),
        fabric_(fabric),
        core_(core) {
    slots_.resize(static_cast<std::size_t>(chip.queue_depth));
    SC_THREAD(run);
    if (kind == SSM_ENGINE_DMA) {
      SC_METHOD(retire);
      sensitive << awaiting_event_;
      dont_initialize();
    }
  }
  std::uint32_t space() const { return static_cast<std::uint32_t>(slots_.size() - count_); }
  std::uint32_t completed() const { return completed_; }
  void push(const ssm_command& command, std::uint64_t visible) {
    Slot& s = slots_[(head_ + count_) % slots_.size()];
    s.command = &command;
    s.visible = visible;
    ++count_;
    push_event_.notify(chip_.until(visible));
  }
  // The fabric: this engine's transfer (or compute command's SRAM traffic) moved its last byte.
  void transfer_done() {
    transfer_pending_ = false;
    (computing_ ? sram_event_ : moved_event_).notify(SC_ZERO_TIME);
  }

 private:
  struct Slot {
    const ssm_command* command = nullptr;
    std::uint64_t visible = 0;
  };
  // A DMA whose bytes have moved, awaiting its data (its latency); they complete in order.
  struct Awaiting {
    const ssm_command* command = nullptr;
    std::uint64_t start = 0, due = 0, ideal = 0;
  };
  void run();
  void retire();
  bool complete(const ssm_command& c, std::uint64_t start, std::uint64_t ideal);

  bool transfer_pending_ = false;  // a transfer of this engine is in the fabric
  bool computing_ = false;         // it is a compute command's SRAM traffic (sram_event_)
  Chip& chip_;
  int tile_;
  ssm_engine kind_;
  std::uint32_t queue_;
  FabricModule& fabric_;
  ControlCore& core_;
  std::vector<Slot> slots_;
  std::size_t head_ = 0, count_ = 0;
  std::uint32_t completed_ = 0;
  std::deque<Awaiting> awaiting_;  // the DMA's transfers in flight, oldest first
  sc_event push_event_, moved_event_, sram_event_, awaiting_event_, retired_event_;
};

class FabricModule : public sc_module {
 public:
  SC_HAS_PROCESS(FabricModule);
  FabricModule(sc_module_name name, Chip& chip) : sc_module(name), chip_(chip), fabric_(capacities(chip.network)) {
    SC_METHOD(on_wake);
    sensitive << wake_;
    dont_initialize();
    SC_METHOD(schedule);
    sensitive << settle_;
    dont_initialize();
  }
  // Transfers starting in the same delta cycle share one rate computation (in schedule).
  void start(const DmaPath& path, Engine* owner) {
    fabric_.start(chip_.now(), static_cast<double>(path.bytes), path.resources, owner);
    settle_.notify(SC_ZERO_TIME);
  }
  const Fabric& fabric() const { return fabric_; }

 private:
  static std::vector<double> capacities(const Network& n) {
    std::vector<double> c;
    for (int r = 0; r < n.resource_count(); ++r) c.push_back(n.capacity(r));
    return c;
  }
  void schedule() {
    wake_.cancel();
    if (fabric_.in_flight() > 0) wake_.notify(chip_.until(fabric_.next_end()));
  }
  void on_wake() {
    for (void* owner : fabric_.finish(chip_.now())) static_cast<Engine*>(owner)->transfer_done();
    schedule();
  }
  Chip& chip_;
  Fabric fabric_;
  sc_event wake_, settle_;
};

// The command queues and control registers as one TLM target: an address decodes to a
// register of arch/spec/registers.h, whose behaviour is its row of `registers_`. Accesses the
// register map does not allow are ignored (RegisterFile) and answered OK, as a bus without
// error responses does.
class DeviceBus : public sc_module {
 public:
  tlm_utils::simple_target_socket<DeviceBus> socket;
  DeviceBus(sc_module_name name, Chip& chip) : sc_module(name), socket("socket"), chip_(chip) {
    socket.register_b_transport(this, &DeviceBus::b_transport);
    registers_.on_read(DeviceRegister::kTileCount,
                       [this](std::uint32_t) { return std::uint32_t(chip_.profile.tile_count); });
    registers_.on_read(DeviceRegister::kQueueDepth, [this](std::uint32_t) { return std::uint32_t(chip_.queue_depth); });
    registers_.on_read(DeviceRegister::kProgramLow, [this](std::uint32_t) { return std::uint32_t(program_address); });
    registers_.on_read(DeviceRegister::kProgramHigh,
                       [this](std::uint32_t) { return std::uint32_t(program_address >> 32); });
    registers_.on_read(DeviceRegister::kProgramBytes, [this](std::uint32_t) { return std::uint32_t(program_bytes); });
    registers_.on_write(DeviceRegister::kDone, [this](std::uint32_t, const unsigned char* data) {
      std::uint32_t status = 0;
      std::memcpy(&status, data, 4);
      done_status = status;
      done_cycle = chip_.now();
    });
    registers_.on_read(DeviceRegister::kQueueChanged, [this](std::uint32_t word) {
      return std::exchange(chip_.queue_changed[word], 0u);  // read-to-clear
    });
    registers_.on_write(DeviceRegister::kPush, [this](std::uint32_t queue, const unsigned char* data) {
      // The command becomes visible to the engine after the dispatch latency.
      engines[queue]->push(*reinterpret_cast<const ssm_command*>(data),
                           chip_.now() + static_cast<std::uint64_t>(chip_.profile.control.dispatch_latency_cycles));
    });
    registers_.on_read(DeviceRegister::kSpace, [this](std::uint32_t queue) { return engines[queue]->space(); });
    registers_.on_read(DeviceRegister::kCompleted, [this](std::uint32_t queue) { return engines[queue]->completed(); });
    registers_.check_complete();
  }
  std::vector<Engine*> engines;
  std::optional<std::uint32_t> done_status;
  std::uint64_t done_cycle = 0;
  std::uint64_t program_address = 0, program_bytes = 0;

 private:
  void b_transport(tlm::tlm_generic_payload& p, sc_time&) {
    const auto queues = static_cast<std::uint32_t>(engines.size());
    if (p.is_write())
      registers_.write(p.get_address(), queues, p.get_data_ptr());
    else
      registers_.read(p.get_address(), queues, p.get_data_ptr());
    p.set_response_status(tlm::TLM_OK_RESPONSE);
  }
  Chip& chip_;
  RegisterFile registers_;
};

// The control core: runs the firmware (firmware/runtime.h) through a HAL of TLM transactions.
class ControlCore : public sc_module {
 public:
  tlm_utils::simple_initiator_socket<ControlCore> socket;
  SC_HAS_PROCESS(ControlCore);
  ControlCore(sc_module_name name, Chip& chip, const std::vector<std::byte>& image)
      : sc_module(name), socket("socket"), chip_(chip), image_(image), irq_("irq") {
    SC_THREAD(run);
    SC_METHOD(on_interrupt);
    sensitive << irq_;
    dont_initialize();
  }
  // An engine completed a command: the core reacts after the interrupt latency.
  void interrupt() {
    irq_.notify(chip_.at(static_cast<std::uint64_t>(chip_.profile.control.interrupt_latency_cycles)));
  }
  ssmfw::RunCounters counters{0, 0, 0, 0};
  std::uint64_t image_address = 0;

 private:
  void access(tlm::tlm_command command, std::uint64_t address, void* data, unsigned bytes) {
    payload_.set_command(command);
    payload_.set_address(address);
    payload_.set_data_ptr(static_cast<unsigned char*>(data));
    payload_.set_data_length(bytes);
    payload_.set_streaming_width(bytes);
    payload_.set_byte_enable_ptr(nullptr);
    payload_.set_dmi_allowed(false);
    payload_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_time delay = SC_ZERO_TIME;  // register accesses are free for the core (temporal decoupling)
    socket->b_transport(payload_, delay);
  }
  static ControlCore& self(void* c) { return *static_cast<ControlCore*>(c); }
  static std::uint32_t read32(void* c, std::uint32_t offset) {
    std::uint32_t v = 0;
    self(c).access(tlm::TLM_READ_COMMAND, SSM_CONTROL_BLOCK_BASE + offset, &v, 4);
    return v;
  }
  static void write32(void* c, std::uint32_t offset, std::uint32_t value) {
    self(c).access(tlm::TLM_WRITE_COMMAND, SSM_CONTROL_BLOCK_BASE + offset, &value, 4);
  }
  static const void* map_dram(void* c, std::uint64_t address, std::uint64_t bytes) {
    ControlCore& core = self(c);  // the Program image, read directly (DMI)
    if (address < core.image_address || address + bytes > core.image_address + core.image_.size()) return nullptr;
    return core.image_.data() + (address - core.image_address);
  }
  static std::uint32_t queue_space(void* c, std::uint32_t q) {
    std::uint32_t v = 0;
    self(c).access(tlm::TLM_READ_COMMAND, queue_register(q, ssmfw::kQueueSpace), &v, 4);
    return v;
  }
  static void queue_push(void* c, std::uint32_t q, const ssm_command* command) {
    self(c).access(tlm::TLM_WRITE_COMMAND, queue_register(q, ssmfw::kQueuePush), const_cast<ssm_command*>(command),
                   sizeof(ssm_command));
  }
  static std::uint32_t queue_completed(void* c, std::uint32_t q) {
    std::uint32_t v = 0;
    self(c).access(tlm::TLM_READ_COMMAND, queue_register(q, ssmfw::kQueueCompleted), &v, 4);
    return v;
  }
  static void wait_for_interrupt(void* c) {
    ControlCore& core = self(c);
    while (!core.pending_) sc_core::wait(core.wake_);
    core.pending_ = false;
  }
  // The core runs a delta cycle after the interrupt, so a register read sees every
  // completion of the current cycle whatever the order of the processes.
  void on_interrupt() {
    pending_ = true;
    wake_.notify(SC_ZERO_TIME);
  }
  void run() {
    const ssmfw::Hal hal{this, read32, write32, map_dram, queue_space, queue_push, queue_completed, wait_for_interrupt};
    const ssm_program_header* h = reinterpret_cast<const ssm_program_header*>(image_.data());
    // A member, not a local: a run that fails stops with this thread suspended, its stack
    // never unwound.
    workspace_.assign(
        ssmfw::workspace_bytes(h->stream_count, static_cast<std::uint32_t>(chip_.profile.tile_count) * SSM_ENGINE_COUNT,
                               h->semaphore_count) /
                8 +
            1,
        0);
    const ssmfw::Status status = ssmfw::run_program(hal, workspace_.data(), workspace_.size() * 8, &counters);
    if (status != ssmfw::kOk)
      chip_.fail(fmt::format("{}: the firmware stopped at cycle {}: {}", chip_.options.source, chip_.now(),
                             ssmfw::status_name(status)));
    else
      chip_.stop();
  }

  Chip& chip_;
  const std::vector<std::byte>& image_;
  tlm::tlm_generic_payload payload_;
  sc_event_queue irq_;
  sc_event wake_;
  bool pending_ = false;
  std::vector<std::uint64_t> workspace_;  // the firmware's
};

void Engine::run() {
  const Profile& profile = chip_.profile;
  for (;;) {
    while (count_ == 0) wait(push_event_);
    const Slot slot = slots_[head_];
    if (slot.visible > chip_.now()) wait(chip_.until(slot.visible));
    // A DMA moves the next transfer's bytes while earlier ones await their data, up to its
    // outstanding transfers.
    while (awaiting_.size() >= static_cast<std::size_t>(profile.tile.dma.outstanding_transfers)) wait(retired_event_);
    head_ = (head_ + 1) % slots_.size();
    --count_;
    chip_.mark_changed(queue_);
    const ssm_command& c = *slot.command;
    if (c.head.opcode == SSM_OP_DMA) {
      const std::uint64_t start = chip_.now();
      const DmaPath& path = *chip_.records.dma_paths[static_cast<std::size_t>(&c - chip_.records.command_base)];
      transfer_pending_ = true;
      fabric_.start(path, this);
      wait(moved_event_);
      const std::uint64_t due =
          std::max(chip_.now() + path.latency_cycles, awaiting_.empty() ? 0 : awaiting_.back().due);
      awaiting_.push_back(Awaiting{&c, start, due, dma_cycles(path)});
      awaiting_event_.notify(chip_.until(due));  // a pending earlier notification stands
      continue;
    }
    const std::uint64_t start = chip_.now();
    std::uint64_t ideal = 0;
    {
      try {
        ideal = c.head.opcode == SSM_OP_SCAN && chip_.options.scan_override ? chip_.options.scan_override(c.scan)
                                                                            : compute_cycles(profile, c);
      } catch (const std::exception& e) {
        chip_.fail(fmt::format("{}: command on tile {} {} at cycle {}: {}", chip_.options.source, tile_,
                               engine_name(kind_), start, e.what()));
        return;
      }
      // The operands cross the tile SRAM's ports, which the DMA's transfers share: the command
      // ends when its engine is done and its SRAM traffic has moved.
      const SramTraffic traffic = compute_sram_traffic(c);
      if (traffic.total() > 0) {
        computing_ = transfer_pending_ = true;
        fabric_.start(DmaPath{{Network::sram(tile_)}, traffic.total(), 0, 0, 0, 0}, this);
      }
      wait(chip_.until(start + std::max<std::uint64_t>(1, ideal)));
      if (transfer_pending_) wait(sram_event_);
      computing_ = false;
    }
    if (!complete(c, start, ideal)) return;
  }
}

// The DMA's transfers whose data has landed complete, in order (a method, not a thread: it
// runs once per landing without a stack of its own).
void Engine::retire() {
  bool retired = false;
  while (!awaiting_.empty() && awaiting_.front().due <= chip_.now()) {
    const Awaiting a = awaiting_.front();
    awaiting_.pop_front();
    if (!complete(*a.command, a.start, a.ideal)) return;
    retired = true;
  }
  if (!awaiting_.empty()) awaiting_event_.notify(chip_.until(awaiting_.front().due));
  if (retired) retired_event_.notify();
}

// A command's end: its effect on the memories (functional mode), its records, its count and
// the interrupt. False: the command failed and the run stops.
bool Engine::complete(const ssm_command& c, std::uint64_t start, std::uint64_t ideal) {
  if (chip_.functional) {
    try {
      chip_.functional->execute(tile_, c);
    } catch (const std::exception& e) {
      chip_.fail(fmt::format("{}: command on tile {} {} at cycle {}: {}", chip_.options.source, tile_,
                             engine_name(kind_), start, e.what()));
      return false;
    }
  }
  chip_.records.command_done(tile_, kind_, c, start, chip_.now(), ideal);
  ++completed_;
  chip_.mark_changed(queue_);
  core_.interrupt();
  return true;
}

}  // namespace

namespace {

// Tells AddressSanitizer again, as sc_start returns (or throws), which stack this thread runs
// on. SystemC switches its coroutines with ASan's fiber annotations, but on the way back to
// the main stack leaves ASan believing it still runs on the last coroutine's; the next
// exception thrown on the main stack then reports false errors (google/sanitizers#189).
// Nothing without ASan.
struct MainStackReannounced {
  MainStackReannounced() = default;
  MainStackReannounced(const MainStackReannounced&) = delete;
  MainStackReannounced& operator=(const MainStackReannounced&) = delete;
  ~MainStackReannounced() {
#if defined(__SANITIZE_ADDRESS__)
    pthread_attr_t attributes;
    if (pthread_getattr_np(pthread_self(), &attributes) != 0) return;
    void* bottom = nullptr;
    std::size_t size = 0;
    pthread_attr_getstack(&attributes, &bottom, &size);
    pthread_attr_destroy(&attributes);
    void* fake_stack = nullptr;
    __sanitizer_start_switch_fiber(&fake_stack, bottom, size);
    __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
  }
};

}  // namespace

SimResult simulate_checked(const Profile& profile, const Program& program, const SimOptions& options) {
  if (options.queue_depth < 0)
    throw ConfigError(fmt::format("{}: queue depth must be at least 1 (0: the profile's)", options.source));
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);
  sc_report_handler::set_actions(SC_WARNING, SC_THROW);
  sc_report_handler::set_actions(SC_INFO, SC_DO_NOTHING);

  const std::vector<std::byte> image = encode_program(program);
  Chip chip(profile, program, options);
  // The engines run the firmware's copy of each command (in the image); its index is its
  // distance from the image's first command.
  const auto* header = reinterpret_cast<const ssm_program_header*>(image.data());
  chip.records.command_base = reinterpret_cast<const ssm_command*>(image.data() + header->command_offset);
  chip.records.init(profile, program, options);
  chip.records.dma_paths.resize(program.command_count());
  {
    std::size_t index = 0;
    for (const auto& s : program.streams)
      for (const auto& c : s.commands) {
        if (c.head.opcode == SSM_OP_DMA)
          chip.records.dma_paths[index] = dma_route(profile, chip.network, program, c.dma);
        ++index;
      }
  }
  std::unique_ptr<Memories> memories;
  std::unique_ptr<Functional> functional;
  if (options.functional) {
    memories = std::make_unique<Memories>(profile.tile_count);
    functional = std::make_unique<Functional>(profile, program, *memories);
    load_memory_in(program, options, *memories);
    chip.memories = memories.get();
    chip.functional = functional.get();
  }

  FabricModule fabric("fabric", chip);
  DeviceBus bus("bus", chip);
  ControlCore core("control_core", chip, image);
  // The image sits at the top of DRAM (8-byte aligned).
  core.image_address = (static_cast<std::uint64_t>(profile.dram.capacity_bytes) - image.size()) & ~std::uint64_t{7};
  bus.program_address = core.image_address;
  bus.program_bytes = image.size();
  core.socket.bind(bus.socket);
  std::vector<std::unique_ptr<Engine>> engines;
  for (int t = 0; t < profile.tile_count; ++t)
    for (unsigned e = 0; e < SSM_ENGINE_COUNT; ++e) {
      engines.push_back(
          std::make_unique<Engine>(fmt::format("tile{}_{}", t, engine_name(static_cast<ssm_engine>(e))).c_str(), chip,
                                   t, static_cast<ssm_engine>(e), fabric, core));
      bus.engines.push_back(engines.back().get());
    }
  {
    const MainStackReannounced reannounced;
    sc_start();
  }
  if (!chip.error.empty()) throw ConfigError(chip.error);
  if (!bus.done_status)
    throw std::runtime_error(fmt::format("{}: the simulation ended before the program", options.source));

  SimResult result = chip.records.finish(bus.done_cycle, fabric.fabric().carried(), chip.network);
  result.firmware_signals = core.counters.signals;
  result.firmware_waits = core.counters.waits;
  result.firmware_wakeups = core.counters.wakeups;
  if (options.functional) read_memory_out(program, options, *memories, result);
  if (!options.trace_path.empty()) chip.records.write_trace(options.trace_path, profile);
  return result;
}

}  // namespace ssmsoc::sim
